/**
 * transfer_to_queue: a persona's tool that transfers the call to one queue of
 * the account. Name, description and queue come from the manifest; the
 * target skips the transfer policy's allow list (the manifest chose it), but
 * a queue whose extension a deny pattern blocks makes the manifest invalid.
 */
import { CALL_CONTROL_TOOL_TIMEOUT_MS } from '../../calls/control.ts';
import { deniedManifestTarget } from '../../calls/policy.ts';
import { callToTransfer, queueDestination, transferTo } from '../../calls/transfer.ts';
import type { TransferToQueueEntry } from '../../manifests/types.ts';
import { ToolBuildProblem, type CustomToolFactory } from '../types.ts';

export const NO_ARGUMENTS = { type: 'object', properties: {}, additionalProperties: false } as const;

export const transferToQueueFactory: CustomToolFactory<TransferToQueueEntry> = (entry, { account }) => {
  const queue = account.queues.get(entry.queue);
  if (!queue) throw new ToolBuildProblem(`queue "${entry.queue}" is not in ${account.id}/account.yaml`, ['queue']);
  const denied = deniedManifestTarget(account, queue.extension);
  if (denied) throw new ToolBuildProblem(`extension ${queue.extension} of queue "${queue.id}" is blocked by the transfer_policy deny pattern ${denied}`, ['queue']);
  const destination = queueDestination(queue);
  return {
    name: entry.name,
    title: `Transfer to ${queue.name}`,
    description: entry.description,
    inputSchema: NO_ARGUMENTS,
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: true },
    timeoutMs: CALL_CONTROL_TOOL_TIMEOUT_MS,
    async handler(ctx) {
      return transferTo(ctx, callToTransfer(ctx), destination);
    },
  };
};
