/**
 * Factories of the custom tool types a persona manifest can declare.
 */
import type { ToolKinds } from '../catalog.ts';
import { apiRequestFactory } from './api-request/tool.ts';

export const customToolFactories: ToolKinds['custom'] = {
  api_request: apiRequestFactory,
};
