// Ingest's batch claims: one item per (employee, batchId), so a retried or duplicated batch is
// stored once. Items expire by TTL after the 7-day window in which an agent may replay a batch.

import { RemovalPolicy } from 'aws-cdk-lib';
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
  }
}
