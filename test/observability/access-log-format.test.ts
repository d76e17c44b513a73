// Access log formatter units (R-ALOG-3..7, R-GEN-19 access_log_format_escape).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  compileAccessLogFormat,
  unknownAccessLogVariables,
  DEFAULT_ACCESS_LOG_FORMAT,
} from '../../src/observability/access-log.js';
import { escapeDefault, escapeJson, parseFormat } from '../../src/observability/format.js';

type Vars = Record<string, string | number | undefined>;
const getter = (vars: Vars) => (name: string) => vars[name];

/** the seed's access_log_format (APISIX ai-proxy-multi doc), with `$request_line` (D14) */
const SEED_FORMAT =
  '$remote_addr - $remote_user [$time_local] $http_host "$request_line" $status $body_bytes_sent $request_time "$http_referer" "$http_user_agent" $upstream_addr $upstream_status $upstream_response_time "$upstream_scheme://$upstream_host$upstream_uri" "$apisix_upstream_response_time" "$request_type" "$llm_time_to_first_token" "$llm_model" "$request_llm_model"  "$llm_prompt_tokens" "$llm_completion_tokens"';

test('R-ALOG-4: $name takes the longest [A-Za-z0-9_] run, ${name} delimits, the rest is literal', () => {
  const parts = parseFormat('a$host-$http_x_y.${status}z$ $1x ${bad-name}');
  assert.deepEqual(
    parts.map((p) => (p.kind === 'literal' ? `L:${p.text}` : `V:${p.name}`)),
    ['L:a', 'V:host', 'L:-', 'V:http_x_y', 'L:.', 'V:status', 'L:z$ ', 'V:1x', 'L: ${bad-name}'],
  );
  const f = compileAccessLogFormat('${host}x $hostx');
  assert.equal(f.render(getter({ host: 'h', hostx: 'nope' })), 'hx -');
});

test('R-ALOG-4: absent variables render "-", empty LLM strings render "" (R-VAR-1 defaults)', () => {
  const f = compileAccessLogFormat('"$http_referer" "$remote_user" "$llm_model" "$request_llm_model" "$llm_content_risk_level" "$request_type" "$llm_prompt_tokens"');
  assert.equal(
    f.render(getter({ llm_model: '', request_llm_model: '', request_type: 'traditional_http', llm_prompt_tokens: 0 })),
    '"-" "-" "" "" "" "traditional_http" "0"',
  );
  // the LLM variables fall back to their R-VAR-1 defaults even if the context has none
  assert.equal(f.render(getter({})), '"-" "-" "" "" "" "traditional_http" "0"');
});

test('R-ALOG-5: default escaping turns ", \\ and bytes outside 0x20..0x7E into \\xHH; literals untouched', () => {
  assert.equal(escapeDefault('plain text ~'), 'plain text ~');
  assert.equal(escapeDefault('a"b\\c'), 'a\\x22b\\x5Cc');
  assert.equal(escapeDefault('tab\there\nnl\x7f'), 'tab\\x09here\\x0Anl\\x7F');
  assert.equal(escapeDefault('é'), '\\xC3\\xA9');
  const f = compileAccessLogFormat('"$http_user_agent" \\lit"');
  assert.equal(f.render(getter({ http_user_agent: 'x"y' })), '"x\\x22y" \\lit"');
});

test('R-ALOG-5: escapeDefault is the same byte mapping for short values (checked by a loop) and long ones (by a regex)', () => {
  // the reference: every UTF-8 byte outside 0x20..0x7E, and " and \, as \xHH
  const reference = (s: string) => [...Buffer.from(s, 'utf8')].map((b) => (b === 0x22 || b === 0x5c || b < 0x20 || b > 0x7e ? '\\x' + b.toString(16).toUpperCase().padStart(2, '0') : String.fromCharCode(b))).join('');
  const chars = fc.oneof(fc.constantFrom('a', ' ', '~', '"', '\\', '\n', '\x7f', '\x1f', 'é', '€', '😀'), fc.string({ minLength: 1, maxLength: 1 }));
  fc.assert(fc.property(fc.array(chars, { maxLength: 140 }).map((a) => a.join('')), (s) => {
    assert.equal(escapeDefault(s), reference(s));
  }), { numRuns: 2000 });
  // both sides of the length where the check changes
  for (const n of [63, 64, 65]) {
    assert.equal(escapeDefault('a'.repeat(n)), 'a'.repeat(n));
    assert.equal(escapeDefault('a'.repeat(n - 1) + '"'), 'a'.repeat(n - 1) + '\\x22');
  }
});

test('R-GEN-19 R-ALOG-5: access_log_format_escape json escapes as in a JSON string; absent is empty (nginx)', () => {
  assert.equal(escapeJson('a"b\\c\n\t\x01é'), 'a\\"b\\\\c\\n\\t\\u0001é');
  const f = compileAccessLogFormat('{"ua":"$http_user_agent","ref":"$http_referer","m":"$llm_model","x":"$nope"}', 'json');
  const line = f.render(getter({ http_user_agent: 'say "hi"\n', llm_model: 'gpt-4' }));
  assert.equal(line, '{"ua":"say \\"hi\\"\\n","ref":"","m":"gpt-4","x":"-"}');
  assert.deepEqual(JSON.parse(line), { ua: 'say "hi"\n', ref: '', m: 'gpt-4', x: '-' });
});

test('R-ALOG-6: unknown variables render "-" and are reported; $request_line is an alias of $request', () => {
  assert.deepEqual(unknownAccessLogVariables('$foo $host $bar_baz $foo $http_anything $request_line'), ['foo', 'bar_baz']);
  assert.deepEqual(unknownAccessLogVariables(DEFAULT_ACCESS_LOG_FORMAT), []);
  assert.deepEqual(unknownAccessLogVariables(SEED_FORMAT), []);
  const f = compileAccessLogFormat('"$request_line" $foo');
  assert.equal(f.render(getter({ request: 'POST /anything HTTP/1.1', foo: 'x' })), '"POST /anything HTTP/1.1" -');
});

test('R-ALOG-3: the default format renders every field, with "-" for absent upstream values', () => {
  const f = compileAccessLogFormat(DEFAULT_ACCESS_LOG_FORMAT);
  const line = f.render(getter({
    remote_addr: '127.0.0.1', time_local: '21/Mar/2025:04:28:03 +0000', http_host: 'localhost:9080',
    request: 'GET /hello HTTP/1.1', status: 404, body_bytes_sent: 42, request_time: '0.001',
    http_user_agent: 'curl/8.6.0', apisix_request_id: 'a'.repeat(32),
  }));
  assert.equal(line, `127.0.0.1 - - [21/Mar/2025:04:28:03 +0000] localhost:9080 "GET /hello HTTP/1.1" 404 42 0.001 "-" "curl/8.6.0" - - - "-://--" "${'a'.repeat(32)}"`);
});

test('R-ALOG-7 R-SCN-7: the seed format for an AI chat request and for a traditional request', () => {
  const f = compileAccessLogFormat(SEED_FORMAT);
  const ai = f.render(getter({
    remote_addr: '192.168.215.1', time_local: '21/Mar/2025:04:28:03 +0000', http_host: 'localhost:9080',
    request: 'POST /anything HTTP/1.1', status: 200, body_bytes_sent: 804, request_time: '2.858',
    http_user_agent: 'curl/8.6.0', upstream_addr: '127.0.0.1:1980', upstream_status: '200', upstream_response_time: '2.857',
    upstream_scheme: 'http', upstream_host: 'api.openai.com', upstream_uri: '/v1/chat/completions',
    apisix_upstream_response_time: 5765, request_type: 'ai_chat', llm_time_to_first_token: 2858,
    llm_model: 'gpt-4', request_llm_model: 'gpt-4', llm_prompt_tokens: 23, llm_completion_tokens: 8,
  }));
  assert.ok(ai.endsWith('"5765" "ai_chat" "2858" "gpt-4" "gpt-4"  "23" "8"'), ai);
  assert.ok(ai.includes('"POST /anything HTTP/1.1"'), ai);
  const noModel = f.render(getter({ request_type: 'ai_chat', llm_time_to_first_token: 12, llm_model: 'gpt-4', request_llm_model: '', llm_prompt_tokens: 23, llm_completion_tokens: 8 }));
  assert.ok(noModel.endsWith('"ai_chat" "12" "gpt-4" ""  "23" "8"'), noModel);
  const plain = f.render(getter({ request_type: 'traditional_http', llm_time_to_first_token: 0, llm_model: '', request_llm_model: '', llm_prompt_tokens: 0, llm_completion_tokens: 0 }));
  assert.ok(plain.endsWith('"traditional_http" "0" "" ""  "0" "0"'), plain);
});

test('R-ALOG-4: credentials are never written: auth headers and key-auth query arguments are redacted', () => {
  const f = compileAccessLogFormat('"$http_authorization" "$http_apikey" "$request" "$request_uri" "$args" "$arg_apikey" "$arg_a" "$upstream_uri"');
  const line = f.render(getter({
    http_authorization: 'Bearer secret', http_apikey: 'k', request: 'GET /p?a=1&apikey=k HTTP/1.1',
    request_uri: '/p?apikey=k&a=1', args: 'apikey=k', arg_apikey: 'k', arg_a: '1', upstream_uri: '/p?apikey=k&a=1',
  }));
  assert.equal(line, '"-" "-" "GET /p?a=1 HTTP/1.1" "/p?a=1" "" "-" "1" "/p?a=1"');
  assert.ok(!line.includes('secret'));
});
