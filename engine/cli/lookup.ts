/**
 * The account or persona a command names with --account/--persona, taken
 * from the manifests as the server would load them. When it is missing
 * because its file has problems, the error shows those problems: a persona
 * author who just edited a file learns why, not only that.
 */
import { SwitchboardError } from '../errors.ts';
import type { LoadedSnapshot } from '../manifests/load.ts';
import { formatProblem } from '../manifests/problems.ts';
import { findPersona, type AccountEntry, type PersonaEntry } from '../manifests/snapshot.ts';

function problemsUnder(snapshot: LoadedSnapshot, accountId: string): string {
  const found = snapshot.problems.filter((problem) => problem.file.startsWith(`${accountId}/`));
  if (!found.length) return '';
  const shown = found.slice(0, 5).map((problem) => `\n  ${formatProblem(problem)}`).join('');
  return `; its manifests have problems (run switchboard validate):${shown}${found.length > 5 ? `\n  … and ${found.length - 5} more` : ''}`;
}

export function cliAccount(snapshot: LoadedSnapshot, accountId: string): AccountEntry {
  const account = snapshot.accounts.get(accountId);
  if (account) return account;
  const known = [...snapshot.accounts.keys()].sort();
  throw new SwitchboardError('UNKNOWN_ACCOUNT', `account "${accountId}" is not in the manifests (accounts: ${known.join(', ') || 'none'})${problemsUnder(snapshot, accountId)}`);
}

export function cliPersona(snapshot: LoadedSnapshot, accountId: string, personaId: string): { account: AccountEntry; persona: PersonaEntry } {
  const account = cliAccount(snapshot, accountId);
  const persona = findPersona(snapshot, accountId, personaId);
  if (persona) return { account, persona };
  const known = [...snapshot.personas.values()].filter((entry) => entry.accountId === accountId).map((entry) => entry.id).sort();
  throw new SwitchboardError('UNKNOWN_PERSONA', `persona "${personaId}" is not in account ${accountId} (personas: ${known.join(', ') || 'none'})${problemsUnder(snapshot, accountId)}`);
}
