/**
 * Starts a real Switchboard on an ephemeral loopback port with its own data
 * directory and a copy of the manifests, and connects official SDK clients.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';

import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';

import type { KeyRole } from '../../engine/auth/api-keys.ts';
import type { Clock } from '../../engine/clock.ts';
import { resolveSettings, type ServerSettings } from '../../engine/config.ts';
import { createLogger } from '../../engine/logging.ts';
import { startServer, type RunningServer } from '../../engine/server.ts';
import type { ToolKinds } from '../../engine/tools/catalog.ts';

export const REPO_ROOT = path.resolve(import.meta.dirname, '../..');
export const EXAMPLE_PERSONAS = path.join(REPO_ROOT, 'personas');

export interface TestServerOptions {
  /** A directory to copy as the manifests, or files (relative path -> YAML text). Default: the example personas. */
  personas?: string | Record<string, string>;
  settings?: Partial<ServerSettings>;
  toolKinds?: ToolKinds;
  clock?: Clock;
  env?: NodeJS.ProcessEnv;
  watch?: boolean;
  /** Least severe log level kept in logLines (default debug). */
  logLevel?: string;
}

export interface TestServer {
  readonly running: RunningServer;
  readonly url: string;
  readonly mcpUrl: URL;
  readonly dataDir: string;
  readonly personasDir: string;
  /** Every JSON log line the server wrote. */
  readonly logLines: string[];
  /** Creates an API key in the server's store. */
  key(accountId?: string, role?: KeyRole): Promise<string>;
  close(): Promise<void>;
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `switchboard-${prefix}-`));
}

export function writeManifests(dir: string, files: Record<string, string>): void {
  for (const [relative, text] of Object.entries(files)) {
    const file = path.join(dir, relative);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, text);
  }
}

export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const root = tempDir('test');
  const dataDir = path.join(root, 'data');
  const personasDir = path.join(root, 'personas');
  if (typeof options.personas === 'object') {
    fs.mkdirSync(personasDir, { recursive: true });
    writeManifests(personasDir, options.personas);
  } else {
    fs.cpSync(options.personas ?? EXAMPLE_PERSONAS, personasDir, { recursive: true });
  }
  const logLines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logLines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  const settings: ServerSettings = {
    ...resolveSettings({}, {}),
    port: 0,
    dataDir,
    personasDir,
    reloadDebounceMs: 60,
    shutdownGraceSeconds: 1,
    dbSynchronous: 'normal',
    // Servers of one test may share a PostgreSQL database, as nodes of a cluster: each has a name of its own.
    nodeName: `test-${path.basename(root).slice(-6).replace(/[^A-Za-z0-9-]/g, '-')}`,
    ...options.settings,
  };
  const running = await startServer({
    settings,
    env: options.env ?? {},
    logger: createLogger({ level: options.logLevel ?? 'debug', destination }),
    watch: options.watch ?? true,
    ...(options.toolKinds ? { toolKinds: options.toolKinds } : {}),
    ...(options.clock ? { clock: options.clock } : {}),
  });
  return {
    running,
    url: running.url,
    mcpUrl: new URL('/ucp/v2/mcp', running.url),
    dataDir,
    personasDir,
    logLines,
    key: async (accountId = 'acme', role: KeyRole = 'mcp') => (await running.keys.create({ accountId, role })).key,
    close: async () => {
      await running.close();
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
}

export type Era = 'legacy' | 'modern';

export interface CallHeaders {
  key: string;
  account?: string;
  persona?: string;
  call?: string;
  caller?: string;
}

export function callHeaders(headers: CallHeaders): Record<string, string> {
  return {
    'X-API-Key': headers.key,
    account_id: headers.account ?? 'acme',
    persona_id: headers.persona ?? 'front-desk',
    call_id: headers.call ?? `call-${Math.random().toString(36).slice(2)}`,
    ...(headers.caller ? { caller_id_number: headers.caller } : {}),
  };
}

/** An official SDK client connected in the given protocol era. */
export async function connect(server: TestServer, headers: Record<string, string>, era: Era = 'legacy', clientOptions: ConstructorParameters<typeof Client>[1] = {}): Promise<Client> {
  const client = new Client(
    { name: 'switchboard-tests', version: '1.0.0' },
    { ...clientOptions, ...(era === 'modern' ? { versionNegotiation: { mode: { pin: '2026-07-28' } } } : {}) },
  );
  await client.connect(new StreamableHTTPClientTransport(server.mcpUrl, { requestInit: { headers } }));
  return client;
}

/** The text of a tool result's first content block. */
export function textOf(result: unknown): string {
  const content = (result as { content?: { type: string; text?: string }[] }).content ?? [];
  return content.find((block) => block.type === 'text')?.text ?? '';
}

/** Polls until `check` returns a value other than undefined, or fails after `timeoutMs`. */
export async function eventually<T>(check: () => T | undefined | Promise<T | undefined>, timeoutMs = 5000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A TCP port free on loopback now, for a server whose public URL must be known before it starts. */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}
