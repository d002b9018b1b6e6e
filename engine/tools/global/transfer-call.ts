/**
 * transfer_call: transfers the call to a number or extension the model names
 * (usually one the caller said). The number is read with the account's
 * default country and judged by the transfer policy before anything is sent:
 * this is where toll fraud is stopped, so a refusal says plainly why.
 * The persona's `mode` makes it warm: the model then also gives a summary
 * the person taking the call hears first (transfer-arguments.ts).
 */
import { judgeDestination, readDestination, type PolicyVerdict } from '../../calls/policy.ts';
import { callToTransfer, modeExtraMs, nextDestinations, ringTimeoutMs, transferTo, transferToolTimeoutMs } from '../../calls/transfer.ts';
import type { CallRecord, Destination } from '../../calls/types.ts';
import { cleanReason } from '../../calls/views.ts';
import { SwitchboardError } from '../../errors.ts';
import type { PersonaManifest, TransferSettings } from '../../manifests/types.ts';
import { summaryOf, transferArguments } from '../transfer-arguments.ts';
import type { JsonSchema, ToolContext, ToolDefinition } from '../types.ts';

/** The persona's transfer settings of transfer_call (global_tools.transfer_call), if it has any. */
const settingsOf = (persona: PersonaManifest): TransferSettings | undefined => {
  const setting = persona.global_tools?.transfer_call;
  return typeof setting === 'object' ? setting : undefined;
};

/** Most destinations one transfer_call may try: the one asked for and the persona's next ones. */
const planLength = (persona: PersonaManifest): number => {
  const settings = settingsOf(persona);
  return 1 + (settings?.on_no_answer === 'fallback' ? (settings.fallback?.length ?? 0) : settings?.on_no_answer === 'voicemail' ? 1 : 0);
};

const REFUSALS: Record<Extract<PolicyVerdict, { allowed: false }>['reason'], (dial: string) => string> = {
  denied: (dial) => `Transfers to ${dial} are blocked by this office's transfer policy. Tell the caller you cannot transfer the call there.`,
  premium_rate: (dial) => `${dial} is a premium-rate number, and transfers to premium-rate numbers are never allowed. Tell the caller you cannot transfer the call there.`,
  not_allowed: (dial) => `${dial} is not a number this assistant may transfer to. Offer a transfer to a colleague or a team instead, or take a message.`,
};

async function allowedDestination(ctx: ToolContext, call: CallRecord, raw: string): Promise<Destination> {
  const refuse = async (reason: string, text: string, detail: Record<string, unknown>): Promise<never> => {
    await ctx.services.calls.refuse(call, 'transfer', reason, detail);
    throw new SwitchboardError('TOOL_REFUSED', text, { details: { status: 'refused', reason, ...detail } });
  };
  const number = readDestination(raw, ctx.account.defaultCountry);
  if (!number) {
    return refuse('invalid_number', `"${cleanReason(raw, '')}" is not a phone number or extension that can be dialed. Ask the caller to repeat the number.`, { destination_number: raw });
  }
  const verdict = judgeDestination(ctx.account, number);
  if (!verdict.allowed) {
    return refuse(verdict.reason, REFUSALS[verdict.reason](number.dial), { destination: number.dial, ...(verdict.pattern ? { pattern: verdict.pattern } : {}) });
  }
  if (verdict.via === 'user' || verdict.via === 'queue') {
    return { ...number, target: { kind: verdict.via, id: verdict.id as string, name: verdict.name as string }, label: `${verdict.name} (extension ${number.dial})` };
  }
  return { ...number, target: { kind: 'number' }, label: number.dial };
}

const DESTINATION_NUMBER: JsonSchema = {
  type: 'string',
  minLength: 1,
  maxLength: 64,
  description: 'The phone number or extension to transfer the call to, e.g. "101" or "+1 212 555 0100" (a JSON number is read as its digits).',
};

const argumentsIn = (persona: PersonaManifest): JsonSchema => transferArguments(settingsOf(persona)?.mode ?? 'blind', { destination_number: DESTINATION_NUMBER }, ['destination_number']);

export const transferCallTool: ToolDefinition<{ destination_number: string; summary?: string }> = {
  name: 'transfer_call',
  title: 'Transfer call',
  description: 'Transfers the active call to a specified destination number.',
  inputSchema: transferArguments('blind', { destination_number: DESTINATION_NUMBER }, ['destination_number']),
  inputSchemaFor: argumentsIn,
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: true },
  timeoutMs: transferToolTimeoutMs(20_000, 1),
  timeoutFor: (account, persona) =>
    transferToolTimeoutMs(ringTimeoutMs(account, persona.ring_timeout_seconds, settingsOf(persona)), planLength(persona), modeExtraMs(account, settingsOf(persona)?.mode)),
  async handler(ctx, args) {
    const call = await callToTransfer(ctx);
    const first = await allowedDestination(ctx, call, args.destination_number);
    const settings = settingsOf(ctx.persona.manifest);
    // Voicemail follows only a user's own extension; entries that cannot be dialed were reported when the manifest loaded.
    const user = first.target.kind === 'user' && first.target.id ? ctx.account.users.get(first.target.id) : undefined;
    const next = nextDestinations(ctx.account, settings, user);
    const ringMs = ringTimeoutMs(ctx.account, ctx.persona.manifest.ring_timeout_seconds, settings);
    const mode = settings?.mode ?? 'blind';
    return transferTo(ctx, call, { destinations: [first, ...next.destinations], ringTimeoutMs: ringMs, hasFallback: next.destinations.length > 0, mode }, summaryOf(args));
  },
};
