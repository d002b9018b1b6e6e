/**
 * What every CLI command shares, and nothing heavier: the streams,
 * environment and working directory it runs with, flag parsing with clear
 * errors, exit codes and output as text or JSON. Opening the store, the
 * services or the manifests is in open.ts, which only the commands that need
 * it import, so that `switchboard status` does not load the server.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

import { SwitchboardError } from '../errors.ts';

/**
 * Everything a command takes from the process it runs in. bin/switchboard.mjs
 * passes the process's own; tests run commands in their own process with
 * streams, an environment and a directory of their own, so a command reads
 * none of them from `process`.
 */
export interface CliIO {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
  /** Relative paths in flags and settings are relative to this directory. */
  cwd: string;
}

export const processIO = (): CliIO => ({ stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() });

/** A command's code: main.ts loads it when the command is run (main.ts holds its name, summary and usage). */
export type CommandRun = (argv: string[], io: CliIO) => Promise<number>;

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
 * The database file a run of a command opened, by the run's io. A command
 * that fails to write it later (a full disk) is reported naming it, by
 * main.ts.
 */
const openedDatabases = new WeakMap<CliIO, string>();
export const noteDatabaseFile = (io: CliIO, file: string | undefined): void => {
  if (file) openedDatabases.set(io, file);
  else openedDatabases.delete(io);
};
export const cliDatabaseFile = (io: CliIO): string | undefined => openedDatabases.get(io);

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
