/**
 * Every secret the manifests name, and which the server cannot read, said
 * the same way by `validate --check-secrets` (on the node, before a deploy),
 * `status` and /readyz (of a running server): API tools' {{secret.NAME}},
 * each call-control driver's settings and contact sources' credentials,
 * each with the tools that fail without it.
 */
import fs from 'node:fs';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runCli } from './helpers/cli.ts';
import { startTestServer, tempDir, writeManifests, type TestServer } from './helpers/server.ts';

const manifests: Record<string, string> = {
  'acme/account.yaml': [
    'account_id: acme',
    'timezone: America/New_York',
    'users:',
    '  - { id: u-100, name: Dana Reyes, extension: "100" }',
    'call_control: { driver: ari, url: "http://pbx.acme.lan:8088", username: switchboard, app: switchboard, password: ACME_ARI_PASSWORD, endpoint_template: "PJSIP/{destination}@trunk" }',
    '',
  ].join('\n'),
  'acme/desk.yaml': [
    'persona_id: desk',
    'global_tools:',
    '  hangup_call: false',
    'tools:',
    '  - { type: transfer_to_user, name: to_dana, description: Dana., user: u-100 }',
    '  - type: api_request',
    '    name: orders',
    '    description: Order status.',
    '    method: POST',
    '    url: https://shop.acme.example/orders',
    '    headers:',
    '      Authorization: Bearer {{secret.ACME_TOKEN}}',
    '    body:',
    '      signature: "{{secret.ACME_SIGNING}}"',
    '  - { type: api_request, name: weather, description: The weather., method: GET, url: "https://weather.example/today" }',
    '',
  ].join('\n'),
  'globex/account.yaml': [
    'account_id: globex',
    'timezone: Europe/London',
    'call_control: { driver: twilio, account_sid: AC0123456789abcdef0123456789abcdef, auth_token: GLOBEX_TWILIO_TOKEN }',
    'contact_sources:',
    '  - { type: google, credentials: { client_id: G_ID, client_secret: G_SECRET, refresh_token: G_REFRESH } }',
    '',
  ].join('\n'),
  'globex/reception.yaml': 'persona_id: reception\n',
  'initech/account.yaml': 'account_id: initech\ntimezone: America/Chicago\n',
  'initech/desk.yaml': 'persona_id: desk\n',
};

const MISSING_LINES = [
  'acme: ACME_ARI_PASSWORD for call control (ari): the ari driver cannot reach the phone system, so transfers and hang-ups fail at once (desk: transfer_call, to_dana)',
  'acme: ACME_TOKEN for tool orders of persona desk: the tool answers that it is not configured, on every call',
  'globex: GLOBEX_TWILIO_TOKEN for call control (twilio): the twilio driver cannot reach the phone system, so transfers and hang-ups fail at once (reception: transfer_call, hangup_call)',
  'globex: G_REFRESH for contact source google: the source does not sync, so lookup_contact does not find its contacts (reception: lookup_contact)',
];

let dir: string;
let secretsFile: string;
beforeAll(() => {
  dir = tempDir('secrets-inventory');
  writeManifests(dir, manifests);
  secretsFile = path.join(tempDir('secrets-file'), 'secrets');
  fs.writeFileSync(secretsFile, 'G_ID=client-id-of-globex\nG_SECRET=client-secret-of-globex\n', { mode: 0o600 });
});

describe('switchboard validate --check-secrets', () => {
  it('lists each part whose secrets are not in the environment or the secrets file, and exits 1', async () => {
    const result = await runCli(['validate', dir, '--check-secrets', '--secrets-file', secretsFile], { env: { ACME_SIGNING: 'signing-key-of-acme' } });
    expect(result.code).toBe(1);
    const files = ['acme/account.yaml', 'acme/desk.yaml', 'globex/account.yaml', 'globex/account.yaml'];
    expect(result.stdout.trim().split('\n')).toEqual(MISSING_LINES.map((line, index) => `${dir}/${files[index]}: secret not set: ${line}`));
    expect(result.stderr).toMatch(/^6 files valid: 3 accounts, 3 personas, 4 secrets not set \(\d+ ms\)\n$/);
    // Names only: no value the command read is printed.
    expect(result.stdout + result.stderr).not.toMatch(/signing-key-of-acme|client-secret-of-globex/);

    const json = await runCli(['validate', dir, '--check-secrets', '--format', 'json'], { env: { SWITCHBOARD_SECRETS_FILE: secretsFile, ACME_SIGNING: 'signing-key-of-acme' } });
    expect(json.code).toBe(1);
    const report = JSON.parse(json.stdout) as { valid: boolean; missing_secrets: { account: string; user: unknown; file: string; secrets: string[]; missing: string[]; tools: unknown[]; text: string }[] };
    expect(report.valid).toBe(false);
    expect(report.missing_secrets.map((entry) => entry.text)).toEqual(MISSING_LINES);
    expect(report.missing_secrets[1]).toEqual({
      account: 'acme',
      user: { kind: 'api_tool', persona: 'desk', tool: 'orders' },
      file: `${dir}/acme/desk.yaml`,
      secrets: ['ACME_SIGNING', 'ACME_TOKEN'],
      missing: ['ACME_TOKEN'],
      tools: [{ persona: 'desk', tool: 'orders' }],
      effect: 'the tool answers that it is not configured, on every call',
      text: MISSING_LINES[1],
    });

    const github = await runCli(['validate', dir, '--check-secrets', '--format', 'github'], { env: { SWITCHBOARD_SECRETS_FILE: secretsFile, ACME_SIGNING: 'signing-key-of-acme' } });
    expect(github.stdout.split('\n')[1]).toBe(`::error file=${dir}/acme/desk.yaml,title=secret not set::${MISSING_LINES[1]}`);
  });

  it('exits 0 once every secret is set, and is not asked without the flag', async () => {
    const env = { SWITCHBOARD_SECRETS_FILE: secretsFile, ACME_SIGNING: 's1-signing', ACME_TOKEN: 's2-token', ACME_ARI_PASSWORD: 's3-password', GLOBEX_TWILIO_TOKEN: 's4-twilio', G_REFRESH: 's5-refresh' };
    const result = await runCli(['validate', dir, '--check-secrets'], { env });
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^6 files valid: 3 accounts, 3 personas, every secret set \(\d+ ms\)\n$/);
    expect(result.code).toBe(0);
    // Without --check-secrets, validate checks the manifests alone (CI has no secrets).
    expect((await runCli(['validate', dir])).code).toBe(0);
  });

  it('says so when the secrets file cannot be read', async () => {
    const result = await runCli(['validate', dir, '--check-secrets', '--secrets-file', `${secretsFile}.missing`]);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(`switchboard validate: the secrets file ${secretsFile}.missing does not exist (ENOENT): point --secrets-file (SWITCHBOARD_SECRETS_FILE) at the file\n`);
  });
});

describe('a running server', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ personas: manifests, env: { ACME_SIGNING: 'signing-key-of-acme' }, settings: { secretsFile } });
  });
  afterAll(async () => server.close());

  it('counts them in /readyz for everyone, lists them in its detail and in status (exit 1), and stays ready', async () => {
    const response = await fetch(new URL('/readyz', server.url));
    expect(response.status).toBe(200);
    const body = (await response.json()) as { status: string; secrets: { missing: number }; missing_secrets: { text: string }[] };
    expect(body.status).toBe('ready');
    expect(body.secrets).toEqual({ missing: 4 });
    expect(body.missing_secrets.map((entry) => entry.text)).toEqual(MISSING_LINES);

    const status = await runCli(['status', '--url', server.url]);
    expect(status.stdout).toContain(`secrets not set (4), set them in the server's environment (then restart) or its secrets file (then SIGHUP):\n${MISSING_LINES.map((line) => `  ${line}\n`).join('')}`);
    expect(status.stdout).toMatch(/^ready at /);
    expect(status.code).toBe(1);
  });

  it('sees a secret set in the secrets file after a reload', async () => {
    const before = fs.readFileSync(secretsFile, 'utf8');
    try {
      fs.writeFileSync(secretsFile, `${before}G_REFRESH=refresh-token-of-globex\n`);
      server.running.services.secrets.reload();
      const body = (await (await fetch(new URL('/readyz', server.url))).json()) as { secrets: { missing: number }; missing_secrets: { text: string }[] };
      expect(body.secrets).toEqual({ missing: 3 });
      expect(body.missing_secrets.map((entry) => entry.text)).toEqual(MISSING_LINES.slice(0, 3));
    } finally {
      fs.writeFileSync(secretsFile, before);
      server.running.services.secrets.reload();
    }
  });
});
