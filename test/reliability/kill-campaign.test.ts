// Issue 16 item 2 (R-GEN-15, R-GEN-16): the bounded kill campaign of npm test,
// 50 rounds over the three targets with a random seed it prints. Longer runs:
// npm run kill-campaign -- --rounds 1000 (figures in docs/reliability.md).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { runCampaign, summary, type Target } from '../../scripts/kill-campaign.js';
import { etcdBinary } from '../helpers/etcd.js';

const seed = Number(process.env.KILL_SEED ?? ((Math.random() * 0x7fffffff) | 0));
const rounds: Record<Target, number> = { local: 20, 'etcd-gateway': 15, etcd: 15 };

// the three run side by side: each waits mostly on process starts
describe('kill campaign', { concurrency: true }, () => {
for (const target of Object.keys(rounds) as Target[]) {
  const skip = target !== 'local' && !etcdBinary() ? 'etcd binary not found (install etcd-server or set ETCD_BIN)' : false;
  test(`R-GEN-15 R-GEN-16 kill campaign (${target}): every acknowledged write survives SIGKILL, nothing unwritten appears`, { skip }, async (t) => {
    const r = await runCampaign({ target, rounds: rounds[target], seed });
    t.diagnostic(`${summary(r)} (replay: KILL_SEED=${seed}, or npm run kill-campaign -- --target ${target} --rounds ${rounds[target]} --seed ${seed})`);
    assert.deepEqual(r.failures, []);
    assert.ok(r.acknowledged >= r.rounds, `writes were acknowledged in the rounds (${r.acknowledged})`);
    assert.ok(r.inFlight > 0, 'some kills caught a write in flight');
    if (target === 'local') assert.ok(r.killedMidFold > 0, 'some kills struck during a snapshot fold');
  });
}
});
