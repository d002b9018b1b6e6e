/**
 * Server settings. One table names every setting once, with its command-line
 * flag, its environment variable, its default and its meaning; `serve --help`
 * and the README's table are printed from it. A flag beats the environment,
 * the environment beats the default, and a value that does not parse stops
 * the start with a message that names the setting.
 */
import path from 'node:path';

import { defaultNodeName, parseNodeName } from './cluster/node-name.ts';
import { SwitchboardError } from './errors.ts';
import { TOOL_SCHEMA_PROFILES, type ToolSchemaProfile } from './tools/schema-profiles.ts';

export interface ServerSettings {
  host: string;
  port: number;
  dataDir: string;
  personasDir: string;
  tlsCert: string | undefined;
  tlsKey: string | undefined;
  allowedHosts: string[];
  allowedOrigins: string[];
  maxSessions: number;
  maxSessionsPerAccount: number;
  maxSessionsPerKey: number;
  sessionIdleSeconds: number;
  sessionUnusedSeconds: number;
  requestTimeoutSeconds: number;
  authFailureLimit: number;
  bodyLimitBytes: number;
  rateLimitPerSecond: number;
  logLevel: string;
  logFormat: 'auto' | 'pretty' | 'json';
  secretsFile: string | undefined;
  metricsToken: string | undefined;
  outboundAllow: string[];
  shutdownGraceSeconds: number;
  reloadDebounceMs: number;
  minFreeDiskMb: number;
  auditRetentionDays: number;
  dbSynchronous: 'normal' | 'full';
  databaseUrl: string | undefined;
  databasePoolSize: number;
  databaseStatementTimeoutMs: number;
  databaseCa: string | undefined;
  nodeName: string;
  publicUrl: string | undefined;
  toolSchemaProfile: ToolSchemaProfile;
}

type Parser<T> = (raw: string, name: string) => T;

interface SettingSpec<K extends keyof ServerSettings> {
  key: K;
  flag: string;
  env: string;
  default: ServerSettings[K];
  parse: Parser<ServerSettings[K]>;
  description: string;
}

const text: Parser<string> = (raw) => raw;
const optionalText: Parser<string | undefined> = (raw) => (raw === '' ? undefined : raw);
const list: Parser<string[]> = (raw) =>
  raw
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);

function integer(min: number, max: number): Parser<number> {
  return (raw, name) => {
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new SwitchboardError('CONFIG_INVALID', `${name} must be a whole number from ${min} to ${max}, got "${raw}"`);
    }
    return value;
  };
}

function oneOf<T extends string>(...values: T[]): Parser<T> {
  return (raw, name) => {
    if (!(values as string[]).includes(raw)) {
      throw new SwitchboardError('CONFIG_INVALID', `${name} must be one of ${values.join(', ')}, got "${raw}"`);
    }
    return raw as T;
  };
}

/** Sizes like 1048576, 512kb, 1mb. */
const byteSize: Parser<number> = (raw, name) => {
  const match = /^(\d+)\s*(b|kb|kib|mb|mib)?$/i.exec(raw.trim());
  if (!match) throw new SwitchboardError('CONFIG_INVALID', `${name} must be a size such as 262144, 256kb or 1mb, got "${raw}"`);
  const unit = (match[2] ?? 'b').toLowerCase();
  const factor = unit.startsWith('m') ? 1024 * 1024 : unit.startsWith('k') ? 1024 : 1;
  return Number(match[1]) * factor;
};

/** An http(s) base URL without a path, query or trailing slash: where phone systems reach this server. */
const publicUrl: Parser<string | undefined> = (raw, name) => {
  if (raw === '') return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new SwitchboardError('CONFIG_INVALID', `${name} must be a URL such as https://switchboard.example.com, got "${raw}"`);
  }
  if (!/^https?:$/.test(url.protocol) || url.username || url.password || url.search || url.hash || !['', '/'].includes(url.pathname)) {
    throw new SwitchboardError('CONFIG_INVALID', `${name} must be an http(s) URL with no path, query or credentials, such as https://switchboard.example.com, got "${raw}"`);
  }
  return url.origin;
};

/** postgres:// or postgresql:// URL; the password may be in it (it is never logged: logs name host and database only). */
const databaseUrl: Parser<string | undefined> = (raw, name) => {
  if (raw === '') return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new SwitchboardError('CONFIG_INVALID', `${name} must be a URL such as postgres://switchboard@db.example:5432/switchboard`);
  }
  if (!/^postgres(ql)?:$/.test(url.protocol) || !url.hostname || url.pathname.length < 2) {
    throw new SwitchboardError('CONFIG_INVALID', `${name} must be a postgres:// URL with a host and a database, such as postgres://switchboard@db.example:5432/switchboard (leave it unset for the SQLite file in --data)`);
  }
  return raw;
};

function setting<K extends keyof ServerSettings>(spec: SettingSpec<K>): SettingSpec<K> {
  return spec;
}

export const SETTINGS = [
  setting({ key: 'host', flag: 'host', env: 'SWITCHBOARD_HOST', default: '127.0.0.1', parse: text, description: 'Address to listen on. Use 0.0.0.0 to serve other machines (then set TLS and allowed hosts).' }),
  setting({ key: 'port', flag: 'port', env: 'SWITCHBOARD_PORT', default: 9443, parse: integer(0, 65535), description: 'TCP port; 0 picks a free one.' }),
  setting({ key: 'dataDir', flag: 'data', env: 'SWITCHBOARD_DATA', default: './data', parse: text, description: 'Directory of the SQLite database (switchboard.db).' }),
  setting({ key: 'personasDir', flag: 'personas', env: 'SWITCHBOARD_PERSONAS', default: './personas', parse: text, description: 'Directory of account and persona manifests (watched for changes).' }),
  setting({ key: 'tlsCert', flag: 'tls-cert', env: 'SWITCHBOARD_TLS_CERT', default: undefined, parse: optionalText, description: 'PEM certificate (chain); with --tls-key the server speaks HTTPS.' }),
  setting({ key: 'tlsKey', flag: 'tls-key', env: 'SWITCHBOARD_TLS_KEY', default: undefined, parse: optionalText, description: 'PEM private key for --tls-cert.' }),
  setting({ key: 'allowedHosts', flag: 'allowed-hosts', env: 'SWITCHBOARD_ALLOWED_HOSTS', default: [], parse: list, description: 'Host header names accepted besides localhost names on loopback binds (comma separated). Guards against DNS rebinding.' }),
  setting({ key: 'allowedOrigins', flag: 'allowed-origins', env: 'SWITCHBOARD_ALLOWED_ORIGINS', default: [], parse: list, description: 'Origin hosts accepted from browsers (comma separated). Requests without Origin are not affected.' }),
  setting({ key: 'maxSessions', flag: 'max-sessions', env: 'SWITCHBOARD_MAX_SESSIONS', default: 5000, parse: integer(1, 1_000_000), description: 'Live MCP sessions at most on this server; past it a new session gets 503 with Retry-After.' }),
  setting({ key: 'maxSessionsPerAccount', flag: 'max-sessions-per-account', env: 'SWITCHBOARD_MAX_SESSIONS_PER_ACCOUNT', default: 1000, parse: integer(1, 1_000_000), description: "Live MCP sessions at most of one account, so that one tenant cannot take every session; past it that account's new sessions get 429 with Retry-After." }),
  setting({ key: 'maxSessionsPerKey', flag: 'max-sessions-per-key', env: 'SWITCHBOARD_MAX_SESSIONS_PER_KEY', default: 500, parse: integer(1, 1_000_000), description: "Live MCP sessions at most opened with one API key; past it that key's new sessions get 429 with Retry-After." }),
  setting({ key: 'sessionIdleSeconds', flag: 'session-idle-seconds', env: 'SWITCHBOARD_SESSION_IDLE_SECONDS', default: 900, parse: integer(1, 86_400), description: 'A session with no request for this long is closed.' }),
  setting({ key: 'sessionUnusedSeconds', flag: 'session-unused-seconds', env: 'SWITCHBOARD_SESSION_UNUSED_SECONDS', default: 60, parse: integer(1, 86_400), description: 'A session that has made no request since its initialize (an abandoned handshake) is closed after this long.' }),
  setting({ key: 'requestTimeoutSeconds', flag: 'request-timeout-seconds', env: 'SWITCHBOARD_REQUEST_TIMEOUT_SECONDS', default: 30, parse: integer(1, 3600), description: 'How long a client may take to send the headers and body of a request; past it the connection is answered 408 and closed. Answers that stay open (event streams for a whole call) are not limited.' }),
  setting({ key: 'authFailureLimit', flag: 'auth-failure-limit', env: 'SWITCHBOARD_AUTH_FAILURE_LIMIT', default: 30, parse: integer(0, 1_000_000), description: 'Failed API-key or metrics-token checks per minute from one client address (IPv6: one /64); past it the address gets 429 for any key not in use; 0 turns the limit off.' }),
  setting({ key: 'bodyLimitBytes', flag: 'body-limit', env: 'SWITCHBOARD_BODY_LIMIT', default: 256 * 1024, parse: byteSize, description: 'Largest request body accepted (413 past it).' }),
  setting({ key: 'rateLimitPerSecond', flag: 'rate-limit', env: 'SWITCHBOARD_RATE_LIMIT', default: 200, parse: integer(0, 1_000_000), description: 'JSON-RPC messages per second per API key, a batch counting each of its messages (bursts up to twice that); 0 turns the limit off.' }),
  setting({ key: 'logLevel', flag: 'log-level', env: 'SWITCHBOARD_LOG_LEVEL', default: 'info', parse: oneOf('fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'), description: 'Least severe log level written.' }),
  setting({ key: 'logFormat', flag: 'log-format', env: 'SWITCHBOARD_LOG_FORMAT', default: 'auto', parse: oneOf('auto', 'pretty', 'json'), description: 'How serve writes its log: json (one JSON object a line, for journald and log shippers), pretty (a summary of what was loaded and how to try it, then one short line an entry), or auto: pretty on an interactive terminal, json otherwise.' }),
  setting({ key: 'secretsFile', flag: 'secrets-file', env: 'SWITCHBOARD_SECRETS_FILE', default: undefined, parse: optionalText, description: 'File of NAME=value lines read for secrets besides the environment (keep it out of git, mode 0600).' }),
  setting({ key: 'metricsToken', flag: 'metrics-token', env: 'SWITCHBOARD_METRICS_TOKEN', default: undefined, parse: optionalText, description: 'When set, /metrics requires "Authorization: Bearer <token>".' }),
  setting({ key: 'outboundAllow', flag: 'outbound-allow', env: 'SWITCHBOARD_OUTBOUND_ALLOW', default: [], parse: list, description: 'CIDRs or host names that API tools may reach although private (comma separated), e.g. 10.20.0.0/16,crm.internal.' }),
  setting({ key: 'shutdownGraceSeconds', flag: 'shutdown-grace-seconds', env: 'SWITCHBOARD_SHUTDOWN_GRACE_SECONDS', default: 10, parse: integer(0, 600), description: 'On SIGTERM, how long requests in flight may finish before sessions are closed.' }),
  setting({ key: 'reloadDebounceMs', flag: 'reload-debounce-ms', env: 'SWITCHBOARD_RELOAD_DEBOUNCE_MS', default: 75, parse: integer(0, 60_000), description: 'Quiet time after a manifest change before the reload (one reload for a burst of writes); at least 60.' }),
  setting({ key: 'minFreeDiskMb', flag: 'min-free-disk-mb', env: 'SWITCHBOARD_MIN_FREE_DISK_MB', default: 64, parse: integer(0, 1_000_000_000), description: "Free space (MiB) the data directory's disk must keep; below it /readyz answers 503, so a load balancer sends calls elsewhere before writes fail. 0 turns the check off." }),
  setting({ key: 'auditRetentionDays', flag: 'audit-retention-days', env: 'SWITCHBOARD_AUDIT_RETENTION_DAYS', default: 90, parse: integer(0, 36_500), description: 'Audit rows older than this are deleted daily; 0 keeps them forever.' }),
  setting({ key: 'publicUrl', flag: 'public-url', env: 'SWITCHBOARD_PUBLIC_URL', default: undefined, parse: publicUrl, description: 'The URL phone systems use to reach this server (https://host[:port]); Twilio and Telnyx send transfer outcomes to /ucp/v2/pbx/… under it, and their signatures cover it.' }),
  setting({ key: 'toolSchemaProfile', flag: 'tool-schema-profile', env: 'SWITCHBOARD_TOOL_SCHEMA_PROFILE', default: 'full', parse: oneOf(...TOOL_SCHEMA_PROFILES), description: "How tools/list publishes tool schemas for personas whose manifest sets no tool_schema_profile: full (with additionalProperties: false, for OpenAI strict mode) or portable (without it, for google-genai's Python converter and Gemini)." }),
  setting({ key: 'databaseUrl', flag: 'database', env: 'SWITCHBOARD_DATABASE_URL', default: undefined, parse: databaseUrl, description: 'PostgreSQL for live state (postgres://user:password@host:5432/database?sslmode=verify-full), for more than one node; unset: the SQLite file in --data. Prefer the environment variable: a flag shows in the process list.' }),
  setting({ key: 'databasePoolSize', flag: 'database-pool-size', env: 'SWITCHBOARD_DATABASE_POOL_SIZE', default: 10, parse: integer(1, 500), description: 'PostgreSQL: connections this node keeps at most (one more listens for notifications).' }),
  setting({ key: 'databaseStatementTimeoutMs', flag: 'database-statement-timeout-ms', env: 'SWITCHBOARD_DATABASE_STATEMENT_TIMEOUT_MS', default: 10_000, parse: integer(100, 600_000), description: 'PostgreSQL: a statement running longer is cancelled.' }),
  setting({ key: 'databaseCa', flag: 'database-ca', env: 'SWITCHBOARD_DATABASE_CA', default: undefined, parse: optionalText, description: "PostgreSQL: PEM file of the CA that signed the server's certificate (the certificate and host name are then verified)." }),
  setting({
    key: 'nodeName',
    flag: 'node-name',
    env: 'SWITCHBOARD_NODE_NAME',
    default: defaultNodeName(),
    parse: parseNodeName,
    description: "This node's name among the nodes sharing one PostgreSQL database (letters, digits, '-', at most 63; each node its own): leases, logs and session ids carry it. Default: the host name.",
  }),
  setting({ key: 'dbSynchronous', flag: 'db-synchronous', env: 'SWITCHBOARD_DB_SYNCHRONOUS', default: 'full', parse: oneOf('normal', 'full'), description: 'SQLite fsync policy: full survives power loss, normal survives process crashes only and is faster.' }),
] as const;

export type RawOptions = Record<string, string | boolean | undefined>;

/**
 * Resolves every setting from flags (already parsed into `flags`, keyed by flag
 * name), then the environment, then the default. Paths are made absolute
 * against `cwd`, the directory the command was run in.
 */
export function resolveSettings(flags: RawOptions = {}, env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): ServerSettings {
  const settings = {} as Record<string, unknown>;
  const given = new Set<keyof ServerSettings>();
  for (const spec of SETTINGS) {
    const fromFlag = flags[spec.flag];
    const raw = typeof fromFlag === 'string' ? fromFlag : env[spec.env];
    if (raw !== undefined) given.add(spec.key);
    settings[spec.key] = raw === undefined ? spec.default : (spec.parse as Parser<unknown>)(raw, `--${spec.flag} (${spec.env})`);
  }
  const resolved = settings as unknown as ServerSettings;
  if (Boolean(resolved.tlsCert) !== Boolean(resolved.tlsKey)) {
    throw new SwitchboardError('CONFIG_INVALID', '--tls-cert and --tls-key must be given together');
  }
  // A share given larger than what contains it would never apply; a default one may (a small --max-sessions wins).
  if (given.has('maxSessionsPerAccount') && resolved.maxSessionsPerAccount > resolved.maxSessions) {
    throw new SwitchboardError('CONFIG_INVALID', `--max-sessions-per-account (${resolved.maxSessionsPerAccount}) must not exceed --max-sessions (${resolved.maxSessions})`);
  }
  if (given.has('maxSessionsPerKey') && resolved.maxSessionsPerKey > Math.min(resolved.maxSessionsPerAccount, resolved.maxSessions)) {
    throw new SwitchboardError('CONFIG_INVALID', `--max-sessions-per-key (${resolved.maxSessionsPerKey}) must not exceed --max-sessions-per-account (${resolved.maxSessionsPerAccount}) or --max-sessions (${resolved.maxSessions})`);
  }
  resolved.dataDir = path.resolve(cwd, resolved.dataDir);
  resolved.personasDir = path.resolve(cwd, resolved.personasDir);
  for (const file of ['secretsFile', 'tlsCert', 'tlsKey', 'databaseCa'] as const) {
    const value = resolved[file];
    if (value !== undefined) resolved[file] = path.resolve(cwd, value);
  }
  return resolved;
}

/** Options for node:util parseArgs covering every setting flag. */
export function settingFlagOptions(): Record<string, { type: 'string' }> {
  return Object.fromEntries(SETTINGS.map((spec) => [spec.flag, { type: 'string' as const }]));
}

export function settingsHelp(): string {
  return SETTINGS.map((spec) => {
    const fallback = Array.isArray(spec.default) ? (spec.default.length ? spec.default.join(',') : 'none') : (spec.default ?? 'none');
    return `  --${spec.flag.padEnd(24)} ${spec.env}\n      ${spec.description} (default: ${String(fallback)})`;
  }).join('\n');
}

export const databaseFile = (dataDir: string): string => path.join(dataDir, 'switchboard.db');
