/**
 * `switchboard validate`: the checks the server runs on load, for editors,
 * hooks and CI; with --check-secrets, on the node, also whether every secret
 * the manifests name can be read (secrets-inventory.ts), as the server would
 * read them: its environment and its secrets file.
 */
import path from 'node:path';

import { resolveSettings } from '../../config.ts';
import { SwitchboardError } from '../../errors.ts';
import { loadManifests } from '../../manifests/load.ts';
import { formatProblem, type ManifestProblem } from '../../manifests/problems.ts';
import { SecretStore } from '../../secrets.ts';
import { countMissing, formatMissing, missingSecrets, type MissingSecrets } from '../../secrets-inventory.ts';
import { checkSecretsFile } from '../../startup-files.ts';
import { builtinToolKinds } from '../../tools/kinds.ts';
import { type CliIO, EXIT, parseFlags, print, printJson } from '../command.ts';

const FORMATS = ['text', 'json', 'github'] as const;
type Format = (typeof FORMATS)[number];

/** GitHub workflow commands need %, CR and LF escaped in the message. */
const escapeAnnotation = (text: string) => text.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');

export async function run(argv: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseFlags(argv, { format: { type: 'string' }, strict: { type: 'boolean' }, 'check-secrets': { type: 'boolean' }, 'secrets-file': { type: 'string' } });
  const strict = values.strict ?? false;
  const format = (values.format ?? 'text') as Format;
  if (!FORMATS.includes(format)) throw new SwitchboardError('BAD_REQUEST', `--format must be one of ${FORMATS.join(', ')}`);
  const dirArgument = positionals[0] ?? io.env.SWITCHBOARD_PERSONAS ?? 'personas';
  const dir = path.resolve(io.cwd, dirArgument);

  const started = performance.now();
  const snapshot = await loadManifests({ dir, kinds: builtinToolKinds });
  const elapsedMs = Math.round(performance.now() - started);
  // Paths as the user wrote the directory, so editors and CI annotations find the files.
  const shown = (problem: ManifestProblem): ManifestProblem => ({ ...problem, file: path.join(dirArgument, problem.file) });
  const problems = snapshot.problems.map(shown);
  const warnings = snapshot.warnings.map(shown);
  const files = snapshot.files.size;
  let missing: MissingSecrets[] | undefined;
  if (values['check-secrets']) {
    const { secretsFile } = resolveSettings(values['secrets-file'] ? { 'secrets-file': values['secrets-file'] } : {}, io.env, io.cwd);
    checkSecretsFile(secretsFile);
    missing = missingSecrets(snapshot, new SecretStore(io.env, secretsFile));
  } else if (values['secrets-file']) {
    throw new SwitchboardError('BAD_REQUEST', '--secrets-file is read with --check-secrets only');
  }
  const shownFile = (file: string) => path.join(dirArgument, file);
  const failed = problems.length > 0 || (strict && warnings.length > 0) || Boolean(missing?.length);

  if (format === 'json') {
    printJson(io.stdout, {
      valid: !failed,
      files,
      accounts: snapshot.accounts.size,
      personas: snapshot.personas.size,
      problems: problems.map((problem) => ({ ...problem, text: formatProblem(problem) })),
      warnings: warnings.map((warning) => ({ ...warning, text: formatProblem(warning) })),
      ...(missing ? { missing_secrets: missing.map((entry) => ({ ...entry, file: shownFile(entry.file), text: formatMissing(entry) })) } : {}),
    });
  } else if (format === 'github') {
    for (const problem of [...problems, ...warnings]) {
      const level = problem.severity === 'warning' && !strict ? 'warning' : 'error';
      print(io.stdout, `::${level} file=${problem.file},line=${problem.line},col=${problem.column},title=${escapeAnnotation(problem.path || 'manifest')}::${escapeAnnotation(problem.message)}`);
    }
    for (const entry of missing ?? []) print(io.stdout, `::error file=${shownFile(entry.file)},title=secret not set::${escapeAnnotation(formatMissing(entry))}`);
  } else {
    for (const problem of [...problems, ...warnings]) print(io.stdout, formatProblem(problem));
    for (const entry of missing ?? []) print(io.stdout, `${shownFile(entry.file)}: secret not set: ${formatMissing(entry)}`);
  }
  if (format !== 'json') {
    const summary = problems.length
      ? `${problems.length} problem${problems.length === 1 ? '' : 's'} in ${new Set(problems.map((p) => p.file)).size} of ${files} files`
      : `${files} files valid: ${snapshot.accounts.size} accounts, ${snapshot.personas.size} personas`;
    const warned = warnings.length ? `, ${warnings.length} warning${warnings.length === 1 ? '' : 's'}${strict ? ' (errors with --strict)' : ''}` : '';
    const secrets = missing === undefined ? '' : missing.length ? `, ${countMissing(missing)} secret${countMissing(missing) === 1 ? '' : 's'} not set` : ', every secret set';
    print(io.stderr, `${summary}${warned}${secrets} (${elapsedMs} ms)`);
  }
  return failed ? EXIT.problems : EXIT.ok;
}
