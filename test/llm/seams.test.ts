// Issue 13 part 1: the llm layer's seams. A protocol name appears only in its
// protocols/ module (and in the providers' capability maps and the
// converters registered by that pair); a provider name only in its
// providers/ module.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../helpers/gateway.js';
import { providers } from '../../src/llm/providers/index.js';
import { getProtocol } from '../../src/llm/protocols/index.js';
import { getConverter } from '../../src/llm/converters/index.js';

const SRC = path.join(REPO_ROOT, 'src');
function files(dir: string): string[] {
  const out: string[] = [];
  for (const n of readdirSync(dir)) {
    const p = path.join(dir, n);
    if (statSync(p).isDirectory()) out.push(...files(p));
    else if (n.endsWith('.ts')) out.push(p);
  }
  return out;
}
const all = files(SRC).map((p) => ({ rel: path.relative(SRC, p), text: readFileSync(p, 'utf8') }));

const PROTOCOLS = ['openai-chat', 'openai-responses', 'openai-embeddings', 'anthropic-messages', 'vertex-predict', 'bedrock-converse'];

test('issue 13: every protocol has its module, every converter its (from, to) file', () => {
  for (const p of PROTOCOLS) {
    assert.equal(getProtocol(p as any).name, p);
    assert.ok(all.some((f) => f.rel === `llm/protocols/${p}.ts`), `protocols/${p}.ts`);
  }
  assert.ok(getConverter('anthropic-messages', 'openai-chat'));
  assert.ok(getConverter('openai-embeddings', 'vertex-predict'));
  assert.ok(getConverter('openai-chat', 'bedrock-converse'));
  assert.equal(getConverter('openai-chat', 'anthropic-messages'), undefined);
});

test('issue 13: protocol names appear only in protocols/, converters/ and the providers\' capability maps', () => {
  for (const f of all) {
    const own = f.rel.startsWith('llm/protocols/') || f.rel.startsWith('llm/converters/') || f.rel.startsWith('llm/providers/');
    if (own) continue;
    for (const p of PROTOCOLS) {
      assert.ok(!f.text.includes(`'${p}'`), `${f.rel} names protocol '${p}'`);
    }
  }
});

test('issue 13: provider names appear only in their own providers/<name>.ts', () => {
  for (const name of providers.keys()) {
    for (const f of all) {
      if (f.rel === `llm/providers/${name}.ts`) continue;
      assert.ok(!f.text.includes(`'${name}'`), `${f.rel} names provider '${name}'`);
    }
  }
});

test('issue 13: src/llm imports nothing from src/plugins or src/proxy', () => {
  for (const f of all) {
    if (!f.rel.startsWith('llm/')) continue;
    assert.ok(!/from '(\.\.\/)+(plugins|proxy)\//.test(f.text), `${f.rel} imports plugins/proxy`);
  }
});
