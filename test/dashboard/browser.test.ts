// The dashboard in a real browser (R-UI-1): Debian's headless Chromium driven
// by playwright-core. Sign in, send traffic through the gateway to the mock
// upstreams, see the numbers change, change a route as admin, see that a
// viewer cannot, and check that the page fetched nothing from elsewhere.
// The screenshot is written to test-output/dashboard.png.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { ADMIN_KEY, REPO_ROOT } from '../helpers/gateway.js';
import { startFixture, VIEWER_KEY, ALICE, type Fixture } from './fixture.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const OUTPUT_DIR = path.join(REPO_ROOT, 'test-output');
// CI installs chromium (.ci/run); elsewhere a machine without it skips
const skip = !existsSync(CHROMIUM) && !process.env.CI ? `no browser at ${CHROMIUM}` : false;

describe('R-UI-1 dashboard in headless Chromium', { skip }, () => {
  let f: Fixture;
  let browser: Browser;
  const outside: string[] = [];

  before(async () => {
    f = await startFixture();
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  });
  after(async () => {
    await browser?.close();
    await f?.close();
  });

  async function open(): Promise<Page> {
    const page = await browser.newPage({ viewport: { width: 1500, height: 1300 } });
    const origin = new URL(f.gw.adminUrl).origin;
    page.on('request', (r) => {
      if (!r.url().startsWith(origin + '/')) outside.push(r.url());
    });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => {
      if (m.type() === 'error' && !/401/.test(m.text())) errors.push(m.text());
    });
    (page as unknown as { errors: string[] }).errors = errors;
    await page.goto(f.gw.adminUrl + '/ui/');
    return page;
  }

  async function signIn(page: Page, key: string): Promise<void> {
    await page.fill('input[name=key]', key);
    await page.click('button[type=submit]');
  }

  const cell = (page: Page, route: string, inst: string, id: string) =>
    page.locator(`[data-testid=instances] tr[data-route="${route}"][data-instance="${inst}"] [data-testid=${id}]`);

  test('R-UI-1 a wrong key is refused on the sign-in form', async () => {
    const page = await open();
    await signIn(page, 'not-a-key');
    await page.waitForSelector('[data-testid=signin-error]');
    assert.match(await page.textContent('[data-testid=signin-error]') ?? '', /wrong apikey/);
    await page.close();
  });

  test('R-UI-1 admin signs in, sends traffic, sees the numbers change, disables and enables a route; screenshot', async () => {
    const page = await open();
    await signIn(page, ADMIN_KEY);
    await page.waitForSelector('[data-testid=instances]');
    assert.equal(await page.textContent('[data-testid=role]'), 'admin');
    assert.equal(await cell(page, 'chat', 'inst-a', 'requests').textContent(), '0');

    for (let i = 0; i < 4; i++) assert.equal(await f.chat('/v1/chat/completions', ALICE), 200);
    f.mockA.reply({ status: 500, json: { error: { message: 'boom' } } });
    try {
      assert.equal(await f.chat('/v1/chat/completions', ALICE), 200);
    } finally {
      f.mockA.reset();
    }
    assert.equal(await f.chat('/v1/chat/completions', ALICE, true), 200);

    // the page refreshes by itself (≤ 2 s): wait for the numbers, not for a time
    await cell(page, 'chat', 'inst-a', 'requests').filter({ hasText: /^6$/ }).waitFor({ timeout: 10_000 });
    assert.equal(await cell(page, 'chat', 'inst-a', 'failures').textContent(), '500×1');
    assert.equal(await cell(page, 'chat', 'inst-b', 'requests').textContent(), '1');
    assert.equal(await cell(page, 'chat', 'inst-b', 'health').textContent(), 'healthy');
    assert.equal(await cell(page, 'chat', 'inst-a', 'health').textContent(), 'no checks');
    assert.match(await cell(page, 'chat', 'inst-a', 'prompt-tokens').textContent() ?? '', /^\d+$/);
    assert.notEqual(await cell(page, 'chat', 'inst-a', 'prompt-tokens').textContent(), '0');
    assert.match(await cell(page, 'chat', 'inst-a', 'latency').textContent() ?? '', /^\d/);
    assert.match(await cell(page, 'chat', 'inst-a', 'ttft').textContent() ?? '', /^\d/, 'the streamed request has a TTFT');
    const quota = page.locator('[data-testid=quotas] tr[data-consumer="*"][data-instance="inst-a"]');
    assert.notEqual(await quota.locator('[data-testid=used]').textContent(), '0');
    const rows = page.locator('[data-testid=recent] tbody tr');
    assert.equal(await rows.count(), 6);
    const fallback = rows.filter({ hasText: 'inst-a: 500' });
    assert.equal(await fallback.count(), 1);
    assert.match(await fallback.locator('[data-testid=attempts]').textContent() ?? '', /inst-a: 500 \d+ms.*inst-b: ok \d+ms/);

    // an admin can change a route from the page
    const route = page.locator('[data-testid=routes] tr[data-route=metered]');
    await route.locator('[data-testid=toggle-route]').click();
    await route.locator('[data-testid=route-status]').filter({ hasText: 'disabled' }).waitFor({ timeout: 10_000 });
    const stored = await f.gw.admin('GET', '/apisix/admin/routes/metered');
    assert.equal(stored.body.value.status, 0);
    await route.locator('[data-testid=toggle-route]').click();
    await route.locator('[data-testid=route-status]').filter({ hasText: 'enabled' }).waitFor({ timeout: 10_000 });

    mkdirSync(OUTPUT_DIR, { recursive: true });
    const shot = path.join(OUTPUT_DIR, 'dashboard.png');
    await page.screenshot({ path: shot, fullPage: true });
    assert.ok(existsSync(shot));
    assert.deepEqual((page as unknown as { errors: string[] }).errors, []);
    await page.close();
  });

  test('R-UI-1 a viewer sees the same numbers and cannot change anything', async () => {
    const page = await open();
    await signIn(page, VIEWER_KEY);
    await page.waitForSelector('[data-testid=instances]');
    assert.equal(await page.textContent('[data-testid=role]'), 'viewer (read only)');
    assert.notEqual(await cell(page, 'chat', 'inst-a', 'requests').textContent(), '0');
    const buttons = page.locator('[data-testid=toggle-route]');
    assert.equal(await buttons.count(), 2);
    for (let i = 0; i < 2; i++) assert.equal(await buttons.nth(i).isDisabled(), true);
    // and the Admin API refuses the write the page would have made
    const status = await page.evaluate(async (key) => {
      const r = await fetch('/apisix/admin/routes/chat', { method: 'PATCH', headers: { 'X-API-KEY': key, 'Content-Type': 'application/json' }, body: '{"status":0}' });
      return r.status;
    }, VIEWER_KEY);
    assert.equal(status, 401);
    assert.equal((await f.gw.admin('GET', '/apisix/admin/routes/chat')).body.value.status ?? 1, 1);
    await page.screenshot({ path: path.join(OUTPUT_DIR, 'dashboard-viewer.png'), fullPage: true });
    await page.close();
  });

  test('R-UI-1 nothing was fetched from outside the Admin listener', () => {
    assert.deepEqual(outside, []);
  });
});
