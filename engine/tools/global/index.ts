/**
 * The seed's six global tools, available to every persona unless its
 * manifest turns one off. Each lives in its own module; the order here is
 * the order of tools/list.
 */
import type { GlobalToolName } from '../../manifests/types.ts';
import type { ToolDefinition } from '../types.ts';
import { checkUserAvailabilityTool } from './check-user-availability.ts';
import { createLeadTool } from './create-lead.ts';
import { hangupCallTool } from './hangup-call.ts';
import { isOfficeOpenTool } from './is-office-open.ts';
import { lookupContactTool } from './lookup-contact.ts';
import { transferCallTool } from './transfer-call.ts';

export const globalTools: ReadonlyMap<GlobalToolName, ToolDefinition> = new Map<GlobalToolName, ToolDefinition>([
  ['transfer_call', transferCallTool as ToolDefinition],
  ['is_office_open', isOfficeOpenTool as ToolDefinition],
  ['lookup_contact', lookupContactTool as ToolDefinition],
  ['check_user_availability', checkUserAvailabilityTool as ToolDefinition],
  ['create_lead', createLeadTool as ToolDefinition],
  ['hangup_call', hangupCallTool as ToolDefinition],
]);
