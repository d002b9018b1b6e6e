/**
 * `switchboard office-hours`: what is_office_open answers for a persona, now
 * or at any moment (--at), from the manifests on disk. Persona authors run it
 * to check a holiday or a night shift before merging; it computes the answer
 * with the same function as the tool.
 */
import { SwitchboardError } from '../../errors.ts';
import { officeStatus } from '../../hours/status.ts';
import { parseInstant } from '../../hours/time-text.ts';
import { type CliIO, EXIT, jsonFlag, parseFlags, personasFlag, print, printJson, requireFlag } from '../command.ts';
import { loadCliManifests } from '../open.ts';
import { cliPersona } from '../lookup.ts';

const hoursText = (hours: unknown): string => (Array.isArray(hours) ? hours.join(', ') : String(hours));

export async function run(argv: string[], io: CliIO): Promise<number> {
  const { values } = parseFlags(argv, { ...jsonFlag, ...personasFlag, account: { type: 'string' }, persona: { type: 'string' }, at: { type: 'string' } }, false);
  const accountId = requireFlag(values.account, 'account');
  const personaId = requireFlag(values.persona, 'persona');
  const snapshot = await loadCliManifests(values.personas, io);
  const { account, persona } = cliPersona(snapshot, accountId, personaId);
  const timezone = account.manifest.timezone;

  let at = Date.now();
  if (values.at !== undefined) {
    const parsed = parseInstant(values.at, timezone);
    if (parsed === undefined) throw new SwitchboardError('BAD_REQUEST', `--at "${values.at}" is not an ISO-8601 date-time (e.g. 2026-12-24T16:00 or 2026-12-24T16:00:00-05:00)`);
    at = parsed;
  }

  const { text, data } = officeStatus(persona.manifest.office_hours, timezone, at);
  if (values.json) {
    printJson(io.stdout, data);
    return EXIT.ok;
  }
  const lines = [text, `Local time: ${data.local_day} ${data.local_time} (${timezone})`];
  if (data.today) {
    const source = data.today.source === 'exception' ? `exception ${data.today.exception}` : 'weekday';
    lines.push(`Today:      ${hoursText(data.today.hours)} (${source})`);
  }
  if (data.closes_at) lines.push(`Closes:     ${data.closes_at_spoken} (${data.closes_at})`);
  else if (data.open) lines.push('Closes:     not within the next year');
  if (data.next_open_at) lines.push(`Next open:  ${data.next_open_spoken} (${data.next_open_at})`);
  else if (data.open === false) lines.push('Next open:  not within the next year');
  print(io.stdout, lines.join('\n'));
  return EXIT.ok;
}
