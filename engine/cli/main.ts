/**
 * `switchboard <command>`: the one entry point for operators and persona
 * authors. Each command lives in its own module under commands/.
 */
import { isSwitchboardError } from '../errors.ts';
import { storageFailure } from '../store/storage-errors.ts';
import { cliDatabaseFile, print, type CliIO, type Command, EXIT } from './command.ts';
import { auditCommand } from './commands/audit.ts';
import { backupCommand } from './commands/backup.ts';
import { contactsCommand } from './commands/contacts.ts';
import { dndCommand } from './commands/dnd.ts';
import { keysCommand } from './commands/keys.ts';
import { leadsCommand } from './commands/leads.ts';
import { migrateCommand } from './commands/migrate.ts';
import { officeHoursCommand } from './commands/office-hours.ts';
import { serveCommand } from './commands/serve.ts';
import { statusCommand } from './commands/status.ts';
import { tryCommand } from './commands/try.ts';
import { validateCommand } from './commands/validate.ts';

export const commands: Command[] = [
  serveCommand,
  validateCommand,
  statusCommand,
  keysCommand,
  officeHoursCommand,
  dndCommand,
  leadsCommand,
  contactsCommand,
  tryCommand,
  auditCommand,
  backupCommand,
  migrateCommand,
];

function usage(): string {
  const width = Math.max(...commands.map((command) => command.name.length));
  return [
    'Usage: switchboard <command> [options]',
    '',
    'Commands:',
    ...commands.map((command) => `  ${command.name.padEnd(width)}  ${command.summary}`),
    '',
    'Run "switchboard <command> --help" for the options of a command.',
  ].join('\n');
}

export async function main(argv: string[], io: CliIO = { stdout: process.stdout, stderr: process.stderr, env: process.env }): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    print(name ? io.stdout : io.stderr, usage());
    return name ? EXIT.ok : EXIT.error;
  }
  const command = commands.find((candidate) => candidate.name === name);
  if (!command) {
    print(io.stderr, `Unknown command "${name}".\n\n${usage()}`);
    return EXIT.error;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    print(io.stdout, `${command.summary}\n\nUsage: ${command.usage}`);
    return EXIT.ok;
  }
  try {
    return await command.run(rest, io);
  } catch (error) {
    // A write that failed on the disk (read-only, full) after the database was opened: said, not a stack.
    const file = cliDatabaseFile();
    const known = isSwitchboardError(error) ? error : file ? storageFailure(error, file) : undefined;
    if (known) {
      print(io.stderr, `switchboard ${name}: ${known.message}`);
      return EXIT.error;
    }
    throw error;
  }
}
