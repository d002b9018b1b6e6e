/**
 * Whether the office is open at an instant: a pure function of (office hours,
 * time zone, instant), so the is_office_open tool, the office-hours command
 * and tests all get the same answer for the same moment.
 *
 * The answer is one of the four sentences the tool contract names, chosen by
 * these rules (docs/office-hours.md explains them for persona authors):
 * 1. today's hours are 24h                  -> "Office is open 24 hours today"
 * 2. now lies in an opening span            -> "Office is currently open"
 *    (a span of yesterday that runs past midnight counts)
 * 3. today's own hours are closed           -> "Office is closed today"
 *    (a spill-over from yesterday does not give today hours of its own)
 * 4. otherwise                              -> "Office is currently closed"
 * A second sentence says when the office next closes or opens, as an agent
 * would ("We open again Monday at 9:00 AM."), because many voice platforms
 * hand the model the text alone. The first sentence stays exactly one of the
 * four, so a client that matches on it still can. The structured result has
 * the same times as instants and as short phrases.
 */
import { DateTime, IANAZone } from 'luxon';

import type { DayHours, OfficeHours } from '../manifests/types.ts';
import { planFor, spansFrom, spansOf, type HoursSource } from './schedule.ts';
import { isoInZone, sayTime, spokenTime } from './time-text.ts';
import { addDays, dateKey, firstInstantAt, type CivilDate } from './wall-time.ts';

export type OfficeStatus = 'open' | 'open_24h' | 'closed' | 'closed_today' | 'not_configured';

export const OFFICE_TEXT: Record<OfficeStatus, string> = {
  open: 'Office is currently open',
  open_24h: 'Office is open 24 hours today',
  closed: 'Office is currently closed',
  closed_today: 'Office is closed today',
  not_configured: 'Office hours are not configured for this assistant, so it cannot tell whether the office is open. Do not promise opening times.',
};

export interface OfficeStatusData {
  [key: string]: unknown;
  status: OfficeStatus;
  /** null when office hours are not configured. */
  open: boolean | null;
  timezone: string;
  local_time: string;
  local_day: string;
  /** Today's hours as configured (null when office hours are not configured). */
  today: { date: string; hours: DayHours; source: 'weekday' | 'exception'; exception: string | null } | null;
  closes_at: string | null;
  closes_at_spoken: string | null;
  next_open_at: string | null;
  next_open_spoken: string | null;
}

export interface OfficeAnswer {
  text: string;
  data: OfficeStatusData;
}

/**
 * When the opening that contains now ends, following spans that touch or
 * overlap it (a night shift that runs into a 24h Saturday); null when it does
 * not end within the search horizon.
 */
function closingTime(zone: IANAZone, officeHours: OfficeHours, today: CivilDate, openUntil: number): number | null {
  let end = openUntil;
  for (const { date, spans } of spansFrom(zone, officeHours, today)) {
    // Spans of a date start on that date: once a date begins after the end, nothing can extend it.
    if (firstInstantAt(zone, date, 0) > end) return end;
    for (const span of spans) if (span.start <= end) end = Math.max(end, span.end);
  }
  return null;
}

/** The first opening that starts after `after`, or null if none within the search horizon. */
function nextOpening(zone: IANAZone, officeHours: OfficeHours, today: CivilDate, after: number): number | null {
  for (const { spans } of spansFrom(zone, officeHours, today)) {
    for (const span of spans) if (span.start > after) return span.start;
  }
  return null;
}

/** The second sentence of the answer: when the office next closes (while open) or opens (while closed). */
function nextChange(open: boolean, closesAt: number | null, nextOpenAt: number | null, now: number, timezone: string): string {
  if (open) return closesAt === null ? 'We are open around the clock.' : `We close ${sayTime(closesAt, now, timezone, true)}.`;
  return nextOpenAt === null ? 'No opening is scheduled within the next year.' : `We open again ${sayTime(nextOpenAt, now, timezone)}.`;
}

const sourceFields = (source: HoursSource) => (source.kind === 'exception' ? { source: 'exception' as const, exception: source.key } : { source: 'weekday' as const, exception: null });

/**
 * Answers stay the same, but for the local time, until the office opens or
 * closes or the local date changes; within that stretch an answer is reused
 * instead of walking the schedule again (the time-zone arithmetic is most of
 * the tool's cost). Keyed by the office-hours object, so a reload starts afresh.
 */
const answers = new WeakMap<OfficeHours, Map<string, { from: number; until: number; answer: OfficeAnswer }>>();

export function officeStatus(officeHours: OfficeHours | undefined, timezone: string, now: number): OfficeAnswer {
  if (!officeHours) return computeOfficeStatus(officeHours, timezone, now).answer;
  let byZone = answers.get(officeHours);
  if (!byZone) answers.set(officeHours, (byZone = new Map()));
  const kept = byZone.get(timezone);
  if (kept && now >= kept.from && now < kept.until) {
    return { text: kept.answer.text, data: { ...kept.answer.data, local_time: isoInZone(now, timezone) } };
  }
  const { answer, until } = computeOfficeStatus(officeHours, timezone, now);
  byZone.set(timezone, { from: now, until, answer });
  return answer;
}

function computeOfficeStatus(officeHours: OfficeHours | undefined, timezone: string, now: number): { answer: OfficeAnswer; until: number } {
  const zone = IANAZone.create(timezone);
  const local = DateTime.fromMillis(now, { zone }).setLocale('en');
  const base = { timezone, local_time: isoInZone(now, timezone), local_day: local.toFormat('cccc') };
  const none = { closes_at: null, closes_at_spoken: null, next_open_at: null, next_open_spoken: null };
  if (!officeHours) {
    return { answer: { text: OFFICE_TEXT.not_configured, data: { status: 'not_configured', open: null, ...base, today: null, ...none } }, until: now };
  }

  const today: CivilDate = { year: local.year, month: local.month, day: local.day };
  const plan = planFor(officeHours, today);
  const candidates = [...spansOf(zone, planFor(officeHours, addDays(today, -1))), ...spansOf(zone, plan)];
  const current = candidates.filter((span) => span.start <= now && now < span.end);
  const open = current.length > 0;

  const closesAt = open ? closingTime(zone, officeHours, today, Math.max(...current.map((span) => span.end))) : null;
  const nextOpenAt = open && closesAt === null ? null : nextOpening(zone, officeHours, today, closesAt ?? now);
  const status: OfficeStatus = plan.hours === '24h' ? 'open_24h' : open ? 'open' : plan.hours === 'closed' ? 'closed_today' : 'closed';

  // The answer holds until the next opening or closing, or the local midnight, whichever comes first.
  const midnight = firstInstantAt(zone, addDays(today, 1), 0);
  const until = Math.min(midnight, (open ? closesAt : nextOpenAt) ?? midnight);
  const answer: OfficeAnswer = {
    text: `${OFFICE_TEXT[status]}. ${nextChange(open, closesAt, nextOpenAt, now, timezone)}`,
    data: {
      status,
      open,
      ...base,
      today: { date: dateKey(today), hours: plan.hours, ...sourceFields(plan.source) },
      closes_at: closesAt === null ? null : isoInZone(closesAt, timezone),
      closes_at_spoken: closesAt === null ? null : spokenTime(closesAt, now, timezone, true),
      next_open_at: nextOpenAt === null ? null : isoInZone(nextOpenAt, timezone),
      next_open_spoken: nextOpenAt === null ? null : spokenTime(nextOpenAt, now, timezone),
    },
  };
  return { answer, until };
}
