/**
 * How calls, commands and events look outside the process: the JSON of the
 * admin API and the command payload the PBX receives (the same object on the
 * SSE stream and in the webhook body). snake_case, ISO 8601 times, nulls
 * rather than missing keys, so a PBX integration can rely on every field.
 * docs/pbx-integration.md documents these shapes field by field.
 */
import type { CallControlSettings } from '../manifests/types.ts';
import { maskKnownSecrets } from '../secrets.ts';
import type { CallEvent, CallRecord, CommandRecord } from './types.ts';
import { summaryHeaderValue, warmSettingsOf } from './warm.ts';

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export function callView(call: CallRecord) {
  return {
    account_id: call.accountId,
    call_id: call.callId,
    persona_id: call.personaId,
    caller_id_number: call.caller,
    source: call.source,
    pbx_call_ref: call.pbxCallRef,
    state: call.state,
    transferred_to: call.transferredTo,
    end_reason: call.endReason,
    hangup_at: iso(call.hangupAt),
    created_at: iso(call.createdAt),
    updated_at: iso(call.updatedAt),
    ended_at: iso(call.endedAt),
  };
}

/** A warm command's settings (the account's call_control.warm with defaults), as the PBX integration reads them. */
function warmView(command: CommandRecord, settings: CallControlSettings | undefined) {
  if (command.mode !== 'warm') return null;
  const warm = warmSettingsOf(settings);
  return {
    accept: warm.accept,
    accept_timeout_seconds: warm.acceptTimeoutSeconds,
    briefing: warm.briefing,
    briefing_url: warm.briefingUrl,
    voice: warm.voice,
    language: warm.language,
    music_on_hold: warm.musicOnHold,
  };
}

/** The command as the PBX receives it; `settings` are the account's call_control, for a warm command's settings. */
export function commandPayload(command: CommandRecord, settings?: CallControlSettings) {
  return {
    id: command.id,
    type: command.kind,
    account_id: command.accountId,
    call_id: command.callId,
    persona_id: command.personaId,
    destination: command.destination,
    destination_type: command.destinationType,
    target: command.target,
    /** How long a transfer may ring before it counts as not answered (null for hang-ups). */
    ring_timeout_seconds: command.ringTimeoutMs === null ? null : command.ringTimeoutMs / 1000,
    /** blind or warm (null for hang-ups). */
    mode: command.mode,
    /** What the caller wants, in the model's words (required for warm, optional for blind), and the same as a SIP header may carry it. */
    summary: command.summary,
    summary_header: command.summary === null ? null : summaryHeaderValue(command.summary),
    warm: warmView(command, settings),
    idempotency_key: command.idempotencyKey,
    created_at: iso(command.createdAt),
  };
}

/** The command with what became of it, for the admin API (`settings`: the account's call_control now). */
export function commandView(command: CommandRecord, settings?: CallControlSettings) {
  return {
    ...commandPayload(command, settings),
    driver: command.driver,
    status: command.status,
    outcome: command.outcome,
    reason: command.reason,
    attempts: command.attempts,
    delivered_at: iso(command.deliveredAt),
    settled_at: iso(command.settledAt),
  };
}

export function eventView(event: CallEvent) {
  return { id: event.id, at: iso(event.at), type: event.type, command_id: event.commandId, detail: event.detail };
}

/**
 * A reason given by the PBX, made safe to store and to read to a model: no
 * secret value (masked first, on the text as the phone system sent it, since
 * the cut below would leave part of one), one line, no control characters,
 * bounded.
 */
export function cleanReason(raw: unknown, fallback: string): string {
  if (typeof raw !== 'string') return fallback;
  const text = [...maskKnownSecrets(raw)]
    .map((char) => (char.charCodeAt(0) < 0x20 || char.charCodeAt(0) === 0x7f ? ' ' : char))
    .join('')
    .replace(/\s+/g, ' ')
    .trim();
  return text ? text.slice(0, 200) : fallback;
}
