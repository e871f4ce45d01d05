// Appends an event that records something other than a consent change (an export asked for or
// finished): its state is the newest state restated, unchanged but for the next sequence, so
// ingest, the key policy and the consent service read the same consent as before it. It follows
// the ledger's discipline through appendOnTop (sequence = newest + 1, re-read on a lost race).
import { appendOnTop } from './append-on-top.js';
import type { ConsentStatus } from './consent-model.js';
import type { Actor, ConsentEvent, ConsentEventKind } from './consent-state.js';
import type { Ledger } from './ledger.js';

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
  let skipped: RestatingOutcome = { appended: false, why: 'status', status: 'none' };
  const event = await appendOnTop(
    ledger,
    employeeId,
    async (head) => {
      // An invalid newest event is never restated as if it were true.
      if (head.invalid !== undefined) throw head.invalid;
      const basis = head.newestValid;
      if (basis === undefined) {
        skipped = { appended: false, why: 'status', status: 'none' };
        return undefined;
      }
      if (!wanted.allowedIn.includes(basis.state.status)) {
        skipped = { appended: false, why: 'status', status: basis.state.status };
        return undefined;
      }
      if (wanted.alreadyRecorded !== undefined && wanted.alreadyRecorded(await ledger.events(employeeId))) {
        skipped = { appended: false, why: 'already-recorded', status: basis.state.status };
        return undefined;
      }
      const sequence = head.sequence + 1;
      // updatedAt stays: it is when the consent last changed (a withdrawal's instant decides which
      // grants its re-application revokes), and this event changes no consent.
      return {
        employeeId,
        sequence,
        kind: wanted.kind,
        at: wanted.at.toISOString(),
        actor: wanted.actor,
        state: { ...basis.state, sequence },
        details: wanted.details,
      };
    },
    MAX_APPEND_ATTEMPTS,
  );
  return event === undefined ? skipped : { appended: true, event };
}
