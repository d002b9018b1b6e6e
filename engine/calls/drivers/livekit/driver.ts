/**
 * The livekit driver: calls that reach the agent through LiveKit SIP. The
 * caller is a SIP participant in a LiveKit room; a transfer is
 * TransferSIPParticipant (LiveKit sends a SIP REFER to the caller's side and
 * waits for its outcome), a hang-up is RemoveParticipant (LiveKit hangs up
 * that SIP call) or DeleteRoom, as call_control.hangup says.
 *
 * Every command is one request with its answer, so send() returns the
 * verdict itself ("done"); nothing comes later and there is no callback
 * channel: LiveKit's webhooks are not used, so the end of a call is not
 * reported here (the voice bridge reports it with DELETE /calls/{id}).
 * The caller reference is "<room>/<participant identity>", or a room
 * name whose one SIP participant is the caller (participants.ts).
 */
import { TRANSFER_MARGIN_MS } from '../../types.ts';
import type { LivekitCallControl } from '../../../manifests/types.ts';
import { fillTemplate, missingSecret, type CallControlDriver, type DriverFactory, type DriverHealth, type DriverScope, type SendRequest, type SendResult } from '../driver.ts';
import { CREDENTIALS_REFUSED, LivekitHealth } from './health.ts';
import { transferAnswerVerdict, transferErrorVerdict } from './outcomes.ts';
import { parseCallRef, pickSipParticipant, type CallRef } from './participants.ts';
import { apiBase, TwirpClient, type TwirpAnswer, type TwirpCall } from './twirp.ts';

export const DEFAULT_ENDPOINT_TEMPLATE = 'tel:{destination}';
const API_TIMEOUT_MS = 10_000;

type Answered = Extract<TwirpAnswer, { kind: 'ok' | 'error' }>;

/** Whether LiveKit answered about the call itself, rather than not at all or refusing the credentials. */
const usable = (answer: TwirpAnswer): answer is Answered => answer.kind === 'ok' || (answer.kind === 'error' && answer.status !== 401);

/** The result of an answer that is not usable: a refused connection or refused credentials mean nothing was done. */
function unusable(answer: TwirpAnswer): SendResult {
  if (answer.kind !== 'unreachable') return { kind: 'not_sent', reason: CREDENTIALS_REFUSED };
  return answer.sent === 'no' ? { kind: 'not_sent', reason: answer.reason } : { kind: 'unanswered', reason: answer.reason };
}

const failed = (reason: string): SendResult => ({ kind: 'done', verdict: { success: false, outcome: 'failed', reason } });
const succeeded: SendResult = { kind: 'done', verdict: { success: true } };

/** ringing_timeout as protobuf JSON writes a Duration: seconds with an "s" ("20s", "1.5s"). */
export const protoDuration = (ms: number): string => `${Number((ms / 1000).toFixed(3))}s`;

class LivekitDriver implements CallControlDriver {
  /** A REFER that fails (busy, no answer, declined) leaves the caller in the room with the agent. */
  readonly keepsCaller = true;
  private readonly client: TwirpClient;
  private readonly healthState: LivekitHealth;

  constructor(private readonly scope: DriverScope<LivekitCallControl>) {
    this.client = new TwirpClient(scope.outbound, apiBase(scope.settings.url), scope.settings.api_key);
    this.healthState = new LivekitHealth(scope, this.client);
  }

  health(): DriverHealth {
    return this.healthState.get();
  }

  async send(request: SendRequest): Promise<SendResult> {
    const { settings } = this.scope;
    const secret = this.scope.secrets.get(settings.api_secret);
    if (!secret) return { kind: 'not_sent', reason: missingSecret(settings.api_secret) };
    const ref = parseCallRef(request.callRef);
    if ('problem' in ref) return failed(ref.problem);
    return request.command.kind === 'transfer' ? this.transfer(secret, ref, request) : this.hangup(secret, ref, request);
  }

  stop(): Promise<void> {
    this.healthState.stop();
    return Promise.resolve();
  }

  /** One API call; what it shows about the credentials and reachability goes to the health. */
  private async call(secret: string, call: TwirpCall): Promise<TwirpAnswer> {
    const answer = await this.client.call(secret, call);
    this.healthState.report(answer);
    return answer;
  }

  /** The caller's identity: the one in the reference, else the room's one SIP participant. */
  private async callerOf(secret: string, ref: CallRef, signal: AbortSignal | undefined): Promise<{ identity: string } | { gone: string } | { result: SendResult }> {
    if (ref.identity !== undefined) return { identity: ref.identity };
    const answer = await this.call(secret, {
      service: 'livekit.RoomService',
      method: 'ListParticipants',
      body: { room: ref.room },
      grants: { video: { roomAdmin: true, room: ref.room } },
      timeoutMs: API_TIMEOUT_MS,
      signal,
    });
    // Listing changes nothing: whatever became of the request, the transfer was not sent.
    if (!usable(answer)) return { result: { kind: 'not_sent', reason: answer.kind === 'unreachable' ? answer.reason : CREDENTIALS_REFUSED } };
    if (answer.kind === 'error') {
      if (answer.code === 'not_found') return { gone: `the LiveKit room ${ref.room} does not exist` };
      return { result: failed(`LiveKit could not list the participants of room ${ref.room} (${answer.code}${answer.msg ? `: ${answer.msg}` : ''})`) };
    }
    const picked = pickSipParticipant(answer.body);
    if ('none' in picked) return { gone: `there is no SIP participant in the LiveKit room ${ref.room}` };
    if ('several' in picked) {
      return { result: failed(`the LiveKit room ${ref.room} has ${picked.several} SIP participants; give the call id as <room>/<participant identity> to say which is the caller`) };
    }
    return picked;
  }

  private async transfer(secret: string, ref: CallRef, request: SendRequest): Promise<SendResult> {
    const { command } = request;
    const { settings, sink } = this.scope;
    if (!command.destination) return failed('the transfer has no destination');
    const caller = await this.callerOf(secret, ref, request.signal);
    if ('result' in caller) return caller.result;
    if ('gone' in caller) return failed(caller.gone);

    const transferTo = fillTemplate(settings.endpoint_template ?? DEFAULT_ENDPOINT_TEMPLATE, { destination: command.destination });
    // From here LiveKit may send the REFER: the end of the call no longer withdraws the command.
    sink.delivered(command.id);
    sink.step(command.id, 'dialing', { room: ref.room, participant: caller.identity, transfer_to: transferTo });
    const answer = await this.call(secret, {
      service: 'livekit.SIP',
      method: 'TransferSIPParticipant',
      body: {
        room_name: ref.room,
        participant_identity: caller.identity,
        transfer_to: transferTo,
        play_dialtone: settings.play_dialtone ?? false,
        ringing_timeout: protoDuration(request.ringTimeoutMs),
      },
      grants: { video: { roomAdmin: true, room: ref.room }, sip: { call: true } },
      // LiveKit answers once the destination has answered or given up, so the request outlasts the ring time.
      timeoutMs: request.ringTimeoutMs + TRANSFER_MARGIN_MS,
      signal: request.signal,
    });
    sink.attempt(command.id, 1, answer.kind === 'unreachable' ? answer.reason : null);
    if (!usable(answer)) return unusable(answer);
    return { kind: 'done', verdict: answer.kind === 'ok' ? transferAnswerVerdict(answer.body) : transferErrorVerdict(answer) };
  }

  private async hangup(secret: string, ref: CallRef, request: SendRequest): Promise<SendResult> {
    const { command } = request;
    const { settings, sink } = this.scope;
    const deleteRoom = settings.hangup === 'delete_room';
    let identity = ref.identity;
    if (!deleteRoom && identity === undefined) {
      const caller = await this.callerOf(secret, ref, request.signal);
      if ('result' in caller) return caller.result;
      // No caller left in the room: there is nothing to hang up.
      if ('gone' in caller) return succeeded;
      identity = caller.identity;
    }
    sink.delivered(command.id);
    const answer = await this.call(
      secret,
      deleteRoom
        ? { service: 'livekit.RoomService', method: 'DeleteRoom', body: { room: ref.room }, grants: { video: { roomCreate: true } }, timeoutMs: API_TIMEOUT_MS, signal: request.signal }
        : {
            service: 'livekit.RoomService',
            method: 'RemoveParticipant',
            body: { room: ref.room, identity },
            grants: { video: { roomAdmin: true, room: ref.room } },
            timeoutMs: API_TIMEOUT_MS,
            signal: request.signal,
          },
    );
    sink.attempt(command.id, 1, answer.kind === 'unreachable' ? answer.reason : null);
    if (!usable(answer)) return unusable(answer);
    // Not found: the participant (or room) is already gone, which is what a hang-up asks for.
    if (answer.kind === 'ok' || answer.code === 'not_found') return succeeded;
    return failed(`LiveKit did not ${deleteRoom ? 'delete the room' : 'remove the caller'} (${answer.code}${answer.msg ? `: ${answer.msg}` : ''})`);
  }
}

export const livekitDriver: DriverFactory<LivekitCallControl> = {
  name: 'livekit',
  connection: 'request',
  secretNames: (settings) => [settings.api_secret],
  create: (scope) => new LivekitDriver(scope),
};
