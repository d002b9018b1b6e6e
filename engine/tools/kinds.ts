import type { ToolKinds } from './catalog.ts';
import { customToolFactories } from './custom/index.ts';
import { globalTools } from './global/index.ts';

/** Every tool this build of Switchboard offers. */
export const builtinToolKinds: ToolKinds = { global: globalTools, custom: customToolFactories };
