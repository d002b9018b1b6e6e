/**
 * The applications the fake FreeSWITCH (fake-freeswitch.ts) runs on a
 * channel, and the person on a new leg who hears them.
 *
 * `sendmsg <uuid>` with `call-command: execute` and `uuid_broadcast` queue an
 * application on the channel's private queue; as on a parked channel with
 * event-lock, they run one after another, each between a CHANNEL_EXECUTE and
 * a CHANNEL_EXECUTE_COMPLETE. speak and playback play for `mediaMs`;
 * endless_playback and a local_stream:// play until broken (uuid_break,
 * uuid_bridge); `event` fires its event at once with the channel's data, as
 * mod_dptools does (Event-Name=CUSTOM with an Event-Subclass makes a CUSTOM
 * event); speak without an engine and a voice (its data or the channel's
 * tts_engine and tts_voice) hangs the channel up, as FreeSWITCH does.
 *
 * A target leg's `behaviour` is what its person does once the briefing plays:
 * press a key during it or after it (DTMF events), hang up during it or after
 * it, or nothing.
 */
export type TargetBehaviour = { kind: 'press'; digit: string; during?: boolean } | { kind: 'hangup'; during?: boolean } | { kind: 'silent' };

export interface QueuedApp {
  name: string;
  arg: string;
  /** The sendmsg's Event-UUID, reported as Application-UUID. */
  eventUuid?: string;
}

export interface FakeChannel {
  answered: boolean;
  bridgedTo?: string;
  /** Ends the originate of a leg that has not answered yet. */
  end?: (cause: string) => void;
  /** Channel variables set at originate ({name=value,...}). */
  variables: Record<string, string>;
  queue: QueuedApp[];
  running?: { app: QueuedApp; timer?: NodeJS.Timeout };
  /** What the person on this leg does during and after the briefing. */
  behaviour?: TargetBehaviour;
  /** The behaviour has been carried out (once per leg). */
  acted?: boolean;
}

/** What the application runner needs of the fake. */
export interface AppHost {
  readonly channels: Map<string, FakeChannel>;
  /** How long speak and playback play (ms). */
  mediaMs: number;
  fire(name: string, headers: Record<string, string>, body?: string): void;
  hangup(uuid: string, cause?: string): void;
  press(uuid: string, digit: string): void;
}

const MEDIA_APPS = new Set(['speak', 'playback', 'endless_playback']);
const endless = (app: QueuedApp): boolean => app.name === 'endless_playback' || app.arg.startsWith('local_stream://');

/** What the person on the leg does, after `delayMs`, if the leg is still up. */
function act(host: AppHost, uuid: string, during: boolean, delayMs: number): void {
  const channel = host.channels.get(uuid);
  const behaviour = channel?.behaviour;
  if (!channel || !behaviour || behaviour.kind === 'silent' || channel.acted || Boolean(behaviour.during) !== during) return;
  channel.acted = true;
  setTimeout(() => {
    if (!host.channels.has(uuid)) return;
    if (behaviour.kind === 'press') host.press(uuid, behaviour.digit);
    else host.hangup(uuid, 'NORMAL_CLEARING');
  }, delayMs);
}

function appHeaders(uuid: string, app: QueuedApp): Record<string, string> {
  return { 'Unique-ID': uuid, Application: app.name, 'Application-Data': app.arg, ...(app.eventUuid ? { 'Application-UUID': app.eventUuid } : {}) };
}

/** The `event` application: its data is "Name=value,Name=value". */
function fireEventApp(host: AppHost, uuid: string, data: string): void {
  const headers: Record<string, string> = {};
  let name = 'CHANNEL_APPLICATION';
  for (const pair of data.split(',')) {
    const at = pair.indexOf('=');
    if (at <= 0) continue;
    const key = pair.slice(0, at).trim();
    const value = pair.slice(at + 1).trim();
    if (key.toLowerCase() === 'event-name') name = value;
    else headers[key] = value;
  }
  host.fire(name, { ...headers, 'Unique-ID': uuid, 'Answer-State': host.channels.get(uuid)?.answered ? 'answered' : 'early' });
}

function complete(host: AppHost, uuid: string, response: string): void {
  const channel = host.channels.get(uuid);
  if (!channel?.running) return;
  const { app } = channel.running;
  channel.running = undefined;
  host.fire('CHANNEL_EXECUTE_COMPLETE', { ...appHeaders(uuid, app), 'Application-Response': response });
  runNext(host, uuid);
}

function runNext(host: AppHost, uuid: string): void {
  const channel = host.channels.get(uuid);
  if (!channel || channel.running) return;
  const app = channel.queue.shift();
  if (!app) {
    act(host, uuid, false, 10);
    return;
  }
  channel.running = { app };
  host.fire('CHANNEL_EXECUTE', appHeaders(uuid, app));
  if (app.name === 'speak') {
    const parts = app.arg.split('|');
    const engine = parts.length === 3 ? parts[0] : channel.variables.tts_engine;
    const voice = parts.length >= 2 ? parts[parts.length - 2] : channel.variables.tts_voice;
    if (!engine || !voice) {
      channel.running = undefined;
      host.hangup(uuid, 'DESTINATION_OUT_OF_ORDER');
      return;
    }
  }
  if (app.name === 'event') fireEventApp(host, uuid, app.arg);
  if (!MEDIA_APPS.has(app.name)) return complete(host, uuid, '_none_');
  act(host, uuid, true, Math.floor(host.mediaMs / 2));
  if (endless(app)) return;
  channel.running.timer = setTimeout(() => complete(host, uuid, 'FILE PLAYED'), host.mediaMs);
}

/** Queues an application on the channel (sendmsg execute, uuid_broadcast); false when there is no such channel. */
export function queueApp(host: AppHost, uuid: string, app: QueuedApp): boolean {
  const channel = host.channels.get(uuid);
  if (!channel) return false;
  channel.queue.push(app);
  runNext(host, uuid);
  return true;
}

/** Stops the application playing (uuid_break, uuid_bridge), and with `flush` drops the queued ones too. */
export function breakApps(host: AppHost, uuid: string, flush: boolean): void {
  const channel = host.channels.get(uuid);
  if (!channel) return;
  if (flush) channel.queue.length = 0;
  if (!channel.running) return;
  clearTimeout(channel.running.timer);
  complete(host, uuid, 'FILE PLAYED');
}

/** Forgets the channel's applications when it hangs up. */
export function dropApps(channel: FakeChannel): void {
  clearTimeout(channel.running?.timer);
  channel.running = undefined;
  channel.queue.length = 0;
}

/** What is playing to the channel now (its hold music while held), if anything. */
export function playing(channel: FakeChannel | undefined): string | undefined {
  const app = channel?.running?.app;
  return app && MEDIA_APPS.has(app.name) ? app.arg : undefined;
}
