import { resolveSettings, settingFlagOptions, settingsHelp } from '../../config.ts';
import { startServer } from '../../server.ts';
import { parseFlags, print, type Command, EXIT } from '../command.ts';

export const serveCommand: Command = {
  name: 'serve',
  summary: 'Run the MCP server (what npm start runs).',
  usage: `switchboard serve [options]\n\nEvery option can also be set by its environment variable; a flag wins.\n\n${settingsHelp()}`,
  async run(argv, io) {
    const { values } = parseFlags(argv, settingFlagOptions(), false);
    const settings = resolveSettings(values, io.env);
    const server = await startServer({
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

    return new Promise<number>((resolve) => {
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        server.services.log.info({ event: 'signal', signal }, 'shutting down');
        server.close().then(
          () => resolve(EXIT.ok),
          (error: unknown) => {
            server.services.log.error({ err: error }, 'error during shutdown');
            resolve(EXIT.error);
          },
        );
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
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
