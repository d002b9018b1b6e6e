/**
 * Runs a tool call: finds the tool in the persona's current catalog, checks
 * the arguments with the precompiled validator, runs the handler under a
 * deadline, and shapes the answer (text for the model, the same facts as
 * structured content), then records it on the way back: the audit trail,
 * the metrics and the log, named in `afterCall` (the path both ways is
 * drawn in docs/architecture.md). Every error result has one shape (engine/tools/error-result.ts), which
 * every published output schema admits, so clients that check structured
 * content against the schema still show the model the error's sentence.
 *
 * Protocol errors are kept for what the MCP spec calls protocol errors (an
 * unknown tool); everything a model can recover from (bad arguments, a
 * refused transfer, an upstream failure, a time-out) is a tool result with
 * `isError: true` and a sentence that says what to do next.
 */
import { ProtocolError, ProtocolErrorCode } from '@modelcontextprotocol/server';

import { SwitchboardError, type ErrorCode } from '../errors.ts';
import { knownSecretsMask, type SecretMask } from '../secrets.ts';
import type { Logger } from '../logging.ts';
import type { Registry } from '../manifests/registry.ts';
import { findPersona } from '../manifests/snapshot.ts';
import type { ListedTool } from './catalog.ts';
import { errorResult, type ToolCallResult } from './error-result.ts';
import type { CallContext, ToolContext, ToolDefinition, ToolOutcome, ToolServices } from './types.ts';
import type { ToolCallMetrics } from '../vocabulary/metric-sinks.ts';
import type { ToolCallEvent, ToolCallRecorder, ToolCallStatus } from '../vocabulary/tool-calls.ts';

export const DEFAULT_TOOL_TIMEOUT_MS = 15_000;

const callKey = (accountId: string, callId: string): string => `${accountId}\u0000${callId}`;

export type { ToolCallResult } from './error-result.ts';
export type { ToolCallEvent, ToolCallStatus } from '../vocabulary/tool-calls.ts';

/** A further listener to ended tool calls (a test, the console's simulated calls), after the audit trail, the metrics and the log. */
export type ToolCallObserver = (event: ToolCallEvent) => void;

/** Where a tool's progress messages go: MCP progress notifications, when the client gave a progress token. */
export type ProgressSink = (message: string) => void;
const noProgress: ProgressSink = () => undefined;

/** The arguments as they may be recorded: sensitive ones redacted, secret values masked. */
function recordableArguments(args: Record<string, unknown>, tool: ToolDefinition | undefined, mask: SecretMask): Record<string, unknown> {
  const sensitive = new Set(tool?.sensitiveArguments ?? []);
  if (!sensitive.size && !mask.size) return args;
  return Object.fromEntries(Object.entries(args).map(([name, value]) => [name, sensitive.has(name) ? '[redacted]' : mask.maskDeep(value)]));
}

/**
 * The result as it leaves: every secret value the server has handed out (and
 * those the tool used) masked in the text and the structured content. Tools
 * mask what they shape themselves, before they cut; this is the one place
 * every result passes, so no tool can forget.
 */
function maskedResult(result: ToolCallResult, mask: SecretMask): ToolCallResult {
  if (!mask.size) return result;
  const content = result.content.map((item) => ({ ...item, text: mask.mask(item.text) }));
  return { ...result, content, ...(result.structuredContent !== undefined ? { structuredContent: mask.maskDeep(result.structuredContent) as Record<string, unknown> } : {}) };
}

export interface DispatcherDeps {
  registry: Registry;
  /** What tools may use (a serving node's services). */
  services: ToolServices;
  log: Logger;
  /** Aborted at forced shutdown: every running handler sees it. */
  shutdownSignal?: AbortSignal;
  /** Where every ended call is recorded (the audit trail); a dispatcher without one records nothing there. */
  audit?: ToolCallRecorder;
  /** Where every ended call is counted (the metrics); a dispatcher without them counts nothing (the console's simulated calls are not the phone system's). */
  metrics?: ToolCallMetrics;
}

export class ToolDispatcher {
  private readonly observers: ToolCallObserver[] = [];
  private running = 0;
  /** Tool calls running per call (account + call id), and who waits for them to end. */
  private readonly byCall = new Map<string, { running: number; idle: (() => void)[] }>();

  constructor(private readonly deps: DispatcherDeps) {}

  /** Tool calls running now; shutdown waits for them. */
  get inFlight(): number {
    return this.running;
  }

  observe(observer: ToolCallObserver): void {
    this.observers.push(observer);
  }

  /**
   * Resolves when no tool call of this phone call is running, or after
   * `timeoutMs`. Whoever ends a call's sessions waits here first, so a tool
   * that was answering (a transfer told the call is over) gets its answer
   * to the client instead of dying with the session.
   */
  whenIdle(accountId: string, callId: string, timeoutMs: number): Promise<void> {
    const entry = this.byCall.get(callKey(accountId, callId));
    if (!entry) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      timer.unref();
      entry.idle.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private enter(call: CallContext): () => void {
    const key = callKey(call.accountId, call.callId);
    let entry = this.byCall.get(key);
    if (!entry) this.byCall.set(key, (entry = { running: 0, idle: [] }));
    entry.running += 1;
    const current = entry;
    return () => {
      current.running -= 1;
      if (current.running > 0) return;
      this.byCall.delete(key);
      for (const wake of current.idle.splice(0)) wake();
    };
  }

  /** The persona's current tool list; empty once the persona is removed. */
  list(call: CallContext): { tools: ListedTool[] } {
    const persona = findPersona(this.deps.registry.current(), call.accountId, call.personaId);
    return (persona?.catalog.listResult ?? { tools: [] }) as { tools: ListedTool[] };
  }

  async call(call: CallContext, name: string, rawArguments: unknown, signal: AbortSignal, progress: ProgressSink = noProgress): Promise<ToolCallResult> {
    const startedAt = this.deps.services.clock.now();
    const started = performance.now();
    const snapshot = this.deps.registry.current();
    const persona = findPersona(snapshot, call.accountId, call.personaId);
    const account = snapshot.accounts.get(call.accountId);
    const args = rawArguments && typeof rawArguments === 'object' && !Array.isArray(rawArguments) ? { ...(rawArguments as Record<string, unknown>) } : {};

    const usedSecrets: string[] = [];
    const finish = (unmasked: ToolCallResult, status: ToolCallStatus, errorCode: ErrorCode | undefined, tool?: ToolDefinition): ToolCallResult => {
      const mask = knownSecretsMask(usedSecrets);
      const result = maskedResult(unmasked, mask);
      const event: ToolCallEvent = {
        call,
        tool: name,
        arguments: recordableArguments(args, tool, mask),
        status,
        errorCode,
        text: result.content[0]?.text ?? '',
        startedAt,
        durationMs: performance.now() - started,
      };
      this.afterCall(event);
      return result;
    };

    if (!persona || !account) {
      const text = `This assistant (persona "${call.personaId}") is no longer configured, so its tools are unavailable. Apologize and offer to take a message or end the call.`;
      return finish(errorResult(text, 'PERSONA_REMOVED'), 'error', 'PERSONA_REMOVED');
    }
    const compiled = persona.catalog.tools.get(name);
    if (!compiled) {
      throw new ProtocolError(ProtocolErrorCode.InvalidParams, `Unknown tool: ${name}`);
    }
    const tool = compiled.definition;
    // The handler gets the checked copy (nulls of optional arguments dropped, defaults filled); `args` stays as received for the audit trail.
    const verdict = compiled.checkArguments(rawArguments);
    if (!verdict.ok) return finish(errorResult(verdict.message, 'TOOL_ARGUMENTS'), 'invalid_arguments', 'TOOL_ARGUMENTS', tool);

    const timeoutMs = tool.timeoutMs ?? DEFAULT_TOOL_TIMEOUT_MS;
    const deadline = callDeadline(timeoutMs, signal, this.deps.shutdownSignal);
    const combined = deadline.signal;
    // The call's logger is made when first used: most calls log nothing, and a child logger costs more than many tools.
    let callLog: Logger | undefined;
    const logOfCall = () => (callLog ??= this.deps.log.child({ tool: name, account: call.accountId, persona: call.personaId, call: call.callId }));

    this.running += 1;
    const leave = this.enter(call);
    try {
      const noteSecrets = (values: readonly string[]) => void usedSecrets.push(...values);
      const services = this.deps.services;
      const context: ToolContext = {
        call,
        account,
        persona,
        services,
        signal: combined,
        get log() {
          return logOfCall();
        },
        noteSecrets,
        // Progress messages reach the client as they are sent, past the masking of the result.
        progress: (message) => progress(knownSecretsMask(usedSecrets).mask(message)),
      };
      const outcome = await runUntilAborted(tool.handler(context, verdict.args), combined, timeoutMs);
      const result: ToolCallResult = { content: [{ type: 'text', text: outcome.text }], structuredContent: outcome.data };
      return finish(result, 'ok', undefined, tool);
    } catch (error) {
      if (error instanceof SwitchboardError) {
        return finish(errorResult(error.message, error.code, error.details, error.retryable), 'error', error.code, tool);
      }
      logOfCall().error({ err: error, event: 'tool_failed' }, 'tool handler failed');
      const text = 'The tool failed because of an internal error. You may try once more; if it fails again, tell the caller you cannot do this right now.';
      return finish(errorResult(text, 'INTERNAL', undefined, true), 'error', 'INTERNAL', tool);
    } finally {
      this.running -= 1;
      leave();
      deadline.dispose();
    }
  }
  /**
   * The way back, once the answer is shaped and masked and before it leaves:
   * the audit trail queues the call's row (written in the next batch), the
   * metrics count it, the log notes it, then further listeners hear of it.
   * None of them can change the answer or hold it up; a step that throws is
   * logged and the next one runs.
   */
  private afterCall(event: ToolCallEvent): void {
    const { audit, metrics, log } = this.deps;
    if (audit) this.runStep(() => audit.record(event));
    if (metrics) this.runStep(() => metrics.toolCallEnded(event));
    // Per call at debug only: the audit trail and the metrics hold every call; an info line each would cost more than most tools.
    log.debug(
      { event: 'tool_call', tool: event.tool, account: event.call.accountId, persona: event.call.personaId, call: event.call.callId, status: event.status, errorCode: event.errorCode, durationMs: Math.round(event.durationMs * 10) / 10 },
      'tool call',
    );
    for (const observer of this.observers) this.runStep(() => observer(event));
  }

  private runStep(step: () => void): void {
    try {
      step();
    } catch (error) {
      this.deps.log.error({ err: error, event: 'observer_failed' }, 'a step after a tool call failed');
    }
  }
}

/**
 * One signal for a tool call: aborted by the client's cancellation, the
 * shutdown, or the tool's time limit. Built from one controller and one
 * timer: AbortSignal.any and AbortSignal.timeout cost more than the tools
 * they guard on every call.
 */
function callDeadline(timeoutMs: number, ...parents: (AbortSignal | undefined)[]): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new DOMException('The tool call timed out', 'TimeoutError')), timeoutMs);
  const listeners: [AbortSignal, () => void][] = [];
  for (const parent of parents) {
    if (!parent) continue;
    if (parent.aborted) {
      controller.abort(parent.reason);
      break;
    }
    const forward = () => controller.abort(parent.reason);
    parent.addEventListener('abort', forward, { once: true });
    listeners.push([parent, forward]);
  }
  return {
    signal: controller.signal,
    dispose: () => {
      clearTimeout(timer);
      for (const [parent, forward] of listeners) parent.removeEventListener('abort', forward);
    },
  };
}

/** Resolves with the handler's outcome, or rejects as soon as the signal aborts. */
function runUntilAborted(work: Promise<ToolOutcome>, signal: AbortSignal, timeoutMs: number): Promise<ToolOutcome> {
  const abortError = (): SwitchboardError => {
    const reason: unknown = signal.reason;
    if (reason instanceof SwitchboardError) return reason;
    if (reason instanceof DOMException && reason.name === 'TimeoutError') {
      const seconds = Math.max(1, Math.round(timeoutMs / 1000));
      return new SwitchboardError('TOOL_TIMEOUT', `The tool did not answer within ${seconds} second${seconds === 1 ? '' : 's'}. Tell the caller it is taking too long; you may try once more.`);
    }
    return new SwitchboardError('TOOL_TIMEOUT', 'The tool call was cancelled before it finished.');
  };
  if (signal.aborted) return Promise.reject(abortError());
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(abortError());
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error instanceof DOMException && error.name === 'TimeoutError' ? abortError() : error);
      },
    );
  });
}
