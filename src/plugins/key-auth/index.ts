// key-auth (R-KA-1..10): identifies the Consumer of a request from an API
// key in a header or query argument. The consumer index (keys resolved,
// Consumers' and Credentials' key-auth entries) is compiled into the Runtime
// the request runs with; this plugin only looks the key up.
import type { ConsumerInfo, PluginDef, Reply, RequestContext } from '../../core/types.js';
import { jsonError } from '../../core/errors.js';


export interface KeyAuthConf {
  header: string;
  query: string;
  hide_credentials: boolean;
  anonymous_consumer?: string;
  realm: string;
}

interface Compiled extends KeyAuthConf {
  headerLower: string;
  wwwAuthenticate: string;
}

const schema = {
  type: 'object',
  properties: {
    header: { type: 'string', default: 'apikey' },
    query: { type: 'string', default: 'apikey' },
    hide_credentials: { type: 'boolean', default: false },
    anonymous_consumer: { type: 'string', minLength: 1 },
    realm: {
      type: 'string',
      default: 'key',
      minLength: 1,
      maxLength: 128,
      pattern: '^[\\x20\\x21\\x23-\\x5B\\x5D-\\x7E]+$',
    },
  },
};

const consumerSchema = {
  type: 'object',
  properties: { key: { type: 'string' } },
  required: ['key'],
  encrypt_fields: ['key'],
};

function reject(c: Compiled, message: string): Reply {
  return jsonError(401, { message }, { 'WWW-Authenticate': c.wwwAuthenticate });
}

function attach(ctx: RequestContext, consumer: ConsumerInfo, viaCredential: boolean): void {
  ctx.consumer = consumer;
  const h = ctx.headers;
  h['x-consumer-username'] = consumer.username;
  if (viaCredential && consumer.credentialId) h['x-credential-identifier'] = consumer.credentialId;
  else delete h['x-credential-identifier'];
  const custom = consumer.labels?.custom_id;
  if (custom) h['x-consumer-custom-id'] = custom;
  else delete h['x-consumer-custom-id'];
}

export const keyAuth: PluginDef<Compiled> = {
  name: 'key-auth',
  priority: 2500,
  version: 0.1,
  type: 'auth',
  schema,
  consumerSchema,
  compile(conf: KeyAuthConf): Compiled {
    return {
      ...conf,
      headerLower: conf.header.toLowerCase(),
      wwwAuthenticate: `apikey realm="${conf.realm}"`,
    };
  },
  rewrite(ctx, c) {
    const index = ctx.runtime?.consumers;
    let key: string | undefined;
    // where the key came from: the configured header, the query, or one of
    // the SDKs' headers (R-KA-20), so hide_credentials removes that one
    let from: string | undefined;
    const hv = ctx.headers[c.headerLower];
    if (hv !== undefined) {
      key = Array.isArray(hv) ? hv[0] ?? '' : hv;
      from = c.headerLower;
    } else if (ctx.queryString !== '') {
      const q = ctx.query.get(c.query);
      if (q !== null) key = q;
    }
    if (key === undefined) {
      // R-KA-20: the OpenAI SDK sends Authorization: Bearer <apiKey>, the
      // Anthropic SDK x-api-key; read them only when the configured places
      // carry nothing
      const auth = ctx.headers.authorization;
      if (typeof auth === 'string' && auth.length > 7 && auth.slice(0, 7).toLowerCase() === 'bearer ') {
        key = auth.slice(7).trim();
        from = 'authorization';
      } else {
        const xk = ctx.headers['x-api-key'];
        if (xk !== undefined) {
          key = Array.isArray(xk) ? xk[0] ?? '' : xk;
          from = 'x-api-key';
        }
      }
    }

    let consumer: ConsumerInfo | undefined;
    if (key !== undefined && index) consumer = index.findByKey(key);

    if (!consumer) {
      if (c.anonymous_consumer !== undefined) {
        const anon = index?.findByName(c.anonymous_consumer);
        if (!anon) {
          ctx.log.error(`key-auth: anonymous consumer ${c.anonymous_consumer} not found`);
          return reject(c, 'Invalid user authorization');
        }
        attach(ctx, anon, false);
        return;
      }
      return reject(c, key === undefined ? 'Missing API key in request' : 'Invalid API key in request');
    }

    if (c.hide_credentials) {
      if (from !== undefined) delete ctx.headers[from];
      else ctx.query.delete(c.query);
    }
    attach(ctx, consumer, consumer.credentialId !== undefined);
  },
};
