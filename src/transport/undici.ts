// The parts of undici the gateway uses, loaded from their own modules.
//
// undici's index loads everything the package offers: fetch, WebSocket,
// EventSource, the HTTP cache, the proxy, retry, mock and snapshot agents,
// the interceptors. In a bare Node 20 process `require('undici')` costs
// +18.5 MB RSS and +4.0 MB of live heap; the Agent, the connector, the
// errors and the request API below cost +10.3 MB and +1.2 MB
// (docs/performance.md, 2026-12-07 fifth session). The gateway only ever
// dispatches through Agents, so it loads these. The paths are undici's
// files, not its documented API: test/transport/undici-parts.test.ts checks that
// they are the very objects the index exports, so an undici release that
// moves them fails there, by name, before anything else does.
import { createRequire } from 'node:module';
import type * as Undici from 'undici';

const load = createRequire(import.meta.url);

export const Agent = load('undici/lib/dispatcher/agent.js') as typeof Undici.Agent;
export type Agent = Undici.Agent;
export const buildConnector = load('undici/lib/core/connect.js') as typeof Undici.buildConnector;
export const errors = load('undici/lib/core/errors.js') as typeof Undici.errors;

// What undici's index does once: request(), stream(), pipeline(), connect()
// and upgrade() on every dispatcher (plain upstreams and the token and
// logger clients use request()).
const Dispatcher = load('undici/lib/dispatcher/dispatcher.js') as { prototype: Record<string, unknown> };
if (typeof Dispatcher.prototype.request !== 'function') Object.assign(Dispatcher.prototype, load('undici/lib/api/index.js'));
