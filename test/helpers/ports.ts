// A port for a server a test must name before it starts (redis-server, etcd,
// the documented ports of an example). Binding port 0 and closing it hands out a
// port from the kernel's ephemeral range, which every outgoing connection and
// every other port-0 listener of the tests running beside this one draw from
// as well: one of them can take it before our server binds it (seen in CI as
// EADDRINUSE). So the port is drawn at random below that range, where the
// kernel hands out nothing by itself, and checked by binding it once.
import net from 'node:net';
import { readFileSync } from 'node:fs';

const FIRST = 20_000;

/** the first port of the kernel's ephemeral range (32768 on Linux unless changed) */
function ephemeralStart(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > FIRST + 1000 ? low : 32_768;
  } catch {
    return 32_768;
  }
}

const LAST = ephemeralStart() - 1;

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

export async function freePort(): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = FIRST + Math.floor(Math.random() * (LAST - FIRST + 1));
    if (await bindable(port)) return port;
  }
  throw new Error(`no free port found between ${FIRST} and ${LAST} in 200 tries`);
}

/** a port nothing listens on (bound once and closed): connections to it are refused */
export async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as net.AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}
