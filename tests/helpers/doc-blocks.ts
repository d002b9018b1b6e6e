/**
 * Runs the code blocks of the integration guides the way a reader would:
 * shell blocks in bash, one after the other, in one environment (what a block
 * exports, the next one sees), from the repository root.
 *
 * A block says what it is with an HTML comment on the line before its fence:
 *   <!-- run: NAME -->             a shell block a test runs (by NAME)
 *   <!-- output: NAME -->          what block NAME prints (compared by shape)
 *   <!-- excerpt: PATH -->         a verbatim part of the file PATH
 *   <!-- not run here: REASON -->  code that cannot run on this machine
 * The guides' own test checks that every code block carries one of them.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { REPO_ROOT } from './server.ts';

/** Where the guides say the server listens; tests swap in the test server's URL. */
export const DOC_SERVER_URL = 'http://127.0.0.1:9443';

export interface DocBlock {
  file: string;
  /** 1-based line of the opening fence. */
  line: number;
  lang: string;
  marker: { kind: 'run' | 'output' | 'excerpt' | 'not run here'; value: string } | undefined;
  code: string;
}

const MARKER = /^<!-- (run|output|excerpt|not run here): (.+?) -->$/;

export function docBlocks(file: string): DocBlock[] {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const blocks: DocBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)\s*$/.exec(lines[i] as string);
    if (!open) continue;
    const marker = MARKER.exec(lines[i - 1] ?? '');
    const start = i;
    const body: string[] = [];
    while (++i < lines.length && lines[i] !== '```') body.push(lines[i] as string);
    blocks.push({
      file: path.relative(REPO_ROOT, file),
      line: start + 1,
      lang: open[1] ?? '',
      marker: marker ? { kind: marker[1] as NonNullable<DocBlock['marker']>['kind'], value: marker[2] as string } : undefined,
      code: body.join('\n'),
    });
  }
  return blocks;
}

/** The block of `file` marked `kind: name`. */
export function docBlock(file: string, kind: 'run' | 'output', name: string): DocBlock {
  const block = docBlocks(file).find((candidate) => candidate.marker?.kind === kind && candidate.marker.value === name);
  if (!block) throw new Error(`${file} has no block marked "${kind}: ${name}"`);
  return block;
}

export interface ShellResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface BackgroundShell {
  output(): string;
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  exited: Promise<ShellResult>;
  /** Ends the block's whole process group (it was started in its own). */
  stop(): Promise<void>;
}

/** A reader's terminal: blocks run in bash with the environment earlier blocks exported. */
export class DocShell {
  readonly env: Record<string, string>;
  private readonly envFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-docshell-')), 'env');

  constructor(
    private readonly serverUrl: string,
    env: Record<string, string> = {},
  ) {
    this.env = { ...(process.env as Record<string, string>), ...env };
  }

  /** The block as the test runs it: against the test server. */
  private script(code: string): string {
    return code.split(DOC_SERVER_URL).join(this.serverUrl);
  }

  /** Runs a block to its end; what it exports is kept for the next blocks. */
  run(code: string, timeoutMs = 60_000): Promise<ShellResult> {
    const script = `set -euo pipefail\n${this.script(code)}\nenv -0 > ${JSON.stringify(this.envFile)}\n`;
    return new Promise((resolve, reject) => {
      const child = spawn('bash', ['-c', script], { cwd: REPO_ROOT, env: this.env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.on('error', reject);
      child.on('close', (code) => {
        clearTimeout(timer);
        if (code === 0) this.readEnv();
        resolve({ code, stdout, stderr });
      });
    });
  }

  /** Starts a block that runs until stopped (a second terminal). */
  start(code: string): BackgroundShell {
    const child = spawn('bash', ['-c', this.script(code)], { cwd: REPO_ROOT, env: this.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    const listeners = new Set<() => void>();
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      for (const listener of listeners) listener();
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<ShellResult>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
    return {
      output: () => stdout,
      exited,
      waitFor: (pattern, timeoutMs = 30_000) =>
        new Promise((resolve, reject) => {
          const check = () => {
            const match = stdout.match(pattern);
            if (!match) return;
            listeners.delete(check);
            clearTimeout(timer);
            resolve(match);
          };
          const timer = setTimeout(() => {
            listeners.delete(check);
            reject(new Error(`timed out waiting for ${pattern}; output:\n${stdout}\nerrors:\n${stderr}`));
          }, timeoutMs);
          listeners.add(check);
          check();
        }),
      stop: async () => {
        try {
          if (child.exitCode === null && child.signalCode === null && child.pid) process.kill(-child.pid, 'SIGTERM');
        } catch {
          // the group ended in the meantime
        }
        await exited;
      },
    };
  }

  private readEnv(): void {
    for (const entry of fs.readFileSync(this.envFile, 'utf8').split('\0')) {
      const equals = entry.indexOf('=');
      if (equals > 0 && !entry.startsWith('BASH_FUNC_')) this.env[entry.slice(0, equals)] = entry.slice(equals + 1);
    }
  }
}

/**
 * A printed line with what differs from run to run masked: ids, numbers, and
 * the answer of is_office_open (it depends on the hour the guide is run).
 */
export function outputShape(line: string): string {
  return line
    .replace(/Office is (currently open|currently closed|closed today|open 24 hours today)\. (We open again|We close|We are open|No opening)[^.]*\./, 'Office is <state>. <next change>.')
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<uuid>')
    .replace(/\b(ld|cs|ct|key)_[0-9a-f]+/g, '$1_<id>')
    .replace(/\d+/g, '<n>')
    .trimEnd();
}
