// `audit check`: the five invariants, judged from the evidence (trail records and ledger events)
// and never from the application's word. Streaming: `observe` each KMS record in trail order, then
// `finish`; memory grows with employees, keys and grants, not with records.
import { buildKeyPolicy, type KeyPolicyRoles } from '../../lambdas/shared/key-policy.js';
import type { ConsentEvent } from '../../lambdas/shared/consent-state.js';
import type { AuditEvent } from './trail-record.js';

export type InvariantName =
  | 'capture-outside-consent'
  | 'decrypt-not-by-export-grant'
  | 'policy-differs-from-ledger'
  | 'policy-names-root-or-human'
  | 'erasure-incomplete';

export interface Violation {
  readonly invariant: InvariantName;
  readonly employeeId: string | undefined;
  /** The offending trail record (absent for a missing record). */
  readonly eventId: string | undefined;
  readonly eventName: string | undefined;
  readonly time: string | undefined;
  readonly principal: string | undefined;
  readonly message: string;
}

/** `[from, to)` at whole seconds, as ISO text: the trail records seconds, the ledger milliseconds. */
export interface ConsentPeriod {
  readonly from: string;
  readonly to: string | undefined;
}

const EMPLOYEE_ALIAS_PREFIX = 'alias/consent-capture/';

function floorSecond(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function ceilSecond(ms: number): string {
  return new Date(Math.ceil(ms / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * Per scope, the periods in which the ledger says `scope` was consented and not paused: each
 * event's state holds from its `at` until the next event; a pause ends by itself at
 * `pausedUntil`. Widened to whole seconds, so a record in the second a window opens counts inside.
 */
export function consentPeriods(events: readonly ConsentEvent[]): Map<string, ConsentPeriod[]> {
  const periods = new Map<string, ConsentPeriod[]>();
  const ordered = [...events].sort((a, b) => a.sequence - b.sequence);
  ordered.forEach((event, i) => {
    const start = Date.parse(event.at);
    const next = ordered[i + 1];
    const end = next === undefined ? Infinity : Date.parse(next.at);
    const { state } = event;
    let from: number | undefined;
    if (state.status === 'active') from = start;
    if (state.status === 'paused' && state.pausedUntil !== undefined) from = Math.max(start, Date.parse(state.pausedUntil));
    if (from === undefined || from >= end) return;
    for (const scope of state.scopes) {
      const list = periods.get(scope) ?? [];
      const last = list.at(-1);
      const period = { from: floorSecond(from), to: end === Infinity ? undefined : ceilSecond(end) };
      if (last !== undefined && last.to !== undefined && last.to >= period.from) list[list.length - 1] = { from: last.from, to: period.to };
      else list.push(period);
      periods.set(scope, list);
    }
  });
  return periods;
}

export function insidePeriods(periods: readonly ConsentPeriod[] | undefined, time: string): boolean {
  return (periods ?? []).some((p) => time >= p.from && (p.to === undefined || time < p.to));
}

interface Grant {
  readonly keyArn: string;
  readonly employeeId: string | undefined;
  readonly request: NonNullable<AuditEvent['grant']>;
  retired: boolean;
}

/** Keys by their canonical JSON, so two equal policies compare equal whatever their key order. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

function principalsOf(policy: unknown): string[] {
  const statements = (policy as { Statement?: unknown } | null)?.Statement;
  const list = Array.isArray(statements) ? statements : statements === undefined ? [] : [statements];
  const out: string[] = [];
  for (const s of list) {
    const principal = (s as { Principal?: unknown } | null)?.Principal;
    if (principal === '*') out.push('*');
    const aws = (principal as { AWS?: unknown } | null)?.AWS;
    for (const p of Array.isArray(aws) ? aws : [aws]) if (typeof p === 'string') out.push(p);
  }
  return out;
}

/**
 * Within one trail second the order of calls is not recorded (CloudTrail keeps whole seconds, and
 * Athena and LookupEvents answer in any order within one): a grant or an alias made in the same
 * second as a use counts as made before it, and a retirement as made after.
 */
const SAME_SECOND_RANK: Readonly<Record<string, number>> = { CreateAlias: 0, CreateGrant: 0, RetireGrant: 2, RevokeGrant: 2 };

/** How far a PutKeyPolicy may trail the ledger event it applies while a newer change races it. */
const RACE_MS = 5_000;

export class InvariantChecker {
  private readonly violations: Violation[] = [];
  private readonly periods = new Map<string, Map<string, ConsentPeriod[]>>();
  private readonly ownerOfKey = new Map<string, string>();
  private readonly grants = new Map<string, Grant>();
  /** Live grants by key: a Decrypt looks only at its own key's. */
  private readonly grantsOfKey = new Map<string, Grant[]>();
  private readonly shredded = new Map<string, { disabled?: string; scheduled?: string }>();
  private readonly allowedPrincipals: Set<string>;
  /**
   * Per key, a PutKeyPolicy that matched only an older ledger event than the newest at its time (the
   * race RACE_MS allows): it must be followed by a PutKeyPolicy of a newer one, or the key kept a
   * policy the ledger no longer says, which is what a compromised writer racing a change leaves.
   */
  private readonly stalePolicies = new Map<string, { event: AuditEvent; employeeId: string }>();
  /** Per key, the newest ledger sequence a PutKeyPolicy of an earlier trail second applied. */
  private readonly appliedMark = new Map<string, number>();

  constructor(
    private readonly ledger: ReadonlyMap<string, readonly ConsentEvent[]>,
    private readonly roles: KeyPolicyRoles,
  ) {
    for (const [employeeId, events] of ledger) {
      this.periods.set(employeeId, consentPeriods(events));
      for (const e of events) if (e.state.keyArn !== undefined) this.ownerOfKey.set(e.state.keyArn, employeeId);
    }
    this.allowedPrincipals = new Set(Object.values(roles).filter((r): r is string => typeof r === 'string'));
  }

  /** The calls of the current trail second, ordered when the second ends (see {@link SAME_SECOND_RANK}). */
  private second: AuditEvent[] = [];

  /** One KMS record, in time order (whole seconds: within one, in any order). */
  observe(event: AuditEvent): void {
    if (this.second.length > 0 && this.second[0]?.time !== event.time) this.flushSecond();
    this.second.push(event);
  }

  private flushSecond(): void {
    const calls = this.second;
    this.second = [];
    const rank = (e: AuditEvent) => SAME_SECOND_RANK[e.eventName] ?? 1;
    const ordered = calls.map((e, i) => ({ e, i })).sort((a, b) => rank(a.e) - rank(b.e) || a.i - b.i).map(({ e }) => e);
    // A second's PutKeyPolicy calls are judged in the order of the ledger events they apply, as the
    // steward writes them: two changes in one second (a resume, then an erasure) reach the checker in
    // either order, and read backwards the first looked like a stale policy put back for good (CI
    // failed so once). A put of an event no newer than one a put of an earlier second already
    // applied is judged last, though: no honest change explains it, so it must be corrected in a
    // later second or be named, the oldest of such puts last (so a decoy re-put of the newest event
    // beside it hides nothing). Two writes of
    // one second for events both new cannot be ordered from the trail; policy-watch repairs any
    // write of a policy other than the newest event's as it happens.
    const slots = ordered.flatMap((e, i) => (e.eventName === 'PutKeyPolicy' ? [i] : []));
    const puts = slots.map((i) => ({ event: ordered[i] as AuditEvent, ...this.appliedSequence(ordered[i] as AuditEvent) }));
    if (puts.length > 1) {
      const regresses = (p: (typeof puts)[number]) => p.sequence >= 0 && p.sequence <= (this.appliedMark.get(p.key) ?? -1);
      // New events in ascending order; then regressions, the oldest policy last (the worst case).
      const sorted = [...puts].sort((a, b) => Number(regresses(a)) - Number(regresses(b)) || (regresses(a) ? b.sequence - a.sequence : a.sequence - b.sequence));
      slots.forEach((slot, n) => (ordered[slot] = (sorted[n] as (typeof puts)[number]).event));
    }
    for (const e of ordered) this.judge(e);
    for (const p of puts) if (p.sequence > (this.appliedMark.get(p.key) ?? -1)) this.appliedMark.set(p.key, p.sequence);
  }

  /** The key a PutKeyPolicy wrote, and the sequence of the newest ledger event whose builder policy it put (-1: none, or not an employee key's). */
  private appliedSequence(event: AuditEvent): { key: string; sequence: number } {
    const put = event.allowed ? this.policyOf(event) : undefined;
    const key = event.keyArn ?? put?.employeeId ?? '';
    if (put?.employeeId === undefined) return { key, sequence: -1 };
    const actual = canonical(put.policy);
    return { key, sequence: this.expectedPolicies(put.employeeId, event.time).find((e) => e.policy === actual)?.sequence ?? -1 };
  }

  /** The policy a CreateKey or PutKeyPolicy record carries, and the employee whose key it is (by the key's alias, else the policy's Id). */
  private policyOf(event: AuditEvent): { policy: unknown; employeeId: string | undefined } | undefined {
    if (event.policy === undefined) return undefined;
    let policy: unknown;
    try {
      policy = JSON.parse(event.policy);
    } catch {
      policy = undefined;
    }
    const owner = event.keyArn === undefined ? undefined : this.ownerOfKey.get(event.keyArn);
    return { policy, employeeId: owner ?? /^consent-capture\/(.+)$/.exec(String((policy as { Id?: unknown } | undefined)?.Id ?? ''))?.[1] };
  }

  private judge(event: AuditEvent): void {
    if (event.eventSource !== '' && event.eventSource !== 'kms.amazonaws.com') return;
    if (event.eventName === 'CreateAlias' && event.allowed && event.aliasName?.startsWith(EMPLOYEE_ALIAS_PREFIX) && event.keyArn !== undefined) {
      if (!this.ownerOfKey.has(event.keyArn)) this.ownerOfKey.set(event.keyArn, event.aliasName.slice(EMPLOYEE_ALIAS_PREFIX.length));
    }
    if (!event.allowed) return;
    const owner = event.keyArn === undefined ? undefined : this.ownerOfKey.get(event.keyArn);
    switch (event.eventName) {
      case 'GenerateDataKey':
      case 'GenerateDataKeyWithoutPlaintext':
        this.checkCapture(event, owner);
        break;
      case 'Decrypt':
        this.checkDecrypt(event, owner);
        break;
      case 'CreateGrant':
        if (event.grantId !== undefined && event.grant !== undefined && event.keyArn !== undefined) {
          const grant = { keyArn: event.keyArn, employeeId: owner, request: event.grant, retired: false };
          this.grants.set(event.grantId, grant);
          this.grantsOfKey.set(event.keyArn, [...(this.grantsOfKey.get(event.keyArn) ?? []).filter((g) => !g.retired), grant]);
        }
        break;
      case 'RetireGrant':
      case 'RevokeGrant': {
        const grant = event.grantId === undefined ? undefined : this.grants.get(event.grantId);
        if (grant) grant.retired = true;
        break;
      }
      case 'PutKeyPolicy':
      case 'CreateKey':
        this.checkPolicy(event);
        break;
      case 'DisableKey':
      case 'ScheduleKeyDeletion':
        if (event.keyArn !== undefined) {
          const entry = this.shredded.get(event.keyArn) ?? {};
          if (event.eventName === 'DisableKey') entry.disabled ??= event.time;
          else entry.scheduled ??= event.deletionDate ?? event.time;
          this.shredded.set(event.keyArn, entry);
        }
        break;
      default:
    }
  }

  /** The erasure invariant (it needs the whole trail), then every violation in trail order. */
  finish(): Violation[] {
    this.flushSecond();
    for (const { event, employeeId } of this.stalePolicies.values()) {
      this.flag('policy-differs-from-ledger', event, employeeId, `PutKeyPolicy on ${employeeId}'s key at ${event.time} put back the policy of an older ledger event than the newest, and no later PutKeyPolicy put the newest one`);
    }
    for (const [employeeId, events] of this.ledger) {
      const erasure = events.find((e) => e.kind === 'erase-requested' || e.kind === 'offboarded');
      if (erasure === undefined) continue;
      const keyArn = erasure.state.keyArn ?? [...events].reverse().find((e) => e.state.keyArn !== undefined)?.state.keyArn;
      const missing: string[] = [];
      const shred = keyArn === undefined ? undefined : this.shredded.get(keyArn);
      if (keyArn !== undefined && shred?.disabled === undefined) missing.push('DisableKey');
      if (keyArn !== undefined && shred?.scheduled === undefined) missing.push('ScheduleKeyDeletion');
      if (!events.some((e) => e.kind === 'purged' && e.sequence > erasure.sequence)) missing.push("the ledger's purged event");
      if (missing.length > 0) {
        this.violations.push({
          invariant: 'erasure-incomplete',
          employeeId,
          eventId: undefined,
          eventName: undefined,
          time: erasure.at,
          principal: undefined,
          message: `erasure requested at ${erasure.at} (ledger event ${erasure.sequence}) has no ${missing.join(', no ')}`,
        });
      }
    }
    return this.violations;
  }

  private flag(invariant: InvariantName, event: AuditEvent, employeeId: string | undefined, message: string): void {
    this.violations.push({ invariant, employeeId, eventId: event.eventId, eventName: event.eventName, time: event.time, principal: event.principal, message });
  }

  private checkCapture(event: AuditEvent, owner: string | undefined): void {
    const employeeId = owner ?? event.employeeId;
    if (employeeId === undefined) return;
    if (event.employeeId !== undefined && owner !== undefined && event.employeeId !== owner) {
      this.flag('capture-outside-consent', event, employeeId, `a data key on ${owner}'s key for ${event.employeeId}'s context`);
      return;
    }
    const scope = event.scope;
    if (scope === undefined || !insidePeriods(this.periods.get(employeeId)?.get(scope), event.time)) {
      this.flag('capture-outside-consent', event, employeeId, `GenerateDataKey for ${employeeId} scope ${scope ?? '(none)'} at ${event.time}, outside every consented, unpaused window of that scope`);
    }
  }

  /** Export: a Decrypt-only grant constrained to the employee. Training: also to the Decrypt's scope. */
  private checkDecrypt(event: AuditEvent, owner: string | undefined): void {
    const employeeId = owner ?? event.employeeId;
    if (employeeId === undefined) return;
    const training = this.roles.training !== undefined && event.principal === this.roles.training;
    if (event.principal !== this.roles.export && !training) {
      this.flag('decrypt-not-by-export-grant', event, employeeId, `Decrypt of ${employeeId}'s data by ${event.principal ?? '(unknown principal)'}, not the export role (nor the training role under a grant)`);
      return;
    }
    const underGrant = (event.keyArn === undefined ? [] : (this.grantsOfKey.get(event.keyArn) ?? [])).some(
      (g) =>
        !g.retired &&
        g.request.grantee === event.principal &&
        g.request.operations.length > 0 &&
        g.request.operations.every((o) => o === 'Decrypt') &&
        g.request.constraintType !== undefined &&
        g.request.constraintContext['employeeId'] === employeeId &&
        event.employeeId === employeeId &&
        (!training || (event.scope !== undefined && g.request.constraintContext['scope'] === event.scope)),
    );
    if (!underGrant) {
      this.flag('decrypt-not-by-export-grant', event, employeeId, `Decrypt of ${employeeId}'s data by the ${training ? 'training' : 'export'} role with no live grant constrained to ${employeeId}${training ? ` and scope ${event.scope ?? '(none)'}` : ''}`);
    }
  }

  private checkPolicy(event: AuditEvent): void {
    const put = this.policyOf(event);
    if (put?.employeeId === undefined) return;
    const { policy, employeeId } = put;
    const foreign = principalsOf(policy).filter((p) => !this.allowedPrincipals.has(p));
    if (foreign.length > 0) {
      const root = foreign.filter((p) => p === '*' || /^\d{12}$/.test(p) || /:root$/.test(p));
      this.flag('policy-names-root-or-human', event, employeeId, `${event.eventName} on ${employeeId}'s key names ${root.length > 0 ? `the account root (${root.join(', ')})` : `a principal that is no function role (${foreign.join(', ')})`}`);
    }
    if (event.eventName !== 'PutKeyPolicy') return;
    const expected = this.expectedPolicies(employeeId, event.time);
    const actual = canonical(policy);
    const keyOf = event.keyArn ?? employeeId;
    if (!expected.some((e) => e.policy === actual)) {
      this.flag('policy-differs-from-ledger', event, employeeId, `PutKeyPolicy on ${employeeId}'s key at ${event.time} is not the builder's policy for the ledger event it applied`);
    } else if (expected[0]?.policy === actual) {
      this.stalePolicies.delete(keyOf);
    } else {
      this.stalePolicies.set(keyOf, { event, employeeId });
    }
  }

  /** The builder's policies for the newest ledger event at `time` (first), and for the ones before it while a newer change may still be racing. */
  private expectedPolicies(employeeId: string, time: string): { sequence: number; policy: string }[] {
    const events = [...(this.ledger.get(employeeId) ?? [])].sort((a, b) => a.sequence - b.sequence);
    const at = Date.parse(time) + 1000;
    const candidates: ConsentEvent[] = [];
    for (let i = events.length - 1; i >= 0; i -= 1) {
      const e = events[i];
      if (e === undefined || Date.parse(e.at) >= at) continue;
      candidates.push(e);
      if (Date.parse(e.at) < at - 1000 - RACE_MS) break;
    }
    // Newest first; a ledger state the builder refuses has no policy that could match (''), and
    // keeps its place, so [0] is always the newest event's.
    return candidates.map((e) => {
      try {
        return { sequence: e.sequence, policy: canonical(buildKeyPolicy(e.state, this.roles)) };
      } catch {
        return { sequence: e.sequence, policy: '' };
      }
    });
  }
}
