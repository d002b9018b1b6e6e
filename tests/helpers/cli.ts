/**
 * Runs the `switchboard` command as a user would: in this process through
 * main(argv, io), the way bin/switchboard.mjs runs it (fast: no Node or
 * TypeScript loader to start), or as a real process (runCliProcess, startServe,
 * serveOnTerminal) for what only a process shows: the bin entry, exit codes
 * as a shell sees them, stdin, signals, a server that runs until stopped.
 */
import { AsyncLocalStorage, createHook } from 'node:async_hooks';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';

import { vi } from 'vitest';

import { eventually, REPO_ROOT } from './server.ts';

export const BIN = `${REPO_ROOT}/bin/switchboard.mjs`;

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** An async resource a run created (async_hooks), to tell whether it would keep a process from exiting. */
interface Owned {
  type: string;
  resource: { hasRef?: () => boolean };
}
const runs = new AsyncLocalStorage<Map<number, Owned>>();
const owners = new Map<number, Map<number, Owned>>();
let running = 0;
const ownership = createHook({
  init(asyncId, type, _trigger, resource) {
    const owned = runs.getStore();
    if (!owned || type === 'PROMISE') return;
    owned.set(asyncId, { type, resource: resource as Owned['resource'] });
    owners.set(asyncId, owned);
  },
  destroy(asyncId) {
    owners.get(asyncId)?.delete(asyncId);
    owners.delete(asyncId);
  },
});
/** A handle (a socket, a server, a worker, a signal listener) or a timer, while referenced. */
const holdsProcess = ({ resource }: Owned) => typeof resource.hasRef === 'function' && resource.hasRef();

/** Runs take turns: each loads a module graph of its own, which another run's reset must not replace halfway. */
let previous: Promise<unknown> = Promise.resolve();

/**
 * Runs the command in this process with its own streams, environment
 * (PATH plus `env`: settings of the machine running the tests, SWITCHBOARD_*,
 * never leak into a test) and directory (the repository unless `cwd`), in a
 * module graph of its own: what a process keeps in module state (the secret
 * values it has handed out, the database it opened) starts empty each run,
 * as in a new process. The run must leave nothing behind that would keep a
 * process from exiting (a timer, a socket, a worker): it fails naming it.
 * A command that throws ends as an uncaught error ends Node: code 1, the
 * stack on stderr. Runs started together run one after the other.
 */
export function runCli(args: string[], options: CliOptions = {}): Promise<CliResult> {
  const run = previous.then(() => runInProcess(args, options));
  previous = run.catch(() => undefined);
  return run;
}

async function runInProcess(args: string[], options: CliOptions): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const sink = (append: (text: string) => void) =>
    new Writable({
      write(chunk: Buffer | string, _encoding, done) {
        append(chunk.toString());
        done();
      },
    });
  const io = {
    stdout: sink((text) => (stdout += text)),
    stderr: sink((text) => (stderr += text)),
    env: { PATH: process.env.PATH ?? '', ...options.env },
    cwd: options.cwd ?? REPO_ROOT,
  };
  vi.resetModules();
  const { main } = await import('../../engine/cli/main.ts');
  const owned = new Map<number, Owned>();
  if (running++ === 0) ownership.enable();
  let code: number;
  try {
    code = await runs.run(owned, async () => {
      try {
        return await main(args, io);
      } catch (error) {
        stderr += `${(error as Error).stack ?? String(error)}\n`;
        return 1;
      }
    });
    await eventually(() => ([...owned.values()].some(holdsProcess) ? undefined : true), 5000, `switchboard ${args.join(' ')} to release what it opened`).catch(() => {
      const left = [...owned.values()].filter(holdsProcess).map((entry) => entry.type);
      throw new Error(`switchboard ${args.join(' ')} left ${left.join(', ')} behind: a process would not exit`);
    });
  } finally {
    for (const asyncId of owned.keys()) owners.delete(asyncId);
    if (--running === 0) ownership.disable();
  }
  return { code, stdout, stderr };
}

/**
 * Runs bin/switchboard.mjs as a process with only PATH from this process's
 * environment, plus `env`. Its stdin gets `input` and is then closed, or is
 * left open with `keepStdinOpen` (as when run from a terminal nobody types in).
 */
export function runCliProcess(args: string[], options: CliOptions & { input?: string; keepStdinOpen?: boolean } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: options.cwd ?? REPO_ROOT, env: { PATH: process.env.PATH ?? '', ...options.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    if (options.input !== undefined) child.stdin.write(options.input);
    if (!options.keepStdinOpen) child.stdin.end();
    else child.on('exit', () => child.stdin.destroy());
  });
}

export interface ServeProcess {
  child: ChildProcess;
  url: string;
  /** Everything printed so far. */
  output(): string;
  /** Resolves when the output matches. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts `switchboard serve` on a free port and waits until it listens. */
export async function startServe(args: string[], env: NodeJS.ProcessEnv = {}): Promise<ServeProcess> {
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', ...args], { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const listeners = new Set<() => void>();
  const append = (chunk: Buffer) => {
    output += chunk.toString();
    for (const listener of listeners) listener();
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));

  const waitFor = (pattern: RegExp, timeoutMs = 15_000) =>
    new Promise<RegExpMatchArray>((resolve, reject) => {
      const check = () => {
        const match = output.match(pattern);
        if (match) {
          listeners.delete(check);
          clearTimeout(timer);
          resolve(match);
        }
      };
      const timer = setTimeout(() => {
        listeners.delete(check);
        reject(new Error(`timed out waiting for ${pattern} in:\n${output}`));
      }, timeoutMs);
      listeners.add(check);
      check();
    });

  const listening = await waitFor(/"url":"(http[^"]+)"[^\n]*switchboard listening/);
  return {
    child,
    url: listening[1] as string,
    output: () => output,
    waitFor,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
}

export interface TerminalServe {
  child: ChildProcess;
  output(): string;
  waitFor(pattern: RegExp): Promise<RegExpMatchArray>;
  /** Sends `signal` to the server (not to script) and resolves with the exit code script passes on. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Starts `switchboard serve` on a free port with its output on a pseudo-terminal
 * (util-linux script), as a person at a terminal runs it: stdout is a TTY.
 * Output has its line ends as LF; only PATH, HOME and TERM of this process's
 * environment are passed on, plus `env`.
 */
export function serveOnTerminal(args: string[], env: NodeJS.ProcessEnv = {}): TerminalServe {
  const command = ['exec', process.execPath, BIN, 'serve', '--port', '0', ...args].map((word) => `'${word.replace(/'/g, `'\\''`)}'`).join(' ');
  const child = spawn('script', ['-qfec', command, '/dev/null'], { cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', TERM: 'xterm', ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString().replace(/\r\n/g, '\n')));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString().replace(/\r\n/g, '\n')));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    output: () => output,
    waitFor: (pattern) =>
      eventually(() => output.match(pattern) ?? undefined, 20_000, `${pattern} in:\n${output}`),
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode !== null) return child.exitCode;
      // script runs the server as its child on the terminal; the signal goes to the server itself.
      const { stdout } = await promisify(execFile)('ps', ['-o', 'pid=', '--ppid', String(child.pid)]);
      for (const pid of stdout.split(/\s+/).filter(Boolean)) process.kill(Number(pid), signal);
      return exited;
    },
  };
}
