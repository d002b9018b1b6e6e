/**
 * The call-control driver interface: how a command reaches one phone system
 * and how the phone system's word comes back. Every driver (events, webhook,
 * ari, esl, twilio, telnyx, livekit) is one module behind this interface
 * plus one line in `index.ts`; CallControl never asks which one it has.
 *
 * A driver instance serves one account with that account's call_control
 * block; the pool (`pool.ts`) makes a new one when the block changes and
 * stops the old. A driver:
 *   - sends a command and says at once what it knows (`SendResult`): done,
 *     not sent (so nothing can happen later), sent with the verdict to come,
 *     or sent without an answer;
 *   - reports later verdicts, steps (ringing, answered) and the end of calls
 *     through its `DriverSink`, never by writing the store itself;
 *   - tells its connection health, so a transfer on a dead connection fails
 *     at once instead of leaving the caller in dead air;
 *   - may take signed callbacks from its phone system (`callback`).
 */
import type { Clock } from '../../clock.ts';
import type { Logger } from '../../logging.ts';
import type { CallControlSettings } from '../../manifests/types.ts';
import type { OutboundClient } from '../../outbound/client.ts';
import type { SecretSource } from '../../secrets.ts';
import type { CommandRecord, CommandStatus, DriverName, Verdict } from '../types.ts';

/**
 * up: commands can be sent. connecting: not yet (or again) connected, but
 * commands are kept and sent once it is. down: a command now would fail.
 */
export type DriverState = 'up' | 'connecting' | 'down';

export interface DriverHealth {
  state: DriverState;
  /** Why it is not up, in words an operator can act on; never a secret. */
  reason: string | null;
  /** When the state last changed (ms since epoch). */
  since: number;
}

export type SendResult =
  /** Handed to the phone system; the verdict follows through the sink. */
  | { kind: 'sent' }
  /** The phone system's final word came with the answer. */
  | { kind: 'done'; verdict: Verdict }
  /** It cannot have reached the phone system: nothing will happen later. */
  | { kind: 'not_sent'; reason: string }
  /** It may have reached the phone system, but no answer came. */
  | { kind: 'unanswered'; reason: string };

export interface SendRequest {
  command: CommandRecord;
  /** The phone system's id of the caller's leg: the call's pbx_call_ref, else its call_id. */
  callRef: string;
  /** The caller's number (E.164 when it could be read), for the caller id of a new leg. */
  caller: string | null;
  /** How long a transfer may ring before it counts as not answered. */
  ringTimeoutMs: number;
  /** Aborted when the tool call ends or the server stops. */
  signal?: AbortSignal;
}

/** What a driver may tell call control. */
export interface DriverSink {
  /** The command is in the phone system's hands: the end of the call no longer withdraws it. */
  delivered(commandId: number): void;
  /** One attempt to hand the command over ended; `failure` says how, or null when it got an answer. */
  attempt(commandId: number, attempt: number, failure: string | null): void;
  /** The phone system's final word on a command (a second word is ignored). */
  settle(commandId: number, verdict: Verdict): void;
  /** A step along the way (dialing, ringing, answered, bridged), for the call's history. */
  step(commandId: number, step: string, detail?: Record<string, unknown>): void;
  /** The caller's leg is gone: the call is over. `callRef` is the phone system's id of it. */
  callEnded(callRef: string, reason: string): void;
  /** A user's phone says Do-Not-Disturb (or no longer does), by extension. */
  presence(extension: string, dnd: boolean): void;
  /** The connection's health changed (for logs and metrics). */
  healthChanged(health: DriverHealth): void;
}

/** A callback from the phone system: POST /ucp/v2/pbx/{account}/{driver}/{path}. */
export interface CallbackRequest {
  /** The part after /ucp/v2/pbx/{account}/{driver}/, without the query. */
  path: string;
  /** The URL as the phone system called it (the public URL + path and query): what signatures cover. */
  url: string;
  query: URLSearchParams;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export interface CallbackAnswer {
  status: number;
  contentType?: string;
  body?: string;
}

export interface DriverScope<S extends CallControlSettings = CallControlSettings> {
  accountId: string;
  settings: S;
  sink: DriverSink;
  clock: Clock;
  log: Logger;
  secrets: SecretSource;
  /** The SSRF-guarded client; a PBX on a private address must be in the operator's outbound allow list. */
  outbound: OutboundClient;
  /** Where this driver's callbacks reach the server (public URL + /ucp/v2/pbx/{account}/{driver}), if a public URL is set. */
  callbackBase: string | undefined;
  /** Extensions of the account's users, for presence. */
  extensions: readonly string[];
  /**
   * What the store knows of one of this account's commands: whether it
   * succeeded and the phone system's id of its caller's leg. For callbacks
   * that land on a node other than the one that sent the command (several
   * nodes behind a load balancer), where nothing of it is in memory.
   */
  commandOf?(commandId: number): Promise<{ status: CommandStatus; callRef: string } | undefined>;
}

export interface CallControlDriver {
  health(): DriverHealth;
  /**
   * Whether a transfer that is not answered leaves the caller with the
   * agent, so on_no_answer may try another destination. False where the
   * call is handed over (REFER, a dialplan transfer).
   */
  readonly keepsCaller: boolean;
  send(request: SendRequest): Promise<SendResult>;
  /** Signed callbacks of the phone system; drivers without them leave it out. */
  callback?(request: CallbackRequest): Promise<CallbackAnswer>;
  /** Closes connections and timers; commands in flight get no further verdicts from this instance. */
  stop(): Promise<void>;
}

export interface DriverFactory<S extends CallControlSettings = CallControlSettings> {
  name: DriverName;
  /**
   * persistent: the driver holds a lasting connection to the phone system
   * (an ARI WebSocket, an Event Socket), which one node at a time may hold:
   * with several nodes on one database only the holder of the account's
   * lease runs it, and the others hand their commands over (held.ts).
   * request: every command is a request of its own (and callbacks may land
   * on any node), so every node sends its own.
   */
  connection: 'persistent' | 'request';
  /** keepsCaller of the driver these settings make, known without making it (a node that does not hold a persistent connection needs it). */
  keepsCaller?(settings: S): boolean;
  create(scope: DriverScope<S>): CallControlDriver;
  /**
   * Whether the driver can carry out a warm transfer with these settings
   * (engine/calls/warm.ts): hold the caller, brief the destination, and
   * bring the caller back when nobody accepts. True, or what the settings
   * lack, in words for the operator ("set call_control.connection_id …").
   * Absent: the driver cannot at all. Either way `validate` refuses a
   * persona with mode: warm on such an account, saying why.
   * The driver finds the mode and summary on `SendRequest.command`.
   */
  warm?(settings: S): true | string;
  /** Names of the secrets the settings refer to, for status and validate --check-secrets. */
  secretNames(settings: S): string[];
}

/** A health value that changes only when the state or reason does. */
export class HealthTracker {
  private current: DriverHealth;

  constructor(
    private readonly clock: Clock,
    private readonly onChange: (health: DriverHealth) => void,
    initial: { state: DriverState; reason: string | null } = { state: 'connecting', reason: 'not connected yet' },
  ) {
    this.current = { ...initial, since: clock.now() };
  }

  get(): DriverHealth {
    return this.current;
  }

  set(state: DriverState, reason: string | null = null): void {
    if (state === this.current.state && reason === this.current.reason) return;
    this.current = { state, reason, since: this.clock.now() };
    this.onChange(this.current);
  }
}

/** The destination put into an endpoint template ("PJSIP/{destination}@trunk"). */
export const fillTemplate = (template: string, values: Record<string, string>): string => template.replace(/\{(\w+)\}/g, (whole, name: string) => values[name] ?? whole);

/** A missing secret as a health reason (the name only, never a value). */
export const missingSecret = (name: string): string => `secret ${name} is not set (environment variable or secrets file)`;
