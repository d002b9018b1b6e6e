/**
 * Who is calling: the account, persona and phone call a request speaks for,
 * fixed for a session or read per request on the stateless path. The HTTP
 * layer reads it from headers (engine/http/call-context.ts); the MCP layer,
 * the dispatcher, tools, call control and the audit trail all speak of it.
 *
 * Shared vocabulary: a leaf that imports nothing, so any part may name it
 * without reaching the parts that produce it.
 */
export interface CallContext {
  accountId: string;
  personaId: string;
  callId: string;
  /** The caller's number as the header gave it, if any. */
  callerIdNumber: string | undefined;
  /** The same number in E.164, when it could be read with the account's default country. */
  callerE164: string | undefined;
  /** Id of the API key the request was authenticated with. */
  keyId: string;
}
