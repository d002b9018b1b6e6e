/**
 * Instants as text, in an account's time zone: read from ISO-8601 as people
 * type it, written as ISO-8601 with the zone's offset, and said as a short
 * local phrase relative to now ("today 17:30", "tomorrow 09:00", "Monday
 * 09:00", "Monday 4 January 2027 09:00"), and as an agent says it in a
 * sentence ("Monday at 9:00 AM"). Office hours and Do-Not-Disturb share
 * these, so both speak of time the same way.
 */
import { DateTime, IANAZone } from 'luxon';

import { daysBetween, firstInstantAt, type CivilDate } from './wall-time.ts';

const civil = (time: DateTime): CivilDate => ({ year: time.year, month: time.month, day: time.day });

/** The last few answers of isoInZone: under load, many calls ask for the same second. */
const recentIso = new Map<string, string>();

/** "2026-03-06T10:15:00-05:00", to the second. */
export function isoInZone(instant: number, timezone: string): string {
  const second = Math.floor(instant / 1000) * 1000;
  const key = `${second}|${timezone}`;
  let iso = recentIso.get(key);
  if (iso === undefined) {
    iso = DateTime.fromMillis(second, { zone: timezone }).toISO({ suppressMilliseconds: true }) ?? new Date(instant).toISOString();
    if (recentIso.size >= 64) recentIso.clear();
    recentIso.set(key, iso);
  }
  return iso;
}

/**
 * The instant as the local clock shows it, named relative to `now`. For the
 * end of something (`end`), midnight is said as 24:00 of the day before
 * ("closes today 24:00"), the way office hours are written, so it is not
 * mistaken for the next morning.
 */
export function spokenTime(instant: number, now: number, timezone: string, end = false): string {
  let time = DateTime.fromMillis(instant, { zone: timezone }).setLocale('en');
  let clock = time.toFormat('HH:mm');
  if (end && clock === '00:00') {
    time = time.minus({ days: 1 });
    clock = '24:00';
  }
  const days = daysBetween(civil(DateTime.fromMillis(now, { zone: timezone })), civil(time));
  const day = days === 0 ? 'today' : days === 1 ? 'tomorrow' : days === -1 ? 'yesterday' : days > 1 && days < 7 ? time.toFormat('cccc') : time.toFormat('cccc d LLLL yyyy');
  return `${day} ${clock}`;
}

/**
 * An instant from ISO-8601 text: with an offset or Z it is exact; without one
 * ("2026-12-25T10:00", "2026-12-25") it is a wall time of the zone, read by
 * the rule office hours follow (wall-time.ts): a time the clock skips is the
 * moment of the jump, a time it shows twice is its first occurrence. luxon
 * would move a skipped time by the size of the gap and take the later of two,
 * so `--at 02:30` on a spring-forward night would not be the 02:30 of the
 * schedule. undefined when the text is not ISO-8601.
 */
export function parseInstant(text: string, timezone: string): number | undefined {
  if (text.length > 64) return undefined;
  const trimmed = text.trim();
  const zone = IANAZone.create(timezone);
  const asUtc = DateTime.fromISO(trimmed, { zone: 'utc' });
  if (!asUtc.isValid || !zone.isValid) return undefined;
  // Text that names its offset is the same instant whatever zone it is read in.
  if (DateTime.fromISO(trimmed, { zone: 'UTC+5' }).toMillis() === asUtc.toMillis()) return asUtc.toMillis();
  const date: CivilDate = { year: asUtc.year, month: asUtc.month, day: asUtc.day };
  const sinceMidnight = asUtc.toMillis() - Date.UTC(date.year, date.month - 1, date.day);
  return Math.round(firstInstantAt(zone, date, sinceMidnight / 60_000));
}

/**
 * The instant as a voice agent says it after "We open again" or "We close":
 * "today at 5:30 PM", "tomorrow at 9:00 AM", "Monday at 9:00 AM", "on
 * Monday, January 4 at 9:00 AM" a week or more ahead. In 12-hour form,
 * since that is how the text is read aloud in English. For the end of
 * something (`end`), a midnight is said as "midnight" of the day that ends.
 */
export function sayTime(instant: number, now: number, timezone: string, end = false): string {
  let time = DateTime.fromMillis(instant, { zone: timezone }).setLocale('en');
  const midnight = end && time.hour === 0 && time.minute === 0;
  if (midnight) time = time.minus({ days: 1 });
  const today = DateTime.fromMillis(now, { zone: timezone });
  const days = daysBetween(civil(today), civil(time));
  const clock = midnight ? 'midnight' : time.toFormat('h:mm a');
  if (days === 0) return midnight ? 'at midnight' : `today at ${clock}`;
  if (days === 1) return `tomorrow at ${clock}`;
  if (days > 1 && days < 7) return `${time.toFormat('cccc')} at ${clock}`;
  return `on ${time.toFormat(time.year === today.year ? 'cccc, LLLL d' : 'cccc, LLLL d, yyyy')} at ${clock}`;
}
