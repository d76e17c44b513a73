// Issue 16 item 3 (R-GEN-16, CONTRACT): etcd paused (SIGSTOP) under two
// gateway nodes with config_provider: etcd. The connection stays open but
// nothing answers: proxy traffic is served from the compiled configuration
// without a failure, Admin reads are served from the snapshot, writes answer
// 503 with an error_msg within 5 s; after SIGCONT writes work and reach the
// other node. (etcd killed and restarted: test/cluster/cluster.test.ts and
// the kill campaign, test/reliability/kill-campaign.test.ts.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startGateway, type GatewayProcess } from '../helpers/gateway.js';
import { chatCompletion, startMockLlm } from '../helpers/mock-llm.js';
import { etcdBinary, startEtcd } from '../helpers/etcd.js';
import { until } from '../helpers/wait.js';
import { readdirSync, readFileSync } from 'node:fs';

/** every thread of `pid` is stopped (a thread inside a syscall, e.g. an fsync, stops only when it returns) */
function stopped(pid: number): boolean {
  return readdirSync(`/proc/${pid}/task`).every((tid) => {
    try {
      return /^\d+ \(.*\) [Tt] /.test(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8'));
    } catch {
      return true; // the thread is gone
    }
  });
}

const skip = etcdBinary() ? false : 'etcd binary not found (install etcd-server or set ETCD_BIN)';

test('CONTRACT R-GEN-16 etcd paused: the proxy serves without a failure, reads answer, writes 503 within 5 s; resumed: writes work and propagate', { skip }, async (t) => {
  const mock = await startMockLlm();
  t.after(() => mock.close());
  mock.reply((r) => ({ json: chatCompletion(r.body?.model ?? 'gpt-4', 'ok') }));
  const etcd = await startEtcd();
  // registered before the gateways start: a start that fails must not leave etcd running
  t.after(() => etcd.close());
  const config = {
    // nodes sharing an etcd prefix share the keyring of encrypted fields
    apisix: { data_encryption: { keyring: ['edd1c9f0985e76a2'] } },
    deployment: { role_traditional: { config_provider: 'etcd' }, etcd: { host: [etcd.url], prefix: `/paused-${randomBytes(4).toString('hex')}`, timeout: 30 } },
    nginx_config: { http: { enable_access_log: false } },
  };
  const started = await Promise.allSettled([startGateway({ config, timeoutMs: 60_000 }), startGateway({ config, timeoutMs: 60_000 })]);
  let paused = false;
  t.after(async () => {
    if (paused) etcd.signal('SIGCONT');
    await Promise.allSettled(started.map((s) => (s.status === 'fulfilled' ? s.value.stop() : undefined)));
  });
  for (const s of started) if (s.status === 'rejected') throw s.reason;
  const [a, b] = started.map((s) => (s as PromiseFulfilledResult<GatewayProcess>).value) as [GatewayProcess, GatewayProcess];
  const route = (uri: string) => ({
    uri,
    plugins: { 'ai-proxy': { provider: 'openai', auth: { header: { Authorization: 'Bearer sk' } }, options: { model: 'gpt-4' }, override: { endpoint: mock.url } } },
  });
  const chat = async (gw: GatewayProcess, uri: string) => {
    const res = await fetch(gw.proxyUrl + uri, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"messages":[{"role":"user","content":"hi"}]}', signal: AbortSignal.timeout(5000) });
    await res.arrayBuffer();
    return res.status;
  };
  assert.equal((await a.admin('PUT', '/apisix/admin/routes/live', route('/live'))).status, 201);
  await until(async () => (await chat(b, '/live')) === 200, 5000, 'route live on node b');

  let stop = false;
  let served = 0;
  const failures: string[] = [];
  const load = (async () => {
    for (let i = 0; !stop; i++) {
      try {
        const s = await chat(i % 2 ? b : a, '/live');
        if (s === 200) served++;
        else failures.push(`status ${s}`);
      } catch (err) {
        failures.push((err as Error).message);
      }
    }
  })();
  try {
    const before = served;
    etcd.signal('SIGSTOP');
    paused = true;
    await until(() => stopped(etcd.pid()!), 5000, 'etcd stopped');
    const t0 = Date.now();
    const w = await a.admin('PUT', '/apisix/admin/routes/during', route('/during'));
    const ms = Date.now() - t0;
    assert.equal(w.status, 503, w.text);
    assert.equal(typeof w.body.error_msg, 'string');
    assert.ok(ms < 5000, `the write answered within 5 s (${ms} ms)`);
    const r = await b.admin('GET', '/apisix/admin/routes/live');
    assert.equal(r.status, 200, 'reads are served from the snapshot');
    assert.ok(served > before, 'proxy requests were served while etcd was paused');
    etcd.signal('SIGCONT');
    paused = false;
    await until(async () => (await a.admin('PUT', '/apisix/admin/routes/after', route('/after'))).status === 201, 10_000, 'a write after SIGCONT', 100);
    await until(async () => (await chat(b, '/after')) === 200, 5000, 'the write reached node b');
  } finally {
    stop = true;
    await load;
  }
  assert.deepEqual(failures, []);
});
