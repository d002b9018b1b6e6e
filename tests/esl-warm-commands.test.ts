/**
 * What a warm transfer on FreeSWITCH writes into command lines, as tables:
 * the hold music, the summary as a sip_h_ variable (read back the way
 * FreeSWITCH splits an originate line, whatever the model wrote), the
 * spoken briefing and the briefing plan for each setting.
 */
import { describe, expect, it } from 'vitest';

import { BEEP, briefingPlan, holdStream, originateVariable, spokenBriefing, summaryVariable } from '../engine/calls/drivers/esl/warm-commands.ts';
import { warmSettingsOf } from '../engine/calls/warm.ts';
import { separate } from './helpers/fake-freeswitch-api.ts';

const HOSTILE = `Café order #12, "urgent" {x} $HOME | a\\b; it's 50% off — call back!`;

describe('the hold music', () => {
  it.each([
    [null, 'local_stream://moh'],
    ['jazz', 'local_stream://jazz'],
    ['local_stream://moh', 'local_stream://moh'],
    ['/usr/share/freeswitch/sounds/music/8000/suite-espanola.wav', '/usr/share/freeswitch/sounds/music/8000/suite-espanola.wav'],
  ])('%s plays as %s', (setting, path) => {
    expect(holdStream(setting)).toEqual({ ok: true, value: path });
  });

  it.each(['music on hold', "it's", 'playback::/tmp/x.wav', '$${hold_music}'])('refuses %s', (setting) => {
    expect(holdStream(setting)).toMatchObject({ ok: false, reason: expect.stringContaining('music_on_hold') });
  });
});

describe('the summary as a sip_h_ variable', () => {
  it('keeps printable ASCII that no FreeSWITCH parser reads', () => {
    expect(summaryVariable(HOSTILE)).toBe('Cafe order #12, urgent x HOME ab; its 50% off call back!');
    expect(summaryVariable(null)).toBe('');
    expect(summaryVariable('   ')).toBe('');
  });

  it('comes back unchanged from an originate line as FreeSWITCH splits it', () => {
    const value = summaryVariable(HOSTILE);
    const line = `{origination_uuid=ab,${originateVariable('sip_h_X-Switchboard-Summary', value)},ignore_early_media=true}user/100@pbx.example.com &park()`;
    const [dial = '', app] = separate(line, ' ');
    expect(app).toBe('&park()');
    const close = dial.lastIndexOf('}');
    expect(dial.slice(close + 1)).toBe('user/100@pbx.example.com');
    const variables = Object.fromEntries(separate(dial.slice(1, close), ',').map((pair) => separate(pair, '=', 2)));
    expect(variables).toEqual({ origination_uuid: 'ab', 'sip_h_X-Switchboard-Summary': value, ignore_early_media: 'true' });
  });
});

describe('the spoken briefing', () => {
  it('says the summary and, with dtmf, which key does what', () => {
    expect(spokenBriefing('Wants a refund', 'dtmf')).toBe('Call transfer. Wants a refund. Press 1 to take the call, or 2 to decline.');
    expect(spokenBriefing('Wants a refund?', 'stay')).toBe('Call transfer. Wants a refund?');
    expect(spokenBriefing('', 'stay')).toBe('Call transfer.');
  });

  it("leaves out what would split speak's data or be expanded as a variable", () => {
    const spoken = spokenBriefing('Caller ${uuid} | flite|kal|x \\ line\nbreak', 'stay');
    expect(spoken).toBe('Call transfer. Caller {uuid} flite kal x line break.');
    expect(spokenBriefing('Ärger mit der Lieferung', 'stay')).toBe('Call transfer. Ärger mit der Lieferung.');
  });
});

describe('the briefing plan', () => {
  const warm = (block: Record<string, unknown>) => warmSettingsOf({ driver: 'esl', host: 'fs', password: 'P', warm: block });

  it('tts: speak with flite and kal unless set', () => {
    expect(briefingPlan(warm({}), undefined, 'Wants a refund', null)).toEqual({
      ok: true,
      value: { variables: ['tts_engine=flite', 'tts_voice=kal'], apps: [{ name: 'speak', arg: 'Call transfer. Wants a refund. Press 1 to take the call, or 2 to decline.' }] },
    });
    expect(briefingPlan(warm({ voice: 'slt' }), 'flite', 'x', null)).toMatchObject({ value: { variables: ['tts_engine=flite', 'tts_voice=slt'] } });
    expect(briefingPlan(warm({ voice: 'en-US-Wavenet-D' }), 'unimrcp', 'x', null)).toMatchObject({ value: { variables: ['tts_engine=unimrcp', 'tts_voice=en-US-Wavenet-D'] } });
  });

  it('tts with another engine needs a voice, since speak without one hangs the leg up', () => {
    expect(briefingPlan(warm({}), 'unimrcp', 'x', null)).toEqual({ ok: false, reason: 'warm.voice is needed for the tts_engine unimrcp' });
    expect(briefingPlan(warm({ voice: 'Polly Joanna' }), 'flite', 'x', null)).toMatchObject({ ok: false });
  });

  it('url: a playback of the URL; header: a beep', () => {
    const url = 'https://tts.example.net/say?text=Wants%20a%20refund';
    expect(briefingPlan(warm({ briefing: 'url', briefing_url: 'https://tts.example.net/say?text={summary}' }), undefined, 'x', url)).toEqual({ ok: true, value: { variables: [], apps: [{ name: 'playback', arg: url }] } });
    expect(briefingPlan(warm({ briefing: 'url' }), undefined, 'x', null)).toEqual({ ok: false, reason: 'briefing: url needs warm.briefing_url' });
    expect(briefingPlan(warm({ briefing: 'url' }), undefined, 'x', 'https://tts.example.net/a b')).toMatchObject({ ok: false });
    expect(briefingPlan(warm({ briefing: 'header' }), undefined, 'x', null)).toEqual({ ok: true, value: { variables: [], apps: [{ name: 'playback', arg: BEEP }] } });
  });
});
