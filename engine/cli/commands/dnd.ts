/**
 * `switchboard dnd`: set, clear and show users' Do-Not-Disturb from a shell.
 * It writes the same store as a running server (the SQLite file of the data
 * directory, or the PostgreSQL database SWITCHBOARD_DATABASE_URL names),
 * which sees the change on its next tool call; users are checked against the
 * account manifest.
 * --user takes what the tool and the admin API take (an id, an extension or
 * a name that fits one user: users/find-user.ts).
 */
import { SwitchboardError } from '../../errors.ts';
import { availabilityView, requireUser, type AvailabilityView } from '../../users/availability.ts';
import { readDndInput } from '../../users/dnd-input.ts';
import { type CliIO, dataFlag, EXIT, jsonFlag, parseFlags, personasFlag, print, printJson, requireFlag, table } from '../command.ts';
import { loadCliManifests, openCliServices } from '../open.ts';
import { cliAccount } from '../lookup.ts';

const ACTIONS = ['set', 'clear', 'show'] as const;

function describe(view: AvailabilityView): string {
  const who = `${view.name} (${view.user_id}, extension ${view.extension})`;
  if (view.available) return `${who} is available.`;
  const { reason, until } = view.dnd;
  return `${who} is on Do-Not-Disturb${reason ? `: ${reason}` : ''}${until ? ` (until ${until})` : ''}.`;
}

export async function run(argv: string[], io: CliIO): Promise<number> {
  const [action, ...rest] = argv;
  if (!ACTIONS.includes(action as (typeof ACTIONS)[number])) throw new SwitchboardError('BAD_REQUEST', `unknown action "${action ?? ''}"; use ${ACTIONS.join(', ')}`);
  const { values } = parseFlags(rest, { ...dataFlag, ...jsonFlag, ...personasFlag, account: { type: 'string' }, user: { type: 'string' }, reason: { type: 'string' }, until: { type: 'string' } }, false);
  if (action !== 'set' && (values.reason !== undefined || values.until !== undefined)) throw new SwitchboardError('BAD_REQUEST', '--reason and --until go with dnd set only');
  const account = cliAccount(await loadCliManifests(values.personas, io), requireFlag(values.account, 'account'));
  const userId = action === 'show' ? values.user : requireFlag(values.user, 'user');

  const services = await openCliServices(values, io);
  try {
    const views: AvailabilityView[] = [];
    if (userId === undefined) {
      const states = await services.dnd.getMany(account.id, [...account.users.keys()]);
      for (const user of account.users.values()) views.push(availabilityView(account, user, states.get(user.id)!));
    } else {
      const user = requireUser(account, userId);
      let state;
      if (action === 'set') {
        const input = readDndInput({ reason: values.reason, until: values.until }, account.manifest.timezone, services.clock.now());
        state = await services.dnd.set(account.id, user.id, { enabled: true, reason: input.reason, until: input.until, by: 'cli' });
      } else if (action === 'clear') {
        state = await services.dnd.clear(account.id, user.id, 'cli');
      } else {
        state = await services.dnd.get(account.id, user.id);
      }
      views.push(availabilityView(account, user, state));
    }

    if (values.json) printJson(io.stdout, userId === undefined ? { account_id: account.id, users: views } : views[0]);
    else if (userId !== undefined) print(io.stdout, describe(views[0] as AvailabilityView));
    else if (!views.length) print(io.stdout, `Account ${account.id} has no users.`);
    else
      print(
        io.stdout,
        table([
          ['USER', 'NAME', 'EXTENSION', 'STATUS', 'REASON', 'UNTIL'],
          ...views.map((view) => [view.user_id, view.name, view.extension, view.available ? 'available' : 'dnd', view.dnd.reason ?? '-', view.dnd.until ?? '-']),
        ]),
      );
    return EXIT.ok;
  } finally {
    await services.close();
  }
}
