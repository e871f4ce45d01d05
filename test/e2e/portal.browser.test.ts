// The employee portal in a real browser (Debian's Chromium through playwright-core) against the
// real local stack: sign-in with PKCE through the local issuer, grant, pause with its countdown,
// resume, export download, withdraw with erasure, and the history with its actors; the steps
// test (withdrawing costs no more clicks or keys than granting), keyboard-only runs, axe-core on
// every screen, 320 px, screenshots, and the time to interactive. One browser for the whole file.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPortal } from '../../local/portal-build.js';
import { captureBatch } from '../support/capture-batches.js';
import { startTestStack, type ConsentTestStack } from '../support/consent-api.js';
import { canonical, exportApi } from '../support/export-api.js';
import { pollUntil } from '../support/local-stack.js';

const CHROMIUM = '/usr/bin/chromium';
const ROOT = new URL('../../', import.meta.url);
const NOTICE_FILE = new URL('notices/2026-11.md', ROOT);
const AXE_SOURCE = readFileSync(new URL('node_modules/axe-core/axe.min.js', ROOT), 'utf8');
/** Written by every run (not committed); the README shows copies in docs/images/. */
const SCREENSHOTS = new URL('.screenshots/portal/', ROOT);
const DESKTOP = { width: 1280, height: 900 };
const NARROW = { width: 320, height: 720 };

let t: ConsentTestStack;
let browser: Browser;
let portalDir: string;
const started = performance.now();

/**
 * Chromium is part of the test machine (CI installs Debian's `chromium`); without it these tests
 * fail, never skip, so a missing browser cannot pass silently.
 */
beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)`);
  portalDir = mkdtempSync(join(tmpdir(), 'cc-portal-'));
  const [, stack, launched] = await Promise.all([
    buildPortal({ outDir: portalDir, force: true }),
    startTestStack({ portalDir }),
    chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'] }),
  ]);
  t = stack;
  browser = launched;
  mkdirSync(SCREENSHOTS, { recursive: true });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await t?.close();
  if (portalDir !== undefined) rmSync(portalDir, { recursive: true, force: true });
  const line = `portal browser tests took ${Math.round(performance.now() - started)} ms (build, stack, browser and all tests)`;
  process.stdout.write(`${line}\n`);
  // .ci/run prints it again after the suite, where it is easy to find.
  writeFileSync(new URL('timing.txt', SCREENSHOTS), `${line}\n`);
});

interface Steps {
  readonly clicks: number;
  readonly keys: number;
}

/** A page that counts the employee's own input: pointer presses and key presses (trusted events only). */
async function newPage(viewport = DESKTOP, colorScheme: 'light' | 'dark' = 'light'): Promise<{ context: BrowserContext; page: Page; errors: string[] }> {
  const context = await browser.newContext({ viewport, colorScheme, acceptDownloads: true, reducedMotion: 'reduce' });
  const page = await context.newPage();
  const errors: string[] = [];
  // A CSP violation (an inline script, say) is a console error: none may happen.
  page.on('console', (message) => {
    if (message.type() === 'error' && !/status of 404/.test(message.text())) errors.push(message.text());
  });
  page.on('pageerror', (error) => errors.push(error.message));
  // In-page snippets are strings: they run in the browser, not under this file's Node types.
  await page.addInitScript(`
    window.__steps = { clicks: 0, keys: 0 };
    addEventListener('pointerdown', (e) => { if (e.isTrusted) window.__steps.clicks += 1; }, true);
    addEventListener('keydown', (e) => { if (e.isTrusted) window.__steps.keys += 1; }, true);
  `);
  return { context, page, errors };
}

async function steps(page: Page): Promise<Steps> {
  return page.evaluate<Steps>('({ ...window.__steps })');
}

async function resetSteps(page: Page): Promise<void> {
  await page.evaluate('window.__steps.clicks = 0; window.__steps.keys = 0;');
}

/** axe-core run in the page: the serious and critical violations, as `id: targets` lines. */
async function seriousViolations(page: Page): Promise<string[]> {
  // Evaluated through the DevTools protocol, so the page's CSP (no inline script) does not block it.
  await page.evaluate(AXE_SOURCE);
  const violations = await page.evaluate<{ id: string; impact: string | null; targets: string[] }[]>(`
    axe.run(document).then((result) =>
      result.violations.map((v) => ({ id: v.id, impact: v.impact, targets: v.nodes.map((n) => JSON.stringify(n.target)) })))
  `);
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id}: ${v.targets.join(', ')}`);
}

async function expectAccessible(page: Page, screen: string): Promise<void> {
  expect(await seriousViolations(page), `axe on ${screen}`).toEqual([]);
}

async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: new URL(`${name}.png`, SCREENSHOTS).pathname, fullPage: true });
}

/** Milliseconds from the navigation's start to the page's `portal-interactive` mark. */
async function interactiveMs(page: Page): Promise<number> {
  // A selector, not waitForFunction: a string predicate that must be polled is eval'd in the page,
  // which the portal's CSP (script-src 'self') refuses whenever the page is not ready at once.
  await page.waitForSelector('body[data-ready="true"]', { state: 'attached' });
  return page.evaluate<number>(`performance.getEntriesByName('portal-interactive')[0]?.startTime ?? Infinity`);
}

/** Signs in through the local issuer's form with the mouse; returns the time to interactive after the redirect back. */
async function signIn(page: Page, employeeId: string): Promise<number> {
  await page.goto(t.stack.portal);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByLabel('Employee id').fill(employeeId);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { level: 1, name: 'My consent' }).waitFor();
  return interactiveMs(page);
}

/** Presses Tab until the focused element has this accessible text; at most 25 presses. */
async function tabTo(page: Page, name: string | RegExp): Promise<void> {
  for (let i = 0; i < 25; i += 1) {
    await page.keyboard.press('Tab');
    const focused = await page.evaluate<string>(`(() => {
      const el = document.activeElement;
      if (el === null) return '';
      const label = el.id === '' ? null : document.querySelector('label[for="' + el.id + '"]');
      return (label?.textContent ?? el.getAttribute('aria-label') ?? el.textContent ?? '').trim();
    })()`);
    if (typeof name === 'string' ? focused === name : name.test(focused)) return;
  }
  throw new Error(`Tab never reached ${String(name)}`);
}

function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

async function consentOf(employeeId: string): Promise<Record<string, unknown>> {
  const response = await t.call('GET', '/v1/consent', { token: await t.token(employeeId, 'consent:manage') });
  expect(response.status).toBe(200);
  return response.body;
}

describe('serving', () => {
  it('serves the page at / with a strict CSP (no inline script), HSTS, no framing and nosniff', async () => {
    const response = await fetch(t.stack.portal);
    const html = await response.text();
    expect(response.status).toBe(200);
    const csp = response.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).not.toContain('unsafe-eval');
    expect(response.headers.get('strict-transport-security')).toMatch(/^max-age=\d+/);
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    // Every script is a file of the page's own origin.
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
  });

  it('refuses a sign-in that would send the code to another site, a wrong PKCE verifier, and a reused code', async () => {
    // Arrange: a real authorization request, as the page makes it.
    const verifier = 'v'.repeat(50);
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    const redirect = t.stack.portal;
    const authorize = (redirectUri: string): Promise<Response> =>
      fetch(`${t.stack.api}/authorize`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ client_id: 'consent-capture-portal', redirect_uri: redirectUri, response_type: 'code', code_challenge: challenge, code_challenge_method: 'S256', state: 's', employee: 'e-pkce' }),
      });
    const token = (code: string, codeVerifier: string): Promise<Response> =>
      fetch(`${t.stack.api}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'authorization_code', client_id: 'consent-capture-portal', redirect_uri: redirect, code, code_verifier: codeVerifier }),
      });

    // Act + Assert: another site as redirect_uri is refused, with no redirect.
    const evil = await authorize('https://evil.example/');
    expect(evil.status).toBe(400);
    expect(evil.headers.get('location')).toBeNull();

    const ok = await authorize(redirect);
    expect(ok.status).toBe(303);
    const code = new URL(ok.headers.get('location') ?? '').searchParams.get('code') ?? '';
    // A wrong verifier burns the code: an attacker who stole it gets nothing, nor does a retry.
    const wrong = await token(code, 'w'.repeat(50));
    expect(wrong.status).toBe(400);
    expect(await wrong.json()).toMatchObject({ error: 'invalid_grant' });
    expect((await token(code, verifier)).status).toBe(400);

    // The right verifier on a fresh code gets a token that manages consent and can capture nothing.
    const again = await authorize(redirect);
    const fresh = new URL(again.headers.get('location') ?? '').searchParams.get('code') ?? '';
    const granted = await token(fresh, verifier);
    expect(granted.status).toBe(200);
    const { access_token: accessToken } = (await granted.json()) as { access_token: string };
    expect((await t.call('GET', '/v1/consent', { token: accessToken })).status).toBe(200);
    expect((await t.call('POST', '/v1/events', { token: accessToken, body: captureBatch() })).status).toBe(403);
  });
});

describe('the employee flow in the browser', () => {
  const employee = 'e-portal-1';
  const grantSteps: Steps[] = [];
  const withdrawSteps: Steps[] = [];

  it('signs in, reads the notice, grants two scopes; a batch is stored; pauses 15 min with a countdown; a batch is refused; resumes; exports; withdraws with erasure; the purge completes and the history names each actor', async () => {
    const { context, page, errors } = await newPage();
    const { capture } = exportApi(t);

    // The first screen: interactive within a second of navigation.
    await page.goto(t.stack.portal);
    const landingMs = await interactiveMs(page);
    await expectAccessible(page, 'sign-in');
    await screenshot(page, 'sign-in-desktop');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expectAccessible(page, "the local issuer's sign-in form");
    await page.getByLabel('Employee id').fill(employee);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { level: 1, name: 'My consent' }).waitFor();
    const signedInMs = await interactiveMs(page);
    process.stdout.write(`portal interactive: ${Math.round(landingMs)} ms after navigation (sign-in screen), ${Math.round(signedInMs)} ms after the sign-in redirect (token exchange and consent read included)\n`);
    expect(landingMs).toBeLessThan(1000);
    expect(signedInMs).toBeLessThan(1000);
    // The code left the address bar; no token was written to storage.
    expect(new URL(page.url()).search).toBe('');
    expect(await page.evaluate<string>('JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage })')).not.toMatch(/eyJ/);

    expect(await page.getByText('Loading…').count()).toBe(0);
    // Read the notice: the page shows the repository's text exactly.
    const notice = readFileSync(NOTICE_FILE, 'utf8');
    expect(await page.locator('#notice-text').textContent()).toBe(notice);
    await expectAccessible(page, 'notice and consent');
    await screenshot(page, 'consent-desktop');

    // Grant two scopes, counting the steps.
    await resetSteps(page);
    await page.getByRole('checkbox', { name: 'Keystrokes' }).check();
    await page.getByRole('checkbox', { name: 'Clicks' }).check();
    await page.getByRole('button', { name: 'Give consent' }).click();
    await page.locator('.status', { hasText: 'Capture is on for:' }).waitFor();
    grantSteps.push(await steps(page));
    expect(await consentOf(employee)).toMatchObject({ status: 'active', scopes: ['keystrokes', 'clicks'], noticeVersion: '2026-11', noticeSha256: sha256(notice) });
    await screenshot(page, 'active-desktop');

    // An agent batch is stored.
    const beforeCapture = Math.floor(Date.now() / 1000) * 1000;
    const expected = await capture(employee, captureBatch({ deviceId: 'laptop-1', perKind: 2 }), ['keystrokes', 'clicks']);
    const afterCapture = Date.now();
    expect(expected.length).toBe(4);

    // Pause for 15 minutes: the countdown shows and runs.
    await page.getByRole('button', { name: 'Pause' }).click();
    await expectAccessible(page, 'pause panel');
    await screenshot(page, 'pause-desktop');
    await page.getByRole('button', { name: '15 minutes' }).click();
    const timer = page.getByRole('timer');
    await timer.waitFor();
    const first = (await timer.textContent()) ?? '';
    expect(first).toMatch(/^1[45]:\d\d$/);
    await pollUntil(async () => ((await timer.textContent()) ?? '') !== first, { timeoutMs: 3000, what: 'the countdown to move' });
    expect(await consentOf(employee)).toMatchObject({ status: 'paused' });
    await expectAccessible(page, 'paused');
    await screenshot(page, 'paused-desktop');

    // A batch is refused while paused.
    const refused = await t.call('POST', '/v1/events', { token: await t.token(employee, 'capture:write'), body: captureBatch({ deviceId: 'laptop-1' }) });
    expect(refused.status).toBe(403);
    expect(refused.body['error']).toBe('capture-not-permitted');

    // Resume.
    await page.getByRole('button', { name: 'Resume now' }).click();
    await page.locator('.status', { hasText: 'Capture is on for:' }).waitFor();
    expect(await consentOf(employee)).toMatchObject({ status: 'active' });

    // My data: the export downloads through the page, and holds exactly the stored events.
    await page.getByRole('link', { name: 'My data' }).click();
    await page.getByRole('button', { name: 'Prepare my export' }).click();
    const link = page.getByRole('link', { name: /Download my data/ });
    await link.waitFor({ timeout: 30_000 });
    await expectAccessible(page, 'my data');
    await screenshot(page, 'my-data-desktop');
    const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
    const file = await download.path();
    const lines = gunzipSync(readFileSync(file)).toString('utf8').trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(canonical(lines)).toEqual(canonical(expected));
    // The key's last capture is the batch above (the refused one does not count), on the page and in the API.
    await expect.poll(() => page.locator('section[aria-labelledby="last-title"]').textContent()).toMatch(/last stored captured data on/);
    const last = await t.call('GET', '/v1/consent/last-capture', { token: await t.token(employee, 'consent:manage') });
    expect(last.status).toBe(200);
    const lastAt = Date.parse(String(last.body['lastCaptureAt']));
    expect(lastAt).toBeGreaterThanOrEqual(beforeCapture);
    expect(lastAt).toBeLessThanOrEqual(afterCapture);
    // The datasets panel, from GET /v1/consent/datasets: no data set has been built from this employee.
    await expect.poll(() => page.locator('section[aria-labelledby="datasets-title"]').textContent()).toMatch(/No training data set includes your data\./);

    // Withdraw with erasure, counting the steps.
    await page.getByRole('link', { name: 'My consent' }).click();
    await resetSteps(page);
    await page.getByRole('button', { name: 'Withdraw consent' }).click();
    await expectAccessible(page, 'withdraw confirmation');
    await screenshot(page, 'withdraw-desktop');
    await page.getByRole('button', { name: 'Withdraw and erase everything' }).click();
    await page.locator('.status', { hasText: /Your data (is being|was) erased/ }).waitFor();
    withdrawSteps.push(await steps(page));

    // The purge completes, and the page shows it by itself.
    await page.locator('.status', { hasText: 'Your data was erased' }).waitFor({ timeout: 30_000 });
    expect(await consentOf(employee)).toMatchObject({ status: 'purged' });
    await expect.poll(() => page.locator('.status').textContent()).toMatch(/deleted for good on/);
    await screenshot(page, 'erased-desktop');

    // The history shows each step with its actor.
    await page.getByRole('link', { name: 'History' }).click();
    const items = page.locator('ol.history > li');
    await items.first().waitFor();
    const rows = await Promise.all((await items.all()).map(async (li) => `${await li.getAttribute('data-kind')} by ${await li.locator('.actor').textContent()}`));
    const steps_ = rows.filter((r) => !r.startsWith('export-') && !r.startsWith('revoke-swept'));
    expect(steps_).toEqual(['purged by the erasure service', 'erase-requested by You', 'resumed by You', 'paused by You', 'granted by You']);
    await expectAccessible(page, 'history');
    await screenshot(page, 'history-desktop');

    expect(errors).toEqual([]);
    await context.close();
  });

  it('withdrawing takes no more clicks or keys than granting did', () => {
    // Arrange: the counts of the flow above (it must have run).
    const [grant] = grantSteps;
    const [withdraw] = withdrawSteps;
    expect(grant).toBeDefined();
    expect(withdraw).toBeDefined();
    process.stdout.write(`steps with the mouse: grant ${JSON.stringify(grant)}, withdraw with erasure ${JSON.stringify(withdraw)}\n`);
    // Assert
    expect(withdraw?.clicks).toBeLessThanOrEqual(grant?.clicks ?? 0);
    expect(withdraw?.keys).toBeLessThanOrEqual(grant?.keys ?? 0);
    expect(grant?.clicks).toBe(3);
  });
});

describe('keyboard only', () => {
  it('grants and withdraws with the keyboard alone, with visible focus, and the withdrawal takes no more keys than the grant', async () => {
    const employee = 'e-portal-kb';
    const { context, page, errors } = await newPage();
    await page.goto(t.stack.portal);
    await interactiveMs(page);
    await tabTo(page, 'Sign in');
    await page.keyboard.press('Enter');
    await page.getByLabel('Employee id').waitFor();
    await page.keyboard.type(employee);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 1, name: 'My consent' }).waitFor();

    // Grant two scopes with Tab and Space, then Enter on the button.
    await resetSteps(page);
    await tabTo(page, 'Keystrokes');
    // Focus is visible: an outline of real width on the focused control.
    expect(await page.evaluate<string>('getComputedStyle(document.activeElement).outlineStyle')).not.toBe('none');
    await page.keyboard.press('Space');
    await tabTo(page, 'Clicks');
    await page.keyboard.press('Space');
    await tabTo(page, 'Give consent');
    await page.keyboard.press('Enter');
    await page.locator('.status', { hasText: 'Capture is on for:' }).waitFor();
    const grant = await steps(page);
    expect(await consentOf(employee)).toMatchObject({ status: 'active', scopes: ['keystrokes', 'clicks'] });

    // Withdraw with erasure, keys only.
    await resetSteps(page);
    await tabTo(page, 'Withdraw consent');
    await page.keyboard.press('Enter');
    await tabTo(page, 'Withdraw and erase everything');
    await page.keyboard.press('Enter');
    await page.locator('.status', { hasText: /Your data (is being|was) erased/ }).waitFor();
    const withdraw = await steps(page);
    process.stdout.write(`steps with the keyboard: grant ${JSON.stringify(grant)}, withdraw with erasure ${JSON.stringify(withdraw)}\n`);
    expect(grant.clicks).toBe(0);
    expect(withdraw.clicks).toBe(0);
    expect(withdraw.keys).toBeLessThanOrEqual(grant.keys);
    expect(['purging', 'purged']).toContain((await consentOf(employee))['status']);
    expect(errors).toEqual([]);
    await context.close();
  });
});

describe('a pause that lapses', () => {
  it('counts down to zero, then asks the API again by itself and shows capture on, as the key does', async () => {
    // Arrange: the page's clock is Playwright's, so 15 minutes pass in an instant (the API's do not).
    const { context, page, errors } = await newPage();
    await page.clock.install();
    await signIn(page, 'e-portal-lapse');
    await page.getByRole('checkbox', { name: 'Clicks' }).check();
    await page.getByRole('button', { name: 'Give consent' }).click();
    await page.getByRole('button', { name: 'Pause' }).click();
    await page.getByRole('button', { name: '15 minutes' }).click();
    await page.getByRole('timer').waitFor();
    // The API, asked after the lapse, reads the lapsed pause as active (the server's clock has not moved, so it answers for it).
    let reads = 0;
    await page.route('**/v1/consent', async (route) => {
      if (route.request().method() !== 'GET') return route.fallback();
      reads += 1;
      const real = await route.fetch();
      const { pausedUntil: _lapsed, ...state } = (await real.json()) as Record<string, unknown>;
      return route.fulfill({ response: real, json: { ...state, status: 'active' } });
    });

    // Act
    await page.clock.fastForward('15:01');
    await page.clock.runFor(2000);

    // Assert
    await page.locator('.status', { hasText: 'Capture is on for:' }).waitFor({ timeout: 10_000 });
    expect(reads).toBeGreaterThanOrEqual(1);
    expect(await page.getByRole('timer').count()).toBe(0);
    expect(errors).toEqual([]);
    await context.close();
  });
});

describe('at 320 px', () => {
  it('fits every screen in 320 px without sideways scrolling, with no serious axe violations in the dark scheme, and shows API errors in words', async () => {
    const employee = 'e-portal-narrow';
    // Dark here, light on the desktop: axe checks the contrast of both colour schemes.
    const { context, page, errors } = await newPage(NARROW, 'dark');
    expect(await page.evaluate<boolean>("matchMedia('(prefers-color-scheme: dark)').matches")).toBe(true);
    await page.goto(t.stack.portal);
    await interactiveMs(page);
    await screenshot(page, 'sign-in-320');
    await signIn(page, employee);
    const fits = (): Promise<boolean> => page.evaluate<boolean>('document.documentElement.scrollWidth <= window.innerWidth');

    expect(await fits()).toBe(true);
    await expectAccessible(page, 'consent at 320 px');
    await screenshot(page, 'consent-320');

    await page.getByRole('checkbox', { name: 'Application focus' }).check();
    await page.getByRole('button', { name: 'Give consent' }).click();
    await page.getByRole('button', { name: 'Pause' }).click();
    expect(await fits()).toBe(true);
    await screenshot(page, 'pause-320');

    // A failing API answer (here a 500 carrying a stack trace) is shown as a sentence, never as JSON.
    await page.route('**/v1/consent/pause', (route) =>
      route.fulfill({ status: 500, contentType: 'application/json', body: JSON.stringify({ error: 'internal', message: 'Error: boom at /var/task/index.js:1' }) }),
    );
    await page.getByRole('button', { name: '1 hour' }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    expect(await alert.textContent()).toBe('The service had a problem. Nothing was changed; try again in a minute.');
    await page.unroute('**/v1/consent/pause');
    await page.getByRole('button', { name: '1 hour' }).click();
    await page.getByRole('timer').waitFor();
    expect(await fits()).toBe(true);
    await expectAccessible(page, 'paused at 320 px');
    await screenshot(page, 'paused-320');

    await page.getByRole('button', { name: 'Withdraw consent' }).click();
    expect(await fits()).toBe(true);
    await screenshot(page, 'withdraw-320');

    // The datasets panel with a data set in it, in the shape GET /v1/consent/datasets answers with
    // (served here by the test: building a real one needs 10 consenting employees): purpose, scopes
    // and expiry, in words.
    await page.route('**/v1/consent/datasets', (route) =>
      route.fulfill({
        json: { datasets: [{ datasetId: 'ds-1', purpose: 'Autocomplete for support replies', scopes: ['keystrokes'], createdAt: '2026-11-02T09:00:00Z', expiresAt: '2027-05-02T09:00:00Z', status: 'ready' }] },
      }),
    );
    for (const [link, name] of [
      ['History', 'history'],
      ['My data', 'my-data'],
    ] as const) {
      await page.getByRole('link', { name: link }).click();
      await page.getByRole('heading', { level: 1, name: link }).waitFor();
      await page.waitForLoadState('networkidle');
      // Another employee's batches (e-portal-1 stored some) never count as this one's.
      if (name === 'my-data') {
        await page.getByText('Your key has not stored anything in the last 8 days.').waitFor();
        const datasets = (await page.locator('ul.datasets').textContent()) ?? '';
        expect(datasets).toContain('Autocomplete for support replies');
        expect(datasets).toMatch(/Includes your Keystrokes · made .*2026.* · expires .*2027/);
      }
      expect(await fits(), `${name} fits`).toBe(true);
      await expectAccessible(page, `${name} at 320 px`);
      await screenshot(page, `${name}-320`);
    }
    // An expired token (401) signs the page out, says so in words, and forgets who was signed in.
    await page.route('**/v1/consent/history', (route) => route.fulfill({ status: 401, json: { error: 'unauthorized', message: 'the token has expired' } }));
    await page.getByRole('link', { name: 'History' }).click();
    await page.getByRole('alert').filter({ hasText: 'Your session has ended. Sign in again.' }).waitFor();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    expect(await page.getByText(employee).count()).toBe(0);

    // The routes the 500 and the 401 came from log failed requests; anything else would be an error.
    expect(errors.filter((e) => !/status of (500|401)/.test(e))).toEqual([]);
    await context.close();
  });
});
