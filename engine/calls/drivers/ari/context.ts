/**
 * What the parts of the ARI driver share (the REST client, the sink, the
 * settings) and the few steps every transfer method takes the same way:
 * reading an unreachable Asterisk as a send result, hanging a channel up
 * without caring whether it is still there, and the names that mark the
 * channels and bridges this driver made.
 */
import { randomBytes } from 'node:crypto';

import type { Logger } from '../../../logging.ts';
import type { AriCallControl } from '../../../manifests/types.ts';
import type { DriverSink, SendResult } from '../driver.ts';
import { AriUnreachable, segment, type AriRest } from './rest.ts';

export interface AriContext {
  rest: AriRest;
  sink: DriverSink;
  log: Logger;
  settings: AriCallControl;
}

/** The prefix of every channel and bridge id this driver assigns: such a channel is never "the caller". */
export const OWN_PREFIX = 'switchboard-';

export const ownId = (kind: 'leg' | 'bridge' | 'hold' | 'playback', commandId: number): string => `${OWN_PREFIX}${kind}-${commandId}-${randomBytes(4).toString('hex')}`;

export const isOwnChannel = (id: string): boolean => id.startsWith(OWN_PREFIX);

/** A request that got no answer, as what the command's sender is told. */
export function unreachedResult(error: unknown): SendResult {
  if (!(error instanceof AriUnreachable)) throw error;
  return error.reached ? { kind: 'unanswered', reason: error.reason } : { kind: 'not_sent', reason: error.reason };
}

/** DELETE /channels/{id}, for cleaning up: a channel already gone (404) is what was wanted. */
export async function hangUpQuietly(ctx: AriContext, channelId: string): Promise<void> {
  try {
    const answer = await ctx.rest.request('DELETE', `/channels/${segment(channelId)}`);
    if (answer.status !== 204 && answer.status !== 404) ctx.log.warn({ event: 'ari_hangup_refused', channel: channelId, status: answer.status }, 'Asterisk did not hang up a channel of a transfer');
  } catch (error) {
    ctx.log.warn({ event: 'ari_hangup_failed', channel: channelId, err: error instanceof Error ? error.message : String(error) }, 'could not hang up a channel of a transfer');
  }
}

/** DELETE /bridges/{id}, for cleaning up. */
export async function destroyBridgeQuietly(ctx: AriContext, bridgeId: string): Promise<void> {
  try {
    await ctx.rest.request('DELETE', `/bridges/${segment(bridgeId)}`);
  } catch (error) {
    ctx.log.debug({ event: 'ari_bridge_destroy_failed', bridge: bridgeId, err: error instanceof Error ? error.message : String(error) }, 'could not destroy a transfer bridge');
  }
}
