// Appends an event that records something other than a consent change (an export asked for or
// finished): its state is the newest state restated, unchanged but for the next sequence, so
// ingest, the key policy and the consent service read the same consent as before it. It follows
// the ledger's discipline: sequence = newest + 1 under attribute_not_exists, re-read on a lost race.
import type { ConsentStatus } from './consent-model.js';
import type { Actor, ConsentEvent, ConsentEventKind } from './consent-state.js';
import { SequenceTakenError, type Ledger } from './ledger.js';

const MAX_APPEND_ATTEMPTS = 8;

export interface RestatingEvent {
  readonly kind: ConsentEventKind;
  readonly actor: Actor;
  readonly details: Readonly<Record<string, unknown>>;
  /** The consent statuses the event may be recorded in; another status records nothing. */
  readonly allowedIn: readonly ConsentStatus[];
  /** Answers true when the event is already recorded (a retried job), so nothing is appended again. @default - never */
  readonly alreadyRecorded?: (events: readonly ConsentEvent[]) => boolean;
  readonly at: Date;
}

export type RestatingOutcome =
  | { readonly appended: true; readonly event: ConsentEvent }
  | { readonly appended: false; readonly why: 'already-recorded' | 'status'; readonly status: ConsentStatus };

export async function appendRestating(ledger: Ledger, employeeId: string, wanted: RestatingEvent): Promise<RestatingOutcome> {
  for (let attempt = 1; attempt <= MAX_APPEND_ATTEMPTS; attempt += 1) {
    const head = await ledger.head(employeeId);
    // An invalid newest event is never restated as if it were true.
    if (head.invalid !== undefined) throw head.invalid;
    const basis = head.newestValid;
    if (basis === undefined) return { appended: false, why: 'status', status: 'none' };
    if (!wanted.allowedIn.includes(basis.state.status)) return { appended: false, why: 'status', status: basis.state.status };
    if (wanted.alreadyRecorded !== undefined && wanted.alreadyRecorded(await ledger.events(employeeId))) {
      return { appended: false, why: 'already-recorded', status: basis.state.status };
    }
    const sequence = head.sequence + 1;
    // updatedAt stays: it is when the consent last changed (a withdrawal's instant decides which
    // grants its re-application revokes), and this event changes no consent.
    const event: ConsentEvent = {
      employeeId,
      sequence,
      kind: wanted.kind,
      at: wanted.at.toISOString(),
      actor: wanted.actor,
      state: { ...basis.state, sequence },
      details: wanted.details,
    };
    try {
      await ledger.append(event);
    } catch (error) {
      if (error instanceof SequenceTakenError) continue;
      throw error;
    }
    // The cache follows, so the consent service does not take this event for an unfinished change.
    await ledger.writeState(event.state);
    return { appended: true, event };
  }
  throw new Error(`could not append ${wanted.kind} to the ledger of ${employeeId} after ${MAX_APPEND_ATTEMPTS} attempts`);
}
