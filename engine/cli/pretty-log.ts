/**
 * The log as a person at a terminal reads it (`serve --log-format pretty`,
 * the default on an interactive terminal): one short line an entry, "time
 * LEVEL message key=value ...", instead of a JSON object.
 *
 * It is a destination for the same pino logger, so it receives lines that
 * are already redacted and masked (logging.ts); it only re-shapes them.
 *
 * While the server starts, lines are held: the first screen (first-screen.ts)
 * says in a few lines what the start-up info lines would (manifests loaded,
 * listening, the key created), and lists the manifest problems. `release`
 * then writes what the screen did not cover: warnings and errors such as
 * plain HTTP on a public address.
 */
import { Writable } from 'node:stream';

export interface LogEntry {
  level?: string;
  time?: string;
  msg?: string;
  event?: string;
  [field: string]: unknown;
}

const LEVEL_ORDER = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];
/** Fields every line has, or that the line shows elsewhere. */
const SHOWN = new Set(['level', 'time', 'msg', 'service', 'pid', 'hostname']);

const atLeast = (level: string | undefined, floor: string): boolean => LEVEL_ORDER.indexOf(level ?? 'info') >= LEVEL_ORDER.indexOf(floor);

function value(field: unknown): string {
  if (typeof field === 'string') return /[\s"=]/.test(field) ? JSON.stringify(field) : field;
  if (field && typeof field === 'object' && 'message' in field) return JSON.stringify(String((field as { message: unknown }).message));
  return JSON.stringify(field);
}

/** One entry as one line: "09:12:03 WARN  message  key=value". Pure, for tests. */
export function formatEntry(entry: LogEntry): string {
  const time = entry.time ? new Date(entry.time) : new Date();
  const clock = Number.isNaN(time.getTime()) ? '--:--:--' : time.toTimeString().slice(0, 8);
  const level = (entry.level ?? 'info').toUpperCase().padEnd(5);
  const fields = Object.entries(entry)
    .filter(([key, field]) => !SHOWN.has(key) && field !== undefined && field !== null)
    .map(([key, field]) => `${key}=${value(field)}`);
  return `${clock} ${level} ${entry.msg ?? ''}${fields.length ? `  ${fields.join(' ')}` : ''}`;
}

function parse(line: string): LogEntry | undefined {
  try {
    const entry = JSON.parse(line) as unknown;
    return entry && typeof entry === 'object' ? (entry as LogEntry) : undefined;
  } catch {
    return undefined;
  }
}

export class PrettyLog extends Writable {
  private held: LogEntry[] | undefined = [];
  private partial = '';

  constructor(private readonly out: NodeJS.WritableStream) {
    super();
  }

  override _write(chunk: Buffer | string, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    const lines = (this.partial + chunk.toString()).split('\n');
    this.partial = lines.pop() ?? '';
    for (const line of lines) {
      if (!line) continue;
      const entry = parse(line);
      if (!entry) this.out.write(`${line}\n`);
      else if (this.held) this.held.push(entry);
      else this.out.write(`${formatEntry(entry)}\n`);
    }
    done();
  }

  /**
   * Ends the hold: writes the held warnings and errors, except those of
   * `covered` events (the first screen listed them), and every line from
   * now on as it comes.
   */
  release(covered: ReadonlySet<string> = new Set()): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const entry of held) {
      if (atLeast(entry.level, 'warn') && !(entry.event && covered.has(entry.event))) this.out.write(`${formatEntry(entry)}\n`);
    }
  }
}
