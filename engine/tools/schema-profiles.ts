/**
 * Tool-schema profiles: how a persona's tool schemas are published in
 * `tools/list`. Clients turn them into a model's function declarations, and
 * the converters disagree about JSON Schema:
 * - `full` (the default) publishes the schemas as the server checks them,
 *   `additionalProperties: false` included. OpenAI's strict function schemas
 *   need exactly that (the Agents SDK's strict conversion refuses an open
 *   object with no properties), and most clients pass it through.
 * - `portable` leaves out `additionalProperties`: google-genai for Python
 *   (2.x) crashes on `additionalProperties: false` ("'bool' object has no
 *   attribute 'items'") when it turns MCP tools into Gemini declarations, and
 *   Gemini's OpenAPI-subset `parameters` has no such field. Everything else
 *   the server publishes (types, enum, pattern, lengths, bounds, default,
 *   description) passes that converter; it drops the lengths itself.
 * Arguments are checked against the full schema whatever the profile, so an
 * undeclared argument is refused either way (engine/tools/validation.ts).
 *
 * A leaf module (the settings table names the profiles too), so it imports nothing.
 */
type JsonSchema = Record<string, unknown>;

export const TOOL_SCHEMA_PROFILES = ['full', 'portable'] as const;
export type ToolSchemaProfile = (typeof TOOL_SCHEMA_PROFILES)[number];
export const DEFAULT_TOOL_SCHEMA_PROFILE: ToolSchemaProfile = 'full';

/** The schema without `additionalProperties`, at every level; a property of that name keeps its place. */
function withoutAdditionalProperties(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(withoutAdditionalProperties);
  if (!schema || typeof schema !== 'object') return schema;
  const entries = Object.entries(schema).filter(([key]) => key !== 'additionalProperties');
  return Object.fromEntries(
    entries.map(([key, inner]) => [
      key,
      key === 'properties' && inner && typeof inner === 'object'
        ? Object.fromEntries(Object.entries(inner).map(([name, property]) => [name, withoutAdditionalProperties(property)]))
        : key === 'enum' || key === 'default' || key === 'required'
          ? inner
          : withoutAdditionalProperties(inner),
    ]),
  );
}

/** A schema as the profile publishes it; the full one is returned as it is. */
export function publishedSchema(schema: JsonSchema, profile: ToolSchemaProfile): JsonSchema {
  return profile === 'portable' ? (withoutAdditionalProperties(schema) as JsonSchema) : schema;
}
