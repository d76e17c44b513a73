// The switchyard dashboard (R-UI-1): sign in with an admin key, then poll
// GET /apisix/admin/dashboard/stats every second and show instances, quotas,
// routes and the last requests. Admins can enable or disable a route (PATCH
// /apisix/admin/routes/<id>); a viewer key sees the same and cannot change
// anything (the Admin API refuses its writes, and the page offers none).
import { h, render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import htm from 'htm';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import './style.css';

const html = htm.bind(h);

const KEY_STORE = 'switchyard.admin_key';
const POLL_MS = 1000;
const HISTORY = 120;

type Pct = { p50: number | null; p95: number | null; p99: number | null };
interface Instance {
  route_id: string; name: string; provider: string | null; model: string | null;
  priority: number | null; weight: number | null; health: string | null; cooldown_left_s: number | null;
  source: string; requests: number; failures: Record<string, number>;
  tokens: { prompt: number; completion: number; total: number }; latency_ms: Pct; ttft_ms: Pct;
}
interface Quota {
  scope: string; route_id: string | null; consumer: string | null; instance: string | null; rule: number | null;
  strategy: string; limit: number | null; window_s: number | null; used: number; reserved?: number | null;
  remaining: number | null; reset_in_s: number | null; error?: string;
}
interface Attempt { instance?: string; addr?: string; outcome: string; ms: number }
interface Recent {
  seq: number; time: number; method: string; uri: string; status: number; route_id: string | null; consumer: string | null;
  instance: string | null; model: string | null; request_model: string | null; stream: boolean;
  prompt_tokens: number; completion_tokens: number; total_tokens: number; latency_ms: number; ttft_ms: number | null;
  attempts?: Attempt[];
}
interface Route { id: string; name: string | null; uris: string[]; status: number; service_id: string | null; plugins: string[] }
interface Stats {
  generated_at: number; role: string; requests_seen: number;
  routes: Route[]; instances: Instance[]; quotas: Quota[]; recent: Recent[];
}

class AuthError extends Error {}

async function api(key: string, method: string, path: string, body?: unknown): Promise<any> {
  const res = await fetch(path, {
    method,
    headers: { 'X-API-KEY': key, ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: 'no-store',
  });
  const text = await res.text();
  let data: any = text;
  try { data = JSON.parse(text); } catch { /* not JSON */ }
  if (res.status === 401) throw new AuthError(data?.description ?? data?.error_msg ?? 'not allowed');
  if (!res.ok) throw new Error(data?.error_msg ?? `HTTP ${res.status}`);
  return data;
}

const n = (v: number | null | undefined, unit = ''): string => (v === null || v === undefined ? '–' : `${Math.round(v * 10) / 10}${unit}`);
const int = (v: number | null | undefined): string => (v === null || v === undefined ? '–' : Math.round(v).toLocaleString('en'));
const ago = (ms: number, now: number): string => {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  return s < 60 ? `${s}s ago` : s < 3600 ? `${Math.floor(s / 60)}m ago` : `${Math.floor(s / 3600)}h ago`;
};

function SignIn(props: { onKey: (k: string, s: Stats) => void; message?: string }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState(props.message ?? '');
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      const s = await api(key, 'GET', '/apisix/admin/dashboard/stats');
      sessionStorage.setItem(KEY_STORE, key);
      props.onKey(key, s);
    } catch (err) {
      setError(err instanceof AuthError ? `Sign-in failed: ${err.message}` : `Sign-in failed: ${(err as Error).message}`);
    } finally {
      setBusy(false);
    }
  };
  return html`<main class="signin">
    <form onSubmit=${submit} data-testid="signin">
      <h1>switchyard</h1>
      <p>Sign in with an admin key (<code>deployment.admin.admin_key</code>). A viewer key can look but not change anything.</p>
      <label>Admin key <input type="password" name="key" autocomplete="current-password" value=${key}
        onInput=${(e: Event) => setKey((e.target as HTMLInputElement).value)} autofocus /></label>
      <button type="submit" disabled=${busy || !key}>Sign in</button>
      ${error && html`<p class="error" role="alert" data-testid="signin-error">${error}</p>`}
    </form>
  </main>`;
}

function Chart(props: { title: string; series: string[]; data: number[][]; testid: string }) {
  const el = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  useEffect(() => {
    if (!el.current) return;
    const colors = ['#2563eb', '#16a34a', '#dc2626', '#9333ea'];
    plot.current = new uPlot({
      width: Math.max(280, el.current.clientWidth || 420),
      height: 160,
      legend: { show: true },
      scales: { x: { time: true } },
      axes: [{}, { size: 50 }],
      series: [{}, ...props.series.map((label, i) => ({ label, stroke: colors[i % colors.length], width: 2, points: { show: false } }))],
    }, props.data as uPlot.AlignedData, el.current);
    return () => plot.current?.destroy();
  }, []);
  useEffect(() => {
    plot.current?.setData(props.data as uPlot.AlignedData);
  }, [props.data]);
  return html`<figure class="chart" data-testid=${props.testid}><figcaption>${props.title}</figcaption><div ref=${el}></div></figure>`;
}

function healthBadge(i: Instance) {
  const status = i.cooldown_left_s ? 'cooling_down' : i.health ?? 'no checks';
  const cls = status === 'healthy' || status === 'mostly_healthy' ? 'ok' : status === 'no checks' ? 'none' : 'bad';
  return html`<span class="badge ${cls}" data-testid="health">${status.replace('_', ' ')}</span>`;
}

function failuresText(f: Record<string, number>): string {
  const parts = Object.entries(f).filter(([, v]) => v > 0).map(([k, v]) => `${k}×${v}`);
  return parts.length ? parts.join(' ') : '–';
}

function Instances(props: { list: Instance[] }) {
  if (!props.list.length) return html`<p class="empty">No AI instances configured (routes with ai-proxy or ai-proxy-multi).</p>`;
  return html`<table data-testid="instances">
    <thead><tr><th>Route</th><th>Instance</th><th>Model</th><th>Health</th><th>Cool-down</th><th class="num">Requests</th>
      <th>Failures</th><th class="num">Prompt tok.</th><th class="num">Completion tok.</th>
      <th class="num">Latency p50 / p95 / p99</th><th class="num">TTFT p50 / p95</th><th>Basis</th></tr></thead>
    <tbody>${props.list.map((i) => html`<tr data-instance=${i.name} data-route=${i.route_id}>
      <td>${i.route_id}</td><td><b>${i.name}</b>${i.provider ? html` <small>${i.provider}</small>` : ''}</td>
      <td>${i.model ?? '–'}</td><td>${healthBadge(i)}</td>
      <td data-testid="cooldown">${i.cooldown_left_s ? `${i.cooldown_left_s}s left` : '–'}</td>
      <td class="num" data-testid="requests">${int(i.requests)}</td>
      <td data-testid="failures">${failuresText(i.failures)}</td>
      <td class="num" data-testid="prompt-tokens">${int(i.tokens.prompt)}</td>
      <td class="num" data-testid="completion-tokens">${int(i.tokens.completion)}</td>
      <td class="num" data-testid="latency">${n(i.latency_ms.p50)} / ${n(i.latency_ms.p95)} / ${n(i.latency_ms.p99)} ms</td>
      <td class="num" data-testid="ttft">${n(i.ttft_ms.p50)} / ${n(i.ttft_ms.p95)} ms</td>
      <td><small title=${i.source === 'prometheus' ? 'totals since start (prometheus plugin series)' : 'last requests only (enable the prometheus plugin for totals)'}>${i.source === 'prometheus' ? 'since start' : 'last requests'}</small></td>
    </tr>`)}</tbody></table>`;
}

function Quotas(props: { list: Quota[] }) {
  if (!props.list.length) return html`<p class="empty">No ai-rate-limiting quotas configured.</p>`;
  return html`<table data-testid="quotas">
    <thead><tr><th>Consumer</th><th>Scope</th><th>Instance / rule</th><th class="num">Limit</th><th class="num">Used</th>
      <th class="num">Reserved</th><th class="num">Remaining</th><th></th><th>Resets in</th></tr></thead>
    <tbody>${props.list.map((q) => {
      const share = q.limit ? Math.min(1, (q.used + (q.reserved ?? 0)) / q.limit) : 0;
      return html`<tr data-consumer=${q.consumer ?? '*'} data-instance=${q.instance ?? ''}>
        <td>${q.consumer ?? html`<i>all</i>`}</td>
        <td>${q.scope}${q.route_id ? ` ${q.route_id}` : ''}</td>
        <td>${q.instance ?? `rule ${q.rule}`}</td>
        <td class="num">${int(q.limit)}${q.window_s ? html` <small>/ ${q.window_s}s</small>` : ''}</td>
        <td class="num" data-testid="used">${int(q.used)}</td>
        <td class="num" data-testid="reserved">${q.reserved === null || q.reserved === undefined ? '–' : int(q.reserved)}</td>
        <td class="num" data-testid="remaining">${int(q.remaining)}</td>
        <td><span class="bar"><span style=${{ width: `${Math.round(share * 100)}%` }} class=${share >= 1 ? 'full' : ''}></span></span></td>
        <td>${q.error ? html`<span class="error">${q.error}</span>` : q.reset_in_s ? `${q.reset_in_s}s` : '–'}</td>
      </tr>`;
    })}</tbody></table>`;
}

function Routes(props: { list: Route[]; canEdit: boolean; onToggle: (r: Route) => void; busy: string | null }) {
  if (!props.list.length) return html`<p class="empty">No routes.</p>`;
  return html`<table data-testid="routes">
    <thead><tr><th>Id</th><th>Name</th><th>URIs</th><th>Plugins</th><th>Status</th><th></th></tr></thead>
    <tbody>${props.list.map((r) => html`<tr data-route=${r.id}>
      <td>${r.id}</td><td>${r.name ?? '–'}</td><td><code>${r.uris.join(' ')}</code></td>
      <td>${r.plugins.map((p) => html`<span class="chip">${p}</span>`)}</td>
      <td data-testid="route-status">${r.status === 1 ? 'enabled' : 'disabled'}</td>
      <td><button type="button" data-testid="toggle-route" disabled=${!props.canEdit || props.busy === r.id}
        title=${props.canEdit ? '' : 'viewer role: read only'} onClick=${() => props.onToggle(r)}>
        ${r.status === 1 ? 'Disable' : 'Enable'}</button></td>
    </tr>`)}</tbody></table>`;
}

function attemptChip(a: Attempt) {
  const ok = a.outcome === 'ok';
  return html`<span class="chip ${ok ? 'ok' : 'bad'}">${a.instance ?? a.addr ?? '?'}: ${a.outcome} ${Math.round(a.ms)}ms</span>`;
}

function RecentTable(props: { list: Recent[]; now: number }) {
  if (!props.list.length) return html`<p class="empty">No requests yet.</p>`;
  return html`<table data-testid="recent">
    <thead><tr><th>When</th><th>Request</th><th>Status</th><th>Consumer</th><th>Instance</th><th>Model</th>
      <th class="num">Tokens (in / out)</th><th class="num">Latency</th><th class="num">TTFT</th><th>Attempts</th></tr></thead>
    <tbody>${props.list.map((r) => html`<tr data-seq=${r.seq}>
      <td title=${new Date(r.time).toISOString()}>${ago(r.time, props.now)}</td>
      <td><code>${r.method} ${r.uri}</code>${r.stream ? html` <small>stream</small>` : ''}</td>
      <td class=${r.status >= 400 ? 'error' : ''}>${r.status}</td>
      <td>${r.consumer ?? '–'}</td><td>${r.instance ?? '–'}</td><td>${r.model ?? r.request_model ?? '–'}</td>
      <td class="num">${r.prompt_tokens || r.completion_tokens ? `${r.prompt_tokens} / ${r.completion_tokens}` : '–'}</td>
      <td class="num">${r.latency_ms} ms</td><td class="num">${r.ttft_ms === null ? '–' : `${r.ttft_ms} ms`}</td>
      <td data-testid="attempts">${(r.attempts ?? []).map(attemptChip)}</td>
    </tr>`)}</tbody></table>`;
}

interface History { t: number[]; rps: number[]; tps: number[]; p95: number[] }

function Dashboard(props: { apiKey: string; first: Stats; onSignOut: (msg?: string) => void }) {
  const [stats, setStats] = useState<Stats>(props.first);
  const [error, setError] = useState('');
  const [notice, setNotice] = useState('');
  const [busy, setBusy] = useState<string | null>(null);
  const [hist, setHist] = useState<History>({ t: [], rps: [], tps: [], p95: [] });
  const last = useRef<{ at: number; seen: number; seq: number } | null>(null);

  const absorb = (s: Stats) => {
    setStats(s);
    const prev = last.current;
    const maxSeq = s.recent.length ? s.recent[0]!.seq : prev?.seq ?? 0;
    if (prev && s.generated_at > prev.at) {
      const dt = (s.generated_at - prev.at) / 1000;
      let tokens = 0;
      const lat: number[] = [];
      for (const r of s.recent) {
        if (r.seq <= prev.seq) break;
        tokens += r.total_tokens;
        lat.push(r.latency_ms);
      }
      lat.sort((a, b) => a - b);
      const p95 = lat.length ? lat[Math.min(lat.length - 1, Math.ceil(0.95 * lat.length) - 1)]! : 0;
      setHist((hh) => {
        const cut = (a: number[], v: number) => [...a, v].slice(-HISTORY);
        return { t: cut(hh.t, s.generated_at / 1000), rps: cut(hh.rps, (s.requests_seen - prev.seen) / dt), tps: cut(hh.tps, tokens / dt), p95: cut(hh.p95, p95) };
      });
    }
    last.current = { at: s.generated_at, seen: s.requests_seen, seq: maxSeq };
  };

  useEffect(() => {
    absorb(props.first);
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const tick = async () => {
      try {
        const s = await api(props.apiKey, 'GET', '/apisix/admin/dashboard/stats');
        if (stopped) return;
        absorb(s);
        setError('');
      } catch (err) {
        if (stopped) return;
        if (err instanceof AuthError) return props.onSignOut(`Signed out: ${err.message}`);
        setError(`Refresh failed: ${(err as Error).message}`);
      }
      if (!stopped) timer = setTimeout(tick, POLL_MS);
    };
    timer = setTimeout(tick, POLL_MS);
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
    };
  }, []);

  const canEdit = stats.role !== 'viewer';
  const toggle = async (r: Route) => {
    setBusy(r.id);
    setNotice('');
    try {
      await api(props.apiKey, 'PATCH', `/apisix/admin/routes/${encodeURIComponent(r.id)}`, { status: r.status === 1 ? 0 : 1 });
      setNotice(`Route ${r.id} ${r.status === 1 ? 'disabled' : 'enabled'}.`);
    } catch (err) {
      setNotice(`Could not change route ${r.id}: ${(err as Error).message}`);
    } finally {
      setBusy(null);
    }
  };

  const totals = stats.instances.reduce((a, i) => ({ req: a.req + i.requests, tok: a.tok + i.tokens.total }), { req: 0, tok: 0 });
  return html`<div class="page">
    <header>
      <h1>switchyard</h1>
      <span class="live ${error ? 'stale' : ''}" data-testid="live">${error ? 'stale' : 'live'}</span>
      <span class="role" data-testid="role">${stats.role}${canEdit ? '' : ' (read only)'}</span>
      <span class="spacer"></span>
      <span data-testid="requests-seen">${int(stats.requests_seen)} requests</span>
      <button type="button" onClick=${() => props.onSignOut()}>Sign out</button>
    </header>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    ${notice && html`<p class="notice" role="status" data-testid="notice">${notice}</p>`}
    <section class="charts">
      <${Chart} testid="chart-rps" title="Requests / s" series=${['requests/s']} data=${[hist.t, hist.rps]} />
      <${Chart} testid="chart-tps" title="Tokens / s (last requests)" series=${['tokens/s']} data=${[hist.t, hist.tps]} />
      <${Chart} testid="chart-latency" title="Latency p95 (ms, requests since last refresh)" series=${['p95 ms']} data=${[hist.t, hist.p95]} />
    </section>
    <section><h2>Instances <small>${int(totals.req)} requests, ${int(totals.tok)} tokens</small></h2><${Instances} list=${stats.instances} /></section>
    <section><h2>Quotas</h2><${Quotas} list=${stats.quotas} /></section>
    <section><h2>Routes</h2><${Routes} list=${stats.routes} canEdit=${canEdit} onToggle=${toggle} busy=${busy} /></section>
    <section><h2>Last requests</h2><${RecentTable} list=${stats.recent} now=${stats.generated_at} /></section>
  </div>`;
}

function App() {
  const [session, setSession] = useState<{ key: string; first: Stats } | null>(null);
  const [message, setMessage] = useState<string | undefined>();
  const [checking, setChecking] = useState(true);
  useEffect(() => {
    const saved = sessionStorage.getItem(KEY_STORE);
    if (!saved) return setChecking(false);
    api(saved, 'GET', '/apisix/admin/dashboard/stats')
      .then((s) => setSession({ key: saved, first: s }))
      .catch(() => sessionStorage.removeItem(KEY_STORE))
      .finally(() => setChecking(false));
  }, []);
  if (checking) return html`<p class="empty">Loading…</p>`;
  if (!session) return html`<${SignIn} message=${message} onKey=${(key: string, first: Stats) => setSession({ key, first })} />`;
  return html`<${Dashboard} apiKey=${session.key} first=${session.first} onSignOut=${(msg?: string) => {
    sessionStorage.removeItem(KEY_STORE);
    setMessage(msg);
    setSession(null);
  }} />`;
}

render(html`<${App} />`, document.getElementById('app')!);
