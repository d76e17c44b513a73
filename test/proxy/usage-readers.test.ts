// R-USG-2 and RequestContext.usageRead: an answer without usage is estimated
// with the tokenizer only when something reads the usage (a log-phase
// plugin, an access-log format with `$llm_*` variables, the terminal's
// summary); otherwise nothing is kept or counted for it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, type Harness } from './harness.js';
import { startMockLlm, sseChat, chatCompletion } from '../helpers/mock-llm.js';
import { createAccessLog } from '../../src/observability/access-log.js';
import { memLog } from '../helpers/wait.js';
import type { RequestContext } from '../../src/core/types.js';

const CHAT = { messages: [{ role: 'user', content: 'What is 1+1?' }] };

async function post(h: Harness, path: string, body: unknown): Promise<string> {
  const r = await fetch(h.url + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return r.text();
}

async function loggedAt(h: Harness, n: number): Promise<RequestContext> {
  // the log phase runs after the answer, and after an estimate (the tokenizer's first load takes a while)
  const deadline = Date.now() + 10_000;
  while (h.logged.length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  assert.equal(h.logged.length, n, 'the request was logged');
  return h.logged[n - 1]!;
}

/** a route without a reader of the usage (/plain) and one with prometheus (/metered), both to `endpoint`; the access log reads nothing */
function plainAndMetered(endpoint: string): Promise<Harness> {
  const inst = [{ name: 'm', provider: 'openai', weight: 1, auth: {}, override: { endpoint } }];
  return startHarness({
    '/apisix/routes/plain': { uri: '/plain', plugins: { 'ai-proxy-multi': { instances: inst } } },
    '/apisix/routes/metered': { uri: '/metered', plugins: { 'ai-proxy-multi': { instances: inst }, prometheus: {} } },
  }, { accessLogReadsUsage: false });
}

test('R-USG-2: without a reader of the usage, a stream and an answer without usage are not estimated; with one (a log-phase plugin), they are', async (t) => {
  const m = await startMockLlm();
  t.after(() => m.close());
  m.reply((req) => ((req.body as { stream?: boolean }).stream ? { sse: sseChat('gpt-4', ['a', 'b'], null) } : { json: chatCompletion('gpt-4', '1+1 equals 2.', null) }));
  const h = await plainAndMetered(m.url);
  t.after(() => h.close());

  let n = 0;
  for (const stream of [true, false]) {
    assert.match(await post(h, '/plain', { ...CHAT, stream }), stream ? /\[DONE\]/ : /equals/);
    const plain = await loggedAt(h, ++n);
    assert.equal(plain.usageRead, false);
    assert.deepEqual([plain.llm.usageSource, plain.llm.totalTokens], [undefined, 0], `stream ${stream}: nothing estimated`);

    assert.match(await post(h, '/metered', { ...CHAT, stream }), stream ? /\[DONE\]/ : /equals/);
    const metered = await loggedAt(h, ++n);
    assert.equal(metered.usageRead, true);
    assert.equal(metered.llm.usageSource, 'estimated', `stream ${stream}: estimated for prometheus`);
    assert.ok(metered.llm.promptTokens > 0 && metered.llm.completionTokens > 0);
  }
});

test('R-USG-2: an access log reads the usage when its format has $llm_* variables, and the harness default counts as a reader', async (t) => {
  const log = memLog();
  const conf = (enabled: boolean, format: string) => ({ enable_access_log: enabled, access_log: '/dev/null', access_log_format: format, access_log_format_escape: 'default' as const });
  const off = createAccessLog(conf(false, '$llm_prompt_tokens'), log);
  const plain = createAccessLog(conf(true, ''), log);
  const llm = createAccessLog(conf(true, '$status $llm_completion_tokens'), log);
  t.after(() => Promise.all([off.close(), plain.close(), llm.close()]));
  assert.deepEqual([off.readsUsage, plain.readsUsage, llm.readsUsage], [false, false, true]);

  const m = await startMockLlm();
  t.after(() => m.close());
  m.reply({ sse: sseChat('gpt-4', ['a'], null) });
  const h = await startHarness({
    '/apisix/routes/plain': { uri: '/plain', plugins: { 'ai-proxy-multi': { instances: [{ name: 'm', provider: 'openai', weight: 1, auth: {}, override: { endpoint: m.url } }] } } },
  });
  t.after(() => h.close());
  assert.match(await post(h, '/plain', { ...CHAT, stream: true }), /\[DONE\]/);
  const ctx = await loggedAt(h, 1);
  assert.equal(ctx.usageRead, true);
  assert.equal(ctx.llm.usageSource, 'estimated');
});

test('R-USG-3: a stream is searched for tool calls only when something reads the usage ($llm_has_tool_calls is read with it)', async (t) => {
  const m = await startMockLlm();
  t.after(() => m.close());
  const base = { id: 'c', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o' };
  const call = { index: 0, id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } };
  m.reply({
    sse: [
      { data: { ...base, choices: [{ index: 0, delta: { role: 'assistant', tool_calls: [call] }, finish_reason: null }] } },
      { data: { ...base, choices: [{ index: 0, delta: {}, finish_reason: 'tool_calls' }] } },
      { data: { ...base, choices: [], usage: { prompt_tokens: 5, completion_tokens: 5, total_tokens: 10 } } },
      { data: '[DONE]' },
    ],
  });
  const h = await plainAndMetered(m.url);
  t.after(() => h.close());

  assert.match(await post(h, '/plain', { ...CHAT, stream: true }), /get_weather/);
  const plain = await loggedAt(h, 1);
  assert.equal(plain.usageRead, false);
  assert.equal(plain.llm.hasToolCalls, undefined, 'not searched: nothing reads it');
  // the usage the answer carries is still taken (the dashboard's recent requests show it)
  assert.equal(plain.llm.totalTokens, 10);

  assert.match(await post(h, '/metered', { ...CHAT, stream: true }), /get_weather/);
  const metered = await loggedAt(h, 2);
  assert.equal(metered.usageRead, true);
  assert.equal(metered.llm.hasToolCalls, true);
  assert.equal(metered.llm.totalTokens, 10);
});
