// Ingest's batch claims: one item per (employee, batchId), so a retried or duplicated batch is
// stored once. Items expire by TTL after the 7-day window in which an agent may replay a batch.

import { RemovalPolicy, Validations } from 'aws-cdk-lib';
import type * as iam from 'aws-cdk-lib/aws-iam';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { TABLES } from '../../contract/resources.js';
import { EMPLOYEE_KEYED_TABLE } from './ledger-table.js';

export class BatchesTable extends Construct {
  public readonly table: dynamodb.Table;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.table = new dynamodb.Table(this, 'Table', {
      ...EMPLOYEE_KEYED_TABLE,
      timeToLiveAttribute: TABLES.batches.timeToLiveAttribute,
      removalPolicy: RemovalPolicy.DESTROY,
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
    });
    Validations.of(this.table).acknowledge({
      id: 'NIST.800.53.R5-DynamoDBInBackupPlan',
      reason: 'Batch claims are idempotency leases that expire after 8 days and can be lost without losing data (a lost claim only lets a retried batch be judged afresh); point-in-time recovery covers accidents, a backup plan would keep expired claims for nothing.',
    });
  }

  /**
   * Exactly what ingest's claims call (lambdas/ingest/batch-claims.ts): a conditional PutItem
   * (claim), GetItem (read the claim that won), UpdateItem (record the result) and a conditional
   * DeleteItem (release). No Query, Scan or batch operation.
   */
  public grantClaims(grantee: iam.IGrantable): iam.Grant {
    return this.table.grant(grantee, 'dynamodb:PutItem', 'dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem');
  }

  /**
   * What the consent function's GET /v1/consent/last-capture calls: Query of one employee's claims
   * (their claim times and stored counts). Nothing else: it cannot write or delete a claim.
   */
  public grantUsageQuery(grantee: iam.IGrantable): iam.Grant {
    return this.table.grant(grantee, 'dynamodb:Query');
  }
}
