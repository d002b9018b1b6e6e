/**
 * Runs the real `switchboard` command (bin/switchboard.mjs) as a user would.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';

import { eventually, REPO_ROOT } from './server.ts';

export const BIN = `${REPO_ROOT}/bin/switchboard.mjs`;

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the command with only PATH from this process's environment, plus
 * `env`: settings of the machine running the tests (SWITCHBOARD_*) never
 * leak into a test.
 */
export function runCli(args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: options.cwd ?? REPO_ROOT, env: { PATH: process.env.PATH ?? '', ...options.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(options.input ?? '');
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
