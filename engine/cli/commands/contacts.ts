import fs from 'node:fs';
import path from 'node:path';

import { IMPORT_FORMATS, importContacts, type ImportFormat, type ImportReport } from '../../contacts/import.ts';
import { contactJson } from '../../contacts/present.ts';
import { SwitchboardError } from '../../errors.ts';
import { spokenNumber, toE164 } from '../../phone.ts';
import { oneLine } from '../../plain-text.ts';
import { type CliIO, dataFlag, EXIT, jsonFlag, parseFlags, personasFlag, print, printJson, requireFlag, table } from '../command.ts';
import { loadCliManifests, openCliServices } from '../open.ts';
import { showSources, syncSources } from './contact-sources.ts';
import { pagingFlags, readPaging } from './paging.ts';

const MAX_FILE_BYTES = 64 * 1024 * 1024;

/** The country national numbers are read with: --country, else the account manifest's default_country. */
async function defaultCountry(account: string, values: { country?: string | undefined; personas?: string | undefined }, io: CliIO): Promise<string> {
  if (values.country) {
    if (!/^[A-Za-z]{2}$/.test(values.country)) throw new SwitchboardError('BAD_REQUEST', '--country must be a two-letter country code such as US or GB');
    return values.country.toUpperCase();
  }
  const snapshot = await loadCliManifests(values.personas, io);
  const entry = snapshot.accounts.get(account);
  if (!entry) throw new SwitchboardError('BAD_REQUEST', `account ${account} is not in the manifests; pass --personas DIR or --country CC to read national numbers`);
  return entry.defaultCountry;
}

function printReport(io: CliIO, file: string, account: string, report: ImportReport): void {
  const imported = report.created + report.updated + report.unchanged;
  print(
    io.stdout,
    `Imported ${imported} contact${imported === 1 ? '' : 's'} into account ${account} from ${file} (${report.format}): ${report.created} new, ${report.updated} updated, ${report.unchanged} unchanged.`,
  );
  for (const notice of report.notices) print(io.stdout, `Note: ${notice}`);
  for (const warning of report.warnings) print(io.stdout, `${file}: ${warning.where}: ${warning.message}`);
  if (report.rejected.length) {
    print(io.stderr, `${report.rejected.length} not imported:`);
    for (const problem of report.rejected) print(io.stderr, `${file}: ${problem.where}: ${problem.message}`);
  }
}

export async function run(argv: string[], io: CliIO): Promise<number> {
  const [action, ...rest] = argv;
  const { values, positionals } = parseFlags(rest, {
    ...dataFlag,
    ...jsonFlag,
    ...personasFlag,
    ...pagingFlags,
    account: { type: 'string' },
    format: { type: 'string' },
    country: { type: 'string' },
    phone: { type: 'string' },
    source: { type: 'string' },
    full: { type: 'boolean' },
  });
  const account = requireFlag(values.account, 'account');
  if (action === 'import') {
    const file = positionals[0];
    if (!file || positionals.length > 1) throw new SwitchboardError('BAD_REQUEST', 'give one file to import: switchboard contacts import --account ID FILE');
    const format = values.format as ImportFormat | undefined;
    if (format !== undefined && !IMPORT_FORMATS.includes(format)) throw new SwitchboardError('BAD_REQUEST', `--format must be one of ${IMPORT_FORMATS.join(', ')}`);
    let text: string;
    try {
      const found = path.resolve(io.cwd, file);
      if (fs.statSync(found).size > MAX_FILE_BYTES) throw new SwitchboardError('BAD_REQUEST', `${file} is larger than ${MAX_FILE_BYTES / 1024 / 1024} MB; split it`);
      text = fs.readFileSync(found, 'utf8');
    } catch (error) {
      if (error instanceof SwitchboardError) throw error;
      throw new SwitchboardError('BAD_REQUEST', `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
    const country = await defaultCountry(account, values, io);
    const services = await openCliServices(values, io);
    try {
      const report = await importContacts(services.contacts, account, country, path.basename(file), text, format);
      if (values.json) printJson(io.stdout, report);
      else printReport(io, file, account, report);
      return report.rejected.length ? EXIT.problems : EXIT.ok;
    } finally {
      await services.close();
    }
  }
  if (action === 'list') {
    const e164 = values.phone === undefined ? undefined : toE164(values.phone, await defaultCountry(account, values, io));
    if (values.phone !== undefined && !e164) throw new SwitchboardError('BAD_REQUEST', `--phone "${values.phone}" is not a phone number that can be read; e.g. +12125550100`);
    const services = await openCliServices(values, io);
    try {
      const page = e164
        ? { contacts: await services.contacts.findByNumber(account, e164, 50), nextCursor: null }
        : await services.contacts.list(account, { ...readPaging(values), source: values.source });
      if (values.json) {
        printJson(io.stdout, { contacts: page.contacts.map(contactJson), next_cursor: page.nextCursor });
      } else if (!page.contacts.length) {
        print(io.stdout, e164 ? `No contact found for ${spokenNumber(e164)}.` : `No contacts in account ${account}.`);
      } else {
        const rows = page.contacts.map((contact) => [
          contact.id,
          oneLine(contact.name),
          oneLine(contact.company ?? '-'),
          contact.phones.map((phone) => `${phone.e164}${phone.label ? ` (${phone.label})` : ''}`).join(', '),
          contact.source,
        ]);
        print(io.stdout, table([['ID', 'NAME', 'COMPANY', 'PHONE NUMBERS', 'SOURCE'], ...rows]));
        if (page.nextCursor) print(io.stdout, `More contacts: --cursor ${page.nextCursor}`);
      }
      return EXIT.ok;
    } finally {
      await services.close();
    }
  }
  if (action === 'sync') return syncSources({ ...values, account }, io);
  if (action === 'sources') return showSources({ ...values, account }, io);
  throw new SwitchboardError('BAD_REQUEST', `unknown action "${action ?? ''}"; use import, list, sync or sources`);
}
