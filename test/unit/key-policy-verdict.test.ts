// policy-watch's verdict on a written key policy: the builder's policy for the event current at the
// write is expected; one a slow steward wrote for an event superseded moments before is stale
// (repaired, not alarmed); anything else, including an old policy replayed later, is drift.
import { describe, expect, it } from 'vitest';
import { judgeKeyPolicy } from '../../lambdas/policy-watch/key-policy-verdict.js';
import type { ConsentEvent, ConsentState } from '../../lambdas/shared/consent-state.js';
import { buildKeyPolicy, type KeyPolicyRoles } from '../../lambdas/shared/key-policy.js';

const ROLES: KeyPolicyRoles = {
  ingest: 'arn:aws:iam::111122223333:role/cc-ingest',
  steward: 'arn:aws:iam::111122223333:role/cc-steward',
  export: 'arn:aws:iam::111122223333:role/cc-export',
  purge: 'arn:aws:iam::111122223333:role/cc-purge',
  auditor: 'arn:aws:iam::111122223333:role/cc-auditor',
};
const KEY = 'arn:aws:kms:eu-west-1:111122223333:key/0f0f0f0f-0000-4000-8000-000000000001';

function event(sequence: number, at: string, state: Partial<ConsentState>): ConsentEvent {
  return {
    employeeId: 'e-1',
    sequence,
    kind: 'granted',
    at,
    actor: { kind: 'employee', issuer: null, subject: 'e-1' },
    state: { employeeId: 'e-1', status: 'active', scopes: ['keystrokes'], keyArn: KEY, sequence, updatedAt: at, ...state },
  };
}

// Granted at 10:00:00, paused at 10:01:00.
const EVENTS = [event(1, '2026-11-30T10:00:00.000Z', {}), event(2, '2026-11-30T10:01:00.000Z', { status: 'paused', pausedUntil: '2026-11-30T12:00:00.000Z' })];
const policyOf = (e: ConsentEvent): string => JSON.stringify(buildKeyPolicy(e.state, ROLES));
const at = (iso: string): Date => new Date(iso);

describe('judgeKeyPolicy', () => {
  it('finds the newest event\'s policy, written after it, expected', () => {
    expect(judgeKeyPolicy(policyOf(EVENTS[1] as ConsentEvent), at('2026-11-30T10:01:01Z'), EVENTS, ROLES)).toEqual({ kind: 'expected', sequence: 2 });
  });

  it('finds an earlier event\'s policy expected when it was written while that event was the newest', () => {
    expect(judgeKeyPolicy(policyOf(EVENTS[0] as ConsentEvent), at('2026-11-30T10:00:30Z'), EVENTS, ROLES)).toEqual({ kind: 'expected', sequence: 1 });
  });

  it('compares semantically: statement order and one-element arrays carry no meaning', () => {
    const doc = buildKeyPolicy((EVENTS[1] as ConsentEvent).state, ROLES);
    const reordered = JSON.stringify({ ...doc, Statement: [...doc.Statement].reverse().map((s) => ({ ...s, Resource: ['*'] })) }, null, 2);

    expect(judgeKeyPolicy(reordered, at('2026-11-30T10:05:00Z'), EVENTS, ROLES).kind).toBe('expected');
  });

  it('tolerates CloudTrail\'s second-precision eventTime against the ledger\'s milliseconds', () => {
    const events = [event(1, '2026-11-30T10:00:00.000Z', {}), event(2, '2026-11-30T10:01:00.900Z', { status: 'revoked' })];

    expect(judgeKeyPolicy(policyOf(events[1] as ConsentEvent), at('2026-11-30T10:01:00Z'), events, ROLES)).toEqual({ kind: 'expected', sequence: 2 });
  });

  it('calls the previous event\'s policy written seconds after its successor stale: repaired, not alarmed', () => {
    expect(judgeKeyPolicy(policyOf(EVENTS[0] as ConsentEvent), at('2026-11-30T10:01:10Z'), EVENTS, ROLES)).toEqual({ kind: 'stale', sequence: 1 });
  });

  it('calls an old policy replayed long after it was superseded drift (the pre-pause policy, restored)', () => {
    expect(judgeKeyPolicy(policyOf(EVENTS[0] as ConsentEvent), at('2026-11-30T10:05:00Z'), EVENTS, ROLES)).toEqual({ kind: 'drift' });
  });

  it('calls a policy no event gives drift: one scope more, or the account root added', () => {
    const newest = EVENTS[1] as ConsentEvent;
    const oneScopeMore = JSON.stringify(buildKeyPolicy({ ...newest.state, scopes: ['keystrokes', 'clicks'] }, ROLES));
    const doc = buildKeyPolicy(newest.state, ROLES);
    const withRoot = JSON.stringify({ ...doc, Statement: [...doc.Statement, { Sid: 'Root', Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::111122223333:root' }, Action: 'kms:*', Resource: '*' }] });

    expect(judgeKeyPolicy(oneScopeMore, at('2026-11-30T10:02:00Z'), EVENTS, ROLES)).toEqual({ kind: 'drift' });
    expect(judgeKeyPolicy(withRoot, at('2026-11-30T10:02:00Z'), EVENTS, ROLES)).toEqual({ kind: 'drift' });
  });

  it('calls the newest event\'s policy written before that event existed drift (a writer that knew ahead)', () => {
    expect(judgeKeyPolicy(policyOf(EVENTS[1] as ConsentEvent), at('2026-11-30T10:00:30Z'), EVENTS, ROLES)).toEqual({ kind: 'drift' });
  });

  it('calls anything written for an employee without events drift, and text that is not JSON too', () => {
    expect(judgeKeyPolicy(policyOf(EVENTS[0] as ConsentEvent), at('2026-11-30T10:00:30Z'), [], ROLES)).toEqual({ kind: 'drift' });
    expect(judgeKeyPolicy('not a policy', at('2026-11-30T10:00:30Z'), EVENTS, ROLES)).toEqual({ kind: 'drift' });
  });
});
