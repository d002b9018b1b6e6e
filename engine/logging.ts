/**
 * Structured JSON logs (pino). Keys, secrets and authorization headers are
 * redacted by path before a line is written, wherever they appear in the
 * logged object, so a careless `log.info({ req })` cannot leak a credential.
 */
import { pino, type Logger, type LoggerOptions } from 'pino';

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
