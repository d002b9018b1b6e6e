/**
 * `switchboard serve` as an operator runs it: the first key printed once,
 * settings from flags and environment, SIGHUP reload, SIGTERM shutdown; a
 * start that cannot succeed said in one sentence with exit 3 before anything
 * is opened; on a terminal, a first screen to act on.
 */
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';

import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterEach, describe, expect, it } from 'vitest';

import { BIN, serveOnTerminal, startServe, runCli, type ServeProcess, type TerminalServe } from './helpers/cli.ts';
import { EXAMPLE_PERSONAS, eventually, REPO_ROOT, tempDir, writeManifests } from './helpers/server.ts';

const exec = promisify(execFile);

let serve: ServeProcess | undefined;
afterEach(async () => {
  await serve?.stop('SIGKILL');
  serve = undefined;
});

const readyz = async (url: string) => (await fetch(new URL('/readyz', url))).json() as Promise<{ status: string; manifests: { generation: number; personas: number } }>;

describe('switchboard serve', () => {
  it('creates and prints the first key once, then serves MCP with it', async () => {
    const data = tempDir('serve');
    serve = await startServe(['--data', data, '--personas', EXAMPLE_PERSONAS]);
    const printed = await serve.waitFor(/key:\s+(sb_\S+)/);
    const key = printed[1] as string;
    expect(serve.output()).toMatch(/account: acme {3}role: mcp/);
    // The JSON log never holds the key.
    const logLines = serve.output().split('\n').filter((line) => line.startsWith('{'));
    expect(logLines.some((line) => line.includes('bootstrap_key_created'))).toBe(true);
    expect(logLines.join('\n')).not.toContain(key);

    const client = new Client({ name: 'serve-test', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL('/ucp/v2/mcp', serve.url), { requestInit: { headers: { 'X-API-Key': key, account_id: 'acme', persona_id: 'front-desk', call_id: 'serve-1' } } }));
    expect((await client.listTools()).tools.length).toBeGreaterThan(0);
    await client.close();
    expect(await serve.stop('SIGTERM')).toBe(0);
    expect(serve.output()).toMatch(/switchboard stopped/);

    // Keys exist now: a second start prints none.
    serve = await startServe(['--data', data, '--personas', EXAMPLE_PERSONAS]);
    expect(serve.output()).not.toMatch(/key:\s+sb_/);
  });

  it('reads settings from the environment and reloads on SIGHUP', async () => {
    const data = tempDir('serve-env');
    const personas = tempDir('serve-personas');
    fs.cpSync(EXAMPLE_PERSONAS, personas, { recursive: true });
    serve = await startServe([], { SWITCHBOARD_DATA: data, SWITCHBOARD_PERSONAS: personas, SWITCHBOARD_RELOAD_DEBOUNCE_MS: '60000' });
    expect(fs.existsSync(path.join(data, 'switchboard.db'))).toBe(true);
    const before = await readyz(serve.url);
    writeManifests(personas, { 'acme/extra.yaml': 'persona_id: extra\n' });
    serve.child.kill('SIGHUP');
    const after = await eventually(async () => {
      const body = await readyz(serve!.url);
      return body.manifests.generation > before.manifests.generation ? body : undefined;
    });
    expect(after.manifests.personas).toBe(before.manifests.personas + 1);
  });

  it('refuses a setting that does not parse, naming it', async () => {
    const result = await runCli(['serve', '--port', 'eighty']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--port (SWITCHBOARD_PORT) must be a whole number from 0 to 65535, got "eighty"');
  });
});

describe('a start that cannot succeed', () => {
  it('a port in use: one sentence naming the port and the setting, exit 3, before the database is opened', async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as net.AddressInfo).port;
    const data = path.join(tempDir('serve-port'), 'data');
    try {
      const result = await runCli(['serve', '--port', String(port), '--data', data, '--personas', EXAMPLE_PERSONAS]);
      expect(result.stderr).toBe(`switchboard serve: port ${port} on 127.0.0.1 is already in use, by another switchboard or another program: stop that one, or choose a free port with --port or SWITCHBOARD_PORT\n`);
      expect(result.code).toBe(3);
      // Nothing was opened or run: no data directory, no migrations, no retention pass in the log.
      expect(fs.existsSync(data)).toBe(false);
      expect(result.stdout).toBe('');
    } finally {
      taken.close();
    }
  });

  it('TLS files and a secrets file that cannot be used: which file, which setting, what to do', async () => {
    const dir = tempDir('serve-files');
    const data = path.join(dir, 'data');
    const notPem = path.join(dir, 'not.pem');
    fs.writeFileSync(notPem, 'this is not a certificate\n');
    const serve = (...args: string[]) => runCli(['serve', '--port', '0', '--data', data, '--personas', EXAMPLE_PERSONAS, ...args]);

    const missing = await serve('--tls-cert', path.join(dir, 'fullchain.pem'), '--tls-key', notPem);
    expect(missing.stderr).toBe(`switchboard serve: the TLS certificate ${dir}/fullchain.pem does not exist (ENOENT): point --tls-cert (SWITCHBOARD_TLS_CERT) at the file\n`);
    expect(missing.code).toBe(3);

    const unusable = await serve('--tls-cert', notPem, '--tls-key', notPem);
    expect(unusable.stderr).toMatch(
      new RegExp(`^switchboard serve: the TLS certificate ${notPem} and key ${notPem} cannot be used: a file is not in PEM format \\(.+\\)\\. Give --tls-cert \\(SWITCHBOARD_TLS_CERT\\) the PEM certificate chain \\(fullchain\\.pem\\) and --tls-key \\(SWITCHBOARD_TLS_KEY\\) its PEM private key \\(privkey\\.pem\\)\\n$`),
    );
    expect(unusable.code).toBe(3);

    const directory = await runCli(['serve', '--port', '0', '--data', data, '--personas', EXAMPLE_PERSONAS], { env: { SWITCHBOARD_SECRETS_FILE: dir } });
    expect(directory.stderr).toBe(`switchboard serve: the secrets file ${dir} is a directory (EISDIR): point --secrets-file (SWITCHBOARD_SECRETS_FILE) at the file in it\n`);
    expect(directory.code).toBe(3);
    expect(fs.existsSync(data)).toBe(false);
  });

  it('no account to serve: it starts (the directory may come later), and the log says why and what to do', async () => {
    const personas = path.join(tempDir('serve-no-accounts'), 'personas');
    serve = await startServe(['--data', tempDir('serve-no-accounts-data'), '--personas', personas]);
    const line = (await serve.waitFor(/^\{[^\n]*"event":"no_accounts"[^\n]*\}$/m))[0];
    expect(JSON.parse(line)).toMatchObject({
      level: 'warn',
      personas,
      msg: `no account is loaded: the manifests directory ${personas} does not exist. Point --personas or SWITCHBOARD_PERSONAS at the directory that holds your account directories (personas/ in the repository is an example); it is served as soon as it is there, and /readyz answers 503 until then`,
    });
  });

  it('logs each secret the manifests name that is not set, with what fails (JSON log, not on a terminal)', async () => {
    serve = await startServe(['--data', tempDir('serve-secrets'), '--personas', EXAMPLE_PERSONAS], { GLOBEX_BOOKING_KEY: 'booking-key-of-globex' });
    await serve.waitFor(/"event":"secret_not_set"[^\n]*clinic-outlook/);
    const entries = serve
      .output()
      .split('\n')
      .filter((line) => line.includes('"event":"secret_not_set"'))
      .map((line) => JSON.parse(line) as { account: string; names: string[]; used_by: string });
    expect(entries.map((entry) => `${entry.account} ${entry.names.join(',')} ${entry.used_by}`)).toEqual([
      'acme ACME_SHOP_TOKEN tool order_status of persona front-desk',
      'acme ACME_SHOP_TOKEN tool book_visit of persona front-desk',
      'globex GLOBEX_PBX_SECRET call control (webhook)',
      'globex GLOBEX_GOOGLE_CLIENT_ID,GLOBEX_GOOGLE_CLIENT_SECRET,GLOBEX_GOOGLE_REFRESH_TOKEN contact source clinic-google',
      'globex GLOBEX_MS_CLIENT_ID,GLOBEX_MS_CLIENT_SECRET,GLOBEX_MS_REFRESH_TOKEN contact source clinic-outlook',
    ]);
    expect(serve.output()).not.toContain('booking-key-of-globex');
  });
});

describe('on an interactive terminal', () => {
  let terminal: TerminalServe | undefined;
  afterEach(async () => {
    await terminal?.stop('SIGKILL');
    terminal = undefined;
  });

  it('prints the first screen once: endpoint, what was loaded, what needs a secret, the key and a command that works; then short log lines', async () => {
    terminal = serveOnTerminal(['--data', tempDir('serve-tty'), '--personas', EXAMPLE_PERSONAS], { GLOBEX_BOOKING_KEY: 'booking-key-of-globex' });
    const screen = (await terminal.waitFor(/\nSwitchboard \S+ is serving\.\n[\s\S]*?Ctrl-C stops the server\.\n/))[0];
    const url = /MCP endpoint {3}(http:\/\/127\.0\.0\.1:\d+)\/ucp\/v2\/mcp\n/.exec(screen)?.[1] as string;
    expect(url).toBeDefined();
    expect(screen).toContain(`  Manifests      ${EXAMPLE_PERSONAS}: 2 accounts (acme, globex), 3 personas\n`);
    expect(screen).toMatch(/ {2}Phone systems {2}acme: events (down|connecting) \(.+\)\n {17}globex: webhook down \(secret GLOBEX_PBX_SECRET is not set \(environment variable or secrets file\)\)\n/);
    // The example's parts that need a secret, said plainly; the one set in the environment is not listed.
    expect(screen).toContain(
      [
        "Secrets not set (8): these parts do not work until you set them in the server's environment",
        "(then restart) or in its --secrets-file (then send SIGHUP); everything else works:",
        '  acme: ACME_SHOP_TOKEN for tool order_status of persona front-desk: the tool answers that it is not configured, on every call',
        '  acme: ACME_SHOP_TOKEN for tool book_visit of persona front-desk: the tool answers that it is not configured, on every call',
        '  globex: GLOBEX_PBX_SECRET for call control (webhook): the webhook driver cannot reach the phone system, so transfers and hang-ups fail at once (reception: transfer_call, hangup_call, transfer_to_dr_hughes, transfer_to_reception)',
        '',
      ].join('\n'),
    );
    expect(screen).not.toContain('GLOBEX_BOOKING_KEY');
    const key = /\n {2}key: {5}(sb_\S+)\n/.exec(screen)?.[1] as string;
    expect(screen).toMatch(/No API keys existed, so one was created\. It is shown only now; store it:\n {2}account: acme {3}role: mcp {3}id: key_\w+\n/);
    // No JSON around the screen, and the key only in it.
    expect(terminal.output()).not.toMatch(/^\{/m);

    const command = new RegExp(`\\nTry it:\\n {2}(SWITCHBOARD_API_KEY=${key} SWITCHBOARD_URL=${url}/ucp/v2/mcp npx tsx examples/quickstart-client\\.ts)\\n`).exec(screen)?.[1] as string;
    expect(command).toBeDefined();
    const tried = await exec('bash', ['-c', command], { cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' } });
    expect(tried.stdout).toMatch(/^is_office_open: Office is .+\.$/m);

    expect(await terminal.stop('SIGTERM')).toBe(0);
    const after = terminal.output().slice(terminal.output().indexOf('Ctrl-C stops the server.'));
    expect(after).toMatch(/\n\d\d:\d\d:\d\d INFO {2}shutting down {2}event=signal signal=SIGTERM\n/);
    expect(after).toMatch(/\n\d\d:\d\d:\d\d INFO {2}switchboard stopped {2}event=stopped\n/);
    expect(terminal.output().split(key).length).toBe(3); // the key line and the command, nothing else
  });

  it('--log-format json keeps JSON lines on a terminal; --log-format pretty prints the screen on a pipe', async () => {
    terminal = serveOnTerminal(['--data', tempDir('serve-tty-json'), '--personas', EXAMPLE_PERSONAS, '--log-format', 'json']);
    await terminal.waitFor(/"event":"listening"/);
    expect(terminal.output()).not.toContain('is serving.');
    expect(terminal.output()).toMatch(/^ {2}key: {5}sb_/m);
    await terminal.stop('SIGTERM');

    const data = tempDir('serve-pipe-pretty');
    const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--data', data, '--personas', path.join(data, 'none'), '--log-format', 'pretty'], { cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? '' } });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    try {
      await eventually(() => (output.includes('Ctrl-C stops the server.') ? true : undefined), 20_000, 'the first screen');
      expect(output).toContain(`  Manifests      ${data}/none: none loaded\n`);
      expect(output).toContain(`\nNot ready: no account is loaded: the manifests directory ${data}/none does not exist. Point --personas or SWITCHBOARD_PERSONAS at`);
      // No account, no key made, and no persona to try: status is what to run.
      expect(output).not.toContain('key:');
      expect(output).toContain('\nTry it:\n  npx switchboard status ');
    } finally {
      child.kill('SIGKILL');
    }
  });
});
