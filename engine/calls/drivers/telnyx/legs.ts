/**
 * What Telnyx's webhooks say about our commands and calls. A transfer
 * creates a new leg whose webhooks carry our client state (the command id);
 * Telnyx documents that a transfer that fails sends call.hangup for that leg
 * and leaves the caller's leg up, so:
 *
 *   new leg call.answered / call.bridged   -> connected
 *   new leg call.hangup before an answer   -> busy / no_answer / rejected / failed (outcomes.ts)
 *   new leg call.hangup after an answer    -> the caller's leg ends with it (the transfer
 *                                             sets no park_after_unbridge, so Telnyx hangs it up)
 *   call.hangup of any other leg           -> that leg is gone; if it is a call's
 *                                             ref, the call is over
 *
 * The legs in flight are remembered to tell an answered leg's later
 * hang-up from a failed one and to know whose caller it was. A webhook of a
 * leg not remembered here (sent by another node behind the load balancer,
 * or before a restart) still names the command in its client state: the
 * store then tells whether the transfer succeeded and whose caller it was,
 * and the sink keeps a command's first verdict. Telnyx may deliver an event
 * twice: ids already handled (here) are dropped.
 */
import type { Logger } from '../../../logging.ts';
import type { DriverScope, DriverSink } from '../driver.ts';
import { callerGone, legHangup } from './outcomes.ts';
import { commandOfState, type TelnyxEvent } from './webhook-event.ts';

interface Leg {
  callRef: string;
  since: number;
  answered: boolean;
}

/** Longest a transfer leg can ring (600 s, Telnyx's maximum) plus room; older entries are dropped. */
const LEG_MEMORY_MS = 15 * 60_000;
const MAX_LEGS = 2000;
const MAX_SEEN = 1000;

export class TransferLegs {
  private readonly legs = new Map<number, Leg>();
  private readonly seen = new Set<string>();

  constructor(
    private readonly sink: DriverSink,
    private readonly log: Logger,
    private readonly now: () => number,
    private readonly commandOf?: DriverScope['commandOf'],
  ) {}

  /** A transfer of the caller's leg `callRef` is about to leave. */
  expect(commandId: number, callRef: string): void {
    const now = this.now();
    for (const [id, leg] of this.legs) if (now - leg.since > LEG_MEMORY_MS || this.legs.size >= MAX_LEGS) this.legs.delete(id);
    this.legs.set(commandId, { callRef, since: now, answered: false });
  }

  /** The transfer did not leave after all: no leg will report. */
  forget(commandId: number): void {
    this.legs.delete(commandId);
  }

  async handle(event: TelnyxEvent): Promise<void> {
    if (event.id !== null) {
      if (this.seen.has(event.id)) return;
      this.seen.add(event.id);
      if (this.seen.size > MAX_SEEN) this.seen.delete(this.seen.values().next().value as string);
    }
    const commandId = commandOfState(event.clientState);
    const leg = commandId === undefined ? undefined : this.legs.get(commandId);
    if (commandId === undefined || (leg && event.callControlId === leg.callRef)) return this.otherLeg(event);

    const detail = { call_control_id: event.callControlId, to: event.to };
    switch (event.type) {
      case 'call.initiated':
        this.sink.step(commandId, 'dialing', detail);
        return;
      case 'call.answered':
      case 'call.bridged':
        this.sink.step(commandId, event.type === 'call.answered' ? 'answered' : 'bridged', detail);
        this.sink.settle(commandId, { success: true, outcome: 'connected' });
        if (leg) leg.answered = true;
        return;
      case 'call.hangup': {
        this.legs.delete(commandId);
        if (leg?.answered) {
          this.sink.callEnded(leg.callRef, 'the transferred call ended');
          return;
        }
        // A leg this node did not send: the store knows whether it was answered (its transfer succeeded).
        const known = leg ? undefined : await this.commandOf?.(commandId);
        if (known?.status === 'succeeded') {
          this.sink.callEnded(known.callRef, 'the transferred call ended');
          return;
        }
        const failure = legHangup(event.hangupCause, event.sipHangupCause);
        this.sink.step(commandId, 'hangup', { ...detail, hangup_cause: event.hangupCause, sip_hangup_cause: event.sipHangupCause });
        this.sink.settle(commandId, { success: false, outcome: failure.outcome, reason: failure.reason });
        return;
      }
      default:
        this.log.debug({ event: 'telnyx_event_ignored', type: event.type, command: commandId }, 'Telnyx event of a transfer leg not used');
    }
  }

  /** An event of a leg that is not one of our transfer legs: the caller's, most likely. */
  private otherLeg(event: TelnyxEvent): void {
    if (event.type === 'call.hangup' && event.callControlId) {
      this.sink.callEnded(event.callControlId, callerGone(event.hangupCause, event.hangupSource));
      return;
    }
    this.log.debug({ event: 'telnyx_event_ignored', type: event.type }, 'Telnyx event not about a command');
  }
}
