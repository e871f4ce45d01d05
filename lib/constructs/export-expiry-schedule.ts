// The export sweep's clock: an EventBridge Scheduler schedule that queues an `expire-exports` job
// on the key-sync queue, so the key-sync worker (the steward role) revokes the grants of exports
// that outlived their life and marks them failed (contract/export-expiry.ts).

import { Duration, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { EXPORT_EXPIRY_EVERY_HOURS, type ExportExpiryJob } from '../../contract/export-expiry.js';

export interface ExportExpiryScheduleProps {
  /** The key-sync queue, whose worker runs as the steward role, the role that may revoke export grants. */
  readonly queue: sqs.IQueue;
  /** How often. @default - EXPORT_EXPIRY_EVERY_HOURS (1 hour): an export grant outlives its export's life by that at most */
  readonly every?: Duration;
}

export class ExportExpirySchedule extends Construct {
  public readonly schedule: scheduler.Schedule;
  /** The role the scheduler sends as: SendMessage on the key-sync queue and nothing else. */
  public readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: ExportExpiryScheduleProps) {
    super(scope, id);
    const job: ExportExpiryJob = { kind: 'expire-exports' };
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com'),
      description: 'EventBridge Scheduler: queues the hourly export sweep',
    });
    this.schedule = new scheduler.Schedule(this, 'Schedule', {
      description: 'consent-capture: queue a sweep that revokes the grants of exports older than their life',
      schedule: scheduler.ScheduleExpression.rate(props.every ?? Duration.hours(EXPORT_EXPIRY_EVERY_HOURS)),
      // The target's role may send to this queue only (SQS-managed encryption needs no key grant).
      target: new targets.SqsSendMessage(props.queue, { input: scheduler.ScheduleTargetInput.fromObject(job), role: this.role }),
    });
    const policy = this.role.node.tryFindChild('DefaultPolicy');
    if (policy !== undefined) {
      Validations.of(policy).acknowledge({
        id: 'NIST.800.53.R5-IAMNoInlinePolicy',
        reason: 'sqs:SendMessage on the key-sync queue for this schedule\'s own role only; as a managed policy it could be attached to another principal.',
      });
    }
  }
}
