/**
 * Local calendar dates and wall-clock times of a time zone, turned into
 * instants without surprises on days when the clock jumps.
 *
 * Office hours are written as wall-clock times ("09:00-17:30"). On a DST day
 * a wall time can be missing (02:30 on a spring-forward night) or happen twice
 * (01:30 on a fall-back night). One rule covers both: a wall time stands for
 * the first instant at which the local clock shows that time or later. A
 * missing 02:30 is the moment the clock jumps (03:00 in New York); a doubled
 * 01:30 is its first occurrence. luxon alone shifts a missing time by the
 * size of the gap and picks the later occurrence, so the rule is computed
 * here from the zone's offsets.
 */
import type { IANAZone } from 'luxon';

import { WEEKDAYS, type Weekday } from '../manifests/types.ts';

/** A date on the local calendar, without a zone. */
export interface CivilDate {
  year: number;
  month: number;
  day: number;
}

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

const utcMidnight = (date: CivilDate): number => Date.UTC(date.year, date.month - 1, date.day);

export function addDays(date: CivilDate, days: number): CivilDate {
  const moved = new Date(utcMidnight(date) + days * DAY);
  return { year: moved.getUTCFullYear(), month: moved.getUTCMonth() + 1, day: moved.getUTCDate() };
}

export function weekdayOf(date: CivilDate): Weekday {
  // getUTCDay: 0 is Sunday; WEEKDAYS starts on Monday.
  return WEEKDAYS[(new Date(utcMidnight(date)).getUTCDay() + 6) % 7] as Weekday;
}

const pad = (value: number): string => String(value).padStart(2, '0');

/** "2026-12-25" */
export const dateKey = (date: CivilDate): string => `${date.year}-${pad(date.month)}-${pad(date.day)}`;

/** "12-25", the key of a yearly exception. */
export const yearlyKey = (date: CivilDate): string => `${pad(date.month)}-${pad(date.day)}`;

/** Days from `from` to `to` on the calendar (negative when `to` is earlier). */
export const daysBetween = (from: CivilDate, to: CivilDate): number => Math.round((utcMidnight(to) - utcMidnight(from)) / DAY);

/** Minutes after midnight of "HH:MM" (24:00 is 1440). */
export function minutesOf(time: string): number {
  const [hours, minutes] = time.split(':').map(Number);
  return (hours ?? 0) * 60 + (minutes ?? 0);
}

/**
 * The first instant (ms since the epoch) at which the clock in `zone` shows
 * `minutes` after midnight of `date`, or a later time. `minutes` may be 1440
 * or more: 24:00 is midnight at the start of the next day.
 */
export function firstInstantAt(zone: IANAZone, date: CivilDate, minutes: number): number {
  // Each answer costs several time-zone lookups through Intl; the same few
  // dates and times are asked on every call, so answers are kept.
  const key = `${zone.name}|${date.year}-${date.month}-${date.day}|${minutes}`;
  let instant = instants.get(key);
  if (instant === undefined) {
    if (instants.size >= MAX_KEPT_INSTANTS) instants.clear();
    instant = computeFirstInstantAt(zone, date, minutes);
    instants.set(key, instant);
  }
  return instant;
}

const instants = new Map<string, number>();
const MAX_KEPT_INSTANTS = 100_000;

function computeFirstInstantAt(zone: IANAZone, date: CivilDate, minutes: number): number {
  const wall = utcMidnight(date) + minutes * MINUTE;
  // The offsets in force a day before and a day after: around a transition
  // one of them is the old and one the new offset.
  const before = zone.offset(wall - DAY);
  const after = zone.offset(wall + DAY);
  const matches = [...new Set([before, after, zone.offset(wall)])]
    .map((offset) => wall - offset * MINUTE)
    .filter((instant) => zone.offset(instant) * MINUTE === wall - instant);
  if (matches.length) return Math.min(...matches);

  // No instant shows this wall time: it lies in a forward jump. The answer is
  // the jump itself, the first instant with the new offset.
  let low = wall - Math.max(before, after) * MINUTE;
  let high = wall - Math.min(before, after) * MINUTE;
  const newOffset = zone.offset(high);
  while (high - low > 1) {
    const middle = Math.floor((low + high) / 2);
    if (zone.offset(middle) === newOffset) high = middle;
    else low = middle;
  }
  return high;
}
