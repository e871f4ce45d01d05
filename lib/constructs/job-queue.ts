// A queue of worker jobs (purge, key-sync) and its dead-letter queue, so a job that keeps
// failing is kept for an operator instead of lost.

import { Duration } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { acknowledgeDeadLetterQueue } from './function-defaults.js';

export interface JobQueueProps {
  /** What the jobs are, for the DLQ's nag acknowledgement, e.g. `purge jobs`. */
  readonly jobs: string;
  /** Timeout of the function that consumes the queue; the visibility timeout is a multiple of it. */
  readonly consumerTimeout: Duration;
  /** @default 5 */
  readonly maxReceiveCount?: number;
  /** How long a job, and a dead-lettered job, is kept. @default Duration.days(14) */
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
    const retentionPeriod = props.retentionPeriod ?? Duration.days(14);
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
      retentionPeriod,
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
