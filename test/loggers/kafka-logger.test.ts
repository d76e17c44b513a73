// kafka-logger (R-LOG-4, R-LOG-6, R-LOG-20..22, R-SCN-8) at the client
// boundary: the real gateway runs in this process and the kafkajs producer is
// replaced by an object whose `send` is captured (no broker can be installed
// here). test/loggers/kafka-integration.test.ts runs against a real broker
// when KAFKA_BROKERS is set.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ProducerRecord } from 'kafkajs';
import { setKafkaProducerFactory, type KafkaLoggerConf } from '../../src/plugins/kafka-logger/index.js';
import { startMockLlm } from '../helpers/mock-llm.js';
import { startInProcess } from './inproc.js';
import { ADMIN_KEY } from '../helpers/gateway.js';
import { startUpstream, until } from './collector.js';
import { pointAtMock, readFixture, runInProcess, writeYaml } from '../declarative/util.js';

interface Captured {
  conf: KafkaLoggerConf;
  sends: ProducerRecord[];
  connects: number;
  disconnects: number;
  failNext: number;
}

function captureProducers(): { producers: Captured[]; restore(): void } {
  const producers: Captured[] = [];
  const prev = setKafkaProducerFactory((conf) => {
    const c: Captured = { conf, sends: [], connects: 0, disconnects: 0, failNext: 0 };
    producers.push(c);
    return {
      async connect() { c.connects++; },
      async send(record) {
        if (c.failNext > 0) { c.failNext--; throw new Error('The coordinator is not available'); }
        c.sends.push(structuredClone(record));
        return [];
      },
      async disconnect() { c.disconnects++; },
    };
  });
  return { producers, restore: () => void setKafkaProducerFactory(prev) };
}

const MESSAGES = [
  { role: 'system', content: 'You are a mathematician' },
  { role: 'user', content: 'What is 1+1?' },
];

test('R-SCN-8 R-LOG-6 R-LOG-20 R-LOG-21: seed "Send Request Log to Logger" — one message per request with key key1 on test2', async (t) => {
  const cap = captureProducers();
  const mock = await startMockLlm();
  const g = await startInProcess();
  t.after(async () => { await g.stop(); await mock.close(); cap.restore(); });
  // the seed's ADC form, as Admin API JSON (the Admin API tab has invalid JSON, D13)
  const put = await g.admin('PUT', '/apisix/admin/routes/ai-proxy-multi-route', {
    uri: '/anything',
    methods: ['POST'],
    plugins: {
      'ai-proxy-multi': {
        instances: [
          { name: 'openai-instance', provider: 'openai', weight: 8, auth: { header: { Authorization: 'Bearer sk-openai' } }, options: { model: 'gpt-4' }, override: { endpoint: mock.url } },
          { name: 'deepseek-instance', provider: 'deepseek', weight: 2, auth: { header: { Authorization: 'Bearer sk-deepseek' } }, options: { model: 'deepseek-chat' }, override: { endpoint: mock.url } },
        ],
        logging: { summaries: true, payloads: true },
      },
      'kafka-logger': { brokers: [{ host: '127.0.0.1', port: 9092 }], kafka_topic: 'test2', key: 'key1', batch_max_size: 1 },
    },
  });
  assert.equal(put.status, 201, put.text);

  for (let i = 0; i < 2; i++) {
    const res = await fetch(`${g.proxyUrl}/anything`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ messages: MESSAGES }),
    });
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(body.choices[0].message.content, '1+1 equals 2.');
  }
  await until(() => cap.producers.reduce((n, p) => n + p.sends.length, 0) === 2, 5000, 'two messages');
  assert.equal(cap.producers.length, 1, 'one producer per plugin configuration');
  const p = cap.producers[0]!;
  assert.deepEqual(p.conf.brokers, [{ host: '127.0.0.1', port: 9092 }]);
  for (const rec of p.sends) {
    assert.equal(rec.topic, 'test2');
    assert.equal(rec.acks, 1);
    assert.equal(rec.messages.length, 1);
    assert.equal(rec.messages[0]!.key, 'key1');
    const entry = JSON.parse(String(rec.messages[0]!.value));
    assert.ok(!Array.isArray(entry), 'a JSON object when batch_max_size is 1');
    // the default entry members (R-LOG-1)
    assert.equal(entry.route_id, 'ai-proxy-multi-route');
    assert.equal(entry.request.method, 'POST');
    assert.equal(entry.request.uri, '/anything');
    assert.equal(entry.response.status, 200);
    assert.equal(typeof entry.latency, 'number');
    assert.equal(entry.client_ip, '127.0.0.1');
    // LLM members
    const s = entry.llm_summary;
    assert.equal(s.request_model, '');
    assert.ok(['gpt-4', 'deepseek-chat'].includes(s.model), s.model);
    assert.equal(s.prompt_tokens, 23);
    assert.equal(s.completion_tokens, 8);
    assert.ok(Number.isInteger(s.duration) && s.duration >= 0);
    assert.ok(Number.isInteger(s.upstream_response_time) && s.upstream_response_time >= s.duration);
    assert.deepEqual(entry.llm_request, { messages: MESSAGES, stream: false });
    assert.deepEqual(entry.llm_response_text, { content: '1+1 equals 2.' });
    const text = String(rec.messages[0]!.value);
    assert.ok(!text.includes('sk-openai') && !text.includes('sk-deepseek'), 'provider keys are never logged');
  }
});

test('R-SCN-8 R-DECL-13: the seed ADC file (switchyard sync) — same messages as the Admin API form', async (t) => {
  const cap = captureProducers();
  const mock = await startMockLlm();
  const g = await startInProcess();
  t.after(async () => { await g.stop(); await mock.close(); cap.restore(); });
  const file = writeYaml(g.dir, 'adc.yaml', pointAtMock(readFixture('seed-8-kafka-logger.yaml'), mock.url));
  const r = await runInProcess(['sync', '-f', file, '--server', g.adminUrl, '--token', ADMIN_KEY], { OPENAI_API_KEY: 'sk-o', DEEPSEEK_API_KEY: 'sk-d' });
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const res = await fetch(`${g.proxyUrl}/anything`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ messages: MESSAGES }) });
  assert.equal(res.status, 200);
  await res.text();
  await until(() => cap.producers.some((p) => p.sends.length === 1), 5000, 'one message');
  const rec = cap.producers.find((p) => p.sends.length)!.sends[0]!;
  assert.equal(rec.topic, 'test2');
  assert.equal(rec.messages[0]!.key, 'key1');
  const entry = JSON.parse(String(rec.messages[0]!.value));
  assert.equal(entry.llm_summary.prompt_tokens, 23);
  assert.equal(entry.llm_summary.completion_tokens, 8);
  assert.equal(entry.llm_summary.request_model, '');
  assert.deepEqual(entry.llm_request, { messages: MESSAGES, stream: false });
  assert.deepEqual(entry.llm_response_text, { content: '1+1 equals 2.' });
  assert.equal(entry.request.uri, '/anything');
});

test('R-LOG-4 R-LOG-6: batching — batch_max_size entries per message as a JSON array, required_acks, inactive_timeout, retries', async (t) => {
  const cap = captureProducers();
  const upstream = await startUpstream();
  const g = await startInProcess();
  t.after(async () => { await g.stop(); await upstream.close(); cap.restore(); });
  const nodes = { [`127.0.0.1:${upstream.port}`]: 1 };
  assert.equal((await g.admin('PUT', '/apisix/admin/routes/b3', {
    uri: '/b3', upstream: { nodes, type: 'roundrobin' },
    plugins: { 'kafka-logger': { broker_list: { '127.0.0.1': 9092 }, kafka_topic: 'logs', batch_max_size: 3, required_acks: -1, inactive_timeout: 1, max_retry_count: 1, retry_delay: 0 } },
  })).status, 201);

  const t0 = Date.now();
  for (let i = 0; i < 4; i++) await (await fetch(`${g.proxyUrl}/b3?i=${i}`)).text();
  await until(() => cap.producers[0]?.sends.length === 1, 3000, 'the full batch');
  const p = cap.producers[0]!;
  assert.equal(p.sends[0]!.acks, -1);
  assert.equal(p.sends[0]!.messages[0]!.key, null);
  const batch = JSON.parse(String(p.sends[0]!.messages[0]!.value));
  assert.ok(Array.isArray(batch));
  assert.deepEqual(batch.map((e: any) => e.request.uri), ['/b3?i=0', '/b3?i=1', '/b3?i=2']);
  // the fourth entry goes out after inactive_timeout (1 s); the first send fails and is retried
  p.failNext = 1;
  await until(() => p.sends.length === 2, 4000, 'the inactive batch');
  assert.ok(Date.now() - t0 >= 900);
  assert.deepEqual(JSON.parse(String(p.sends[1]!.messages[0]!.value)).map((e: any) => e.request.uri), ['/b3?i=3']);
  assert.equal(p.connects, 1);
});

test('R-LOG-6: meta_format origin sends the raw request (line, headers, body) without credentials', async (t) => {
  const cap = captureProducers();
  const upstream = await startUpstream();
  const g = await startInProcess();
  t.after(async () => { await g.stop(); await upstream.close(); cap.restore(); });
  assert.equal((await g.admin('PUT', '/apisix/admin/routes/o', {
    uri: '/origin', methods: ['POST'], upstream: { nodes: { [`127.0.0.1:${upstream.port}`]: 1 }, type: 'roundrobin' },
    plugins: { 'kafka-logger': { brokers: [{ host: 'k1', port: 9092 }], kafka_topic: 't', batch_max_size: 1, meta_format: 'origin', include_req_body: true } },
  })).status, 201);
  await (await fetch(`${g.proxyUrl}/origin?q=1`, { method: 'POST', body: '{"a":1}', headers: { 'x-test': 'yes', authorization: 'Bearer secret' } })).text();
  await until(() => cap.producers[0]?.sends.length === 1, 3000, 'one message');
  const v = String(cap.producers[0]!.sends[0]!.messages[0]!.value);
  assert.match(v, /^POST \/origin\?q=1 HTTP\/1\.1\r\n/);
  assert.match(v, /\r\nx-test: yes\r\n/i);
  assert.ok(v.endsWith('\r\n\r\n{"a":1}'), JSON.stringify(v));
  assert.ok(!/secret/.test(v));
});

test('R-LOG-6: schema — exactly one of brokers / broker_list with kafka_topic', async (t) => {
  const g = await startInProcess();
  t.after(() => g.stop());
  const up = { nodes: { '127.0.0.1:1': 1 }, type: 'roundrobin' };
  const noTopic = await g.admin('PUT', '/apisix/admin/routes/s', { uri: '/s', upstream: up, plugins: { 'kafka-logger': { brokers: [{ host: 'a', port: 1 }] } } });
  assert.equal(noTopic.status, 400);
  assert.match(noTopic.body.error_msg, /kafka-logger/);
  const both = await g.admin('PUT', '/apisix/admin/routes/s', { uri: '/s', upstream: up, plugins: { 'kafka-logger': { brokers: [{ host: 'a', port: 1 }], broker_list: { a: 1 }, kafka_topic: 't' } } });
  assert.equal(both.status, 400);
  assert.match(both.body.error_msg, /only one schema/);
  const badAcks = await g.admin('PUT', '/apisix/admin/routes/s', { uri: '/s', upstream: up, plugins: { 'kafka-logger': { brokers: [{ host: 'a', port: 1 }], kafka_topic: 't', required_acks: 0 } } });
  assert.equal(badAcks.status, 400);
  assert.match(badAcks.body.error_msg, /required_acks/);
  const dup = await g.admin('PUT', '/apisix/admin/routes/s', { uri: '/s', upstream: up, plugins: { 'kafka-logger': { brokers: [{ host: 'a', port: 1 }, { host: 'a', port: 1 }], kafka_topic: 't' } } });
  assert.equal(dup.status, 400);
  const ok = await g.admin('PUT', '/apisix/admin/routes/s', { uri: '/s', upstream: up, plugins: { 'kafka-logger': { brokers: [{ host: 'a', port: 1, sasl_config: { user: 'u', password: 'p' } }], kafka_topic: 't' } } });
  assert.equal(ok.status, 201, ok.text);
});

test('R-LOG-4 R-LOG-6: with the real kafkajs producer and an unreachable broker, requests are not delayed and the failure is logged', async (t) => {
  const net = await import('node:net');
  // a port with nothing listening
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const deadPort = (probe.address() as import('node:net').AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  const upstream = await startUpstream();
  const { startGateway } = await import('../helpers/gateway.js');
  const gw = await startGateway();
  t.after(async () => { await gw.kill(); await upstream.close(); });
  assert.equal((await gw.admin('PUT', '/apisix/admin/routes/dead', {
    uri: '/dead', upstream: { nodes: { [`127.0.0.1:${upstream.port}`]: 1 }, type: 'roundrobin' },
    plugins: { 'kafka-logger': { brokers: [{ host: '127.0.0.1', port: deadPort }], kafka_topic: 't', batch_max_size: 1, timeout: 1 } },
  })).status, 201);
  const t0 = performance.now();
  for (let i = 0; i < 5; i++) {
    const r = await fetch(`${gw.proxyUrl}/dead`);
    assert.equal(r.status, 200);
    await r.text();
  }
  assert.ok(performance.now() - t0 < 2000);
  await until(() => /Batch Processor\[kafka logger\] failed to process entries/.test(gw.stderr()), 8000, 'the error log line');
  assert.match(gw.stderr(), /exceeded the max_retry_count\[0\] dropping the entries/);
});
