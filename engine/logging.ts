/**
 * Structured JSON logs (pino). Keys, secrets and authorization headers are
 * redacted by path before a line is written, wherever they appear in the
 * logged object, so a careless `log.info({ req })` cannot leak a credential.
 * And every line is masked as it is written: a secret value the server has
 * handed out (engine/secrets.ts) never reaches the log, whatever field or
 * message quotes it, in whatever form.
 */
import { pino, type Logger, type LoggerOptions } from 'pino';

import { knownSecretsMask } from './secrets.ts';

export type { Logger };

const REDACT_PATHS = [
  'key',
  'apiKey',
  'secret',
  'password',
  'token',
  'authorization',
  '*.key',
  '*.apiKey',
  '*.secret',
  '*.password',
  '*.token',
  '*.authorization',
  'headers["x-api-key"]',
  'headers.authorization',
  'headers.cookie',
  '*.headers["x-api-key"]',
  '*.headers.authorization',
  '*.headers.cookie',
  '*.headers["x-switchboard-signature"]',
];

/**
 * A serialized log line with every known secret masked. A line that holds
 * one is parsed and masked value by value, so it stays one JSON object (a
 * secret made of digits or quotes masked in the raw text could break it).
 */
export function maskLogLine(line: string): string {
  const mask = knownSecretsMask();
  if (!mask.size || !mask.test(line)) return line;
  try {
    return `${JSON.stringify(mask.maskDeep(JSON.parse(line)))}${line.endsWith('\n') ? '\n' : ''}`;
  } catch {
    return mask.mask(line);
  }
}

export interface LoggerSettings {
  level?: string;
  /** Where lines go; defaults to stdout. Tests pass a stream to read them. */
  destination?: NodeJS.WritableStream;
}

export function createLogger(settings: LoggerSettings = {}): Logger {
  const options: LoggerOptions = {
    level: settings.level ?? 'info',
    base: { service: 'switchboard' },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    hooks: { streamWrite: maskLogLine },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  };
  if (settings.destination) return pino(options, settings.destination as pino.DestinationStream);
  // Asynchronous stdout: under load, lines written while one write is in
  // flight go out together instead of one system call each. The process
  // ends by letting its event loop drain (never process.exit), so pending
  // lines are written before it exits.
  return pino(options, pino.destination({ dest: 1, sync: false }));
}

/** A logger that drops everything; for CLI commands that print their own output. */
export const silentLogger: Logger = pino({ level: 'silent' });
