/**
 * `npm run console:screenshots`: the pictures of docs/console.md, taken of a
 * real server (the example personas and a persona with an API tool on a
 * local stand-in API) in headless Chromium, after a few calls so that every
 * view has something to show. Writes docs/images/console-*.png.
 */
import fs from 'node:fs';
import path from 'node:path';

import { callHeaders, connect, REPO_ROOT } from '../helpers/server.ts';
import { launchChromium, manifestFile, readManifest, signIn, startConsoleFixture } from './fixture.ts';

const OUT = path.join(REPO_ROOT, 'docs', 'images');

const fixture = await startConsoleFixture();
const browser = await launchChromium();
try {
  fs.mkdirSync(OUT, { recursive: true });
  const page = await browser.newPage({ viewport: { width: 1280, height: 860 }, deviceScaleFactor: 1 });
  const shoot = async (name: string): Promise<void> => {
    // Nothing focused, so no focus ring in the picture.
    await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
    await page.screenshot({ path: path.join(OUT, `console-${name}.png`), fullPage: true });
    console.log(`docs/images/console-${name}.png`);
  };

  // Something to see: a voice agent's call with a lead and a transfer nobody took, a call the PBX registered, a DND.
  const client = await connect(fixture.server, callHeaders({ key: await fixture.server.key('acme'), call: 'c-2041', caller: '+12125550147' }), 'modern');
  await client.callTool({ name: 'is_office_open', arguments: {} });
  await client.callTool({ name: 'create_lead', arguments: { name: 'Rosa Diaz', intent: 'Burst pipe under the kitchen sink', summary: 'Water shut off; wants someone today' } });
  await client.callTool({ name: 'transfer_to_dana', arguments: {} });
  await client.close();
  const adminRequest = (method: string, route: string, body?: unknown) =>
    fetch(new URL(`/ucp/v2/accounts/acme${route}`, fixture.server.url), { method, headers: { 'X-API-Key': fixture.admin, 'Content-Type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  await adminRequest('POST', '/calls', { call_id: 'c-2042', persona_id: 'front-desk', caller_id_number: '(646) 555-0199' });
  await adminRequest('PUT', '/users/u-101/dnd', { reason: 'On a job site' });

  await page.goto(fixture.consoleUrl);
  await page.getByLabel('Account', { exact: true }).fill('acme');
  await shoot('sign-in');

  // A manifest with a problem: its last good version stays in force, and the console says where.
  const good = readManifest(fixture, 'acme/after-hours.yaml');
  await signIn(page, 'acme', fixture.admin);
  await page.getByRole('table', { name: 'Personas in force' }).waitFor();
  fs.writeFileSync(manifestFile(fixture, 'acme/after-hours.yaml'), good.replace('saturday: 24h', 'saturday: around noon'));
  await page.locator('#problems li').first().waitFor();
  await shoot('manifests');
  fs.writeFileSync(manifestFile(fixture, 'acme/after-hours.yaml'), good);
  await page.locator('#problems:not(ul)').waitFor();

  await page.getByRole('link', { name: 'Tools' }).click();
  await page.getByLabel('Persona').selectOption('shop-desk');
  await page.getByRole('button', { name: 'Try order_lookup' }).click();
  await page.getByLabel('order_number').fill('A-10023');
  await page.getByLabel('store').selectOption({ label: 'airport' });
  await page.getByLabel('Test call id').fill('try-7c1e');
  await page.getByLabel('Dry run: show the request without sending it').uncheck();
  await page.getByRole('button', { name: 'Run' }).click();
  await page.locator('#try-text').waitFor();
  await shoot('tools');

  await page.getByRole('link', { name: 'Live' }).click();
  await page.getByRole('table', { name: 'Tool calls, newest first' }).getByText('try-7c1e').waitFor();
  await page.getByRole('table', { name: 'Calls in progress' }).getByText('c-2042').waitFor();
  await page.getByRole('table', { name: 'Leads, newest first' }).waitFor();
  await shoot('live');

  await page.getByRole('link', { name: 'Availability' }).click();
  await page.locator('tr[data-user="u-101"]').getByText('On a job site').waitFor();
  await shoot('availability');
} finally {
  await browser.close();
  await fixture.close();
}
