/**
 * Looks for any part of a secret in text that left the server (tool results,
 * audit rows, call history, log lines), in the forms a secret usually takes:
 * raw, JSON-escaped, percent- and form-encoded, with its blanks collapsed.
 *
 * A part is any 4 characters of those forms with a sign or a blank among
 * them, or 8 letters and digits: shorter runs of letters and digits occur by
 * chance in the random ids, ports and times of hundreds of log lines, and a
 * check that fails by chance proves nothing. Times are removed first.
 */
export function leakedPart(output: string, secret: string): string | undefined {
  const text = output.replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z/g, '');
  const forms = [secret, JSON.stringify(secret).slice(1, -1), encodeURIComponent(secret), new URLSearchParams({ v: secret }).toString().slice(2), secret.replace(/\s+/g, ' ')];
  for (const form of forms) {
    for (let start = 0; start < form.length; start++) {
      for (const size of [4, 8]) {
        const window = form.slice(start, start + size);
        if (window.length !== size || window.trim().length !== size || (size === 4) !== /[^A-Za-z0-9]/.test(window)) continue;
        if (text.includes(window)) return window;
      }
    }
  }
  return undefined;
}
