/**
 * What a person or a PBX may say when setting Do-Not-Disturb: an optional
 * reason and an optional end time. The admin API and the CLI check it here,
 * with messages that name the field, so both refuse the same things.
 */
import { SwitchboardError } from '../errors.ts';
import { isoInZone, parseInstant } from '../hours/time-text.ts';

export interface DndInput {
  reason: string | null;
  /** ms since the epoch */
  until: number | null;
}

export const REASON_MAX_LENGTH = 200;
const FIELDS = ['reason', 'until'];

function refuse(field: string, message: string): never {
  throw new SwitchboardError('BAD_REQUEST', `${field}: ${message}`, { details: { field } });
}

/**
 * Checks a request body (or the CLI's flags). `until` is ISO-8601; without an
 * offset it is read in the account's time zone, and it must lie in the future.
 */
export function readDndInput(body: unknown, timezone: string, now: number): DndInput {
  if (body === undefined || body === null) return { reason: null, until: null };
  if (typeof body !== 'object' || Array.isArray(body)) {
    refuse('body', 'must be a JSON object with optional reason and until');
  }
  const fields = body as Record<string, unknown>;
  const unknown = Object.keys(fields).find((key) => !FIELDS.includes(key));
  if (unknown !== undefined) refuse(unknown.slice(0, 64), `unknown field; the body may have ${FIELDS.join(' and ')}`);

  let reason: string | null = null;
  if (fields.reason !== undefined && fields.reason !== null) {
    if (typeof fields.reason !== 'string') refuse('reason', 'must be a string');
    const text = fields.reason.trim();
    if (text.length > REASON_MAX_LENGTH) refuse('reason', `must be at most ${REASON_MAX_LENGTH} characters`);
    // The reason is read out to callers by the voice agent: one line of text.
    if (/\p{Cc}/u.test(text)) refuse('reason', 'must be a single line without control characters');
    reason = text || null;
  }

  let until: number | null = null;
  if (fields.until !== undefined && fields.until !== null) {
    if (typeof fields.until !== 'string') refuse('until', 'must be an ISO-8601 date-time string, e.g. 2026-03-09T17:00:00-05:00');
    const instant = parseInstant(fields.until, timezone);
    if (instant === undefined) refuse('until', 'is not an ISO-8601 date-time, e.g. 2026-03-09T17:00:00-05:00');
    if (instant <= now) refuse('until', `must be in the future (it is now ${isoInZone(now, timezone)})`);
    until = instant;
  }
  return { reason, until };
}
