import { test } from 'node:test';
import assert from 'node:assert/strict';
import { providers, getProvider } from '../../src/llm/providers/index.js';
import { compileInstance, resolveTarget } from '../../src/llm/instance.js';
import { GcpTokenCache } from '../../src/llm/providers/gcp-token.js';

const TOKENS = new GcpTokenCache();
const T = { timeout: 1000, keepalive: true, keepalive_timeout: 60000, keepalive_pool: 30, ssl_verify: true };

test('R-PRV-1: default origins and paths per provider and protocol', () => {
  const table: [string, string | undefined, Record<string, string>][] = [
    ['openai', 'api.openai.com', { 'openai-chat': '/v1/chat/completions', 'openai-responses': '/v1/responses', 'openai-embeddings': '/v1/embeddings' }],
    ['deepseek', 'api.deepseek.com', { 'openai-chat': '/chat/completions' }],
    ['aimlapi', 'api.aimlapi.com', { 'openai-chat': '/chat/completions' }],
    ['anthropic', 'api.anthropic.com', { 'openai-chat': '/v1/chat/completions', 'anthropic-messages': '/v1/messages' }],
    ['openrouter', 'openrouter.ai', { 'openai-chat': '/api/v1/chat/completions' }],
    ['gemini', 'generativelanguage.googleapis.com', { 'openai-chat': '/v1beta/openai/chat/completions' }],
    ['azure-openai', undefined, { 'openai-chat': '/completions', 'openai-embeddings': '/embeddings' }],
    ['openai-compatible', undefined, { 'openai-chat': '/v1/chat/completions', 'openai-responses': '/v1/responses', 'openai-embeddings': '/v1/embeddings' }],
  ];
  assert.equal(providers.size, 10);
  for (const [name, host, paths] of table) {
    const p = getProvider(name);
    assert.deepEqual(Object.keys(p.paths), Object.keys(paths), name);
    const inst = compileInstance({ name: 'x', provider: name, weight: 1, auth: {} }, 0, T, 'k', TOKENS);
    for (const [proto, pth] of Object.entries(paths)) {
      const t = resolveTarget(inst, proto as any, 'm');
      if (host === undefined) {
        assert.equal(t, undefined, `${name} needs override.endpoint (R-PRV-3)`);
        const o = compileInstance({ name: 'x', provider: name, weight: 1, auth: {}, override: { endpoint: 'https://h.example' } }, 0, T, 'k', TOKENS);
        assert.equal(resolveTarget(o, proto as any, 'm')!.pathWithQuery, pth);
      } else {
        assert.equal(t!.origin, `https://${host}`);
        assert.equal(t!.port, 443);
        assert.equal(t!.pathWithQuery, pth);
      }
    }
  }
  assert.equal(getProvider('azure-openai').removeModel, true);
  // R-BDR-1: the region's runtime host, the model (one segment) and streaming in the path
  const br = compileInstance({ name: 'x', provider: 'bedrock', weight: 1, provider_conf: { region: 'eu-west-1' }, auth: { aws: { access_key_id: 'a', secret_access_key: 's' } } }, 0, T, 'k', TOKENS);
  assert.equal(resolveTarget(br, 'bedrock-converse', 'arn:aws:bedrock:x/p')!.origin, 'https://bedrock-runtime.eu-west-1.amazonaws.com');
  assert.equal(resolveTarget(br, 'bedrock-converse', 'arn:aws:bedrock:x/p')!.pathWithQuery, '/model/arn%3Aaws%3Abedrock%3Ax%2Fp/converse');
  assert.equal(resolveTarget(br, 'bedrock-converse', 'm', true)!.pathWithQuery, '/model/m/converse-stream');
  assert.equal(getProvider('bedrock').removeModel, true);
  assert.throws(() => getProvider('nope'));
});

test('R-PRV-4 R-HC-3: vertex-ai with override uses the endpoint; host for health checks', () => {
  const o = compileInstance({ name: 'v', provider: 'vertex-ai', weight: 1, auth: {}, override: { endpoint: 'http://127.0.0.1:8080/custom/path' } }, 0, T, 'k', TOKENS);
  assert.equal(resolveTarget(o, 'openai-chat', 'g')!.pathWithQuery, '/custom/path');
  assert.deepEqual(o.hostInfo, { scheme: 'http', host: '127.0.0.1', port: 8080 });
  const p = compileInstance({ name: 'v', provider: 'vertex-ai', weight: 1, auth: {}, provider_conf: { project_id: 'p', region: 'europe-west4' } }, 0, T, 'k', TOKENS);
  assert.deepEqual(p.hostInfo, { scheme: 'https', host: 'europe-west4-aiplatform.googleapis.com', port: 443 });
  const n = compileInstance({ name: 'c', provider: 'openai-compatible', weight: 1, auth: {} }, 0, T, 'k', TOKENS);
  assert.equal(n.hostInfo, undefined);
});
