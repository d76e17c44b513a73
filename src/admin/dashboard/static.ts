// The dashboard's page and bundle (R-UI-1), served at /ui/ on the Admin API
// listener from the files `npm run build` writes to dist/ui/ (scripts/build-ui.mjs).
// Files are read once, on first use; only names found in that directory are
// served, so no path reaches outside it. The Content-Security-Policy lets the
// page load and fetch nothing but this origin.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** dist/ui, next to dist/src (this file is dist/src/admin/dashboard/static.js) */
export const UI_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../ui');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.map': 'application/json',
};

const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

interface Asset {
  body: Buffer;
  type: string;
}

export function createUiHandler(dir = UI_DIR) {
  let assets: Map<string, Asset> | undefined;
  const load = (): Map<string, Asset> => {
    if (assets) return assets;
    const m = new Map<string, Asset>();
    try {
      for (const name of readdirSync(dir)) {
        const type = TYPES[path.extname(name)];
        if (type) m.set(name, { body: readFileSync(path.join(dir, name)), type });
      }
    } catch {
      // not built: answered below
    }
    if (m.has('index.html')) assets = m; // retried until built
    return m;
  };

  return (req: IncomingMessage, res: ServerResponse, pathname: string, extra: Record<string, string>): void => {
    const method = (req.method ?? 'GET').toUpperCase();
    if (pathname === '/ui') {
      res.writeHead(301, { ...extra, Location: '/ui/', 'Content-Length': '0' });
      res.end();
      return;
    }
    const send = (status: number, type: string, body: Buffer | string, more: Record<string, string> = {}) => {
      const buf = typeof body === 'string' ? Buffer.from(body) : body;
      res.writeHead(status, { ...extra, 'Content-Type': type, 'Content-Length': String(buf.length), 'X-Content-Type-Options': 'nosniff', ...more });
      res.end(method === 'HEAD' ? undefined : buf);
    };
    if (method !== 'GET' && method !== 'HEAD') {
      send(405, 'application/json', JSON.stringify({ error_msg: `method ${method} not allowed on the dashboard's files` }), { Allow: 'GET, HEAD' });
      return;
    }
    const name = pathname === '/ui/' ? 'index.html' : pathname.slice('/ui/'.length);
    const files = load();
    if (!files.has('index.html')) {
      send(503, 'application/json', JSON.stringify({ error_msg: `dashboard assets not built (${dir}): run npm run build` }));
      return;
    }
    const a = files.get(name);
    if (!a) {
      send(404, 'application/json', JSON.stringify({ error_msg: `no dashboard file ${name}` }));
      return;
    }
    send(200, a.type, a.body, {
      'Cache-Control': 'no-cache',
      ...(a.type.startsWith('text/html') ? { 'Content-Security-Policy': CSP, 'X-Frame-Options': 'DENY', 'Referrer-Policy': 'no-referrer' } : {}),
    });
  };
}
