/**
 * The vocabulary of call control: a call and its states, the commands sent
 * to the PBX about it, and what became of them. The store, the drivers, the
 * tools and the admin API all speak these types.
 *
 * States: active -> transferring -> transferred, active -> ending -> ended,
 * and any state -> ended when the PBX reports the call over. A failed
 * command returns the call to active; a command without an answer leaves it
 * where it is, because the PBX may still carry it out.
 */
import type { CallControlDriverName, CallControlSettings } from '../manifests/types.ts';

export type CallState = 'active' | 'transferring' | 'transferred' | 'ending' | 'ended';

export interface CallRecord {
  accountId: string;
  callId: string;
  personaId: string | null;
  caller: string | null;
  /** Who made the record: the PBX (POST /calls) or a tool's first use. */
  source: 'pbx' | 'tool';
  /** The phone system's id of the caller's leg, when the call_id is another one. */
  pbxCallRef: string | null;
  state: CallState;
  /** The destination of the confirmed transfer. */
  transferredTo: string | null;
  endReason: string | null;
  /** When a requested hang-up is due, until it is sent. */
  hangupAt: number | null;
  createdAt: number;
  updatedAt: number;
  endedAt: number | null;
}

export type CommandKind = 'transfer' | 'hangup';
export type CommandStatus = 'pending' | 'succeeded' | 'failed' | 'withdrawn';
export type DriverName = CallControlDriverName;

/**
 * What the phone system says became of a transfer. connected: the
 * destination answered and has the caller. handed_over: the call left for
 * the destination (SIP REFER, a dialplan transfer); whether anyone answered
 * is for the phone system to handle. busy, no_answer, rejected (declined),
 * failed: it did not happen.
 */
export type TransferOutcome = 'connected' | 'handed_over' | 'busy' | 'no_answer' | 'rejected' | 'failed';
export type SuccessOutcome = Extract<TransferOutcome, 'connected' | 'handed_over'>;
export type FailureOutcome = Exclude<TransferOutcome, SuccessOutcome>;
export const SUCCESS_OUTCOMES: readonly SuccessOutcome[] = ['connected', 'handed_over'];
export const FAILURE_OUTCOMES: readonly FailureOutcome[] = ['busy', 'no_answer', 'rejected', 'failed'];
/** Outcomes after which the caller is still with the agent and another destination may be tried. */
export const UNREACHED_OUTCOMES: readonly FailureOutcome[] = ['busy', 'no_answer', 'rejected'];

/** The phone system's final word on a command. */
export type Verdict = { success: true; outcome?: SuccessOutcome } | { success: false; outcome?: FailureOutcome; reason: string };

/** Who a transfer reaches, as the manifest or the model named it. */
export interface TransferTarget {
  kind: 'user' | 'queue' | 'voicemail' | 'number';
  /** User or queue id. */
  id?: string;
  /** User or queue name, for people reading the PBX's logs. */
  name?: string;
}

export interface CommandRecord {
  id: number;
  accountId: string;
  callId: string;
  personaId: string | null;
  kind: CommandKind;
  /** Dial string: an extension ("100") or an E.164 number ("+12125550100"). */
  destination: string | null;
  destinationType: 'extension' | 'e164' | null;
  target: TransferTarget | null;
  driver: DriverName;
  idempotencyKey: string;
  status: CommandStatus;
  /** What happened, once settled (hang-ups: null when done). */
  outcome: TransferOutcome | null;
  /** How long a transfer may ring (ms), as the tool asked. */
  ringTimeoutMs: number | null;
  /** A transfer's mode (blind: put through at once; warm: the destination is briefed and accepts first); null for hang-ups. */
  mode: 'blind' | 'warm' | null;
  /** The model's summary of what the caller wants, as given (warm: the briefing; blind: a header where supported). Caller data: never logged. */
  summary: string | null;
  /** Why it failed or was withdrawn, in words. */
  reason: string | null;
  attempts: number;
  createdAt: number;
  deliveredAt: number | null;
  settledAt: number | null;
}

/** What a tool or the hang-up job learns about a command it sent. */
export type CommandOutcome =
  | { status: 'succeeded'; outcome: SuccessOutcome | null; command: CommandRecord }
  /** notSent: the phone system cannot have received it (its connection is down). */
  | { status: 'failed'; reason: string; outcome: FailureOutcome; command: CommandRecord; notSent?: boolean }
  /** Sent, but no answer within the time allowed: the PBX may still carry it out. */
  | { status: 'unconfirmed'; command: CommandRecord };

export interface CallEvent {
  id: number;
  accountId: string;
  callId: string;
  at: number;
  type: string;
  commandId: number | null;
  detail: Record<string, unknown> | null;
}

/** A destination ready to dial, with what it is. */
export interface Destination {
  dial: string;
  type: 'extension' | 'e164';
  target: TransferTarget;
  /** How the tool's text names it: "Dana Reyes (extension 100)", "+12125550100". */
  label: string;
}

export const DEFAULT_CALL_CONTROL: CallControlSettings = { driver: 'events' };
export const DEFAULT_ACK_TIMEOUT_SECONDS = 10;
export const DEFAULT_RING_TIMEOUT_SECONDS = 20;
/** What a transfer may take beyond its ring time before it counts as unconfirmed: the phone system's own delays. */
export const TRANSFER_MARGIN_MS = 10_000;
export const DEFAULT_WEBHOOK_TIMEOUT_SECONDS = 5;
export const DEFAULT_WEBHOOK_RETRIES = 2;
export const DEFAULT_HANGUP_DELAY_SECONDS = 3;
