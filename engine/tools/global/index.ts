/**
 * The seed's six global tools, available to every persona unless its
 * manifest turns one off. Each lives in its own module.
 */
import type { GlobalToolName } from '../../manifests/types.ts';
import type { ToolDefinition } from '../types.ts';
import { hangupCallTool } from './hangup-call.ts';
import { transferCallTool } from './transfer-call.ts';

export const globalTools: ReadonlyMap<GlobalToolName, ToolDefinition> = new Map<GlobalToolName, ToolDefinition>([
  ['transfer_call', transferCallTool as ToolDefinition],
  ['hangup_call', hangupCallTool as ToolDefinition],
]);
