/**
 * Telnyx Call Control webhooks as the driver reads them: `{"data":
 * {"event_type", "id", "occurred_at", "payload": {"call_control_id",
 * "client_state", "hangup_cause", "hangup_source", "sip_hangup_cause",
 * "from", "to", …}}}`. Only the fields the driver uses are kept, each
 * bounded, so a large or odd body cannot travel further than this module.
 *
 * Which command a transfer leg belongs to travels in the leg's client state:
 * the transfer sets `target_leg_client_state` (the new leg's state: Telnyx
 * puts it on every webhook of that leg) to base64 JSON naming the command.
 * The caller's own leg keeps whatever client state the voice bridge gave it.
 *
 * A warm transfer's leg (a dial of its own) carries more: the caller's leg,
 * where the transfer stands, and what the briefing is made of, so that any
 * node behind the load balancer can take the leg's next webhook (the one
 * that answers it need not be the one that dialed). Each command the driver
 * sends to that leg sets the state anew as the transfer moves on.
 */
export interface TelnyxEvent {
  /** The event's id (Telnyx may deliver one twice). */
  id: string | null;
  type: string;
  callControlId: string | null;
  clientState: string | null;
  hangupCause: string | null;
  hangupSource: string | null;
  sipHangupCause: string | null;
  to: string | null;
  /** call.gather.ended: the keys pressed; call.dtmf.received: the key. */
  digits: string | null;
  /** How a gather, speak or playback ended (valid, timeout, completed, call_hangup, …). */
  status: string | null;
}

const MAX_FIELD = 512;
const MAX_STATE = 4096;

function field(record: Record<string, unknown>, key: string, max = MAX_FIELD): string | null {
  const value = record[key];
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return typeof value === 'string' && value.length > 0 && value.length <= max ? value : null;
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** The event in a webhook body, or undefined when the body is not one. */
export function readEvent(body: Buffer): TelnyxEvent | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
  const data = isRecord(parsed) ? parsed.data : undefined;
  if (!isRecord(data)) return undefined;
  const type = field(data, 'event_type', 64);
  if (!type || !/^[a-z0-9_.]+$/.test(type)) return undefined;
  const payload = isRecord(data.payload) ? data.payload : {};
  return {
    id: field(data, 'id', 128),
    type,
    callControlId: field(payload, 'call_control_id', 256),
    clientState: field(payload, 'client_state', MAX_STATE),
    hangupCause: field(payload, 'hangup_cause', 64),
    hangupSource: field(payload, 'hangup_source', 32),
    sipHangupCause: field(payload, 'sip_hangup_cause', 16),
    to: field(payload, 'to', 256),
    digits: field(payload, type === 'call.dtmf.received' ? 'digit' : 'digits', 128),
    status: field(payload, 'status', 32),
  };
}

/** The client state a transfer leg carries: base64 of {"switchboard_command": <id>}. */
export function commandState(commandId: number): string {
  return Buffer.from(JSON.stringify({ switchboard_command: commandId }), 'utf8').toString('base64');
}

/** The command a leg's client state names, if it is one of ours. */
export function commandOfState(state: string | null): number | undefined {
  if (!state || !/^[A-Za-z0-9+/]+={0,2}$/.test(state)) return undefined;
  try {
    const parsed = JSON.parse(Buffer.from(state, 'base64').toString('utf8')) as unknown;
    const id = isRecord(parsed) ? parsed.switchboard_command : undefined;
    return typeof id === 'number' && Number.isSafeInteger(id) && id > 0 ? id : undefined;
  } catch {
    return undefined;
  }
}

/** Where a warm transfer stands, as its leg's client state says. */
export type WarmPhase = 'dialing' | 'briefing' | 'done';

/** The client state of a warm transfer's leg. */
export interface WarmLegState {
  command: number;
  /** The caller's leg (call_control_id), to hold, bridge and bring back. */
  callerLeg: string;
  phase: WarmPhase;
  /** What the briefing is made of: the model's summary and the values a briefing URL is filled with. */
  summary: string;
  callId: string;
  callerNumber: string | null;
  destination: string;
}

const PHASES: readonly WarmPhase[] = ['dialing', 'briefing', 'done'];

export function warmState(state: WarmLegState): string {
  const warm = { caller_leg: state.callerLeg, phase: state.phase, summary: state.summary, call_id: state.callId, caller: state.callerNumber, destination: state.destination };
  return Buffer.from(JSON.stringify({ switchboard_command: state.command, warm }), 'utf8').toString('base64');
}

/** The warm transfer a leg's client state describes, if it is one of ours. */
export function warmOfState(state: string | null): WarmLegState | undefined {
  const command = commandOfState(state);
  if (command === undefined) return undefined;
  const parsed = JSON.parse(Buffer.from(state as string, 'base64').toString('utf8')) as { warm?: unknown };
  const warm = parsed.warm;
  if (!isRecord(warm)) return undefined;
  const text = (value: unknown, max: number): string | undefined => (typeof value === 'string' && value.length <= max ? value : undefined);
  const callerLeg = text(warm.caller_leg, 256);
  const phase = PHASES.find((candidate) => candidate === warm.phase);
  const summary = text(warm.summary, 1000);
  const callId = text(warm.call_id, 256);
  const destination = text(warm.destination, 256);
  if (!callerLeg || !phase || summary === undefined || !callId || !destination) return undefined;
  return { command, callerLeg, phase, summary, callId, callerNumber: text(warm.caller, 64) ?? null, destination };
}
