/**
 * The TwiML documents the twilio driver writes: the <Dial> a transfer puts
 * on the caller's call, and the short answers to Twilio's callbacks (go
 * ahead, back to the agent, hang up). Written by hand rather than with a
 * TwiML library: a few fixed shapes, every value escaped. The documents of
 * a warm transfer are in warm-twiml.ts.
 */

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };
export const escapeXml = (text: string): string => text.replace(/[&<>"']/g, (char) => ESCAPES[char] as string);

export const attributes = (values: Record<string, string | undefined>): string =>
  Object.entries(values)
    .filter((entry): entry is [string, string] => entry[1] !== undefined)
    .map(([name, value]) => ` ${name}="${escapeXml(value)}"`)
    .join('');

export interface DialPlan {
  /** Whole seconds the new leg may ring. */
  timeoutSeconds: number;
  /** Requested when the dialed leg ends; its answer decides what the caller gets next. */
  actionUrl: string;
  /** Requested when the called party answers, before the two are bridged. */
  answeredUrl: string;
  /** Told when the new leg starts ringing. */
  progressUrl: string;
  callerId?: string | undefined;
  target: { kind: 'number' | 'sip'; address: string };
}

/** <Dial> with one <Number> or <Sip>: the transfer, put on the caller's call. */
export function dialTwiml(plan: DialPlan): string {
  const dial = attributes({ timeout: String(plan.timeoutSeconds), action: plan.actionUrl, method: 'POST', callerId: plan.callerId });
  const noun = plan.target.kind === 'number' ? 'Number' : 'Sip';
  const leg = attributes({ url: plan.answeredUrl, method: 'POST', statusCallbackEvent: 'ringing', statusCallback: plan.progressUrl, statusCallbackMethod: 'POST' });
  return `<Response><Dial${dial}><${noun}${leg}>${escapeXml(plan.target.address)}</${noun}></Dial></Response>`;
}

/** Nothing to do: after a <Number url> answer, the two parties are bridged. */
export const CONNECT_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>';
export const HANGUP_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response><Hangup/></Response>';
/** Sends the call to a URL whose TwiML takes over (the voice bridge connecting the caller to the agent again). */
export const redirectTwiml = (url: string): string => `<?xml version="1.0" encoding="UTF-8"?><Response><Redirect method="POST">${escapeXml(url)}</Redirect></Response>`;

/**
 * How a caller gets back to the agent once the call was given other TwiML
 * (which ended the agent's media stream): a new <Connect><Stream> to the
 * voice bridge, written here (stream_url), or the bridge's own TwiML URL
 * (return_url).
 */
export type WayBack = { kind: 'stream'; url: string } | { kind: 'redirect'; url: string };

export const wayBackOf = (settings: { stream_url?: string | undefined; return_url?: string | undefined }): WayBack | undefined =>
  settings.stream_url ? { kind: 'stream', url: settings.stream_url } : settings.return_url ? { kind: 'redirect', url: settings.return_url } : undefined;

/**
 * The caller back with the agent. A stream carries the call's call_id and
 * resumed=true as custom parameters: the voice bridge reads them in the
 * stream's `start` message and gives the audio to the conversation that is
 * still waiting for the transfer tool's answer.
 */
export function backToAgentTwiml(way: WayBack, callId: string): string {
  if (way.kind === 'redirect') return redirectTwiml(way.url);
  const parameter = (name: string, value: string): string => `<Parameter${attributes({ name, value })}/>`;
  return `<?xml version="1.0" encoding="UTF-8"?><Response><Connect><Stream${attributes({ url: way.url })}>${parameter('call_id', callId)}${parameter('resumed', 'true')}</Stream></Connect></Response>`;
}
