/**
 * The esl driver: FreeSWITCH (and FusionPBX, which runs on it) through its
 * event socket in inbound mode. One lasting, authenticated connection per
 * account (link.ts) carries the commands and brings back the events that
 * decide them (transfers.ts): background jobs, the new leg's ringing,
 * answer, bridge and hang-up, the caller's hang-up, and presence.
 *
 * A warm transfer (warm.ts) holds the caller with music, briefs the
 * destination on a leg of its own and reads its answer from DTMF events and
 * the CUSTOM event its briefing ends with.
 *
 * The call reference is the caller's channel uuid (${uuid} in the dialplan).
 * A hang-up is `api uuid_kill <uuid>`: its answer is the verdict, and "No
 * such channel" means the call is already gone, which is what was wanted.
 * While the link is not up a command is refused at once (not_sent): there is
 * no queue that could carry it out after the agent was told it failed.
 */
import type { EslCallControl } from '../../../manifests/types.ts';
import { warmSettingsOf } from '../../warm.ts';
import type { CallControlDriver, DriverFactory, DriverHealth, DriverScope, SendRequest, SendResult } from '../driver.ts';
import { presenceOf, readResult, SAFE_TOKEN } from './causes.ts';
import type { EslConnection } from './connection.ts';
import { DEFAULT_LINK_TIMING, EslLink, type LinkTiming } from './link.ts';
import type { EslEvent } from './parser.ts';
import { Transfers } from './transfers.ts';
import { WarmTransfers } from './warm.ts';
import { WARM_EVENT_SUBCLASS } from './warm-commands.ts';

export const DEFAULT_ESL_PORT = 8021;
export const DEFAULT_DND_STATUSES = ['DND', 'Do Not Disturb'];
const CHANNEL_EVENTS = ['CHANNEL_PROGRESS', 'CHANNEL_PROGRESS_MEDIA', 'CHANNEL_ANSWER', 'CHANNEL_BRIDGE', 'CHANNEL_HANGUP_COMPLETE'];
const CAUSE_NAME = /^[A-Z][A-Z0-9_]{1,63}$/;

class EslDriver implements CallControlDriver {
  readonly keepsCaller: boolean;
  private readonly link: EslLink;
  private readonly transfers: Transfers;
  private readonly warm: WarmTransfers;
  private readonly extensions: ReadonlySet<string>;
  /** Caller channels being hung up by us, with the cause once FreeSWITCH reported them gone. */
  private readonly hangingUp = new Map<string, string | undefined>();

  constructor(
    private readonly scope: DriverScope<EslCallControl>,
    timing: LinkTiming,
  ) {
    const { settings } = scope;
    const method = settings.transfer_method ?? 'blind';
    this.keepsCaller = method === 'bridge';
    this.extensions = new Set(scope.extensions);
    // mod_event_socket reads every word after CUSTOM as a subclass: it comes last.
    const events = ['BACKGROUND_JOB', ...CHANNEL_EVENTS, 'DTMF', ...(settings.presence ? ['PRESENCE_IN'] : []), 'CUSTOM', WARM_EVENT_SUBCLASS];
    this.link = new EslLink(
      { host: settings.host, port: settings.port ?? DEFAULT_ESL_PORT, passwordSecret: settings.password, events },
      { secrets: scope.secrets, outbound: scope.outbound, clock: scope.clock, log: scope.log, onEvent: (event) => this.onEvent(event), onHealth: (health) => this.onHealth(health) },
      timing,
    );
    const current = (): EslConnection | undefined => this.link.current;
    this.transfers = new Transfers({ method, context: settings.context ?? 'default', endpointTemplate: settings.endpoint_template }, scope.sink, scope.log, current);
    this.warm = new WarmTransfers({ endpointTemplate: settings.endpoint_template, ttsEngine: settings.tts_engine, warm: warmSettingsOf(settings) }, scope.sink, scope.log, current);
    this.link.start();
  }

  health(): DriverHealth {
    return this.link.health();
  }

  async send(request: SendRequest): Promise<SendResult> {
    const connection = this.link.current;
    if (!connection) return { kind: 'not_sent', reason: `not connected to FreeSWITCH: ${this.health().reason ?? 'no connection'}` };
    if (!SAFE_TOKEN.test(request.callRef)) {
      return { kind: 'done', verdict: { success: false, outcome: 'failed', reason: 'the call reference is not a FreeSWITCH channel uuid' } };
    }
    if (request.command.kind === 'hangup') return this.hangup(connection, request);
    if (request.command.mode === 'warm') return this.warm.start(connection, request);
    return this.transfers.start(connection, request);
  }

  async stop(): Promise<void> {
    this.transfers.stop();
    // Before the link closes: a caller on hold is taken off it, a briefed leg hung up.
    await this.warm.stop();
    return this.link.stop();
  }

  private onHealth(health: DriverHealth): void {
    this.scope.sink.healthChanged(health);
    if (health.state === 'up') void this.warm.connected();
  }

  /**
   * `api uuid_kill`. The channel's CHANNEL_HANGUP_COMPLETE may come before
   * the answer: it is held back, so the call ends as hung up by the agent
   * rather than with the channel's cause, unless the answer says otherwise.
   */
  private async hangup(connection: EslConnection, request: SendRequest): Promise<SendResult> {
    const uuid = request.callRef;
    this.scope.sink.delivered(request.command.id);
    this.hangingUp.set(uuid, undefined);
    let body: string | Error;
    try {
      body = await connection.api(`uuid_kill ${uuid}`);
    } catch (error) {
      body = error as Error;
    }
    const cause = this.hangingUp.get(uuid);
    this.hangingUp.delete(uuid);
    const result = typeof body === 'string' ? readResult(body) : undefined;
    // "No such channel": the caller's leg is already gone, which is what a hang-up wants.
    if (result && (result.ok || /no such channel/i.test(result.text))) return { kind: 'done', verdict: { success: true } };
    if (cause !== undefined) this.scope.sink.callEnded(uuid, cause);
    if (!result) return { kind: 'unanswered', reason: `the connection to FreeSWITCH broke before it answered (${(body as Error).message})` };
    return { kind: 'done', verdict: { success: false, reason: `FreeSWITCH did not hang up the call (${result.text})` } };
  }

  private onEvent(event: EslEvent): void {
    switch (event.name) {
      case 'BACKGROUND_JOB':
        if (!this.transfers.onJob(event)) this.warm.onJob(event);
        return;
      case 'PRESENCE_IN':
        return this.onPresence(event);
      case 'DTMF':
        this.warm.onDtmf(event);
        return;
      case 'CUSTOM':
        this.warm.onCustom(event);
        return;
      default:
        if (!CHANNEL_EVENTS.includes(event.name)) {
          this.scope.log.debug({ event: 'esl_event_ignored', name: event.name.slice(0, 64) }, 'ignored a FreeSWITCH event');
          return;
        }
        // Warm first: the hang-up of a caller on hold ends the call with its own reason.
        if (this.warm.onChannel(event) || this.transfers.onChannel(event) || event.name !== 'CHANNEL_HANGUP_COMPLETE') return;
        this.callEnded(event);
    }
  }

  private callEnded(event: EslEvent): void {
    const uuid = event.headers.get('unique-id') ?? '';
    if (!SAFE_TOKEN.test(uuid)) return;
    const raw = event.headers.get('hangup-cause') ?? '';
    const cause = CAUSE_NAME.test(raw) ? raw : 'hangup';
    if (this.hangingUp.has(uuid)) this.hangingUp.set(uuid, cause);
    else this.scope.sink.callEnded(uuid, cause);
  }

  private onPresence(event: EslEvent): void {
    const presence = this.scope.settings.presence;
    if (!presence) return;
    const news = presenceOf(event, { dndStatuses: presence.dnd_statuses ?? DEFAULT_DND_STATUSES, domain: presence.domain });
    if (news && this.extensions.has(news.extension)) this.scope.sink.presence(news.extension, news.dnd);
  }
}

/** The driver factory; `timing` is for tests that need a quicker reconnect or probe. */
export function eslDriverWith(timing: LinkTiming = DEFAULT_LINK_TIMING): DriverFactory<EslCallControl> {
  return {
    name: 'esl',
    connection: 'persistent',
    keepsCaller: (settings) => (settings.transfer_method ?? 'blind') === 'bridge',
    secretNames: (settings) => [settings.password],
    // Warm transfers originate a leg of their own (endpoint_template), whatever transfer_method says for blind ones.
    warm: () => true,
    create: (scope) => new EslDriver(scope, timing),
  };
}

export const eslDriver = eslDriverWith();
