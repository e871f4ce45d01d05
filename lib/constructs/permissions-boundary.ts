// The optional permissions boundary every application role carries (CDK context
// `permissionsBoundary=true`): whatever is added to a role later, it can never touch IAM, manage
// functions (it may only invoke the application's own), undo an erasure, or disable and delete
// keys unless it is the purge role.

import { ArnFormat, Stack, Token, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';

/** The services the functions call; anything else is outside the boundary. */
export const BOUNDARY_SERVICES = ['dynamodb', 'kms', 'logs', 's3', 'sqs', 'xray'] as const;

/** Nobody in the application uses these, and each would undo an erasure or move an employee's alias. */
export const BOUNDARY_DENIED_KMS_ACTIONS = [
  'kms:CancelKeyDeletion',
  'kms:EnableKey',
  'kms:UntagResource',
  'kms:UpdateAlias',
  'kms:DeleteAlias',
  'kms:ImportKeyMaterial',
  'kms:ReplicateKey',
] as const;

/** Only the purge role shreds. */
export const SHREDDER_ONLY_ACTIONS = ['kms:DisableKey', 'kms:ScheduleKeyDeletion'] as const;

export interface PermissionsBoundaryProps {
  /** The policy's name: `<prefix>-boundary`. */
  readonly managedPolicyName: string;
  /** The application's function names start with it: the only functions a role may invoke (the consent function invokes the key steward). */
  readonly functionNamePrefix: string;
  /** The purge role's name, the only one that may disable keys and schedule their deletion. */
  readonly shredderRoleName: string;
}

/** How cdk-nag writes a value in a finding id: a pseudo parameter as `<AWS::Region>`, a literal as itself. */
function nagValue(value: string, pseudo: string): string {
  return Token.isUnresolved(value) ? `<AWS::${pseudo}>` : value;
}

export class PermissionsBoundary extends Construct {
  public readonly policy: iam.ManagedPolicy;

  constructor(scope: Construct, id: string, props: PermissionsBoundaryProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const shredderArn = stack.formatArn({ service: 'iam', region: '', resource: 'role', resourceName: props.shredderRoleName });
    this.policy = new iam.ManagedPolicy(this, 'Policy', {
      managedPolicyName: props.managedPolicyName,
      description: 'consent-capture: the most any application role may ever do',
      statements: [
        new iam.PolicyStatement({
          sid: 'ApplicationServices',
          actions: BOUNDARY_SERVICES.map((service) => `${service}:*`),
          resources: ['*'],
        }),
        new iam.PolicyStatement({
          // Nothing else of Lambda is allowed, so no role may change or create a function.
          sid: 'InvokeApplicationFunctions',
          actions: ['lambda:InvokeFunction'],
          resources: [stack.formatArn({ service: 'lambda', resource: 'function', resourceName: `${props.functionNamePrefix}-*`, arnFormat: ArnFormat.COLON_RESOURCE_NAME })],
        }),
        new iam.PolicyStatement({
          sid: 'NoIdentityChanges',
          effect: iam.Effect.DENY,
          actions: ['iam:*', 'sts:*', 'organizations:*'],
          resources: ['*'],
        }),
        new iam.PolicyStatement({
          sid: 'NoUndoingErasures',
          effect: iam.Effect.DENY,
          actions: [...BOUNDARY_DENIED_KMS_ACTIONS],
          resources: ['*'],
        }),
        new iam.PolicyStatement({
          sid: 'OnlyThePurgeRoleShreds',
          effect: iam.Effect.DENY,
          actions: [...SHREDDER_ONLY_ACTIONS],
          resources: ['*'],
          conditions: { ArnNotEquals: { 'aws:PrincipalArn': shredderArn } },
        }),
      ],
    });
    // A boundary grants nothing: it is the ceiling of each role's own (narrow) policies, so its
    // Allow is a list of services and its teeth are the Denies.
    const reason = 'A permissions boundary grants nothing by itself: it caps what each role\'s own policies may allow, so its Allow names whole services the functions use; what it must never allow is in its Deny statements.';
    Validations.of(this.policy).acknowledge(
      { id: 'NIST.800.53.R5-IAMPolicyNoStatementsWithFullAccess', reason },
      { id: 'AwsSolutions-IAM5[Resource::*]', reason },
      ...BOUNDARY_SERVICES.map((service) => ({ id: `AwsSolutions-IAM5[Action::${service}:*]`, reason })),
      {
        id: `AwsSolutions-IAM5[Resource::arn:${nagValue(stack.partition, 'Partition')}:lambda:${nagValue(stack.region, 'Region')}:${nagValue(stack.account, 'AccountId')}:function:${props.functionNamePrefix}-*]`,
        reason: 'The application\'s functions share the name prefix; the boundary lets a role invoke only those (the consent role\'s own policy names the key steward alone).',
      },
    );
  }
}
