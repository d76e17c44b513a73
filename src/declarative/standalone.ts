// APISIX standalone file format (R-DECL-20..22): lists of resources in Admin
// API form. Ids: `id`, else (consumers) `username`, else `arr_<1-based index>`.
// A Credential is a `consumers` entry whose id is `<username>/credentials/<id>`.
import type { JsonObject } from '../core/types.js';
import { DeclarativeError, isObject, type Resource, type ResourceKind } from './model.js';

const COLLECTIONS: Array<[string, ResourceKind]> = [
  ['upstreams', 'upstream'],
  ['services', 'service'],
  ['routes', 'route'],
  ['consumers', 'consumer'],
  ['global_rules', 'global_rule'],
];
const UNSUPPORTED = ['ssls', 'plugin_configs', 'plugin_metadata', 'stream_routes', 'protos', 'secrets', 'consumer_groups'];
const CRED_ID = /^([a-zA-Z0-9-_]+)\/credentials\/([a-zA-Z0-9-_.]+)$/;
const ID_RE = /^[a-zA-Z0-9-_.]+$/;

export function parseStandalone(doc: unknown, file: string): { resources: Resource[] } {
  const fail = (path: string, msg: string): never => {
    throw new DeclarativeError(file, path, msg);
  };
  if (doc === null || doc === undefined) return { resources: [] };
  if (!isObject(doc)) fail('', 'expected a mapping at the top level');
  const top = doc as Record<string, unknown>;
  const known = new Set(COLLECTIONS.map(([k]) => k));
  for (const k of Object.keys(top)) {
    if (UNSUPPORTED.includes(k)) fail(k, `${k} is not supported by switchyard`);
    if (known.has(k)) continue;
    if (/^\w+_conf_version$/.test(k)) continue;
    fail(k, `unknown key "${k}"`);
  }
  const resources: Resource[] = [];
  for (const [coll, kind] of COLLECTIONS) {
    const items = top[coll];
    if (items === undefined || items === null) continue;
    if (!Array.isArray(items)) fail(coll, 'expected a list');
    const seen = new Set<string>();
    (items as unknown[]).forEach((raw, i) => {
      const path = `${coll}[${i}]`;
      if (!isObject(raw)) fail(path, 'expected an object');
      const item = { ...(raw as JsonObject) };
      let id: string;
      let username: string | undefined;
      let rkind: ResourceKind = kind;
      const rawId = item.id;
      if (rawId !== undefined && typeof rawId !== 'string' && !(typeof rawId === 'number' && Number.isInteger(rawId))) {
        fail(`${path}.id`, `invalid id ${JSON.stringify(rawId)}`);
      }
      if (kind === 'consumer' && typeof rawId === 'string' && rawId.includes('/')) {
        const m = CRED_ID.exec(rawId);
        if (!m) fail(`${path}.id`, `invalid credential id "${rawId}": expected <username>/credentials/<id>`);
        rkind = 'credential';
        username = m![1];
        id = m![2]!;
        item.id = id;
      } else if (kind === 'consumer') {
        if (typeof item.username !== 'string') fail(`${path}.username`, 'property "username" is required');
        id = item.username as string;
        delete item.id;
      } else {
        id = rawId !== undefined ? String(rawId) : `arr_${i + 1}`;
        if (!ID_RE.test(id)) fail(`${path}.id`, `invalid id ${JSON.stringify(rawId)}`);
        item.id = id;
      }
      const dupKey = rkind === 'credential' ? `${username}/${id}` : id;
      if (seen.has(dupKey)) fail(path, `Duplicate ${rkind} "${dupKey}" was found in ${file}`);
      seen.add(dupKey);
      delete item.create_time;
      delete item.update_time;
      resources.push({ kind: rkind, id, username, value: item, source: { file, path } });
    });
  }
  return { resources };
}
