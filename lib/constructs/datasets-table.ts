// Training datasets: one item per dataset and one membership item per employee in it
// (contract/resources.ts), so an employee's own datasets are a single Query.

import { RemovalPolicy, Validations } from 'aws-cdk-lib';
import type * as iam from 'aws-cdk-lib/aws-iam';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { EMPLOYEE_KEYED_TABLE } from './ledger-table.js';

export class DatasetsTable extends Construct {
  public readonly table: dynamodb.Table;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.table = new dynamodb.Table(this, 'Table', {
      ...EMPLOYEE_KEYED_TABLE,
      // Which datasets held whose data, and until when: kept with the stack's data, not the stack.
      removalPolicy: RemovalPolicy.RETAIN,
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
    });
    Validations.of(this.table).acknowledge({
      id: 'NIST.800.53.R5-DynamoDBInBackupPlan',
      reason: 'Dataset items hold ids, counts and dates, no captured content, and can be rebuilt from the manifests and the ledger\'s datasets-withdrawn events; point-in-time recovery covers accidents, and an AWS Backup plan is the account\'s to add.',
    });
  }

  /** What the consent function does: record a request, read a dataset, list an employee's memberships. */
  public grantRequests(grantee: iam.IGrantable): iam.Grant {
    return this.table.grant(grantee, 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query');
  }

  /** What the datasets worker does: read its dataset, write memberships, move statuses, find expired datasets. */
  public grantWorker(grantee: iam.IGrantable): iam.Grant {
    return this.table.grant(grantee, 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:Query', 'dynamodb:Scan');
  }

  /** What the key steward does: read the dataset a training grant is asked for (it must be being built, unexpired). */
  public grantStewardReads(grantee: iam.IGrantable): iam.Grant {
    return this.table.grant(grantee, 'dynamodb:GetItem');
  }
}
