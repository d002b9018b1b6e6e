/**
 * Factories of the custom tool types a persona manifest can declare.
 */
import type { ToolKinds } from '../catalog.ts';

export const customToolFactories: ToolKinds['custom'] = {};
