/**
 * Free text that arrives from a voice agent's model or an import file before
 * it is stored: control characters (terminal escapes, NULs) are dropped,
 * line breaks and tabs kept, surrounding blanks trimmed. Stored text then
 * prints safely in a terminal, a CSV export or a log.
 */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/g;

export function cleanText(value: string | undefined | null): string {
  return value ? value.replace(CONTROL, '').trim() : '';
}

/** The text on one line, for tables. */
export const oneLine = (value: string): string => value.replace(/\s*[\r\n]+\s*/g, ' ');
