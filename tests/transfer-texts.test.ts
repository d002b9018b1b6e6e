/**
 * What the model is told after a warm transfer that did not happen, from
 * the reason the store keeps: "back with you" only when the phone system
 * took the caller off hold; otherwise that they may still be on hold.
 */
import { describe, expect, it } from 'vitest';

import { isSwitchboardError } from '../engine/errors.ts';
import { transferResult, type Attempt } from '../engine/calls/transfer-texts.ts';
import type { CallRecord, CommandRecord } from '../engine/calls/types.ts';
import { notReturned, WARM_REASONS } from '../engine/calls/warm.ts';

const call: CallRecord = { accountId: 'acme', callId: 'c-1', personaId: 'desk', caller: '+12125550199', source: 'tool', pbxCallRef: null, state: 'active', transferredTo: null, endReason: null, hangupAt: null, createdAt: 0, updatedAt: 0, endedAt: null };
const command = (mode: 'blind' | 'warm'): CommandRecord => ({
  id: 7, accountId: 'acme', callId: 'c-1', personaId: 'desk', kind: 'transfer', destination: '100', destinationType: 'extension', target: { kind: 'user', id: 'u-100', name: 'Dana Reyes' },
  driver: 'ari', idempotencyKey: 'k', status: 'failed', outcome: 'failed', ringTimeoutMs: 20_000, reason: null, attempts: 1, createdAt: 0, deliveredAt: 0, settledAt: 0, mode, summary: mode === 'warm' ? 'Wants a refund.' : null,
});
const destination = { dial: '100', type: 'extension' as const, target: { kind: 'user' as const, id: 'u-100', name: 'Dana Reyes' }, label: 'Dana Reyes (extension 100)' };

function textOfFailure(mode: 'blind' | 'warm', outcome: 'failed' | 'rejected' | 'no_answer', reason: string, ringSeconds = 20): string {
  const attempt: Attempt = { destination, outcome: { status: 'failed', outcome, reason, command: command(mode) } };
  try {
    transferResult(call, [attempt], { ringSeconds, hasFallback: false, keepsCaller: true });
  } catch (error) {
    if (isSwitchboardError(error)) return error.message;
    throw error;
  }
  throw new Error('a failed transfer must be a tool error');
}

describe('the text of a transfer that did not happen', () => {
  it.each([
    ['warm', 'rejected', WARM_REASONS.declined, 'Dana Reyes (extension 100) declined the call after the briefing. The caller is back with you: offer to take a message or to try someone else.'],
    ['warm', 'failed', 'Asterisk could not originate the call', 'The phone system did not transfer the call to Dana Reyes (extension 100) (Asterisk could not originate the call). The caller is back with you: tell them, and offer to take a message instead.'],
    [
      'warm',
      'failed',
      notReturned(WARM_REASONS.declined, 'Asterisk answered 404 to addChannel'),
      `The phone system did not transfer the call to Dana Reyes (extension 100) (${WARM_REASONS.declined}; the caller could not be brought back to the agent (Asterisk answered 404 to addChannel)). The phone system could not bring the caller back to you, so they may still be on hold. If you can hear them, apologise and offer to take a message.`,
    ],
    ['blind', 'failed', 'all agents busy', 'The phone system did not transfer the call to Dana Reyes (extension 100) (all agents busy). Tell the caller and offer to take a message instead.'],
  ] as const)('%s, %s: %s', (mode, outcome, reason, text) => {
    expect(textOfFailure(mode, outcome, reason)).toBe(text);
  });

  it('counts one second as one second', () => {
    expect(textOfFailure('blind', 'no_answer', 'no answer', 1)).toBe('Dana Reyes (extension 100) did not answer within 1 second. The caller is still with you: offer to take a message or to try someone else.');
    expect(textOfFailure('blind', 'no_answer', 'no answer', 20)).toContain('did not answer within 20 seconds.');
  });
});
