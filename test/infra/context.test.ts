// Context is the stack's only configuration: a missing or bad value must fail synth with a message
// that names the key, shows the value and says how to fix it.

import { describe, expect, it } from 'vitest';
import { ConsentCaptureStack, CONTEXT_DEFAULTS, readSettings } from '../../lib/consent-capture-stack.js';
import { testApp } from './fixtures/test-app.js';

function build(context: Record<string, unknown>): ConsentCaptureStack {
  return new ConsentCaptureStack(testApp(context), 'ConsentCapture');
}

describe('required context', () => {
  it('fails without oidcIssuer, naming the key and how to set it', () => {
    expect(() => build({ oidcIssuer: undefined })).toThrow(
      'missing context "oidcIssuer": set it with -c oidcIssuer=https://login.example.com/ or in cdk.json',
    );
  });

  it('fails without oidcAudience, naming the key and how to set it', () => {
    expect(() => build({ oidcAudience: undefined })).toThrow(
      'missing context "oidcAudience": set it with -c oidcAudience=consent-capture or in cdk.json',
    );
  });

  it('treats an empty oidcAudience (-c oidcAudience=) as missing', () => {
    expect(() => build({ oidcAudience: ' , ' })).toThrow(/missing context "oidcAudience"/);
  });

  it.each(['http://login.example.com/', 'login.example.com', 'https://login.example.com/?tenant=1'])(
    'rejects the issuer %s, showing the value and an https example',
    (issuer) => {
      expect(() => build({ oidcIssuer: issuer })).toThrow(
        new RegExp(`context "oidcIssuer" must be an https URL.*got "${issuer.replace(/[.?/]/g, '\\$&')}".*-c oidcIssuer=https://`),
      );
    },
  );
});

describe('optional context', () => {
  it('defaults employeeIdClaim, retentionDays and keyDeletionDays', () => {
    const stack = build({ employeeIdClaim: undefined, retentionDays: undefined, keyDeletionDays: undefined });

    expect(stack.settings).toMatchObject({
      employeeIdClaim: CONTEXT_DEFAULTS.employeeIdClaim,
      retentionDays: CONTEXT_DEFAULTS.retentionDays,
      keyDeletionDays: CONTEXT_DEFAULTS.keyDeletionDays,
    });
    expect(stack.settings.auditorRoleArn).toBeUndefined();
  });

  it('reads numbers given on the command line as strings', () => {
    const settings = readSettings(testApp({ retentionDays: '90', keyDeletionDays: '30' }).node);

    expect(settings.retentionDays).toBe(90);
    expect(settings.keyDeletionDays).toBe(30);
  });

  it.each([6, 31, '7.5', 'seven', -7])('rejects keyDeletionDays %s, showing the range', (value) => {
    expect(() => build({ keyDeletionDays: value })).toThrow(
      `context "keyDeletionDays" must be a whole number of days from 7 to 30, got ${JSON.stringify(value)}: e.g. -c keyDeletionDays=7 (the default)`,
    );
  });

  it.each([0, 3651, '1y'])('rejects retentionDays %s, showing the range', (value) => {
    expect(() => build({ retentionDays: value })).toThrow(
      `context "retentionDays" must be a whole number of days from 1 to 3650, got ${JSON.stringify(value)}`,
    );
  });

  it('accepts the edges of both ranges', () => {
    const low = readSettings(testApp({ retentionDays: 1, keyDeletionDays: 7 }).node);
    const high = readSettings(testApp({ retentionDays: 3650, keyDeletionDays: 30 }).node);

    expect([low.retentionDays, low.keyDeletionDays, high.retentionDays, high.keyDeletionDays]).toEqual([1, 7, 3650, 30]);
  });

  it('rejects an auditorRoleArn that is not an IAM role ARN', () => {
    expect(() => build({ auditorRoleArn: 'arn:aws:iam::123456789012:user/alice' })).toThrow(
      /context "auditorRoleArn" must be an IAM role ARN, got "arn:aws:iam::123456789012:user\/alice"/,
    );
  });

  it('rejects an employeeIdClaim with spaces', () => {
    expect(() => build({ employeeIdClaim: 'employee id' })).toThrow(/context "employeeIdClaim" must be a JWT claim name without spaces, got "employee id"/);
  });

  it('accepts an audience list, comma separated or as an array', () => {
    expect(readSettings(testApp({ oidcAudience: 'a, b' }).node).oidcAudience).toEqual(['a', 'b']);
    expect(readSettings(testApp({ oidcAudience: ['a', 'b'] }).node).oidcAudience).toEqual(['a', 'b']);
  });
});
