// Local OpenAI-compatible mock upstreams for the README tour (npm run mock):
// two instances of the test suite's mock LLM (test/helpers/mock-llm.ts) on
// fixed ports, so a route can balance and fall back without provider keys.
// Each answers chat (buffered or streamed), embeddings and Anthropic messages;
// the chat text names the instance ("hello from mock-a").
// MOCK_PORTS=port,port overrides the ports (the README tour test uses it).
import { pathToFileURL } from 'node:url';
import { anthropicMessage, chatCompletion, embeddingsList, sseChat, startMockLlm, type MockLlm, type MockRequest, type MockResponse } from '../test/helpers/mock-llm.js';

export const MOCK_PORTS = [1980, 1981] as const;

function ports(): number[] {
  const raw = process.env.MOCK_PORTS;
  if (!raw) return [...MOCK_PORTS];
  const list = raw.split(',').map((p) => Number(p.trim()));
  if (list.length !== 2 || list.some((p) => !Number.isInteger(p) || p < 1 || p > 65535)) {
    process.stderr.write(`switchyard mock: MOCK_PORTS must be two ports, got "${raw}"\n`);
    process.exit(2);
  }
  return list;
}

function answer(name: string, mock: MockLlm) {
  return (r: MockRequest): MockResponse => {
    mock.requests.length = 0; // a long-running mock keeps no history
    const body = r.body && typeof r.body === 'object' ? r.body : {};
    const model = typeof body.model === 'string' ? body.model : 'mock-model';
    const text = `hello from ${name}`;
    if (r.path.endsWith('/v1/messages')) return { json: anthropicMessage(model, text) };
    if (r.path.endsWith('/embeddings') || (body.messages === undefined && 'input' in body)) return { json: embeddingsList(model) };
    if (body.stream === true) return { sse: sseChat(model, ['hello ', 'from ', name]) };
    return { json: chatCompletion(model, text) };
  };
}

/** starts one mock per port (mock-a, mock-b, …); test/docs/examples.test.ts runs the docs against them */
export async function startTourMocks(list: readonly number[]): Promise<MockLlm[]> {
  const started: MockLlm[] = [];
  for (const [i, port] of list.entries()) {
    const mock = await startMockLlm({ port });
    mock.reply(answer(`mock-${String.fromCharCode(97 + i)}`, mock));
    started.push(mock);
  }
  return started;
}

async function main(): Promise<void> {
  const mocks: MockLlm[] = [];
  for (const [i, port] of ports().entries()) {
    const name = `mock-${i === 0 ? 'a' : 'b'}`;
    try {
      const [mock] = await startTourMocks([port]);
      mock!.reply(answer(name, mock!));
      mocks.push(mock!);
      process.stdout.write(`${name} listening on http://127.0.0.1:${port}\n`);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      process.stderr.write(`switchyard mock: cannot listen on 127.0.0.1:${port}: ${code} (is another mock already running?)\n`);
      process.exit(1);
    }
  }
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      void Promise.all(mocks.map((m) => m.close())).finally(() => process.exit(0));
    });
  }
}

// run only as `npm run mock` (node dist/scripts/mock.js), not when imported
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
