/**
 * A minimal tool set for tests of the server foundation (routing, sessions,
 * auth), which must not depend on what the real tools do.
 */
import { SwitchboardError } from '../../engine/errors.ts';
import type { ToolKinds } from '../../engine/tools/catalog.ts';
import { ToolBuildProblem, type ToolDefinition } from '../../engine/tools/types.ts';

export const echoTool: ToolDefinition<{ text: string; fail?: boolean; delay_ms?: number }> = {
  name: 'echo',
  description: 'Repeats the text, with the call context it ran in.',
  inputSchema: {
    type: 'object',
    properties: { text: { type: 'string', maxLength: 100 }, fail: { type: 'boolean' }, delay_ms: { type: 'integer', minimum: 0, maximum: 5000 } },
    required: ['text'],
    additionalProperties: false,
  },
  annotations: { readOnlyHint: true },
  timeoutMs: 1000,
  async handler(ctx, args) {
    if (args.delay_ms) await new Promise((resolve) => setTimeout(resolve, args.delay_ms));
    if (args.fail) throw new SwitchboardError('TOOL_REFUSED', 'Refused on purpose.');
    return {
      text: `echo: ${args.text}`,
      data: { text: args.text, account: ctx.call.accountId, persona: ctx.call.personaId, call: ctx.call.callId, caller: ctx.call.callerE164 ?? null },
    };
  },
};

/** A custom kind for tests of catalog changes: a queue "transfer" that only reports its target. */
const queueProbe: NonNullable<ToolKinds['custom']['transfer_to_queue']> = (entry, scope) => {
  const queue = scope.account.queues.get(entry.queue);
  if (!queue) throw new ToolBuildProblem(`queue "${entry.queue}" does not exist`, ['queue']);
  return {
    name: entry.name,
    description: entry.description,
    inputSchema: { type: 'object', properties: {}, additionalProperties: false },
    annotations: { readOnlyHint: true },
    handler: async () => ({ text: `would transfer to ${queue.name}`, data: { extension: queue.extension } }),
  };
};

export const testToolKinds: ToolKinds = { global: new Map([['echo', echoTool as ToolDefinition]]), custom: { transfer_to_queue: queueProbe } };

/** Two accounts with simple personas (no custom tools). */
export const basicManifests: Record<string, string> = {
  'acme/account.yaml': 'account_id: acme\ntimezone: America/New_York\ndefault_country: US\n',
  'acme/front-desk.yaml': 'persona_id: front-desk\n',
  'acme/sales.yaml': 'persona_id: sales\n',
  'globex/account.yaml': 'account_id: globex\ntimezone: Europe/London\ndefault_country: GB\n',
  'globex/reception.yaml': 'persona_id: reception\n',
};

/** Like echo, with a PIN the tool marks sensitive: the audit trail and logs must never hold it. */
export const echoPinTool: ToolDefinition<{ text: string; pin: string }> = {
  name: 'echo_pin',
  description: 'Repeats the text; checks a PIN it never repeats.',
  inputSchema: {
    type: 'object',
    properties: { text: { type: 'string', maxLength: 100 }, pin: { type: 'string', maxLength: 12 } },
    required: ['text', 'pin'],
    additionalProperties: false,
  },
  annotations: { readOnlyHint: true },
  sensitiveArguments: ['pin'],
  async handler(_ctx, args) {
    return { text: `echo: ${args.text}`, data: { text: args.text } };
  },
};

/** The test tools plus echo_pin. */
export const sensitiveToolKinds: ToolKinds = { global: new Map([...testToolKinds.global, ['echo_pin', echoPinTool as ToolDefinition]]), custom: testToolKinds.custom };
