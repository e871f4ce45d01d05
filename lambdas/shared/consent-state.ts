// The consent state of one employee, as every ledger event records it, and how a reader sees it:
// a pause whose end has passed reads as active everywhere (API, ingest, audit), as KMS sees it.
import type { ConsentStatus, Scope } from './consent-model.js';
import type { ConsentWindows } from './consent-windows.js';

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
  /** The ledger sequence this state results from; 0 before any event. */
  readonly sequence: number;
  readonly updatedAt: string;
}

export const EVENT_KINDS = ['granted', 'scopes-changed', 'paused', 'resumed', 'revoked', 'erase-requested', 'offboarded', 'purged'] as const;
export type ConsentEventKind = (typeof EVENT_KINDS)[number];

export type ActorKind = 'employee' | 'offboarding' | 'purge-worker';

export interface ConsentEvent {
  readonly employeeId: string;
  readonly sequence: number;
  readonly kind: ConsentEventKind;
  readonly at: string;
  readonly actor: ActorKind;
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

/** What the API shows: no key ARN (it names the account), nothing internal. */
export function publicState(state: ConsentState, now: Date): Record<string, unknown> {
  const e = effectiveState(state, now);
  return {
    employeeId: e.employeeId,
    status: e.status,
    scopes: e.scopes,
    ...(e.pausedUntil === undefined ? {} : { pausedUntil: e.pausedUntil }),
    ...(e.noticeVersion === undefined ? {} : { noticeVersion: e.noticeVersion, noticeSha256: e.noticeSha256 }),
    sequence: e.sequence,
    updatedAt: e.updatedAt,
  };
}
