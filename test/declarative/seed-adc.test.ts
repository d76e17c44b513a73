// Every ADC file of the seed loads with `switchyard sync` and its route then
// serves traffic as the Admin API tab would (R-DECL-13, R-SCN-1..8; the
// instances point at the mock LLM as spec §11 prescribes).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, type GatewayProcess } from '../helpers/gateway.js';
import { startMockLlm, type MockLlm } from '../helpers/mock-llm.js';
import { CHAT, cliConfig, pointAtMock, post, readFixture, runCli, runInProcess, writeYaml } from './util.js';

const env = {
  OPENAI_API_KEY: 'sk-openai',
  DEEPSEEK_API_KEY: 'sk-deepseek',
  AZ_OPENAI_API_KEY: 'az-key',
  YOUR_LLM_API_KEY: 'llm-key',
  YOUR_LLM_MODEL: 'my-model',
};

let gw: GatewayProcess;
let mock: MockLlm;
let config: string;

test.before(async () => {
  mock = await startMockLlm();
  gw = await startGateway();
  config = cliConfig(gw);
});
test.after(async () => {
  await gw?.stop();
  await mock?.close();
});

async function load(name: string, doc: unknown, viaCli = false): Promise<void> {
  const file = writeYaml(gw.dir, name, doc);
  const r = viaCli
    ? await runCli(['sync', '-c', config, '-f', file], { cwd: gw.dir, env })
    : await runInProcess(['sync', '-c', config, '-f', file], env);
  assert.equal(r.code, 0, r.stderr);
  mock.reset();
}

test('R-DECL-13, R-SCN-1: seed "load balance" ADC file: 8 of 10 requests to gpt-4, 2 to deepseek-chat', async () => {
  await load('1.yaml', pointAtMock(readFixture('seed-1-load-balance.yaml'), mock.url));
  const models: string[] = [];
  for (let i = 0; i < 10; i++) {
    const r = await post(gw.proxyUrl + '/anything', CHAT);
    assert.equal(r.status, 200);
    models.push(r.body.model);
  }
  assert.equal(models.filter((m) => m === 'gpt-4').length, 8);
  assert.equal(models.filter((m) => m === 'deepseek-chat').length, 2);
  const openai = mock.requests.find((q) => q.body?.model === 'gpt-4')!;
  assert.equal(openai.path, '/v1/chat/completions');
  assert.equal(openai.headers.authorization, 'Bearer sk-openai');
  assert.equal(mock.requests.find((q) => q.body?.model === 'deepseek-chat')!.path, '/chat/completions');
});

test('R-DECL-13, R-SCN-2: seed "priority and rate limiting" ADC file: openai first, then deepseek once the quota is spent', async () => {
  await load('2.yaml', pointAtMock(readFixture('seed-2-priority-rate-limit.yaml'), mock.url));
  const r1 = await post(gw.proxyUrl + '/anything', CHAT);
  assert.equal(r1.status, 200);
  assert.equal(r1.body.model, 'gpt-4');
  assert.equal(r1.headers.get('x-ai-ratelimit-limit-openai-instance'), '10');
  const r2 = await post(gw.proxyUrl + '/anything', CHAT);
  assert.equal(r2.status, 200);
  assert.equal(r2.body.model, 'deepseek-chat');
});

test('R-DECL-13, R-SCN-3: seed consumer ADC files (consumers + route): key-auth with credentials, per-consumer limits', async () => {
  const doc = pointAtMock(readFixture('seed-3b-consumer-route.yaml'), mock.url);
  doc.consumers = readFixture('seed-3a-consumers.yaml').consumers;
  await load('3.yaml', doc);
  const none = await post(gw.proxyUrl + '/anything', CHAT);
  assert.equal(none.status, 401);
  assert.deepEqual(none.body, { message: 'Missing API key in request' });
  assert.equal((await post(gw.proxyUrl + '/anything', CHAT, { apikey: 'wrong' })).status, 401);
  const john = await post(gw.proxyUrl + '/anything', CHAT, { apikey: 'john-key' });
  assert.equal(john.status, 200);
  assert.equal(mock.requests.at(-1)!.headers['x-consumer-username'], 'johndoe');
  const jane = await post(gw.proxyUrl + '/anything', CHAT, { apikey: 'jane-key' });
  assert.equal(jane.status, 200);
  assert.equal(mock.requests.at(-1)!.headers['x-consumer-username'], 'janedoe');
});

test('R-DECL-13, R-SCN-4: seed "max_tokens" ADC file: options win over the client', async () => {
  await load('4.yaml', pointAtMock(readFixture('seed-4-max-tokens.yaml'), mock.url));
  for (let i = 0; i < 2; i++) assert.equal((await post(gw.proxyUrl + '/anything', { ...CHAT, max_tokens: 500 })).status, 200);
  const byModel = Object.fromEntries(mock.requests.map((q) => [q.body.model, q.body.max_tokens]));
  assert.deepEqual(byModel, { 'gpt-4': 50, 'deepseek-chat': 100 });
});

for (const [file, provider] of [
  ['seed-5-embeddings-azure.yaml', 'azure-openai'],
  ['seed-5-embeddings-compatible.yaml', 'openai-compatible'],
] as const) {
  test(`R-DECL-13, R-SCN-5: seed "embeddings" ADC file (${provider} tab): both instances serve embeddings`, async () => {
    const doc = readFixture(file);
    pointAtMock(doc, mock.url, (inst) => new URL(inst.override.endpoint).pathname + new URL(inst.override.endpoint).search);
    await load('5.yaml', doc);
    for (let i = 0; i < 2; i++) {
      const r = await post(gw.proxyUrl + '/anything', { input: 'hello world' });
      assert.equal(r.status, 200);
      assert.equal(r.body.object, 'list');
    }
    const paths = mock.requests.map((q) => q.path).sort();
    assert.deepEqual(paths, ['/openai/deployments/text-embedding-3-small/embeddings', '/v1/embeddings']);
    const az = mock.requests.find((q) => q.path.startsWith('/openai/'))!;
    assert.equal(az.query['api-version'], '2023-05-15');
    assert.equal(mock.requests.find((q) => q.path === '/v1/embeddings')!.body.model, 'text-embedding-3-small');
  });
}

test('R-DECL-13, R-SCN-6: seed "health checks" ADC file loads (${YOUR_LLM_MODEL} substituted) and serves', async () => {
  const doc = pointAtMock(readFixture('seed-6-health-checks.yaml'), mock.url);
  doc.services[0].routes[0].plugins['ai-proxy-multi'].instances[1].checks.active.type = 'http'; // D21
  mock.route('/your/probe/path', { status: 200, body: 'ok' });
  await load('6.yaml', doc);
  mock.route('/your/probe/path', { status: 200, body: 'ok' });
  for (let i = 0; i < 2; i++) {
    const r = await post(gw.proxyUrl + '/anything', CHAT);
    assert.equal(r.status, 200);
    assert.equal(r.body.model, 'my-model');
  }
  assert.equal(mock.requests.filter((q) => q.path === '/v1/chat/completions').at(-1)!.headers.authorization, 'Bearer llm-key');
});

test('R-DECL-13, R-SCN-8: seed "kafka-logger" ADC file loads and serves (the logger does not block requests)', async () => {
  await load('8.yaml', pointAtMock(readFixture('seed-8-kafka-logger.yaml'), mock.url));
  const r = await post(gw.proxyUrl + '/anything', CHAT);
  assert.equal(r.status, 200);
  const route = (await gw.admin('GET', '/apisix/admin/routes')).body.list[0].value;
  assert.deepEqual(route.plugins['kafka-logger'].brokers, [{ host: '127.0.0.1', port: 9092 }]);
  assert.deepEqual(route.plugins['ai-proxy-multi'].logging, { summaries: true, payloads: true });
});

test('R-DECL-10, R-RES-9: an ADC service upstream serves its plain (non-AI) routes; global rules load', async () => {
  const port = new URL(mock.url).port;
  await load('ups.yaml', {
    services: [
      {
        name: 'plain',
        upstream: { type: 'roundrobin', nodes: [{ host: '127.0.0.1', port: Number(port), weight: 1 }] },
        routes: [{ name: 'echo', uris: ['/v1/chat/completions'], methods: ['POST'] }],
      },
    ],
    global_rules: { prometheus: {} },
  });
  const r = await post(gw.proxyUrl + '/v1/chat/completions', { ...CHAT, model: 'plain-model' });
  assert.equal(r.status, 200);
  assert.equal(r.body.model, 'plain-model');
  assert.equal(mock.requests.at(-1)!.path, '/v1/chat/completions');
  const rules = await gw.admin('GET', '/apisix/admin/global_rules/prometheus');
  assert.equal(rules.status, 200);
});
