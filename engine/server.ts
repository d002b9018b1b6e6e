/**
 * Composition root: reads the files the settings name and binds the port,
 * then opens the store, loads the manifests, wires the MCP endpoint, the
 * admin API and the watcher, and serves. `startServer` is what `switchboard
 * serve` runs and what the tests start on an ephemeral port.
 *
 * What can stop a start is checked before anything is opened: the TLS files
 * and the secrets file, then the port (http/listener.ts). A start that fails
 * later (a data directory it cannot write) gives the port back.
 */
import { setMaxListeners } from 'node:events';
import https from 'node:https';

import { ApiKeyStore } from './auth/api-keys.ts';
import { systemClock, type Clock } from './clock.ts';
import { Cluster, type ClusterTiming } from './cluster/cluster.ts';
import type { ServerSettings } from './config.ts';
import { createApp } from './http/app.ts';
import { AuthFailureLimiter } from './http/auth-failures.ts';
import { isLoopbackAddress } from './http/host-guard.ts';
import { bindListener, type Listener } from './http/listener.ts';
import { LiveNodeCount } from './http/live-nodes.ts';
import { RateLimiter } from './http/rate-limit.ts';
import { createLogger, type Logger } from './logging.ts';
import { Registry } from './manifests/registry.ts';
import { personaKey } from './manifests/entries.ts';
import { watchManifests, type ManifestWatcher } from './manifests/watcher.ts';
import { serverFactory } from './mcp/server-factory.ts';
import { SessionManager } from './mcp/sessions.ts';
import { StatelessHandlers } from './mcp/stateless.ts';
import { SecretStore } from './secrets.ts';
import { missingSecrets } from './secrets-inventory.ts';
import { createServices, type Services } from './services.ts';
import { checkSecretsFile, readTlsFiles } from './startup-files.ts';
import type { AppContext } from './app-context.ts';
import { serverExtensions } from './capabilities.ts';
import { openStore } from './store/open.ts';
import type { ToolKinds } from './tools/catalog.ts';
import { ToolDispatcher } from './tools/dispatch.ts';
import { builtinToolKinds } from './tools/kinds.ts';

export interface StartOptions {
  settings: ServerSettings;
  clock?: Clock;
  logger?: Logger;
  toolKinds?: ToolKinds;
  env?: NodeJS.ProcessEnv;
  /** Watch the manifests directory for changes (default true). */
  watch?: boolean;
  /** Heartbeat and lease timings of this node (tests of failover shorten them). */
  clusterTiming?: ClusterTiming;
  /** Called once with the key made for an empty key table. */
  onBootstrapKey?: (created: { id: string; accountId: string; role: string; key: string }) => void;
}

export interface RunningServer {
  readonly url: string;
  readonly port: number;
  readonly services: Services;
  readonly registry: Registry;
  readonly sessions: SessionManager;
  readonly keys: ApiKeyStore;
  readonly dispatcher: ToolDispatcher;
  readonly context: AppContext;
  /** Re-reads the TLS certificate and key (after a renewal); new connections use them, open ones are kept. */
  reloadTls(): void;
  /** Stops accepting, lets tool calls in flight finish (up to the grace time), closes sessions and the store. */
  close(): Promise<void>;
}

export async function startServer(options: StartOptions): Promise<RunningServer> {
  const { settings } = options;
  const tls = readTlsFiles(settings);
  checkSecretsFile(settings.secretsFile);
  const listener = await bindListener(settings, tls);
  try {
    return await assemble(options, listener);
  } catch (error) {
    await listener.close();
    throw error;
  }
}

async function assemble(options: StartOptions, listener: Listener): Promise<RunningServer> {
  const { settings } = options;
  const clock = options.clock ?? systemClock;
  const log = options.logger ?? createLogger({ level: settings.logLevel });
  const startedAt = Date.now();

  const store = await openStore(settings, (error) => log.warn({ err: error, event: 'store_connection' }, 'database connection trouble'));
  // This node among those sharing the database; a name a live node has stops the start.
  const cluster = await Cluster.join(store, settings.nodeName, log, options.clusterTiming).catch(async (error: unknown) => {
    await store.close();
    throw error;
  });
  const secrets = new SecretStore(options.env ?? process.env, settings.secretsFile, (message) => log.warn({ event: 'secret_short' }, message));
  const services: Services = createServices({ store, clock, log, secrets, settings, cluster });
  const keys = new ApiKeyStore(store, clock);

  const registry = new Registry(settings.personasDir, options.toolKinds ?? builtinToolKinds, clock, log, settings.toolSchemaProfile);
  await registry.reload();

  const first = [...registry.current().accounts.keys()].sort()[0];
  // Made only while the key table is empty: of several nodes starting on one new database, one makes it.
  const bootstrap = first ? await keys.createFirst({ accountId: first, role: 'mcp', name: 'bootstrap' }) : undefined;
  if (bootstrap) {
    const { record, key } = bootstrap;
    log.info({ event: 'bootstrap_key_created', keyId: record.id, account: record.accountId }, 'created the first API key');
    options.onBootstrapKey?.({ id: record.id, accountId: record.accountId, role: record.role, key });
  }

  const shutdown = new AbortController();
  // Every running tool call listens on this one signal: many at once is normal, not a leak.
  setMaxListeners(0, shutdown.signal);
  // Every call is recorded in the audit trail and counted in the metrics on its way back (ToolDispatcher.afterCall).
  const dispatcher = new ToolDispatcher({ registry, services, log, audit: services.audit, metrics: services.metrics, shutdownSignal: shutdown.signal });
  const createServer = serverFactory(dispatcher);
  // The shares of sessions and the key's rate are the cluster's: each node allows its part of them.
  const live = new LiveNodeCount(async () => (await cluster.liveNodes()).length, cluster.timing.heartbeatMs, log);
  await live.start();
  const liveNodes = (): number => live.get();
  const sessions = new SessionManager(
    createServer,
    {
      maxSessions: settings.maxSessions,
      maxPerAccount: settings.maxSessionsPerAccount,
      maxPerKey: settings.maxSessionsPerKey,
      idleMs: settings.sessionIdleSeconds * 1000,
      unusedMs: settings.sessionUnusedSeconds * 1000,
    },
    clock,
    log,
    { name: settings.nodeName, liveNodes },
  );
  sessions.startSweeping();
  const stateless = new StatelessHandlers(createServer, settings.bodyLimitBytes, log);

  registry.on('reload', (report) => {
    const changed = new Set(report.changed);
    if (changed.size) {
      sessions.notifyToolsChanged(changed, (call) => personaKey(call.accountId, call.personaId));
      stateless.notifyToolsChanged(changed);
    }
    if (report.removed.length) {
      // Sessions of a removed persona stay open: their next call gets a clear error.
      sessions.notifyToolsChanged(new Set(report.removed), (call) => personaKey(call.accountId, call.personaId));
      void stateless.remove(report.removed);
    }
  });

  let watcher: ManifestWatcher | undefined;
  if (options.watch ?? true) watcher = await watchManifests(settings.personasDir, registry, settings.reloadDebounceMs, log);

  const authFailures = new AuthFailureLimiter(settings.authFailureLimit, clock, (address) =>
    log.warn({ event: 'auth_throttled', address }, `${settings.authFailureLimit} failed authentications within a minute from ${address}: its unknown keys get 429 until the count refills`),
  );
  const context: AppContext = { settings, services, registry, sessions, stateless, dispatcher, authFailures };
  const extensions = serverExtensions(context);
  for (const job of extensions.jobs) job.start();

  let accepting = true;
  const app = createApp({
    log,
    keys,
    registry,
    sessions,
    stateless,
    rateLimiter: new RateLimiter(settings.rateLimitPerSecond, clock, liveNodes),
    authFailures,
    accepting: () => accepting,
    store,
    metricsToken: settings.metricsToken,
    minFreeDiskBytes: settings.minFreeDiskMb * 1024 * 1024,
    startedAt,
    bindHost: settings.host,
    allowedHosts: settings.allowedHosts,
    allowedOrigins: settings.allowedOrigins,
    bodyLimitBytes: settings.bodyLimitBytes,
    adminRoutes: extensions.adminRoutes,
    rootRoutes: extensions.rootRoutes,
    rawBodyRoutes: extensions.rawBodyRoutes,
    callControl: () => services.calls.drivers.health(),
    missingSecrets: () => missingSecrets(registry.current(), secrets),
    firstMiddleware: extensions.firstMiddleware,
  });

  const { server, port, url } = listener;
  const reloadTls = () => {
    const renewed = readTlsFiles(settings);
    if (renewed && server instanceof https.Server) {
      server.setSecureContext(renewed);
      log.info({ event: 'tls_reloaded' }, 'TLS certificate reloaded');
    }
  };
  listener.serve(app);
  if (!listener.tls && !isLoopbackAddress(settings.host)) {
    log.warn({ event: 'plain_http_public' }, `serving plain HTTP on ${settings.host}: API keys cross the network in clear text; use --tls-cert/--tls-key or a TLS proxy`);
  }
  if (!isLoopbackAddress(settings.host) && settings.allowedHosts.length === 0) {
    log.warn({ event: 'no_allowed_hosts' }, 'no --allowed-hosts given: every Host header is accepted (no DNS-rebinding protection)');
  }
  log.info({ event: 'listening', url, mcp: `${url}/ucp/v2/mcp` }, 'switchboard listening');

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      accepting = false;
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      const deadline = Date.now() + settings.shutdownGraceSeconds * 1000;
      while (dispatcher.inFlight > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
      shutdown.abort();
      await Promise.all(extensions.jobs.map((job) => job.stop()));
      await watcher?.close();
      await sessions.closeAll('shutdown');
      await stateless.closeAll();
      server.closeAllConnections();
      await stopped;
      await keys.flushLastUse();
      // Rows of calls that ended after the audit writer stopped, and writes of its still under way.
      await services.audit.close();
      // What this node's leases guarded has stopped with the jobs: the leases go, and the node leaves.
      live.stop();
      await cluster.leave();
      await store.close();
      log.info({ event: 'stopped' }, 'switchboard stopped');
    })();
    return closing;
  };

  return { url, port, services, registry, sessions, keys, dispatcher, context, reloadTls, close };
}
