/**
 * check_user_availability through MCP with the official client, with
 * Do-Not-Disturb changed through the admin API and through the real CLI and
 * seen by the next tool call; the admin API's refusals; unknown users and bad
 * arguments as tool errors that help the model and name no other account,
 * and no more of this one than fits what was asked; one way of naming a user
 * (id, extension, unique name) in the tool, the admin API and the CLI; the
 * DND reason told to the agent only where the account allows it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Client } from '@modelcontextprotocol/client';

import { FixedClock } from '../engine/clock.ts';
import { runCli } from './helpers/cli.ts';
import { callHeaders, connect, startTestServer, textOf, type Era, type TestServer } from './helpers/server.ts';

const manifests: Record<string, string> = {
  'acme/account.yaml': `account_id: acme
timezone: America/New_York
users:
  - { id: u-100, name: Dana Reyes, extension: "100" }
  - { id: u-101, name: Sam Ortiz, extension: "101" }
  - { id: u-102, name: Dana Cole, extension: "102" }
`,
  'acme/front-desk.yaml': 'persona_id: front-desk\ntools:\n  - { type: transfer_to_user, name: transfer_to_sam, description: Transfer to Sam., user: u-101 }\n',
  // An office that wants its agent to say why someone is away.
  'initrode/account.yaml': `account_id: initrode
timezone: America/Chicago
dnd_reason_to_agent: true
users:
  - { id: peter, name: Peter Gibbons, extension: "300" }
`,
  'initrode/desk.yaml': 'persona_id: desk\ntools:\n  - { type: transfer_to_user, name: transfer_to_peter, description: Transfer to Peter., user: peter }\n',
  // Enough people that a list of them all would be an enumeration.
  'hooli/account.yaml': `account_id: hooli
timezone: America/Los_Angeles
users:
${['Chris Adams', 'Chris Baker', 'Christine Cole', 'Christopher Diaz', 'Kris Evans', 'Gavin Belson', 'Richard Hendricks', 'Monica Hall', 'Jared Dunn', 'Erlich Bachman', 'Bertram Gilfoyle', 'Dinesh Chugtai']
  .map((name, index) => `  - { id: h-${index + 1}, name: ${name}, extension: "${700 + index}" }`)
  .join('\n')}
`,
  'hooli/desk.yaml': 'persona_id: desk\n',
  'globex/account.yaml': 'account_id: globex\ntimezone: Europe/London\nusers:\n  - { id: dr-hughes, name: Emma Hughes, extension: "2001" }\n',
  'globex/reception.yaml': 'persona_id: reception\n',
};

// Monday 2026-03-09 10:00 in New York.
const clock = new FixedClock(Date.parse('2026-03-09T14:00:00Z'));
let server: TestServer;
let acmeAdmin: string;
let acmeMcp: string;
let globexAdmin: string;
const clients: Partial<Record<Era, Client>> = {};

beforeAll(async () => {
  server = await startTestServer({ personas: manifests, clock, settings: { rateLimitPerSecond: 0 } });
  acmeAdmin = await server.key('acme', 'admin');
  acmeMcp = await server.key('acme', 'mcp');
  globexAdmin = await server.key('globex', 'admin');
  clients.legacy = await connect(server, callHeaders({ key: acmeMcp }), 'legacy');
  clients.modern = await connect(server, callHeaders({ key: acmeMcp }), 'modern');
});
afterAll(async () => {
  await clients.legacy?.close();
  await clients.modern?.close();
  await server.close();
});

interface Availability {
  user_id: string;
  name: string;
  available: boolean;
  matched_by: string;
  dnd: { enabled: boolean; reason: string | null; until: string | null; until_spoken: string | null };
}

async function check(userId: unknown, era: Era = 'legacy') {
  const result = await (clients[era] as Client).callTool({ name: 'check_user_availability', arguments: { user_id: userId } });
  return { text: textOf(result), data: result.structuredContent as unknown as Availability, isError: result.isError === true, error: (result.structuredContent as { error?: { code: string } } | undefined)?.error };
}

async function admin(method: string, path: string, options: { key?: string | undefined; body?: unknown; raw?: string; type?: string } = {}) {
  const headers: Record<string, string> = {};
  const key = 'key' in options ? options.key : acmeAdmin;
  if (key) headers['X-API-Key'] = key;
  let body: string | undefined;
  if (options.raw !== undefined || options.body !== undefined) {
    headers['Content-Type'] = options.type ?? 'application/json';
    body = options.raw ?? JSON.stringify(options.body);
  }
  const response = await fetch(new URL(`/ucp/v2/accounts/${path}`, server.url), { method, headers, ...(body === undefined ? {} : { body }) });
  return { status: response.status, json: (await response.json()) as Record<string, any> }; // eslint-disable-line @typescript-eslint/no-explicit-any -- bodies are read field by field
}

describe.each<Era>(['legacy', 'modern'])('%s era', (era) => {
  it('lists the tool with its user_id parameter, read-only', async () => {
    const { tools } = await (clients[era] as Client).listTools();
    const tool = tools.find((candidate) => candidate.name === 'check_user_availability');
    expect(tool?.inputSchema).toMatchObject({ required: ['user_id'], properties: { user_id: { type: 'string' } } });
    expect(tool?.annotations).toMatchObject({ readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false });
  });

  it('sees DND set and cleared through the admin API on the next call', async () => {
    expect(await check('u-101', era)).toMatchObject({ text: 'Sam Ortiz is available.', data: { user_id: 'u-101', available: true, dnd: { enabled: false, reason: null, until: null } } });

    const set = await admin('PUT', 'acme/users/u-101/dnd', { body: { reason: 'In a meeting', until: '2026-03-09T15:00' } });
    expect(set.status).toBe(200);
    expect(set.json).toMatchObject({ user_id: 'u-101', available: false, dnd: { enabled: true, reason: 'In a meeting', until: '2026-03-09T15:00:00-04:00', updated_by: expect.stringMatching(/^api:key_/) } });

    // The reason is the user's business: this account does not let the agent tell it.
    const busy = await check('u-101', era);
    expect(busy.isError).toBe(false);
    expect(busy.text).toBe('Sam Ortiz is on Do-Not-Disturb until today 15:00 and cannot take calls now.');
    expect(busy.data).toMatchObject({ available: false, dnd: { enabled: true, reason: null, until: '2026-03-09T15:00:00-04:00', until_spoken: 'today 15:00' } });

    const cleared = await admin('DELETE', 'acme/users/u-101/dnd');
    expect(cleared).toMatchObject({ status: 200, json: { available: true, dnd: { enabled: false } } });
    expect((await check('u-101', era)).data.available).toBe(true);
  });
});

describe('the DND reason, by the account\'s dnd_reason_to_agent', () => {
  const callTool = async (account: string, persona: string, name: string, args: Record<string, unknown> = {}) => {
    const client = await connect(server, callHeaders({ key: await server.key(account), account, persona }));
    try {
      const result = await client.callTool({ name, arguments: args });
      return { text: textOf(result), structured: JSON.stringify(result.structuredContent), isError: result.isError === true };
    } finally {
      await client.close();
    }
  };

  it('is kept from the agent by default, in every tool, text and structuredContent alike', async () => {
    await admin('PUT', 'acme/users/u-101/dnd', { body: { reason: 'dentist appointment', until: '2026-03-09T15:00' } });
    const availability = await callTool('acme', 'front-desk', 'check_user_availability', { user_id: 'Sam' });
    expect(availability.text).toBe('Sam Ortiz is on Do-Not-Disturb until today 15:00 and cannot take calls now.');
    const transfer = await callTool('acme', 'front-desk', 'transfer_to_sam');
    expect(transfer.isError).toBe(true);
    expect(transfer.text).toBe('Sam Ortiz is on Do-Not-Disturb until 3:00 PM and cannot take the call. Offer to take a message instead.');
    for (const answer of [availability, transfer]) expect(`${answer.text} ${answer.structured}`).not.toContain('dentist');
    // The operator still sees it.
    expect((await admin('GET', 'acme/users/u-101/dnd')).json.dnd.reason).toBe('dentist appointment');
    await admin('DELETE', 'acme/users/u-101/dnd');
  });

  it('is told where the account turns it on, by check_user_availability and transfer_to_user alike', async () => {
    const initrodeAdmin = await server.key('initrode', 'admin');
    expect((await admin('PUT', 'initrode/users/peter/dnd', { key: initrodeAdmin, body: { reason: 'In a meeting' } })).status).toBe(200);
    const availability = await callTool('initrode', 'desk', 'check_user_availability', { user_id: 'peter' });
    expect(availability.text).toBe('Peter Gibbons is on Do-Not-Disturb (In a meeting) and cannot take calls now.');
    expect(JSON.parse(availability.structured)).toMatchObject({ dnd: { enabled: true, reason: 'In a meeting', until: null } });
    const transfer = await callTool('initrode', 'desk', 'transfer_to_peter');
    expect(transfer.text).toBe('Peter Gibbons is on Do-Not-Disturb (In a meeting) and cannot take the call. Offer to take a message instead.');
    expect(JSON.parse(transfer.structured)).toMatchObject({ error: { code: 'TOOL_REFUSED', reason: 'dnd', dnd_reason: 'In a meeting' } });
    await admin('DELETE', 'initrode/users/peter/dnd', { key: initrodeAdmin });
  });
});

describe('one way of naming a user: id, extension or a name that fits one user', () => {
  const base = () => ['--data', server.dataDir, '--personas', server.personasDir];

  it('takes a name or an extension in the CLI, as the tool does', async () => {
    const set = await runCli(['dnd', 'set', '--account', 'acme', '--user', 'Sam', '--reason', 'Lunch', ...base()]);
    expect(set).toMatchObject({ code: 0, stderr: '' });
    expect(set.stdout).toBe('Sam Ortiz (u-101, extension 101) is on Do-Not-Disturb: Lunch.\n');
    expect((await check('Sam')).data).toMatchObject({ user_id: 'u-101', available: false });
    const cleared = await runCli(['dnd', 'clear', '--account', 'acme', '--user', '101', ...base()]);
    expect(cleared).toMatchObject({ code: 0, stdout: 'Sam Ortiz (u-101, extension 101) is available.\n' });
    const ambiguous = await runCli(['dnd', 'set', '--account', 'acme', '--user', 'Dana', ...base()]);
    expect(ambiguous.code).toBe(2);
    expect(ambiguous.stderr).toContain('User "Dana" matches several users of account acme: u-100 (Dana Reyes), u-102 (Dana Cole); give the id');
    expect((await check('u-100')).data.available).toBe(true);
  });

  it('takes a name or an extension in the admin API path, and refuses a name that fits several', async () => {
    const byName = await admin('PUT', `acme/users/${encodeURIComponent('Dana Reyes')}/dnd`, { body: { reason: 'Out' } });
    expect(byName).toMatchObject({ status: 200, json: { user_id: 'u-100', available: false } });
    expect(await admin('GET', 'acme/users/100/dnd')).toMatchObject({ status: 200, json: { user_id: 'u-100', dnd: { reason: 'Out' } } });
    expect(await admin('DELETE', 'acme/users/u-100/dnd')).toMatchObject({ status: 200, json: { user_id: 'u-100', available: true } });
    const ambiguous = await admin('GET', 'acme/users/Dana/dnd');
    expect(ambiguous).toMatchObject({ status: 404, json: { error: { code: 'NOT_FOUND', details: { user_id: 'Dana', candidates: ['u-100', 'u-102'] } } } });
  });
});

describe('Do-Not-Disturb state', () => {
  it('ends a timed DND by itself when its time has come', async () => {
    await admin('PUT', 'acme/users/u-102/dnd', { body: { until: '2026-03-09T11:00:00-04:00' } });
    expect((await check('u-102')).data.dnd).toMatchObject({ enabled: true, reason: null, until_spoken: 'today 11:00' });
    clock.advance(60 * 60 * 1000);
    expect(await check('u-102')).toMatchObject({ text: 'Dana Cole is available.', data: { available: true, dnd: { enabled: false, until: null } } });
    clock.set(Date.parse('2026-03-09T14:00:00Z'));
    await admin('DELETE', 'acme/users/u-102/dnd');
  });

  it('keeps DND without an end until it is cleared', async () => {
    const set = await admin('PUT', 'acme/users/u-100/dnd', {});
    expect(set.json).toMatchObject({ available: false, dnd: { enabled: true, reason: null, until: null } });
    expect((await check('u-100')).text).toBe('Dana Reyes is on Do-Not-Disturb and cannot take calls now.');
    await admin('DELETE', 'acme/users/u-100/dnd');
  });

  it('shows one user and lists every user with their state', async () => {
    await admin('PUT', 'acme/users/u-100/dnd', { body: { reason: 'Lunch' } });
    const one = await admin('GET', 'acme/users/u-100/dnd');
    expect(one).toMatchObject({ status: 200, json: { user_id: 'u-100', name: 'Dana Reyes', extension: '100', available: false, dnd: { reason: 'Lunch' } } });
    const list = await admin('GET', 'acme/users');
    expect(list.status).toBe(200);
    expect(list.json.users.map((user: { user_id: string; available: boolean }) => [user.user_id, user.available])).toEqual([
      ['u-100', false],
      ['u-101', true],
      ['u-102', true],
    ]);
    await admin('DELETE', 'acme/users/u-100/dnd');
  });

  it('sees DND set and cleared with the CLI on the next call', async () => {
    const flags = ['--account', 'acme', '--user', 'u-101', '--data', server.dataDir, '--personas', server.personasDir];
    const set = await runCli(['dnd', 'set', ...flags, '--reason', 'On vacation', '--until', '2099-01-02T09:00', '--json']);
    expect(set.stderr).toBe('');
    expect(set.code).toBe(0);
    expect(JSON.parse(set.stdout)).toMatchObject({ user_id: 'u-101', available: false, dnd: { reason: 'On vacation', until: '2099-01-02T09:00:00-05:00', updated_by: 'cli' } });
    expect(await check('u-101')).toMatchObject({ data: { available: false, dnd: { reason: null, until_spoken: 'Friday 2 January 2099 09:00' } } });

    const shown = await runCli(['dnd', 'show', ...flags]);
    expect(shown.stdout.trim()).toBe('Sam Ortiz (u-101, extension 101) is on Do-Not-Disturb: On vacation (until 2099-01-02T09:00:00-05:00).');
    const listed = await runCli(['dnd', 'show', '--account', 'acme', '--data', server.dataDir, '--personas', server.personasDir]);
    expect(listed.stdout).toMatch(/^u-101\s+Sam Ortiz\s+101\s+dnd\s+On vacation\s+2099-01-02T09:00:00-05:00$/m);

    const cleared = await runCli(['dnd', 'clear', ...flags]);
    expect(cleared).toMatchObject({ code: 0, stdout: 'Sam Ortiz (u-101, extension 101) is available.\n' });
    expect((await check('u-101')).data.available).toBe(true);
  });

  it('refuses an unknown user, an account that is not there and a bad --until in the CLI with exit 2', async () => {
    const base = ['--data', server.dataDir, '--personas', server.personasDir];
    const unknownUser = await runCli(['dnd', 'set', '--account', 'acme', '--user', 'u-999', ...base]);
    expect(unknownUser.code).toBe(2);
    expect(unknownUser.stderr).toMatch(/User "u-999" is not in account acme \(users: u-100, u-101, u-102\)/);
    const unknownAccount = await runCli(['dnd', 'show', '--account', 'initech', ...base]);
    expect(unknownAccount.code).toBe(2);
    expect(unknownAccount.stderr).toMatch(/account "initech" is not in the manifests/);
    const badUntil = await runCli(['dnd', 'set', '--account', 'acme', '--user', 'u-100', '--until', 'next week', ...base]);
    expect(badUntil.code).toBe(2);
    expect(badUntil.stderr).toMatch(/until: is not an ISO-8601 date-time/);
    expect((await check('u-100')).data.available).toBe(true);
  });
});

describe('which user', () => {
  it('accepts an extension or an unambiguous name for the id, and says so', async () => {
    expect(await check('101')).toMatchObject({ isError: false, data: { user_id: 'u-101', matched_by: 'extension' } });
    expect(await check('Sam')).toMatchObject({ isError: false, text: 'Sam Ortiz is available.', data: { user_id: 'u-101', matched_by: 'name' } });
    expect(await check('dana reyes')).toMatchObject({ data: { user_id: 'u-100', matched_by: 'name' } });
    expect(await check('U-102')).toMatchObject({ data: { user_id: 'u-102', matched_by: 'id' } });
  });

  it('asks which one when a name matches several users', async () => {
    const { isError, text, error } = await check('Dana');
    expect(isError).toBe(true);
    expect(error?.code).toBe('TOOL_NOT_FOUND');
    expect(text).toBe('"Dana" matches several users: Dana Reyes (id u-100), Dana Cole (id u-102). Ask the caller which one they mean, then call again with that user\'s id.');
  });

  it.each<Era>(['legacy', 'modern'])('answers an unknown user without listing the users of the account (%s)', async (era) => {
    const { isError, text, error } = await check('dr-hughes', era);
    expect(isError).toBe(true);
    expect(error?.code).toBe('TOOL_NOT_FOUND');
    expect(text).toBe('There is no user "dr-hughes". Ask the caller for the full name of the person they want to reach, or offer to take a message.');
    const other = JSON.stringify(await check('Emma Hughes'));
    expect(other).not.toMatch(/globex|2001|dr-hughes/);
    expect(other).not.toMatch(/Dana|Sam|u-10\d/);
  });

  it('suggests a few close names for a misheard one, without extensions', async () => {
    const misheard = await check('Sam Ortis');
    expect(misheard).toMatchObject({ isError: true, error: { code: 'TOOL_NOT_FOUND' } });
    expect(misheard.text).toBe('There is no user "Sam Ortis". Close matches: Sam Ortiz (id u-101). If the caller meant one of them, call again with that id; otherwise ask the caller who they want to reach.');
    expect(misheard.error).toMatchObject({ suggestions: [{ id: 'u-101', name: 'Sam Ortiz' }] });
    expect((await check('Dayna')).text).toContain('Close matches: Dana Reyes (id u-100), Dana Cole (id u-102).');
    expect((await check('Dan')).text).toContain('Close matches: Dana Reyes (id u-100), Dana Cole (id u-102).');
    // Too short to be a name: nobody is suggested.
    expect((await check('Da')).text).not.toContain('Close matches');
  });

  it('never names more than a few users of a large account, whatever is asked', async () => {
    const hooli = await connect(server, callHeaders({ key: await server.key('hooli'), account: 'hooli', persona: 'desk' }));
    try {
      const ask = async (userId: string) => textOf(await hooli.callTool({ name: 'check_user_availability', arguments: { user_id: userId } }));
      const chris = await ask('Chris Smith');
      expect(chris).toBe('There is no user "Chris Smith". Close matches: Chris Adams (id h-1), Chris Baker (id h-2), Christine Cole (id h-3). If the caller meant one of them, call again with that id; otherwise ask the caller who they want to reach.');
      for (const text of [chris, await ask('nobody at all'), await ask('zz'), await ask('999')]) {
        expect(text.match(/\(id h-\d+\)/g)?.length ?? 0).toBeLessThanOrEqual(3);
        expect(text).not.toMatch(/extension|\b7\d\d\b/);
      }
      // A first name several people share: the model is told to ask, with a bounded list.
      const shared = await ask('Chris');
      expect(shared).toBe('"Chris" matches several users: Chris Adams (id h-1), Chris Baker (id h-2). Ask the caller which one they mean, then call again with that user\'s id.');
    } finally {
      await hooli.close();
    }
  });
});

describe('bad arguments', () => {
  it.each<[string, unknown, RegExp]>([
    ['a boolean', true, /"user_id" must be a string/],
    ['null', null, /"user_id" must be a string/],
    ['empty', '', /"user_id" must not be empty/],
    ['blank', '   ', /"user_id" must not be empty/],
    ['huge', 'x'.repeat(100_000), /"user_id" must be at most 100 characters/],
  ])('refuses %s with a clear tool error', async (_name, value, message) => {
    const { isError, text, error } = await check(value);
    expect(isError).toBe(true);
    expect(error?.code).toBe('TOOL_ARGUMENTS');
    expect(text).toMatch(message);
    expect(text.length).toBeLessThan(300);
  });

  it('takes a number as the id it spells (the Inspector CLI sends --tool-arg user_id=101 so)', async () => {
    const { isError, text } = await check(101);
    expect(isError).toBeFalsy();
    expect(text).toBe('Sam Ortiz is available.');
  });

  it('refuses a missing user_id', async () => {
    const result = await (clients.modern as Client).callTool({ name: 'check_user_availability', arguments: {} });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(/"user_id" is required/);
  });
});

describe('admin API refusals', () => {
  it('needs an admin key of the account', async () => {
    expect(await admin('GET', 'acme/users/u-100/dnd', { key: undefined })).toMatchObject({ status: 401, json: { error: { code: 'AUTH_KEY_MISSING' } } });
    expect(await admin('PUT', 'acme/users/u-100/dnd', { key: 'sb_not-a-key', body: {} })).toMatchObject({ status: 401, json: { error: { code: 'AUTH_KEY_INVALID' } } });
    expect(await admin('PUT', 'acme/users/u-100/dnd', { key: acmeMcp, body: {} })).toMatchObject({ status: 403, json: { error: { code: 'AUTH_ROLE' } } });
    expect(await admin('DELETE', 'acme/users/u-100/dnd', { key: globexAdmin })).toMatchObject({ status: 403, json: { error: { code: 'AUTH_WRONG_ACCOUNT' } } });
    expect(await admin('GET', 'acme/users', { key: globexAdmin })).toMatchObject({ status: 403 });
    expect((await check('u-100')).data.available).toBe(true);
  });

  it('answers an unknown user with 404 and the error body of the catalogue', async () => {
    for (const method of ['GET', 'PUT', 'DELETE']) {
      const response = await admin(method, 'acme/users/dr-hughes/dnd', method === 'PUT' ? { body: {} } : {});
      expect(response.status).toBe(404);
      expect(response.json).toEqual({ error: { code: 'NOT_FOUND', message: 'User "dr-hughes" is not in account acme (users: u-100, u-101, u-102)', details: { user_id: 'dr-hughes' } } });
    }
  });

  it.each<[string, { body?: unknown; raw?: string; type?: string }, string]>([
    ['until that is not a date', { body: { until: 'tomorrow' } }, 'until'],
    ['until in the past', { body: { until: '2026-03-09T09:00' } }, 'until'],
    ['until of the wrong type', { body: { until: 1773064800000 } }, 'until'],
    ['reason of the wrong type', { body: { reason: 5 } }, 'reason'],
    ['a reason that is too long', { body: { reason: 'x'.repeat(201) } }, 'reason'],
    ['a reason over several lines', { body: { reason: 'a\nb' } }, 'reason'],
    ['an unknown field', { body: { enabled: false } }, 'enabled'],
    ['an array', { body: [] }, 'body'],
    ['a body that is not JSON', { raw: 'reason=lunch', type: 'application/x-www-form-urlencoded' }, 'body'],
  ])('refuses %s with 400 naming the field', async (_name, request, field) => {
    const response = await admin('PUT', 'acme/users/u-100/dnd', request);
    expect(response.status).toBe(400);
    expect(response.json.error.code).toBe('BAD_REQUEST');
    expect(response.json.error.message.startsWith(`${field}: `)).toBe(true);
    expect((await check('u-100')).data.available).toBe(true);
  });

  it('answers invalid JSON with 400', async () => {
    expect(await admin('PUT', 'acme/users/u-100/dnd', { raw: '{"reason":' })).toMatchObject({ status: 400, json: { error: { code: 'BODY_INVALID_JSON' } } });
  });
});
