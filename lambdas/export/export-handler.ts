// Builds the export worker's SQS handler from its dependencies: Powertools' batch processor, one
// export per message; a failed attempt is retried by the queue, and the last attempt (or a failure
// no retry can mend) marks the export failed and retires its grant, so a job never ends in the DLQ
// holding a grant. Tests build it with their own clients, to inject faults.
import { processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { exportJobSchema } from '../../contract/jobs.js';
import { jsonOrUndefined, MalformedJobError, newProcessor } from '../shared/jobs.js';
import { ExportFailedError, failExport, runExport, type ExportDeps } from './export-employee.js';

export interface ExportHandlerOptions {
  /** Receives after which an attempt is the last (the queue's maxReceiveCount). */
  readonly maxReceiveCount: number;
}

/** What the employee reads when the export failed for a reason that is not theirs to fix. */
const RETRIES_EXHAUSTED = 'the export failed several times; please ask for a new one, and contact support if it fails again';

/** The handler for these dependencies: the function's own (index.ts), or a test's. */
export function createExportHandler(deps: ExportDeps, options: ExportHandlerOptions): (event: SQSEvent, context: Context) => Promise<SQSBatchResponse> {
  const { logger } = deps;
  async function exportRecord(record: SQSRecord): Promise<void> {
    const parsed = exportJobSchema.safeParse(jsonOrUndefined(record.body));
    if (!parsed.success) {
      logger.error('malformed export job', { messageId: record.messageId });
      throw new MalformedJobError(record.messageId);
    }
    const job = parsed.data;
    const receives = Number(record.attributes.ApproximateReceiveCount);
    try {
      const outcome = await runExport(deps, job);
      logger.info('export job done', { messageId: record.messageId, employeeId: job.employeeId, exportId: job.exportId, outcome });
    } catch (error) {
      const lastAttempt = Number.isFinite(receives) && receives >= options.maxReceiveCount;
      const cause = error instanceof Error ? error.name : typeof error;
      if (error instanceof ExportFailedError || lastAttempt) {
        logger.error('export job failed for good', { messageId: record.messageId, employeeId: job.employeeId, exportId: job.exportId, receives, cause });
        await failExport(deps, job, error instanceof ExportFailedError ? error.reason : RETRIES_EXHAUSTED);
        return;
      }
      logger.warn('export job failed; it will be retried', { messageId: record.messageId, employeeId: job.employeeId, exportId: job.exportId, receives, cause });
      throw error;
    }
  }
  return (event, context) => processPartialResponse(event, exportRecord, newProcessor(), { context, processInParallel: false, throwOnFullBatchFailure: false });
}

