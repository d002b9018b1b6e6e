import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** The package version, reported as the MCP server version and on /healthz. */
export const VERSION: string = (require('../package.json') as { version: string }).version;
