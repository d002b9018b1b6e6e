/**
 * `switchboard validate` as a persona author and CI use it: exit codes, every
 * problem with its position, JSON and GitHub annotation output.
 */
import { describe, expect, it } from 'vitest';

import { runCli } from './helpers/cli.ts';
import { tempDir, writeManifests } from './helpers/server.ts';

const broken = {
  'acme/account.yaml': 'account_id: acme\ntimezone: Mars/Olympus_Mons\nusers:\n  - { id: u1, name: Ann, extension: "100" }\n',
  'acme/desk.yaml': [
    'persona_id: desk',
    'office_hours:',
    '  monday: ["09:00-17:00", "16:00-18:00"]',
    '  funday: closed',
    'tools:',
    '  - type: transfer_to_queue',
    '    name: hangup_call',
    '    description: Not allowed to shadow a global tool.',
    '    queue: q-none',
    '',
  ].join('\n'),
  'stray.yaml': 'persona_id: stray\n',
};

describe('switchboard validate', () => {
  it('exits 0 for the example personas', async () => {
    const result = await runCli(['validate', 'personas']);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^5 files valid: 2 accounts, 3 personas/);
    expect(result.code).toBe(0);
  });

  it('exits 1 and reports every problem with file, line and column', async () => {
    const dir = tempDir('validate');
    writeManifests(dir, broken);
    const result = await runCli(['validate', dir]);
    expect(result.code).toBe(1);
    const lines = result.stdout.trim().split('\n');
    expect(lines).toEqual([
      `${dir}/acme/account.yaml:2:11: timezone: "Mars/Olympus_Mons" is not an IANA time zone (e.g. America/New_York, Europe/London)`,
      `${dir}/acme/desk.yaml:1:1: acme/account.yaml is missing or invalid, so this persona cannot be loaded`,
      `${dir}/acme/desk.yaml:4:3: office_hours.funday: unknown property "funday"`,
      `${dir}/stray.yaml:1:1: manifests belong in an account directory: <account>/account.yaml and <account>/<persona>.yaml`,
    ]);
  });

  it('checks a persona against its account once the account is valid', async () => {
    const dir = tempDir('validate');
    const { 'stray.yaml': _stray, ...inAccount } = broken;
    writeManifests(dir, { ...inAccount, 'acme/account.yaml': broken['acme/account.yaml'].replace('Mars/Olympus_Mons', 'Europe/Paris') });
    const result = await runCli(['validate', dir, '--format', 'json']);
    expect(result.code).toBe(1);
    const report = JSON.parse(result.stdout) as { valid: boolean; problems: { text: string }[] };
    expect(report.valid).toBe(false);
    expect(report.problems.map((problem) => problem.text)).toEqual([`${dir}/acme/desk.yaml:4:3: office_hours.funday: unknown property "funday"`]);

    writeManifests(dir, { 'acme/desk.yaml': broken['acme/desk.yaml'].replace('  funday: closed\n', '') });
    const semantic = await runCli(['validate', dir, '--format', 'github']);
    expect(semantic.code).toBe(1);
    expect(semantic.stdout.trim().split('\n')).toEqual([
      `::error file=${dir}/acme/desk.yaml,line=3,col=11,title=office_hours.monday::intervals overlap; merge them into one`,
      `::error file=${dir}/acme/desk.yaml,line=6,col=11,title=tools[0].name::"hangup_call" is the name of a global tool; choose another name`,
      `::error file=${dir}/acme/desk.yaml,line=8,col=12,title=tools[0].queue::queue "q-none" is not in acme/account.yaml`,
    ]);
  });

  it('refuses an unknown format', async () => {
    const result = await runCli(['validate', 'personas', '--format', 'xml']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--format must be one of text, json, github');
  });
});

describe('call control and transfer settings', () => {
  it('reports a driver block with a missing or foreign key, and fallbacks that name nothing, at their place', async () => {
    const dir = tempDir('validate-drivers');
    writeManifests(dir, {
      'acme/account.yaml': [
        'account_id: acme',
        'timezone: America/New_York',
        'users:',
        '  - { id: u-100, name: Dana Reyes, extension: "100" }',
        'call_control:',
        '  driver: ari',
        '  url: http://pbx.acme.lan:8088',
        '  username: switchboard',
        '  app: switchboard',
        '  secret: ACME_ARI_PASSWORD',
        '',
      ].join('\n'),
      'acme/desk.yaml': [
        'persona_id: desk',
        'global_tools:',
        '  transfer_call: { on_no_answer: fallback, fallback: [{ queue: q-none }] }',
        'tools:',
        '  - { type: transfer_to_user, name: to_dana, description: Dana., user: u-100, on_no_answer: voicemail }',
        '  - { type: transfer_to_user, name: to_dana_2, description: Dana., user: u-100, on_no_answer: fallback }',
        '',
      ].join('\n'),
      'globex/account.yaml': 'account_id: globex\ntimezone: Europe/Berlin\ncall_control: { driver: esl, host: fs.globex.lan, password: GLOBEX_ESL, transfer_method: bridge }\n',
      'globex/desk.yaml': 'persona_id: desk\n',
    });
    const result = await runCli(['validate', dir]);
    expect(result.code).toBe(1);
    expect(result.stdout.trim().split('\n')).toEqual([
      `${dir}/acme/account.yaml:5:1: call_control: missing required property "password"`,
      `${dir}/acme/account.yaml:10:3: call_control.secret: unknown property "secret"`,
      `${dir}/acme/desk.yaml:1:1: acme/account.yaml is missing or invalid, so this persona cannot be loaded`,
      `${dir}/acme/desk.yaml:6:5: tools[1]: missing required property "fallback"`,
      `${dir}/globex/account.yaml:3:15: call_control: missing required property "endpoint_template": transfer_method bridge originates a leg, e.g. user/{destination} or sofia/gateway/trunk/{destination}`,
      `${dir}/globex/desk.yaml:1:1: globex/account.yaml is missing or invalid, so this persona cannot be loaded`,
    ]);

    // Once the schema is satisfied, references are checked: the voicemail and the fallback must exist.
    writeManifests(dir, {
      'acme/account.yaml': 'account_id: acme\ntimezone: America/New_York\nusers:\n  - { id: u-100, name: Dana Reyes, extension: "100" }\n',
      'acme/desk.yaml': [
        'persona_id: desk',
        'global_tools:',
        '  transfer_call: { on_no_answer: fallback, fallback: [{ queue: q-none }] }',
        'tools:',
        '  - { type: transfer_to_user, name: to_dana, description: Dana., user: u-100, on_no_answer: voicemail }',
        '',
      ].join('\n'),
      'globex/account.yaml': 'account_id: globex\ntimezone: Europe/Berlin\n',
    });
    const personas = await runCli(['validate', dir]);
    expect(personas.stdout.trim().split('\n')).toEqual([
      `${dir}/acme/desk.yaml:3:55: global_tools.transfer_call.fallback[0]: queue "q-none" is not in acme/account.yaml`,
      `${dir}/acme/desk.yaml:5:93: tools[0].on_no_answer: user "u-100" has no voicemail in account.yaml`,
    ]);
    expect(personas.code).toBe(1);
  });
});

describe('warm transfer settings', () => {
  it('refuses mode: warm where the driver cannot carry it out, and warm settings a driver cannot use, at their place', async () => {
    const dir = tempDir('validate-warm');
    const users = 'users:\n  - { id: u-100, name: Dana Reyes, extension: "100" }\n';
    writeManifests(dir, {
      'acme/account.yaml': `account_id: acme\ntimezone: America/New_York\n${users}call_control: { driver: livekit, url: https://acme.livekit.cloud, api_key: APIacme, api_secret: ACME_LK_SECRET }\n`,
      'acme/desk.yaml': [
        'persona_id: desk',
        'global_tools:',
        '  transfer_call: { mode: warm }',
        'tools:',
        '  - { type: transfer_to_user, name: to_dana, description: Dana., user: u-100, mode: warm }',
        '  - { type: transfer_to_user, name: to_dana_blind, description: Dana., user: u-100, mode: blind }',
        '',
      ].join('\n'),
      'globex/account.yaml': [
        'account_id: globex',
        'timezone: Europe/Berlin',
        'call_control:',
        '  driver: ari',
        '  url: http://pbx.globex.lan:8088',
        '  username: switchboard',
        '  password: GLOBEX_ARI',
        '  app: switchboard',
        '  transfer_method: continue',
        '  warm: { briefing: tts }',
        '',
      ].join('\n'),
      'globex/desk.yaml': 'persona_id: desk\n',
      'initech/account.yaml': 'account_id: initech\ntimezone: UTC\ncall_control: { driver: livekit, url: https://i.livekit.cloud, api_key: APIi, api_secret: I_LK, warm: { accept: stay } }\n',
      'initech/desk.yaml': 'persona_id: desk\n',
      'umbrella/account.yaml': 'account_id: umbrella\ntimezone: UTC\ncall_control: { driver: events, warm: { briefing: url } }\n',
      'umbrella/desk.yaml': 'persona_id: desk\n',
    });
    const result = await runCli(['validate', dir]);
    expect(result.code).toBe(1);
    const lines = result.stdout.trim().split('\n');
    const refusal = (tool: string) => `${tool} has mode: warm, but the call_control driver "livekit" of acme/account.yaml cannot carry out warm transfers; drivers that can: `;
    expect(lines[0]?.startsWith(`${dir}/acme/desk.yaml:3:26: global_tools.transfer_call.mode: ${refusal('transfer_call')}`)).toBe(true);
    expect(lines[1]?.startsWith(`${dir}/acme/desk.yaml:5:85: tools[0].mode: ${refusal('tool "to_dana"')}`)).toBe(true);
    for (const line of lines.slice(0, 2)) {
      expect(line).toMatch(/drivers that can: [a-z, ]*\bari\b[a-z, ]*\. Use mode: blind, or another driver$/);
      expect(line).toMatch(/\bevents\b.*\bwebhook\b|\bwebhook\b.*\bevents\b/);
    }
    expect(lines.slice(2)).toEqual([
      `${dir}/globex/account.yaml:4:3: call_control: missing required property "endpoint_template": a warm transfer dials the destination itself, e.g. PJSIP/{destination}`,
      `${dir}/globex/account.yaml:10:21: call_control.warm.briefing: Asterisk has no text-to-speech of its own: use url (with briefing_url, e.g. a TTS service that returns audio) or header`,
      `${dir}/globex/desk.yaml:1:1: globex/account.yaml is missing or invalid, so this persona cannot be loaded`,
      expect.stringMatching(new RegExp(`^${dir}/initech/account.yaml:3:\\d+: call_control.warm: unknown property "warm"$`)),
      `${dir}/initech/desk.yaml:1:1: initech/account.yaml is missing or invalid, so this persona cannot be loaded`,
      expect.stringMatching(new RegExp(`^${dir}/umbrella/account.yaml:3:\\d+: call_control.warm: missing required property "briefing_url"$`)),
      `${dir}/umbrella/desk.yaml:1:1: umbrella/account.yaml is missing or invalid, so this persona cannot be loaded`,
    ]);
  });
});

describe('esl warm transfer settings', () => {
  it('refuses a text-to-speech engine without a voice and hold music FreeSWITCH cannot play, at their place', async () => {
    const dir = tempDir('validate-warm-esl');
    const esl = (id: string, lines: string[]) => [`account_id: ${id}`, 'timezone: UTC', 'call_control:', '  driver: esl', '  host: 10.20.0.5', '  password: FS_ESL', ...lines, ''].join('\n');
    writeManifests(dir, {
      'acme/account.yaml': esl('acme', ['  tts_engine: unimrcp', '  warm: { music_on_hold: "music on hold" }']),
      'acme/desk.yaml': 'persona_id: desk\n',
      'globex/account.yaml': esl('globex', ['  tts_engine: unimrcp', '  warm: { voice: en-US-Wavenet-D, music_on_hold: jazz }']),
      'globex/desk.yaml': 'persona_id: desk\n',
      'initech/account.yaml': esl('initech', ['  tts_engine: unimrcp', '  warm: { briefing: header }']),
      'initech/desk.yaml': 'persona_id: desk\n',
    });
    const result = await runCli(['validate', dir]);
    expect(result.code).toBe(1);
    expect(result.stdout.trim().split('\n')).toEqual([
      `${dir}/acme/account.yaml:7:15: call_control.tts_engine: a spoken briefing with the tts_engine unimrcp needs warm.voice (one of its voices)`,
      `${dir}/acme/account.yaml:8:26: call_control.warm.music_on_hold: music_on_hold "music on hold" is not a stream or file FreeSWITCH can play here (no spaces, quotes or "::")`,
      `${dir}/acme/desk.yaml:1:1: acme/account.yaml is missing or invalid, so this persona cannot be loaded`,
    ]);
  });
});

describe('transfer policy warnings', () => {
  const policy = (allow: string[], deny: string[] = []) => ({
    'acme/account.yaml': ['account_id: acme', 'timezone: America/New_York', 'transfer_policy:', `  allow: ${JSON.stringify(allow)}`, `  deny: ${JSON.stringify(deny)}`, ''].join('\n'),
    'acme/desk.yaml': 'persona_id: desk\n',
  });

  it('warns about allow patterns that open whole international ranges, and exits 0', async () => {
    const dir = tempDir('validate-policy');
    // +1NXXNXXXXXX reads as "US/Canada" but is every country of the North American plan; +44. takes in the Isle of Man; +3. 34 country codes.
    writeManifests(dir, policy(['1XX', '+1NXXNXXXXXX', '+44.', '+3.', '+1212NXXXXXX', '+1876NXXXXXX', '+4930.', '+1 US/CA'], ['+1NXXNXXXXXX', '+X.']));
    const result = await runCli(['validate', dir]);
    expect(result.code).toBe(0);
    const lines = result.stdout.trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(new RegExp(`^${dir}/acme/account\\.yaml:4:\\d+: warning: transfer_policy\\.allow\\[1\\]: "\\+1NXXNXXXXXX" allows every country that shares \\+1, not only US and CA: also AG, .*JM.*TC.*VG, VI .*write "\\+1 US/CA" to allow US and CA only`));
    expect(lines[1]).toMatch(/warning: transfer_policy\.allow\[2\]: "\+44\." allows every country that shares \+44, not only GB, GG and JE: also IM /);
    expect(lines[2]).toMatch(/warning: transfer_policy\.allow\[3\]: "\+3\." allows numbers of 34 country codes \(\+30, \+31, /);
    expect(result.stderr).toMatch(/^2 files valid: 1 accounts, 1 personas, 3 warnings \(/);
  });

  it('makes warnings errors with --strict, in every format', async () => {
    const dir = tempDir('validate-policy');
    writeManifests(dir, policy(['+1NXXNXXXXXX']));
    const strict = await runCli(['validate', dir, '--strict']);
    expect(strict.code).toBe(1);
    expect(strict.stdout).toContain('warning: transfer_policy.allow[0]');

    const json = await runCli(['validate', dir, '--format', 'json']);
    expect(json.code).toBe(0);
    const report = JSON.parse(json.stdout) as { valid: boolean; problems: unknown[]; warnings: { path: string; severity: string; text: string }[] };
    expect(report).toMatchObject({ valid: true, problems: [], warnings: [{ path: 'transfer_policy.allow[0]', severity: 'warning' }] });
    const strictJson = await runCli(['validate', dir, '--format', 'json', '--strict']);
    expect(strictJson.code).toBe(1);
    expect((JSON.parse(strictJson.stdout) as { valid: boolean }).valid).toBe(false);

    const github = await runCli(['validate', dir, '--format', 'github']);
    expect(github.stdout).toMatch(new RegExp(`^::warning file=${dir}/acme/account\\.yaml,line=4,col=\\d+,title=transfer_policy\\.allow\\[0\\]::"\\+1NXXNXXXXXX" allows`));
    expect((await runCli(['validate', dir, '--format', 'github', '--strict'])).stdout).toMatch(/^::error file=/);
  });

  it('refuses a region class that names a region of another country code, or no region', async () => {
    const dir = tempDir('validate-policy');
    writeManifests(dir, policy(['+44 US', '+999 ZZ', '+1 US/CA/JM'], ['+1 usa']));
    const result = await runCli(['validate', dir]);
    expect(result.code).toBe(1);
    const lines = result.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/transfer_policy\.deny\[0\]: "\+1 usa" is not valid: A digit pattern .* or a region class: a country code, a space and regions separated by '\/', e\.g\. \+1 US\/CA\.$/);
    expect(lines.slice(1)).toEqual([`${dir}/acme/desk.yaml:1:1: acme/account.yaml is missing or invalid, so this persona cannot be loaded`]);
    writeManifests(dir, policy(['+44 US', '+999 ZZ', '+1 US/CA/JM']));
    const semantic = await runCli(['validate', dir]);
    expect(semantic.code).toBe(1);
    expect(semantic.stdout.trim().split('\n').map((line) => line.replace(/^.*?: (?=transfer_policy)/, ''))).toEqual([
      'transfer_policy.allow[0]: US is not a country of +44 (its code is +1); +44 has GB, GG, IM, JE',
      'transfer_policy.allow[1]: +999 is not the country code of a country',
      `${dir}/acme/desk.yaml:1:1: acme/account.yaml is missing or invalid, so this persona cannot be loaded`,
    ]);
  });
});

describe('numbers in manifests', () => {
  it('refuses YAML .nan and .inf where a number is expected', async () => {
    const dir = tempDir('validate-nan');
    writeManifests(dir, {
      'acme/account.yaml': 'account_id: acme\ntimezone: UTC\ncall_control: { driver: events, hangup_delay_seconds: .nan, ring_timeout_seconds: .inf }\n',
      'acme/desk.yaml': 'persona_id: desk\n',
    });
    const result = await runCli(['validate', dir]);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('call_control.hangup_delay_seconds: must be a number');
    expect(result.stdout).toContain('call_control.ring_timeout_seconds: must be a whole number');
  });
});
