/**
 * The API commands of the fake FreeSWITCH (fake-freeswitch.ts), answering
 * as mod_commands does: the text an `api` command returns in its
 * api/response, and a `bgapi` command in its BACKGROUND_JOB body. Channels
 * get the events FreeSWITCH fires for them (CHANNEL_PROGRESS while ringing,
 * CHANNEL_ANSWER, CHANNEL_BRIDGE, CHANNEL_HANGUP_COMPLETE with the cause).
 */
import { randomUUID } from 'node:crypto';

import type { DestinationScript } from './fake-freeswitch.ts';

export interface FakeChannels {
  readonly channels: Map<string, { answered: boolean; bridgedTo?: string; end?: (cause: string) => void }>;
  readonly scripts: Map<string, DestinationScript>;
  readonly transfers: { uuid: string; destination: string; dialplan: string | undefined; context: string | undefined }[];
  readonly originates: { variables: Record<string, string>; endpoint: string; app: string }[];
  readonly bridges: [string, string][];
  readonly kills: string[];
  fire(name: string, headers: Record<string, string>, body?: string): void;
  hangup(uuid: string, cause?: string): void;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ORIGINATE_USAGE = '-USAGE: <call url> <exten>|&<application_name>(<app_args>) [<dialplan>] [<context>] [<cid_name>] [<cid_num>] [<timeout_sec>]\n';

export function runApi(fs: FakeChannels, commandLine: string): Promise<string> {
  const space = commandLine.indexOf(' ');
  const command = space < 0 ? commandLine : commandLine.slice(0, space);
  const args = space < 0 ? '' : commandLine.slice(space + 1).trim();
  const words = args.split(' ').filter(Boolean);
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
      first.bridgedTo = b;
      second.bridgedTo = a;
      fs.bridges.push([a, b]);
      fs.fire('CHANNEL_BRIDGE', { 'Unique-ID': a, 'Other-Leg-Unique-ID': b, 'Bridge-A-Unique-ID': a, 'Bridge-B-Unique-ID': b });
      return Promise.resolve(`+OK ${b}\n`);
    }
    case 'originate':
      return originate(fs, args);
    default:
      return Promise.resolve(`-ERR ${command} Command not found!\n`);
  }
}

function originate(fs: FakeChannels, args: string): Promise<string> {
  let variables: Record<string, string> = {};
  let rest = args;
  if (rest.startsWith('{')) {
    const close = rest.indexOf('}');
    if (close < 0) return Promise.resolve(ORIGINATE_USAGE);
    variables = Object.fromEntries(
      rest
        .slice(1, close)
        .split(',')
        .filter(Boolean)
        .map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]),
    );
    rest = rest.slice(close + 1);
  }
  const [endpoint = '', app = ''] = rest.split(' ');
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
    fs.channels.set(uuid, { answered: false, end: (cause) => finish(`-ERR ${cause}\n`) });
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
