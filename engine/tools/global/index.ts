/**
 * The seed's six global tools, available to every persona unless its
 * manifest turns one off. Each lives in its own module.
 */
import type { GlobalToolName } from '../../manifests/types.ts';
import type { ToolDefinition } from '../types.ts';
import { checkUserAvailabilityTool } from './check-user-availability.ts';
import { isOfficeOpenTool } from './is-office-open.ts';

export const globalTools: ReadonlyMap<GlobalToolName, ToolDefinition> = new Map<GlobalToolName, ToolDefinition>([
  ['is_office_open', isOfficeOpenTool as ToolDefinition],
  ['check_user_availability', checkUserAvailabilityTool as ToolDefinition],
]);
