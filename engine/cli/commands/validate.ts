import path from 'node:path';

import { SwitchboardError } from '../../errors.ts';
import { loadManifests } from '../../manifests/load.ts';
import { formatProblem, type ManifestProblem } from '../../manifests/problems.ts';
import { builtinToolKinds } from '../../tools/kinds.ts';
import { EXIT, parseFlags, print, printJson, type Command } from '../command.ts';

const FORMATS = ['text', 'json', 'github'] as const;
type Format = (typeof FORMATS)[number];

/** GitHub workflow commands need %, CR and LF escaped in the message. */
const escapeAnnotation = (text: string) => text.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');

export const validateCommand: Command = {
  name: 'validate',
  summary: 'Check account and persona manifests; exit 1 with every problem found (warnings too with --strict).',
  usage: [
    'switchboard validate [DIR] [--format text|json|github] [--strict]',
    '',
    'DIR defaults to ./personas (or SWITCHBOARD_PERSONAS). Checks YAML syntax, the JSON Schemas,',
    'references between files, time zones, dates, tool names and templates, exactly as the server',
    'does on load. Prints file:line:col: path: message per problem. --format github prints',
    'workflow annotations for GitHub Actions; --format json one JSON object.',
    'Warnings (a transfer policy that allows a whole international range) are printed too and',
    'leave the exit code 0, as the server loads such files; --strict makes them errors (exit 1).',
  ].join('\n'),
  async run(argv, io) {
    const { values, positionals } = parseFlags(argv, { format: { type: 'string' }, strict: { type: 'boolean' } });
    const strict = values.strict ?? false;
    const format = (values.format ?? 'text') as Format;
    if (!FORMATS.includes(format)) throw new SwitchboardError('BAD_REQUEST', `--format must be one of ${FORMATS.join(', ')}`);
    const dirArgument = positionals[0] ?? io.env.SWITCHBOARD_PERSONAS ?? 'personas';
    const dir = path.resolve(dirArgument);

    const started = performance.now();
    const snapshot = await loadManifests({ dir, kinds: builtinToolKinds });
    const elapsedMs = Math.round(performance.now() - started);
    // Paths as the user wrote the directory, so editors and CI annotations find the files.
    const shown = (problem: ManifestProblem): ManifestProblem => ({ ...problem, file: path.join(dirArgument, problem.file) });
    const problems = snapshot.problems.map(shown);
    const warnings = snapshot.warnings.map(shown);
    const files = snapshot.files.size;
    const failed = problems.length > 0 || (strict && warnings.length > 0);

    if (format === 'json') {
      printJson(io.stdout, {
        valid: !failed,
        files,
        accounts: snapshot.accounts.size,
        personas: snapshot.personas.size,
        problems: problems.map((problem) => ({ ...problem, text: formatProblem(problem) })),
        warnings: warnings.map((warning) => ({ ...warning, text: formatProblem(warning) })),
      });
    } else if (format === 'github') {
      for (const problem of [...problems, ...warnings]) {
        const level = problem.severity === 'warning' && !strict ? 'warning' : 'error';
        print(io.stdout, `::${level} file=${problem.file},line=${problem.line},col=${problem.column},title=${escapeAnnotation(problem.path || 'manifest')}::${escapeAnnotation(problem.message)}`);
      }
    } else {
      for (const problem of [...problems, ...warnings]) print(io.stdout, formatProblem(problem));
    }
    if (format !== 'json') {
      const summary = problems.length
        ? `${problems.length} problem${problems.length === 1 ? '' : 's'} in ${new Set(problems.map((p) => p.file)).size} of ${files} files`
        : `${files} files valid: ${snapshot.accounts.size} accounts, ${snapshot.personas.size} personas`;
      const warned = warnings.length ? `, ${warnings.length} warning${warnings.length === 1 ? '' : 's'}${strict ? ' (errors with --strict)' : ''}` : '';
      print(io.stderr, `${summary}${warned} (${elapsedMs} ms)`);
    }
    return failed ? EXIT.problems : EXIT.ok;
  },
};
