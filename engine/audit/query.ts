/**
 * Audit filters as people write them, for the admin API (query parameters)
 * and `switchboard audit` (flags) alike: one parser, one set of messages, one
 * JSON shape of a page. Times are ISO 8601 or a duration back from now
 * ("90m", "24h", "7d"); the cursor is opaque to clients.
 */
import { SwitchboardError } from '../errors.ts';
import type { ToolCallStatus } from '../vocabulary/tool-calls.ts';
import type { AuditCursor, AuditEntry, AuditPage, AuditQuery } from './audit-log.ts';

export const DEFAULT_LIMIT = 50;
export const MAX_LIMIT = 200;
export const AUDIT_FILTERS = ['call', 'tool', 'persona', 'status', 'since', 'until', 'limit', 'cursor'] as const;
export type AuditFilterName = (typeof AUDIT_FILTERS)[number];
export type RawAuditFilters = Partial<Record<AuditFilterName, string>>;

const STATUSES: readonly ToolCallStatus[] = ['ok', 'error', 'invalid_arguments'];
const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
const ISO_TIME = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d{1,3})?)?)(Z|[+-]\d{2}:\d{2})?)?$/;

const bad = (message: string) => new SwitchboardError('BAD_REQUEST', message);

/** An ISO 8601 time ("2026-05-01", "2026-05-01T08:00:00Z", UTC unless an offset is given) or a duration back from `now` ("24h", "7d"). */
export function parseTime(raw: string, name: string, now: number): number {
  const duration = /^(\d{1,6})([smhdw])$/.exec(raw.trim());
  if (duration) return now - Number(duration[1]) * (UNIT_MS[duration[2] as string] as number);
  // A time without an offset is UTC, like a bare date: never the server's local zone.
  const iso = ISO_TIME.exec(raw.trim());
  const ms = iso ? Date.parse(iso[2] ? `${iso[1]}T${iso[2]}${iso[3] ?? 'Z'}` : (iso[1] as string)) : NaN;
  if (Number.isNaN(ms)) throw bad(`${name} must be an ISO 8601 time (2026-05-01T08:00:00Z) or a duration back from now (90m, 24h, 7d), got "${raw}"`);
  return ms;
}

export const encodeCursor = (cursor: AuditCursor): string => Buffer.from(`${cursor.at}:${cursor.id}`).toString('base64url');

export function decodeCursor(raw: string): AuditCursor {
  const match = /^(\d{1,16}):(\d{1,16})$/.exec(Buffer.from(raw, 'base64url').toString('utf8'));
  if (!match) throw bad('cursor is not one this server handed out; pass next_cursor of the previous page unchanged');
  return { at: Number(match[1]), id: Number(match[2]) };
}

/** Checks and converts raw filters; `now` anchors durations such as "24h". */
export function parseAuditFilters(accountId: string, raw: RawAuditFilters, now: number): AuditQuery {
  const query: AuditQuery = { accountId, limit: DEFAULT_LIMIT };
  for (const [name, value] of Object.entries(raw) as [AuditFilterName, string | undefined][]) {
    if (value === undefined) continue;
    if (value.length > 256) throw bad(`${name} is longer than 256 characters`);
    switch (name) {
      case 'call':
        query.callId = value;
        break;
      case 'tool':
        query.tool = value;
        break;
      case 'persona':
        query.personaId = value;
        break;
      case 'status':
        if (!(STATUSES as string[]).includes(value)) throw bad(`status must be one of ${STATUSES.join(', ')}, got "${value}"`);
        query.status = value as ToolCallStatus;
        break;
      case 'since':
        query.since = parseTime(value, 'since', now);
        break;
      case 'until':
        query.until = parseTime(value, 'until', now);
        break;
      case 'limit': {
        const limit = Number(value);
        if (!/^\d+$/.test(value) || limit < 1 || limit > MAX_LIMIT) throw bad(`limit must be a whole number from 1 to ${MAX_LIMIT}, got "${value}"`);
        query.limit = limit;
        break;
      }
      case 'cursor':
        query.cursor = decodeCursor(value);
        break;
    }
  }
  return query;
}

/** One audit row as the admin API and `switchboard audit --json` show it. */
export const entryJson = (entry: AuditEntry) => ({
  id: entry.id,
  started_at: new Date(entry.at).toISOString(),
  account_id: entry.accountId,
  persona_id: entry.personaId,
  call_id: entry.callId,
  key_id: entry.keyId,
  tool: entry.tool,
  arguments: entry.arguments,
  status: entry.status,
  error_code: entry.errorCode,
  text: entry.text,
  duration_ms: entry.durationMs,
});

export const pageJson = (page: AuditPage) => ({ entries: page.items.map(entryJson), next_cursor: page.next ? encodeCursor(page.next) : null });
