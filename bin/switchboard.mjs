#!/usr/bin/env node
// Entry point of the `switchboard` command. The engine is TypeScript run
// through tsx's loader, so a checkout works right after `npm ci` with no
// build step and the code that runs is always the code in the tree.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../engine/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
