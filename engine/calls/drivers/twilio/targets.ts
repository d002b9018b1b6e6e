/**
 * What a twilio transfer dials: an E.164 number as itself, an extension as
 * a SIP URI through endpoint_template. A SIP destination also carries the
 * model's summary as the custom header X-Switchboard-Summary, which Twilio
 * takes in the URI's query (`sip:100@pbx?X-Switchboard-Summary=…`) and
 * sends in the INVITE, for phones that show it. A phone number cannot:
 * the public telephone network carries no custom headers.
 */
import type { TwilioCallControl } from '../../../manifests/types.ts';
import type { CommandRecord } from '../../types.ts';
import { SUMMARY_HEADER, summaryHeaderValue } from '../../warm.ts';
import { fillTemplate } from '../driver.ts';

export type Target = { kind: 'number' | 'sip'; address: string; dialed: string } | { error: string };

/** The SIP URI with the summary header added to its query (Twilio passes X- headers given there). */
export function withSummaryHeader(uri: string, summary: string | null): string {
  const value = summary ? summaryHeaderValue(summary) : '';
  if (!value) return uri;
  return `${uri}${uri.includes('?') ? '&' : '?'}${SUMMARY_HEADER}=${encodeURIComponent(value)}`;
}

/**
 * The destination of a transfer command. `address` is what the call history
 * shows (no summary in it); `dialed` is what goes to Twilio.
 */
export function targetOf(command: CommandRecord, settings: TwilioCallControl): Target {
  const destination = command.destination ?? '';
  if (command.destinationType === 'e164') return { kind: 'number', address: destination, dialed: destination };
  if (!settings.endpoint_template) return { error: `extension ${destination} cannot be dialed through Twilio: call_control.endpoint_template is not set` };
  const address = fillTemplate(settings.endpoint_template, { destination });
  return { kind: 'sip', address, dialed: withSummaryHeader(address, command.summary) };
}
