// The consented periods `audit check` judges data keys by, rebuilt from ledger events alone.
import { describe, expect, it } from 'vitest';
import type { ConsentEvent, ConsentState } from '../../lambdas/shared/consent-state.js';
import { consentPeriods, insidePeriods } from '../../tools/audit/invariants.js';

const KEY = 'arn:aws:kms:us-east-1:123456789012:key/00000000-0000-4000-8000-000000000001';
const event = (sequence: number, kind: ConsentEvent['kind'], at: string, state: Partial<ConsentState>): ConsentEvent =>
  ({ employeeId: 'e-1', sequence, kind, at, actor: { kind: 'service', name: 'purge-worker' }, state: { employeeId: 'e-1', sequence, updatedAt: at, scopes: [], status: 'none', keyArn: KEY, ...state } }) as ConsentEvent;

describe('consentPeriods', () => {
  const events = [
    event(1, 'granted', '2026-11-30T10:00:00.400Z', { status: 'active', scopes: ['clicks', 'keystrokes'] }),
    event(2, 'paused', '2026-11-30T11:00:00.600Z', { status: 'paused', scopes: ['clicks', 'keystrokes'], pausedUntil: '2026-11-30T11:30:00.000Z' }),
    event(3, 'scopes-changed', '2026-11-30T12:00:00.000Z', { status: 'active', scopes: ['clicks'] }),
    event(4, 'revoked', '2026-11-30T13:00:00.000Z', { status: 'revoked', scopes: [] }),
  ];

  it('opens at a grant, closes at a pause, reopens when the pause lapses by itself, and closes a dropped scope', () => {
    const periods = consentPeriods(events);

    expect(periods.get('clicks')).toEqual([
      { from: '2026-11-30T10:00:00Z', to: '2026-11-30T11:00:01Z' },
      { from: '2026-11-30T11:30:00Z', to: '2026-11-30T13:00:00Z' },
    ]);
    expect(periods.get('keystrokes')).toEqual([
      { from: '2026-11-30T10:00:00Z', to: '2026-11-30T11:00:01Z' },
      { from: '2026-11-30T11:30:00Z', to: '2026-11-30T12:00:00Z' },
    ]);
  });

  it('judges a trail second inside when any instant of it is consented', () => {
    const clicks = consentPeriods(events).get('clicks');

    expect(insidePeriods(clicks, '2026-11-30T10:00:00Z')).toBe(true);
    expect(insidePeriods(clicks, '2026-11-30T11:00:00Z')).toBe(true);
    expect(insidePeriods(clicks, '2026-11-30T11:00:01Z')).toBe(false);
    expect(insidePeriods(clicks, '2026-11-30T11:29:59Z')).toBe(false);
    expect(insidePeriods(clicks, '2026-11-30T13:00:00Z')).toBe(false);
    expect(insidePeriods(undefined, '2026-11-30T10:30:00Z')).toBe(false);
  });
});
