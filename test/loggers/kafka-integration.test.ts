// kafka-logger against a real Kafka broker (R-LOG-6, R-SCN-8). Runs only when
// KAFKA_BROKERS is set, e.g. KAFKA_BROKERS=127.0.0.1:9092 node --test dist/test/loggers/kafka-integration.test.js
import { test } from 'node:test';
import assert from 'node:assert/strict';
import kafkajs from 'kafkajs';
import { startGateway } from '../helpers/gateway.js';
import { startMockLlm } from '../helpers/mock-llm.js';

const BROKERS = (process.env.KAFKA_BROKERS ?? '').split(',').map((s) => s.trim()).filter(Boolean);
const skip = BROKERS.length ? false : 'KAFKA_BROKERS is not set: no Kafka broker to test against (set it to host:port[,host:port])';

test('R-SCN-8 R-LOG-6: a real broker receives one message per request with key key1 and the LLM members', { skip, timeout: 60_000 }, async (t) => {
  const topic = `switchyard-test-${Date.now()}`;
  const kafka = new kafkajs.Kafka({ clientId: 'switchyard-test', brokers: BROKERS, logLevel: kafkajs.logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
  const consumer = kafka.consumer({ groupId: `${topic}-g` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const got: Array<{ key: string | undefined; value: string }> = [];
  await consumer.run({ eachMessage: async ({ message }) => { got.push({ key: message.key?.toString(), value: message.value!.toString() }); } });

  const mock = await startMockLlm();
  const gw = await startGateway();
  t.after(async () => {
    await gw.kill();
    await mock.close();
    await consumer.disconnect();
    await admin.deleteTopics({ topics: [topic] }).catch(() => {});
    await admin.disconnect();
  });
  const [host, port] = BROKERS[0]!.split(':');
  const put = await gw.admin('PUT', '/apisix/admin/routes/ai-proxy-multi-route', {
    uri: '/anything',
    methods: ['POST'],
    plugins: {
      'ai-proxy-multi': {
        instances: [
          { name: 'openai-instance', provider: 'openai', weight: 8, auth: { header: { Authorization: 'Bearer k' } }, options: { model: 'gpt-4' }, override: { endpoint: mock.url } },
          { name: 'deepseek-instance', provider: 'deepseek', weight: 2, auth: { header: { Authorization: 'Bearer k' } }, options: { model: 'deepseek-chat' }, override: { endpoint: mock.url } },
        ],
        logging: { summaries: true, payloads: true },
      },
      'kafka-logger': { brokers: [{ host, port: Number(port) }], kafka_topic: topic, key: 'key1', batch_max_size: 1 },
    },
  });
  assert.equal(put.status, 201, put.text);
  const res = await fetch(`${gw.proxyUrl}/anything`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ messages: [{ role: 'system', content: 'You are a mathematician' }, { role: 'user', content: 'What is 1+1?' }] }),
  });
  assert.equal(res.status, 200);
  await res.text();
  const end = Date.now() + 30_000;
  while (!got.length && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
  assert.equal(got.length, 1, gw.stderr());
  assert.equal(got[0]!.key, 'key1');
  const entry = JSON.parse(got[0]!.value);
  assert.equal(entry.llm_summary.prompt_tokens, 23);
  assert.equal(entry.llm_summary.completion_tokens, 8);
  assert.equal(entry.llm_response_text.content, '1+1 equals 2.');
  assert.equal(entry.llm_request.stream, false);
});
