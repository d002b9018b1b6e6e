/**
 * `switchboard office-hours` as a persona author runs it: the real CLI on
 * manifests in a temporary directory, at chosen moments (--at), as text and
 * as JSON, and its refusals (exit 2).
 */
import fs from 'node:fs';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runCli } from './helpers/cli.ts';
import { tempDir, writeManifests } from './helpers/server.ts';

let dir: string;

beforeAll(() => {
  dir = tempDir('office-hours-cli');
  writeManifests(dir, {
    'acme/account.yaml': 'account_id: acme\ntimezone: America/New_York\n',
    'acme/front-desk.yaml': `persona_id: front-desk
office_hours:
  monday: ["09:00-17:00"]
  tuesday: ["09:00-17:00"]
  wednesday: ["09:00-17:00"]
  thursday: ["09:00-17:00"]
  friday: ["09:00-15:00"]
  exceptions:
    "12-25": closed
    "2026-12-24": ["09:00-12:00"]
`,
    'acme/no-hours.yaml': 'persona_id: no-hours\n',
    'acme/night-shift.yaml': 'persona_id: night-shift\noffice_hours:\n  sunday: ["00:30-02:30", "03:15-05:00"]\n',
    'acme/broken.yaml': 'persona_id: broken\noffice_hours:\n  monday: ["09:00-09:00"]\n',
  });
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const officeHours = (...args: string[]) => runCli(['office-hours', '--personas', dir, ...args]);

describe('office-hours', () => {
  it('prints the tool text first, then the hours that apply, for a holiday', async () => {
    const { code, stdout, stderr } = await officeHours('--account', 'acme', '--persona', 'front-desk', '--at', '2026-12-25T10:00');
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout.split('\n')).toEqual([
      'Office is closed today. We open again Monday at 9:00 AM.',
      'Local time: Friday 2026-12-25T10:00:00-05:00 (America/New_York)',
      'Today:      closed (exception 12-25)',
      'Next open:  Monday 09:00 (2026-12-28T09:00:00-05:00)',
      '',
    ]);
  });

  it('reads --at with an offset and prints the structured result with --json', async () => {
    const { code, stdout } = await officeHours('--account', 'acme', '--persona', 'front-desk', '--at', '2026-12-24T16:00:00Z', '--json');
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual({
      status: 'open',
      open: true,
      timezone: 'America/New_York',
      local_time: '2026-12-24T11:00:00-05:00',
      local_day: 'Thursday',
      today: { date: '2026-12-24', hours: ['09:00-12:00'], source: 'exception', exception: '2026-12-24' },
      closes_at: '2026-12-24T12:00:00-05:00',
      closes_at_spoken: 'today 12:00',
      next_open_at: '2026-12-28T09:00:00-05:00',
      next_open_spoken: 'Monday 09:00',
    });
  });

  // docs/office-hours.md, "Daylight saving time": a wall time is the first instant at which the clock shows it or later.
  it.each([
    ['a time the clock skips is the moment of the jump', '2026-03-08T02:30', '2026-03-08T03:00:00-04:00'],
    ['a time the clock shows twice is its first occurrence', '2026-11-01T01:30', '2026-11-01T01:30:00-04:00'],
    ['a time with an offset is that instant, also in the repeated hour', '2026-11-01T01:30:00-05:00', '2026-11-01T01:30:00-05:00'],
  ])('reads --at by the documented rule: %s', async (_name, at, localTime) => {
    const { code, stdout } = await officeHours('--account', 'acme', '--persona', 'night-shift', '--at', at, '--json');
    expect(code).toBe(0);
    expect((JSON.parse(stdout) as { local_time: string }).local_time).toBe(localTime);
  });

  it('answers for a skipped --at as the schedule reads the same wall time', async () => {
    // Sunday 00:30-02:30 ends at the jump (03:00 EDT): at "02:30" the office has just closed, and opens at 03:15.
    const { stdout } = await officeHours('--account', 'acme', '--persona', 'night-shift', '--at', '2026-03-08T02:30', '--json');
    expect(JSON.parse(stdout)).toMatchObject({ status: 'closed', open: false, next_open_at: '2026-03-08T03:15:00-04:00' });
  });

  it('says when office hours are not configured', async () => {
    const { code, stdout } = await officeHours('--account', 'acme', '--persona', 'no-hours', '--at', '2026-12-24T11:00');
    expect(code).toBe(0);
    expect(stdout.split('\n')[0]).toMatch(/^Office hours are not configured/);
  });

  it('answers for the present moment without --at', async () => {
    const { code, stdout } = await officeHours('--account', 'acme', '--persona', 'front-desk');
    expect(code).toBe(0);
    expect(stdout.split('\n')[0]).toMatch(/^Office is (currently open|currently closed|closed today|open 24 hours today)\. We (open again|close) .+\.$/);
  });

  it.each<[string, string[], RegExp]>([
    ['an unknown account', ['--account', 'initech', '--persona', 'front-desk'], /account "initech" is not in the manifests \(accounts: acme\)/],
    ['an unknown persona', ['--account', 'acme', '--persona', 'sales'], /persona "sales" is not in account acme \(personas: front-desk, night-shift, no-hours\)/],
    ['a persona whose file has problems', ['--account', 'acme', '--persona', 'broken'], /acme\/broken\.yaml:3:\d+: office_hours\.monday\[0\]: interval 09:00-09:00 is empty/],
    ['an --at that is not ISO-8601', ['--account', 'acme', '--persona', 'front-desk', '--at', 'Christmas'], /--at "Christmas" is not an ISO-8601 date-time/],
    ['a missing --persona', ['--account', 'acme'], /--persona is required/],
  ])('refuses %s with exit 2 and a clear message', async (_name, args, message) => {
    const { code, stdout, stderr } = await officeHours(...args);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(message);
  });

  it('reads the manifests from SWITCHBOARD_PERSONAS as well', async () => {
    const { code, stdout } = await runCli(['office-hours', '--account', 'acme', '--persona', 'front-desk', '--at', '2026-12-25T10:00'], { env: { SWITCHBOARD_PERSONAS: path.resolve(dir) } });
    expect(code).toBe(0);
    expect(stdout.split('\n')[0]).toBe('Office is closed today. We open again Monday at 9:00 AM.');
  });
});
