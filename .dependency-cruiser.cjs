/**
 * Which way imports may point in engine/ (docs/architecture.md, "Which way
 * imports point"), checked by `npm run lint` with dependency-cruiser. Type-only
 * imports count (tsPreCompilationDeps): a cycle through types is still a
 * cycle a reader has to untangle, and it is how the big ones start.
 *
 * From the bottom up: shared vocabulary (engine/vocabulary, leaves that import
 * nothing of the graph) and the other leaves; the domain (calls, contacts,
 * leads, users, audit, observability, outbound, store, cluster, auth, hours);
 * tools; the manifests' loader, which builds each persona's tool catalog; the
 * dispatcher; MCP; the HTTP application; and at the top the assembly
 * (server.ts, capabilities.ts, app-context.ts, services.ts, the CLI, the
 * console). A module may import what is below it, never what is above.
 *
 * `npm run lint:imports` passes when depcruise reports no violation, judged
 * by its summary line rather than its exit status: depcruise exits with the
 * number of errors, and 256 of them would exit 0.
 */
const DOMAIN = '^engine/(calls|contacts|leads|users|audit|observability|outbound|store|cluster|auth|hours)/';
/** The request path and the assembly above the domain and the tools. */
const ABOVE_TOOLS = '^engine/(mcp/|http/app[.]ts$|app-context[.]ts$|services[.]ts$|capabilities[.]ts$|server[.]ts$|cli/|console/)';

module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      comment: 'No import cycles, type-only imports included. Move what both sides speak into a leaf (engine/vocabulary) or hand the lower side a narrow interface or a callback.',
      severity: 'error',
      from: { path: '^engine/' },
      to: { circular: true },
    },
    {
      name: 'vocabulary-is-a-leaf',
      comment: 'engine/vocabulary is what many parts speak: it imports nothing of the graph but itself and the error catalogue (a leaf too).',
      severity: 'error',
      from: { path: '^engine/vocabulary/' },
      to: { path: '^engine/', pathNot: ['^engine/vocabulary/', '^engine/errors[.]ts$'] },
    },
    {
      name: 'tools-never-import-http',
      comment: 'A tool answers a call whatever carried it; what it needs of a request comes in its ToolContext.',
      severity: 'error',
      from: { path: '^engine/tools/' },
      to: { path: '^engine/http/' },
    },
    {
      name: 'tools-below-the-request-path',
      comment: 'Tools are called by the dispatcher and know nothing of MCP, the HTTP application or how the server is assembled (they get ToolServices, not Services).',
      severity: 'error',
      from: { path: '^engine/tools/' },
      to: { path: ABOVE_TOOLS },
    },
    {
      name: 'tools-below-the-manifests',
      comment: 'The loader builds catalogs from tools; tools read what it loaded only through manifests/entries.ts (and the manifest types). The dispatcher, above the loader, reads the snapshot.',
      severity: 'error',
      from: { path: '^engine/tools/', pathNot: '^engine/tools/dispatch[.]ts$' },
      to: { path: '^engine/manifests/', pathNot: '^engine/manifests/(types|entries|problems)[.]ts$' },
    },
    {
      name: 'store-never-imports-tools',
      comment: 'The store engines and the data tools keep do not know who reads them.',
      severity: 'error',
      from: { path: '^engine/store/' },
      to: { path: '^engine/tools/' },
    },
    {
      name: 'manifests-never-import-store',
      comment: 'Manifests are files on disk, read and checked without a database (switchboard validate runs without one).',
      severity: 'error',
      from: { path: '^engine/manifests/' },
      to: { path: '^engine/store/' },
    },
    {
      name: 'manifests-below-the-request-path',
      comment: 'The loader builds catalogs from the tools it is given; it never reaches the dispatcher, MCP, the HTTP application or the assembly.',
      severity: 'error',
      from: { path: '^engine/manifests/' },
      to: { path: [ABOVE_TOOLS, '^engine/tools/dispatch[.]ts$'] },
    },
    {
      name: 'domain-below-tools',
      comment: 'Call control, contacts, leads, users, the audit trail, metrics, outbound HTTP, the store, the cluster, keys and hours are used by tools and routes, never the other way: they speak the shared vocabulary and take narrow interfaces or callbacks. Their admin routes may use the HTTP helpers (body, query, admin-key), not the application.',
      severity: 'error',
      from: { path: DOMAIN },
      to: { path: ['^engine/tools/', '^engine/tools/dispatch[.]ts$', ABOVE_TOOLS] },
    },
    {
      name: 'hours-and-templates-stay-pure',
      comment: 'Office hours and API-tool templates are computed from their inputs alone, with no I/O: they import only their own modules, the manifests types, the error catalogue, luxon and handlebars.',
      severity: 'error',
      from: { path: ['^engine/hours/', '^engine/tools/custom/api-request/templates[.]ts$'] },
      to: {
        pathNot: ['^engine/hours/', '^engine/manifests/types[.]ts$', '^engine/errors[.]ts$', '(^|/)node_modules/(luxon|@types/luxon|handlebars)/'],
      },
    },
    {
      name: 'only-the-server-mounts-the-app',
      comment: 'engine/http/app.ts mounts everything; capabilities hand it their routes (engine/vocabulary/routes.ts) rather than import it.',
      severity: 'error',
      from: { path: '^engine/', pathNot: '^engine/server[.]ts$' },
      to: { path: '^engine/http/app[.]ts$' },
    },
    {
      name: 'app-context-only-for-the-assembly',
      comment: 'The whole AppContext is known to server.ts and capabilities.ts; each capability declares the narrow view it uses.',
      severity: 'error',
      from: { path: '^engine/', pathNot: '^engine/(server|capabilities)[.]ts$' },
      to: { path: '^engine/app-context[.]ts$' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'] },
  },
};
