// The append-only consent ledger in DynamoDB. Events are `pk = employeeId, sk = event#<seq>`,
// appended with attribute_not_exists(sk): the sequence is the optimistic lock, so of two
// concurrent changes exactly one wins. `sk = state` caches the newest event's state.
import { GetCommand, PutCommand, QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { ConsentEvent, ConsentState } from './consent-state.js';
import { isAwsError } from './errors.js';

const EVENT_PREFIX = 'event#';
const STATE_SK = 'state';
const SEQUENCE_DIGITS = 10;

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
    return result.Items?.[0] === undefined ? undefined : toEvent(result.Items[0]);
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
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.db.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
          ExpressionAttributeValues: { ':pk': employeeId, ':prefix': EVENT_PREFIX },
          ConsistentRead: true,
          ...(startKey === undefined ? {} : { ExclusiveStartKey: startKey }),
        }),
      );
      for (const item of page.Items ?? []) events.push(toEvent(item));
      startKey = page.LastEvaluatedKey;
    } while (startKey !== undefined);
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

function toEvent(item: Record<string, unknown>): ConsentEvent {
  const { pk: _pk, sk: _sk, ...event } = item;
  return event as unknown as ConsentEvent;
}
