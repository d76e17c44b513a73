// The chash key of a request (R-BAL-3): `balancer.hash_on` and `key`,
// compiled once per configuration.
import type { RequestContext } from '../../core/types.js';
import { compileTemplate, type CompiledTemplate } from '../../core/template.js';

export class HashKeySource {
  private readonly hashOn: string;
  private readonly key: string;
  private readonly template?: CompiledTemplate;
  /** hash_on header: the key lower-cased with `_` as `-` */
  private readonly headerName: string;

  constructor(b: { hash_on?: string; key?: string }) {
    this.hashOn = b.hash_on ?? 'vars';
    this.key = b.key ?? '';
    this.headerName = this.key.toLowerCase().replace(/_/g, '-');
    if (this.hashOn === 'vars_combinations' && typeof b.key === 'string') this.template = compileTemplate(b.key);
  }

  /** the key; the client address when it is empty */
  compute(ctx: RequestContext): string {
    let v: string | number | undefined;
    const key = this.key;
    switch (this.hashOn) {
      case 'vars':
        v = ctx.getVar(key);
        break;
      case 'header': {
        const want = this.headerName;
        for (const k in ctx.headers) {
          if (k.replace(/_/g, '-') === want) {
            const hv = ctx.headers[k];
            v = Array.isArray(hv) ? hv[0] : hv;
            break;
          }
        }
        break;
      }
      case 'cookie': {
        const c = ctx.headers.cookie;
        if (typeof c === 'string') {
          for (const part of c.split(';')) {
            const eq = part.indexOf('=');
            if (eq > 0 && part.slice(0, eq).trim() === key) { v = part.slice(eq + 1).trim(); break; }
          }
        }
        break;
      }
      case 'consumer':
        v = ctx.consumer?.username;
        break;
      case 'vars_combinations': {
        const r = this.template?.render((n) => ctx.getVar(n));
        v = r && r.resolved ? r.text : undefined;
        break;
      }
    }
    const s = v === undefined ? '' : String(v);
    return s === '' ? ctx.clientIp : s;
  }
}
