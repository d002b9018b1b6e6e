/**
 * Reads TwiML the way the fake Twilio needs to: a strict little XML reader
 * (elements, attributes in single or double quotes, text, the five
 * predefined entities, an optional XML declaration) that throws on
 * anything malformed, so a document Twilio would refuse fails the test.
 */

export interface XmlNode {
  name: string;
  attrs: Record<string, string>;
  children: XmlNode[];
  text: string;
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function unescape(text: string): string {
  return text.replace(/&([a-z]+|#[0-9]+|#x[0-9a-fA-F]+);|&/g, (whole, name: string | undefined) => {
    if (!name) throw new Error('a bare "&" in XML');
    if (name.startsWith('#x')) return String.fromCodePoint(parseInt(name.slice(2), 16));
    if (name.startsWith('#')) return String.fromCodePoint(Number(name.slice(1)));
    const value = ENTITIES[name];
    if (value === undefined) throw new Error(`unknown entity ${whole}`);
    return value;
  });
}

const TAG = /^<(\/?)([A-Za-z][A-Za-z0-9]*)((?:\s+[A-Za-z][A-Za-z0-9]*\s*=\s*(?:"[^"<]*"|'[^'<]*'))*)\s*(\/?)>$/;
const ATTR = /([A-Za-z][A-Za-z0-9]*)\s*=\s*(?:"([^"<]*)"|'([^'<]*)')/g;

/** The document's root element; throws on malformed XML. */
export function readXml(source: string): XmlNode {
  const body = source.trim().replace(/^<\?xml\s[^?]*\?>/, '');
  const root: XmlNode = { name: '#document', attrs: {}, children: [], text: '' };
  const stack: XmlNode[] = [root];
  for (const token of body.split(/(<[^>]*>)/)) {
    if (!token) continue;
    const parent = stack[stack.length - 1] as XmlNode;
    if (!token.startsWith('<')) {
      if (token.includes('>')) throw new Error('a stray ">" in XML');
      parent.text += unescape(token);
      continue;
    }
    const match = TAG.exec(token);
    if (!match) throw new Error(`malformed tag ${token}`);
    const [, closing, name, rawAttrs, selfClosing] = match as unknown as [string, string, string, string, string];
    if (closing) {
      if (selfClosing || rawAttrs.trim() || parent.name !== name) throw new Error(`unexpected </${name}>`);
      stack.pop();
      continue;
    }
    const attrs: Record<string, string> = {};
    for (const attr of rawAttrs.matchAll(ATTR)) {
      const key = attr[1] as string;
      if (key in attrs) throw new Error(`attribute ${key} given twice`);
      attrs[key] = unescape(attr[2] ?? attr[3] ?? '');
    }
    const node: XmlNode = { name, attrs, children: [], text: '' };
    parent.children.push(node);
    if (!selfClosing) stack.push(node);
  }
  if (stack.length !== 1) throw new Error('unclosed element');
  if (root.children.length !== 1 || root.text.trim()) throw new Error('a document has exactly one root element');
  return root.children[0] as XmlNode;
}
