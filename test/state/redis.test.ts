import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRedisState, RedisPool, type RedisSettings } from '../../src/state/redis.js';
import { startRedis, redisBinary, REDIS_SKIP, freePort, type RedisServer } from '../helpers/redis.js';
import { memLog } from '../helpers/wait.js';

const skip = redisBinary() ? false : REDIS_SKIP;

describe('redis SharedState (R-RL-30)', { skip }, () => {
  let redis: RedisServer;
  before(async () => { redis = await startRedis(); });
  after(async () => { await redis?.stop(); });

  const settings = (extra: Partial<RedisSettings> = {}): RedisSettings =>
    ({ policy: 'redis', host: '127.0.0.1', port: redis.port, timeoutMs: 500, ...extra });

  test('R-RL-11 R-RL-30 charge starts a fixed window (INCRBY + expire once), peek reads PTTL without changing it', async () => {
    const s = createRedisState(settings(), { log: memLog(), keyPrefix: `t1:${Date.now()}:` });
    try {
      assert.deepEqual(await s.peek('k'), { used: 0 });
      assert.deepEqual(await s.charge('k', 10, 60), { used: 10, resetIn: 60 });
      const c2 = await s.charge('k', 5, 30);
      assert.equal(c2.used, 15);
      assert.ok(c2.resetIn! > 30 && c2.resetIn! <= 60, 'a later charge does not restart or shorten the window');
      assert.equal((await s.peek('k')).used, 15);
      assert.equal((await s.peek('k')).used, 15);
    } finally {
      await s.close();
    }
  });

  test('R-RL-11 R-RL-30 window edge: counts reset after a 1 s window, a new charge opens a new window', async () => {
    const s = createRedisState(settings(), { log: memLog(), keyPrefix: `t2:${Date.now()}:` });
    try {
      await s.charge('w', 7, 1);
      assert.equal((await s.peek('w')).used, 7);
      assert.equal((await s.peek('w')).resetIn, 1);
      await new Promise((r) => setTimeout(r, 1150));
      assert.deepEqual(await s.peek('w'), { used: 0 });
      assert.deepEqual(await s.charge('w', 2, 1), { used: 2, resetIn: 1 });
    } finally {
      await s.close();
    }
  });

  test('R-RL-30 charges are atomic: concurrent charges from two clients sum up', async () => {
    const prefix = `t3:${Date.now()}:`;
    const a = createRedisState(settings(), { log: memLog(), keyPrefix: prefix });
    const b = createRedisState(settings(), { log: memLog(), keyPrefix: prefix });
    try {
      await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).charge('c', 3, 60)));
      assert.equal((await a.peek('c')).used, 120);
      assert.equal((await b.peek('c')).used, 120);
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('R-RL-30 redis_database selects the database', async () => {
    const prefix = `t4:${Date.now()}:`;
    const d0 = createRedisState(settings(), { log: memLog(), keyPrefix: prefix });
    const d1 = createRedisState(settings({ database: 1 }), { log: memLog(), keyPrefix: prefix });
    try {
      await d0.charge('x', 5, 60);
      assert.equal((await d1.peek('x')).used, 0);
      await d1.charge('x', 1, 60);
      assert.equal((await d0.peek('x')).used, 5);
      assert.equal((await d1.peek('x')).used, 1);
    } finally {
      await d0.close();
      await d1.close();
    }
  });

  test('redis values: set/get with TTL', async () => {
    const s = createRedisState(settings(), { log: memLog(), keyPrefix: `t5:${Date.now()}:` });
    try {
      await s.setValue('a', 'healthy');
      await s.setValue('b', 'x', 1);
      assert.equal(await s.getValue('a'), 'healthy');
      assert.equal(await s.getValue('b'), 'x');
      assert.equal(await s.getValue('none'), undefined);
      await new Promise((r) => setTimeout(r, 1100));
      assert.equal(await s.getValue('b'), undefined);
    } finally {
      await s.close();
    }
  });

  test('R-RL-30 connection pooling: one shared client per distinct settings, closed with the pool', async () => {
    const pool = new RedisPool();
    const other = new RedisPool();
    const log = memLog();
    const a = pool.acquire(settings(), { log });
    const b = pool.acquire(settings(), { log });
    const c = pool.acquire(settings({ database: 2 }), { log });
    const d = other.acquire(settings(), { log });
    try {
      assert.equal(a.state, b.state);
      assert.notEqual(a.state, c.state);
      assert.notEqual(a.state, d.state, 'issue 11: each gateway owns its pool; two pools share no client');
      assert.equal(pool.size, 2);
      await a.state.charge('pool', 1, 5);
      assert.equal((await d.state.peek('pool')).used, 1, 'the same server seen through the other pool');
    } finally {
      a.release(); b.release(); c.release(); d.release();
      await pool.close();
      await other.close();
    }
    assert.equal(pool.size, 0);
  });

  test('R-RL-30 nothing listening: calls fail within redis_timeout, never hang, one log line per burst', async () => {
    const port = await freePort();
    const log = memLog();
    const s = createRedisState({ policy: 'redis', host: '127.0.0.1', port, timeoutMs: 300 }, { log, label: 'ai-rate-limiting' });
    try {
      for (let i = 0; i < 5; i++) {
        const t0 = Date.now();
        await assert.rejects(s.charge('k', 1, 10));
        assert.ok(Date.now() - t0 < 1000, 'bounded by the timeout');
      }
      await assert.rejects(s.peek('k'));
      const errors = log.lines.filter((l) => l.startsWith('[error]'));
      assert.equal(errors.length, 1, errors.join('\n'));
      assert.match(errors[0]!, /ai-rate-limiting: redis 127\.0\.0\.1:\d+ unavailable: /);
      assert.equal(s.failing, true);
    } finally {
      await s.close();
    }
  });

  test('R-RL-30 redis killed at request time: fails fast, logs once, recovers when redis is back', async () => {
    const own = await startRedis();
    const log = memLog();
    const s = createRedisState({ policy: 'redis', host: '127.0.0.1', port: own.port, timeoutMs: 400 }, { log, label: 'ai-rate-limiting' });
    try {
      await s.charge('k', 3, 60);
      await own.kill();
      for (let i = 0; i < 5; i++) {
        const t0 = Date.now();
        await assert.rejects(s.charge('k', 1, 60));
        assert.ok(Date.now() - t0 < 1000, `bounded (${Date.now() - t0} ms)`);
      }
      assert.equal(log.lines.filter((l) => l.startsWith('[error]')).length, 1, log.lines.join('\n'));
      await own.restart();
      const deadline = Date.now() + 5000;
      let ok = false;
      while (Date.now() < deadline) {
        try {
          await s.charge('k', 1, 60);
          ok = true;
          break;
        } catch {
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      assert.ok(ok, 'recovered');
      assert.ok(log.lines.some((l) => /available again/.test(l)), log.lines.join('\n'));
      assert.equal(s.failing, false);
    } finally {
      await s.close();
      await own.stop();
    }
  });
});

describe('redis SharedState: a server that stops answering (R-RL-30)', { skip }, () => {
  test('R-RL-30 redis_timeout bounds every call when Redis hangs (SIGSTOP); recovery after SIGCONT', async () => {
    const own = await startRedis();
    const log = memLog();
    const s = createRedisState({ policy: 'redis', host: '127.0.0.1', port: own.port, timeoutMs: 300 }, { log, label: 'ai-rate-limiting' });
    try {
      await s.charge('k', 1, 60);
      own.proc.kill('SIGSTOP');
      for (let i = 0; i < 3; i++) {
        const t0 = Date.now();
        await assert.rejects(s.peek('k'), /timed out/);
        const ms = Date.now() - t0;
        assert.ok(ms >= 250 && ms < 1000, `bounded by redis_timeout (${ms} ms)`);
      }
      assert.equal(log.lines.filter((l) => l.startsWith('[error]')).length, 1, log.lines.join('\n'));
      own.proc.kill('SIGCONT');
      const deadline = Date.now() + 3000;
      let used = -1;
      while (Date.now() < deadline) {
        try { used = (await s.peek('k')).used; break; } catch { await new Promise((r) => setTimeout(r, 50)); }
      }
      assert.equal(used, 1);
      assert.ok(log.lines.some((l) => /available again/.test(l)));
    } finally {
      own.proc.kill('SIGCONT');
      await s.close();
      await own.stop();
    }
  });
});

describe('redis-cluster SharedState (R-RL-30)', { skip }, () => {
  let node: RedisServer;
  before(async () => { node = await startRedis({ cluster: true }); });
  after(async () => { await node?.stop(); });

  test('R-RL-30 R-RL-11 redis-cluster: charge/peek through ioredis Cluster', async () => {
    const s = createRedisState(
      { policy: 'redis-cluster', clusterNodes: [node.node], clusterName: 'test', timeoutMs: 1000 },
      { log: memLog(), keyPrefix: `c1:${Date.now()}:` },
    );
    try {
      assert.deepEqual(await s.peek('k'), { used: 0 });
      assert.deepEqual(await s.charge('k', 4, 30), { used: 4, resetIn: 30 });
      assert.equal((await s.charge('k2', 1, 30)).used, 1);
      assert.equal((await s.peek('k')).used, 4);
      await s.setValue('v', 'x', 5);
      assert.equal(await s.getValue('v'), 'x');
    } finally {
      await s.close();
    }
  });

  test('R-RL-30 redis-cluster node killed: calls fail within the timeout, one log line', async () => {
    const own = await startRedis({ cluster: true });
    const log = memLog();
    const s = createRedisState(
      { policy: 'redis-cluster', clusterNodes: [own.node], clusterName: 'kill', timeoutMs: 400 },
      { log, label: 'ai-rate-limiting' },
    );
    try {
      await s.charge('k', 1, 60);
      await own.kill();
      for (let i = 0; i < 4; i++) {
        const t0 = Date.now();
        await assert.rejects(s.charge('k', 1, 60));
        assert.ok(Date.now() - t0 < 1000, `bounded (${Date.now() - t0} ms)`);
      }
      const errors = log.lines.filter((l) => l.startsWith('[error]'));
      assert.equal(errors.length, 1, errors.join('\n'));
      assert.match(errors[0]!, /ai-rate-limiting: redis cluster kill/);
    } finally {
      await s.close();
      await own.stop();
    }
  });
});
