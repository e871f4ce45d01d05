// A queue of worker jobs (purge, key-sync) and its dead-letter queue, so a job that keeps
// failing is kept for an operator instead of lost.

import { Duration } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { DEAD_LETTER_RETENTION_DAYS } from '../../contract/queues.js';
import { acknowledgeDeadLetterQueue } from './function-defaults.js';

export interface JobQueueProps {
  /** What the jobs are, for the DLQ's nag acknowledgement, e.g. `purge jobs`. */
  readonly jobs: string;
  /** Timeout of the function that consumes the queue; the visibility timeout is a multiple of it. */
  readonly consumerTimeout: Duration;
  /** @default 5 */
  readonly maxReceiveCount?: number;
  /**
   * How long a job is kept in the queue. SQS counts a dead-lettered job's retention from its
   * original enqueue, so this must be shorter than the dead-letter queue's, which is always the
   * maximum, 14 days. @default Duration.days(7)
   */
  readonly retentionPeriod?: Duration;
  /**
   * The visibility timeout in consumer timeouts. AWS's guidance for SQS event sources is at least
   * six, so a message is not redelivered while an invocation (and its retries) may still hold it.
   * @default 6
   */
  readonly visibilityTimeoutFactor?: number;
}

export class JobQueue extends Construct {
  public readonly queue: sqs.Queue;
  public readonly deadLetterQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: JobQueueProps) {
    super(scope, id);
    const maxReceiveCount = props.maxReceiveCount ?? 5;
    const retentionPeriod = props.retentionPeriod ?? Duration.days(7);
    const deadLetterRetention = Duration.days(DEAD_LETTER_RETENTION_DAYS);
    if (retentionPeriod.toSeconds() >= deadLetterRetention.toSeconds()) {
      throw new Error(
        `${props.jobs} queue: retentionPeriod must be shorter than the dead-letter queue's ${DEAD_LETTER_RETENTION_DAYS} days, got ${retentionPeriod.toDays()} days: ` +
          'SQS counts a dead-lettered job\'s retention from its original enqueue, so an equal retention could expire a failed job the moment it is dead-lettered',
      );
    }
    const factor = props.visibilityTimeoutFactor ?? 6;
    if (!Number.isInteger(factor) || factor < 1) {
      throw new Error(`${props.jobs} queue: visibilityTimeoutFactor must be a whole number of at least 1, got ${factor}`);
    }
    if (!Number.isInteger(maxReceiveCount) || maxReceiveCount < 1 || maxReceiveCount > 1000) {
      throw new Error(`${props.jobs} queue: maxReceiveCount must be an integer from 1 to 1000, got ${maxReceiveCount}`);
    }

    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: deadLetterRetention,
    });
    acknowledgeDeadLetterQueue(this.deadLetterQueue, `${props.jobs} that failed every attempt`);

    this.queue = new sqs.Queue(this, 'Queue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod,
      visibilityTimeout: Duration.seconds(props.consumerTimeout.toSeconds() * factor),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount },
    });
  }
}
