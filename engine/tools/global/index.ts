/**
 * The seed's six global tools, available to every persona unless its
 * manifest turns one off. Each lives in its own module; the order here is
 * the order of tools/list.
 */
import type { GlobalToolName } from '../../manifests/types.ts';
import type { ToolDefinition } from '../types.ts';
import { createLeadTool } from './create-lead.ts';
import { hangupCallTool } from './hangup-call.ts';
import { lookupContactTool } from './lookup-contact.ts';
import { transferCallTool } from './transfer-call.ts';

export const globalTools: ReadonlyMap<GlobalToolName, ToolDefinition> = new Map<GlobalToolName, ToolDefinition>([
  ['transfer_call', transferCallTool as ToolDefinition],
  ['lookup_contact', lookupContactTool as ToolDefinition],
  ['create_lead', createLeadTool as ToolDefinition],
  ['hangup_call', hangupCallTool as ToolDefinition],
]);
