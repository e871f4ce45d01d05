// Whether a key policy that was written (a CloudTrail PutKeyPolicy record) is one the consent
// ledger accounts for. Pure: the worker (policy-watch.ts) reads the ledger and acts on the verdict.
import type { ConsentEvent } from '../shared/consent-state.js';
import { samePolicy } from '../shared/key-adoption.js';
import { buildKeyPolicy, type KeyPolicyRoles } from '../shared/key-policy.js';

export type KeyPolicyVerdict =
  /** The builder's policy for the event that was newest when it was written. */
  | { readonly kind: 'expected'; readonly sequence: number }
  /**
   * The builder's policy for an event superseded moments before the write: a steward that raced a
   * newer change, which its converge loop (or the repair) overwrites. Repaired quietly, no alarm.
   */
  | { readonly kind: 'stale'; readonly sequence: number }
  /** Nothing the ledger accounts for: a compromised writer, or a bug. Alarmed and repaired. */
  | { readonly kind: 'drift' };

export interface VerdictOptions {
  /**
   * Clock difference tolerated between the ledger's `at` (the function's clock) and CloudTrail's
   * eventTime (KMS's clock, truncated to the second). @default 2000
   */
  readonly clockMarginMs?: number;
  /**
   * How long after being superseded an event's policy may still be written by a slow steward: the
   * key steward's timeout and a margin. @default 30000
   */
  readonly staleWindowMs?: number;
}

/**
 * Judges `written` (the policy text of the PutKeyPolicy) made at `writtenAt` against the employee's
 * valid ledger events, oldest first. Policies compare semantically (statement order, and single
 * values against one-element arrays, carry no meaning), so a policy KMS or a client re-serialised
 * is still the builder's.
 */
export function judgeKeyPolicy(written: string, writtenAt: Date, events: readonly ConsentEvent[], roles: KeyPolicyRoles, options: VerdictOptions = {}): KeyPolicyVerdict {
  const margin = options.clockMarginMs ?? 2_000;
  const staleWindow = options.staleWindowMs ?? 30_000;
  const at = writtenAt.getTime();
  let stale: number | undefined;
  for (let i = events.length - 1; i >= 0; i -= 1) {
    const event = events[i];
    if (event === undefined) continue;
    const from = Date.parse(event.at);
    const next = events[i + 1];
    const until = next === undefined ? Number.POSITIVE_INFINITY : Date.parse(next.at);
    // The event was current somewhere in [from, until); did that overlap the write's instant?
    if (from > at + margin) continue;
    const current = until >= at - margin;
    const recent = until >= at - margin - staleWindow;
    if (!current && !recent) break;
    if (!samePolicy(written, buildKeyPolicy(event.state, roles))) continue;
    if (current) return { kind: 'expected', sequence: event.sequence };
    stale ??= event.sequence;
  }
  return stale === undefined ? { kind: 'drift' } : { kind: 'stale', sequence: stale };
}
