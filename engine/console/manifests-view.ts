/**
 * One account's view of the loaded manifests, as GET /manifests answers it:
 * its account and personas as they are in force, each of its files with
 * whether it is valid or a last good version stands in for it, the problems
 * of the last reload at file:line:col, when that reload ran and the git
 * commit the directory was checked out at. Only the account's own files (its
 * directory) are in it; problems of the whole directory (missing, unreadable)
 * are shown to every account, since every account runs on what stays in
 * force then. Pure: the routes hand it the snapshot and the commit.
 */
import type { LoadedSnapshot } from '../manifests/load.ts';
import { formatProblem, type ManifestProblem } from '../manifests/problems.ts';
import type { GitHead } from '../manifests/git-head.ts';

const iso = (ms: number): string | null => (ms ? new Date(ms).toISOString() : null);

/** Whether a file or problem path is the account's (its directory), or the whole directory's ("."). */
export const concernsAccount = (file: string, accountId: string): boolean => file === '.' || file === accountId || file.startsWith(`${accountId}/`);

const problemView = (problem: ManifestProblem) => ({
  file: problem.file,
  line: problem.line,
  column: problem.column,
  path: problem.path,
  message: problem.message,
  severity: problem.severity ?? 'error',
  text: formatProblem(problem),
});

export function manifestsView(snapshot: LoadedSnapshot, accountId: string, git: GitHead | null) {
  const account = snapshot.accounts.get(accountId);
  const files = [...snapshot.files]
    .filter(([file]) => concernsAccount(file, accountId))
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([file, state]) => ({ file, kind: state.kind, valid: state.valid, serving_last_good: state.servingLastGood, removal_pending: state.removalPending ?? false }));
  const personas = [...snapshot.personas.values()]
    .filter((persona) => persona.accountId === accountId)
    .sort((a, b) => a.id.localeCompare(b.id))
    .map((persona) => ({
      persona_id: persona.id,
      name: persona.manifest.name ?? null,
      file: persona.file,
      tools: persona.catalog.listResult.tools.length,
      tool_schema_profile: persona.catalog.schemaProfile,
    }));
  const problems = snapshot.problems.filter((problem) => concernsAccount(problem.file, accountId));
  return {
    account_id: accountId,
    generation: snapshot.generation,
    loaded_at: iso(snapshot.loadedAt),
    git: git ? { commit: git.commit, branch: git.branch } : null,
    /** A last good version of one of its files (or of the whole directory) is in force instead of what is on disk. */
    serving_last_good: files.some((file) => file.serving_last_good || file.removal_pending),
    account: account
      ? {
          account_id: account.id,
          name: account.manifest.name ?? null,
          file: account.file,
          timezone: account.manifest.timezone,
          default_country: account.defaultCountry,
          users: account.users.size,
          queues: account.queues.size,
          call_control_driver: account.manifest.call_control?.driver ?? 'events',
        }
      : null,
    personas,
    files,
    problems: problems.map(problemView),
    warnings: snapshot.warnings.filter((warning) => concernsAccount(warning.file, accountId)).map(problemView),
  };
}
