// R-MDL-1: the OpenAI model list (`GET <prefix>/models`) of one AI plugin
// configuration, built once per configuration change from the instances'
// `options.model` (`owned_by` is the instance name).
import type { Reply, RequestContext } from '../core/types.js';

interface ModelSource {
  name: string;
  optionsModel?: string;
}

/** the 200 reply listing the instances' models (one entry per model, the first instance owns it) */
export function modelListReply(instances: readonly ModelSource[], created = Math.floor(Date.now() / 1000)): Reply {
  const seen = new Set<string>();
  const data: Record<string, unknown>[] = [];
  for (const inst of instances) {
    const id = inst.optionsModel;
    if (id === undefined || seen.has(id)) continue;
    seen.add(id);
    data.push({ id, object: 'model', created, owned_by: inst.name });
  }
  return { status: 200, kind: 'json', body: { object: 'list', data } };
}

/** the request is a model listing: GET of `<prefix>/models` on a prefix route (`uri` ending in `*`) */
export function isModelListRequest(ctx: RequestContext): boolean {
  if (ctx.method !== 'GET' || !ctx.uri.endsWith('/models')) return false;
  const pattern = ctx.getVar('matched_uri');
  return typeof pattern === 'string' && pattern.endsWith('*');
}
