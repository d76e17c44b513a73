// The last connected peer per "host:port" (R-VAR-4 `$upstream_addr`), shared
// by plain upstream pools (src/proxy/upstream.ts) and the LLM transports
// (src/llm/transport.ts). A connector records the socket's address when a
// connection opens; an attempt reads it back to name the peer it used. The
// map holds one entry per configured host:port, so it stays bounded by the
// configuration (entries of removed hosts are a few bytes each).
const peers = new Map<string, string>();

/** remember the peer of a new connection to `hostPort` ("host:port") */
export function notePeer(hostPort: string, socket: { remoteAddress?: string; remotePort?: number } | null | undefined): void {
  const ip = socket?.remoteAddress;
  if (!ip) return;
  peers.set(hostPort, `${ip.includes(':') ? `[${ip}]` : ip}:${socket!.remotePort}`);
}

/** `ip:port` of the last connection to `hostPort`, undefined when none was seen */
export function lastPeer(hostPort: string): string | undefined {
  return peers.get(hostPort);
}
