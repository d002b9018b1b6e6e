/**
 * What the schema of call_control cannot say: keys that one transfer method
 * needs and another does not. Each finding points at the key, so `validate`
 * reports it at file:line:col like a schema problem.
 */
import type { CallControlSettings } from '../../manifests/types.ts';
import { warmSettingsOf } from '../warm.ts';
import { DEFAULT_TTS_ENGINE, holdStream } from './esl/warm-commands.ts';

interface Finding {
  path: (string | number)[];
  message: string;
}

export function checkCallControl(settings: CallControlSettings | undefined): Finding[] {
  if (!settings) return [];
  const findings: Finding[] = [];
  const need = (key: string, why: string): void => {
    if ((settings as unknown as Record<string, unknown>)[key] === undefined) findings.push({ path: ['call_control'], message: `missing required property "${key}": ${why}` });
  };
  switch (settings.driver) {
    case 'ari': {
      const method = settings.transfer_method ?? 'bridge';
      if (method !== 'continue') need('endpoint_template', `transfer_method ${method} dials an endpoint, e.g. PJSIP/{destination}@trunk`);
      else if (settings.warm) need('endpoint_template', 'a warm transfer dials the destination itself, e.g. PJSIP/{destination}');
      if (settings.warm?.briefing === 'tts') {
        findings.push({ path: ['call_control', 'warm', 'briefing'], message: 'Asterisk has no text-to-speech of its own: use url (with briefing_url, e.g. a TTS service that returns audio) or header' });
      }
      break;
    }
    case 'esl': {
      if (settings.transfer_method === 'bridge') need('endpoint_template', 'transfer_method bridge originates a leg, e.g. user/{destination} or sofia/gateway/trunk/{destination}');
      const warm = warmSettingsOf(settings);
      const engine = settings.tts_engine ?? DEFAULT_TTS_ENGINE;
      // FreeSWITCH's speak hangs the leg up when it has no voice; flite's is known, another engine's is not.
      if (warm.briefing === 'tts' && engine !== DEFAULT_TTS_ENGINE && !warm.voice) {
        findings.push({ path: ['call_control', 'tts_engine'], message: `a spoken briefing with the tts_engine ${engine} needs warm.voice (one of its voices)` });
      }
      const music = holdStream(warm.musicOnHold);
      if (!music.ok) findings.push({ path: ['call_control', 'warm', 'music_on_hold'], message: music.reason });
      break;
    }
    default:
      break;
  }
  return findings;
}
