// Local OpenAI-compatible mock upstreams for the README tour (npm run mock).
// Two instances on fixed ports so a route can balance and fall back without real provider keys.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';

export const MOCK_PORTS = [1980, 1981] as const;

function reply(name: string, req: IncomingMessage, res: ServerResponse): void {
  let body = '';
  req.on('data', (chunk: Buffer) => { body += chunk.toString(); });
  req.on('end', () => {
    let model = 'mock-model';
    try { const parsed = JSON.parse(body) as { model?: unknown }; if (typeof parsed.model === 'string') model = parsed.model; } catch { /* not JSON: keep the default */ }
    if (req.url?.startsWith('/v1/embeddings')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ object: 'list', model, data: [{ object: 'embedding', index: 0, embedding: [0.1, 0.2, 0.3] }], usage: { prompt_tokens: 3, total_tokens: 3 } }));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({
      id: 'chatcmpl-mock', object: 'chat.completion', created: Math.floor(Date.now() / 1000), model,
      choices: [{ index: 0, message: { role: 'assistant', content: `hello from ${name}` }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 5, completion_tokens: 4, total_tokens: 9 },
    }));
  });
}

const servers = MOCK_PORTS.map((port, i) => {
  const name = `mock-${i === 0 ? 'a' : 'b'}`;
  const server = createServer((req, res) => reply(name, req, res));
  server.on('error', (err: NodeJS.ErrnoException) => {
    process.stderr.write(`switchyard mock: cannot listen on 127.0.0.1:${port}: ${err.code ?? err.message} (is another mock already running?)\n`);
    process.exit(1);
  });
  server.listen(port, '127.0.0.1', () => process.stdout.write(`${name} listening on http://127.0.0.1:${port}\n`));
  return server;
});

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => { for (const s of servers) s.close(); process.exit(0); });
}
