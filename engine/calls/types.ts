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
import type { CallControlSettings } from '../manifests/types.ts';

export type CallState = 'active' | 'transferring' | 'transferred' | 'ending' | 'ended';

export interface CallRecord {
  accountId: string;
  callId: string;
  personaId: string | null;
  caller: string | null;
  /** Who made the record: the PBX (POST /calls) or a tool's first use. */
  source: 'pbx' | 'tool';
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
export type DriverName = CallControlSettings['driver'];

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
  /** Why it failed or was withdrawn, in words. */
  reason: string | null;
  attempts: number;
  createdAt: number;
  deliveredAt: number | null;
  settledAt: number | null;
}

/** What a tool or the hang-up job learns about a command it sent. */
export type CommandOutcome =
  | { status: 'succeeded'; command: CommandRecord }
  | { status: 'failed'; reason: string; command: CommandRecord }
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
export const DEFAULT_WEBHOOK_TIMEOUT_SECONDS = 5;
export const DEFAULT_WEBHOOK_RETRIES = 2;
export const DEFAULT_HANGUP_DELAY_SECONDS = 3;
