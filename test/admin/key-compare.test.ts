// The admin key is compared in constant time (issue 16 security checks,
// R-ADM-4): findKey hashes both sides and compares every key with
// crypto.timingSafeEqual; these cases pin its answers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findKey } from '../../src/admin/auth.js';

const keys = [
  { name: 'admin', key: 'a'.repeat(32), role: 'admin' as const },
  { name: 'viewer', key: 'v3ry-different-viewer-key', role: 'viewer' as const },
];

test('R-ADM-4: findKey matches exactly one key, whatever the length or prefix of a wrong one', () => {
  assert.equal(findKey(keys, 'a'.repeat(32))?.name, 'admin');
  assert.equal(findKey(keys, 'v3ry-different-viewer-key')?.name, 'viewer');
  for (const wrong of ['', 'a', 'a'.repeat(31), 'a'.repeat(33), 'a'.repeat(31) + 'b', 'v3ry-different-viewer-ke', 'V3RY-DIFFERENT-VIEWER-KEY']) {
    assert.equal(findKey(keys, wrong), undefined, JSON.stringify(wrong));
  }
  // the first matching entry wins when two entries share a key
  assert.equal(findKey([...keys, { name: 'dup', key: 'a'.repeat(32), role: 'viewer' as const }], 'a'.repeat(32))?.name, 'admin');
});
