// One registry of variables (R-VAR-1, R-VAR-3): the catalogue in
// src/core/vars.ts (config validation, access log, loggers) and the getters
// of the request context (src/proxy/context.ts) name the same variables.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProxyContext } from '../../src/proxy/context.js';
import { KNOWN_VARIABLES, VARIABLE_ALIASES, isKnownVariable, unknownLogVariables } from '../../src/core/vars.js';

test('R-VAR-1 R-VAR-3: every catalogued variable has a getter, and every getter is catalogued', () => {
  const getters = new Set(ProxyContext.variableNames());
  const aliases = new Set(Object.keys(VARIABLE_ALIASES));
  assert.deepEqual([...KNOWN_VARIABLES].filter((n) => !getters.has(n)), []);
  assert.deepEqual([...getters].filter((n) => !KNOWN_VARIABLES.has(n) && !aliases.has(n)), []);
  for (const n of getters) assert.ok(ProxyContext.getterFor(n), n);
});

test('R-ALOG-6: prefix families are known, unknown names are reported once and get no getter', () => {
  assert.ok(isKnownVariable('http_x_custom') && isKnownVariable('arg_a') && isKnownVariable('cookie_c') && isKnownVariable('sent_http_x'));
  assert.ok(!isKnownVariable('http_'));
  assert.deepEqual(unknownLogVariables('$nope $uri ${nope} $request_line'), ['nope']);
  assert.equal(ProxyContext.getterFor('nope'), undefined);
  assert.equal(ProxyContext.getterFor('constructor'), undefined);
});
