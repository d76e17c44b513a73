// One active probe (R-HC-4..6): TCP connect, or an HTTP(S) GET of which only
// the status line is read. Every socket and timer is released when the
// promise settles or abort() is called.
import net from 'node:net';
import tls from 'node:tls';

export type ProbeKind = 'success' | 'http_failure' | 'tcp_failure' | 'timeout' | 'ignored';

export interface ProbeOutcome {
  kind: ProbeKind;
  /** HTTP status when one was read */
  status?: number;
  /** human-readable reason (logs) */
  detail?: string;
}

export interface ProbeSpec {
  type: 'http' | 'https' | 'tcp';
  ip: string;
  port: number;
  /** Host header and TLS SNI */
  hostname: string;
  /** path with query */
  path: string;
  /** `Name: value` lines */
  headers: string[];
  timeoutMs: number;
  verify: boolean;
  /** R-HC-6 status classes (default: R-HC-1 defaults) */
  healthyStatuses?: Set<number>;
  unhealthyStatuses?: Set<number>;
}

const DEFAULT_OK = new Set([200, 302]);
const DEFAULT_BAD = new Set([429, 404, 500, 501, 502, 503, 504, 505]);
const MAX_STATUS_LINE = 8192;
const STATUS_RE = /^HTTP\/\d+(?:\.\d+)?[ \t]+(\d{3})(?:[ \t]|$)/;

const clean = (s: string): string => s.replace(/[\r\n]+/g, ' ');

/** the request bytes of an HTTP probe (R-HC-4) */
export function probeRequest(spec: Pick<ProbeSpec, 'path' | 'hostname' | 'headers'>): string {
  let req = `GET ${clean(spec.path)} HTTP/1.1\r\nHost: ${clean(spec.hostname)}\r\nConnection: close\r\n`;
  for (const h of spec.headers) req += clean(h) + '\r\n';
  return req + '\r\n';
}

/** R-HC-6: status → outcome */
export function classifyStatus(status: number, ok = DEFAULT_OK, bad = DEFAULT_BAD): ProbeKind {
  if (ok.has(status)) return 'success';
  if (bad.has(status)) return 'http_failure';
  return 'ignored';
}

export function probe(spec: ProbeSpec): { result: Promise<ProbeOutcome>; abort: () => void } {
  let socket: net.Socket | undefined;
  let timer: NodeJS.Timeout | undefined;
  let settle!: (o: ProbeOutcome) => void;
  let done = false;
  const result = new Promise<ProbeOutcome>((resolve) => {
    settle = (o) => {
      if (done) return;
      done = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      if (socket) {
        socket.removeAllListeners('data');
        socket.on('error', () => {});
        socket.destroy();
      }
      resolve(o);
    };
  });
  const arm = (phase: string) => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => settle({ kind: 'timeout', detail: `timeout ${phase}` }), spec.timeoutMs);
  };

  arm('connecting');
  const bare = spec.hostname.replace(/^\[(.*)\]$/, '$1');
  const servername = net.isIP(bare) ? undefined : bare;
  try {
    socket =
      spec.type === 'https'
        ? tls.connect({ host: spec.ip, port: spec.port, servername, rejectUnauthorized: spec.verify, ALPNProtocols: ['http/1.1'] })
        : net.connect({ host: spec.ip, port: spec.port });
  } catch (err) {
    settle({ kind: 'tcp_failure', detail: (err as Error).message });
    return { result, abort: () => settle({ kind: 'ignored', detail: 'aborted' }) };
  }
  socket.setNoDelay(true);
  socket.on('error', (err) => settle({ kind: 'tcp_failure', detail: err.message }));

  const onConnected = () => {
    if (done) return;
    if (spec.type === 'tcp') {
      settle({ kind: 'success', detail: 'connected' });
      return;
    }
    arm('sending the request');
    let buf = '';
    socket!.setEncoding('latin1');
    socket!.on('data', (chunk: string) => {
      buf += chunk;
      const nl = buf.indexOf('\n');
      if (nl < 0 && buf.length < MAX_STATUS_LINE) return;
      finish(nl < 0 ? buf : buf.slice(0, nl));
    });
    const finish = (line: string) => {
      const m = STATUS_RE.exec(line.replace(/\r$/, ''));
      if (!m) {
        settle({ kind: 'http_failure', detail: `bad status line ${JSON.stringify(line.slice(0, 80))}` });
        return;
      }
      const status = Number(m[1]);
      settle({
        kind: classifyStatus(status, spec.healthyStatuses, spec.unhealthyStatuses),
        status,
        detail: `status ${status}`,
      });
    };
    socket!.on('end', () => {
      if (buf.length) finish(buf);
      else settle({ kind: 'tcp_failure', detail: 'connection closed before the status line' });
    });
    socket!.write(probeRequest(spec), (err) => {
      if (err) settle({ kind: 'tcp_failure', detail: err.message });
      else if (!done) arm('reading the status line');
    });
  };
  socket.once(spec.type === 'https' ? 'secureConnect' : 'connect', onConnected);
  socket.on('close', () => settle({ kind: 'tcp_failure', detail: 'connection closed' }));
  return { result, abort: () => settle({ kind: 'ignored', detail: 'aborted' }) };
}
