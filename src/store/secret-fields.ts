// R-SEC-10: the plugins' `encrypt_fields` of an item, walked as APISIX's
// process_encrypt_field does (apisix/plugin.lua): a dotted path of any depth,
// lists met on the way are walked item by item, and the value reached may be
// a string, a list of strings or a map of strings (ai-proxy `auth.header`).
// Consumers and Credentials use a plugin's consumer schema, everything else
// its route schema. Changes are copy-on-write: an item with nothing to change
// comes back as the same object.
import { log } from '../core/log.js';
import type { Json, JsonObject } from '../core/types.js';
import type { KeyringCipher } from './keyring-cipher.js';
import type { ValueCodec } from './types.js';

/** a plugin's encrypt_fields for a schema type (undefined or empty: none) */
export type EncryptFieldsOf = (plugin: string, schemaType: 'route' | 'consumer') => readonly string[] | undefined;

/** the new text for one field value, or undefined to keep it */
export type FieldOp = (value: string, plugin: string, field: string) => string | undefined;

const isObj = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

function leaf(v: Json | undefined, op: (s: string) => string | undefined): Json | undefined {
  const one = (s: string) => {
    const r = op(s);
    return r === undefined ? s : r;
  };
  if (typeof v === 'string') return one(v);
  if (Array.isArray(v)) {
    let out: Json[] | undefined;
    v.forEach((x, i) => {
      if (typeof x !== 'string') return;
      const r = one(x);
      if (r !== x) (out ??= [...v])[i] = r;
    });
    return out ?? v;
  }
  if (isObj(v)) {
    let out: JsonObject | undefined;
    for (const [k, x] of Object.entries(v)) {
      if (typeof x !== 'string') continue;
      const r = one(x);
      if (r !== x) (out ??= { ...v })[k] = r;
    }
    return out ?? v;
  }
  return v;
}

function walk(conf: JsonObject, segs: readonly string[], i: number, op: (s: string) => string | undefined): JsonObject {
  const seg = segs[i]!;
  if (!Object.hasOwn(conf, seg)) return conf;
  const val = conf[seg];
  let next: Json | undefined;
  if (i === segs.length - 1) next = leaf(val, op);
  else if (Array.isArray(val)) {
    let out: Json[] | undefined;
    val.forEach((item, j) => {
      if (!isObj(item)) return;
      const r = walk(item, segs, i + 1, op);
      if (r !== item) (out ??= [...val])[j] = r;
    });
    next = out ?? val;
  } else if (isObj(val)) next = walk(val, segs, i + 1, op);
  else return conf;
  return next === val ? conf : { ...conf, [seg]: next as Json };
}

/** apply `op` to every encrypt_fields value of the item's plugins */
export function mapSecretFields(key: string, value: JsonObject, fieldsOf: EncryptFieldsOf, op: FieldOp): JsonObject {
  const plugins = value.plugins;
  if (!isObj(plugins) || key.startsWith('/apisix/plugin_metadata/')) return value;
  const type = key.startsWith('/apisix/consumers/') ? 'consumer' : 'route';
  let out: JsonObject | undefined;
  for (const [name, conf] of Object.entries(plugins)) {
    if (!isObj(conf)) continue;
    const fields = fieldsOf(name, type);
    if (!fields?.length) continue;
    let c = conf;
    for (const field of fields) c = walk(c, field.split('.'), 0, (s) => op(s, name, field));
    if (c !== conf) (out ??= { ...plugins })[name] = c;
  }
  return out ? { ...value, plugins: out } : value;
}

/** the store codec: encrypt_fields encrypted on the way out, decrypted on the way in */
export function createSecretCodec(cipher: KeyringCipher, fieldsOf: EncryptFieldsOf): ValueCodec {
  const encrypt: FieldOp = (s) => cipher.encrypt(s);
  return {
    encode: (key, value) => mapSecretFields(key, value, fieldsOf, encrypt),
    decode: (key, value) =>
      mapSecretFields(key, value, fieldsOf, (s, plugin, field) => {
        const plain = cipher.decrypt(s);
        // as APISIX: the stored text is kept (it may predate encryption)
        if (plain === undefined) {
          log.info(`${key}: failed to decrypt the conf of plugin [${plugin}] key [${field}], kept as stored ` +
            '(a value written before encryption was on, or the keyring changed); re-save it to encrypt it');
        }
        return plain;
      }),
  };
}

export const MASK = '******';

/** R-SEC-10: the item as the viewer role sees it */
export function maskSecretFields(key: string, value: JsonObject, fieldsOf: EncryptFieldsOf): JsonObject {
  return mapSecretFields(key, value, fieldsOf, () => MASK);
}
