/**
 * The tool plug-in interface. A tool is a name, a description, a JSON Schema
 * of its arguments (and of its result, where that helps), honest annotations
 * and a handler of (context, arguments). Global tools are written in code;
 * custom tools are made by factories from manifest entries. Both end up as the
 * same `ToolDefinition` in a persona's catalog.
 *
 * A handler returns a short text for the model plus the same facts as data.
 * It reports a failure the model can act on by throwing a `SwitchboardError`
 * (TOOL_* codes): its message becomes the tool's error text and its details
 * the structured content. Anything else thrown is logged and answered with a
 * generic "try again" text, never a stack trace.
 */
import type { CallControl } from '../calls/control.ts';
import type { Clock } from '../clock.ts';
import type { ContactStore } from '../contacts/store.ts';
import type { LeadStore } from '../leads/store.ts';
import type { Logger } from '../logging.ts';
import type { AccountEntry, LoadedPersona } from '../manifests/entries.ts';
import type { PersonaManifest } from '../manifests/types.ts';
import type { OutboundClient } from '../outbound/client.ts';
import type { SecretSource } from '../secrets.ts';
import type { DndStore } from '../users/dnd-store.ts';
import type { CallContext } from '../vocabulary/call-context.ts';
import type { ToolOutcome } from '../vocabulary/tool-calls.ts';

export type { CallContext } from '../vocabulary/call-context.ts';
export type { ToolOutcome } from '../vocabulary/tool-calls.ts';

export type JsonSchema = Record<string, unknown>;

export interface ToolAnnotations {
  title?: string;
  readOnlyHint?: boolean;
  destructiveHint?: boolean;
  idempotentHint?: boolean;
  openWorldHint?: boolean;
}

/**
 * What a tool may use of the server: the stores and clients tools work with,
 * and the clock. Nothing else of the process (its settings, the metrics, the
 * audit trail, the database itself) is within a tool's reach; the
 * dispatcher records and counts every call itself.
 */
export interface ToolServices {
  clock: Clock;
  /** Transfers and hang-ups, through the account's phone system. */
  calls: CallControl;
  dnd: DndStore;
  leads: LeadStore;
  contacts: ContactStore;
  /** Secrets by name; every value handed out is masked wherever it could leave. */
  secrets: SecretSource;
  /** The one HTTP client for other systems, with the SSRF guard. */
  outbound: OutboundClient;
}

export interface ToolContext {
  call: CallContext;
  account: AccountEntry;
  /** The persona as its file says (its catalog is the dispatcher's business). */
  persona: LoadedPersona;
  services: ToolServices;
  /** Aborted when the client cancels, the call's deadline passes, or the server shuts down. */
  signal: AbortSignal;
  log: Logger;
  /**
   * Secret values this call used: they are masked wherever the call is
   * recorded (audit trail, logs of the call), whatever the model sent back.
   */
  noteSecrets(values: readonly string[]): void;
  /**
   * Tells the client the call is still at work (an MCP progress notification),
   * when the client asked for progress; otherwise does nothing. For tools
   * that wait on the world, such as a transfer that rings.
   */
  progress(message: string): void;
}

export interface ToolDefinition<Args = Record<string, unknown>> {
  name: string;
  title?: string;
  description: string;
  inputSchema: JsonSchema;
  outputSchema?: JsonSchema;
  annotations: ToolAnnotations;
  /** Longest a call may run before it is answered with a time-out (default 15 s). */
  timeoutMs?: number;
  /** A persona's own limit, where its manifest changes how long the tool may take (a transfer's ring time). */
  timeoutFor?(account: AccountEntry, persona: PersonaManifest): number;
  /** A persona's own arguments, where its manifest changes them (a warm transfer requires a summary). */
  inputSchemaFor?(persona: PersonaManifest): JsonSchema;
  /** Argument names whose values are masked in logs and the audit trail. */
  sensitiveArguments?: readonly string[];
  handler(context: ToolContext, args: Args): Promise<ToolOutcome>;
}

/** Where a custom tool's factory reports a manifest problem: a path inside the tool entry. */
export class ToolBuildProblem extends Error {
  constructor(
    message: string,
    readonly path: readonly (string | number)[] = [],
  ) {
    super(message);
    this.name = 'ToolBuildProblem';
  }
}

export interface ToolBuildScope {
  account: AccountEntry;
  /** The persona manifest being built (its catalog does not exist yet). */
  persona: PersonaManifest;
}

/**
 * Makes a tool from a manifest entry, once per persona version. Throws
 * `ToolBuildProblem` for what the schema could not check (an unknown user,
 * a placeholder that names no variable); the manifest is then invalid.
 */
export type CustomToolFactory<Entry> = (entry: Entry, scope: ToolBuildScope) => ToolDefinition;
