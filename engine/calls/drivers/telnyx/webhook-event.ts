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
