import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cjsonDecodeError } from '../../src/admin/cjson.js';

const e = (s: string) => cjsonDecodeError(Buffer.from(s));

test('R-ADM-10 invalid JSON bodies are described as lua-cjson does', () => {
  assert.equal(e('{"a":1,}'), 'Expected object key string but found T_OBJ_END at character 8');
  assert.equal(e('{"a" 1}'), 'Expected colon but found T_NUMBER at character 6');
  assert.equal(e('{"a":1 "b":2}'), 'Expected comma or object end but found T_STRING at character 8');
  assert.equal(e('[1 2]'), 'Expected comma or array end but found T_NUMBER at character 4');
  assert.equal(e('{"a":}'), 'Expected value but found T_OBJ_END at character 6');
  assert.equal(e('{"a":1}}'), 'Expected the end but found T_OBJ_END at character 8');
  assert.equal(e('{"a":tru}'), 'Expected value but found invalid token at character 6');
  assert.equal(e('{"a":"x'), 'Expected value but found unexpected end of string at character 6');
  assert.equal(e('{"a":"\\q"}'), 'Expected value but found invalid escape code at character 6');
  assert.equal(e('{"a":'), 'Expected value but found T_END at character 6');
  assert.equal(e('   '), 'Expected value but found T_END at character 4');
  // seed defect D3: a missing quote
  assert.equal(
    e('{"fallback_strategy: "instance_health_and_rate_limiting", "x": 1}'),
    'Expected colon but found invalid token at character 23',
  );
  assert.match(e('['.repeat(1100) + ']'.repeat(1100)), /^Found too many nested data structures \(1001\) at character \d+$/);
});
