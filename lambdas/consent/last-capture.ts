// When an employee's key last stored captured data: the newest batch claim that stored at least
// one event. A claim holds its expiry (claim time + BATCH_CLAIM_TTL_SECONDS), its status and the
// per-scope counts, and never captured content; only those attributes are read.
import { QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { BATCH_CLAIM_TTL_SECONDS, LAST_CAPTURE_WINDOW_DAYS } from '../../contract/key-usage.js';

export interface LastCapture {
  readonly lastCaptureAt: string | null;
  readonly windowDays: number;
}

function storedEvents(result: unknown): number {
  const stored = typeof result === 'object' && result !== null ? (result as { stored?: unknown }).stored : undefined;
  if (typeof stored !== 'object' || stored === null) return 0;
  return Object.values(stored).reduce<number>((sum, n) => sum + (typeof n === 'number' ? n : 0), 0);
}

export async function lastCaptureOf(db: DynamoDBDocumentClient, table: string, employeeId: string, now: Date): Promise<LastCapture> {
  let newest: number | undefined;
  let start: Record<string, unknown> | undefined;
  do {
    const page = await db.send(
      new QueryCommand({
        TableName: table,
        KeyConditionExpression: 'pk = :employee',
        ProjectionExpression: '#status, expiresAt, #result.#stored',
        ExpressionAttributeNames: { '#status': 'status', '#result': 'result', '#stored': 'stored' },
        ExpressionAttributeValues: { ':employee': employeeId },
        ...(start === undefined ? {} : { ExclusiveStartKey: start }),
      }),
    );
    for (const item of page.Items ?? []) {
      const expiresAt = item['expiresAt'];
      if (item['status'] !== 'done' || typeof expiresAt !== 'number' || storedEvents(item['result']) === 0) continue;
      const claimedAt = (expiresAt - BATCH_CLAIM_TTL_SECONDS) * 1000;
      // An expired claim that TTL has not removed yet is outside the window the answer speaks for.
      if (expiresAt * 1000 <= now.getTime()) continue;
      newest = newest === undefined ? claimedAt : Math.max(newest, claimedAt);
    }
    start = page.LastEvaluatedKey;
  } while (start !== undefined);
  return { lastCaptureAt: newest === undefined ? null : new Date(newest).toISOString(), windowDays: LAST_CAPTURE_WINDOW_DAYS };
}
