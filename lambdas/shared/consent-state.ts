// The consent state of one employee, as every ledger event records it, and how a reader sees it:
// a pause whose end has passed reads as active everywhere (API, ingest, audit), as KMS sees it.
import type { Exclusions } from '../../contract/exclusions.js';
import type { ConsentStatus, Scope } from './consent-model.js';
import { windowsOf, type ConsentWindows } from './consent-windows.js';

export interface ConsentState {
  readonly employeeId: string;
  readonly status: ConsentStatus;
  readonly scopes: readonly Scope[];
  readonly pausedUntil?: string;
  readonly noticeVersion?: string;
  readonly noticeSha256?: string;
  readonly keyArn?: string;
  /**
   * Per scope, when it was consented and not paused, over the last 7 days and 5 minutes, as folded
   * by the transition that made this state. Absent on events written before windows existed
   * (see `windowsOf`).
   */
  readonly windows?: ConsentWindows;
  /** Apps and window titles the employee excluded from capture; absent until first set. */
  readonly exclusions?: Exclusions;
  /** The ledger sequence this state results from; 0 before any event. */
  readonly sequence: number;
  readonly updatedAt: string;
}

/**
 * `revoke-swept` records the delayed sweep after a withdrawal (objects deleted, from when);
 * `export-requested` and `export-ready` record an employee's export (its id in `details`). They
 * change no consent: their state is the newest valid state before them, with the next sequence.
 * So does `datasets-withdrawn`: the key steward revoked training grants because a change took
 * their scope away; `details.datasets` lists which datasets lost which scopes.
 */
export const EVENT_KINDS = ['granted', 'scopes-changed', 'paused', 'resumed', 'revoked', 'erase-requested', 'offboarded', 'purged', 'revoke-swept', 'export-requested', 'export-ready', 'datasets-withdrawn', 'exclusions-changed'] as const;
export type ConsentEventKind = (typeof EVENT_KINDS)[number];

/**
 * Who made a change, named so an auditor can trace it to a person: the token's issuer and the
 * caller's id there. For an employee the subject is their pseudonymous employee id; for HR it is
 * the `sub` of HR's own token. The purge worker records the service by name. A change made over
 * HTTP also records the evidence of the request (`RequestEvidence`); events recorded before it
 * existed have none.
 */
export type Actor =
  | ({ readonly kind: 'employee' | 'hr'; readonly issuer: string | null; readonly subject: string | null } & Partial<RequestEvidence>)
  | { readonly kind: 'service'; readonly name: ServiceName };

/** The workers that record events of their own. */
export type ServiceName = 'purge-worker' | 'export-worker' | 'key-steward';

/**
 * What identifies the request behind a change, without the token itself: its `jti` and `iat`
 * (null when the token has none) and a SHA-256 (hex) of the exact bearer token sent. Whoever holds
 * the token (the IdP's logs, the caller) can prove which request it was; the ledger cannot replay it.
 */
export interface RequestEvidence {
  readonly jti: string | null;
  readonly iat: number | null;
  readonly tokenSha256: string;
}

/**
 * Reads an event's actor, old or new. Events recorded before callers were named carry a bare
 * word: 'employee' (the subject was the employee themself), 'offboarding' (some HR caller, not
 * recorded) or 'purge-worker'. `null` marks what was not recorded; new events never have it.
 */
export function actorFromRecord(raw: unknown, employeeId: string): Actor {
  if (raw === 'employee') return { kind: 'employee', issuer: null, subject: employeeId };
  if (raw === 'offboarding') return { kind: 'hr', issuer: null, subject: null };
  if (raw === 'purge-worker') return { kind: 'service', name: 'purge-worker' };
  if (raw !== null && typeof raw === 'object') {
    const r = raw as Record<string, unknown>;
    if (r['kind'] === 'service' && (r['name'] === 'purge-worker' || r['name'] === 'export-worker' || r['name'] === 'key-steward')) return { kind: 'service', name: r['name'] };
    if (r['kind'] === 'employee' || r['kind'] === 'hr') {
      const text = (v: unknown): string | null => (typeof v === 'string' ? v : null);
      const evidence = typeof r['tokenSha256'] === 'string'
        ? { jti: text(r['jti']), iat: typeof r['iat'] === 'number' ? r['iat'] : null, tokenSha256: r['tokenSha256'] }
        : {};
      return { kind: r['kind'], issuer: text(r['issuer']), subject: text(r['subject']), ...evidence };
    }
  }
  throw new Error(`a ledger event of ${employeeId} has an actor this version cannot read`);
}

/** One line for people: `hr hr.admin@corp.example at https://idp.corp.example`. */
export function describeActor(actor: Actor): string {
  if (actor.kind === 'service') return actor.name;
  const who = actor.subject ?? '(caller not recorded)';
  return actor.issuer === null ? `${actor.kind} ${who}` : `${actor.kind} ${who} at ${actor.issuer}`;
}

export interface ConsentEvent {
  readonly employeeId: string;
  readonly sequence: number;
  readonly kind: ConsentEventKind;
  readonly at: string;
  readonly actor: Actor;
  /** The full state this event results in: the newest event alone is the truth. */
  readonly state: ConsentState;
  readonly details?: Readonly<Record<string, unknown>>;
}

export function initialState(employeeId: string, at: string): ConsentState {
  return { employeeId, status: 'none', scopes: [], sequence: 0, updatedAt: at };
}

/** The state as of `now`: a lapsed pause is active again, exactly as the key policy's Deny lapses. */
export function effectiveState(state: ConsentState, now: Date): ConsentState {
  if (state.status !== 'paused' || state.pausedUntil === undefined) return state;
  if (Date.parse(state.pausedUntil) > now.getTime()) return state;
  const { pausedUntil: _lapsed, ...rest } = state;
  return { ...rest, status: 'active' };
}

/** Whether `scope` may be captured at `now`. */
export function mayCapture(state: ConsentState, scope: Scope, now: Date): boolean {
  const effective = effectiveState(state, now);
  return effective.status === 'active' && effective.scopes.includes(scope);
}

/**
 * What the API shows: no key ARN (it names the account), nothing internal. The exclusions and the
 * consent windows go to the employee's own agents, which apply them on the device.
 */
export function publicState(state: ConsentState, now: Date): Record<string, unknown> {
  const e = effectiveState(state, now);
  const windows = windowsOf(state);
  return {
    employeeId: e.employeeId,
    status: e.status,
    scopes: e.scopes,
    ...(e.pausedUntil === undefined ? {} : { pausedUntil: e.pausedUntil }),
    ...(e.noticeVersion === undefined ? {} : { noticeVersion: e.noticeVersion, noticeSha256: e.noticeSha256 }),
    sequence: e.sequence,
    updatedAt: e.updatedAt,
    ...(e.exclusions === undefined ? {} : { exclusions: { apps: e.exclusions.apps, titlePatterns: e.exclusions.titlePatterns } }),
    ...(Object.keys(windows).length === 0 ? {} : { windows }),
  };
}
