// The key-sync worker: makes an employee's key policy match the newest ledger event. The consent
// function queues a job here when KMS throttles its policy write (a storm of changes outruns
// KMS's PutKeyPolicy quota). It runs as the consent role, the only one that may write policies.
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import * as z from 'zod';
import { documentClient, kmsClient } from '../shared/clients.js';
import { ENV, requireEnv } from '../shared/environment.js';
import { ID_PATTERN } from '../shared/ids.js';
import { KeyPolicySync } from '../shared/key-policy-sync.js';
import { KeySteward, keyPolicyRolesFromEnv } from '../shared/key-steward.js';
import { Ledger } from '../shared/ledger.js';
import { createLogger } from '../shared/logger.js';

const logger = createLogger('key-sync');
const ledger = new Ledger(documentClient(), requireEnv(ENV.ledgerTable));
const sync = new KeyPolicySync(ledger, new KeySteward(kmsClient(), keyPolicyRolesFromEnv(), { logger }));

const keySyncJob = z.object({ employeeId: z.string().regex(ID_PATTERN), sequence: z.number().int().nonnegative() });

export async function handler(event: SQSEvent): Promise<SQSBatchResponse> {
  const batchItemFailures: SQSBatchResponse['batchItemFailures'] = [];
  // Jobs for the same employee collapse: one sync applies the newest event, whatever was queued.
  const done = new Set<string>();
  for (const record of event.Records) {
    const parsed = keySyncJob.safeParse(safeJson(record.body));
    if (!parsed.success) {
      logger.error('malformed key-sync job', { messageId: record.messageId });
      batchItemFailures.push({ itemIdentifier: record.messageId });
      continue;
    }
    const { employeeId } = parsed.data;
    if (done.has(employeeId)) continue;
    try {
      const state = await sync.syncNewest(employeeId);
      done.add(employeeId);
      logger.info('key policy synced', { employeeId, sequence: state?.sequence });
    } catch (error) {
      logger.warn('key sync failed; it will be retried', { employeeId, error: error instanceof Error ? error.name : String(error) });
      batchItemFailures.push({ itemIdentifier: record.messageId });
    }
  }
  return { batchItemFailures };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
