/**
 * The ARI events this driver reads, as the data models of Asterisk's
 * rest-api/api-docs/events.json define them, and a reader that turns one
 * WebSocket text frame into one of them or nothing. Only the fields the
 * driver uses are kept, each checked for its type and bounded in length:
 * what comes off the network is not trusted to have the documented shape.
 */

export interface AriChannel {
  id: string;
  name: string;
  /** Down, Ringing, Up, Busy, ... */
  state: string;
}

export type AriEvent =
  | { type: 'StasisStart'; channel: AriChannel; args: string[] }
  | { type: 'StasisEnd'; channel: AriChannel }
  | { type: 'ChannelDestroyed'; channel: AriChannel; cause: number | undefined; causeText: string | undefined }
  | { type: 'ChannelStateChange'; channel: AriChannel }
  | { type: 'Dial'; peer: AriChannel; caller: AriChannel | undefined; dialstatus: string }
  | { type: 'DeviceStateChanged'; name: string; state: string }
  | { type: 'ChannelDtmfReceived'; channel: AriChannel; digit: string }
  /** A playback ended: state done, or failed (media that could not be read). */
  | { type: 'PlaybackFinished'; playbackId: string; state: string }
  | { type: 'ApplicationReplaced' }
  | { type: 'other'; name: string };

const MAX_ID = 256;
const MAX_ARGS = 16;

const text = (value: unknown, max = MAX_ID): string | undefined => (typeof value === 'string' && value.length <= max ? value : undefined);

function channel(value: unknown): AriChannel | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  const raw = value as Record<string, unknown>;
  const id = text(raw.id);
  if (!id) return undefined;
  return { id, name: text(raw.name) ?? '', state: text(raw.state, 32) ?? '' };
}

/** One event from a WebSocket frame; undefined when it is not JSON or lacks what its type needs. */
export function readEvent(frame: string): AriEvent | undefined {
  let raw: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(frame);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return undefined;
    raw = parsed as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const type = text(raw.type, 64);
  if (!type) return undefined;
  switch (type) {
    case 'StasisStart': {
      const ch = channel(raw.channel);
      const args = Array.isArray(raw.args) ? raw.args.slice(0, MAX_ARGS).map((arg) => text(arg) ?? '') : [];
      return ch ? { type, channel: ch, args } : undefined;
    }
    case 'StasisEnd':
    case 'ChannelStateChange': {
      const ch = channel(raw.channel);
      return ch ? { type, channel: ch } : undefined;
    }
    case 'ChannelDestroyed': {
      const ch = channel(raw.channel);
      const cause = typeof raw.cause === 'number' && Number.isInteger(raw.cause) ? raw.cause : undefined;
      return ch ? { type, channel: ch, cause, causeText: text(raw.cause_txt, 200) } : undefined;
    }
    case 'Dial': {
      const peer = channel(raw.peer);
      const dialstatus = text(raw.dialstatus, 32);
      return peer && dialstatus !== undefined ? { type, peer, caller: channel(raw.caller), dialstatus } : undefined;
    }
    case 'DeviceStateChanged': {
      const state = raw.device_state as Record<string, unknown> | null | undefined;
      const name = text(state?.name);
      const value = text(state?.state, 32);
      return name && value ? { type, name, state: value } : undefined;
    }
    case 'ChannelDtmfReceived': {
      const ch = channel(raw.channel);
      const digit = text(raw.digit, 1);
      return ch && digit ? { type, channel: ch, digit } : undefined;
    }
    case 'PlaybackFinished': {
      const playback = raw.playback as Record<string, unknown> | null | undefined;
      const playbackId = text(playback?.id);
      return playbackId ? { type, playbackId, state: text(playback?.state, 32) ?? '' } : undefined;
    }
    case 'ApplicationReplaced':
      return { type };
    default:
      return { type: 'other', name: type };
  }
}
