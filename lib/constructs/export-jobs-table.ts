// Export jobs: one item per export and one lock item per employee (contract/resources.ts). Items
// expire by TTL a little after the export files' one-day lifecycle.

import { RemovalPolicy, Validations } from 'aws-cdk-lib';
import type * as iam from 'aws-cdk-lib/aws-iam';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { TABLES } from '../../contract/resources.js';
import { EMPLOYEE_KEYED_TABLE } from './ledger-table.js';

export class ExportJobsTable extends Construct {
  public readonly table: dynamodb.Table;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.table = new dynamodb.Table(this, 'Table', {
      // PITR comes with the shared key schema: the table says who asked for their data and when.
      ...EMPLOYEE_KEYED_TABLE,
      timeToLiveAttribute: TABLES.exportJobs.timeToLiveAttribute,
      removalPolicy: RemovalPolicy.DESTROY,
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
    });
    Validations.of(this.table).acknowledge({
      id: 'NIST.800.53.R5-DynamoDBInBackupPlan',
      reason: 'Export jobs describe files that S3 deletes after a day and expire by TTL a day later; the ledger keeps the lasting record (export-requested, export-ready). Point-in-time recovery covers accidents; a backup plan would keep expired jobs for nothing.',
    });
  }

  /** What the consent function does: take the lock, create a job, read it, mark it failed if it cannot start. */
  public grantRequests(grantee: iam.IGrantable): iam.Grant {
    return this.table.grant(grantee, 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem');
  }

  /**
   * What the export sweep (the key-sync worker, steward role) does: find the unfinished jobs
   * (a filtered Scan) and mark those past their life failed. No PutItem, DeleteItem or lock write.
   */
  public grantExpiry(grantee: iam.IGrantable): iam.Grant {
    return this.table.grant(grantee, 'dynamodb:Scan', 'dynamodb:UpdateItem');
  }

  /** What the export worker does: read its job, move its status, release the lock. */
  public grantWorker(grantee: iam.IGrantable): iam.Grant {
    return this.table.grant(grantee, 'dynamodb:GetItem', 'dynamodb:UpdateItem');
  }
}
