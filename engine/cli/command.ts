/**
 * The shape of a CLI command, and the helpers they share: flag parsing with
 * clear errors, the data directory, and output as text or JSON.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

import { systemClock } from '../clock.ts';
import { databaseFile, resolveSettings } from '../config.ts';
import { silentLogger } from '../logging.ts';
import { loadManifests, type LoadedSnapshot } from '../manifests/load.ts';
import { SecretStore } from '../secrets.ts';
import { createServices, type Services } from '../services.ts';
import { builtinToolKinds } from '../tools/kinds.ts';
import { SwitchboardError } from '../errors.ts';
import type { StoreEngine } from '../store/engine.ts';
import { openStore } from '../store/open.ts';

export interface CliIO {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
}

export interface Command {
  name: string;
  summary: string;
  usage: string;
  run(argv: string[], io: CliIO): Promise<number>;
}

/**
 * The exit codes of every command, in one place (docs/operations.md lists
 * them): 0 success; 1 the command ran and found problems (invalid manifests,
 * secrets not set, a server with problems); 2 a usage error, a setting that
 * does not parse, or a failure while running; 3 `serve` did not start: its
 * port, TLS files, secrets file or data directory (the message says which and
 * what to do), told apart from 2 so that a supervisor can see that nothing
 * was served. A third SIGTERM or SIGINT during the graceful shutdown ends
 * `serve` with 128 + the signal's number (143 for SIGTERM), as a shell does.
 */
export const EXIT = { ok: 0, problems: 1, error: 2, notStarted: 3 } as const;

export type Options = NonNullable<ParseArgsConfig['options']>;

export function parseFlags<T extends Options>(argv: string[], options: T, allowPositionals = true) {
  try {
    return parseArgs({ args: argv, options, allowPositionals, strict: true });
  } catch (error) {
    throw new SwitchboardError('BAD_REQUEST', (error as Error).message.replace(/\. To specify.*$/s, ''));
  }
}

export const dataFlag = { data: { type: 'string' } } as const satisfies Options;
/** PostgreSQL instead of the SQLite file in --data (or SWITCHBOARD_DATABASE_URL), as for serve. */
export const databaseFlag = { database: { type: 'string' } } as const satisfies Options;
export const jsonFlag = { json: { type: 'boolean' } } as const satisfies Options;
export const personasFlag = { personas: { type: 'string' } } as const satisfies Options;

/**
 * The database file this command opened. A command that fails to write it
 * later (a full disk) is reported naming it, by main.ts: one process runs one
 * command, so one file.
 */
let openedDatabase: string | undefined;
export const cliDatabaseFile = (): string | undefined => openedDatabase;

/**
 * The store engine the server uses (--database or SWITCHBOARD_DATABASE_URL
 * for PostgreSQL, else the SQLite file in --data), for commands that need
 * nothing else of live state (keys). Close when done.
 */
export async function openCliStore(flags: { data?: string | undefined; database?: string | undefined }, env: NodeJS.ProcessEnv): Promise<StoreEngine> {
  const settings = resolveSettings({ ...(flags.data ? { data: flags.data } : {}), ...(flags.database ? { database: flags.database } : {}) }, env);
  openedDatabase = settings.databaseUrl ? undefined : databaseFile(settings.dataDir);
  return openStore(settings);
}

/**
 * The services a running server has, over the same database file, for
 * commands that act on live state (DND, leads, contacts). Close when done.
 */
export async function openCliServices(flags: { data?: string | undefined; personas?: string | undefined; database?: string | undefined }, env: NodeJS.ProcessEnv): Promise<Services & { close(): Promise<void> }> {
  const settings = resolveSettings({ ...(flags.data ? { data: flags.data } : {}), ...(flags.personas ? { personas: flags.personas } : {}), ...(flags.database ? { database: flags.database } : {}) }, env);
  openedDatabase = databaseFile(settings.dataDir);
  const store = await openStore(settings);
  const services = createServices({ store, clock: systemClock, log: silentLogger, secrets: new SecretStore(env, settings.secretsFile), settings });
  return {
    ...services,
    close: () => store.close(),
  };
}

/** Loads the manifests (--personas, SWITCHBOARD_PERSONAS, ./personas) as the server would. */
export async function loadCliManifests(personas: string | undefined, env: NodeJS.ProcessEnv): Promise<LoadedSnapshot> {
  const settings = resolveSettings(personas ? { personas } : {}, env);
  return loadManifests({ dir: settings.personasDir, kinds: builtinToolKinds });
}

export function requireFlag(value: string | undefined, flag: string): string {
  if (!value) throw new SwitchboardError('BAD_REQUEST', `--${flag} is required`);
  return value;
}

export const print = (stream: NodeJS.WritableStream, text: string): void => {
  stream.write(text.endsWith('\n') ? text : `${text}\n`);
};

export const printJson = (stream: NodeJS.WritableStream, value: unknown): void => print(stream, JSON.stringify(value, null, 2));

/** Left-aligned columns for list output. */
export function table(rows: string[][]): string {
  if (!rows.length) return '';
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length)));
  return rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  ').trimEnd()).join('\n');
}
