/**
 * check_user_availability(user_id): whether a user of the account can take
 * calls now, by their Do-Not-Disturb state (live in the store, set by the PBX
 * through the admin API or by a person with the CLI), with the DND setting
 * (on or off, until when). Every call reads the store, so a change is seen
 * at once. The reason is told only where the account allows it
 * (`dnd_reason_to_agent`, reasonForAgent): what the model reads, the caller
 * may hear.
 */
import { SwitchboardError } from '../../errors.ts';
import { spokenTime } from '../../hours/time-text.ts';
import { availabilityView, reasonForAgent, resolveUserForTool } from '../../users/availability.ts';
import type { ToolDefinition } from '../types.ts';

export const checkUserAvailabilityTool: ToolDefinition<{ user_id: string }> = {
  name: 'check_user_availability',
  title: 'Check user availability',
  description:
    'Checks if a user is available to receive calls based on their Do Not Disturb (DND) status. ' +
    'Pass the user id; a name or extension the caller gave is understood when it matches one user.',
  inputSchema: {
    type: 'object',
    properties: { user_id: { type: 'string', minLength: 1, maxLength: 100, description: 'The user ID to check (a number such as 101 is read as the text "101")' } },
    required: ['user_id'],
    additionalProperties: false,
  },
  outputSchema: {
    type: 'object',
    required: ['user_id', 'name', 'available', 'dnd'],
    properties: {
      user_id: { type: 'string' },
      name: { type: 'string' },
      extension: { type: 'string' },
      available: { type: 'boolean', description: 'false while the user is on Do-Not-Disturb.' },
      matched_by: { enum: ['id', 'extension', 'name'], description: 'How user_id was matched to the user.' },
      dnd: {
        type: 'object',
        required: ['enabled', 'reason', 'until'],
        properties: {
          enabled: { type: 'boolean' },
          reason: { type: ['string', 'null'], description: "Why the user is on DND; null unless the account's dnd_reason_to_agent is on." },
          until: { type: ['string', 'null'], description: 'When DND ends by itself, ISO-8601 with offset; null if it has no end.' },
          until_spoken: { type: ['string', 'null'], description: 'until as an agent says it, e.g. "today 15:00".' },
        },
      },
    },
  },
  annotations: { title: 'Check user availability', readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  async handler(ctx, args) {
    const asked = args.user_id.trim();
    if (!asked) throw new SwitchboardError('TOOL_ARGUMENTS', 'Invalid arguments: "user_id" must not be empty. Call again with the id of the user.');
    const { user, matchedBy } = resolveUserForTool(ctx.account, asked);
    const now = ctx.services.clock.now();
    const state = await ctx.services.dnd.get(ctx.account.id, user.id);
    const view = availabilityView(ctx.account, user, state);
    const reason = reasonForAgent(ctx.account, state);
    const untilSpoken = state.until === null ? null : spokenTime(state.until, now, ctx.account.manifest.timezone);
    const text = state.enabled
      ? `${user.name} is on Do-Not-Disturb${reason ? ` (${reason})` : ''}${untilSpoken ? ` until ${untilSpoken}` : ''} and cannot take calls now.`
      : `${user.name} is available.`;
    return {
      text,
      data: {
        user_id: view.user_id,
        name: view.name,
        extension: view.extension,
        available: view.available,
        matched_by: matchedBy,
        dnd: { enabled: view.dnd.enabled, reason, until: view.dnd.until, until_spoken: untilSpoken },
      },
    };
  },
};
