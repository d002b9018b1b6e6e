/**
 * transfer_to_queue: a persona's tool that transfers the call to one queue of
 * the account. Name, description and queue come from the manifest; the
 * target skips the transfer policy's allow list (the manifest chose it), but
 * a queue whose extension a deny pattern blocks makes the manifest invalid.
 * When the queue does not answer in its ring time, on_no_answer may try the
 * fallback list (a queue has no voicemail of its own). With mode: warm the
 * model gives a summary that whoever answers hears before accepting.
 */
import { deniedManifestTarget } from '../../calls/policy.ts';
import { callToTransfer, modeExtraMs, nextDestinations, queueDestination, ringTimeoutMs, transferTo, transferToolTimeoutMs } from '../../calls/transfer.ts';
import type { TransferToQueueEntry } from '../../manifests/types.ts';
import { summaryOf, transferArguments } from '../transfer-arguments.ts';
import { ToolBuildProblem, type CustomToolFactory } from '../types.ts';

export const transferToQueueFactory: CustomToolFactory<TransferToQueueEntry> = (entry, { account, persona }) => {
  const queue = account.queues.get(entry.queue);
  if (!queue) throw new ToolBuildProblem(`queue "${entry.queue}" is not in ${account.id}/account.yaml`, ['queue']);
  const denied = deniedManifestTarget(account, queue.extension);
  if (denied) throw new ToolBuildProblem(`extension ${queue.extension} of queue "${queue.id}" is blocked by the transfer_policy deny pattern ${denied}`, ['queue']);
  const next = nextDestinations(account, entry, undefined);
  const problem = next.problems[0];
  if (problem) throw new ToolBuildProblem(problem.problem, problem.index < 0 ? ['on_no_answer'] : ['fallback', problem.index]);
  const ringMs = ringTimeoutMs(account, persona.ring_timeout_seconds, entry);
  const mode = entry.mode ?? 'blind';
  const plan = { destinations: [queueDestination(queue), ...next.destinations], ringTimeoutMs: ringMs, hasFallback: next.destinations.length > 0, mode };
  return {
    name: entry.name,
    title: `Transfer to ${queue.name}`,
    description: entry.description,
    inputSchema: transferArguments(mode),
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: true },
    timeoutMs: transferToolTimeoutMs(ringMs, plan.destinations.length, modeExtraMs(account, mode)),
    async handler(ctx, args) {
      return transferTo(ctx, await callToTransfer(ctx), plan, summaryOf(args));
    },
  };
};
