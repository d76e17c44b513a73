// Every relative link and anchor in README.md and docs/*.md resolves (issue 15, docs that match).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/** The markdown text outside fenced code blocks. */
function prose(text: string): string {
  let inFence = false;
  return text.split('\n').filter((line) => {
    if (line.startsWith('```')) { inFence = !inFence; return false; }
    return !inFence;
  }).join('\n');
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to '-', repeats numbered. */
function anchors(text: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const line of prose(text).split('\n')) {
    const m = /^#{1,6} (.*)$/.exec(line);
    if (!m) continue;
    const base = m[1]!.trim().toLowerCase().replace(/[^\p{L}\p{N}_\- ]/gu, '').replace(/ /g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

const pages = ['README.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

test('issue 15: every relative link and anchor in README.md and docs/*.md resolves', () => {
  const broken: string[] = [];
  for (const page of pages) {
    const text = readFileSync(join(root, page), 'utf8');
    const body = prose(text).replace(/`[^`\n]*`/g, '');
    for (const m of body.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = m[1]!;
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // http:, https:, mailto:
      const [file, anchor] = target.split('#') as [string, string | undefined];
      const path = file === '' ? join(root, page) : resolve(dirname(join(root, page)), file);
      if (!existsSync(path)) { broken.push(`${page}: ${target} (no file)`); continue; }
      if (anchor !== undefined && path.endsWith('.md') && !anchors(readFileSync(path, 'utf8')).has(anchor)) {
        broken.push(`${page}: ${target} (no heading for #${anchor})`);
      }
    }
  }
  assert.deepEqual(broken, []);
});

test('issue 15: README.md is the front door, at most 300 lines, and states the test command', () => {
  const text = readFileSync(join(root, 'README.md'), 'utf8');
  assert.ok(text.split('\n').length <= 300, 'README.md is longer than 300 lines');
  assert.match(text, /npm test/);
  assert.match(text, /per worker/);
});
