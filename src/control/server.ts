// The Control API (R-CTL-1..5): GET /v1/healthcheck and
// GET /v1/healthcheck/<src_type>/<src_id>; every other path is a 404 page.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HealthReportEntry, HealthService } from '../llm/health/types.js';
import type { ConfigStore } from '../store/types.js';
import type { Reply } from '../core/types.js';
import { sendReply } from '../core/respond.js';
import { SERVER_HEADER } from '../core/version.js';

const SRC_TYPES = new Set(['routes', 'services', 'upstreams', 'stream_routes']);

export interface ControlDeps {
  health: HealthService;
  /**
   * the configuration store, to tell a missing resource (`not found`) from a
   * resource without checker (R-CTL-3); without it a resource without
   * checker is reported as not found
   */
  store?: Pick<ConfigStore, 'snapshot'>;
}

const escapeHtml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** R-CTL-4: the HTML status page */
export function renderHealthPage(entries: HealthReportEntry[]): string {
  const cols = ['Index', 'Upstream', 'Check type', 'Host', 'Status', 'Success counts', 'TCP Failures', 'HTTP Failures', 'TIMEOUT Failures'];
  let rows = '';
  let i = 0;
  for (const e of entries) {
    for (const n of e.nodes) {
      i++;
      const host = n.ip.includes(':') ? `[${n.ip}]:${n.port}` : `${n.ip}:${n.port}`;
      const cells = [String(i), e.name, e.type, host, n.status, String(n.counter.success), String(n.counter.tcp_failure), String(n.counter.http_failure), String(n.counter.timeout_failure)];
      rows += '<tr>' + cells.map((c) => `<td>${escapeHtml(c)}</td>`).join('') + '</tr>\n';
    }
  }
  return (
    '<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n<title>APISIX upstream check status</title>\n</head>\n<body>\n' +
    '<h1>APISIX upstream check status</h1>\n<table style="background-color:white" cellspacing="0" cellpadding="3" border="1">\n' +
    '<tr bgcolor="#C0C0C0">' + cols.map((c) => `<th>${c}</th>`).join('') + '</tr>\n' +
    rows +
    '</table>\n</body>\n</html>\n'
  );
}

function sendEntries(req: IncomingMessage, res: ServerResponse, entries: HealthReportEntry[]): void {
  const accept = String(req.headers.accept ?? '');
  if (accept.includes('text/html')) {
    const body = Buffer.from(renderHealthPage(entries));
    res.writeHead(200, { Server: SERVER_HEADER, 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': body.length });
    res.end(body);
    return;
  }
  // R-CTL-2: an empty list is `{}` (APISIX's encoding of an empty table)
  sendReply(res, { status: 200, kind: 'json', body: entries.length ? entries : {} });
}

export function createControlHandler(deps: ControlDeps) {
  const { health, store } = deps;
  const reply = (res: ServerResponse, r: Reply) => sendReply(res, r);

  return (req: IncomingMessage, res: ServerResponse) => {
    try {
      const url = req.url ?? '/';
      const q = url.indexOf('?');
      const path = q < 0 ? url : url.slice(0, q);
      if (req.method !== 'GET' || !(path === '/v1/healthcheck' || path.startsWith('/v1/healthcheck/'))) {
        reply(res, { status: 404, kind: 'page' });
        return;
      }
      const entries = health.report() as HealthReportEntry[];
      if (path === '/v1/healthcheck') {
        sendEntries(req, res, entries);
        return;
      }
      // R-CTL-3
      const segs = path.slice('/v1/healthcheck/'.length).split('/');
      const srcType = decodeSeg(segs[0] ?? '');
      const srcId = decodeSeg(segs[1] ?? '');
      if (!SRC_TYPES.has(srcType)) {
        reply(res, { status: 400, kind: 'json', body: { error_msg: `invalid src type ${srcType}` } });
        return;
      }
      if (!srcId) {
        reply(res, { status: 404, kind: 'json', body: { error_msg: `missing src id for src type ${srcType}` } });
        return;
      }
      const key = `/apisix/${srcType}/${srcId}`;
      const mine = entries.filter((e) => e.name.startsWith(key + '#'));
      const exists = srcType !== 'stream_routes' && (store ? store.snapshot().has(key) : mine.length > 0);
      if (!exists) {
        reply(res, { status: 404, kind: 'json', body: { error_msg: `${srcType}[${srcId}] not found` } });
        return;
      }
      if (!mine.length) {
        reply(res, { status: 404, kind: 'json', body: { error_msg: `no checker for ${srcType}[${srcId}]` } });
        return;
      }
      sendEntries(req, res, mine);
    } catch {
      if (!res.headersSent) reply(res, { status: 500, kind: 'page' });
      else res.destroy();
    }
  };
}

function decodeSeg(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
