/**
 * The new leg of a transfer (bridge or warm): POST /channels into this
 * driver's Stasis application, with a channel id we choose (so its events
 * are known even when they come before the answer to the POST) and, when
 * the model gave a summary, the summary for the destination's phone.
 *
 * The summary goes in the originate's JSON body `variables` (the only place
 * ARI takes them): as PJSIP_HEADER(add,X-Switchboard-Summary) on a PJSIP
 * endpoint, so the INVITE carries it, and always as the inheritable
 * __SWITCHBOARD_SUMMARY, so a Local/ endpoint's dialplan can add the header
 * to the channel it dials. Asterisk sets them on the channel before it dials.
 */
import type { SendRequest } from '../driver.ts';
import { SUMMARY_HEADER, summaryHeaderValue } from '../../warm.ts';
import type { AriContext } from './context.ts';
import type { AriAnswer } from './rest.ts';

/** The channel variables that carry a summary to the destination, for this endpoint. */
export function summaryVariables(endpoint: string, summary: string | null): Record<string, string> | undefined {
  if (!summary) return undefined;
  const value = summaryHeaderValue(summary);
  if (!value) return undefined;
  const variables: Record<string, string> = { __SWITCHBOARD_SUMMARY: value };
  if (/^pjsip\//i.test(endpoint)) variables[`PJSIP_HEADER(add,${SUMMARY_HEADER})`] = value;
  return variables;
}

export interface NewLeg {
  endpoint: string;
  channelId: string;
  /** What StasisStart will carry: switchboard,<kind>,<command id>. */
  kind: 'transfer' | 'warm';
}

/** Originates the leg; throws AriUnreachable when Asterisk gave no answer. */
export function originateLeg(ctx: AriContext, request: SendRequest, leg: NewLeg): Promise<AriAnswer> {
  const { settings, rest } = ctx;
  const { command } = request;
  const variables = summaryVariables(leg.endpoint, command.summary);
  return rest.request(
    'POST',
    '/channels',
    {
      endpoint: leg.endpoint,
      app: settings.app,
      appArgs: `switchboard,${leg.kind},${command.id}`,
      callerId: settings.caller_id ?? request.caller ?? undefined,
      timeout: Math.max(1, Math.ceil(request.ringTimeoutMs / 1000)),
      channelId: leg.channelId,
    },
    { ...(request.signal ? { signal: request.signal } : {}), ...(variables ? { body: { variables } } : {}) },
  );
}
