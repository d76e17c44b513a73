// A gateway with what the dashboard shows (R-UI-1): two consumers, an
// ai-proxy-multi route over two mock instances with fallback and route-level
// quotas, a consumer-level quota, and an ai-proxy route recorded by the
// prometheus plugin. Shared by the API and the browser tests.
import assert from 'node:assert/strict';
import { startGateway, ADMIN_KEY, type GatewayProcess } from '../helpers/gateway.js';
import { startMockLlm, type MockLlm } from '../helpers/mock-llm.js';

export const VIEWER_KEY = 'test-viewer-key-0123456789abcdef';
export const ALICE = 'alice-key-0123456789';
export const BOB = 'bob-key-0123456789';

export interface Fixture {
  gw: GatewayProcess;
  mockA: MockLlm;
  mockB: MockLlm;
  /** POST a chat completion to the gateway; resolves to the status */
  chat(path: string, key: string, stream?: boolean): Promise<number>;
  close(): Promise<void>;
}

const CHAT = { messages: [{ role: 'user', content: 'What is 1+1?' }] };

const instance = (name: string, mock: MockLlm, priority: number) => ({
  name,
  provider: 'openai',
  weight: 1,
  priority,
  auth: { header: { Authorization: `Bearer sk-${name}` } },
  options: { model: `model-${name}` },
  override: { endpoint: mock.url },
});

export async function startFixture(): Promise<Fixture> {
  const mockA = await startMockLlm();
  const mockB = await startMockLlm();
  const gw = await startGateway({
    config: {
      deployment: {
        admin: {
          admin_key: [
            { name: 'admin', key: ADMIN_KEY, role: 'admin' },
            { name: 'viewer', key: VIEWER_KEY, role: 'viewer' },
          ],
        },
      },
    },
  });
  const put = async (p: string, body: unknown) => {
    const r = await gw.admin('PUT', p, body);
    assert.ok(r.status === 200 || r.status === 201, `PUT ${p}: ${r.status} ${r.text}`);
  };
  await put('/apisix/admin/consumers', { username: 'alice', plugins: { 'key-auth': { key: ALICE } } });
  await put('/apisix/admin/consumers', {
    username: 'bob',
    plugins: { 'key-auth': { key: BOB }, 'ai-rate-limiting': { limit: 500, time_window: 60 } },
  });
  await put('/apisix/admin/routes/chat', {
    name: 'chat',
    uri: '/v1/chat/completions',
    methods: ['POST'],
    plugins: {
      'key-auth': {},
      'ai-proxy-multi': {
        fallback_strategy: ['http_5xx'],
        instances: [
          instance('inst-a', mockA, 10),
          // inst-b is actively checked (its probes go to mockB's /health)
          { ...instance('inst-b', mockB, 0), checks: { active: { type: 'http', timeout: 5, http_path: '/health', healthy: { interval: 1, successes: 1 }, unhealthy: { interval: 1, http_failures: 1 } } } },
        ],
      },
      'ai-rate-limiting': { instances: [{ name: 'inst-a', limit: 1000, time_window: 60 }, { name: 'inst-b', limit: 2000, time_window: 60 }] },
    },
  });
  await put('/apisix/admin/routes/metered', {
    uri: '/metered',
    methods: ['POST'],
    plugins: {
      prometheus: {},
      'ai-proxy': {
        provider: 'openai',
        auth: { header: { Authorization: 'Bearer sk-metered' } },
        options: { model: 'gpt-metered' },
        override: { endpoint: mockB.url },
      },
    },
  });
  return {
    gw,
    mockA,
    mockB,
    async chat(path, key, stream = false) {
      const res = await fetch(gw.proxyUrl + path, {
        method: 'POST',
        headers: { 'content-type': 'application/json', apikey: key },
        body: JSON.stringify(stream ? { ...CHAT, stream: true } : CHAT),
        signal: AbortSignal.timeout(10_000),
      });
      await res.arrayBuffer();
      return res.status;
    },
    async close() {
      await gw.stop();
      await mockA.close();
      await mockB.close();
    },
  };
}
