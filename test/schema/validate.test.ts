import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateSchema, luaNumber, luaQuote } from '../../src/schema/validate.js';

function err(schema: object, data: unknown): string {
  const r = validateSchema(schema, data);
  assert.equal(r.ok, false, `expected a failure for ${JSON.stringify(data)}`);
  return (r as { error: string }).error;
}

const obj = (properties: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({ type: 'object', properties, ...extra });

test('R-GEN-5 missing required property', () => {
  assert.equal(err(obj({ key: { type: 'string' } }, { required: ['key'] }), {}), 'property "key" is required');
  // required names not listed under properties are checked after the listed ones
  assert.equal(err({ type: 'object', required: ['x', 'y'], properties: { y: { type: 'string' } } }, {}), 'property "y" is required');
  assert.equal(err({ type: 'object', required: ['x'] }, {}), 'property "x" is required');
});

test('R-GEN-5 dependencies', () => {
  assert.equal(err({ type: 'object', dependencies: { b: ['a'] } }, { b: 1 }), 'property "a" is required when "b" is set');
  assert.equal(
    err(obj({ b: { type: 'integer' } }, { dependencies: { b: ['a'] } }), { b: 1 }),
    'property "a" is required when "b" is set',
  );
});

test('R-GEN-5 wrong type with Lua type names', () => {
  const s = obj({ n: { type: 'integer' }, s: { type: 'string' }, o: { type: 'object' }, a: { type: 'array' }, b: { type: 'boolean' } });
  assert.equal(err(s, { n: 'x' }), 'property "n" validation failed: wrong type: expected integer, got string');
  assert.equal(err(s, { n: 1.5 }), 'property "n" validation failed: wrong type: expected integer, got number');
  assert.equal(err(s, { s: 1 }), 'property "s" validation failed: wrong type: expected string, got number');
  assert.equal(err(s, { s: [] }), 'property "s" validation failed: wrong type: expected string, got table');
  assert.equal(err(s, { s: {} }), 'property "s" validation failed: wrong type: expected string, got table');
  assert.equal(err(s, { s: true }), 'property "s" validation failed: wrong type: expected string, got boolean');
  assert.equal(err(s, { o: 'x' }), 'property "o" validation failed: wrong type: expected object, got string');
  assert.equal(err(s, { a: 3 }), 'property "a" validation failed: wrong type: expected array, got number');
  assert.equal(err(s, { b: 'true' }), 'property "b" validation failed: wrong type: expected boolean, got string');
  assert.equal(err(s, { s: null }), 'property "s" validation failed: wrong type: expected string, got nil');
  assert.equal(err({ type: 'object' }, undefined), 'wrong type: expected object, got nil');
  assert.equal(err({ type: ['string', 'number'] }, true), 'wrong type: expected one of string, number, got boolean');
});

test('R-GEN-5 enum', () => {
  assert.equal(err(obj({ e: { enum: ['a', 'b'] } }), { e: 'c' }), 'property "e" validation failed: matches none of the enum values');
});

test('R-GEN-5 minimum / exclusiveMinimum / maximum / exclusiveMaximum', () => {
  assert.equal(
    err(obj({ rejected_code: { type: 'integer', minimum: 200, maximum: 599 } }), { rejected_code: 199 }),
    'property "rejected_code" validation failed: expected 199 to be at least 200',
  );
  assert.equal(err({ type: 'integer', maximum: 599 }, 600), 'expected 600 to be at most 599');
  assert.equal(err({ type: 'number', minimum: 0, exclusiveMinimum: true }, 0), 'expected 0 to be greater than 0');
  assert.equal(err({ type: 'number', maximum: 1, exclusiveMaximum: true }, 1), 'expected 1 to be smaller than 1');
  // draft-6 numeric form accepted too
  assert.equal(err({ type: 'number', exclusiveMinimum: 0 }, -0.5), 'expected -0.5 to be greater than 0');
});

test('R-GEN-5 minLength / maxLength count characters', () => {
  assert.equal(err({ type: 'string', minLength: 1 }, ''), 'string too short, expected at least 1, got 0');
  assert.equal(err({ type: 'string', maxLength: 3 }, 'abcd'), 'string too long, expected at most 3, got 4');
  assert.equal(err({ type: 'string', maxLength: 3 }, 'ééééé'), 'string too long, expected at most 3, got 5');
});

test('R-GEN-5 pattern (Lua %q quoting)', () => {
  assert.equal(err({ type: 'string', pattern: '^[a-z]+$' }, 'A b'), 'failed to match pattern "^[a-z]+$" with "A b"');
  assert.equal(err({ type: 'string', pattern: '^\\S+$' }, 'a b'), 'failed to match pattern "^\\\\S+$" with "a b"');
});

test('R-GEN-5 minItems / maxItems / uniqueItems', () => {
  assert.equal(err({ type: 'array', minItems: 1 }, []), 'expect array to have at least 1 items');
  assert.equal(err({ type: 'array', maxItems: 2 }, [1, 2, 3]), 'expect array to have at most 2 items');
  assert.equal(err({ type: 'array', uniqueItems: true }, ['a', 'b', 'a']), 'expected unique items but items 1 and 3 are equal');
});

test('R-GEN-5 minProperties / maxProperties', () => {
  assert.equal(err({ type: 'object', maxProperties: 1 }, { a: 1, b: 2 }), 'expect object to have at most 1 properties');
  assert.equal(err({ type: 'object', minProperties: 1 }, {}), 'expect object to have at least 1 properties');
});

test('R-GEN-5 additionalProperties false', () => {
  assert.equal(err(obj({ a: { type: 'string' } }, { additionalProperties: false }), { a: 'x', zz: 1 }), 'additional properties forbidden, found zz');
});

test('R-GEN-5 anyOf: with and without required lists', () => {
  assert.equal(err({ anyOf: [{ required: ['a'] }, { required: ['b', 'c'] }] }, {}), 'object matches none of the required: ["a"] or ["b","c"]');
  assert.equal(err({ anyOf: [{ type: 'string' }, { type: 'integer', minimum: 1 }] }, 0), 'object matches none of the required');
});

test('R-GEN-5 oneOf none / both', () => {
  assert.equal(err({ oneOf: [{ type: 'string' }, { type: 'number' }] }, true), 'value should match only one schema, but matches none');
  assert.equal(err({ oneOf: [{ type: 'number' }, { type: 'integer' }] }, 3), 'value should match only one schema, but matches both schemas 1 and 2');
});

test('R-GEN-5 allOf branch', () => {
  assert.equal(err({ allOf: [{ type: 'object' }, { required: ['a'] }] }, {}), 'allOf 2 failed: property "a" is required');
});

test('R-GEN-5 not and if/then', () => {
  assert.equal(err({ not: { required: ['a'] } }, { a: 1 }), "value wasn't supposed to match schema");
  assert.equal(err({ if: { required: ['a'] }, then: { required: ['b'] } }, { a: 1 }), 'then clause did not match');
});

test('R-GEN-5 nested prefixes: property chain and 1-based items', () => {
  const s = obj({
    plugins: obj({
      'ai-proxy-multi': obj({
        instances: { type: 'array', items: obj({ weight: { type: 'integer', minimum: 0 } }, { required: ['weight'] }) },
      }),
    }),
  });
  assert.equal(
    err(s, { plugins: { 'ai-proxy-multi': { instances: [{ weight: 1 }, { weight: -1 }] } } }),
    'property "plugins" validation failed: property "ai-proxy-multi" validation failed: property "instances" validation failed: failed to validate item 2: property "weight" validation failed: expected -1 to be at least 0',
  );
  assert.equal(
    err(s, { plugins: { 'ai-proxy-multi': { instances: [{}] } } }),
    'property "plugins" validation failed: property "ai-proxy-multi" validation failed: property "instances" validation failed: failed to validate item 1: property "weight" is required',
  );
  // a combinator inside a property
  assert.equal(
    err(obj({ a: { allOf: [obj({ b: { type: 'string' } })] } }), { a: { b: 1 } }),
    'property "a" validation failed: allOf 1 failed: property "b" validation failed: wrong type: expected string, got number',
  );
  // patternProperties
  assert.equal(
    err(obj({ labels: { type: 'object', patternProperties: { '.*': { type: 'string', minLength: 1 } } } }), { labels: { k: '' } }),
    'property "labels" validation failed: failed to validate k (matching ".*"): string too short, expected at least 1, got 0',
  );
  // $ref to definitions
  assert.equal(
    err({ type: 'object', properties: { a: { $ref: '#/definitions/x' } }, definitions: { x: obj({ b: { type: 'string' } }) } }, { a: { b: 1 } }),
    'property "a" validation failed: property "b" validation failed: wrong type: expected string, got number',
  );
});

test('R-GEN-5 prefixes through recursive $ref, tuples, additional items/properties, dependent schemas', () => {
  const rec = {
    type: 'object',
    definitions: { node: { type: 'object', properties: { v: { type: 'integer' }, kids: { type: 'array', items: { $ref: '#/definitions/node' } } } } },
    properties: { root: { $ref: '#/definitions/node' } },
  };
  assert.equal(
    err(rec, { root: { kids: [{ v: 1 }, { kids: [{ v: 'x' }] }] } }),
    'property "root" validation failed: property "kids" validation failed: failed to validate item 2: property "kids" validation failed: failed to validate item 1: property "v" validation failed: wrong type: expected integer, got string',
  );
  const tuple = obj({ a: { type: 'array', items: [{ type: 'string' }, { type: 'integer' }], additionalItems: false } });
  assert.equal(err(tuple, { a: ['x', 'y'] }), 'property "a" validation failed: failed to validate item 2: wrong type: expected integer, got string');
  assert.equal(err(tuple, { a: ['x', 1, 2] }), 'property "a" validation failed: found unexpected extra items in array');
  assert.equal(err({ type: 'object', additionalProperties: { type: 'integer' } }, { q: 'x' }), 'failed to validate additional property q: wrong type: expected integer, got string');
  assert.equal(err({ type: 'object', dependencies: { a: { required: ['b'] } } }, { a: 1 }), 'failed to validate dependent schema for "a": property "b" is required');
  assert.equal(err(obj({ n: { type: 'number', multipleOf: 3 } }), { n: 4 }), 'property "n" validation failed: expected 4 to be a multiple of 3');
  // a property whose name is a keyword
  assert.equal(err(obj({ not: { type: 'string' } }), { not: 1 }), 'property "not" validation failed: wrong type: expected string, got number');
});

test('R-GEN-5 first failure in Lua order: type, properties, additionalProperties, combinators', () => {
  const s = obj({ a: { type: 'string' } }, { additionalProperties: false, anyOf: [{ required: ['a'] }] });
  assert.equal(err(s, { a: 1, b: 2 }), 'property "a" validation failed: wrong type: expected string, got number');
  assert.equal(err(s, { b: 2 }), 'additional properties forbidden, found b');
  assert.equal(err(s, 'x'), 'wrong type: expected object, got string');
});

test('R-GEN-5 defaults applied to the copy only; schemas compiled once', () => {
  const s = obj({ a: { type: 'string', default: 'd' }, n: obj({ x: { type: 'integer', default: 3 } }) });
  const input = { n: {} };
  const r = validateSchema(s, input);
  assert.ok(r.ok);
  assert.deepEqual(r.value, { a: 'd', n: { x: 3 } });
  assert.deepEqual(input, { n: {} });
  const t0 = performance.now();
  for (let i = 0; i < 2000; i++) validateSchema(s, input);
  assert.ok(performance.now() - t0 < 1000, 'validation reuses the compiled validator');
});

test('R-GEN-5 Lua helpers: numbers and %q', () => {
  assert.equal(luaNumber(200), '200');
  assert.equal(luaNumber(0.5), '0.5');
  assert.equal(luaNumber(1e20), '1e+20');
  assert.equal(luaNumber(0.00001), '1e-05');
  assert.equal(luaQuote('a"b\\c'), '"a\\"b\\\\c"');
});

test('R-GEN-5 ipv4/ipv6 formats', () => {
  const s = { type: 'string', anyOf: [{ format: 'ipv4' }, { format: 'ipv6' }] };
  assert.ok(validateSchema(s, '10.0.0.1').ok);
  assert.ok(validateSchema(s, '::1').ok);
  assert.equal(err(s, 'nope'), 'object matches none of the required');
});
