/**
 * is_office_open through MCP with the official client: the edge rules of
 * office hours (midnight spill-over, DST days in both directions in New York
 * and London, dated and yearly exceptions, 24h, closed, no office hours),
 * with the server's clock fixed at each moment. The answer is one of the
 * contract's four sentences, then when the office next closes or opens.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Client } from '@modelcontextprotocol/client';

import { FixedClock } from '../engine/clock.ts';
import { callHeaders, connect, startTestServer, textOf, type Era, type TestServer } from './helpers/server.ts';

const weekdays = (hours: string) => ['monday', 'tuesday', 'wednesday', 'thursday', 'friday'].map((day) => `  ${day}: ${hours}`).join('\n');

export const hoursManifests: Record<string, string> = {
  'acme/account.yaml': 'account_id: acme\ntimezone: America/New_York\n',
  'acme/front-desk.yaml': `persona_id: front-desk
office_hours:
  monday: ["09:00-12:00", "13:00-17:30"]
  tuesday: ["09:00-12:00", "13:00-17:30"]
  wednesday: ["09:00-12:00", "13:00-17:30"]
  thursday: ["09:00-12:00", "13:00-17:30"]
  friday: ["09:00-15:00"]
  saturday: closed
  exceptions:
    "12-25": closed
    "2026-12-25": ["10:00-12:00"]
    "2026-12-24": ["09:00-12:00"]
`,
  'acme/night.yaml': `persona_id: night
office_hours:
${weekdays('["22:00-06:00"]')}
  saturday: ["22:00-02:00"]
  sunday: closed
  exceptions:
    "2026-07-03": 24h
`,
  'acme/weekend.yaml': 'persona_id: weekend\noffice_hours:\n  saturday: 24h\n  sunday: 24h\n',
  'acme/dst-night.yaml': 'persona_id: dst-night\noffice_hours:\n  saturday: ["22:00-06:00"]\n',
  'acme/dst-early.yaml': 'persona_id: dst-early\noffice_hours:\n  sunday: ["00:30-02:30", "02:45-04:00"]\n',
  'acme/dst-doubled.yaml': 'persona_id: dst-doubled\noffice_hours:\n  sunday: ["01:30-03:00"]\n',
  'acme/no-hours.yaml': 'persona_id: no-hours\n',
  'acme/rare.yaml': 'persona_id: rare\noffice_hours:\n  exceptions:\n    "2026-04-15": ["09:00-10:00"]\n    "2027-01-08": ["09:00-10:00"]\n',
  'acme/never.yaml': 'persona_id: never\noffice_hours:\n  monday: closed\n',
  'globex/account.yaml': 'account_id: globex\ntimezone: Europe/London\n',
  'globex/reception.yaml': `persona_id: reception
office_hours:
${weekdays('["08:00-18:00"]')}
  saturday: ["23:00-01:30"]
  sunday: closed
`,
};

const clock = new FixedClock(Date.parse('2026-03-02T12:00:00Z'));
let server: TestServer;
const keys: Record<string, string> = {};
const clients = new Map<string, Client>();

beforeAll(async () => {
  // The rate limiter runs on the server's clock, which these tests move back and forth.
  server = await startTestServer({ personas: hoursManifests, clock, settings: { rateLimitPerSecond: 0 } });
  keys.acme = await server.key('acme');
  keys.globex = await server.key('globex');
});
afterAll(async () => {
  for (const client of clients.values()) await client.close();
  await server.close();
});

interface OfficeData {
  status: string;
  open: boolean | null;
  timezone: string;
  local_time: string;
  local_day: string;
  today: { date: string; hours: unknown; source: string; exception: string | null } | null;
  closes_at: string | null;
  closes_at_spoken: string | null;
  next_open_at: string | null;
  next_open_spoken: string | null;
}

/** `text` is the first sentence (one of the contract's four, without its full stop), `next` the sentence after it. */
async function officeAt(persona: string, instant: string, era: Era = 'legacy', account = 'acme'): Promise<{ text: string; next: string | undefined; said: string; data: OfficeData; isError: unknown }> {
  const name = `${account}/${persona}/${era}`;
  let client = clients.get(name);
  if (!client) {
    client = await connect(server, callHeaders({ key: keys[account] as string, account, persona }), era);
    clients.set(name, client);
  }
  clock.set(Date.parse(instant));
  const result = await client.callTool({ name: 'is_office_open', arguments: {} });
  const said = textOf(result);
  const sentences = /^(Office is [^.]+)\. ([^.]+\.)$/.exec(said);
  return { text: sentences?.[1] ?? said, next: sentences?.[2], said, data: result.structuredContent as unknown as OfficeData, isError: result.isError };
}

describe.each<Era>(['legacy', 'modern'])('%s era', (era) => {
  it('lists is_office_open without arguments, read-only', async () => {
    const client = await connect(server, callHeaders({ key: keys.acme as string }), era);
    const { tools } = await client.listTools();
    const tool = tools.find((candidate) => candidate.name === 'is_office_open');
    expect(tool?.inputSchema).toMatchObject({ type: 'object', properties: {} });
    expect(tool?.annotations).toMatchObject({ readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false });
    await client.close();
  });

  it('is open during hours and says when it closes', async () => {
    // Monday 2026-03-02 10:00 in New York.
    const { said, data, isError } = await officeAt('front-desk', '2026-03-02T15:00:00Z', era);
    expect(isError).toBeFalsy();
    expect(said).toBe('Office is currently open. We close today at 12:00 PM.');
    expect(data).toMatchObject({
      status: 'open',
      open: true,
      timezone: 'America/New_York',
      local_time: '2026-03-02T10:00:00-05:00',
      local_day: 'Monday',
      today: { date: '2026-03-02', hours: ['09:00-12:00', '13:00-17:30'], source: 'weekday', exception: null },
      closes_at: '2026-03-02T12:00:00-05:00',
      closes_at_spoken: 'today 12:00',
      next_open_at: '2026-03-02T13:00:00-05:00',
      next_open_spoken: 'today 13:00',
    });
  });

  it('is closed after hours on a Friday and opens Monday at 9', async () => {
    const { said, data } = await officeAt('front-desk', '2026-03-06T21:00:00Z', era);
    expect(said).toBe('Office is currently closed. We open again Monday at 9:00 AM.');
    expect(data).toMatchObject({ status: 'closed', open: false, closes_at: null, next_open_at: '2026-03-09T09:00:00-04:00', next_open_spoken: 'Monday 09:00' });
  });
});

describe('within a day', () => {
  it('is closed over lunch, with the afternoon opening next', async () => {
    const { text, next, data } = await officeAt('front-desk', '2026-03-03T17:30:00Z');
    expect(text).toBe('Office is currently closed');
    expect(next).toBe('We open again today at 1:00 PM.');
    expect(data.next_open_spoken).toBe('today 13:00');
  });

  it('opens at the first minute and closes at the last', async () => {
    expect((await officeAt('front-desk', '2026-03-03T14:00:00Z')).text).toBe('Office is currently open');
    expect((await officeAt('front-desk', '2026-03-03T13:59:59Z')).text).toBe('Office is currently closed');
    expect((await officeAt('front-desk', '2026-03-03T22:30:00Z')).text).toBe('Office is currently closed');
    expect((await officeAt('front-desk', '2026-03-03T22:29:59Z')).text).toBe('Office is currently open');
  });

  it('is closed today on a closed weekday and on a weekday that is not listed', async () => {
    const saturday = await officeAt('front-desk', '2026-03-07T15:00:00Z');
    expect(saturday.said).toBe('Office is closed today. We open again Monday at 9:00 AM.');
    expect(saturday.data).toMatchObject({ status: 'closed_today', open: false, today: { hours: 'closed', source: 'weekday' }, next_open_spoken: 'Monday 09:00' });
    const sunday = await officeAt('front-desk', '2026-03-08T15:00:00Z');
    expect(sunday.said).toBe('Office is closed today. We open again tomorrow at 9:00 AM.');
    expect(sunday.data.next_open_spoken).toBe('tomorrow 09:00');
  });
});

describe('past midnight', () => {
  it('is open after midnight in a shift that began yesterday', async () => {
    // Tuesday 03:00: Monday's 22:00-06:00 shift.
    const { said, data } = await officeAt('night', '2026-03-03T08:00:00Z');
    expect(said).toBe('Office is currently open. We close today at 6:00 AM.');
    expect(data).toMatchObject({ closes_at: '2026-03-03T06:00:00-05:00', closes_at_spoken: 'today 06:00', next_open_spoken: 'today 22:00' });
  });

  it('is open in a spill-over into a closed day, and closed today once it ends', async () => {
    // Sunday 01:00 lies in Saturday's 22:00-02:00; Sunday itself is closed.
    const during = await officeAt('night', '2026-03-01T06:00:00Z');
    expect(during.text).toBe('Office is currently open');
    expect(during.data).toMatchObject({ today: { hours: 'closed' }, closes_at: '2026-03-01T02:00:00-05:00' });
    const after = await officeAt('night', '2026-03-01T07:00:00Z');
    expect(after.text).toBe('Office is closed today');
    expect(after.data).toMatchObject({ next_open_at: '2026-03-02T22:00:00-05:00', next_open_spoken: 'tomorrow 22:00' });
  });

  it('is currently closed between a spill-over and the day’s own shift', async () => {
    const { text } = await officeAt('night', '2026-03-03T17:00:00Z');
    expect(text).toBe('Office is currently closed');
  });

  it('follows a night shift into a 24h day to find when it closes', async () => {
    // Thursday 2026-07-02 23:00: the shift runs into Friday 07-03, a 24h exception
    // (which replaces Friday's own night shift), so the office closes at its end.
    const { text, next, data } = await officeAt('night', '2026-07-03T03:00:00Z');
    expect(text).toBe('Office is currently open');
    expect(next).toBe('We close tomorrow at midnight.');
    expect(data.closes_at).toBe('2026-07-04T00:00:00-04:00');
    expect(data.closes_at_spoken).toBe('tomorrow 24:00');
    const friday = await officeAt('night', '2026-07-03T16:00:00Z');
    expect(friday.said).toBe('Office is open 24 hours today. We close at midnight.');
    expect(friday.data).toMatchObject({ status: 'open_24h', today: { hours: '24h', source: 'exception', exception: '2026-07-03' } });
  });
});

describe('24h', () => {
  it('is open 24 hours today and closes at the end of a 24h weekend', async () => {
    const { said, data } = await officeAt('weekend', '2026-03-07T17:00:00Z');
    expect(said).toBe('Office is open 24 hours today. We close tomorrow at midnight.');
    expect(data).toMatchObject({ status: 'open_24h', open: true, closes_at: '2026-03-09T00:00:00-04:00', closes_at_spoken: 'tomorrow 24:00', next_open_at: '2026-03-14T00:00:00-04:00' });
  });

  it('lasts 25 hours on the day the clocks go back', async () => {
    // Sunday 2026-11-01 23:30 EST, 25 hours after midnight EDT.
    const { text, data } = await officeAt('weekend', '2026-11-02T04:30:00Z');
    expect(text).toBe('Office is open 24 hours today');
    expect(data).toMatchObject({ local_time: '2026-11-01T23:30:00-05:00', closes_at: '2026-11-02T00:00:00-05:00', closes_at_spoken: 'today 24:00' });
  });
});

describe('DST in New York', () => {
  it('ends a night shift at 06:00 local time across the spring-forward night', async () => {
    // Sunday 2026-03-08 01:30 EST, in Saturday's 22:00-06:00; 06:00 is EDT.
    const { text, data } = await officeAt('dst-night', '2026-03-08T06:30:00Z');
    expect(text).toBe('Office is currently open');
    expect(data.closes_at).toBe('2026-03-08T06:00:00-04:00');
    expect((await officeAt('dst-night', '2026-03-08T09:59:59Z')).text).toBe('Office is currently open');
    expect((await officeAt('dst-night', '2026-03-08T10:00:00Z')).text).toBe('Office is closed today');
  });

  it('ends a night shift at 06:00 local time across the fall-back night', async () => {
    const { text, data } = await officeAt('dst-night', '2026-11-01T06:30:00Z');
    expect(text).toBe('Office is currently open');
    expect(data.closes_at).toBe('2026-11-01T06:00:00-05:00');
    expect((await officeAt('dst-night', '2026-11-01T11:00:00Z')).text).toBe('Office is closed today');
  });

  it('treats a time that does not exist (02:30 on 2026-03-08) as the moment the clock jumps', async () => {
    // 00:30-02:30 ends at the jump (03:00 EDT), where 02:45-04:00 begins: one opening until 04:00.
    const before = await officeAt('dst-early', '2026-03-08T05:15:00Z');
    expect(before.text).toBe('Office is currently closed');
    expect(before.data).toMatchObject({ local_time: '2026-03-08T00:15:00-05:00', next_open_at: '2026-03-08T00:30:00-05:00', next_open_spoken: 'today 00:30' });
    const lastMinute = await officeAt('dst-early', '2026-03-08T06:59:00Z');
    expect(lastMinute.text).toBe('Office is currently open');
    expect(lastMinute.data).toMatchObject({ local_time: '2026-03-08T01:59:00-05:00', closes_at: '2026-03-08T04:00:00-04:00' });
    const afterJump = await officeAt('dst-early', '2026-03-08T07:00:00Z');
    expect(afterJump.text).toBe('Office is currently open');
    expect(afterJump.data.local_time).toBe('2026-03-08T03:00:00-04:00');
  });

  it('keeps the break between intervals on the fall-back day', async () => {
    // 2026-11-01 01:45 EST (the second 01:45): 00:30-02:30 runs until 02:30 EST.
    const second = await officeAt('dst-early', '2026-11-01T06:45:00Z');
    expect(second.text).toBe('Office is currently open');
    expect(second.data).toMatchObject({ local_time: '2026-11-01T01:45:00-05:00', closes_at: '2026-11-01T02:30:00-05:00', next_open_at: '2026-11-01T02:45:00-05:00' });
    expect((await officeAt('dst-early', '2026-11-01T07:40:00Z')).text).toBe('Office is currently closed');
  });

  it('opens at the first of two 01:30s on 2026-11-01', async () => {
    const firstPass = await officeAt('dst-doubled', '2026-11-01T05:15:00Z');
    expect(firstPass.text).toBe('Office is currently closed');
    expect(firstPass.data).toMatchObject({ local_time: '2026-11-01T01:15:00-04:00', next_open_at: '2026-11-01T01:30:00-04:00' });
    const secondPass = await officeAt('dst-doubled', '2026-11-01T06:15:00Z');
    expect(secondPass.text).toBe('Office is currently open');
    expect(secondPass.data).toMatchObject({ local_time: '2026-11-01T01:15:00-05:00', closes_at: '2026-11-01T03:00:00-05:00' });
  });
});

describe('DST in London', () => {
  it('ends 23:00-01:30 at the jump when 01:30 does not exist (2026-03-29)', async () => {
    const { text, data } = await officeAt('reception', '2026-03-29T00:59:00Z', 'modern', 'globex');
    expect(text).toBe('Office is currently open');
    expect(data).toMatchObject({ timezone: 'Europe/London', local_time: '2026-03-29T00:59:00+00:00', closes_at: '2026-03-29T02:00:00+01:00' });
    expect((await officeAt('reception', '2026-03-29T01:00:00Z', 'modern', 'globex')).text).toBe('Office is closed today');
  });

  it('ends 23:00-01:30 at the first 01:30 when it happens twice (2026-10-25)', async () => {
    const first = await officeAt('reception', '2026-10-25T00:15:00Z', 'legacy', 'globex');
    expect(first.text).toBe('Office is currently open');
    expect(first.data).toMatchObject({ local_time: '2026-10-25T01:15:00+01:00', closes_at: '2026-10-25T01:30:00+01:00' });
    const second = await officeAt('reception', '2026-10-25T01:15:00Z', 'legacy', 'globex');
    expect(second.text).toBe('Office is closed today');
    expect(second.data).toMatchObject({ local_time: '2026-10-25T01:15:00+00:00', next_open_at: '2026-10-26T08:00:00+00:00', next_open_spoken: 'tomorrow 08:00' });
  });
});

describe('exceptions', () => {
  it('gives a dated exception its own hours', async () => {
    // Thursday 2026-12-24: 09:00-12:00 instead of the afternoon too.
    const morning = await officeAt('front-desk', '2026-12-24T15:00:00Z');
    expect(morning.text).toBe('Office is currently open');
    expect(morning.data).toMatchObject({ today: { hours: ['09:00-12:00'], source: 'exception', exception: '2026-12-24' }, closes_at: '2026-12-24T12:00:00-05:00' });
    const afternoon = await officeAt('front-desk', '2026-12-24T19:00:00Z');
    expect(afternoon.text).toBe('Office is currently closed');
    expect(afternoon.data.next_open_at).toBe('2026-12-25T10:00:00-05:00');
  });

  it('lets a dated exception win over a yearly one', async () => {
    const { text, data } = await officeAt('front-desk', '2026-12-25T16:00:00Z');
    expect(text).toBe('Office is currently open');
    expect(data.today).toMatchObject({ source: 'exception', exception: '2026-12-25' });
  });

  it('closes on a yearly date in other years, even on a working weekday', async () => {
    // 2028-12-25 is a Monday.
    const { said, data } = await officeAt('front-desk', '2028-12-25T15:00:00Z');
    expect(said).toBe('Office is closed today. We open again tomorrow at 9:00 AM.');
    expect(data).toMatchObject({ local_day: 'Monday', today: { hours: 'closed', source: 'exception', exception: '12-25' }, next_open_spoken: 'tomorrow 09:00' });
  });

  it('skips a yearly holiday when looking for the next opening', async () => {
    // Wednesday 2025-12-24 18:00, after closing: Thursday 12-25 is a yearly holiday.
    const { next, data } = await officeAt('front-desk', '2025-12-24T23:00:00Z');
    expect(next).toBe('We open again Friday at 9:00 AM.');
    expect(data.next_open_at).toBe('2025-12-26T09:00:00-05:00');
    expect(data.next_open_spoken).toBe('Friday 09:00');
  });
});

describe('without office hours', () => {
  it.each<Era>(['legacy', 'modern'])('answers clearly that hours are not configured (%s)', async (era) => {
    const { text, data, isError } = await officeAt('no-hours', '2026-03-02T15:00:00Z', era);
    expect(isError).toBeFalsy();
    expect(text).toMatch(/not configured/);
    expect(text).not.toMatch(/^Office is/);
    expect(data).toMatchObject({ status: 'not_configured', open: null, timezone: 'America/New_York', today: null, closes_at: null, next_open_at: null });
  });
});

describe('far ahead', () => {
  it('names the date of an opening a week or more away', async () => {
    // Monday 2026-03-02 09:00: the persona opens on Saturdays only.
    const { said } = await officeAt('weekend', '2026-03-02T14:00:00Z');
    expect(said).toBe('Office is closed today. We open again Saturday at 12:00 AM.');
    const spring = await officeAt('rare', '2026-03-02T14:00:00Z');
    expect(spring.said).toBe('Office is closed today. We open again on Wednesday, April 15 at 9:00 AM.');
    const newYear = await officeAt('rare', '2026-12-30T14:00:00Z');
    expect(newYear.next).toBe('We open again on Friday, January 8, 2027 at 9:00 AM.');
  });

  it('says so when no opening is scheduled within a year', async () => {
    const { said, data } = await officeAt('never', '2026-03-02T14:00:00Z');
    expect(said).toBe('Office is closed today. No opening is scheduled within the next year.');
    expect(data.next_open_at).toBeNull();
  });
});

describe('arguments', () => {
  it('refuses arguments the tool does not take, saying it takes none', async () => {
    const client = await connect(server, callHeaders({ key: keys.acme as string }));
    clock.set(Date.parse('2026-03-02T15:00:00Z'));
    const result = await client.callTool({ name: 'is_office_open', arguments: { when: 'tomorrow' } });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toBe('Invalid arguments: "when" is not an argument of this tool (it takes no arguments). Correct them and call the tool again.');
    await client.close();
  });
});
