// The consent ledger: one partition per employee, holding the append-only events
// (sk = "event#<zero-padded sequence>") and the folded current state (sk = "state").

import { RemovalPolicy, Validations } from 'aws-cdk-lib';
import type * as iam from 'aws-cdk-lib/aws-iam';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { TABLES } from '../../contract/resources.js';

/** Both tables are keyed by employee (`pk`) and then by event, state or batch (`sk`). */
export const EMPLOYEE_KEYED_TABLE = {
  partitionKey: { name: TABLES.ledger.partitionKey, type: dynamodb.AttributeType.STRING },
  sortKey: { name: TABLES.ledger.sortKey, type: dynamodb.AttributeType.STRING },
  billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
  pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
} as const satisfies Partial<dynamodb.TableProps>;

export class LedgerTable extends Construct {
  public readonly table: dynamodb.Table;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.table = new dynamodb.Table(this, 'Table', {
      ...EMPLOYEE_KEYED_TABLE,
      // The ledger is the proof of consent and outlives erasures and the stack itself.
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
      // The ledger holds pseudonymous ids, scopes, timestamps and key ARNs, never captured data,
      // so the AWS managed key (aws/dynamodb, usage visible in CloudTrail) is enough. A customer
      // managed key would be one more key whose policy IAM could open up.
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
    });
    Validations.of(this.table).acknowledge({
      id: 'NIST.800.53.R5-DynamoDBInBackupPlan',
      reason: 'The ledger has point-in-time recovery (35 days), deletion protection and RETAIN; an AWS Backup plan is the account\'s to add (its vault, retention and cross-account copy are organisation policy), and this stack cannot choose them.',
    });
  }

  /** Query and GetItem: the newest event, the history, the state cache. */
  public grantRead(grantee: iam.IGrantable): iam.Grant {
    return this.table.grant(grantee, 'dynamodb:Query', 'dynamodb:GetItem', 'dynamodb:DescribeTable');
  }

  /**
   * Scan, to count the employees whose state item says a scope is consented (a dataset request
   * refuses below its minimum before anything is queued). The table holds ids, scopes and
   * timestamps only.
   */
  public grantScan(grantee: iam.IGrantable): iam.Grant {
    return this.table.grant(grantee, 'dynamodb:Scan');
  }

  /** Reading, plus PutItem to append events and replace the state cache: no update, delete or batch write. */
  public grantAppend(grantee: iam.IGrantable): iam.Grant {
    return this.table.grant(grantee, 'dynamodb:Query', 'dynamodb:GetItem', 'dynamodb:DescribeTable', 'dynamodb:PutItem');
  }
}
