/**
 * The seed's six global tools, available to every persona unless its
 * manifest turns one off. Each lives in its own module.
 */
import type { GlobalToolName } from '../../manifests/types.ts';
import type { ToolDefinition } from '../types.ts';
import { createLeadTool } from './create-lead.ts';
import { lookupContactTool } from './lookup-contact.ts';

export const globalTools: ReadonlyMap<GlobalToolName, ToolDefinition> = new Map<GlobalToolName, ToolDefinition>([
  ['lookup_contact', lookupContactTool as ToolDefinition],
  ['create_lead', createLeadTool as ToolDefinition],
]);
