// One execution role per function. Employee key policies name these roles, so they exist before
// their functions do (ingest and export arrive later) and must never be replaced.

import { RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { ALIAS_PREFIX } from '../../contract/app.js';
import { ROLE_NAMES, ROLES, type RoleName } from '../../contract/roles.js';
import { kmsIdentityStatements } from '../role-policies.js';

export class FunctionRoles extends Construct {
  public readonly ingest: iam.Role;
  public readonly consent: iam.Role;
  public readonly export: iam.Role;
  public readonly purge: iam.Role;
  public readonly steward: iam.Role;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    const roles = Object.fromEntries(ROLE_NAMES.map((name) => [name, this.createRole(name)])) as Record<RoleName, iam.Role>;
    this.ingest = roles.ingest;
    this.consent = roles.consent;
    this.export = roles.export;
    this.purge = roles.purge;
    this.steward = roles.steward;
  }

  /** The role by its name in the contract (contract/roles.ts). */
  public role(name: RoleName): iam.Role {
    return this[name];
  }

  private createRole(name: RoleName): iam.Role {
    const { constructId: id, description } = ROLES[name];
    const role = new iam.Role(this, id, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description,
    });
    // Employee key policies hold this role's ARN, and KMS pins it to the role's unique id. A
    // replaced or deleted role would leave every employee key without a steward (or shredder,
    // or writer) that only AWS Support can restore, so the role outlives the stack.
    role.applyRemovalPolicy(RemovalPolicy.RETAIN);

    const stack = Stack.of(this);
    const statements = kmsIdentityStatements(name, {
      partition: stack.partition,
      region: stack.region,
      account: stack.account,
    }).map((statement) => iam.PolicyStatement.fromJson(statement));
    if (statements.length > 0) {
      // A policy of its own keeps these statements apart from the grants CDK adds to the role's
      // default policy, so the acknowledgements below cover exactly them.
      const policy = new iam.Policy(this, `${id}KmsIdentity`, { statements, roles: [role] });
      if (name === 'steward') acknowledgeStewardKmsStatements(policy);
    }
    return role;
  }
}

function acknowledgeStewardKmsStatements(policy: iam.Policy): void {
  Validations.of(policy).acknowledge(
    {
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'kms:CreateKey has no resource until the key exists, and kms:TagResource/CreateKey are limited by the condition aws:RequestTag/app=consent-capture with only the app and employeeId tag keys; kms:ListAliases does not support resource-level permissions. No cryptographic action is granted here.',
    },
    {
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:kms:<AWS::Region>:<AWS::AccountId>:${ALIAS_PREFIX}*]`,
      reason: 'Employee keys are created at run time, so their aliases are scoped by the alias prefix alias/consent-capture/ rather than by ARN.',
    },
  );
}
