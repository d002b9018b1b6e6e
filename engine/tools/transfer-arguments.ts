/**
 * The `summary` argument of the transfer tools: what the caller wants, in
 * the model's words, for the person taking the call. A warm transfer cannot
 * brief anyone without it, so there it is required; a blind transfer takes
 * it optionally and sends it along as a SIP header or call variable where
 * the phone system supports that. Bounded, because it is spoken to a person
 * waiting to decide and travels in a header.
 */
import { SUMMARY_MAX_LENGTH, type TransferMode } from '../calls/warm.ts';
import type { JsonSchema } from './types.ts';

const WARM_SUMMARY = 'What the caller wants, in one or two sentences, for the person taking the call; they hear it before the caller is connected.';
const BLIND_SUMMARY = 'Optional: what the caller wants, in one or two sentences, for the person taking the call; it travels with the call (a SIP header) where the phone system can show it.';

export function summaryProperty(mode: TransferMode): JsonSchema {
  return { type: 'string', minLength: 1, maxLength: SUMMARY_MAX_LENGTH, description: mode === 'warm' ? WARM_SUMMARY : BLIND_SUMMARY };
}

/** A transfer tool's input schema: its own properties, the summary, and what is required in this mode. */
export function transferArguments(mode: TransferMode, properties: Record<string, JsonSchema> = {}, required: readonly string[] = []): JsonSchema {
  const needed = mode === 'warm' ? [...required, 'summary'] : [...required];
  return { type: 'object', properties: { ...properties, summary: summaryProperty(mode) }, ...(needed.length ? { required: needed } : {}), additionalProperties: false };
}

/** The summary a tool was given, trimmed; null when none was (blind transfers). */
export const summaryOf = (args: { summary?: unknown }): string | null => (typeof args.summary === 'string' && args.summary.trim() ? args.summary.trim() : null);
