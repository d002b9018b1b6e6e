/**
 * A manifest problem: where it is and what is wrong, printed as
 * `file:line:col: json/path: message` so editors and CI can jump to it.
 */
export interface ManifestProblem {
  /** Path relative to the personas directory. */
  file: string;
  line: number;
  column: number;
  /** Where in the document, e.g. tools[2].variables[0].type; empty for the whole file. */
  path: string;
  message: string;
  /** A warning is reported, but the file loads (a problem keeps its last good version in force). */
  severity?: 'warning';
}

/**
 * What a check found, before the loader knows the file position: a path
 * inside the document and a message. Checks that live with what they check
 * (call control's settings, contact sources, the transfer policy) return
 * these too, so they need nothing of the loader.
 */
export interface Finding {
  path: (string | number)[];
  message: string;
  /** Of account checks: reported (validate, the server's log), and the file still loads. */
  severity?: 'warning';
}

/** `file:line:col: path: message`; a warning says so after the position, as compilers do. */
export function formatProblem(problem: ManifestProblem): string {
  const where = problem.path ? `${problem.path}: ` : '';
  return `${problem.file}:${problem.line}:${problem.column}: ${problem.severity ? `${problem.severity}: ` : ''}${where}${problem.message}`;
}

/** tools[2].variables[0].type from ['tools', 2, 'variables', 0, 'type']. */
export function formatPath(segments: readonly (string | number)[]): string {
  let out = '';
  for (const segment of segments) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(segment)) out += out ? `.${segment}` : segment;
    else out += `[${JSON.stringify(segment)}]`;
  }
  return out;
}
