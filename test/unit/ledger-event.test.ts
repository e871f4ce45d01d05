// Ledger events are untrusted input: what makes one invalid, so that it is never applied.
import { describe, expect, it } from 'vitest';
import type { ConsentEvent } from '../../lambdas/shared/consent-state.js';
import { readLedgerEvent } from '../../lambdas/shared/ledger-event.js';

const KEY = 'arn:aws:kms:us-east-1:123456789012:key/00000000-0000-4000-8000-000000000000';
const at = '2026-11-30T10:00:00.000Z';
const good: ConsentEvent = {
  employeeId: 'e-1',
  sequence: 2,
  kind: 'paused',
  at,
  actor: { kind: 'employee', issuer: 'https://idp.example', subject: 'e-1', jti: 'j-1', iat: 1_764_000_000, tokenSha256: 'a'.repeat(64) },
  state: { employeeId: 'e-1', status: 'paused', scopes: ['clicks'], pausedUntil: '2026-11-30T11:00:00.000Z', keyArn: KEY, sequence: 2, updatedAt: at },
};
const withState = (state: Record<string, unknown>) => ({ ...good, state: { ...good.state, ...state } });

describe('readLedgerEvent', () => {
  it('reads a bare-word actor of an older event as an actor, and refuses an actor of an unknown kind', () => {
    const legacy = readLedgerEvent('e-1', 2, { ...good, actor: 'employee' });
    const forged = readLedgerEvent('e-1', 2, { ...good, actor: { kind: 'admin', issuer: 'https://idp.example', subject: 'root' } });

    expect(legacy).toEqual({ valid: true, event: { ...good, actor: { kind: 'employee', issuer: null, subject: 'e-1' } } });
    expect(forged.valid).toBe(false);
  });

  it('accepts an event the consent function writes', () => {
    expect(readLedgerEvent('e-1', 2, good)).toEqual({ valid: true, event: good });
  });

  it('reads the bare-word actors of events recorded before callers were named', () => {
    expect(readLedgerEvent('e-1', 2, { ...good, actor: 'employee' })).toEqual({ valid: true, event: { ...good, actor: { kind: 'employee', issuer: null, subject: 'e-1' } } });
    expect(readLedgerEvent('e-1', 2, { ...good, actor: 'offboarding' })).toMatchObject({ valid: true, event: { actor: { kind: 'hr', issuer: null, subject: null } } });
  });

  it('reads an actor without request evidence (recorded before evidence existed)', () => {
    const { jti: _j, iat: _i, tokenSha256: _t, ...bare } = good.actor as Record<string, unknown>;
    expect(readLedgerEvent('e-1', 2, { ...good, actor: bare })).toEqual({ valid: true, event: { ...good, actor: { kind: 'employee', issuer: 'https://idp.example', subject: 'e-1' } } });
  });

  it.each<[string, unknown]>([
    ['an unknown scope', withState({ scopes: ['screenshots'] })],
    ['an unknown status', withState({ status: 'granted' })],
    ['a repeated scope', withState({ scopes: ['clicks', 'clicks'] })],
    ['a pause without its end', withState({ pausedUntil: undefined })],
    ['an active consent without a key', { ...good, kind: 'granted', state: { ...good.state, status: 'active', pausedUntil: undefined, keyArn: undefined } }],
    ['a key that is an alias', withState({ keyArn: 'alias/consent-capture/e-1' })],
    ['a revoked state with scopes', { ...good, kind: 'revoked', state: { ...good.state, status: 'revoked', pausedUntil: undefined } }],
    ['a kind that does not match the status', { ...good, kind: 'revoked' }],
    ['a state of another employee', withState({ employeeId: 'e-2' })],
    ['a state of another sequence', withState({ sequence: 3 })],
    ['an unknown kind', { ...good, kind: 'forged' }],
    ['an unknown actor', { ...good, actor: 'admin' }],
    ['an actor of an unknown kind', { ...good, actor: { kind: 'admin', issuer: 'https://idp.example', subject: 'root' } }],
    ['a token digest that is not SHA-256 hex', { ...good, actor: { ...good.actor, tokenSha256: 'eyJhbGciOiJSUzI1NiJ9' } }],
    ['a negative iat', { ...good, actor: { ...good.actor, iat: -1 } }],
    ['a time that is not an instant', { ...good, at: 'yesterday' }],
    ['no state', { ...good, state: undefined }],
    ['not an object', 'granted'],
  ])('refuses %s', (_name, item) => {
    expect(readLedgerEvent('e-1', 2, item).valid).toBe(false);
  });

  it('refuses an event stored under another employee or sequence', () => {
    expect(readLedgerEvent('e-2', 2, good).valid).toBe(false);
    expect(readLedgerEvent('e-1', 3, good).valid).toBe(false);
  });

  it('names paths, never values, in its issues', () => {
    const reading = readLedgerEvent('e-1', 2, withState({ scopes: ['alice@example.com'] }));

    expect(reading.valid).toBe(false);
    expect(JSON.stringify(reading)).not.toContain('alice@example.com');
  });
});

describe('readLedgerEvent on consent windows', () => {
  it('accepts the windows the transition folds in', () => {
    const event = withState({ windows: { clicks: [{ from: '2026-11-29T10:00:00.000Z', to: '2026-11-30T10:00:00.000Z' }, { from: '2026-11-30T11:00:00.000Z' }] } });

    expect(readLedgerEvent('e-1', 2, event).valid).toBe(true);
  });

  it.each<[string, unknown]>([
    ['for an unknown scope', { screenshots: [{ from: at }] }],
    ['that end before they start', { clicks: [{ from: at, to: '2026-11-29T10:00:00.000Z' }] }],
    ['whose instants are not instants', { clicks: [{ from: 'last week' }] }],
    ['with extra fields', { clicks: [{ from: at, scope: 'keystrokes' }] }],
  ])('refuses windows %s', (_name, windows) => {
    expect(readLedgerEvent('e-1', 2, withState({ windows })).valid).toBe(false);
  });
});
