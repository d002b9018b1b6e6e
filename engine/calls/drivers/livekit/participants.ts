/**
 * Which LiveKit participant is the caller. LiveKit has no call id of its
 * own in the server API: a SIP call is a participant (kind SIP) in a room,
 * and TransferSIPParticipant and RemoveParticipant name it by room and
 * identity. So the call reference is "<room>/<participant identity>"; a
 * reference without "/" is a room name, and the room's one SIP participant
 * is the caller (ListParticipants). Pure, so the rules are unit-tested.
 *
 * The split is at the first "/": room names from LiveKit's dispatch rules
 * have none, and an identity may (nothing in LiveKit forbids it).
 */

export interface CallRef {
  room: string;
  /** The caller's participant identity; undefined when only the room was given. */
  identity: string | undefined;
}

/** LiveKit's own limits are 256 characters for room names and identities; a longer reference cannot be one. */
const MAX_PART = 256;

export function parseCallRef(ref: string): CallRef | { problem: string } {
  const slash = ref.indexOf('/');
  const room = slash < 0 ? ref : ref.slice(0, slash);
  const identity = slash < 0 ? undefined : ref.slice(slash + 1);
  if (!room) return { problem: `the call id "${ref.slice(0, 80)}" names no LiveKit room (expected <room>/<participant identity>)` };
  if (identity === '') return { problem: `the call id "${ref.slice(0, 80)}" names no participant after the "/" (expected <room>/<participant identity>)` };
  if (room.length > MAX_PART || (identity?.length ?? 0) > MAX_PART) return { problem: 'the call id is too long to name a LiveKit room and participant' };
  return { room, identity };
}

const isSip = (kind: unknown): boolean => kind === 'SIP' || kind === 3;
const isGone = (state: unknown): boolean => state === 'DISCONNECTED' || state === 3;

/**
 * The identity of the room's one SIP participant, from ListParticipants'
 * answer; `none` and `several` say why there is not exactly one.
 */
export function pickSipParticipant(body: unknown): { identity: string } | { none: true } | { several: number } {
  const list = body && typeof body === 'object' ? (body as { participants?: unknown }).participants : undefined;
  const participants = Array.isArray(list) ? (list as unknown[]) : [];
  const sip = participants.filter((entry): entry is { identity: string } => {
    if (!entry || typeof entry !== 'object') return false;
    const participant = entry as Record<string, unknown>;
    return isSip(participant.kind) && !isGone(participant.state) && typeof participant.identity === 'string' && participant.identity !== '';
  });
  if (sip.length === 0) return { none: true };
  if (sip.length > 1) return { several: sip.length };
  return { identity: (sip[0] as { identity: string }).identity };
}
