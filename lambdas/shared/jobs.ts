// What the SQS workers share: a batch processor per invocation; a body that is not JSON parses as
// nothing; a job that fails its schema is an error of its own kind (it fails on every retry).
import { BatchProcessor, EventType } from '@aws-lambda-powertools/batch';

export class MalformedJobError extends Error {
  override readonly name = 'MalformedJobError';
  constructor(messageId: string) {
    super(`message ${messageId} is not a valid job`);
  }
}

export function jsonOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * A batch processor for one invocation. It keeps the batch's records and results as state, so it
 * is not shared across invocations: Lambda runs one at a time per environment, the local stack
 * may run two concurrently in one worker.
 */
export function newProcessor(): BatchProcessor {
  return new BatchProcessor(EventType.SQS);
}
