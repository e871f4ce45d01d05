// The append-only consent ledger in DynamoDB. Events are `pk = employeeId, sk = event#<seq>`,
// appended with attribute_not_exists(sk): the sequence is the optimistic lock, so of two
// concurrent changes exactly one wins. `sk = state` caches the newest event's state. Every event
// read is validated (ledger-event.ts): an invalid one is never returned as if it were true.
import { GetCommand, PutCommand, QueryCommand, type DynamoDBDocumentClient, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import type { ConsentEvent, ConsentState } from './consent-state.js';
import { isAwsError } from './errors.js';
import { readLedgerEvent, type LedgerEventReading } from './ledger-event.js';

const EVENT_PREFIX = 'event#';
const STATE_SK = 'state';
const SEQUENCE_DIGITS = 10;

/**
 * The highest sequence taken for real: a billion consent changes of one employee is none that
 * happens. A key above it can only be written by hand (a ledger writer), and the sort key's
 * width caps how high appends can go: an event forged at the last sequence the width holds would
 * leave no room above it, so every later change (a withdrawal) would sort below it and never be
 * the newest. Such an event is read as invalid and not counted for the next sequence.
 */
export const MAX_PLAUSIBLE_SEQUENCE = 1_000_000_000;

export function eventSortKey(sequence: number): string {
  return `${EVENT_PREFIX}${String(sequence).padStart(SEQUENCE_DIGITS, '0')}`;
}

/** Another writer appended this sequence first. The caller re-reads and decides again. */
export class SequenceTakenError extends Error {
  override readonly name = 'SequenceTakenError';
}

/** The events of an employee are not 1..n without gaps: a bug or tampering, never normal. */
export class LedgerIntegrityError extends Error {
  override readonly name = 'LedgerIntegrityError';
}

/** A stored event fails validation: it is reported and never applied. */
export class InvalidLedgerEventError extends Error {
  override readonly name = 'InvalidLedgerEventError';
  constructor(
    readonly employeeId: string,
    readonly sequence: number | undefined,
    readonly issues: readonly string[],
  ) {
    super(`ledger event ${String(sequence)} of ${employeeId} is invalid: ${issues.join('; ')}`);
  }
}

/** The top of an employee's ledger, read even when its newest event is invalid. */
export interface LedgerHead {
  /** The highest sequence stored, valid or not, up to {@link MAX_PLAUSIBLE_SEQUENCE}; 0 when there is none. A new event takes the next one. */
  readonly sequence: number;
  /** The newest valid event (below an invalid one, if the newest is invalid). */
  readonly newestValid: ConsentEvent | undefined;
  /** Set when the newest stored event is invalid. */
  readonly invalid?: InvalidLedgerEventError;
}

/** Items per page of the head's search down from the top for a sequence and a valid event. */
const HEAD_SEARCH_LIMIT = 50;

/** Folds events into the state they result in, checking the sequence is gapless. */
export function foldEvents(employeeId: string, events: readonly ConsentEvent[]): ConsentState | undefined {
  let expected = 1;
  for (const event of events) {
    if (event.sequence !== expected || event.employeeId !== employeeId || event.state.sequence !== event.sequence) {
      throw new LedgerIntegrityError(`ledger of ${employeeId} breaks at sequence ${expected}: found ${event.sequence}`);
    }
    expected += 1;
  }
  return events.at(-1)?.state;
}

export class Ledger {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  /** The newest event, strongly consistent: the truth about an employee's consent. */
  async latestEvent(employeeId: string): Promise<ConsentEvent | undefined> {
    const result = await this.db.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': employeeId, ':prefix': EVENT_PREFIX },
        ScanIndexForward: false,
        Limit: 1,
        ConsistentRead: true,
      }),
    );
    const item = result.Items?.[0];
    return item === undefined ? undefined : toEvent(employeeId, item);
  }

  /**
   * The highest sequence and the newest valid event. A withdrawal is appended on top of an
   * invalid event, from the last state that was valid, so a forged event cannot block it.
   */
  async head(employeeId: string): Promise<LedgerHead> {
    // Paged, not one read of the top items: a ledger writer can put any number of forged items
    // above the real events, and neither the next sequence nor the last valid state may be lost
    // behind them (a withdrawal restated from "no consent" would carry no key to revoke).
    let sequence: number | undefined;
    let invalid: InvalidLedgerEventError | undefined;
    const newestFirst = this.pages({
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':pk': employeeId, ':prefix': EVENT_PREFIX },
      ScanIndexForward: false,
      Limit: HEAD_SEARCH_LIMIT,
    });
    for await (const item of newestFirst) {
      // A key that is no sequence, or a sequence no real change reaches, is forged: reported as
      // invalid and passed over, so a withdrawal still lands on top of the real events.
      const itemSequence = sequenceOf(item);
      if (sequence === undefined && itemSequence !== undefined && itemSequence <= MAX_PLAUSIBLE_SEQUENCE) sequence = itemSequence;
      const reading = readItem(employeeId, item);
      if (reading.valid) return { sequence: sequence ?? reading.event.sequence, newestValid: reading.event, ...(invalid === undefined ? {} : { invalid }) };
      invalid ??= new InvalidLedgerEventError(employeeId, reading.sequence, reading.issues);
    }
    return { sequence: sequence ?? 0, newestValid: undefined, ...(invalid === undefined ? {} : { invalid }) };
  }

  /** The event at `sequence`, read as untrusted input: undefined when there is none. */
  async eventAt(employeeId: string, sequence: number): Promise<LedgerEventReading | undefined> {
    const result = await this.db.send(new GetCommand({ TableName: this.table, Key: { pk: employeeId, sk: eventSortKey(sequence) }, ConsistentRead: true }));
    return result.Item === undefined ? undefined : readItem(employeeId, result.Item);
  }

  /** Every event after `sequence`, oldest first, each validated but returned even when invalid (a sweep must not be blocked by one). */
  async eventsAfter(employeeId: string, sequence: number): Promise<LedgerEventReading[]> {
    const readings: LedgerEventReading[] = [];
    const after = this.pages({
      // Events only: the 'state' item sorts after every 'event#…' key.
      KeyConditionExpression: 'pk = :pk AND sk BETWEEN :first AND :last',
      ExpressionAttributeValues: { ':pk': employeeId, ':first': eventSortKey(sequence + 1), ':last': eventSortKey(10 ** SEQUENCE_DIGITS - 1) },
    });
    for await (const item of after) readings.push(readItem(employeeId, item));
    return readings;
  }

  /** The items a strongly consistent query of this table selects, page after page; a caller may stop early. */
  private async *pages(query: Omit<QueryCommandInput, 'TableName' | 'ConsistentRead' | 'ExclusiveStartKey'>): AsyncGenerator<Record<string, unknown>> {
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.db.send(new QueryCommand({ TableName: this.table, ...query, ConsistentRead: true, ...(startKey === undefined ? {} : { ExclusiveStartKey: startKey }) }));
      yield* page.Items ?? [];
      startKey = page.LastEvaluatedKey;
    } while (startKey !== undefined);
  }

  /** Appends `event`, which must carry sequence = previous + 1. Throws SequenceTakenError if another writer won. */
  async append(event: ConsentEvent): Promise<void> {
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.table,
          Item: { pk: event.employeeId, sk: eventSortKey(event.sequence), ...event },
          ConditionExpression: 'attribute_not_exists(sk)',
        }),
      );
    } catch (error) {
      if (isAwsError(error, 'ConditionalCheckFailedException')) {
        throw new SequenceTakenError(`sequence ${event.sequence} of ${event.employeeId} is already taken`);
      }
      throw error;
    }
  }

  /** Every event, oldest first, paginated through. */
  async events(employeeId: string): Promise<ConsentEvent[]> {
    const events: ConsentEvent[] = [];
    const oldestFirst = this.pages({ KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)', ExpressionAttributeValues: { ':pk': employeeId, ':prefix': EVENT_PREFIX } });
    for await (const item of oldestFirst) events.push(toEvent(employeeId, item));
    return events;
  }

  async readState(employeeId: string): Promise<ConsentState | undefined> {
    const result = await this.db.send(new GetCommand({ TableName: this.table, Key: { pk: employeeId, sk: STATE_SK }, ConsistentRead: true }));
    if (!result.Item) return undefined;
    const { pk: _pk, sk: _sk, ...state } = result.Item;
    return state as ConsentState;
  }

  /** Caches `state` unless a newer one is already cached (a slower writer never rolls it back). */
  async writeState(state: ConsentState): Promise<void> {
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.table,
          Item: { pk: state.employeeId, sk: STATE_SK, ...state },
          ConditionExpression: 'attribute_not_exists(sk) OR #sequence < :sequence',
          ExpressionAttributeNames: { '#sequence': 'sequence' },
          ExpressionAttributeValues: { ':sequence': state.sequence },
        }),
      );
    } catch (error) {
      if (isAwsError(error, 'ConditionalCheckFailedException')) return;
      throw error;
    }
  }

  /** Rebuilds the cached state from the events; returns it. */
  async rebuildState(employeeId: string): Promise<ConsentState | undefined> {
    const state = foldEvents(employeeId, await this.events(employeeId));
    if (state) await this.writeState(state);
    return state;
  }
}

function withoutKeys(item: Record<string, unknown>): Record<string, unknown> {
  const { pk: _pk, sk: _sk, ...rest } = item;
  return rest;
}

function sequenceOf(item: Record<string, unknown>): number | undefined {
  const sk = item['sk'];
  if (typeof sk !== 'string' || !sk.startsWith(EVENT_PREFIX)) return undefined;
  const digits = sk.slice(EVENT_PREFIX.length);
  // Exactly the width eventSortKey writes: `event#1` or `event#999999999` sort above every real
  // (zero-padded) key, so read as sequences they would hide or block the next append.
  return /^\d{10}$/.test(digits) ? Number(digits) : undefined;
}

/** One stored item read as an event: invalid when its key is no sequence or one above any real one. */
function readItem(employeeId: string, item: Record<string, unknown>): LedgerEventReading {
  const sequence = sequenceOf(item);
  if (sequence === undefined) return { valid: false, sequence: undefined, issues: ['sk: not an event sequence'] };
  if (sequence > MAX_PLAUSIBLE_SEQUENCE) return { valid: false, sequence, issues: ['sequence: above any real one'] };
  return readLedgerEvent(employeeId, sequence, withoutKeys(item));
}

/** Validates one stored event; throws InvalidLedgerEventError rather than return a forged or broken one. */
function toEvent(employeeId: string, item: Record<string, unknown>): ConsentEvent {
  const reading = readItem(employeeId, item);
  if (!reading.valid) throw new InvalidLedgerEventError(employeeId, reading.sequence, reading.issues);
  return reading.event;
}
