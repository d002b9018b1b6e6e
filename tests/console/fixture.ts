/**
 * What the console's browser tests and screenshots run against: a real
 * server with the example personas plus one persona whose API tool calls a
 * local stand-in for the author's API, and Debian's Chromium driven by
 * playwright-core (no browser is downloaded: .ci/chromium.sh installs the
 * distribution's package when it is missing).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

import { chromium, type Browser, type Page } from 'playwright-core';

import { REPO_ROOT, startTestServer, writeManifests, type TestServer } from '../helpers/server.ts';
import { startUpstream, type Upstream } from '../helpers/upstream.ts';

export const SHOP_TOKEN = 'shop-token-9b2f4e7a1c3d';

/** Chromium's path: SWITCHBOARD_CHROMIUM, else the distribution's, installed by .ci/chromium.sh when missing. */
export function chromiumPath(): string {
  const given = process.env.SWITCHBOARD_CHROMIUM;
  if (given) return given;
  return execFileSync('bash', [path.join(REPO_ROOT, '.ci', 'chromium.sh')], { encoding: 'utf8' }).trim();
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: chromiumPath(), headless: true });
}

/** A persona of the example account with an API tool that reaches `api`. */
export const shopDesk = (api: string): string => `# yaml-language-server: $schema=../../schemas/persona.schema.json
persona_id: shop-desk
name: Shop desk
description: Answers order questions.
global_tools:
  transfer_call: false
  hangup_call: true
tools:
  - type: api_request
    name: order_lookup
    description: Look up the status of an order by its number.
    method: GET
    url: ${api}/orders/{{order_number}}
    query:
      store: "{{store}}"
    headers:
      Authorization: Bearer {{secret.SHOP_TOKEN}}
    variables:
      - name: order_number
        type: text
        description: The order number the caller reads out, e.g. A-10023.
        required: true
      - name: store
        type: dropdown
        description: Which branch took the order.
        options: [downtown, airport]
      - name: quantity
        type: number
        description: How many items the caller asks about.
        minimum: 1
    response:
      pick:
        status: /status
      template: "Order {{order_number}} is {{status}}."
`;

export interface ConsoleFixture {
  server: TestServer;
  upstream: Upstream;
  /** An admin key of acme. */
  admin: string;
  consoleUrl: string;
  close(): Promise<void>;
}

export async function startConsoleFixture(): Promise<ConsoleFixture> {
  const upstream = await startUpstream('127.0.0.1', (request) => ({ body: { status: request.target.includes('A-10023') ? 'out for delivery' : 'being prepared' } }));
  const server = await startTestServer({
    settings: { outboundAllow: ['127.0.0.1'] },
    env: { SHOP_TOKEN, ACME_SHOP_TOKEN: 'acme-shop-token-example' },
    logLevel: 'info',
  });
  writeManifests(server.personasDir, { 'acme/shop-desk.yaml': shopDesk(upstream.base) });
  await server.running.registry.reload();
  const admin = await server.key('acme', 'admin');
  return {
    server,
    upstream,
    admin,
    consoleUrl: new URL('/ucp/v2/console', server.url).toString(),
    async close() {
      await server.close();
      await upstream.close();
    },
  };
}

/** Signs in through the form, with the keyboard only. */
export async function signIn(page: Page, account: string, key: string): Promise<void> {
  await page.getByLabel('Account', { exact: true }).fill(account);
  await page.getByLabel('Admin key').fill(key);
  await page.getByLabel('Admin key').press('Enter');
}

const axeSource = fs.readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/**
 * What axe-core finds against WCAG 2.1 A and AA in the page as it is now
 * (contrast, labels, names, structure), one line per rule broken. It is
 * evaluated through the browser's debugging protocol, which the page's CSP
 * does not govern; the page itself loads nothing but its own files.
 */
export async function accessibilityViolations(page: Page): Promise<string[]> {
  await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run(context: Document, options: object): Promise<{ violations: { id: string; help: string; nodes: { target: string[] }[] }[] }> } }).axe;
    const result = await axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } });
    return result.violations.map((violation) => `${violation.id}: ${violation.help} (${violation.nodes.map((node) => node.target.join(' ')).join(', ')})`);
  });
  return violations;
}

/** The file a manifest of the fixture lives in. */
export const manifestFile = (fixture: ConsoleFixture, relative: string): string => path.join(fixture.server.personasDir, relative);

export const readManifest = (fixture: ConsoleFixture, relative: string): string => fs.readFileSync(manifestFile(fixture, relative), 'utf8');
