// The consent state machine, pure: which command is allowed from which state, and the state
// and ledger event kind it results in. Time is a parameter, so tests choose it.
import type { Exclusions } from '../../contract/exclusions.js';
import type { Scope } from '../shared/consent-model.js';
import { effectiveState, type ConsentEventKind, type ConsentState } from '../shared/consent-state.js';
import { foldWindows, windowsOf } from '../shared/consent-windows.js';
import { ConflictError } from '../shared/errors.js';

export type ConsentCommand =
  | { readonly type: 'grant'; readonly scopes: readonly Scope[]; readonly noticeVersion: string; readonly noticeSha256: string }
  | { readonly type: 'pause'; readonly until: Date }
  | { readonly type: 'resume' }
  | { readonly type: 'revoke'; readonly erase: boolean }
  | { readonly type: 'set-exclusions'; readonly exclusions: Exclusions }
  | { readonly type: 'offboard' };

export interface Transition {
  readonly kind: ConsentEventKind;
  readonly state: ConsentState;
  /** The change needs a purge job queued once recorded. */
  readonly startsPurge: boolean;
  /** When the event happened, if not at the resulting state's updatedAt. */
  readonly at?: string;
}

/** No event to record: the command is already satisfied (e.g. resuming a lapsed pause). */
export const NO_CHANGE = 'no-change' as const;

const CLOSED = new Set(['purging', 'purged']);

export function transition(current: ConsentState, command: ConsentCommand, now: Date): Transition | typeof NO_CHANGE {
  const state = effectiveState(current, now);
  const at = now.toISOString();
  const next = (kind: ConsentEventKind, changes: Partial<ConsentState>, extra: { startsPurge?: boolean } = {}): Transition => {
    const { pausedUntil: _dropped, ...withoutPause } = state;
    const base = changes.status === 'paused' ? state : withoutPause;
    const resulting: ConsentState = { ...base, ...changes, sequence: state.sequence + 1, updatedAt: at };
    return {
      kind,
      // The windows travel with every event, so ingest judges an event's `ts` from the newest one.
      state: { ...resulting, windows: foldWindows(windowsOf(current), resulting, now) },
      startsPurge: extra.startsPurge ?? false,
    };
  };

  if (command.type === 'offboard') {
    if (CLOSED.has(state.status)) return NO_CHANGE;
    return next('offboarded', { status: 'purging', scopes: [] }, { startsPurge: true });
  }
  // Withdrawing from an erased consent is already done; the caller re-queues an unfinished purge.
  if (command.type === 'revoke' && CLOSED.has(state.status)) return NO_CHANGE;
  if (CLOSED.has(state.status)) {
    throw new ConflictError(`this employee's data has been erased (status ${state.status}); consent is closed`, 'consent-closed');
  }
  switch (command.type) {
    case 'grant': {
      const scopes = [...new Set(command.scopes)];
      const notice = { noticeVersion: command.noticeVersion, noticeSha256: command.noticeSha256 };
      if (state.status === 'active' || state.status === 'paused') {
        // Changing scopes keeps a running pause running.
        return next('scopes-changed', { status: state.status, scopes, ...notice });
      }
      return next('granted', { status: 'active', scopes, ...notice });
    }
    case 'pause': {
      if (state.status !== 'active' && state.status !== 'paused') {
        throw new ConflictError(`there is no consent to pause (status ${state.status})`, 'not-consented');
      }
      return next('paused', { status: 'paused', pausedUntil: command.until.toISOString() });
    }
    case 'resume': {
      if (state.status === 'active') return NO_CHANGE;
      if (state.status !== 'paused') throw new ConflictError(`there is no pause to resume (status ${state.status})`, 'not-paused');
      return next('resumed', { status: 'active' });
    }
    case 'set-exclusions': {
      const wanted = { apps: [...new Set(command.exclusions.apps)], titlePatterns: [...new Set(command.exclusions.titlePatterns)] };
      if (JSON.stringify(state.exclusions ?? { apps: [], titlePatterns: [] }) === JSON.stringify(wanted)) return NO_CHANGE;
      // Not a consent change: status, pause, windows and updatedAt stay those of the last one.
      // updatedAt must not move: a withdrawal's time decides which export grants the steward revokes.
      return { kind: 'exclusions-changed', state: { ...current, exclusions: wanted, sequence: current.sequence + 1 }, startsPurge: false, at };
    }
    case 'revoke': {
      if (command.erase) return next('erase-requested', { status: 'purging', scopes: [] }, { startsPurge: true });
      if (state.status === 'revoked' || state.status === 'none') return NO_CHANGE;
      return next('revoked', { status: 'revoked', scopes: [] });
    }
  }
}

/**
 * The event that records a withdrawal `transition` finds already satisfied, for when it must be
 * recorded anyway: on top of an invalid ledger event, so that the newest event is valid and says
 * that consent is withdrawn. An erasure under way is restated (and its purge queued again); a
 * finished one needs nothing; anything else becomes revoked.
 */
export function restatedWithdrawal(current: ConsentState, command: ConsentCommand, now: Date): Transition | typeof NO_CHANGE {
  if ((command.type !== 'revoke' && command.type !== 'offboard') || current.status === 'purged') return NO_CHANGE;
  const { pausedUntil: _dropped, ...base } = current;
  const erasing = current.status === 'purging' || command.type === 'offboard' || command.erase;
  const kind: ConsentEventKind = !erasing ? 'revoked' : command.type === 'offboard' ? 'offboarded' : 'erase-requested';
  return {
    kind,
    state: { ...base, status: erasing ? 'purging' : 'revoked', scopes: [], sequence: current.sequence + 1, updatedAt: now.toISOString() },
    startsPurge: erasing,
  };
}
