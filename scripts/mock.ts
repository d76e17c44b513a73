// Local OpenAI-compatible mock upstreams for the README tour (npm run mock).
// Two instances on fixed ports so a route can balance and fall back without real provider keys.
// They are the tests' mock provider (test/helpers/mock-llm.ts), answering chat
// completions with "hello from mock-a" / "hello from mock-b"; test/docs/examples.test.ts
// starts the same mocks on free ports to run the documentation's examples.
import { pathToFileURL } from 'node:url';
import { chatCompletion, embeddingsList, sseChat, startMockLlm, type MockLlm } from '../test/helpers/mock-llm.js';

export const MOCK_PORTS = [1980, 1981] as const;
export const MOCK_USAGE = { prompt_tokens: 5, completion_tokens: 4, total_tokens: 9 };

/** starts one tour mock per port: mock-a on the first, mock-b on the second, … */
export async function startTourMocks(ports: readonly number[]): Promise<MockLlm[]> {
  const mocks: MockLlm[] = [];
  for (const [i, port] of ports.entries()) {
    const name = `mock-${String.fromCharCode(97 + i)}`;
    const mock = await startMockLlm({ port });
    mock.reply((req) => {
      const model = typeof req.body?.model === 'string' ? req.body.model : 'mock-model';
      if (req.body && req.body.messages === undefined && 'input' in req.body) return { json: embeddingsList(model) };
      if (req.body?.stream === true) return { sse: sseChat(model, ['hello ', 'from ', name], MOCK_USAGE) };
      return { json: chatCompletion(model, `hello from ${name}`, MOCK_USAGE) };
    });
    mocks.push(mock);
  }
  return mocks;
}

async function main(): Promise<void> {
  let mocks: MockLlm[];
  try {
    mocks = await startTourMocks(MOCK_PORTS);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    process.stderr.write(`switchyard mock: cannot listen on 127.0.0.1:${MOCK_PORTS.join('/')}: ${e.code ?? e.message} (is another mock already running?)\n`);
    process.exit(1);
  }
  for (const m of mocks) process.stdout.write(`mock-${String.fromCharCode(97 + mocks.indexOf(m))} listening on ${m.url}\n`);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => { void Promise.all(mocks.map((m) => m.close())).then(() => process.exit(0)); });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) void main();
