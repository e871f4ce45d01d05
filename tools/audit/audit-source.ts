// What every audit command needs from a source of evidence, local or AWS, and the commands built
// on it: check, employee, purge-proof. The sources differ in how they read; the judging is here.
import type { KeyPolicyRoles } from '../../lambdas/shared/key-policy.js';
import type { KeyPeriod } from './duckdb-trail.js';
import { consentPeriods, InvariantChecker, type Violation } from './invariants.js';
import type { LedgerExport } from './ledger-source.js';
import { purgeProof, type PurgeProof } from './purge-proof.js';
import { employeeTimeline, type TimelineEntry } from './timeline.js';
import type { AuditEvent } from './trail-record.js';

export interface Period {
  /** ISO-8601 instant, inclusive. */
  readonly from: string;
  /** ISO-8601 instant, exclusive. */
  readonly to: string;
}

export interface AuditSource {
  /** The roles employee key policies name, for the key-policy builder. */
  readonly roles: KeyPolicyRoles;
  /** A short name for a principal ARN (`ingest`, `admin`, …), or the ARN. */
  nameOf(arn: string | undefined): string;
  employeesWithKeys(period: Period): Promise<string[]>;
  ledger(employeeIds: readonly string[]): Promise<LedgerExport>;
  /** Successful KMS records the invariants may object to, in trail order (a source may pass more). Returns how many it read. */
  streamForCheck(period: Period, periods: readonly KeyPeriod[], onEvents: (events: AuditEvent[]) => void): Promise<void>;
  /** The employee-key-timeline named query. */
  keyTimeline(period: Period, employeeId: string, keyArn: string): Promise<AuditEvent[]>;
  /** The purge-proof named query. */
  keyPurge(period: Period, keyArn: string): Promise<AuditEvent[]>;
  close(): Promise<void>;
}

export interface CheckResult {
  readonly employees: number;
  readonly violations: readonly Violation[];
  readonly invalidLedgerEvents: LedgerExport['invalid'];
  readonly ok: boolean;
}

/** `yyyy/MM/dd` of an instant: the table's `timestamp` partition. */
export function dayOf(iso: string): string {
  return iso.slice(0, 10).replace(/-/g, '/');
}

/** An instant as the trail writes it: `yyyy-MM-ddTHH:mm:ssZ`. */
export function trailInstant(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The parameters every named query starts with. */
export function periodParameters(period: Period): Record<string, string> {
  return { fromDay: dayOf(period.from), toDay: dayOf(period.to), from: period.from, to: period.to };
}

function keyPeriodsOf(ledger: LedgerExport): KeyPeriod[] {
  const out: KeyPeriod[] = [];
  for (const [employeeId, events] of ledger.events) {
    const keyArns = new Set(events.map((e) => e.state.keyArn).filter((k): k is string => k !== undefined));
    for (const [scope, periods] of consentPeriods(events)) {
      for (const keyArn of keyArns) for (const p of periods) out.push({ employeeId, scope, keyArn, from: p.from, ...(p.to === undefined ? {} : { to: p.to }) } as KeyPeriod);
    }
  }
  return out;
}

export async function runCheck(source: AuditSource, period: Period, options: { ledger?: LedgerExport; onProgress?: (records: number) => void } = {}): Promise<CheckResult> {
  const ledger = options.ledger ?? (await source.ledger(await source.employeesWithKeys(period)));
  const checker = new InvariantChecker(ledger.events, source.roles);
  let records = 0;
  await source.streamForCheck(period, keyPeriodsOf(ledger), (events) => {
    for (const event of events) checker.observe(event);
    records += events.length;
    options.onProgress?.(records);
  });
  const violations = checker.finish();
  return { employees: ledger.events.size, violations, invalidLedgerEvents: ledger.invalid, ok: violations.length === 0 && ledger.invalid.length === 0 };
}

export async function runEmployee(source: AuditSource, period: Period, employeeId: string): Promise<TimelineEntry[]> {
  const ledger = await source.ledger([employeeId]);
  const events = (ledger.events.get(employeeId) ?? []).filter((e) => e.at >= period.from && e.at < period.to);
  const keyArn = [...(ledger.events.get(employeeId) ?? [])].reverse().find((e) => e.state.keyArn !== undefined)?.state.keyArn ?? '';
  const kms = await source.keyTimeline(period, employeeId, keyArn);
  return employeeTimeline(events, kms, (arn) => source.nameOf(arn));
}

export async function runPurgeProof(source: AuditSource, period: Period, employeeId: string): Promise<PurgeProof> {
  const ledger = await source.ledger([employeeId]);
  const events = ledger.events.get(employeeId) ?? [];
  const keyArn = [...events].reverse().find((e) => e.state.keyArn !== undefined)?.state.keyArn;
  const kms = keyArn === undefined ? [] : await source.keyPurge(period, keyArn);
  return purgeProof(employeeId, events, kms, (arn) => source.nameOf(arn));
}
