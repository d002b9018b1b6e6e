/**
 * The one error catalogue of Switchboard.
 *
 * Every failure the server reports has a stable code here, and each code knows
 * how it surfaces at every boundary: the HTTP status for the admin API and for
 * requests refused before MCP, the JSON-RPC error code for protocol errors, and
 * whether a tool call should be retried. Handlers throw `SwitchboardError`;
 * the HTTP layer, the MCP layer and the CLI translate it. Nothing else decides
 * a status code.
 */

export interface ErrorSpec {
  /** HTTP status when the error ends an HTTP request. */
  readonly status: number;
  /** JSON-RPC error code when the error ends a JSON-RPC request. */
  readonly rpc: number;
  /** Whether the same request may succeed if tried again later. */
  readonly retryable: boolean;
}

/** JSON-RPC codes used by Switchboard beyond the spec's standard ones. */
export const RPC = {
  parseError: -32700,
  invalidRequest: -32600,
  methodNotFound: -32601,
  invalidParams: -32602,
  internal: -32603,
  serverError: -32000,
  sessionNotFound: -32001,
  unauthorized: -32010,
  forbidden: -32011,
  rateLimited: -32012,
  overloaded: -32013,
  unknownContext: -32014,
} as const;

const spec = (status: number, rpc: number, retryable = false): ErrorSpec => ({ status, rpc, retryable });

export const catalogue = {
  // Requests refused before they reach MCP.
  AUTH_KEY_MISSING: spec(401, RPC.unauthorized),
  AUTH_KEY_INVALID: spec(401, RPC.unauthorized),
  AUTH_WRONG_ACCOUNT: spec(403, RPC.forbidden),
  AUTH_ROLE: spec(403, RPC.forbidden),
  CONTEXT_HEADER_MISSING: spec(400, RPC.invalidRequest),
  CONTEXT_HEADER_INVALID: spec(400, RPC.invalidRequest),
  UNKNOWN_ACCOUNT: spec(404, RPC.unknownContext),
  UNKNOWN_PERSONA: spec(404, RPC.unknownContext),
  SESSION_NOT_FOUND: spec(404, RPC.sessionNotFound),
  SESSION_REQUIRED: spec(400, RPC.serverError),
  SESSION_BINDING: spec(403, RPC.forbidden),
  /** The server holds --max-sessions sessions: it is full for everyone. */
  SESSION_LIMIT: spec(503, RPC.overloaded, true),
  /** An account or an API key holds its share of the session table; other accounts are still served. */
  SESSION_QUOTA: spec(429, RPC.rateLimited, true),
  RATE_LIMITED: spec(429, RPC.rateLimited, true),
  BODY_TOO_LARGE: spec(413, RPC.invalidRequest),
  BODY_INVALID_JSON: spec(400, RPC.parseError),
  BODY_TOO_DEEP: spec(400, RPC.invalidRequest),
  /** A legacy SSE POST whose JSON is not one JSON-RPC message, or a batch where the protocol revision has none. */
  MESSAGE_INVALID: spec(400, RPC.invalidRequest),
  /** The client stopped sending its request (it went away, or took longer than --request-timeout-seconds): nobody is left to answer. */
  REQUEST_ABORTED: spec(400, RPC.invalidRequest),
  HOST_NOT_ALLOWED: spec(403, RPC.forbidden),
  ORIGIN_NOT_ALLOWED: spec(403, RPC.forbidden),
  SHUTTING_DOWN: spec(503, RPC.overloaded, true),
  /** The port is bound but the server is still opening its database and manifests (a moment at start). */
  STARTING: spec(503, RPC.overloaded, true),
  NOT_FOUND: spec(404, RPC.methodNotFound),
  METHOD_NOT_ALLOWED: spec(405, RPC.methodNotFound),
  BAD_REQUEST: spec(400, RPC.invalidParams),
  CONFLICT: spec(409, RPC.invalidParams),
  METRICS_TOKEN_REQUIRED: spec(403, RPC.forbidden),

  // Tool calls: reported as tool results with isError, never as stack traces.
  TOOL_UNKNOWN: spec(404, RPC.invalidParams),
  TOOL_ARGUMENTS: spec(400, RPC.invalidParams),
  TOOL_REFUSED: spec(403, RPC.invalidParams),
  TOOL_NOT_FOUND: spec(404, RPC.invalidParams),
  TOOL_UPSTREAM: spec(502, RPC.internal, true),
  /** The upstream answered, but with something unusable (too large, wrong format): trying again gets the same. */
  TOOL_UPSTREAM_INVALID: spec(502, RPC.internal),
  TOOL_TIMEOUT: spec(504, RPC.internal, true),
  CALL_ENDED: spec(409, RPC.invalidParams),
  PERSONA_REMOVED: spec(410, RPC.unknownContext),

  // Configuration and manifests.
  CONFIG_INVALID: spec(500, RPC.internal),
  /** serve cannot bind its address: the port is taken or privileged, or the host is not this machine's. */
  LISTEN_FAILED: spec(500, RPC.internal),
  /** The database cannot be opened or written: a read-only data directory, a full disk, a failing disk, a file that is not a database. */
  STORE_UNWRITABLE: spec(503, RPC.internal, true),
  /** The database server cannot be reached (a failover, a restart, the network): trying again shortly can help. */
  STORE_UNAVAILABLE: spec(503, RPC.overloaded, true),
  MANIFEST_INVALID: spec(422, RPC.invalidParams),
  SECRET_MISSING: spec(500, RPC.internal),

  INTERNAL: spec(500, RPC.internal, true),
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof catalogue;

export interface SwitchboardErrorOptions {
  /** Facts safe to show to the client (never secrets, never upstream bodies beyond a cap). */
  details?: Record<string, unknown>;
  /** Seconds after which a retry makes sense (429, 503). */
  retryAfter?: number;
  cause?: unknown;
}

/**
 * An error with a code from the catalogue. `message` is written for the one
 * who reads it: the integrator for HTTP errors, the voice agent's model for
 * tool errors (what went wrong and what to do next).
 */
export class SwitchboardError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;
  readonly retryAfter: number | undefined;

  constructor(code: ErrorCode, message: string, options: SwitchboardErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SwitchboardError';
    this.code = code;
    this.details = options.details;
    this.retryAfter = options.retryAfter;
  }

  get status(): number {
    return catalogue[this.code].status;
  }

  get rpcCode(): number {
    return catalogue[this.code].rpc;
  }

  get retryable(): boolean {
    return catalogue[this.code].retryable;
  }
}

export const isSwitchboardError = (value: unknown): value is SwitchboardError => value instanceof SwitchboardError;

/** The JSON body of an HTTP error answer on the admin API. */
export function errorBody(error: SwitchboardError): { error: { code: ErrorCode; message: string; details?: Record<string, unknown> } } {
  return { error: { code: error.code, message: error.message, ...(error.details ? { details: error.details } : {}) } };
}

/** The JSON-RPC error envelope for a request refused at the HTTP layer. */
export function jsonRpcErrorBody(error: SwitchboardError, id: string | number | null = null) {
  return {
    jsonrpc: '2.0' as const,
    error: { code: error.rpcCode, message: error.message, data: { code: error.code, ...(error.details ?? {}) } },
    id,
  };
}
