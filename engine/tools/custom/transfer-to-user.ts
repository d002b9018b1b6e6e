/**
 * transfer_to_user: a persona's tool that transfers the call to one user of
 * the account. The user's Do-Not-Disturb is checked first; the manifest's
 * on_dnd decides what then happens: refuse (the default: the model is told
 * and can take a message), voicemail (transfer to the user's voicemail), or
 * transfer anyway. Targets come from the manifest, so they skip the transfer
 * policy's allow list; one that a deny pattern blocks makes the manifest invalid.
 */
import { DateTime } from 'luxon';

import { CALL_CONTROL_TOOL_TIMEOUT_MS } from '../../calls/control.ts';
import { deniedManifestTarget } from '../../calls/policy.ts';
import { callToTransfer, transferTo, userDestination } from '../../calls/transfer.ts';
import { SwitchboardError } from '../../errors.ts';
import type { TransferToUserEntry } from '../../manifests/types.ts';
import { ToolBuildProblem, type CustomToolFactory, type ToolContext } from '../types.ts';
import { NO_ARGUMENTS } from './transfer-to-queue.ts';

/** "until 3:00 PM" today, "until Monday 9:00 AM" on another day, in the account's time zone. */
function untilText(ctx: ToolContext, until: number | null): string {
  if (until === null) return '';
  const zone = ctx.account.manifest.timezone;
  const end = DateTime.fromMillis(until, { zone });
  const sameDay = end.hasSame(DateTime.fromMillis(ctx.services.clock.now(), { zone }), 'day');
  return ` until ${end.toFormat(sameDay ? 'h:mm a' : 'cccc h:mm a')}`;
}

export const transferToUserFactory: CustomToolFactory<TransferToUserEntry> = (entry, { account }) => {
  const user = account.users.get(entry.user);
  if (!user) throw new ToolBuildProblem(`user "${entry.user}" is not in ${account.id}/account.yaml`, ['user']);
  const onDnd = entry.on_dnd ?? 'refuse';
  if (onDnd === 'voicemail' && !user.voicemail) throw new ToolBuildProblem(`user "${user.id}" has no voicemail in account.yaml`, ['on_dnd']);
  for (const [extension, what] of [
    [user.extension, 'extension'],
    [onDnd === 'voicemail' ? user.voicemail : undefined, 'voicemail'],
  ] as const) {
    const denied = extension && deniedManifestTarget(account, extension);
    if (denied) throw new ToolBuildProblem(`${what} ${extension} of user "${user.id}" is blocked by the transfer_policy deny pattern ${denied}`, ['user']);
  }
  const direct = userDestination(user);
  const voicemail = user.voicemail ? userDestination(user, user.voicemail, 'voicemail') : undefined;

  return {
    name: entry.name,
    title: `Transfer to ${user.name}`,
    description: entry.description,
    inputSchema: NO_ARGUMENTS,
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: true },
    timeoutMs: CALL_CONTROL_TOOL_TIMEOUT_MS,
    async handler(ctx) {
      const call = callToTransfer(ctx);
      const dnd = ctx.services.dnd.get(ctx.account.id, user.id);
      if (!dnd.enabled) return transferTo(ctx, call, direct);
      const dndData = { user_id: user.id, user_dnd: true, dnd_until: dnd.until === null ? null : new Date(dnd.until).toISOString() };
      if (onDnd === 'refuse') {
        ctx.services.calls.refuse(call, 'transfer', 'dnd', { user_id: user.id });
        throw new SwitchboardError('TOOL_REFUSED', `${user.name} is on Do-Not-Disturb${untilText(ctx, dnd.until)} and cannot take the call. Offer to take a message instead.`, {
          details: { status: 'refused', reason: 'dnd', ...dndData },
        });
      }
      const outcome = await transferTo(ctx, call, onDnd === 'voicemail' && voicemail ? voicemail : direct);
      return { text: `${user.name} is on Do-Not-Disturb. ${outcome.text}`, data: { ...outcome.data, ...dndData } };
    },
  };
};
