// Reading declarative files: format detection (R-DECL-30), parsing, merging
// several files with duplicate detection (R-DECL-15) and reference checks.
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import { parseAdc } from './adc.js';
import { parseStandalone } from './standalone.js';
import { substituteStandalone } from './env.js';
import { DeclarativeError, isObject, resourceKey, type Resource } from './model.js';

export type Format = 'adc' | 'standalone';

function parseText(text: string, file: string): unknown {
  const trimmed = text.trimStart();
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    try {
      return JSON.parse(text);
    } catch {
      /* fall through to YAML, which also reports the position */
    }
  }
  const doc = YAML.parseDocument(text, { uniqueKeys: true, merge: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const pos = e.linePos?.[0];
    throw new DeclarativeError(file, pos ? `line ${pos.line}, column ${pos.col}` : '', `invalid YAML: ${e.message.split('\n')[0]}`);
  }
  return doc.toJS({ maxAliasCount: 100 });
}

/** R-DECL-30: top-level `routes` or `upstreams`, or a last non-blank line `#END`, means standalone */
export function detectFormat(text: string, doc: unknown): Format {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  if (lines.length > 0 && lines[lines.length - 1] === '#END') return 'standalone';
  if (isObject(doc) && ('routes' in doc || 'upstreams' in doc)) return 'standalone';
  return 'adc';
}

/** parse one file's text */
export function parseDeclarative(text: string, file: string, format?: Format, env: NodeJS.ProcessEnv = process.env): { format: Format; resources: Resource[] } {
  const raw = parseText(text, file);
  const fmt = format ?? detectFormat(text, raw);
  if (fmt === 'adc') return { format: fmt, resources: parseAdc(raw, file, env).resources };
  const doc = text.includes('${{') ? parseText(substituteStandalone(text, file, env), file) : raw;
  return { format: fmt, resources: parseStandalone(doc, file).resources };
}

function dupName(r: Resource): string {
  if (r.kind === 'consumer') return r.id;
  if (r.kind === 'credential') return `${r.username}/${typeof r.value.name === 'string' ? r.value.name : r.id}`;
  if (r.kind === 'global_rule') return r.id;
  return typeof r.value.name === 'string' ? r.value.name : r.id;
}

/** merge several files' resources; a resource (same key) declared twice is an error */
export function mergeResources(sets: Resource[][]): Resource[] {
  const byKey = new Map<string, Resource>();
  const out: Resource[] = [];
  for (const set of sets) {
    for (const r of set) {
      const key = resourceKey(r);
      const prev = byKey.get(key);
      if (prev) {
        const file = r.source?.file ?? '';
        const where = prev.source && prev.source.file !== file ? ` (also in ${prev.source.file})` : '';
        throw new DeclarativeError(file, r.source?.path ?? '', `Duplicate ${r.kind} "${dupName(r)}" was found in ${file}${where}`);
      }
      byKey.set(key, r);
      out.push(r);
    }
  }
  checkReferences(out);
  return out;
}

/** a route's service_id/upstream_id, a service's upstream_id and a credential's consumer SHALL be declared */
export function checkReferences(resources: Resource[]): void {
  const keys = new Set(resources.map(resourceKey));
  for (const r of resources) {
    const src = r.source ?? { file: '', path: '' };
    const ref = (field: string, coll: string) => {
      const v = r.value[field];
      if (v === undefined || v === null) return;
      if (!keys.has(`/apisix/${coll}/${String(v)}`)) {
        throw new DeclarativeError(src.file, `${src.path}.${field}`, `${field} "${String(v)}" does not name ${coll === 'upstreams' ? 'an' : 'a'} ${coll.slice(0, -1)} declared in the files`);
      }
    };
    if (r.kind === 'route') {
      ref('service_id', 'services');
      ref('upstream_id', 'upstreams');
    } else if (r.kind === 'service') {
      ref('upstream_id', 'upstreams');
    } else if (r.kind === 'credential') {
      if (!keys.has(`/apisix/consumers/${r.username}`)) {
        throw new DeclarativeError(src.file, src.path, `consumer "${r.username}" of this credential is not declared in the files`);
      }
    }
  }
}

/** read and parse files, merged */
export function loadFiles(files: string[], format?: Format, env: NodeJS.ProcessEnv = process.env): Resource[] {
  const sets: Resource[][] = [];
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new DeclarativeError(file, '', `cannot read file: ${(err as Error).message}`);
    }
    sets.push(parseDeclarative(text, file, format, env).resources);
  }
  return mergeResources(sets);
}
