/**
 * The telephony half of the fake Asterisk (fake-asterisk.ts has the HTTP,
 * auth and WebSocket half): channels, Stasis membership, subscriptions,
 * mixing and holding bridges (music on hold, removeChannel, the bridge
 * list), originate (with the channel variables of its JSON body), redirect,
 * continue and the dialplan's Dial, playbacks on a channel and the DTMF a
 * channel sends, with the events ARI documents for each (StasisStart/
 * StasisEnd, ChannelStateChange, Dial with dialstatus, ChannelEnteredBridge
 * / ChannelLeftBridge, PlaybackStarted / PlaybackFinished,
 * ChannelDtmfReceived, ChannelDestroyed with cause and cause_txt as
 * ast_cause2str words them). Answers are ARI's own status codes and
 * messages for the same mistakes.
 *
 * A dialed endpoint can play the person who answers a warm transfer: it
 * presses a key after (or during) the briefing, hangs up during or after
 * it, or stays silent.
 */

export interface FakeChannel {
  id: string;
  name: string;
  state: string;
  caller: { name: string; number: string };
  /** The Stasis application the channel is in, or null when it is not in Stasis. */
  app: string | null;
  /** Applications subscribed to it (explicitly, or by originating it). */
  subscribers: Set<string>;
  bridge: string | null;
  dialplan: { context: string; exten: string; priority: number };
}

/** What the person who answered does with a briefing played to them (a warm transfer). */
export interface TargetScript {
  /** A key pressed once the briefing has played. */
  pressAfterBriefing?: string;
  /** A key pressed halfway through the briefing. */
  pressDuringBriefing?: string;
  /** Hangs up halfway through the briefing. */
  hangUpDuringBriefing?: true;
  /** Hangs up once the briefing has played. */
  hangUpAfterBriefing?: true;
}

/** How a dialed endpoint behaves. */
export type LegScript = { answerAfterMs: number; target?: TargetScript } | { hangupAfterMs: number; cause: number } | { ring: true };
/** What the dialplan does at a context/extension reached with continue. */
export type DialScript = { dialstatus: string; afterMs: number } | { noDial: true };

export interface Originated {
  endpoint: string;
  app?: string;
  appArgs?: string;
  callerId?: string;
  timeout: number;
  channelId: string;
  /** The channel variables of the originate's JSON body. */
  variables?: Record<string, string>;
}

export interface FakeBridge {
  id: string;
  name: string;
  type: 'mixing' | 'holding';
  channels: Set<string>;
  /** The music-on-hold class playing to the bridge, or null. */
  moh: string | null;
}

export interface FakePlayback {
  id: string;
  channel: string;
  media: string;
  state: 'playing' | 'done' | 'failed';
}

const CAUSE_TEXT: Record<number, string> = { 16: 'Normal Clearing', 17: 'User busy', 18: 'No user responding', 19: 'User alerting, no answer', 21: 'Call Rejected', 34: 'Circuit/channel congestion' };
const REASON_CAUSE: Record<string, number> = { normal: 16, busy: 17, congestion: 34, no_answer: 19, timeout: 19, rejected: 21, unallocated: 1, normal_unspecified: 31, number_incomplete: 28, codec_mismatch: 58, interworking: 127, failure: 38, answered_elsewhere: 26 };
const BRIDGE_TYPES = new Set(['mixing', 'holding', 'dtmf_events', 'proxy_media', 'video_sfu', 'video_single', 'sdp_label']);

type Answer = { status: number; body?: unknown };
const error = (status: number, message: string): Answer => ({ status, body: { message } });

export abstract class FakeAriCalls {
  readonly channels = new Map<string, FakeChannel>();
  readonly bridges = new Map<string, FakeBridge>();
  readonly playbacks: FakePlayback[] = [];
  /** Music-on-hold changes of bridges, in order: a class started (or "default"), or null when stopped. */
  readonly moh: { bridge: string; mohClass: string | null }[] = [];
  /** Keys sent as ChannelDtmfReceived, in order. */
  readonly dtmf: { channel: string; digit: string }[] = [];
  /** How long a playback lasts before PlaybackFinished. */
  playbackMs = 60;
  /** Media that Asterisk cannot play (PlaybackFinished with state failed). */
  unplayable: (media: string) => boolean = () => false;
  readonly originated: Originated[] = [];
  readonly redirects: { channel: string; endpoint: string }[] = [];
  readonly continued: { channel: string; context: string; extension: string; priority: number }[] = [];
  /** Channels hung up through DELETE /channels/{id}. */
  readonly hungUp: string[] = [];
  /** Channels destroyed, with their cause. */
  readonly destroyed: { id: string; cause: number }[] = [];
  legScript: (endpoint: string) => LegScript = () => ({ ring: true });
  dialScript: (context: string, extension: string) => DialScript = () => ({ noDial: true });
  private readonly timers = new Set<NodeJS.Timeout>();
  /** What the person on each answered leg does with a briefing. */
  private readonly targets = new Map<string, TargetScript>();
  private sequence = 0x10;

  protected abstract emit(app: string, event: Record<string, unknown>): void;

  protected stopTimers(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  private later(ms: number, work: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      work();
    }, ms);
    this.timers.add(timer);
  }

  /** The caller's channel, already in a Stasis application (the voice bridge's). */
  addCaller(id: string, app: string, number = '+12125550199', tech = 'PJSIP'): FakeChannel {
    const channel = this.newChannel(id, `${tech}/trunk-${(this.sequence++).toString(16).padStart(8, '0')}`, { name: '', number });
    channel.state = 'Up';
    channel.app = app;
    return channel;
  }

  /**
   * A caller as a voice bridge holds it: in its Stasis application and in a
   * mixing bridge of its own with the agent's media channel.
   */
  addCallerWithAgent(id: string, app: string, number = '+12125550199'): { caller: FakeChannel; agent: FakeChannel; bridge: FakeBridge } {
    const caller = this.addCaller(id, app, number);
    const agent = this.newChannel(`${id}-agent`, `UnicastRTP/127.0.0.1:4000-${(this.sequence++).toString(16).padStart(8, '0')}`, { name: '', number: '' });
    agent.state = 'Up';
    agent.app = app;
    const bridge: FakeBridge = { id: `${app}-bridge-${id}`, name: `${app} call`, type: 'mixing', channels: new Set([caller.id, agent.id]), moh: null };
    this.bridges.set(bridge.id, bridge);
    caller.bridge = bridge.id;
    agent.bridge = bridge.id;
    return { caller, agent, bridge };
  }

  /** The bridge a channel is in, if any. */
  bridgeOf(channelId: string): FakeBridge | undefined {
    const id = this.channels.get(channelId)?.bridge;
    return id ? this.bridges.get(id) : undefined;
  }

  /** A channel sends a DTMF key (ChannelDtmfReceived to its application and subscribers). */
  press(channelId: string, digit: string): void {
    const channel = this.channels.get(channelId);
    if (!channel) return;
    this.dtmf.push({ channel: channelId, digit });
    this.channelEvent(channel, { type: 'ChannelDtmfReceived', digit, duration_ms: 120, channel: this.json(channel) });
  }

  /** The far end hangs a channel up. */
  hangUp(id: string, cause = 16): void {
    const channel = this.channels.get(id);
    if (channel) this.destroy(channel, cause);
  }

  private newChannel(id: string, name: string, caller: FakeChannel['caller']): FakeChannel {
    const channel: FakeChannel = { id, name, state: 'Down', caller, app: null, subscribers: new Set(), bridge: null, dialplan: { context: 'default', exten: 's', priority: 1 } };
    this.channels.set(id, channel);
    return channel;
  }

  protected json(channel: FakeChannel): Record<string, unknown> {
    return {
      id: channel.id,
      name: channel.name,
      state: channel.state,
      protocol_id: '',
      caller: channel.caller,
      connected: { name: '', number: '' },
      accountcode: '',
      dialplan: { ...channel.dialplan, app_name: channel.app ? 'Stasis' : '', app_data: channel.app ?? '' },
      creationtime: new Date().toISOString().replace('Z', '+0000'),
      language: 'en',
    };
  }

  /** To the application the channel is in and every application subscribed to it. */
  private channelEvent(channel: FakeChannel, event: Record<string, unknown>, extraApps: (string | null)[] = []): void {
    const apps = new Set([channel.app, ...channel.subscribers, ...extraApps].filter((app): app is string => app !== null));
    for (const app of apps) this.emit(app, event);
  }

  private setState(channel: FakeChannel, state: string): void {
    channel.state = state;
    this.channelEvent(channel, { type: 'ChannelStateChange', channel: this.json(channel) });
  }

  private leaveBridge(channel: FakeChannel): void {
    const bridge = channel.bridge ? this.bridges.get(channel.bridge) : undefined;
    channel.bridge = null;
    if (!bridge) return;
    bridge.channels.delete(channel.id);
    this.channelEvent(channel, { type: 'ChannelLeftBridge', bridge: { id: bridge.id, channels: [...bridge.channels] }, channel: this.json(channel) });
  }

  private destroy(channel: FakeChannel, cause: number): void {
    if (!this.channels.has(channel.id)) return;
    this.leaveBridge(channel);
    const app = channel.app;
    if (app) {
      this.channelEvent(channel, { type: 'StasisEnd', channel: this.json(channel) });
      channel.app = null;
    }
    this.channels.delete(channel.id);
    this.destroyed.push({ id: channel.id, cause });
    this.channelEvent(channel, { type: 'ChannelDestroyed', cause, cause_txt: CAUSE_TEXT[cause] ?? 'Unknown', channel: this.json(channel) }, [app]);
  }

  protected originate(q: URLSearchParams, body: Record<string, unknown> = {}): Answer {
    const endpoint = q.get('endpoint');
    const channelId = q.get('channelId') ?? `${Math.floor(Date.now() / 1000)}.${this.sequence++}`;
    if (channelId.length > 149) return error(400, 'Uniqueid length exceeds maximum of 149');
    if (!endpoint) return error(400, 'Endpoint must be specified');
    const slash = endpoint.indexOf('/');
    if (slash <= 0 || slash === endpoint.length - 1) return error(400, 'Invalid endpoint specified');
    const app = q.get('app') ?? undefined;
    if (!app && !q.get('extension')) return error(400, 'Application or extension must be specified');
    if (this.channels.has(channelId)) return error(409, 'Channel with given unique ID already exists');
    const timeout = Number(q.get('timeout') ?? 30);
    const raw = body.variables;
    if (raw !== undefined && (raw === null || typeof raw !== 'object' || Object.values(raw).some((value) => typeof value !== 'string'))) return error(400, 'Invalid parameters for originating a channel.');
    const variables = raw as Record<string, string> | undefined;
    this.originated.push({
      endpoint,
      ...(app ? { app } : {}),
      ...(q.get('appArgs') ? { appArgs: q.get('appArgs') as string } : {}),
      ...(q.get('callerId') ? { callerId: q.get('callerId') as string } : {}),
      timeout,
      channelId,
      ...(variables ? { variables } : {}),
    });
    const resource = endpoint.slice(slash + 1);
    const leg = this.newChannel(channelId, `${endpoint.slice(0, slash)}/${resource.split('@').pop()}-${(this.sequence++).toString(16).padStart(8, '0')}`, { name: '', number: resource.split('@')[0] ?? '' });
    if (app) leg.subscribers.add(app);
    const script = this.legScript(endpoint);
    if ('answerAfterMs' in script && script.target) this.targets.set(channelId, script.target);
    this.later(5, () => {
      if (!this.channels.has(leg.id)) return;
      this.channelEvent(leg, { type: 'Dial', peer: this.json(leg), dialstring: resource, dialstatus: '' });
      this.setState(leg, 'Ringing');
      this.channelEvent(leg, { type: 'Dial', peer: this.json(leg), dialstring: resource, dialstatus: 'RINGING' });
    });
    if ('answerAfterMs' in script) {
      this.later(script.answerAfterMs, () => {
        if (!this.channels.has(leg.id)) return;
        this.setState(leg, 'Up');
        this.channelEvent(leg, { type: 'Dial', peer: this.json(leg), dialstring: resource, dialstatus: 'ANSWER' });
        if (!app) return;
        leg.app = app;
        this.channelEvent(leg, { type: 'StasisStart', args: (q.get('appArgs') ?? '').split(',').filter(Boolean), channel: this.json(leg) });
      });
    } else if ('hangupAfterMs' in script) {
      this.later(script.hangupAfterMs, () => this.destroy(leg, script.cause));
    }
    if (timeout > 0) this.later(timeout * 1000, () => leg.state !== 'Up' && this.destroy(leg, 19));
    return { status: 200, body: this.json(leg) };
  }

  protected getChannel(id: string): Answer {
    const channel = this.channels.get(id);
    return channel ? { status: 200, body: this.json(channel) } : error(404, 'Channel not found');
  }

  protected hangupRequest(id: string, reason: string | null): Answer {
    const channel = this.channels.get(id);
    if (!channel) return error(404, 'Channel not found');
    if (reason !== null && REASON_CAUSE[reason] === undefined) return error(400, 'Invalid reason for hangup reason provided');
    this.hungUp.push(id);
    this.later(1, () => this.destroy(channel, REASON_CAUSE[reason ?? 'normal'] ?? 16));
    return { status: 204 };
  }

  protected redirect(id: string, endpoint: string | null): Answer {
    const channel = this.channels.get(id);
    if (!channel) return error(404, 'Channel not found');
    if (!channel.app) return error(409, 'Channel not in Stasis application');
    if (!endpoint) return error(400, "Required parameter 'endpoint' not provided.");
    const slash = endpoint.indexOf('/');
    if (slash <= 0) return error(422, `Endpoint parameter '${endpoint}' does not contain tech/resource`);
    if (slash === endpoint.length - 1) return error(422, `No resource provided in endpoint parameter '${endpoint}'`);
    const tech = channel.name.slice(0, channel.name.indexOf('/'));
    if (endpoint.slice(0, slash).toLowerCase() !== tech.toLowerCase()) return error(422, `Endpoint technology '${endpoint.slice(0, slash)}' does not match channel technology '${tech}'`);
    this.redirects.push({ channel: id, endpoint });
    // The far end accepts the REFER and ends its dialog with Asterisk.
    this.later(20, () => this.destroy(channel, 16));
    return { status: 204 };
  }

  protected continueInDialplan(id: string, q: URLSearchParams): Answer {
    const channel = this.channels.get(id);
    if (!channel) return error(404, 'Channel not found');
    if (!channel.app) return error(409, 'Channel not in Stasis application');
    const context = q.get('context') ?? channel.dialplan.context;
    const extension = q.get('extension') ?? channel.dialplan.exten;
    const priority = Number(q.get('priority') ?? 1);
    this.continued.push({ channel: id, context, extension, priority });
    this.later(1, () => {
      this.leaveBridge(channel);
      this.channelEvent(channel, { type: 'StasisEnd', channel: this.json(channel) });
      channel.app = null;
      channel.dialplan = { context, exten: extension, priority };
      const script = this.dialScript(context, extension);
      if ('noDial' in script) return;
      const peer = this.newChannel(`${id}-peer`, `PJSIP/${extension}-${(this.sequence++).toString(16).padStart(8, '0')}`, { name: '', number: extension });
      const dial = (dialstatus: string) => this.channelEvent(channel, { type: 'Dial', caller: this.json(channel), peer: this.json(peer), dialstring: extension, dialstatus });
      dial('');
      dial('RINGING');
      this.later(script.afterMs, () => {
        dial(script.dialstatus);
        if (script.dialstatus !== 'ANSWER') this.channels.delete(peer.id);
      });
    });
    return { status: 204 };
  }

  protected createBridge(q: URLSearchParams): Answer {
    const types = (q.get('type') ?? 'mixing').split(',');
    if (types.some((type) => !BRIDGE_TYPES.has(type))) return error(400, 'Invalid bridge type');
    const id = q.get('bridgeId') ?? `bridge-${this.sequence++}`;
    if (this.bridges.has(id)) return error(409, 'Bridge with the same bridgeId already exists');
    const bridge: FakeBridge = { id, name: q.get('name') ?? '', type: types.includes('holding') ? 'holding' : 'mixing', channels: new Set<string>(), moh: null };
    this.bridges.set(id, bridge);
    return { status: 200, body: { id, technology: 'simple_bridge', bridge_type: types.includes('holding') ? 'holding' : 'mixing', bridge_class: 'stasis', creator: 'Stasis', name: bridge.name, channels: [], creationtime: new Date().toISOString() } };
  }

  protected listBridges(): Answer {
    return {
      status: 200,
      body: [...this.bridges.values()].map((bridge) => ({ id: bridge.id, technology: bridge.type === 'holding' ? 'holding_bridge' : 'simple_bridge', bridge_type: bridge.type, bridge_class: 'stasis', creator: 'Stasis', name: bridge.name, channels: [...bridge.channels], creationtime: new Date().toISOString() })),
    };
  }

  protected startBridgeMoh(id: string, mohClass: string | null): Answer {
    const bridge = this.bridges.get(id);
    if (!bridge) return error(404, 'Bridge not found');
    bridge.moh = mohClass ?? 'default';
    this.moh.push({ bridge: id, mohClass: bridge.moh });
    return { status: 204 };
  }

  protected stopBridgeMoh(id: string): Answer {
    const bridge = this.bridges.get(id);
    if (!bridge) return error(404, 'Bridge not found');
    bridge.moh = null;
    this.moh.push({ bridge: id, mohClass: null });
    return { status: 204 };
  }

  protected removeChannel(bridgeId: string, channelId: string | null): Answer {
    const bridge = this.bridges.get(bridgeId);
    if (!bridge) return error(404, 'Bridge not found');
    if (!channelId) return error(400, 'Missing parameter channel');
    const channel = this.channels.get(channelId);
    if (!channel) return error(400, 'Channel not found');
    if (channel.bridge !== bridgeId) return error(422, 'Channel not in this bridge');
    this.leaveBridge(channel);
    return { status: 204 };
  }

  /** POST /channels/{id}/play: PlaybackStarted, then PlaybackFinished after playbackMs; the person on a scripted leg acts on it. */
  protected play(channelId: string, media: string | null, playbackId: string | null): Answer {
    const channel = this.channels.get(channelId);
    if (!channel) return error(404, 'Channel not found');
    if (!channel.app) return error(409, 'Channel not in a Stasis application');
    if (channel.state !== 'Up') return error(412, 'Channel in invalid state');
    if (!media) return error(400, "Required parameter 'media' not provided.");
    const playback: FakePlayback = { id: playbackId ?? `playback-${this.sequence++}`, channel: channelId, media, state: 'playing' };
    this.playbacks.push(playback);
    const view = () => ({ id: playback.id, media_uri: media, target_uri: `channel:${channelId}`, language: 'en', state: playback.state });
    this.channelEvent(channel, { type: 'PlaybackStarted', playback: view() });
    const target = this.targets.get(channelId);
    this.later(Math.floor(this.playbackMs / 2), () => {
      if (playback.state !== 'playing' || !this.channels.has(channelId)) return;
      if (target?.pressDuringBriefing) this.press(channelId, target.pressDuringBriefing);
      if (target?.hangUpDuringBriefing) this.hangUp(channelId, 16);
    });
    this.later(this.playbackMs, () => {
      if (playback.state !== 'playing' || !this.channels.has(channelId)) return;
      playback.state = this.unplayable(media) ? 'failed' : 'done';
      this.channelEvent(channel, { type: 'PlaybackFinished', playback: view() });
      this.later(20, () => {
        if (!this.channels.has(channelId)) return;
        if (target?.pressAfterBriefing) this.press(channelId, target.pressAfterBriefing);
        if (target?.hangUpAfterBriefing) this.hangUp(channelId, 16);
      });
    });
    return { status: 201, body: view() };
  }

  /** DELETE /playbacks/{id}: stops it (PlaybackFinished, state done). */
  protected stopPlayback(id: string): Answer {
    const playback = this.playbacks.find((candidate) => candidate.id === id && candidate.state === 'playing');
    if (!playback) return error(404, 'Playback not found');
    playback.state = 'done';
    const channel = this.channels.get(playback.channel);
    if (channel) this.channelEvent(channel, { type: 'PlaybackFinished', playback: { id, media_uri: playback.media, target_uri: `channel:${playback.channel}`, language: 'en', state: 'done' } });
    return { status: 204 };
  }

  protected destroyBridge(id: string): Answer {
    const bridge = this.bridges.get(id);
    if (!bridge) return error(404, 'Bridge not found');
    for (const channelId of bridge.channels) {
      const channel = this.channels.get(channelId);
      if (channel) this.leaveBridge(channel);
    }
    this.bridges.delete(id);
    return { status: 204 };
  }

  protected addChannels(bridgeId: string, channelParam: string | null): Answer {
    const bridge = this.bridges.get(bridgeId);
    if (!bridge) return error(404, 'Bridge not found');
    if (!channelParam) return error(400, 'Missing parameter channel');
    const channels = channelParam.split(',').map((id) => this.channels.get(id));
    if (channels.some((channel) => !channel)) return error(400, 'Channel not found');
    if (channels.some((channel) => !channel?.app)) return error(422, 'Channel not in Stasis application');
    for (const channel of channels as FakeChannel[]) {
      if (channel.bridge === bridgeId) continue;
      this.leaveBridge(channel);
      channel.bridge = bridgeId;
      bridge.channels.add(channel.id);
      this.channelEvent(channel, { type: 'ChannelEnteredBridge', bridge: { id: bridgeId, channels: [...bridge.channels] }, channel: this.json(channel) });
    }
    return { status: 204 };
  }
}
