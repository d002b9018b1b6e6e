/**
 * A persona's office hours as concrete opening spans on the time line.
 *
 * Each local date gets its hours from, in this order: a dated exception
 * ("2026-12-24"), a yearly exception ("12-24"), its weekday; a weekday that is
 * not listed is closed. An interval belongs to the date it starts on: one
 * whose end is not after its start runs past midnight into the next date, and
 * 24:00 ends the date. Bounds become instants by the rule of wall-time.ts, so
 * DST days need no special case here.
 */
import type { IANAZone } from 'luxon';

import type { DayHours, OfficeHours } from '../manifests/types.ts';
import { addDays, dateKey, firstInstantAt, minutesOf, weekdayOf, yearlyKey, type CivilDate } from './wall-time.ts';

/** Where a date's hours come from: its weekday, or the exception with this key. */
export type HoursSource = { kind: 'weekday' } | { kind: 'exception'; key: string };

export interface DayPlan {
  date: CivilDate;
  hours: DayHours;
  source: HoursSource;
}

/** An opening on the time line, ms since the epoch: open from `start`, closed again at `end`. */
export interface OpenSpan {
  start: number;
  end: number;
}

export function planFor(officeHours: OfficeHours, date: CivilDate): DayPlan {
  const exceptions = officeHours.exceptions ?? {};
  for (const key of [dateKey(date), yearlyKey(date)]) {
    const hours = exceptions[key];
    if (hours !== undefined) return { date, hours, source: { kind: 'exception', key } };
  }
  return { date, hours: officeHours[weekdayOf(date)] ?? 'closed', source: { kind: 'weekday' } };
}

const FULL_DAY = 24 * 60;

/** The spans that start on the plan's date, earliest first. A span lost in a DST jump (02:15-02:45) is left out. */
export function spansOf(zone: IANAZone, plan: DayPlan): OpenSpan[] {
  const { date, hours } = plan;
  if (hours === 'closed') return [];
  const intervals: [number, number][] =
    hours === '24h'
      ? [[0, FULL_DAY]]
      : hours.map((interval) => {
          const [from, to] = interval.split('-') as [string, string];
          const start = minutesOf(from);
          const end = minutesOf(to);
          return [start, end > start ? end : end + FULL_DAY];
        });
  return intervals
    .map(([start, end]) => ({ start: firstInstantAt(zone, date, start), end: firstInstantAt(zone, date, end) }))
    .filter((span) => span.end > span.start)
    .sort((a, b) => a.start - b.start);
}

/** Dates looked at when searching for the next opening or closing: a year and a day, so yearly exceptions are seen. */
const SEARCH_DAYS = 367;

/** Spans of `first` and the dates after it, date by date, up to the search horizon. */
export function* spansFrom(zone: IANAZone, officeHours: OfficeHours, first: CivilDate): Generator<{ date: CivilDate; spans: OpenSpan[] }> {
  for (let offset = 0; offset < SEARCH_DAYS; offset++) {
    const date = addDays(first, offset);
    yield { date, spans: spansOf(zone, planFor(officeHours, date)) };
  }
}
