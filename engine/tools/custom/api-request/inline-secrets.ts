/**
 * Refuses credentials written into a manifest. Manifests live in git; a
 * token pasted into a header or a query parameter would be readable by
 * everyone with the repository. Where a credential belongs (an
 * Authorization-like header, a query parameter named like key or token) the
 * literal text around the placeholders may be a scheme word ("Bearer ") or a
 * parameter label ("token="), but the credential itself must come from
 * {{secret.NAME}}.
 */

/** Header names that carry credentials. */
const CREDENTIAL_HEADER = /^(?:proxy-)?authorization$|^cookie$|(?:^|[-_])(?:api[-_]?key|apikey|access[-_]?key|auth|token|secret|password|passwd|pwd|signature|session|credentials?)(?:$|[-_])/i;
/** Query parameter names that carry credentials. */
const CREDENTIAL_PARAMETER = /(?:^|[-_.])(?:key|api[-_]?key|apikey|token|access[-_]?token|secret|password|passwd|pwd|signature|sig|auth|credentials?)(?:$|[-_.])/i;

const PLACEHOLDER = /\{\{[^}]*\}\}\}?/g;

/** The literal text of a template with scheme words and `name=` labels removed: what could be a credential. */
function literalCredentialText(template: string): string {
  return template
    .replace(PLACEHOLDER, ' ')
    .replace(/^\s*[A-Za-z][A-Za-z0-9_-]*\s+(?=\S|$)/, ' ') // a scheme word: Bearer, Basic, Token, ApiKey
    .replace(/[A-Za-z_][A-Za-z0-9_-]*=/g, ' ')
    .replace(/[\s"',;:]+/g, '');
}

export const isCredentialHeader = (name: string): boolean => CREDENTIAL_HEADER.test(name);
export const isCredentialParameter = (name: string): boolean => CREDENTIAL_PARAMETER.test(name);

/** The problem with a credential-like header value, if it holds a literal credential. */
export function inlineHeaderSecret(name: string, template: string): string | undefined {
  if (!isCredentialHeader(name) || !literalCredentialText(template)) return undefined;
  return `${name} holds a literal credential; a secret never sits in YAML: write it as {{secret.NAME}} (e.g. "Bearer {{secret.MY_API_TOKEN}}") and set NAME in the environment or the secrets file`;
}

/** The problem with a query parameter value, if its name says credential and its value is literal. */
export function inlineParameterSecret(name: string, template: string): string | undefined {
  if (!isCredentialParameter(name) || !template.replace(PLACEHOLDER, '').trim()) return undefined;
  return `query parameter "${name}" holds a literal credential; write its value as {{secret.NAME}} and set NAME in the environment or the secrets file`;
}

export const URL_USERINFO_PROBLEM = 'the url holds a user name or password (user:password@host); a secret never sits in YAML: send it in a header, e.g. Authorization: "Basic {{secret.NAME}}"';
