/**
 * `switchboard serve`: the server as an operator runs it, with the process's
 * signals: SIGTERM/SIGINT a graceful shutdown (a repeat ignored, a third
 * immediate), SIGHUP a reload of manifests, secrets and certificate.
 */
import os from 'node:os';

import { databaseFile, resolveSettings, settingFlagOptions, settingsHelp } from '../../config.ts';
import { startServer, type RunningServer } from '../../server.ts';
import { storageFailure } from '../../store/storage-errors.ts';
import { parseFlags, print, type Command, EXIT } from '../command.ts';

export const serveCommand: Command = {
  name: 'serve',
  summary: 'Run the MCP server (what npm start runs).',
  usage: `switchboard serve [options]\n\nEvery option can also be set by its environment variable; a flag wins.\n\n${settingsHelp()}`,
  async run(argv, io) {
    const { values } = parseFlags(argv, settingFlagOptions(), false);
    const settings = resolveSettings(values, io.env);
    let server: RunningServer;
    try {
      server = await startServer({
        settings,
        env: io.env,
        onBootstrapKey: ({ id, accountId, role, key }) => {
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
        },
      });
    } catch (error) {
      // A data directory it cannot write (read-only, a full disk): said naming the file, not a SqliteError stack.
      throw storageFailure(error, databaseFile(settings.dataDir)) ?? error;
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
  },
};
