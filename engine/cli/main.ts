/**
 * `switchboard <command>`: the one entry point for operators and persona
 * authors. Each command's code lives in its own module under commands/ and
 * is loaded only when that command runs: `switchboard status` does not load
 * the server, and `--help` loads nothing but this table.
 */
import { settingsHelp } from '../config.ts';
import { isSwitchboardError } from '../errors.ts';
import { storageFailure } from '../store/storage-errors.ts';
import { cliDatabaseFile, EXIT, print, processIO, type CliIO, type CommandRun } from './command.ts';

export interface CommandEntry {
  name: string;
  /** One line, for `switchboard --help`. */
  summary: string;
  /** For `switchboard <command> --help`; a function when it is built from another table (serve's settings). */
  usage: string | (() => string);
  load(): Promise<{ run: CommandRun }>;
}

export const commands: readonly CommandEntry[] = [
  {
    name: 'serve',
    summary: 'Run the MCP server (what npm start runs).',
    usage: () => `switchboard serve [options]\n\nEvery option can also be set by its environment variable; a flag wins.\n\n${settingsHelp()}`,
    load: () => import('./commands/serve.ts'),
  },
  {
    name: 'validate',
    summary: 'Check account and persona manifests; exit 1 with every problem found (warnings too with --strict).',
    usage: [
      'switchboard validate [DIR] [--format text|json|github] [--strict] [--check-secrets [--secrets-file FILE]]',
      '',
      'DIR defaults to ./personas (or SWITCHBOARD_PERSONAS). Checks YAML syntax, the JSON Schemas,',
      'references between files, time zones, dates, tool names and templates, exactly as the server',
      'does on load. Prints file:line:col: path: message per problem. --format github prints',
      'workflow annotations for GitHub Actions; --format json one JSON object.',
      'Warnings (a transfer policy that allows a whole international range) are printed too and',
      'leave the exit code 0, as the server loads such files; --strict makes them errors (exit 1).',
      '--check-secrets also lists every secret the manifests name (API tools, call-control drivers,',
      'contact sources) that is not in the environment or the secrets file (--secrets-file or',
      'SWITCHBOARD_SECRETS_FILE), with the part that fails without it, and exits 1 if there is one.',
      'Run it where the server runs, with its environment.',
    ].join('\n'),
    load: () => import('./commands/validate.ts'),
  },
  {
    name: 'status',
    summary: "Show a running server's readiness, loaded manifests, manifest problems, phone-system connections and secrets not set.",
    usage: [
      'switchboard status [--url URL] [--json]',
      '',
      'Asks the server on this machine (default http://127.0.0.1:<SWITCHBOARD_PORT or 9443>) for /readyz.',
      'Exit 0 when ready with every manifest valid and every secret they name set; 1 when a file has',
      'problems (its last good version stays in force) or a secret is not set (the parts that need it',
      'fail, everything else works); 2 when the server is not reachable or not ready.',
    ].join('\n'),
    load: () => import('./commands/status.ts'),
  },
  {
    name: 'keys',
    summary: 'Create, list and revoke API keys.',
    usage: [
      'switchboard keys create --account ID [--role mcp|admin] [--name TEXT] [--force] [--json] [--data DIR | --database URL] [--personas DIR]',
      '       switchboard keys list [--account ID] [--json] [--data DIR | --database URL]',
      '       switchboard keys revoke ID [--json] [--data DIR | --database URL]',
      '',
      'A key is shown once, when created; only its SHA-256 is stored. Role mcp may use the MCP',
      'endpoint; role admin may also use the admin API of its account. A revoked key is refused',
      'by a running server on its next request. create refuses an account that no manifest in the',
      'personas directory (--personas, SWITCHBOARD_PERSONAS, ./personas) declares; --force creates the',
      'key anyway, for an account about to be deployed.',
    ].join('\n'),
    load: () => import('./commands/keys.ts'),
  },
  {
    name: 'office-hours',
    summary: 'Show what is_office_open answers for a persona, now or at a given moment.',
    usage: [
      'switchboard office-hours --account ID --persona ID [--at ISO-8601] [--json] [--personas DIR]',
      '',
      'The first line is the text the tool gives the voice agent; then the local time, the hours',
      'that apply today (weekday or exception) and when the office closes or next opens.',
      '--at takes 2026-12-24T16:00 (local time of the account) or a time with an offset or Z.',
      '--json prints the structured result the tool returns.',
    ].join('\n'),
    load: () => import('./commands/office-hours.ts'),
  },
  {
    name: 'dnd',
    summary: "Set, clear or show users' Do-Not-Disturb.",
    usage: [
      'switchboard dnd set   --account ID --user USER [--reason TEXT] [--until ISO-8601] [--json] [--data DIR] [--personas DIR]',
      '       switchboard dnd clear --account ID --user USER [--json] [--data DIR] [--personas DIR]',
      '       switchboard dnd show  --account ID [--user USER] [--json] [--data DIR] [--personas DIR]',
      '',
      'USER is the id in account.yaml, the extension, or a name that fits one user ("Dana", "Dana Reyes").',
      'set puts the user on Do-Not-Disturb (until the given time, or until cleared); --until without',
      "an offset is local time of the account. show without --user lists every user of the account.",
      'A running server on the same data directory sees the change on its next tool call.',
    ].join('\n'),
    load: () => import('./commands/dnd.ts'),
  },
  {
    name: 'leads',
    summary: 'List the leads that calls created, with their cases.',
    usage: [
      'switchboard leads list --account ID [--limit N] [--cursor C] [--json] [--data DIR]',
      '',
      'Newest leads first (default 50 per page; the last line names the cursor of the next page).',
      'With --json: {"leads": [...each with its "cases"], "next_cursor": ...}, as the admin API',
      'GET /ucp/v2/accounts/{account}/leads answers.',
    ].join('\n'),
    load: () => import('./commands/leads.ts'),
  },
  {
    name: 'contacts',
    summary: 'Import native contacts, list the contact index, sync Google and Microsoft contact sources.',
    usage: [
      'switchboard contacts import --account ID FILE [--format csv|vcard] [--country CC] [--personas DIR] [--json] [--data DIR]',
      '       switchboard contacts list --account ID [--phone NUMBER] [--source NAME] [--limit N] [--cursor C] [--json] [--data DIR]',
      '       switchboard contacts sync --account ID [--source NAME] [--full] [--personas DIR] [--json] [--data DIR]',
      '       switchboard contacts sources --account ID [--personas DIR] [--json] [--data DIR]',
      '',
      'import: reads a CSV file with a header row (columns: name or first/last name, company, phone,',
      'mobile, work, home, ...) or a vCard 3.0/4.0 file (FN/N, ORG, TEL, UID). National numbers are read',
      "with the account's default_country (or --country). Rows that cannot be used are listed and the",
      'others are imported; importing the same file again updates instead of duplicating. Exit 1 when',
      'some rows were not imported. Rows are written 500 to a transaction, so a running server keeps',
      'writing meanwhile; an import that stops (exit 2) keeps what it wrote, and running it again completes it.',
      'list: contacts by name, or with --phone the contacts that have that number (native first).',
      "sync: syncs the account's contact sources (or --source NAME) now; --full reads every contact",
      'again. Exit 1 when a sync failed. sources: the sync state of each contact source.',
    ].join('\n'),
    load: () => import('./commands/contacts.ts'),
  },
  {
    name: 'try',
    summary: 'Show the HTTP request an API tool would send (secrets masked) and, without --dry-run, send it.',
    usage: [
      'switchboard try --account A --persona P TOOL [--arg name=value ...] [--caller NUMBER] [--call ID]',
      '                [--dry-run] [--json] [--personas DIR]',
      '',
      'Loads the manifests (--personas, SWITCHBOARD_PERSONAS or ./personas) as the server does, checks',
      'the arguments against the tool\'s variables and renders its request with the call context and',
      'the secrets of this environment (SWITCHBOARD_SECRETS_FILE or environment variables). Prints the',
      'request with every secret value masked. Without --dry-run it sends the request through the same',
      'SSRF guard as the server (SWITCHBOARD_OUTBOUND_ALLOW) and prints the text and data the model',
      'would get. Exit 0 on success, 1 when the tool answers with an error, 2 for usage problems.',
    ].join('\n'),
    load: () => import('./commands/try.ts'),
  },
  {
    name: 'audit',
    summary: "Show an account's audit trail of tool calls, newest first.",
    usage: [
      'switchboard audit --account ID [--call ID] [--tool NAME] [--persona ID] [--status ok|error|invalid_arguments]',
      '                  [--since TIME] [--until TIME] [--limit N] [--cursor C] [--json] [--data DIR | --database URL]',
      '',
      'TIME is ISO 8601 (2026-05-01, 2026-05-01T08:00:00Z; UTC unless an offset is given) or a duration',
      'back from now (90m, 24h, 7d).',
      '--limit is 1-200 (default 50); when more rows match, the last line gives the --cursor of the',
      'next page. --json prints what GET /ucp/v2/accounts/{account}/audit answers. Arguments the tool',
      'marks sensitive and the values of secrets are masked.',
    ].join('\n'),
    load: () => import('./commands/audit.ts'),
  },
  {
    name: 'backup',
    summary: 'Copy the SQLite database consistently, also while the server runs.',
    usage: [
      'switchboard backup FILE [--force] [--json] [--data DIR]',
      '',
      "Copies DIR/switchboard.db (the server's --data, SWITCHBOARD_DATA, ./data) to FILE with SQLite's",
      'online backup, checks the copy with PRAGMA integrity_check, and prints its size and the time taken.',
      'FILE is one self-contained SQLite file; an existing FILE is replaced only with --force.',
      'Restore: stop the server, copy FILE to DIR/switchboard.db, delete DIR/switchboard.db-wal and',
      '-shm, start the server.',
      'With PostgreSQL (--database, SWITCHBOARD_DATABASE_URL) there is no file to copy: back the database up',
      'with pg_dump (docs/operations.md).',
    ].join('\n'),
    load: () => import('./commands/backup.ts'),
  },
  {
    name: 'migrate',
    summary: "Copy a node's SQLite data into PostgreSQL (--to), or back (--from), and prove the copy.",
    usage: [
      'switchboard migrate --to postgres://USER@HOST:5432/DATABASE [--data DIR] [--force] [--verify-only] [--json] [--database-ca FILE]',
      '       switchboard migrate --from postgres://USER@HOST:5432/DATABASE [--data DIR] [--force] [--verify-only] [--json] [--database-ca FILE]',
      '',
      "--to copies DIR/switchboard.db (the server's --data, SWITCHBOARD_DATA, ./data) into the PostgreSQL",
      'database, for going from one node to several; --from copies the PostgreSQL database into',
      'DIR/switchboard.db, for going back to one node. Every table is copied in one transaction, parents',
      'first, keeping every id (leads, cases, contacts, commands, events, audit rows); ids generated',
      'later continue past the highest the source ever gave. Then both sides are compared table by',
      'table: the number of rows and a SHA-256 over the rows in key order must be equal. Exit 0 only',
      'when every table matches, 1 when the copy does not match, 2 when refused or failed.',
      '',
      'Stop the server first: migrate refuses a SQLite file another process has open (it takes',
      "SQLite's exclusive lock, which is granted only when no server, CLI command or sqlite3 shell has",
      'the file open, and holds it while it copies), and a PostgreSQL database other clients are',
      'connected to (pg_stat_activity; connect to the database itself, not through a pooler).',
      'A target that already holds data is refused; --force replaces what it holds, in the copy\'s',
      'transaction (a copy that fails leaves it as it was). --verify-only compares without copying.',
      'The URL may carry the password; PGPASSWORD or ~/.pgpass keep it out of the process list.',
      '--database-ca (SWITCHBOARD_DATABASE_CA): the CA of the database server\'s certificate.',
      'docs/operations.md, "From one node to several and back", has the whole procedure.',
    ].join('\n'),
    load: () => import('./commands/migrate.ts'),
  },
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

export async function main(argv: string[], io: CliIO = processIO()): Promise<number> {
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
    print(io.stdout, `${command.summary}\n\nUsage: ${typeof command.usage === 'function' ? command.usage() : command.usage}`);
    return EXIT.ok;
  }
  try {
    const { run } = await command.load();
    return await run(rest, io);
  } catch (error) {
    // A write that failed on the disk (read-only, full) after the database was opened: said, not a stack.
    const file = cliDatabaseFile(io);
    const known = isSwitchboardError(error) ? error : file ? storageFailure(error, file) : undefined;
    if (known) {
      print(io.stderr, `switchboard ${name}: ${known.message}`);
      return EXIT.error;
    }
    throw error;
  }
}
