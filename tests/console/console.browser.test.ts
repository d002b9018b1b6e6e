/**
 * The console in headless Chromium (Debian's package, driven by
 * playwright-core), against a real server: keys refused, sign-in with the
 * keyboard, the example personas, a manifest broken on disk and its problem
 * shown at its line without a reload, an API tool tried against a local API,
 * tool calls appearing in the live list as they happen, DND turned on and
 * off, sign-out; and through it all no request to another origin, nothing
 * refused by the page's Content-Security-Policy, no script error, every
 * field labelled, nothing axe-core finds against WCAG 2.1 AA in any view
 * (contrast among it), and the key never in a URL or a cookie.
 */
import fs from 'node:fs';

import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { auditRows } from '../helpers/admin.ts';
import { callHeaders, connect } from '../helpers/server.ts';
import { accessibilityViolations, launchChromium, manifestFile, readManifest, SHOP_TOKEN, signIn, startConsoleFixture, type ConsoleFixture } from './fixture.ts';

let fixture: ConsoleFixture;
let browser: Browser;
let context: BrowserContext;
let page: Page;
/** Script errors, console errors (CSP violations are reported there) and requests to other origins. */
const troubles: string[] = [];
/** Every URL the page requested. */
const requested: string[] = [];

/** The fields of the page that no label names. */
const unlabelled = (target: Page): Promise<string[]> =>
  target.evaluate(() =>
    [...document.querySelectorAll('input, select, textarea')]
      .filter((field) => (field as HTMLInputElement).labels?.length === 0 && !field.getAttribute('aria-label') && !field.getAttribute('aria-labelledby'))
      .map((field) => field.outerHTML),
  );

async function openConsole(hash = ''): Promise<void> {
  await page.goto(`${fixture.consoleUrl}${hash}`);
}

beforeAll(async () => {
  fixture = await startConsoleFixture();
  browser = await launchChromium();
  context = await browser.newContext();
  page = await context.newPage();
  const origin = new URL(fixture.server.url).origin;
  page.on('pageerror', (error) => troubles.push(`script error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error' && !/Failed to load resource: the server responded with a status of 40[13]/.test(message.text())) troubles.push(`console: ${message.text()}`);
  });
  page.on('request', (request) => {
    requested.push(request.url());
    if (new URL(request.url()).origin !== origin) troubles.push(`request to another origin: ${request.url()}`);
  });
});

afterAll(async () => {
  await browser?.close();
  await fixture?.close();
});

describe('the console in a browser', () => {
  it('refuses a wrong key and a key of another account, and keeps neither', async () => {
    await openConsole();
    await expect.poll(() => unlabelled(page)).toEqual([]);
    expect(await accessibilityViolations(page)).toEqual([]);
    await signIn(page, 'acme', 'sb_this_is_not_a_key');
    await expect.poll(() => page.getByRole('alert').filter({ hasText: 'Not signed in' }).textContent()).toContain('Invalid or revoked API key');

    await signIn(page, 'acme', await fixture.server.key('globex', 'admin'));
    await expect.poll(() => page.locator('#sign-in-error').textContent()).toContain('does not belong to the account');

    await signIn(page, 'acme', await fixture.server.key('acme', 'mcp'));
    await expect.poll(() => page.locator('#sign-in-error').textContent()).toContain('role mcp');

    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
    expect(await page.getByRole('heading', { name: 'Manifests' }).count()).toBe(0);
  });

  it('signs in with the keyboard and shows the example personas', async () => {
    await signIn(page, 'acme', fixture.admin);
    await page.getByRole('heading', { name: 'Manifests', level: 1 }).waitFor();
    const personas = page.getByRole('table', { name: 'Personas in force' });
    await expect.poll(() => personas.locator('tbody tr td:first-child').allTextContents()).toEqual(['after-hours', 'front-desk', 'shop-desk']);
    expect(await page.locator('#problems').textContent()).toContain('None');
    expect(await page.locator('#last-good').textContent()).toContain('No');
    await page.getByRole('status').filter({ hasText: 'Live' }).waitFor();
    expect(await accessibilityViolations(page)).toEqual([]);

    // The key lives in this tab's session storage only: not in the URL, not in a cookie.
    expect(await page.evaluate(() => sessionStorage.getItem('switchboard.console.key'))).toBe(fixture.admin);
    expect(await page.evaluate(() => localStorage.length)).toBe(0);
    expect(await context.cookies()).toEqual([]);
    expect(page.url()).not.toContain(fixture.admin);
    expect(requested.filter((url) => url.includes(fixture.admin))).toEqual([]);
  });

  it("shows a manifest broken on disk with the problem's line, and the last good version in force, as it happens", async () => {
    const good = readManifest(fixture, 'acme/after-hours.yaml');
    fs.writeFileSync(manifestFile(fixture, 'acme/after-hours.yaml'), good.replace('saturday: 24h', 'saturday: around noon'));
    const line = good.split('\n').findIndex((text) => text.includes('saturday: 24h')) + 1;
    const problem = page.locator('#problems li');
    await expect.poll(() => problem.first().textContent(), { timeout: 10_000 }).toContain(`acme/after-hours.yaml:${line}:`);
    expect(await problem.first().textContent()).toContain('office_hours.saturday');
    expect(await page.locator('#last-good').textContent()).toContain('Yes');
    expect(await accessibilityViolations(page)).toEqual([]);

    fs.writeFileSync(manifestFile(fixture, 'acme/after-hours.yaml'), good);
    await expect.poll(() => page.locator('#problems').textContent(), { timeout: 10_000 }).toContain('None');
    expect(await page.locator('#last-good').textContent()).toContain('No');
  });

  it('tries an API tool against a local API: the exact request with its secret masked, and what the model gets', async () => {
    await page.getByRole('link', { name: 'Tools' }).click();
    await page.getByLabel('Persona').selectOption('shop-desk');
    await page.getByRole('button', { name: 'Try order_lookup' }).click();
    await expect.poll(() => unlabelled(page)).toEqual([]);
    await page.getByLabel('order_number').fill('A-10023');
    await page.getByLabel('store').selectOption({ label: 'airport' });
    await page.getByLabel('quantity').fill('2');
    await page.getByLabel('Test call id').fill('try-browser-1');

    // A dry run shows the request and sends nothing.
    await page.getByRole('button', { name: 'Run' }).click();
    await expect.poll(() => page.locator('#try-request').textContent()).toContain(`GET ${fixture.upstream.base}/orders/A-10023?store=airport`);
    expect(await page.locator('#try-request').textContent()).toContain('Authorization: Bearer ***');
    expect(fixture.upstream.requests).toHaveLength(0);

    await page.getByLabel('Dry run: show the request without sending it').uncheck();
    await page.getByRole('button', { name: 'Run' }).click();
    await expect.poll(() => page.locator('#try-text').textContent()).toBe('Order A-10023 is out for delivery.');
    expect(await page.locator('#try-result h3').first().textContent()).toBe('Request sent');
    expect(fixture.upstream.requests).toHaveLength(1);
    expect(fixture.upstream.requests[0]!.headers.authorization).toBe(`Bearer ${SHOP_TOKEN}`);
    expect(await page.content()).not.toContain(SHOP_TOKEN);
    expect(await accessibilityViolations(page)).toEqual([]);
  });

  it('runs a transfer on a simulated call', async () => {
    await page.getByLabel('Persona').selectOption('front-desk');
    await page.getByRole('button', { name: 'Try transfer_to_sales' }).click();
    await page.getByLabel('The simulated phone system answers transfers with').selectOption({ label: 'No answer' });
    await page.getByRole('button', { name: 'Run' }).click();
    // No answer in sales: the manifest's fallbacks are tried (Sam, then a number), none answers.
    await expect.poll(() => page.locator('#try-text').textContent()).toContain('did not answer');
    const history = page.getByRole('table', { name: 'Its history' });
    expect(await history.locator('tbody tr').count()).toBeGreaterThan(2);
  });

  it('shows tool calls in the live list as they happen, filtered by call, tool and status', async () => {
    await page.getByRole('link', { name: 'Live' }).click();
    const calls = page.getByRole('table', { name: 'Tool calls, newest first' });
    await expect.poll(() => calls.textContent()).toContain('try-browser-1');
    expect(await calls.textContent()).toContain('order_lookup');

    // A voice agent's call while the page is open: it appears without a reload.
    const client = await connect(fixture.server, callHeaders({ key: await fixture.server.key('acme'), call: 'browser-live-call', caller: '+12125550111' }), 'modern');
    try {
      await client.callTool({ name: 'create_lead', arguments: { name: 'Rosa Diaz', intent: 'Burst pipe in the kitchen' } });
    } finally {
      await client.close();
    }
    await auditRows(fixture.server, fixture.admin, { call: 'browser-live-call' }, 1);
    await expect.poll(() => calls.textContent(), { timeout: 10_000 }).toContain('browser-live-call');
    await expect.poll(() => page.getByRole('table', { name: 'Leads, newest first' }).textContent(), { timeout: 10_000 }).toContain('Burst pipe in the kitchen');
    expect(await accessibilityViolations(page)).toEqual([]);

    await page.getByLabel('Call id').fill('browser-live-call');
    await page.getByRole('button', { name: 'Filter' }).click();
    await expect.poll(() => calls.locator('tbody tr').count()).toBe(1);
    expect(await calls.textContent()).toContain('create_lead');
    await page.getByLabel('Call id').fill('');
    await page.getByLabel('Status').selectOption('error');
    await page.getByRole('button', { name: 'Filter' }).click();
    await expect.poll(() => calls.textContent()).toContain('transfer_to_sales');
    expect(await calls.textContent()).not.toContain('create_lead');
  });

  it('turns DND on and off, as the admin API sees it', async () => {
    await page.getByRole('link', { name: 'Availability' }).click();
    const dana = page.locator('tr[data-user="u-100"]');
    await dana.getByLabel('Reason').fill('At the dentist');
    await dana.getByRole('button', { name: 'Turn DND on for Dana Reyes' }).click();
    await expect.poll(() => dana.textContent()).toContain('On Do-Not-Disturb');
    expect(await dana.textContent()).toContain('At the dentist');
    expect(await accessibilityViolations(page)).toEqual([]);
    const state = async () => ((await (await fetch(new URL('/ucp/v2/accounts/acme/users/u-100/dnd', fixture.server.url), { headers: { 'X-API-Key': fixture.admin } })).json()) as { dnd: { enabled: boolean } }).dnd.enabled;
    expect(await state()).toBe(true);
    // Focus stays on Dana's row for a keyboard user.
    expect(await page.evaluate(() => document.activeElement?.closest('tr')?.getAttribute('data-user'))).toBe('u-100');

    await dana.getByRole('button', { name: 'Turn DND off for Dana Reyes' }).click();
    await expect.poll(() => dana.textContent()).toContain('Available');
    expect(await state()).toBe(false);

    // A phone's DND key (the PBX's request) shows up without a reload.
    await fetch(new URL('/ucp/v2/accounts/acme/users/u-101/dnd', fixture.server.url), { method: 'PUT', headers: { 'X-API-Key': fixture.admin, 'Content-Type': 'application/json' }, body: JSON.stringify({ reason: 'Phone DND key' }) });
    await expect.poll(() => page.locator('tr[data-user="u-101"]').textContent(), { timeout: 10_000 }).toContain('Phone DND key');
  });

  it('signs out and forgets the key', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
    await openConsole('#live');
    expect(await page.getByRole('heading', { name: 'Sign in' }).isVisible()).toBe(true);
    expect(await page.getByRole('heading', { name: 'Live' }).count()).toBe(0);
  });

  it("met no script error, no refusal by the policy and no request to another origin, and never opened the PBX's command stream", async () => {
    expect(troubles).toEqual([]);
    expect(requested.some((url) => url.endsWith('/changes'))).toBe(true);
    expect(requested.filter((url) => url.includes('/call-events'))).toEqual([]);
  });
});
