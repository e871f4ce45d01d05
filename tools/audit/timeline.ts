// `audit employee <id>`: one timeline of an employee's consent ledger (with who made each change)
// and every KMS call on that employee's key, allowed and denied, in time order.
import { describeActor, type ConsentEvent } from '../../lambdas/shared/consent-state.js';
import type { AuditEvent } from './trail-record.js';

export interface TimelineEntry {
  readonly time: string;
  readonly source: 'ledger' | 'kms';
  /** The ledger event's kind, or the KMS operation. */
  readonly what: string;
  readonly who: string;
  /** `allowed`, or the KMS error code; for the ledger, the resulting status. */
  readonly outcome: string;
  readonly detail: string;
  readonly ref: string;
}

function summary(event: ConsentEvent): string {
  const s = event.state;
  const parts = [s.scopes.length > 0 ? `scopes ${s.scopes.join(',')}` : 'no scopes'];
  if (s.pausedUntil !== undefined) parts.push(`paused until ${s.pausedUntil}`);
  if (event.details !== undefined) parts.push(JSON.stringify(event.details));
  return parts.join('; ');
}

function kmsDetail(event: AuditEvent, nameOf: (arn: string | undefined) => string): string {
  if (event.grant !== undefined) {
    const constraint = Object.entries(event.grant.constraintContext).map(([k, v]) => `${k}=${v}`).join(',');
    return `grant ${event.grant.operations.join(',')} to ${nameOf(event.grant.grantee)}${constraint === '' ? ', unconstrained' : `, ${event.grant.constraintType ?? 'constraint'} ${constraint}`}`;
  }
  if (event.scope !== undefined) return `scope ${event.scope}`;
  if (event.deletionDate !== undefined) return `deletion on ${event.deletionDate}`;
  if (event.eventName === 'PutKeyPolicy' && event.policy !== undefined) {
    try {
      const sids = (JSON.parse(event.policy) as { Statement?: { Sid?: string }[] }).Statement?.map((s) => s.Sid ?? '?') ?? [];
      return `statements ${sids.join(',')}`;
    } catch {
      return 'policy (not JSON)';
    }
  }
  return '';
}

/** Merges the two sources; within one trail second the ledger event comes first (it is written before KMS is told). */
export function employeeTimeline(ledger: readonly ConsentEvent[], kms: readonly AuditEvent[], nameOf: (arn: string | undefined) => string): TimelineEntry[] {
  const entries: { entry: TimelineEntry; second: number; rank: number; ms: number; order: number }[] = [];
  let order = 0;
  for (const e of ledger) {
    const ms = Date.parse(e.at);
    entries.push({
      entry: { time: e.at, source: 'ledger', what: e.kind, who: describeActor(e.actor), outcome: e.state.status, detail: summary(e), ref: `ledger #${e.sequence}` },
      second: Math.floor(ms / 1000),
      rank: 0,
      ms,
      order: (order += 1),
    });
  }
  for (const e of kms) {
    const ms = Date.parse(e.time);
    entries.push({
      entry: { time: e.time, source: 'kms', what: e.eventName, who: nameOf(e.principal), outcome: e.allowed ? 'allowed' : (e.errorCode ?? 'error'), detail: kmsDetail(e, nameOf), ref: e.eventId },
      second: Math.floor(ms / 1000),
      rank: 1,
      ms,
      order: (order += 1),
    });
  }
  entries.sort((a, b) => a.second - b.second || a.rank - b.rank || a.ms - b.ms || a.order - b.order);
  return entries.map((e) => e.entry);
}
