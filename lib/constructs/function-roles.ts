// One execution role per function. Employee key policies name these roles, so they exist before
// their functions do (ingest and export arrive later), have fixed names, and must never be replaced.

import { RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { ALIAS_PREFIX } from '../../contract/app.js';
import { ROLE_NAMES, ROLES, roleNameFor, type RoleDeclaration, type RoleName } from '../../contract/roles.js';
import { kmsIdentityStatements } from '../role-policies.js';

export interface FunctionRolesProps {
  /** Each role is named `<namePrefix>-<role>` (contract/roles.ts). */
  readonly namePrefix: string;
  /** Applied to every role. @default - none */
  readonly permissionsBoundary?: iam.IManagedPolicy;
  /**
   * Who may assume the training role (a SageMaker execution role, say).
   * @default - SageMaker, for training jobs of this account only
   */
  readonly trainingPrincipal?: iam.IPrincipal;
}

export class FunctionRoles extends Construct {
  public readonly ingest: iam.Role;
  public readonly consent: iam.Role;
  public readonly export: iam.Role;
  public readonly purge: iam.Role;
  public readonly steward: iam.Role;
  /** The datasets worker's role: builds manifests, asks the steward for training grants. */
  public readonly datasets: iam.Role;
  /** Training jobs' role: reads manifests and captures; decrypts only through training grants. */
  public readonly training: iam.Role;
  /** Every role of the contract, by its name there. */
  public readonly all: Readonly<Record<RoleName, iam.Role>>;

  constructor(scope: Construct, id: string, props: FunctionRolesProps) {
    super(scope, id);
    this.all = Object.fromEntries(ROLE_NAMES.map((name) => [name, this.createRole(name, props)])) as Record<RoleName, iam.Role>;
    this.ingest = this.all.ingest;
    this.consent = this.all.consent;
    this.export = this.all.export;
    this.purge = this.all.purge;
    this.steward = this.all.steward;
    this.datasets = this.all.datasets;
    this.training = this.all.training;
  }

  /**
   * Acknowledges NIST's no-inline-policy rule on each role's default policy, once the stack has
   * granted what it grants (CDK creates the default policy with the first grant). Inline on
   * purpose: a customer managed policy could later be attached to another principal.
   */
  public acknowledgeInlinePolicies(): void {
    for (const role of Object.values(this.all)) {
      const policy = role.node.tryFindChild('DefaultPolicy');
      if (policy === undefined) continue;
      Validations.of(policy).acknowledge({
        id: 'NIST.800.53.R5-IAMNoInlinePolicy',
        reason: 'This role\'s grants are its own (an inline policy of this role only), so no other principal can ever be attached to them; a customer managed policy could be.',
      });
    }
  }

  /** The role by its name in the contract (contract/roles.ts). */
  public role(name: RoleName): iam.Role {
    return this.all[name];
  }

  private createRole(name: RoleName, props: FunctionRolesProps): iam.Role {
    const declaration: RoleDeclaration = ROLES[name];
    const { constructId: id, description } = declaration;
    const stackOfRoles = Stack.of(this);
    const assumedBy =
      declaration.assumedBy === 'training'
        ? (props.trainingPrincipal ??
          // Without a principal from context, only SageMaker jobs of this very account: the
          // confused-deputy condition AWS recommends for service principals.
          new iam.ServicePrincipal('sagemaker.amazonaws.com').withConditions({ StringEquals: { 'aws:SourceAccount': stackOfRoles.account } }))
        : new iam.ServicePrincipal('lambda.amazonaws.com');
    const role = new iam.Role(this, id, {
      // A fixed name, not CloudFormation's: a generated name changes with the construct path or a
      // recreated stack, and every employee key would then name a role that no longer exists.
      roleName: roleNameFor(props.namePrefix, name),
      assumedBy,
      description,
      ...(props.permissionsBoundary === undefined ? {} : { permissionsBoundary: props.permissionsBoundary }),
    });
    // Employee key policies hold this role's ARN, and KMS pins it to the role's unique id. A
    // replaced or deleted role would leave every employee key without a steward (or shredder,
    // or writer) until every key policy is written again, so the role outlives the stack.
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
      Validations.of(policy).acknowledge({
        id: 'NIST.800.53.R5-IAMNoInlinePolicy',
        reason: 'The KMS statements belong to this one role; as a managed policy they could be attached to another principal.',
      });
      if (name === 'steward') acknowledgeStewardKmsStatements(policy);
      if (name === 'policy-watch') {
        Validations.of(policy).acknowledge({
          id: 'AwsSolutions-IAM5[Resource::*]',
          reason: 'kms:ListAliases only, which has no resource to scope to: policy-watch finds the employee whose alias names the key a PutKeyPolicy changed. It lists alias names, nothing of any key\'s use.',
        });
      }
    }
    return role;
  }
}

/** How cdk-nag writes a value in a finding id: a pseudo parameter as `<AWS::Region>`, a literal as itself. */
function nagValue(value: string, pseudo: string): string {
  return Token.isUnresolved(value) ? `<AWS::${pseudo}>` : value;
}

function acknowledgeStewardKmsStatements(policy: iam.Policy): void {
  const stack = Stack.of(policy);
  // With -c account and -c region the alias ARN holds literals (and the partition becomes a
  // literal too), so the finding id is built from the same values the policy holds.
  const aliasArn = `arn:${nagValue(stack.partition, 'Partition')}:kms:${nagValue(stack.region, 'Region')}:${nagValue(stack.account, 'AccountId')}:${ALIAS_PREFIX}*`;
  Validations.of(policy).acknowledge(
    {
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'kms:CreateKey has no resource until the key exists; it is limited by aws:RequestTag/app=consent-capture, only the app and employeeId tag keys, KeySpec SYMMETRIC_DEFAULT, origin AWS_KMS and single-Region. kms:TagResource (needed for CreateKey\'s tags) has the same tag conditions. No cryptographic action is granted here.',
    },
    {
      id: `AwsSolutions-IAM5[Resource::${aliasArn}]`,
      reason: 'Employee keys are created at run time, so their aliases are scoped by the alias prefix alias/consent-capture/ rather than by ARN.',
    },
  );
}
