// The dataset sweeper's clock: an EventBridge Scheduler schedule that queues a `sweep` job on the
// datasets queue, so the datasets worker retires the grants of expired datasets and marks them.

import { Duration, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { DatasetJob } from '../../contract/datasets.js';

export interface DatasetSweepScheduleProps {
  /** The datasets queue, whose worker sweeps. */
  readonly queue: sqs.IQueue;
  /** How often. @default Duration.hours(1): an expired dataset's grants outlive it by an hour at most */
  readonly every?: Duration;
}

export class DatasetSweepSchedule extends Construct {
  public readonly schedule: scheduler.Schedule;
  /** The role the scheduler sends as: SendMessage on the datasets queue and nothing else. */
  public readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: DatasetSweepScheduleProps) {
    super(scope, id);
    const job: DatasetJob = { kind: 'sweep' };
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com'),
      description: 'EventBridge Scheduler: queues the hourly dataset sweep',
    });
    this.schedule = new scheduler.Schedule(this, 'Schedule', {
      description: 'consent-capture: queue a sweep that retires the training grants of expired datasets',
      schedule: scheduler.ScheduleExpression.rate(props.every ?? Duration.hours(1)),
      // The target's role may send to this queue only (SQS-managed encryption needs no key grant).
      target: new targets.SqsSendMessage(props.queue, { input: scheduler.ScheduleTargetInput.fromObject(job), role: this.role }),
    });
    const policy = this.role.node.tryFindChild('DefaultPolicy');
    if (policy !== undefined) {
      Validations.of(policy).acknowledge({
        id: 'NIST.800.53.R5-IAMNoInlinePolicy',
        reason: 'sqs:SendMessage on the datasets queue for this schedule\'s own role only; as a managed policy it could be attached to another principal.',
      });
    }
  }
}
