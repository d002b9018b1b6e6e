/**
 * The pure core of the transfer policy's patterns: what a region class
 * matches, and what an allow pattern reaches according to libphonenumber's
 * numbering-plan data (which the warnings of `validate` are built on).
 */
import metadataJson from 'libphonenumber-js/metadata.max.json';
import { Metadata, type CountryCode } from 'libphonenumber-js/max';
import { describe, expect, it } from 'vitest';

import { compileDialPattern, leadingDigitsOf, patternReach, regionsOfCallingCode } from '../engine/calls/dial-patterns.ts';

describe('region classes', () => {
  it.each([
    ['+1 US/CA', '+12125550100', true],
    ['+1 US/CA', '+14165550123', true],
    ['+1 US/CA', '+18762101234', false],
    ['+1 US/CA', '+18095551234', false],
    ['+1 US/CA', '+15555550100', false], // not a valid number of either
    ['+1 US/CA', '100', false],
    ['+44 GB', '+442079460958', true],
    ['+44 GB', '+441534123456', false], // Jersey
    ['+1 JM', '+18762101234', true],
  ])('%s matches %s: %s', (pattern, dial, expected) => {
    expect(compileDialPattern(pattern).matches(dial)).toBe(expected);
  });
});

describe('what an allow pattern reaches', () => {
  it.each([
    ['+1NXXNXXXXXX', ['1'], 23],
    ['+1.', ['1'], 23],
    ['+1212NXXXXXX', ['1'], 0],
    ['+1876NXXXXXX', ['1'], 0],
    ['+4420.', ['44'], 0],
    ['+44.', ['44'], 1],
    ['+7.', ['7'], 2],
    ['+79.', ['7'], 0],
  ])('%s: calling codes %j, %i other countries of the code', (pattern, codes, others) => {
    expect(patternReach(pattern)).toEqual({ callingCodes: codes, sharedRegions: expect.any(Array) });
    expect(patternReach(pattern)?.sharedRegions).toHaveLength(others);
  });

  it('counts every calling code a short pattern can begin', () => {
    expect(patternReach('+3.')?.callingCodes).toHaveLength(34);
    expect(patternReach('+87.')?.callingCodes).toEqual(['870', '878']);
  });

  it('leaves extension patterns and region classes alone', () => {
    expect(patternReach('6XX')).toBeUndefined();
    expect(patternReach('+1 US/CA')).toBeUndefined();
  });

  it('reads the leading digits of every country that shares a calling code', () => {
    // A country whose expression could not be read would never be named in a warning: the data must stay readable.
    const metadata = new Metadata();
    const shared = Object.entries(metadataJson.country_calling_codes).filter(([, regions]) => regions.length > 1);
    expect(shared.length).toBeGreaterThan(5);
    for (const [code] of shared) {
      for (const region of regionsOfCallingCode(code)) {
        metadata.selectNumberingPlan(region as CountryCode);
        const expression = metadata.numberingPlan?.leadingDigits();
        if (expression) expect(leadingDigitsOf(region), `${region}: ${expression}`).not.toBeNull();
      }
    }
    expect(leadingDigitsOf('JM')).toEqual(['658', '876']);
    expect(leadingDigitsOf('US')).toBeNull();
  });
});
