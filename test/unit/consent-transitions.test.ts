import { describe, expect, it } from 'vitest';
import { restatedWithdrawal, transition, NO_CHANGE, type ConsentCommand } from '../../lambdas/consent/transitions.js';
import { effectiveState, initialState, mayCapture, publicState, type ConsentState } from '../../lambdas/shared/consent-state.js';
import { ConflictError } from '../../lambdas/shared/errors.js';

const NOW = new Date('2026-11-26T12:00:00.000Z');
const LATER = (ms: number) => new Date(NOW.getTime() + ms);
const HOUR = 3_600_000;
const notice = { noticeVersion: 'v3', noticeSha256: 'a'.repeat(64) };

const none = initialState('e-1', NOW.toISOString());
const state = (overrides: Partial<ConsentState>): ConsentState => ({ ...none, sequence: 1, ...overrides });
const active = state({ status: 'active', scopes: ['clicks', 'keystrokes'], keyArn: 'arn:k', ...notice });
const paused = state({ ...active, status: 'paused', pausedUntil: LATER(HOUR).toISOString() });

function apply(from: ConsentState, command: ConsentCommand, now = NOW) {
  const result = transition(from, command, now);
  if (result === NO_CHANGE) throw new Error('expected a change');
  return result;
}

describe('grant', () => {
  it('turns none into active with the scopes and notice, as event n+1', () => {
    const result = apply(none, { type: 'grant', scopes: ['clicks', 'clicks'], ...notice });

    expect(result.kind).toBe('granted');
    expect(result.state).toMatchObject({ status: 'active', scopes: ['clicks'], sequence: 1, updatedAt: NOW.toISOString(), ...notice });
  });

  it('changes scopes of an active consent as scopes-changed', () => {
    expect(apply(active, { type: 'grant', scopes: ['app-focus'], ...notice })).toMatchObject({ kind: 'scopes-changed', state: { status: 'active', scopes: ['app-focus'], sequence: 2 } });
  });

  it('keeps a running pause running when scopes change', () => {
    const result = apply(paused, { type: 'grant', scopes: ['clicks'], ...notice });

    expect(result.state).toMatchObject({ status: 'paused', pausedUntil: paused.pausedUntil });
  });

  it('re-grants after a revoke, keeping the key', () => {
    const revoked = state({ status: 'revoked', keyArn: 'arn:k' });

    expect(apply(revoked, { type: 'grant', scopes: ['clicks'], ...notice }).state).toMatchObject({ status: 'active', keyArn: 'arn:k' });
  });

  it.each(['purging', 'purged'] as const)('is refused once %s', (status) => {
    expect(() => transition(state({ status }), { type: 'grant', scopes: ['clicks'], ...notice }, NOW)).toThrow(ConflictError);
  });
});

describe('pause and resume', () => {
  it('pauses an active consent until the given time', () => {
    const until = LATER(30 * 24 * HOUR);

    expect(apply(active, { type: 'pause', until }).state).toMatchObject({ status: 'paused', pausedUntil: until.toISOString(), scopes: active.scopes });
  });

  it('replaces a running pause with a new end', () => {
    const until = LATER(5 * HOUR);

    expect(apply(paused, { type: 'pause', until }).state.pausedUntil).toBe(until.toISOString());
  });

  it.each(['none', 'revoked'] as const)('refuses to pause when %s', (status) => {
    expect(() => transition(state({ status }), { type: 'pause', until: LATER(HOUR) }, NOW)).toThrow(/no consent to pause/);
  });

  it('resumes a running pause and drops pausedUntil', () => {
    const result = apply(paused, { type: 'resume' });

    expect(result.kind).toBe('resumed');
    expect(result.state.status).toBe('active');
    expect(result.state.pausedUntil).toBeUndefined();
  });

  it('treats resuming a lapsed pause as no change', () => {
    expect(transition(paused, { type: 'resume' }, LATER(HOUR + 1))).toBe(NO_CHANGE);
  });

  it('refuses to resume when nothing is paused or consented', () => {
    expect(() => transition(state({ status: 'revoked' }), { type: 'resume' }, NOW)).toThrow(/no pause to resume/);
  });
});

describe('revoke and offboard', () => {
  it('revokes without erasing: no scopes, key kept, no purge', () => {
    const result = apply(paused, { type: 'revoke', erase: false });

    expect(result).toMatchObject({ kind: 'revoked', startsPurge: false, state: { status: 'revoked', scopes: [], keyArn: 'arn:k' } });
    expect(result.state.pausedUntil).toBeUndefined();
  });

  it('treats a second revoke as no change', () => {
    expect(transition(state({ status: 'revoked' }), { type: 'revoke', erase: false }, NOW)).toBe(NO_CHANGE);
  });

  it('starts a purge when revoking with erase, from any open state', () => {
    for (const from of [none, active, paused, state({ status: 'revoked' })]) {
      expect(apply(from, { type: 'revoke', erase: true })).toMatchObject({ kind: 'erase-requested', startsPurge: true, state: { status: 'purging' } });
    }
  });

  it('offboards and starts a purge', () => {
    expect(apply(active, { type: 'offboard' })).toMatchObject({ kind: 'offboarded', startsPurge: true, state: { status: 'purging', scopes: [] } });
  });

  it.each(['purging', 'purged'] as const)('treats offboarding a %s employee as no change', (status) => {
    expect(transition(state({ status }), { type: 'offboard' }, NOW)).toBe(NO_CHANGE);
  });

  it.each(['purging', 'purged'] as const)('treats any revoke of a %s employee as no change', (status) => {
    expect(transition(state({ status }), { type: 'revoke', erase: true }, NOW)).toBe(NO_CHANGE);
    expect(transition(state({ status }), { type: 'revoke', erase: false }, NOW)).toBe(NO_CHANGE);
  });

  it.each(['purging', 'purged'] as const)('refuses pause and resume once %s', (status) => {
    expect(() => transition(state({ status }), { type: 'pause', until: LATER(HOUR) }, NOW)).toThrow(/consent is closed/);
    expect(() => transition(state({ status }), { type: 'resume' }, NOW)).toThrow(/consent is closed/);
  });
});

describe('effective state', () => {
  it('reads a lapsed pause as active, at the exact instant it ends', () => {
    expect(effectiveState(paused, LATER(HOUR - 1)).status).toBe('paused');
    expect(effectiveState(paused, LATER(HOUR)).status).toBe('active');
  });

  it('allows capture only for consented scopes while effectively active', () => {
    expect(mayCapture(active, 'clicks', NOW)).toBe(true);
    expect(mayCapture(active, 'app-focus', NOW)).toBe(false);
    expect(mayCapture(paused, 'clicks', NOW)).toBe(false);
    expect(mayCapture(paused, 'clicks', LATER(HOUR))).toBe(true);
    expect(mayCapture(state({ status: 'revoked', scopes: ['clicks'] }), 'clicks', NOW)).toBe(false);
  });

  it('never shows the key ARN to clients', () => {
    expect(JSON.stringify(publicState(active, NOW))).not.toContain('arn:');
  });
});

describe('restatedWithdrawal (recording a withdrawal on top of an invalid ledger event)', () => {
  const now = new Date('2026-11-30T10:00:00.000Z');
  const base: ConsentState = { employeeId: 'e-1', status: 'revoked', scopes: [], keyArn: 'arn:aws:kms:us-east-1:123456789012:key/00000000-0000-4000-8000-000000000000', sequence: 4, updatedAt: '2026-11-29T10:00:00.000Z' };

  it('records a revoke again where transition finds nothing to do', () => {
    expect(transition(base, { type: 'revoke', erase: false }, now)).toBe(NO_CHANGE);
    expect(restatedWithdrawal(base, { type: 'revoke', erase: false }, now)).toMatchObject({ kind: 'revoked', state: { status: 'revoked', sequence: 5, keyArn: base.keyArn }, startsPurge: false });
  });

  it('restates an erasure under way and queues its purge again', () => {
    expect(restatedWithdrawal({ ...base, status: 'purging' }, { type: 'offboard' }, now)).toMatchObject({ kind: 'offboarded', state: { status: 'purging', sequence: 5 }, startsPurge: true });
  });

  it('needs nothing once purged, and never restates a grant', () => {
    expect(restatedWithdrawal({ ...base, status: 'purged' }, { type: 'revoke', erase: true }, now)).toBe(NO_CHANGE);
    expect(restatedWithdrawal(base, { type: 'resume' }, now)).toBe(NO_CHANGE);
  });
});
