// R-BAL-30 through the real CLI: with chash, an instance taken out (here by a
// Retry-After cool-down, R-PHC-2) moves only its own keys, to the next
// instances on the ring, with `cooling_down` in their attempt trail; every
// other key keeps its instance.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway } from '../helpers/gateway.js';
import { startMockLlm, chatCompletion, type MockLlm } from '../helpers/mock-llm.js';

const CHAT = { messages: [{ role: 'user', content: 'What is 1+1?' }] };

test('R-BAL-30 R-PHC-2 chash: a cooling instance moves only its keys; they come back after the cool-down', { timeout: 60_000 }, async (t) => {
  const mocks: MockLlm[] = [];
  let cool = false;
  for (let i = 0; i < 3; i++) {
    const m = await startMockLlm();
    const me = i;
    m.reply(() => (cool && me === 1 ? { status: 429, headers: { 'retry-after': '3' }, json: { error: 'slow down' } } : { json: chatCompletion(`m${me}`) }));
    mocks.push(m);
  }
  const gw = await startGateway();
  t.after(async () => { await gw.stop(); await Promise.all(mocks.map((m) => m.close())); });
  const r = await gw.admin('PUT', '/apisix/admin/routes/ch', {
    uri: '/ch', methods: ['POST'],
    plugins: {
      'ai-proxy-multi': {
        balancer: { algorithm: 'chash', hash_on: 'header', key: 'x-user' },
        fallback_strategy: ['http_429'],
        instances: mocks.map((m, i) => ({ name: `i${i}`, provider: 'openai', weight: 1, auth: { header: { Authorization: 'Bearer k' } }, override: { endpoint: m.url } })),
      },
    },
  });
  assert.ok(r.status < 300, r.text);
  const users = Array.from({ length: 60 }, (_, i) => `user-${i}`);
  /** the model of the answer tells which instance served the key */
  const who = async (u: string): Promise<string> => {
    const res = await fetch(gw.proxyUrl + '/ch', { method: 'POST', headers: { 'content-type': 'application/json', 'x-user': u }, body: JSON.stringify(CHAT) });
    assert.equal(res.status, 200);
    return ((await res.json()) as any).model;
  };
  const base: string[] = [];
  for (const u of users) base.push(await who(u));
  assert.equal(new Set(base).size, 3, 'every instance owns keys');
  const own1 = users.filter((_, i) => base[i] === 'm1');

  // one answer 429 + Retry-After puts i1 into a cool-down
  cool = true;
  assert.notEqual(await who(own1[0]!), 'm1');
  cool = false;
  const during: string[] = [];
  for (const u of users) during.push(await who(u));
  users.forEach((u, i) => {
    if (base[i] === 'm1') assert.notEqual(during[i], 'm1', `${u} still on i1`);
    else assert.equal(during[i], base[i], `${u} moved from ${base[i]} to ${during[i]}`);
  });
  assert.equal(mocks[1]!.requests.length, own1.length + 1, 'nothing sent to the cooling instance');

  // back after the cool-down: the same mapping as before
  const t0 = Date.now();
  for (;;) {
    if ((await who(own1[0]!)) === 'm1') break;
    assert.ok(Date.now() - t0 < 15_000, 'cool-down over');
    await new Promise((res) => setTimeout(res, 200));
  }
  const after: string[] = [];
  for (const u of users) after.push(await who(u));
  assert.deepEqual(after, base);
});
