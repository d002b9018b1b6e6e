/**
 * Reads contacts from vCard files (RFC 2426 3.0, RFC 6350 4.0, and the 2.1
 * that phones still export): several cards per file, folded lines, escaped
 * text, grouped properties (item1.TEL), TYPE parameters in every spelling
 * (TYPE=cell,voice / TYPE=CELL;TYPE=VOICE / bare CELL), tel: URIs and
 * quoted-printable values. A card gives FN (or N), ORG, every TEL and UID;
 * the rest of a card is ignored. A card that cannot be used is reported with
 * its number and line, and the other cards are still read.
 */
import { phoneLabel, type PhoneInput } from './input.ts';
import type { ParsedFile } from './parsed-file.ts';

interface Line {
  number: number;
  text: string;
}

interface Property {
  name: string;
  params: Map<string, string[]>;
  value: string;
}

/**
 * Joins folded lines (a line starting with a space or tab continues the one
 * before) and quoted-printable soft breaks (a 2.1 value ending in "=").
 */
function unfold(text: string): Line[] {
  const lines: Line[] = [];
  text
    .replace(/^\uFEFF/, '')
    .split(/\r\n|\r|\n/)
    .forEach((raw, index) => {
      const last = lines[lines.length - 1];
      if (last && (raw.startsWith(' ') || raw.startsWith('\t'))) last.text += raw.slice(1);
      else if (last && /QUOTED-PRINTABLE/i.test(last.text.split(':')[0] ?? '') && last.text.endsWith('=')) last.text = last.text.slice(0, -1) + raw;
      else if (raw.trim()) lines.push({ number: index + 1, text: raw });
    });
  return lines;
}

function parseProperty(text: string): Property | undefined {
  // The name and parameters end at the first colon outside a quoted parameter value.
  let quoted = false;
  let colon = -1;
  for (let index = 0; index < text.length; index += 1) {
    const char = text[index];
    if (char === '"') quoted = !quoted;
    else if (char === ':' && !quoted) {
      colon = index;
      break;
    }
  }
  if (colon < 0) return undefined;
  const [head = '', ...rawParams] = text.slice(0, colon).split(';');
  const params = new Map<string, string[]>();
  for (const raw of rawParams) {
    const equals = raw.indexOf('=');
    // vCard 2.1 writes bare types: TEL;CELL;VOICE:...
    const key = equals < 0 ? 'TYPE' : raw.slice(0, equals).toUpperCase();
    const values = (equals < 0 ? raw : raw.slice(equals + 1)).replace(/"/g, '').split(',');
    params.set(key, [...(params.get(key) ?? []), ...values.map((value) => value.trim().toUpperCase()).filter(Boolean)]);
  }
  return { name: head.replace(/^.*\./, '').toUpperCase(), params, value: text.slice(colon + 1) };
}

const unescapeText = (value: string): string => value.replace(/\\([nN,;:\\])/g, (_, char: string) => (char === 'n' || char === 'N' ? '\n' : char));

/** Splits a structured value (N, ORG) at semicolons that are not escaped. */
const components = (value: string): string[] => value.split(/(?<!\\);/).map((part) => unescapeText(part).trim());

function decodeQuotedPrintable(value: string): string {
  const bytes: number[] = [];
  for (let index = 0; index < value.length; index += 1) {
    const hex = value[index] === '=' ? /^[0-9A-Fa-f]{2}/.exec(value.slice(index + 1, index + 3)) : null;
    if (hex) {
      bytes.push(parseInt(hex[0], 16));
      index += 2;
    } else bytes.push(...Buffer.from(value[index]!, 'utf8'));
  }
  return Buffer.from(bytes).toString('utf8');
}

function valueOf(property: Property): string {
  const encoding = property.params.get('ENCODING') ?? [];
  return encoding.includes('QUOTED-PRINTABLE') ? decodeQuotedPrintable(property.value) : property.value;
}

/** "tel:+1-212-555-0100;ext=12" -> "+1-212-555-0100". */
const telNumber = (value: string): string => unescapeText(value.replace(/^tel:/i, '').replace(/;.*$/, '')).trim();

const labelOf = (property: Property): string | null => phoneLabel((property.params.get('TYPE') ?? []).join(' '));

interface Card {
  ordinal: number;
  line: number;
  properties: Property[];
}

function draftOf(card: Card, result: ParsedFile): void {
  const where = `card ${card.ordinal} (line ${card.line})`;
  let fullName = '';
  let structuredName = '';
  let company = '';
  let uid: string | undefined;
  const phones: PhoneInput[] = [];
  for (const property of card.properties) {
    const value = valueOf(property);
    switch (property.name) {
      case 'FN':
        fullName ||= unescapeText(value).trim();
        break;
      case 'N': {
        const [family = '', given = '', middle = '', prefix = '', suffix = ''] = components(value);
        structuredName ||= [prefix, given, middle, family, suffix].filter(Boolean).join(' ');
        break;
      }
      case 'ORG':
        company ||= components(value)[0] ?? '';
        break;
      case 'TEL':
        phones.push({ number: telNumber(value), label: labelOf(property) });
        break;
      case 'UID':
        uid ||= unescapeText(value).trim() || undefined;
        break;
    }
  }
  result.drafts.push({ where, sourceId: uid, input: { name: fullName || structuredName || company, company: company || null, phones } });
}

export function parseVCards(text: string): ParsedFile {
  const result: ParsedFile = { drafts: [], problems: [], notices: [] };
  let card: Card | undefined;
  let ordinal = 0;
  let outside = 0;
  for (const line of unfold(text)) {
    const property = parseProperty(line.text);
    const begins = property?.name === 'BEGIN' && property.value.trim().toUpperCase() === 'VCARD';
    const ends = property?.name === 'END' && property.value.trim().toUpperCase() === 'VCARD';
    if (begins) {
      if (card) result.problems.push({ where: `card ${card.ordinal} (line ${card.line})`, message: 'has no END:VCARD before the next card; it was skipped' });
      ordinal += 1;
      card = { ordinal, line: line.number, properties: [] };
    } else if (ends && card) {
      draftOf(card, result);
      card = undefined;
    } else if (card && property) {
      card.properties.push(property);
    } else if (!card) {
      outside += 1;
    }
  }
  if (card) result.problems.push({ where: `card ${card.ordinal} (line ${card.line})`, message: 'has no END:VCARD (is the file cut short?); it was skipped' });
  if (ordinal === 0) result.problems.push({ where: 'file', message: 'no BEGIN:VCARD found: this is not a vCard file' });
  else if (outside) result.notices.push(`ignored ${outside} line(s) outside BEGIN:VCARD ... END:VCARD`);
  return result;
}
