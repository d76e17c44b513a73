import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import { plugins } from '../../src/plugins/registry.js';
import type { PluginDef, RequestContext } from '../../src/core/types.js';
import { timeLocal, timeIso8601, secondsFromMs } from '../../src/proxy/context.js';
import fc from 'fast-check';
import { startHarness, startUpstream, req } from './harness.js';

let captured: RequestContext | undefined;
let accessVars: Record<string, unknown> = {};
const probe: PluginDef = {
  name: 't-probe',
  priority: 50,
  schema: { type: 'object' },
  async access(ctx) {
    captured = ctx;
    if (ctx.headers['x-read-body']) {
      const b = await ctx.body();
      const again = await ctx.body();
      accessVars.bodySame = b === again;
      accessVars.body = b.toString();
    }
    if (ctx.headers['x-ai']) {
      ctx.llm.requestType = 'ai_chat';
      ctx.llm.instanceName = 'openai-instance';
      ctx.llm.instancePort = 443;
      ctx.llm.requestModel = 'gpt-4';
      ctx.llm.model = 'gpt-4o';
      ctx.llm.promptTokens = 23;
      ctx.llm.completionTokens = 8;
      ctx.llm.timeToFirstTokenMs = 120;
      ctx.llm.upstreamResponseTimeMs = 345.4;
      ctx.upstreamAttempts.push({ addr: '10.0.0.1:443', status: 429, time: 0.012 }, { addr: '10.0.0.2:443', status: 200, time: 0.3456 });
    }
    for (const n of ['request_type', 'llm_model', 'request_llm_model', 'llm_prompt_tokens', 'llm_completion_tokens', 'llm_time_to_first_token', 'apisix_upstream_response_time', 'llm_content_risk_level', 'balancer_ip', 'balancer_port', 'upstream_addr', 'upstream_status', 'upstream_response_time', 'status']) {
      accessVars[n] = ctx.getVar(n);
    }
  },
};
(plugins as Map<string, PluginDef>).set('t-probe', probe);

const up = await startUpstream();
const h = await startHarness({
  '/apisix/services/s1': { name: 'svc-name' },
  '/apisix/routes/v1': { uri: '/vars/*', name: 'route-name', service_id: 's1', plugins: { 't-probe': {} }, upstream: { nodes: { [up.hostPort]: 1 } } },
});
after(async () => {
  await h.close();
  await up.close();
});

test('R-VAR-3 general variables', async () => {
  accessVars = {};
  const r = await req(h.url + '/vars/a%20b//c?x=1&x=2&y=z', {
    headers: {
      host: 'Example.COM:8080',
      'user-agent': 'ua/1',
      cookie: 'a=1; sess=abc',
      authorization: 'Basic ' + Buffer.from('alice:pw').toString('base64'),
      'x-multi-word': 'mw',
      referer: 'http://ref',
    },
  });
  assert.equal(r.status, 200);
  const ctx = h.logged.at(-1)!;
  assert.equal(ctx, captured);
  const g = (n: string) => ctx.getVar(n);
  assert.equal(g('uri'), '/vars/a b/c');
  assert.equal(g('request_uri'), '/vars/a b/c?x=1&x=2&y=z');
  assert.equal(g('args'), 'x=1&x=2&y=z');
  assert.equal(g('query_string'), 'x=1&x=2&y=z');
  assert.equal(g('is_args'), '?');
  assert.equal(g('arg_x'), '1', 'first value');
  assert.equal(g('arg_missing'), undefined);
  assert.equal(g('host'), 'example.com');
  assert.equal(g('http_host'), 'Example.COM:8080');
  assert.equal(g('http_user_agent'), 'ua/1');
  assert.equal(g('http_x_multi_word'), 'mw');
  assert.equal(g('http_absent'), undefined);
  assert.equal(g('cookie_sess'), 'abc');
  assert.equal(g('cookie_none'), undefined);
  assert.equal(g('remote_user'), 'alice');
  assert.equal(g('remote_addr'), '127.0.0.1');
  assert.equal(typeof g('remote_port'), 'number');
  assert.equal(g('server_addr'), '127.0.0.1');
  assert.equal(g('server_port'), Number(new URL(h.url).port));
  assert.equal(g('scheme'), 'http');
  assert.equal(g('hostname'), os.hostname());
  assert.equal(g('request_method'), 'GET');
  assert.equal(g('request'), 'GET /vars/a%20b//c?x=1&x=2&y=z HTTP/1.1');
  assert.equal(g('server_protocol'), 'HTTP/1.1');
  assert.equal(g('status'), 200);
  assert.equal(g('body_bytes_sent'), Buffer.byteLength(r.text));
  assert.ok(Number(g('bytes_sent')) > Buffer.byteLength(r.text));
  assert.ok(Number(g('request_length')) > 50);
  assert.match(String(g('request_time')), /^\d+\.\d{3}$/);
  assert.match(String(g('msec')), /^\d{10}\.\d{3}$/);
  assert.match(String(g('time_local')), /^\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}$/);
  assert.match(String(g('time_iso8601')), /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}$/);
  assert.match(String(g('request_id')), /^[0-9a-f]{32}$/);
  assert.equal(g('apisix_request_id'), g('request_id'));
  assert.equal(g('route_id'), 'v1');
  assert.equal(g('route_name'), 'route-name');
  assert.equal(g('service_id'), 's1');
  assert.equal(g('service_name'), 'svc-name');
  assert.equal(g('consumer_name'), undefined);
  assert.equal(g('upstream_addr'), up.hostPort);
  assert.equal(g('upstream_status'), '200');
  assert.match(String(g('upstream_response_time')), /^\d+\.\d{3}$/);
  assert.equal(g('upstream_scheme'), 'http');
  assert.equal(g('upstream_host'), 'Example.COM:8080');
  assert.equal(g('upstream_uri'), '/vars/a%20b//c?x=1&x=2&y=z');
  assert.equal(g('balancer_ip'), '127.0.0.1');
  assert.equal(g('balancer_port'), up.port);
  assert.equal(g('sent_http_content_type'), 'application/json');
  assert.equal(g('rate_limiting_info'), '');
  assert.equal(g('no_such_var'), undefined);
  ctx.setVar('custom', 'v');
  assert.equal(g('custom'), 'v');
  // before the response: status absent
  assert.equal(accessVars.status, undefined);
});

test('R-VAR-1 LLM variable defaults on a non-AI request', async () => {
  accessVars = {};
  await req(h.url + '/vars/x');
  assert.deepEqual(
    {
      request_type: accessVars.request_type, llm_model: accessVars.llm_model, request_llm_model: accessVars.request_llm_model,
      llm_prompt_tokens: accessVars.llm_prompt_tokens, llm_completion_tokens: accessVars.llm_completion_tokens,
      llm_time_to_first_token: accessVars.llm_time_to_first_token, llm_content_risk_level: accessVars.llm_content_risk_level,
    },
    { request_type: 'traditional_http', llm_model: '', request_llm_model: '', llm_prompt_tokens: 0, llm_completion_tokens: 0, llm_time_to_first_token: 0, llm_content_risk_level: '' },
  );
  assert.equal(accessVars.apisix_upstream_response_time, undefined);
  const ctx = h.logged.at(-1)!;
  assert.match(String(ctx.getVar('apisix_upstream_response_time')), /^\d+\.\d{3}$/, 'non-AI: same as upstream_response_time');
});

test('R-VAR-1 R-VAR-4 LLM variables and upstream attempts of an AI request; balancer_ip is the instance name', async () => {
  accessVars = {};
  await req(h.url + '/vars/ai', { headers: { 'x-ai': '1' } });
  assert.equal(accessVars.request_type, 'ai_chat');
  assert.equal(accessVars.llm_model, 'gpt-4o');
  assert.equal(accessVars.request_llm_model, 'gpt-4');
  assert.equal(accessVars.llm_prompt_tokens, 23);
  assert.equal(accessVars.llm_completion_tokens, 8);
  assert.equal(accessVars.llm_time_to_first_token, 120);
  assert.equal(accessVars.apisix_upstream_response_time, 345);
  assert.equal(accessVars.balancer_ip, 'openai-instance');
  assert.equal(accessVars.balancer_port, 443);
  assert.equal(accessVars.upstream_addr, '10.0.0.1:443, 10.0.0.2:443');
  assert.equal(accessVars.upstream_status, '429, 200');
  assert.equal(accessVars.upstream_response_time, '0.012, 0.346');
});

test('R-GEN-17 the body is read once and cached; no size limit', async () => {
  accessVars = {};
  const body = 'b'.repeat(2 * 1024 * 1024);
  const r = await req(h.url + '/vars/body', { method: 'POST', body, headers: { 'x-read-body': '1' } });
  assert.equal(accessVars.bodySame, true);
  assert.equal((accessVars.body as string).length, body.length);
  assert.equal(r.json.body.length, body.length, 'buffered body still forwarded');
});

test('R-VAR-3 time formats', () => {
  const d = new Date(2025, 2, 21, 4, 28, 3);
  assert.match(timeLocal(d), /^21\/Mar\/2025:04:28:03 [+-]\d{4}$/);
  assert.match(timeIso8601(d), /^2025-03-21T04:28:03[+-]\d{2}:\d{2}$/);
});

test('R-VAR-3: $request_time is seconds with three decimals, as toFixed(3) writes them', () => {
  assert.equal(secondsFromMs(0), '0.000');
  assert.equal(secondsFromMs(7.4), '0.007');
  assert.equal(secondsFromMs(999.6), '1.000');
  assert.equal(secondsFromMs(61_234), '61.234');
  // away from the half-millisecond ties, where toFixed reads the binary value
  fc.assert(fc.property(fc.integer({ min: 0, max: 1e9 }), fc.double({ min: 0, max: 0.49, noNaN: true }), (ms, frac) => {
    assert.equal(secondsFromMs(ms + frac), ((ms + frac) / 1000).toFixed(3));
  }), { numRuns: 2000 });
});
