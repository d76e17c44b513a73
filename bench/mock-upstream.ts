// A fast mock LLM upstream for the benchmark (run as its own process so it
// does not share a core with the load generator): fixed chat completion for
// non-streaming requests, a short SSE stream when the body asks for it.
// Prints "mock listening on 127.0.0.1:<port>" on stdout.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

const BODY = Buffer.from(JSON.stringify({
  id: 'chatcmpl-1', object: 'chat.completion', created: 1700000000, model: 'gpt-4',
  choices: [{ index: 0, message: { role: 'assistant', content: '1+1 equals 2.' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 23, completion_tokens: 8, total_tokens: 31 },
}));
const chunk = (o: unknown) => `data: ${JSON.stringify(o)}\n\n`;
const base = { id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1700000000, model: 'gpt-4' };
const STREAM = [
  chunk({ ...base, choices: [{ index: 0, delta: { role: 'assistant', content: '1+1 ' }, finish_reason: null }] }),
  chunk({ ...base, choices: [{ index: 0, delta: { content: 'equals 2.' }, finish_reason: 'stop' }] }),
  chunk({ ...base, choices: [], usage: { prompt_tokens: 23, completion_tokens: 8, total_tokens: 31 } }),
  'data: [DONE]\n\n',
];

const server = http.createServer((req, res) => {
  let stream = false;
  req.on('data', (c: Buffer) => { if (!stream && c.includes('"stream":true')) stream = true; });
  req.on('end', () => {
    if (!stream) {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': BODY.length });
      res.end(BODY);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.flushHeaders();
    let i = 0;
    const next = () => {
      if (i < STREAM.length) {
        res.write(STREAM[i++]);
        setTimeout(next, 5);
      } else res.end();
    };
    setTimeout(next, 5);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const a = server.address() as AddressInfo;
  process.stdout.write(`mock listening on 127.0.0.1:${a.port}\n`);
});
process.on('SIGTERM', () => { server.closeAllConnections(); server.close(() => process.exit(0)); });
