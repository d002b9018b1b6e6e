/**
 * The ari driver: Asterisk 18+ (FreePBX included) through the Asterisk REST
 * Interface. One events WebSocket per account registers the Stasis
 * application `app` (socket.ts); commands are REST calls under <url>/ari
 * (rest.ts). The call's reference is the caller's channel id (ARI's
 * channel.id, the dialplan's ${UNIQUEID}).
 *
 * ARI acts on any channel that is in some Stasis application, whichever
 * application that is; events, though, come only for channels in this
 * driver's application or subscribed to by it. So before a transfer the
 * caller's channel is subscribed to (subscriptions.ts): its end ends the
 * call here, and a dialplan transfer can read its Dial. The three transfer
 * methods live in bridge.ts (bridge) and dialplan.ts (redirect, continue);
 * a warm transfer (warm.ts) holds the caller, originates and briefs the
 * destination whatever the blind method is; presence.ts reads DND from
 * device states.
 */
import type { AriCallControl } from '../../../manifests/types.ts';
import { WARM_REASONS } from '../../warm.ts';
import { HealthTracker, missingSecret, type CallControlDriver, type DriverFactory, type DriverHealth, type DriverScope, type SendRequest, type SendResult } from '../driver.ts';
import { BridgeTransfers } from './bridge.ts';
import { isOwnChannel, unreachedResult, type AriContext } from './context.ts';
import { DialplanTransfers } from './dialplan.ts';
import type { AriEvent } from './messages.ts';
import { restRefusal } from './outcomes.ts';
import { AriPresence } from './presence.ts';
import { ariBase, AriRest, segment, type AriCredentials } from './rest.ts';
import { AriEventSocket } from './socket.ts';
import { ChannelSubscriptions } from './subscriptions.ts';
import { WarmTransfers } from './warm.ts';

/** How long after a caller's StasisEnd its ChannelDestroyed is waited for, to end the call with the hang-up cause. */
const STASIS_END_GRACE_MS = 1_000;

class AriDriver implements CallControlDriver {
  readonly keepsCaller: boolean;
  private readonly method: NonNullable<AriCallControl['transfer_method']>;
  private readonly tracker: HealthTracker;
  private readonly ctx: AriContext;
  private readonly socket: AriEventSocket;
  private readonly subscriptions: ChannelSubscriptions;
  private readonly bridge: BridgeTransfers;
  private readonly dialplan: DialplanTransfers;
  private readonly warm: WarmTransfers;
  private readonly presence: AriPresence | undefined;
  /** Counts connections, so the resync of an older one stops when a newer one opens. */
  private generation = 0;
  /** Callers' channels that left Stasis, while a ChannelDestroyed with the reason may still follow. */
  private readonly leaving = new Map<string, NodeJS.Timeout>();

  constructor(private readonly scope: DriverScope<AriCallControl>) {
    const { settings, sink, log } = scope;
    this.method = settings.transfer_method ?? 'bridge';
    // Only a bridge leaves the caller with the agent when the destination does not answer.
    this.keepsCaller = this.method === 'bridge';
    this.tracker = new HealthTracker(scope.clock, (health) => sink.healthChanged(health));
    const credentials = (): AriCredentials | undefined => {
      const password = scope.secrets.get(settings.password);
      return password ? { username: settings.username, password } : undefined;
    };
    const base = ariBase(settings.url);
    const rest = new AriRest(base, scope.outbound, credentials);
    this.ctx = { rest, sink, log, settings };
    this.subscriptions = new ChannelSubscriptions(rest, settings.app, log);
    this.bridge = new BridgeTransfers(this.ctx);
    this.warm = new WarmTransfers(this.ctx, this.bridge);
    this.dialplan = new DialplanTransfers(this.ctx, (callRef) => this.subscriptions.unsubscribe(callRef));
    this.presence = settings.presence ? new AriPresence(settings.presence, scope.extensions, settings.app, rest, sink, log) : undefined;

    const events = new URL(base);
    events.protocol = base.protocol === 'https:' ? 'wss:' : 'ws:';
    events.pathname = `${base.pathname}/events`;
    events.searchParams.set('app', settings.app);
    this.socket = new AriEventSocket({
      url: events,
      app: settings.app,
      agent: scope.outbound.agentFor(events),
      credentials,
      missingReason: missingSecret(settings.password),
      health: this.tracker,
      log,
      onOpen: () => this.resume(),
      onEvent: (event) => this.onEvent(event),
    });
    this.socket.start();
  }

  health(): DriverHealth {
    const name = this.scope.settings.password;
    if (!this.scope.secrets.get(name)) this.tracker.set('down', missingSecret(name));
    return this.tracker.get();
  }

  async send(request: SendRequest): Promise<SendResult> {
    if (!this.socket.open) return { kind: 'not_sent', reason: `not connected to Asterisk: ${this.tracker.get().reason ?? 'connecting'}` };
    if (request.command.kind === 'hangup') return this.hangup(request);

    const subscribed = await this.subscriptions.subscribe(request.callRef, request.signal);
    if (!subscribed.ok) {
      if (subscribed.gone) return { kind: 'done', verdict: { success: false, outcome: 'failed', reason: subscribed.reason } };
      // Nothing of the transfer itself has been sent yet.
      if (subscribed.unreachable) return { kind: 'not_sent', reason: subscribed.reason };
      if (this.method === 'continue') return { kind: 'done', verdict: { success: false, outcome: 'failed', reason: subscribed.reason } };
      this.scope.log.warn({ event: 'ari_subscribe_refused', channel: request.callRef, reason: subscribed.reason }, "transferring without following the caller's channel");
    }
    if (request.command.mode === 'warm') return this.warm.start(request);
    switch (this.method) {
      case 'bridge':
        return this.bridge.start(request);
      case 'redirect':
        return this.dialplan.redirect(request);
      case 'continue':
        return this.dialplan.continueInDialplan(request);
    }
  }

  /** DELETE /channels/{id}: a channel Asterisk no longer has (404) is hung up already. */
  private async hangup(request: SendRequest): Promise<SendResult> {
    this.scope.sink.delivered(request.command.id);
    try {
      const answer = await this.ctx.rest.request('DELETE', `/channels/${segment(request.callRef)}`, {}, request.signal ? { signal: request.signal } : {});
      if (answer.status === 204 || answer.status === 404) return { kind: 'done', verdict: { success: true } };
      return { kind: 'done', verdict: { success: false, reason: restRefusal('hang up the caller', answer.status, answer.message) } };
    } catch (error) {
      return unreachedResult(error);
    }
  }

  private onEvent(event: AriEvent): void {
    switch (event.type) {
      case 'DeviceStateChanged':
        if (!this.presence?.onDeviceState(event.name, event.state)) this.ignored(event.type);
        return;
      case 'StasisStart':
      case 'ChannelStateChange':
      case 'Dial':
        if (!this.bridge.onEvent(event) && !this.warm.onEvent(event) && !this.dialplan.onEvent(event)) this.ignored(event.type);
        return;
      case 'ChannelDtmfReceived':
      case 'PlaybackFinished':
        if (!this.warm.onEvent(event)) this.ignored(event.type);
        return;
      case 'StasisEnd': {
        const id = event.channel.id;
        // A channel sent on with continue leaves Stasis by our doing; its Dial tells the rest.
        if (isOwnChannel(id) || this.dialplan.isContinuing(id) || this.leaving.has(id)) return;
        // A hang-up also ends Stasis, just before ChannelDestroyed gives its cause: wait a moment for that.
        const timer = setTimeout(() => {
          this.leaving.delete(id);
          this.scope.sink.callEnded(id, "the caller's channel left the Stasis application");
        }, STASIS_END_GRACE_MS);
        timer.unref();
        this.leaving.set(id, timer);
        return;
      }
      case 'ChannelDestroyed': {
        this.bridge.onEvent(event);
        this.warm.onEvent(event);
        const id = event.channel.id;
        if (isOwnChannel(id)) return;
        clearTimeout(this.leaving.get(id));
        this.leaving.delete(id);
        this.subscriptions.forget(id);
        this.callerGone(id, `the caller's channel hung up (${event.causeText ?? 'no cause given'}${event.cause === undefined ? '' : `, cause ${event.cause}`})`);
        return;
      }
      default:
        this.ignored(event.type === 'other' ? event.name : event.type);
    }
  }

  private callerGone(callRef: string, reason: string): void {
    const held = this.warm.holds(callRef);
    this.bridge.callerGone(callRef);
    this.dialplan.callerGone(callRef);
    this.scope.sink.callEnded(callRef, held ? WARM_REASONS.callEnded : reason);
    // After the end of the call: the tool waiting on the warm transfer then answers that the call ended.
    this.warm.callerGone(callRef);
  }

  private ignored(type: string): void {
    this.scope.log.debug({ event: 'ari_event_ignored', type }, 'ignored an ARI event');
  }

  /** After each (re)connect: follow the callers again, look up legs whose events were missed, read presence. */
  private resume(): void {
    const generation = ++this.generation;
    const current = (): boolean => generation === this.generation && this.socket.open;
    void (async () => {
      for (const gone of await this.subscriptions.renew()) this.callerGone(gone, "the caller's channel ended while the connection to Asterisk was down");
      if (!current()) return;
      await this.bridge.reconcile();
      if (this.presence && current()) await this.presence.sync(current);
    })().catch((error: unknown) => this.scope.log.warn({ event: 'ari_resume_failed', err: error instanceof Error ? error.message : String(error) }, 'could not resume ARI state after connecting'));
  }

  async stop(): Promise<void> {
    this.generation += 1;
    for (const timer of this.leaving.values()) clearTimeout(timer);
    this.leaving.clear();
    this.socket.stop();
    this.dialplan.stop();
    await Promise.all([this.bridge.stop(), this.warm.stop()]);
  }
}

export const ariDriver: DriverFactory<AriCallControl> = {
  name: 'ari',
  connection: 'persistent',
  keepsCaller: (settings) => (settings.transfer_method ?? 'bridge') === 'bridge',
  // A warm transfer originates the destination whatever transfer_method is: it needs the endpoint to dial.
  warm: (settings) => settings.endpoint_template !== undefined || 'a warm transfer dials the destination itself: set call_control.endpoint_template, e.g. PJSIP/{destination}@trunk',
  secretNames: (settings) => [settings.password],
  create: (scope) => {
    const method = scope.settings.transfer_method ?? 'bridge';
    if (method !== 'continue' && !scope.settings.endpoint_template) throw new Error(`call_control.endpoint_template is required with transfer_method ${method}`);
    return new AriDriver(scope);
  },
};
