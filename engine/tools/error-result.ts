/**
 * The one shape of a tool error, and the rule that keeps it readable by every
 * MCP client: an error result is `isError: true`, the sentence for the model
 * as text, and `structuredContent: {error: {code, message, retryable, …}}`;
 * and every output schema that a tool publishes admits that error object.
 *
 * Why both halves: clients built on the v1 TypeScript SDK (the Inspector CLI,
 * @google/genai's mcpToTool, mcp-remote, most Node voice bridges) check
 * structuredContent against the tool's outputSchema even on error results,
 * and throw instead of showing the text when it does not match. Dropping
 * structuredContent from errors would satisfy them too, but it would take
 * the error code, `retryable` and an API's `http_status` from the clients
 * and operators that read them (docs/api-tools.md documents them). So the
 * published schema says what the server really sends: the tool's own result,
 * or the error object.
 */
import type { ErrorCode } from '../errors.ts';

type JsonSchema = Record<string, unknown>;

export interface ToolCallResult {
  [key: string]: unknown;
  content: { type: 'text'; text: string }[];
  structuredContent?: Record<string, unknown>;
  isError?: boolean;
}

/** The error object of an error result's structuredContent, as every output schema admits it. */
export const TOOL_ERROR_SCHEMA: JsonSchema = Object.freeze({
  type: 'object',
  description: 'Only in error results (isError: true): what went wrong. The text content says the same for the model.',
  properties: {
    code: { type: 'string', description: 'Error code, e.g. TOOL_ARGUMENTS, TOOL_REFUSED, TOOL_UPSTREAM, TOOL_TIMEOUT.' },
    message: { type: 'string', description: 'The same sentence as the text content.' },
    retryable: { type: 'boolean', description: 'Whether calling again may succeed.' },
  },
  required: ['code', 'message', 'retryable'],
});

export function errorResult(text: string, code: ErrorCode, details?: Record<string, unknown>, retryable = false): ToolCallResult {
  return {
    content: [{ type: 'text', text }],
    structuredContent: { error: { code, message: text, retryable, ...(details ?? {}) } },
    isError: true,
  };
}

/**
 * A tool's output schema widened to admit error results: either the tool's
 * own required fields, or `error`. Success results are checked exactly as
 * before; the only addition is the alternative.
 */
export function admitErrorObject(outputSchema: JsonSchema): JsonSchema {
  const { required, properties, ...rest } = outputSchema;
  return {
    ...rest,
    type: 'object',
    properties: { ...(properties as Record<string, unknown> | undefined), error: TOOL_ERROR_SCHEMA },
    anyOf: [{ required: Array.isArray(required) ? required : [] }, { required: ['error'] }],
  };
}
