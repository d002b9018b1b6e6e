/**
 * `switchboard serve`: the server as an operator runs it, with the process's
 * signals: SIGTERM/SIGINT a graceful shutdown (a repeat ignored, a third
 * immediate), SIGHUP a reload of manifests, secrets and certificate.
 *
 * What it prints depends on who reads it (--log-format): on an interactive
 * terminal a first screen (first-screen.ts) and short log lines; for
 * journald, files and pipes JSON lines, with the first key printed apart
 * from them. A start that fails says why in one sentence and exits 3
 * (EXIT.notStarted).
 */
import os from 'node:os';

import { databaseFile, resolveSettings, settingFlagOptions, type ServerSettings } from '../../config.ts';
import { isSwitchboardError } from '../../errors.ts';
import { createLogger, type Logger } from '../../logging.ts';
import { describeUser, formatMissing, missingSecrets } from '../../secrets-inventory.ts';
import { startServer, type RunningServer } from '../../server.ts';
import { storageFailure } from '../../store/storage-errors.ts';
import { type CliIO, EXIT, parseFlags, print } from '../command.ts';
import { firstScreen, firstScreenFacts, noAccountsAdvice, type CreatedKey } from '../first-screen.ts';
import { PrettyLog } from '../pretty-log.ts';

/** Log events the first screen says itself: held back from the pretty log. */
const ON_FIRST_SCREEN = new Set(['manifest_invalid', 'manifest_warning']);

const printKeyBlock = (io: CliIO, { id, accountId, role, key }: CreatedKey) =>
  // Printed once, outside the JSON log, which must never hold a key.
  print(
    io.stdout,
    [
      '',
      'No API keys existed, so one was created. It is shown only now; store it:',
      `  account: ${accountId}   role: ${role}   id: ${id}`,
      `  key:     ${key}`,
      'Create more with: npx switchboard keys create --account <id> [--role mcp|admin]',
      '',
    ].join('\n'),
  );

/** Pretty on an interactive terminal unless told otherwise. */
const prettyLog = (settings: ServerSettings, io: CliIO): boolean => settings.logFormat === 'pretty' || (settings.logFormat === 'auto' && (io.stdout as { isTTY?: boolean }).isTTY === true);

/** What the JSON log says at start of what does not work yet; the first screen says it on a terminal. */
function logStartProblems(server: RunningServer, settings: ServerSettings, log: Logger): void {
  const snapshot = server.registry.current();
  if (!snapshot.accounts.size) log.warn({ event: 'no_accounts', personas: settings.personasDir }, noAccountsAdvice(settings.personasDir, snapshot.problems));
  for (const entry of missingSecrets(snapshot, server.services.secrets)) {
    log.warn({ event: 'secret_not_set', account: entry.account, names: entry.missing, used_by: describeUser(entry.user), file: entry.file }, formatMissing(entry));
  }
}

export async function run(argv: string[], io: CliIO): Promise<number> {
  const { values } = parseFlags(argv, settingFlagOptions(), false);
  const settings = resolveSettings(values, io.env, io.cwd);
  const pretty = prettyLog(settings, io) ? new PrettyLog(io.stdout) : undefined;
  // The log goes to io.stdout; the process's own stdout is left to the logger's asynchronous writer (logging.ts).
  const destination = pretty ?? (io.stdout === process.stdout ? undefined : io.stdout);
  let created: CreatedKey | undefined;
  let server: RunningServer;
  try {
    server = await startServer({
      settings,
      env: io.env,
      ...(destination ? { logger: createLogger({ level: settings.logLevel, destination }) } : {}),
      onBootstrapKey: (key) => {
        created = key;
        if (!pretty) printKeyBlock(io, key);
      },
    });
  } catch (error) {
    pretty?.release();
    // The port, the TLS or secrets file, a data directory it cannot write (read-only, a full disk):
    // one sentence naming what and what to do, not a stack.
    const known = isSwitchboardError(error) ? error : storageFailure(error, databaseFile(settings.dataDir));
    if (!known) throw error;
    print(io.stderr, `switchboard serve: ${known.message}`);
    return EXIT.notStarted;
  }
  if (pretty) {
    print(io.stdout, firstScreen(firstScreenFacts(server, settings.personasDir, created, io.cwd)));
    pretty.release(ON_FIRST_SCREEN);
  } else {
    logStartProblems(server, settings, server.services.log);
  }

  return new Promise<number>((resolve) => {
    // SIGTERM or SIGINT starts the graceful shutdown. Another one during the grace period is
    // ignored: supervisors and impatient operators send a second, and dying then would cut off
    // the tool calls still finishing (a transfer the phone system is ringing, a lead being
    // written). The third ends the process at once, as SIGKILL always does.
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      signals += 1;
      const { log } = server.services;
      if (signals === 1) {
        log.info({ event: 'signal', signal }, 'shutting down');
        server.close().then(
          () => resolve(EXIT.ok),
          (error: unknown) => {
            log.error({ err: error }, 'error during shutdown');
            resolve(EXIT.error);
          },
        );
      } else if (signals === 2) {
        log.warn({ event: 'signal_ignored', signal }, `${signal} again while shutting down: ignored so that tool calls in flight can finish; a third one stops at once`);
      } else {
        log.error({ event: 'forced_stop', signal }, `${signal} a third time: stopping at once, tool calls in flight are cut off`);
        process.exit(128 + (os.constants.signals[signal] ?? 15));
      }
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    process.on('SIGHUP', () => {
      server.services.log.info({ event: 'signal', signal: 'SIGHUP' }, 'reloading manifests, secrets and the TLS certificate');
      try {
        server.services.secrets.reload();
      } catch (error) {
        server.services.log.error({ err: error }, 'secrets file reload failed; keeping the previous secrets');
      }
      try {
        server.reloadTls();
      } catch (error) {
        server.services.log.error({ err: error }, 'TLS certificate reload failed; keeping the previous certificate');
      }
      void server.registry.reload();
    });
  });
}
