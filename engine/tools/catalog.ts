/**
 * A persona's tool catalog, built once per persona version: the global tools
 * it enables (with its description overrides) followed by its custom tools in
 * manifest order, the `tools/list` result ready to send (in the persona's
 * tool-schema profile, every output schema admitting the error object), and
 * a compiled argument check per tool, always against the full schema.
 * Requests only read it.
 */
import { createHash } from 'node:crypto';

import type { Tool } from '@modelcontextprotocol/server';
import type { AccountEntry } from '../manifests/entries.ts';
import type { CustomToolEntry, CustomToolType, GlobalToolName, PersonaManifest } from '../manifests/types.ts';
import { admitErrorObject } from './error-result.ts';
import { DEFAULT_TOOL_SCHEMA_PROFILE, publishedSchema, type ToolSchemaProfile } from './schema-profiles.ts';
import { type CustomToolFactory, ToolBuildProblem, type ToolDefinition } from './types.ts';
import { argumentCheck, type ArgumentCheck } from './validation.ts';

/** The tools Switchboard knows: global ones by name, custom ones by manifest type. */
export interface ToolKinds {
  /** Global tools in the order tools/list shows them. */
  global: ReadonlyMap<string, ToolDefinition>;
  custom: { readonly [T in CustomToolType]?: CustomToolFactory<Extract<CustomToolEntry, { type: T }>> };
}

export interface CompiledTool {
  readonly definition: ToolDefinition;
  readonly checkArguments: ArgumentCheck;
}

/** A tool as `tools/list` shows it. */
export type ListedTool = Tool;

export interface PersonaCatalog {
  readonly tools: ReadonlyMap<string, CompiledTool>;
  /** The `tools/list` result, built once. */
  readonly listResult: { readonly tools: readonly ListedTool[] };
  /** Hash of the list: sessions are notified only when it changes. */
  readonly fingerprint: string;
  readonly schemaProfile: ToolSchemaProfile;
}

function listEntry(definition: ToolDefinition, profile: ToolSchemaProfile): ListedTool {
  return {
    name: definition.name,
    ...(definition.title ? { title: definition.title } : {}),
    description: definition.description,
    inputSchema: publishedSchema(definition.inputSchema, profile) as Tool['inputSchema'],
    ...(definition.outputSchema ? { outputSchema: publishedSchema(admitErrorObject(definition.outputSchema), profile) as Tool['outputSchema'] } : {}),
    annotations: { ...definition.annotations },
  };
}

function enabledGlobalTools(account: AccountEntry, persona: PersonaManifest, kinds: ToolKinds): ToolDefinition[] {
  const chosen: ToolDefinition[] = [];
  for (const [name, tool] of kinds.global) {
    const setting = persona.global_tools?.[name as GlobalToolName];
    if (setting === false || (typeof setting === 'object' && setting.enabled === false)) continue;
    const description = typeof setting === 'object' && setting.description ? setting.description : tool.description;
    const timeoutMs = tool.timeoutFor?.(account, persona) ?? tool.timeoutMs;
    const inputSchema = tool.inputSchemaFor?.(persona) ?? tool.inputSchema;
    const same = description === tool.description && timeoutMs === tool.timeoutMs && inputSchema === tool.inputSchema;
    chosen.push(same ? tool : { ...tool, description, inputSchema, ...(timeoutMs === undefined ? {} : { timeoutMs }) });
  }
  return chosen;
}

/** `defaultProfile` is the server's setting, for a persona whose manifest names no tool_schema_profile. */
export function buildCatalog(account: AccountEntry, persona: PersonaManifest, kinds: ToolKinds, defaultProfile: ToolSchemaProfile = DEFAULT_TOOL_SCHEMA_PROFILE): PersonaCatalog {
  const definitions = enabledGlobalTools(account, persona, kinds);
  (persona.tools ?? []).forEach((entry, index) => {
    const factory = kinds.custom[entry.type] as CustomToolFactory<CustomToolEntry> | undefined;
    if (!factory) throw new ToolBuildProblem(`tool type ${entry.type} is not available in this build`, ['tools', index, 'type']);
    try {
      definitions.push(factory(entry, { account, persona }));
    } catch (error) {
      if (error instanceof ToolBuildProblem) throw new ToolBuildProblem(error.message, ['tools', index, ...error.path]);
      throw error;
    }
  });

  const tools = new Map<string, CompiledTool>();
  for (const definition of definitions) {
    tools.set(definition.name, { definition, checkArguments: argumentCheck(definition.inputSchema) });
  }
  const schemaProfile = persona.tool_schema_profile ?? defaultProfile;
  const listed = definitions.map((definition) => listEntry(definition, schemaProfile));
  const listResult = Object.freeze({ tools: Object.freeze(listed) });
  const fingerprint = createHash('sha256').update(JSON.stringify(listed)).digest('base64url').slice(0, 22);
  return { tools, listResult, fingerprint, schemaProfile };
}
