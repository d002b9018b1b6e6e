// Loaded with `node --import` around the MCP conformance CLI on Node 20.
// The CLI imports `globSync` from 'fs', which only Node >= 22 exports, for a
// subcommand the server scenarios never use. On older Node this resolves that
// import, for the conformance package only, to node:fs plus a globSync that
// throws if it is ever called.
import fs from 'node:fs';
import { register } from 'node:module';

if (typeof fs.globSync !== 'function') {
  const facade =
    'data:text/javascript,' +
    encodeURIComponent(
      "import fs from 'node:fs'; export * from 'node:fs'; export default fs;" +
        "export function globSync() { throw new Error('globSync needs Node 22 or later'); }",
    );
  const hooks =
    'data:text/javascript,' +
    encodeURIComponent(
      `export async function resolve(specifier, context, next) {
        const fromConformance = context.parentURL && context.parentURL.includes('/@modelcontextprotocol/conformance/');
        if (fromConformance && (specifier === 'fs' || specifier === 'node:fs')) return { url: ${JSON.stringify(facade)}, shortCircuit: true };
        return next(specifier, context);
      }`,
    );
  register(hooks);
}
