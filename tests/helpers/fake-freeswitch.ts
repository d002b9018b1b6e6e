/**
 * A fake FreeSWITCH event socket (mod_event_socket, inbound mode) on a
 * loopback port, speaking the wire protocol as its documentation and source
 * describe it: the greeting "Content-Type: auth/request", `auth <password>`
 * answered by a command/reply "+OK accepted" or "-ERR invalid" (followed by a
 * text/disconnect-notice and the socket closed), a text/rude-rejection when
 * the inbound ACL refuses the client, `event plain|json <names...>`, `api`
 * answered by an api/response with Content-Length, `bgapi` answered at once
 * with "+OK Job-UUID: <uuid>" (the client's own Job-UUID header honoured) and
 * its result fired later as a BACKGROUND_JOB event whose body is the command's
 * output, and events as text/event-plain with URL-encoded header values, sent
 * only to connections that subscribed to them.
 *
 * The API commands are the ones call control uses, with FreeSWITCH's answers:
 * originate ("{vars}endpoint &park()"; "+OK <uuid>" on answer, "-ERR <cause>"
 * otherwise), uuid_bridge ("+OK <uuid>" / "-ERR Invalid uuid"), uuid_transfer
 * and uuid_kill ("+OK" / "-ERR No such channel!"), uuid_broadcast ("+OK
 * Message sent" / "-ERR invalid uuid"), uuid_break, uuid_setvar, status. `sendmsg <uuid>`
 * with call-command: execute runs an application on a channel
 * (fake-freeswitch-apps.ts), answered "+OK" or "-ERR invalid session id
 * [<uuid>]". `event plain ... CUSTOM <subclass...>` subscribes to those
 * subclasses of CUSTOM events only.
 *
 * What a destination does when rung is scripted by the test (answer, a
 * failure cause, ring until originate_timeout), and, once it answered, what
 * its person does while and after a briefing plays (press 1 or 2, hang up,
 * nothing); caller channels are added, hung up and reported
 * (CHANNEL_HANGUP_COMPLETE) by the test.
 */
import { randomUUID } from 'node:crypto';
import net from 'node:net';

import { runApi, type FakeChannels } from './fake-freeswitch-api.ts';
import { dropApps, playing, queueApp, type FakeChannel, type TargetBehaviour } from './fake-freeswitch-apps.ts';

export type { TargetBehaviour } from './fake-freeswitch-apps.ts';

export type DestinationScript =
  /** Answers after `afterMs`; `then`: what the person who answered does during and after the briefing. */
  | { kind: 'answer'; afterMs?: number; then?: TargetBehaviour }
  | { kind: 'fail'; cause: string; afterMs?: number }
  | { kind: 'ring' };

export interface ReceivedCommand {
  line: string;
  headers: Record<string, string>;
}

interface Client {
  socket: net.Socket;
  authed: boolean;
  format: 'plain' | 'json';
  events: Set<string>;
  /** Subclasses of CUSTOM events subscribed to (the words after CUSTOM). */
  subclasses: Set<string>;
}

const KNOWN_EVENTS = new Set([
  'ALL',
  'CUSTOM',
  'BACKGROUND_JOB',
  'CHANNEL_CREATE',
  'CHANNEL_PROGRESS',
  'CHANNEL_PROGRESS_MEDIA',
  'CHANNEL_ANSWER',
  'CHANNEL_BRIDGE',
  'CHANNEL_UNBRIDGE',
  'CHANNEL_PARK',
  'CHANNEL_EXECUTE',
  'CHANNEL_EXECUTE_COMPLETE',
  'CHANNEL_APPLICATION',
  'CHANNEL_HANGUP',
  'CHANNEL_HANGUP_COMPLETE',
  'CHANNEL_STATE',
  'PRESENCE_IN',
  'HEARTBEAT',
  'DTMF',
]);
const MAX_COMMAND_BYTES = 64 * 1024;
const GOODBYE = 'Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n';

export class FakeFreeswitch implements FakeChannels {
  /** The event socket password (event_socket.conf.xml). */
  password: string;
  /** Whether apply-inbound-acl lets the client in. */
  aclAllows = true;
  readonly channels = new Map<string, FakeChannel>();
  readonly scripts = new Map<string, DestinationScript>();
  /** Commands of authenticated connections, in order (never the auth line). */
  readonly received: ReceivedCommand[] = [];
  readonly transfers: { uuid: string; destination: string; dialplan: string | undefined; context: string | undefined }[] = [];
  readonly originates: { variables: Record<string, string>; endpoint: string; app: string }[] = [];
  readonly bridges: [string, string][] = [];
  readonly kills: string[] = [];
  readonly broadcasts: { uuid: string; app: string; path: string; legs: string | undefined }[] = [];
  readonly breaks: { uuid: string; all: boolean }[] = [];
  readonly setvars: { uuid: string; name: string; value: string | undefined }[] = [];
  /** Applications executed through sendmsg: the channel, the application, its data and the sendmsg's headers. */
  readonly executed: { uuid: string; app: string; arg: string; headers: Record<string, string> }[] = [];
  /** DTMF pressed on channels, in order. */
  readonly pressed: { uuid: string; digit: string }[] = [];
  /** How long speak and playback play (ms). */
  mediaMs = 60;
  authFailures = 0;
  /** Told of each command as it is recorded in `received` (benchmarks time arrivals with it). */
  onCommand: ((command: ReceivedCommand) => void) | undefined;
  private readonly clients = new Set<Client>();
  private server: net.Server | undefined;
  private sequence = 0;
  private readonly coreUuid = randomUUID();
  port = 0;

  constructor(password: string) {
    this.password = password;
  }

  async start(port = 0): Promise<this> {
    this.server = net.createServer((socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      this.server?.once('error', reject);
      this.server?.listen(port, '127.0.0.1', () => resolve());
    });
    this.port = (this.server.address() as net.AddressInfo).port;
    return this;
  }

  /** Stops listening and drops every connection (FreeSWITCH down). */
  async stop(): Promise<void> {
    this.dropConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server = undefined;
  }

  /** Drops every connection without a word, as a crash or a network cut would. */
  dropConnections(): void {
    for (const client of this.clients) client.socket.destroy();
    this.clients.clear();
  }

  /** Connections that authenticated and are still open. */
  get connected(): number {
    return [...this.clients].filter((client) => client.authed && !client.socket.destroyed).length;
  }

  /** A caller's channel, up and answered (the call the agent is on). */
  addCaller(uuid: string): void {
    this.channels.set(uuid, { answered: true, variables: {}, queue: [] });
  }

  /** What the channel hears from FreeSWITCH now (the caller's hold music while held), if anything. */
  playingTo(uuid: string): string | undefined {
    return playing(this.channels.get(uuid));
  }

  /** A key pressed on the channel (RFC 2833): a DTMF event with the channel's data. */
  press(uuid: string, digit: string): void {
    if (!this.channels.has(uuid)) return;
    this.pressed.push({ uuid, digit });
    this.fire('DTMF', { 'Unique-ID': uuid, 'Answer-State': 'answered', 'DTMF-Digit': digit, 'DTMF-Duration': '2000', 'DTMF-Source': 'RTP' });
  }

  /** What a destination does when originate rings it. */
  script(destination: string, script: DestinationScript): void {
    this.scripts.set(destination, script);
  }

  /** The channel hangs up (the caller put the phone down): CHANNEL_HANGUP_COMPLETE with the cause. */
  hangup(uuid: string, cause = 'NORMAL_CLEARING'): void {
    const channel = this.channels.get(uuid);
    this.channels.delete(uuid);
    if (channel) dropApps(channel);
    channel?.end?.(cause);
    this.fire('CHANNEL_HANGUP_COMPLETE', { 'Unique-ID': uuid, 'Hangup-Cause': cause, 'Channel-State': 'CS_REPORTING', 'Answer-State': 'hangup' });
  }

  /** Fires an event to the connections subscribed to it. */
  fire(name: string, headers: Record<string, string>, body = ''): void {
    this.sequence += 1;
    const all: [string, string][] = [
      ['Event-Name', name],
      ['Core-UUID', this.coreUuid],
      ['FreeSWITCH-Hostname', 'fs1.example.net'],
      ['Event-Date-Local', new Date().toISOString().replace('T', ' ').slice(0, 19)],
      ['Event-Date-Timestamp', String(Date.now() * 1000)],
      ['Event-Calling-File', 'switch_channel.c'],
      ['Event-Sequence', String(this.sequence)],
      ...Object.entries(headers),
    ];
    for (const client of this.clients) {
      if (!client.authed || !(client.events.has(name) || client.events.has('ALL'))) continue;
      if (name === 'CUSTOM' && !client.events.has('ALL') && !client.subclasses.has(headers['Event-Subclass'] ?? '')) continue;
      let text: string;
      if (client.format === 'json') {
        text = JSON.stringify({ ...Object.fromEntries(all), ...(body ? { _body: body } : {}) });
      } else {
        text = all.map(([key, value]) => `${key}: ${encodeURIComponent(value)}\n`).join('');
        text += body ? `Content-Length: ${Buffer.byteLength(body)}\n\n${body}` : '\n';
      }
      client.socket.write(`Content-Length: ${Buffer.byteLength(text)}\nContent-Type: text/event-${client.format}\n\n${text}`);
    }
  }

  private accept(socket: net.Socket): void {
    // mod_event_socket turns Nagle off on its connections; a reply and the event after it go out at once.
    socket.setNoDelay(true);
    const client: Client = { socket, authed: false, format: 'plain', events: new Set(), subclasses: new Set() };
    socket.on('error', () => undefined);
    socket.on('close', () => this.clients.delete(client));
    if (!this.aclAllows) {
      const message = 'Access Denied, go away.\n';
      socket.end(`Content-Type: text/rude-rejection\nContent-Length: ${Buffer.byteLength(message)}\n\n${message}`);
      return;
    }
    this.clients.add(client);
    socket.write('Content-Type: auth/request\n\n');
    let buffer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      if (buffer.length > MAX_COMMAND_BYTES) return socket.destroy();
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end).replace(/^[\r\n]+/, '');
        buffer = buffer.slice(end + 2);
        if (block) this.command(client, block);
      }
    });
  }

  private reply(client: Client, text: string, extra = ''): void {
    client.socket.write(`Content-Type: command/reply\nReply-Text: ${text}\n${extra}\n`);
  }

  private command(client: Client, block: string): void {
    const [line = '', ...rest] = block.split('\n').map((part) => part.replace(/\r$/, ''));
    const headers = Object.fromEntries(rest.map((header) => [header.slice(0, header.indexOf(':')).trim().toLowerCase(), header.slice(header.indexOf(':') + 1).trim()]));
    if (!client.authed) {
      if (!line.startsWith('auth ')) return this.reply(client, '-ERR command not found');
      if (line.slice(5) === this.password) {
        client.authed = true;
        return this.reply(client, '+OK accepted');
      }
      this.authFailures += 1;
      this.reply(client, '-ERR invalid');
      client.socket.end(`Content-Type: text/disconnect-notice\nContent-Length: ${Buffer.byteLength(GOODBYE)}\n\n${GOODBYE}`);
      return;
    }
    this.received.push({ line, headers });
    this.onCommand?.({ line, headers });
    if (line === 'exit') {
      this.reply(client, '+OK bye');
      client.socket.end(`Content-Type: text/disconnect-notice\nContent-Length: ${Buffer.byteLength(GOODBYE)}\n\n${GOODBYE}`);
    } else if (line.startsWith('event ')) {
      const words = line.slice(6).trim().split(/\s+/);
      if (words[0] === 'plain' || words[0] === 'json') client.format = words.shift() as 'plain' | 'json';
      // As mod_event_socket reads it: every word after CUSTOM is a subclass.
      const custom = words.indexOf('CUSTOM');
      const names = (custom < 0 ? words : words.slice(0, custom + 1)).filter((word) => KNOWN_EVENTS.has(word));
      if (names.length === 0) return this.reply(client, '-ERR no keywords supplied');
      for (const name of names) client.events.add(name);
      if (custom >= 0) for (const subclass of words.slice(custom + 1)) client.subclasses.add(subclass);
      this.reply(client, `+OK event listener enabled ${client.format}`);
    } else if (line.startsWith('api ')) {
      void runApi(this, line.slice(4)).then((body) => {
        const text = body || '-ERR no reply\n';
        client.socket.write(`Content-Type: api/response\nContent-Length: ${Buffer.byteLength(text)}\n\n${text}`);
      });
    } else if (line.startsWith('bgapi ')) {
      const job = headers['job-uuid'] || randomUUID();
      this.reply(client, `+OK Job-UUID: ${job}`, `Job-UUID: ${job}\n`);
      const [command = '', ...args] = line.slice(6).split(' ');
      void runApi(this, line.slice(6)).then((body) => this.fire('BACKGROUND_JOB', { 'Job-UUID': job, 'Job-Command': command, ...(args.length ? { 'Job-Command-Arg': args.join(' ') } : {}) }, body));
    } else if (line.startsWith('sendmsg')) {
      this.sendmsg(client, line.slice(7).trim() || headers['session-id'] || '', headers);
    } else {
      this.reply(client, '-ERR command not found');
    }
  }

  /** sendmsg in inbound mode: the message goes to the channel's private queue (execute runs an application there). */
  private sendmsg(client: Client, uuid: string, headers: Record<string, string>): void {
    if (!this.channels.has(uuid)) return this.reply(client, `-ERR invalid session id [${uuid}]`);
    this.reply(client, '+OK');
    if (headers['call-command'] === 'execute' && headers['execute-app-name']) {
      const app = { name: headers['execute-app-name'], arg: headers['execute-app-arg'] ?? '', ...(headers['event-uuid'] ? { eventUuid: headers['event-uuid'] } : {}) };
      this.executed.push({ uuid, app: app.name, arg: app.arg, headers });
      queueApp(this, uuid, app);
    } else if (headers['call-command'] === 'hangup') {
      this.hangup(uuid, headers['hangup-cause'] ?? 'NORMAL_CLEARING');
    }
  }
}
