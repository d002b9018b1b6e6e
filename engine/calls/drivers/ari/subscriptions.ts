/**
 * The driver's subscriptions to callers' channels
 * (POST /applications/{app}/subscription?eventSource=channel:{id}).
 *
 * A Stasis application gets the events of the channels that are in it; the
 * caller's channel is usually in the voice bridge's own application, and a
 * channel sent on with continue is in none. Subscribing is what brings its
 * events here: its end (so the call ends), and the Dial it takes part in
 * (so a dialplan transfer has a verdict). Subscribing twice is harmless to
 * Asterisk; the set is renewed after a reconnect, in case Asterisk dropped
 * the application meanwhile, and forgets a channel once it is destroyed.
 */
import { restRefusal } from './outcomes.ts';
import { AriUnreachable, segment, type AriRest } from './rest.ts';
import type { Logger } from '../../../logging.ts';

export type Subscribed = { ok: true } | { ok: false; gone: boolean; reason: string; unreachable?: AriUnreachable };

/** Channels followed at most; the oldest is forgotten first (its end would then go unnoticed, nothing worse). */
const MAX_CHANNELS = 2000;

export class ChannelSubscriptions {
  private readonly channels = new Set<string>();

  constructor(
    private readonly rest: AriRest,
    private readonly app: string,
    private readonly log: Logger,
  ) {}

  private path(): string {
    return `/applications/${segment(this.app)}/subscription`;
  }

  async subscribe(channelId: string, signal?: AbortSignal): Promise<Subscribed> {
    let answer;
    try {
      answer = await this.rest.request('POST', this.path(), { eventSource: `channel:${channelId}` }, signal ? { signal } : {});
    } catch (error) {
      if (!(error instanceof AriUnreachable)) throw error;
      return { ok: false, gone: false, reason: error.reason, unreachable: error };
    }
    if (answer.status === 200) {
      this.channels.delete(channelId);
      this.channels.add(channelId);
      while (this.channels.size > MAX_CHANNELS) this.channels.delete(this.channels.values().next().value as string);
      return { ok: true };
    }
    if (answer.status === 422) return { ok: false, gone: true, reason: `Asterisk has no channel ${channelId} (the call may have ended, or call_id is not the caller's channel id)` };
    return { ok: false, gone: false, reason: restRefusal(`follow the caller's channel ${channelId}`, answer.status, answer.message) };
  }

  /** Stops following a channel that is still there. */
  unsubscribe(channelId: string): void {
    if (!this.channels.delete(channelId)) return;
    this.rest.request('DELETE', this.path(), { eventSource: `channel:${channelId}` }).then(
      (answer) => {
        if (answer.status !== 200 && answer.status !== 409 && answer.status !== 422) this.log.debug({ event: 'ari_unsubscribe_refused', channel: channelId, status: answer.status }, 'Asterisk refused to drop a channel subscription');
      },
      (error: unknown) => this.log.debug({ event: 'ari_unsubscribe_failed', channel: channelId, err: error instanceof Error ? error.message : String(error) }, 'could not drop a channel subscription'),
    );
  }

  /** The channel is gone: Asterisk dropped its subscription itself. */
  forget(channelId: string): boolean {
    return this.channels.delete(channelId);
  }

  /** Subscribes again to every followed channel; one that no longer exists is forgotten. */
  async renew(): Promise<string[]> {
    const gone: string[] = [];
    for (const channelId of [...this.channels]) {
      const result = await this.subscribe(channelId);
      if (!result.ok && result.gone) {
        this.channels.delete(channelId);
        gone.push(channelId);
      }
    }
    return gone;
  }
}
