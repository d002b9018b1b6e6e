/**
 * Factories of the custom tool types a persona manifest can declare.
 */
import type { ToolKinds } from '../catalog.ts';
import { apiRequestFactory } from './api-request/tool.ts';
import { transferToQueueFactory } from './transfer-to-queue.ts';
import { transferToUserFactory } from './transfer-to-user.ts';

export const customToolFactories: ToolKinds['custom'] = {
  transfer_to_user: transferToUserFactory,
  transfer_to_queue: transferToQueueFactory,
  api_request: apiRequestFactory,
};
