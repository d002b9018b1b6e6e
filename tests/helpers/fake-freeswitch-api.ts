/**
 * The API commands of the fake FreeSWITCH (fake-freeswitch.ts), answering
 * as mod_commands does: the text an `api` command returns in its
 * api/response, and a `bgapi` command in its BACKGROUND_JOB body. Channels
 * get the events FreeSWITCH fires for them (CHANNEL_PROGRESS while ringing,
 * CHANNEL_ANSWER, CHANNEL_BRIDGE, CHANNEL_HANGUP_COMPLETE with the cause).
 *
 * Arguments are split as switch_separate_string does: on spaces outside
 * single quotes, a backslash keeping the next character, quotes then
 * removed; originate's {variables} are split on commas the same way, so
 * `{name='a value\, with a comma'}` is one variable.
 */
import { randomUUID } from 'node:crypto';

import { breakApps, queueApp, type AppHost } from './fake-freeswitch-apps.ts';
import type { DestinationScript } from './fake-freeswitch.ts';

export interface FakeChannels extends AppHost {
  readonly scripts: Map<string, DestinationScript>;
  readonly transfers: { uuid: string; destination: string; dialplan: string | undefined; context: string | undefined }[];
  readonly originates: { variables: Record<string, string>; endpoint: string; app: string }[];
  readonly bridges: [string, string][];
  readonly kills: string[];
  /** uuid_broadcast: the channel, the application and its data, and the legs named. */
  readonly broadcasts: { uuid: string; app: string; path: string; legs: string | undefined }[];
  /** uuid_break: the channel, with "all" when the queue was flushed too. */
  readonly breaks: { uuid: string; all: boolean }[];
  /** uuid_setvar: the channel, the variable and its value as FreeSWITCH read them. */
  readonly setvars: { uuid: string; name: string; value: string | undefined }[];
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ORIGINATE_USAGE = '-USAGE: <call url> <exten>|&<application_name>(<app_args>) [<dialplan>] [<context>] [<cid_name>] [<cid_num>] [<timeout_sec>]\n';

const UNESCAPED: Readonly<Record<string, string>> = { n: '\n', r: '\r', t: '\t', s: ' ' };

/** cleanup_separated_string: leading spaces and quotes removed, escapes resolved (`\<delim>` only for a delimiter). */
function cleanup(part: string, delim: string): string {
  let out = '';
  let end: number | undefined;
  let inside = false;
  const text = part.replace(/^ +/, '');
  for (let at = 0; at < text.length; at += 1) {
    const char = text[at] as string;
    const next = text[at + 1] ?? '';
    if (char === '\\' && (next === "'" || next === '"' || (delim && next === delim) || next === '\\' || next in UNESCAPED)) {
      out += UNESCAPED[next] ?? next;
      end = out.length;
      at += 1;
    } else if (char === "'" && (inside || text.includes("'", at + 1))) {
      inside = !inside;
      if (inside) end = out.length;
    } else {
      out += char;
      if (char !== ' ' || inside) end = out.length;
    }
  }
  return end === undefined ? out : out.slice(0, end);
}

/** switch_separate_string: `delim` outside single quotes splits, a backslash keeps the next character; at most `limit` parts. */
export function separate(text: string, delim: string, limit = 1024): string[] {
  const parts: string[] = [];
  let current: string | undefined;
  let inside = false;
  const blank = delim === ' ';
  for (let at = 0; at < text.length; at += 1) {
    const char = text[at] as string;
    if (current === undefined) {
      if (blank && char === ' ') continue;
      // The last part allowed is the rest of the text, unsplit.
      if (parts.length === limit - 1) {
        parts.push(text.slice(at));
        return parts.map((part) => cleanup(part, blank ? '' : delim));
      }
      current = '';
    }
    if (char === '\\') {
      current += char + (text[at + 1] ?? '');
      at += 1;
    } else if (char === "'" && (blank || inside || text.includes("'", at + 1))) {
      inside = !inside;
      current += char;
    } else if (char === delim && !inside) {
      parts.push(current);
      current = undefined;
    } else {
      current += char;
    }
  }
  if (current !== undefined) parts.push(current);
  return parts.map((part) => cleanup(part, blank ? '' : delim));
}

export function runApi(fs: FakeChannels, commandLine: string): Promise<string> {
  const space = commandLine.indexOf(' ');
  const command = space < 0 ? commandLine : commandLine.slice(0, space);
  const args = space < 0 ? '' : commandLine.slice(space + 1).trim();
  const words = separate(args, ' ');
  switch (command) {
    case 'status':
      return Promise.resolve('UP 0 years, 0 days, 1 hour, 2 minutes, 3 seconds\nFreeSWITCH (Version 1.10.12-release 64bit) is ready\n');
    case 'uuid_kill': {
      const [uuid = '', cause = 'NORMAL_CLEARING'] = words;
      if (!fs.channels.has(uuid)) return Promise.resolve('-ERR No such channel!\n');
      fs.kills.push(uuid);
      fs.hangup(uuid, cause);
      return Promise.resolve('+OK\n');
    }
    case 'uuid_transfer': {
      const at = words[1] === '-bleg' || words[1] === '-both' ? 2 : 1;
      const [uuid, destination] = [words[0], words[at]];
      if (!uuid || !destination) return Promise.resolve('-USAGE: <uuid> [-bleg|-both] <dest-exten> [<dialplan>] [<context>]\n');
      if (!fs.channels.has(uuid)) return Promise.resolve('-ERR No such channel!\n');
      fs.transfers.push({ uuid, destination, dialplan: words[at + 1], context: words[at + 2] });
      return Promise.resolve('+OK\n');
    }
    case 'uuid_bridge': {
      if (words.length !== 2) return Promise.resolve('-USAGE: <uuid> <other_uuid>\n');
      const [a = '', b = ''] = words;
      const first = fs.channels.get(a);
      const second = fs.channels.get(b);
      if (!first || !second?.answered) return Promise.resolve('-ERR Invalid uuid\n');
      // switch_ivr_uuid_bridge stops what either channel was playing (the caller's hold music, a briefing).
      breakApps(fs, a, false);
      breakApps(fs, b, false);
      first.bridgedTo = b;
      second.bridgedTo = a;
      fs.bridges.push([a, b]);
      fs.fire('CHANNEL_BRIDGE', { 'Unique-ID': a, 'Other-Leg-Unique-ID': b, 'Bridge-A-Unique-ID': a, 'Bridge-B-Unique-ID': b });
      return Promise.resolve(`+OK ${b}\n`);
    }
    case 'uuid_broadcast': {
      const [uuid = '', path = '', legs] = words;
      if (!uuid || !path) return Promise.resolve('-USAGE: <uuid> <path> [aleg|bleg|holdb|both]\n');
      const split = path.indexOf('::');
      const app = split < 0 ? 'playback' : path.slice(0, split);
      const data = split < 0 ? path : path.slice(split + 2);
      if (!fs.channels.has(uuid)) return Promise.resolve('-ERR invalid uuid\n');
      fs.broadcasts.push({ uuid, app, path: data, legs });
      // aleg (or no legs named): the channel itself plays it; bleg alone would play it to the channel it is bridged to.
      if (!legs || /aleg|both/.test(legs)) queueApp(fs, uuid, { name: app, arg: data });
      return Promise.resolve('+OK Message sent\n');
    }
    case 'uuid_break': {
      const [uuid = '', flag = ''] = words;
      if (!uuid) return Promise.resolve('-USAGE: <uuid> [all]\n');
      if (!fs.channels.has(uuid)) return Promise.resolve('-ERR No such channel!\n');
      fs.breaks.push({ uuid, all: flag.includes('all') });
      breakApps(fs, uuid, flag.includes('all'));
      return Promise.resolve('+OK\n');
    }
    case 'uuid_setvar': {
      // The value is the rest of the line, spaces included (three parts at most).
      const [uuid = '', name, value] = separate(args, ' ', 3);
      const channel = fs.channels.get(uuid);
      if (!name) return Promise.resolve('-USAGE: <uuid> <var> [value]\n');
      if (!channel) return Promise.resolve('-ERR No such channel!\n');
      fs.setvars.push({ uuid, name, value });
      if (value === undefined) delete channel.variables[name];
      else channel.variables[name] = value;
      return Promise.resolve('+OK\n');
    }
    case 'originate':
      return originate(fs, args);
    default:
      return Promise.resolve(`-ERR ${command} Command not found!\n`);
  }
}

function originate(fs: FakeChannels, args: string): Promise<string> {
  const argv = separate(args, ' ');
  if (argv.length < 2 || argv.length > 7) return Promise.resolve(ORIGINATE_USAGE);
  let variables: Record<string, string> = {};
  const app = argv[1] ?? '';
  let endpoint = argv[0] ?? '';
  if (endpoint.startsWith('{')) {
    const close = endpoint.lastIndexOf('}');
    if (close < 0) return Promise.resolve(ORIGINATE_USAGE);
    variables = Object.fromEntries(
      separate(endpoint.slice(1, close), ',')
        .filter((pair) => pair.includes('='))
        .map((pair) => separate(pair, '=', 2) as [string, string]),
    );
    endpoint = endpoint.slice(close + 1);
  }
  if (!endpoint || !app) return Promise.resolve(ORIGINATE_USAGE);
  fs.originates.push({ variables, endpoint, app });
  const timeoutSeconds = variables.originate_timeout === undefined ? 60 : Number(variables.originate_timeout);
  if (!Number.isInteger(timeoutSeconds) || timeoutSeconds <= 0) return Promise.resolve('-ERR INVALID_ARGUMENT\n');
  const uuid = variables.origination_uuid ?? randomUUID();
  if (!UUID.test(uuid) || fs.channels.has(uuid)) return Promise.resolve('-ERR INVALID_ARGUMENT\n');
  const user = /^user\/([^@/]+)(@[A-Za-z0-9.-]+)?$/.exec(endpoint);
  const gateway = /^sofia\/gateway\/[^/]+\/([^/]+)$/.exec(endpoint);
  if (!user && !gateway) return Promise.resolve('-ERR CHAN_NOT_IMPLEMENTED\n');
  const destination = (user?.[1] ?? gateway?.[1]) as string;
  const script = fs.scripts.get(destination);
  if (!script) return Promise.resolve(user ? '-ERR USER_NOT_REGISTERED\n' : '-ERR NO_ROUTE_DESTINATION\n');

  return new Promise((resolve) => {
    const timers: NodeJS.Timeout[] = [];
    const finish = (result: string): void => {
      timers.forEach(clearTimeout);
      resolve(result);
    };
    fs.channels.set(uuid, { answered: false, variables, queue: [], end: (cause) => finish(`-ERR ${cause}\n`), ...(script.kind === 'answer' && script.then ? { behaviour: script.then } : {}) });
    const later = (ms: number, work: () => void): void => void timers.push(setTimeout(work, ms));
    later(10, () => fs.channels.has(uuid) && fs.fire('CHANNEL_PROGRESS', { 'Unique-ID': uuid, 'Answer-State': 'ringing', 'Call-Direction': 'outbound', 'Caller-Destination-Number': destination }));
    later(timeoutSeconds * 1000, () => fs.hangup(uuid, 'NO_ANSWER'));
    if (script.kind === 'answer') {
      later(script.afterMs ?? 50, () => {
        const channel = fs.channels.get(uuid);
        if (!channel) return;
        channel.answered = true;
        delete channel.end;
        fs.fire('CHANNEL_ANSWER', { 'Unique-ID': uuid, 'Answer-State': 'answered', 'Call-Direction': 'outbound' });
        fs.fire('CHANNEL_PARK', { 'Unique-ID': uuid });
        finish(`+OK ${uuid}\n`);
      });
    } else if (script.kind === 'fail') {
      later(script.afterMs ?? 50, () => fs.hangup(uuid, script.cause));
    }
  });
}
