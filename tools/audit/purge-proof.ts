// `audit purge-proof <id>`: the evidence that an erasure happened, from the trail and the ledger
// only: the erasure request, the shredded key policy, DisableKey, ScheduleKeyDeletion with its
// date, the ledger's `purged` event with its object counts, and that nothing used the key after.
import { describeActor, type ConsentEvent } from '../../lambdas/shared/consent-state.js';
import type { AuditEvent } from './trail-record.js';

export interface ProofStep {
  readonly at: string;
  readonly by: string;
  readonly ref: string;
}

export interface PurgeProof {
  readonly employeeId: string;
  readonly keyArn: string | undefined;
  readonly erasureRequested: (ProofStep & { kind: string }) | undefined;
  readonly tagged: ProofStep | undefined;
  readonly shreddedPolicy: ProofStep | undefined;
  readonly disabled: ProofStep | undefined;
  readonly deletionScheduled: (ProofStep & { deletionDate: string | undefined }) | undefined;
  readonly purged: (ProofStep & { details: Readonly<Record<string, unknown>> }) | undefined;
  /** Use of the key in the seconds after DisableKey's (the trail's resolution): every one must have failed. */
  readonly usesAfterDisable: readonly { at: string; eventName: string; by: string; outcome: string }[];
  readonly missing: readonly string[];
  readonly complete: boolean;
}

export function purgeProof(employeeId: string, ledger: readonly ConsentEvent[], kms: readonly AuditEvent[], nameOf: (arn: string | undefined) => string): PurgeProof {
  const erasure = ledger.find((e) => e.kind === 'erase-requested' || e.kind === 'offboarded');
  const purged = ledger.find((e) => e.kind === 'purged');
  const keyArn = [...ledger].reverse().find((e) => e.state.keyArn !== undefined)?.state.keyArn;
  const onKey = kms.filter((e) => keyArn === undefined || e.keyArn === keyArn);
  const step = (e: AuditEvent | undefined): ProofStep | undefined => (e === undefined ? undefined : { at: e.time, by: nameOf(e.principal), ref: e.eventId });
  const after = erasure === undefined ? '' : erasure.at.slice(0, 19);
  const ok = (name: string) => onKey.find((e) => e.eventName === name && e.allowed && e.time >= after);
  const tagged = ok('TagResource');
  const shredded = onKey.find((e) => e.eventName === 'PutKeyPolicy' && e.allowed && e.time >= after && e.policy?.includes('"ShreddedReadOnly"') === true);
  const disabled = ok('DisableKey');
  const scheduled = ok('ScheduleKeyDeletion');
  const usesAfterDisable =
    disabled === undefined
      ? []
      : onKey
          .filter((e) => e.time > disabled.time && ['Decrypt', 'GenerateDataKey', 'Encrypt', 'EnableKey', 'CancelKeyDeletion', 'CreateGrant'].includes(e.eventName))
          .map((e) => ({ at: e.time, eventName: e.eventName, by: nameOf(e.principal), outcome: e.allowed ? 'ALLOWED' : (e.errorCode ?? 'error') }));
  const missing: string[] = [];
  if (erasure === undefined) missing.push('an erasure request in the ledger');
  if (disabled === undefined) missing.push('DisableKey');
  if (scheduled === undefined) missing.push('ScheduleKeyDeletion');
  if (purged === undefined) missing.push("the ledger's purged event");
  if (usesAfterDisable.some((u) => u.outcome === 'ALLOWED')) missing.push('no successful use after DisableKey');
  return {
    employeeId,
    keyArn,
    erasureRequested: erasure === undefined ? undefined : { at: erasure.at, by: describeActor(erasure.actor), ref: `ledger #${erasure.sequence}`, kind: erasure.kind },
    tagged: step(tagged),
    shreddedPolicy: step(shredded),
    disabled: step(disabled),
    deletionScheduled: scheduled === undefined ? undefined : { ...(step(scheduled) as ProofStep), deletionDate: scheduled.deletionDate },
    purged: purged === undefined ? undefined : { at: purged.at, by: describeActor(purged.actor), ref: `ledger #${purged.sequence}`, details: purged.details ?? {} },
    usesAfterDisable,
    missing,
    complete: missing.length === 0,
  };
}
