// npm run kill-campaign -- [--rounds N] [--seed S] [--target local|etcd-gateway|etcd|all]
//
// Issue 16, item 2: streams Admin API writes into the real CLI and SIGKILLs
// at random moments, then restarts and checks that every acknowledged write
// is present (and nothing that was never written), and that the store loads.
//   local         the gateway with the embedded store, folding its journal
//                 every few records; half of the kills wait for a fold to
//                 begin (store.json.tmp appears) and strike during it
//   etcd-gateway  the gateway with config_provider: etcd is killed
//   etcd          etcd is killed under the running gateway, then restarted
// Three lanes each own a few route ids and write them one at a time (PUT or
// DELETE), and one lane POSTs: at most one write per key is in flight at a
// kill, so after it a key holds its last acknowledged state or that one
// in-flight write. test/reliability/kill-campaign.test.ts runs a bounded
// campaign in npm test.
import { existsSync, mkdtempSync, rmSync, watch, type FSWatcher } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Etcd3 } from 'etcd3';
import { startGateway, type GatewayProcess } from '../test/helpers/gateway.js';
import { startEtcd, type EtcdProcess } from '../test/helpers/etcd.js';

export type Target = 'local' | 'etcd-gateway' | 'etcd';

export interface CampaignOptions {
  target: Target;
  rounds: number;
  seed: number;
  /** called with one line per round */
  progress?: (line: string) => unknown;
}

export interface CampaignResult {
  target: Target;
  rounds: number;
  seed: number;
  /** writes the Admin API acknowledged (2xx) */
  acknowledged: number;
  /** writes whose answer was lost in a kill: allowed to be present or not */
  inFlight: number;
  /** kills that struck while store.json.tmp existed (local only) */
  killedMidFold: number;
  /** starts that timed out on a loaded machine and were tried again */
  slowStarts: number;
  /** every violation found; empty when the property holds */
  failures: string[];
  ms: number;
}

const KEYS_PER_LANE = 4;
/** a loaded machine (the campaign runs under nice) can take long to start a process */
const START_TIMEOUT_MS = 90_000;

/**
 * A start that times out without the gateway exiting is the machine being
 * slow, not the store failing to load (that exits with an error): try again.
 */
async function startPatiently(opts: Parameters<typeof startGateway>[0], slowStarts: { n: number }): Promise<GatewayProcess> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await startGateway({ ...opts, timeoutMs: START_TIMEOUT_MS });
    } catch (err) {
      if (attempt >= 2 || !/did not start in time/.test((err as Error).message)) throw err;
      slowStarts.n++;
    }
  }
}
const LANES = 3;
const STORE_TMP = 'store.json.tmp';

/** mulberry32: a small seeded PRNG, so a failing campaign can be replayed */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** what a route id holds: the `desc` of its last write, or null when deleted / never written */
type State = string | null;

interface Model {
  /** state after the last acknowledged write of each key */
  acked: Map<string, State>;
  /** a write to the key that was sent but not answered */
  pending: Map<string, State>;
  /** descs of POSTs sent but not answered */
  pendingPosts: Set<string>;
  /** the largest POST id seen */
  maxPostId: string;
}

const route = (desc: string) => ({ uri: `/kc/${desc.replace(/[^a-z0-9]/gi, '-')}`, desc, upstream: { type: 'roundrobin', nodes: { '127.0.0.1:1980': 1 } } });

/** PUT/DELETE lanes and a POST lane, until `stop()` or the first failed call */
function streamWrites(gw: GatewayProcess, model: Model, round: number, rnd: () => number, counts: { acked: number }) {
  let stopped = false;
  let firstAck!: () => void;
  const acked = new Promise<void>((r) => (firstAck = r));
  const errors: string[] = [];
  const ack = () => {
    counts.acked++;
    firstAck();
  };
  const lane = async (l: number) => {
    for (let i = 0; !stopped; i++) {
      const id = `l${l}k${Math.floor(rnd() * KEYS_PER_LANE)}`;
      const del = rnd() < 0.2;
      const next: State = del ? null : `r${round}.l${l}.${i}`;
      model.pending.set(id, next);
      let res;
      try {
        res = del ? await gw.admin('DELETE', `/apisix/admin/routes/${id}`) : await gw.admin('PUT', `/apisix/admin/routes/${id}`, route(next!));
      } catch {
        return; // killed: the write stays pending
      }
      const ok = res.status === 200 || res.status === 201 || (del && res.status === 404);
      if (!ok) {
        // a 503 (etcd gone) may or may not have been applied: keep it pending, stop the lane
        if (res.status !== 503) errors.push(`${del ? 'DELETE' : 'PUT'} ${id}: ${res.status} ${res.text}`);
        return;
      }
      model.pending.delete(id);
      model.acked.set(id, next);
      ack();
    }
  };
  const poster = async () => {
    for (let i = 0; !stopped; i++) {
      const desc = `r${round}.p.${i}`;
      model.pendingPosts.add(desc);
      let res;
      try {
        res = await gw.admin('POST', '/apisix/admin/routes', route(desc));
      } catch {
        return;
      }
      if (res.status !== 200 && res.status !== 201) {
        if (res.status !== 503) errors.push(`POST: ${res.status} ${res.text}`);
        return;
      }
      model.pendingPosts.delete(desc);
      const id = String(res.body?.value?.id ?? res.body?.key?.split('/').pop());
      if (!(id > model.maxPostId)) errors.push(`POST id ${id} does not follow ${model.maxPostId}`);
      model.maxPostId = id > model.maxPostId ? id : model.maxPostId;
      model.acked.set(id, desc);
      ack();
    }
  };
  const done = Promise.all([...Array.from({ length: LANES }, (_, l) => lane(l)), poster()]);
  return {
    acked,
    errors,
    async stop() {
      stopped = true;
      await done;
    },
  };
}

/** compares the stored routes (id -> desc) with the model; resolves pending writes to what was found */
function check(stored: Map<string, string>, model: Model, round: number, failures: string[]): number {
  let inFlight = 0;
  const known = new Set([...model.acked.keys(), ...model.pending.keys()]);
  for (const id of known) {
    const got = stored.get(id) ?? null;
    const want = model.acked.get(id) ?? null;
    if (got === want) {
      if (model.pending.has(id)) inFlight++;
      continue;
    }
    if (model.pending.has(id) && got === model.pending.get(id)) {
      inFlight++;
      model.acked.set(id, got);
      continue;
    }
    failures.push(`round ${round}: route ${id} holds ${JSON.stringify(got)}, acknowledged ${JSON.stringify(want)}${model.pending.has(id) ? ` (in flight: ${JSON.stringify(model.pending.get(id))})` : ''}`);
    model.acked.set(id, got);
  }
  for (const [id, desc] of stored) {
    if (known.has(id)) continue;
    if (model.pendingPosts.has(desc)) {
      // an unanswered POST that did land
      inFlight++;
      model.pendingPosts.delete(desc);
      model.acked.set(id, desc);
      if (id > model.maxPostId) model.maxPostId = id;
      continue;
    }
    failures.push(`round ${round}: route ${id} (${desc}) was never written`);
    model.acked.set(id, desc);
  }
  model.pending.clear();
  model.pendingPosts.clear();
  return inFlight;
}

async function routesViaAdmin(gw: GatewayProcess): Promise<Map<string, string>> {
  const res = await gw.admin('GET', '/apisix/admin/routes');
  if (res.status !== 200) throw new Error(`GET routes answered ${res.status} ${res.text}`);
  return new Map((res.body.list ?? []).map((it: any) => [String(it.value.id), String(it.value.desc)]));
}

async function routesInEtcd(client: Etcd3, prefix: string): Promise<Map<string, string>> {
  const all = await client.getAll().prefix(`${prefix}/routes/`).strings();
  return new Map(Object.entries(all).map(([k, v]) => [k.slice(prefix.length + '/routes/'.length), String(JSON.parse(v).desc)]));
}

/** resolves when store.json.tmp is created in `dir` (a fold has begun) */
function onFold(dir: string): { seen: Promise<void>; close(): void } {
  let watcher: FSWatcher | undefined;
  const seen = new Promise<void>((resolve) => {
    watcher = watch(dir, (_ev, name) => {
      if (name === STORE_TMP) resolve();
    });
  });
  return { seen, close: () => watcher?.close() };
}

const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function runCampaign(opts: CampaignOptions): Promise<CampaignResult> {
  const t0 = Date.now();
  const rnd = prng(opts.seed);
  const failures: string[] = [];
  const counts = { acked: 0 };
  let inFlight = 0;
  let killedMidFold = 0;
  const slowStarts = { n: 0 };
  const model: Model = { acked: new Map(), pending: new Map(), pendingPosts: new Set(), maxPostId: '' };
  const dir = mkdtempSync(path.join(tmpdir(), `switchyard-kill-${opts.target}-`));
  let etcd: EtcdProcess | undefined;
  let client: Etcd3 | undefined;
  const prefix = `/kc${opts.seed}`;
  const config: Record<string, unknown> = {
    // folds every few records, so kills land in folds often
    deployment: { local: { data_dir: 'data', compact_every: 3 } },
    // no access log: the campaign is about the store
    nginx_config: { http: { enable_access_log: false } },
  };
  if (opts.target !== 'local') {
    etcd = await startEtcd({ timeoutMs: START_TIMEOUT_MS });
    client = new Etcd3({ hosts: etcd.url });
    config.deployment = { role_traditional: { config_provider: 'etcd' }, etcd: { host: [etcd.url], prefix, timeout: 5 } };
    // required with etcd: every node on the prefix decrypts with the same keys
    config.apisix = { data_encryption: { keyring: ['edd1c9f0985e76a2'] } };
    // R-SEC-10: an etcd node needs a configured keyring
    config.apisix = { ...(config.apisix as object), data_encryption: { keyring: ['edd1c9f0985e76a2'] } };
  }
  const dataDir = path.join(dir, 'data');
  let gw: GatewayProcess | undefined;
  try {
    gw = await startPatiently({ dir, config }, slowStarts);
    for (let round = 0; round < opts.rounds; round++) {
      const foldKill = opts.target === 'local' && rnd() < 0.5;
      const fold = foldKill ? onFold(dataDir) : undefined;
      const writes = streamWrites(gw, model, round, rnd, counts);
      await writes.acked;
      if (fold) await Promise.race([fold.seen, delay(2000)]);
      else await delay(rnd() * 120);
      if (opts.target === 'etcd') await etcd!.stop('SIGKILL');
      else await gw.kill();
      if (opts.target === 'local' && existsSync(path.join(dataDir, STORE_TMP))) killedMidFold++;
      fold?.close();
      if (opts.target === 'etcd') {
        await etcd!.start();
        // the lanes end at their first 503 (or later, once etcd answers again)
        await writes.stop();
      } else {
        await writes.stop();
        gw = await startPatiently({ dir, config }, slowStarts);
      }
      failures.push(...writes.errors.map((e) => `round ${round}: ${e}`));
      // the restarted gateway loaded the store (it started); read what it holds
      const stored = opts.target === 'local' ? await routesViaAdmin(gw) : await routesInEtcd(client!, prefix);
      if (opts.target === 'local' && existsSync(path.join(dataDir, STORE_TMP))) failures.push(`round ${round}: ${STORE_TMP} left after restart`);
      inFlight += check(stored, model, round, failures);
      if (opts.target === 'etcd-gateway') {
        // and the restarted gateway serves the same
        const seen = await routesViaAdmin(gw);
        for (const [id, desc] of stored) if (seen.get(id) !== desc) failures.push(`round ${round}: the restarted gateway shows route ${id} as ${seen.get(id)}, etcd holds ${desc}`);
      }
      opts.progress?.(`round ${round + 1}/${opts.rounds}: ${counts.acked} acknowledged, ${inFlight} in flight, ${killedMidFold} mid-fold, ${failures.length} failures`);
      if (failures.length > 20) break;
    }
    if (gw && (await gw.stop()) !== 0) failures.push(`the last gateway did not stop cleanly:\n${gw.stderr().slice(-2000)}`);
  } finally {
    await gw?.kill();
    client?.close();
    await etcd?.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return { target: opts.target, rounds: opts.rounds, seed: opts.seed, acknowledged: counts.acked, inFlight, killedMidFold, slowStarts: slowStarts.n, failures, ms: Date.now() - t0 };
}

export function summary(r: CampaignResult): string {
  const fold = r.target === 'local' ? `, ${r.killedMidFold} kills during a fold` : '';
  const slow = r.slowStarts ? `, ${r.slowStarts} slow starts retried` : '';
  return `kill-campaign ${r.target}: ${r.rounds} rounds, seed ${r.seed}: ${r.acknowledged} acknowledged writes, ${r.inFlight} in flight at a kill${fold}, ${r.failures.length} lost or wrong${slow}, ${(r.ms / 1000).toFixed(0)} s`;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const opt = (name: string): string | undefined => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const rounds = Number(opt('rounds') ?? 50);
  const seed = Number(opt('seed') ?? ((Math.random() * 0x7fffffff) | 0));
  const target = opt('target') ?? 'all';
  const targets: Target[] = target === 'all' ? ['local', 'etcd-gateway', 'etcd'] : [target as Target];
  if (!Number.isInteger(rounds) || rounds < 1 || !Number.isInteger(seed) || !targets.every((t) => ['local', 'etcd-gateway', 'etcd'].includes(t))) {
    console.error('usage: npm run kill-campaign -- [--rounds N] [--seed S] [--target local|etcd-gateway|etcd|all]');
    process.exit(2);
  }
  let failed = 0;
  for (const t of targets) {
    console.log(`kill-campaign ${t}: ${rounds} rounds, seed ${seed} (replay: --target ${t} --rounds ${rounds} --seed ${seed})`);
    const every = Math.max(1, Math.round(rounds / 20));
    let n = 0;
    const r = await runCampaign({ target: t, rounds, seed, progress: (line) => ++n % every === 0 && console.log(`  ${line}`) });
    for (const f of r.failures) console.log(`  FAIL ${f}`);
    console.log(summary(r));
    failed += r.failures.length;
  }
  process.exit(failed === 0 ? 0 : 1);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
