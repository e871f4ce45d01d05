// The compliance record: a multi-Region CloudTrail trail (management events, read and write, so
// every KMS call; S3 data events on the captures and exports buckets) into an Object Lock bucket
// under an audit key, and what the compliance team queries it with: an Athena workgroup, a Glue
// table with partition projection, one named query per entry of AUDIT_QUERIES, and the auditor role.

import { Duration, Stack, Validations } from 'aws-cdk-lib';
import * as athena from 'aws-cdk-lib/aws-athena';
import * as cloudtrail from 'aws-cdk-lib/aws-cloudtrail';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as glue from 'aws-cdk-lib/aws-glue';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import type { AuditQuery } from '../../contract/audit-queries.js';
import { AUDIT_DATABASE, CLOUDTRAIL_COLUMNS, CLOUDTRAIL_PARTITIONS, CLOUDTRAIL_TABLE } from '../../contract/audit-trail.js';
import { AUDITOR_READ_ONLY, AUDITOR_ROLE, AUDITOR_ROLE_NAME, roleNameFor } from '../../contract/roles.js';

/** Where CloudTrail writes a trail's log files in its bucket (no key prefix). */
const LOGS_PREFIX = 'AWSLogs/';

/**
 * The commercial Regions a multi-Region trail writes from: the `region` partition's values. An
 * enum, not `injected`, so a query need not name a Region; add one here when AWS opens it, or its
 * log files stay out of every query.
 */
export const TRAIL_REGIONS = [
  'af-south-1', 'ap-east-1', 'ap-northeast-1', 'ap-northeast-2', 'ap-northeast-3', 'ap-south-1', 'ap-south-2',
  'ap-southeast-1', 'ap-southeast-2', 'ap-southeast-3', 'ap-southeast-4', 'ap-southeast-5', 'ap-southeast-7',
  'ca-central-1', 'ca-west-1', 'eu-central-1', 'eu-central-2', 'eu-north-1', 'eu-south-1', 'eu-south-2',
  'eu-west-1', 'eu-west-2', 'eu-west-3', 'il-central-1', 'me-central-1', 'me-south-1', 'mx-central-1',
  'sa-east-1', 'us-east-1', 'us-east-2', 'us-west-1', 'us-west-2',
] as const;

/** What a compliance auditor may do in Athena: run and read queries in the audit workgroup, read its named queries. */
const ATHENA_QUERY_ACTIONS = [
  'athena:StartQueryExecution',
  'athena:StopQueryExecution',
  'athena:GetQueryExecution',
  'athena:GetQueryResults',
  'athena:GetQueryResultsStream',
  'athena:ListQueryExecutions',
  'athena:BatchGetQueryExecution',
  'athena:GetWorkGroup',
  'athena:ListNamedQueries',
  'athena:GetNamedQuery',
  'athena:BatchGetNamedQuery',
] as const;

export interface AuditTrailProps {
  /** The trail is `<namePrefix>-audit`, the workgroup `<namePrefix>-audit`, the auditor role `<namePrefix>-auditor`. */
  readonly namePrefix: string;
  /** Days each log file stays locked (Object Lock, compliance mode) and is kept. */
  readonly retentionDays: number;
  /** Buckets whose object reads and writes the trail records (S3 data events). */
  readonly dataEventBuckets: readonly s3.IBucket[];
  /** Receives the audit buckets' server access logs (an Object Lock bucket cannot be a log target of its own). */
  readonly accessLogsBucket: s3.IBucket;
  /** The consent ledger: the auditor may Query and GetItem it, and nothing else. */
  readonly ledger: dynamodb.ITable;
  /** The named queries, one CfnNamedQuery each. */
  readonly queries: readonly AuditQuery[];
  /** @default 30 */
  readonly queryResultDays?: number;
  /** Applied to the auditor role. @default - none */
  readonly permissionsBoundary?: iam.IManagedPolicy;
}

export class AuditTrail extends Construct {
  public readonly trail: cloudtrail.CfnTrail;
  public readonly trailName: string;
  public readonly trailArn: string;
  /** Encrypts the log files and the query results; CloudTrail and the auditor role alone may use it. */
  public readonly key: kms.Key;
  public readonly bucket: s3.Bucket;
  public readonly resultsBucket: s3.Bucket;
  public readonly workGroup: athena.CfnWorkGroup;
  public readonly database: glue.CfnDatabase;
  public readonly table: glue.CfnTable;
  /** By query name. */
  public readonly namedQueries: ReadonlyMap<string, athena.CfnNamedQuery>;
  public readonly auditor: iam.Role;

  constructor(scope: Construct, id: string, props: AuditTrailProps) {
    super(scope, id);
    const stack = Stack.of(this);
    this.trailName = `${props.namePrefix}-audit`;
    // Built from the name, not read from the trail: the key and bucket policies must exist before it.
    this.trailArn = stack.formatArn({ service: 'cloudtrail', resource: 'trail', resourceName: this.trailName });

    this.auditor = new iam.Role(this, AUDITOR_ROLE.constructId, {
      // A fixed name, like the function roles': the audit key's policy names it.
      roleName: roleNameFor(props.namePrefix, AUDITOR_ROLE_NAME),
      // People assume it, through whatever the account's identity provider allows them.
      assumedBy: new iam.AccountRootPrincipal(),
      description: AUDITOR_ROLE.description,
      ...(props.permissionsBoundary === undefined ? {} : { permissionsBoundary: props.permissionsBoundary }),
    });

    this.key = new kms.Key(this, 'Key', {
      description: 'consent-capture: encrypts the CloudTrail audit trail and the auditors\' query results',
      enableKeyRotation: true,
      policy: new iam.PolicyDocument({
        statements: [
          // The account administers the key (CloudFormation must be able to update it) but may
          // not use it: no Decrypt, no GenerateDataKey, no grants.
          new iam.PolicyStatement({
            sid: 'KeyAdministration',
            principals: [new iam.AccountRootPrincipal()],
            actions: [
              'kms:Describe*', 'kms:Get*', 'kms:List*', 'kms:PutKeyPolicy', 'kms:Enable*', 'kms:Disable*', 'kms:Update*',
              'kms:TagResource', 'kms:UntagResource', 'kms:ScheduleKeyDeletion', 'kms:CancelKeyDeletion', 'kms:Create*',
              'kms:RevokeGrant', 'kms:Delete*',
            ],
            resources: ['*'],
          }),
          // As CloudTrail's documentation writes it: this trail only (aws:SourceArn), and data
          // keys bound to a trail of this account (the encryption context CloudTrail sends).
          new iam.PolicyStatement({
            sid: 'CloudTrailEncryptsLogs',
            principals: [new iam.ServicePrincipal('cloudtrail.amazonaws.com')],
            actions: ['kms:GenerateDataKey*'],
            resources: ['*'],
            conditions: {
              StringEquals: { 'aws:SourceArn': this.trailArn },
              StringLike: { 'kms:EncryptionContext:aws:cloudtrail:arn': `arn:${stack.partition}:cloudtrail:*:${stack.account}:trail/*` },
            },
          }),
          new iam.PolicyStatement({
            sid: 'CloudTrailDescribesKey',
            principals: [new iam.ServicePrincipal('cloudtrail.amazonaws.com')],
            actions: ['kms:DescribeKey'],
            resources: ['*'],
            conditions: { StringEquals: { 'aws:SourceArn': this.trailArn } },
          }),
          // The auditor reads log files and writes and reads query results, through S3 only.
          new iam.PolicyStatement({
            sid: 'AuditorReadsThroughS3',
            principals: [this.auditor],
            actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
            resources: ['*'],
            conditions: { StringEquals: { 'kms:ViaService': `s3.${stack.region}.${stack.urlSuffix}` } },
          }),
          new iam.PolicyStatement({ sid: 'AuditorDescribesKey', principals: [this.auditor], actions: ['kms:DescribeKey'], resources: ['*'] }),
        ],
      }),
    });

    this.bucket = new s3.Bucket(this, 'Bucket', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      // CloudTrail's bucket-owner-full-control ACL is still accepted with ACLs disabled.
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: this.key,
      bucketKeyEnabled: true,
      versioned: true,
      // Compliance mode: nobody, not even the account root, can delete or overwrite a log file
      // before its retention ends. The retention cannot be shortened later either.
      objectLockEnabled: true,
      objectLockDefaultRetention: s3.ObjectLockRetention.compliance(Duration.days(props.retentionDays)),
      serverAccessLogsBucket: props.accessLogsBucket,
      serverAccessLogsPrefix: 'audit-bucket/',
      lifecycleRules: [
        { id: 'expire-after-retention', expiration: Duration.days(props.retentionDays), noncurrentVersionExpiration: Duration.days(1) },
      ],
    });
    // CloudTrail's documented bucket policy, narrowed to this trail by aws:SourceArn.
    this.bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudTrailAclCheck',
        principals: [new iam.ServicePrincipal('cloudtrail.amazonaws.com')],
        actions: ['s3:GetBucketAcl'],
        resources: [this.bucket.bucketArn],
        conditions: { StringEquals: { 'aws:SourceArn': this.trailArn } },
      }),
    );
    this.bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudTrailWrite',
        principals: [new iam.ServicePrincipal('cloudtrail.amazonaws.com')],
        actions: ['s3:PutObject'],
        resources: [this.bucket.arnForObjects(`${LOGS_PREFIX}${stack.account}/*`)],
        conditions: { StringEquals: { 's3:x-amz-acl': 'bucket-owner-full-control', 'aws:SourceArn': this.trailArn } },
      }),
    );

    this.resultsBucket = new s3.Bucket(this, 'QueryResults', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      // CloudTrail's bucket-owner-full-control ACL is still accepted with ACLs disabled.
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: this.key,
      bucketKeyEnabled: true,
      serverAccessLogsBucket: props.accessLogsBucket,
      serverAccessLogsPrefix: 'audit-query-results/',
      lifecycleRules: [
        { id: 'expire-query-results', expiration: Duration.days(props.queryResultDays ?? 30) },
        { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
    });

    this.trail = new cloudtrail.CfnTrail(this, 'Trail', {
      trailName: this.trailName,
      isLogging: true,
      isMultiRegionTrail: true,
      includeGlobalServiceEvents: true,
      enableLogFileValidation: true,
      s3BucketName: this.bucket.bucketName,
      kmsKeyId: this.key.keyArn,
      eventSelectors: [
        {
          includeManagementEvents: true,
          readWriteType: 'All',
          dataResources: [{ type: 'AWS::S3::Object', values: props.dataEventBuckets.map((bucket) => `${bucket.bucketArn}/`) }],
        },
      ],
    });
    // CloudTrail checks that it may write to the bucket and use the key when the trail is created.
    const bucketPolicy = this.bucket.policy;
    if (bucketPolicy !== undefined) this.trail.node.addDependency(bucketPolicy);
    this.trail.node.addDependency(this.key);

    this.workGroup = new athena.CfnWorkGroup(this, 'WorkGroup', {
      name: `${props.namePrefix}-audit`,
      description: 'consent-capture compliance queries over the CloudTrail trail',
      state: 'ENABLED',
      // Removing the stack removes the workgroup's saved queries; the trail's log files stay locked.
      recursiveDeleteOption: true,
      workGroupConfiguration: {
        // The auditor cannot send results elsewhere or unencrypted: the workgroup's settings win.
        enforceWorkGroupConfiguration: true,
        publishCloudWatchMetricsEnabled: true,
        resultConfiguration: {
          outputLocation: this.resultsBucket.s3UrlForObject('athena/'),
          encryptionConfiguration: { encryptionOption: 'SSE_KMS', kmsKey: this.key.keyArn },
        },
      },
    });

    this.database = new glue.CfnDatabase(this, 'Database', {
      catalogId: stack.account,
      databaseInput: { name: AUDIT_DATABASE, description: 'consent-capture: the CloudTrail audit trail' },
    });
    const logsUrl = `s3://${this.bucket.bucketName}/${LOGS_PREFIX}${stack.account}/CloudTrail/`;
    this.table = new glue.CfnTable(this, 'Table', {
      catalogId: stack.account,
      databaseName: AUDIT_DATABASE,
      tableInput: {
        name: CLOUDTRAIL_TABLE,
        tableType: 'EXTERNAL_TABLE',
        partitionKeys: CLOUDTRAIL_PARTITIONS.map((c) => ({ name: c.name, type: c.type })),
        parameters: {
          classification: 'cloudtrail',
          EXTERNAL: 'TRUE',
          // Partition projection: Athena computes the partitions from these, so no crawler and no
          // ALTER TABLE ADD PARTITION; a query that filters region and timestamp reads only those prefixes.
          'projection.enabled': 'true',
          'projection.region.type': 'enum',
          'projection.region.values': TRAIL_REGIONS.join(','),
          'projection.timestamp.type': 'date',
          'projection.timestamp.format': 'yyyy/MM/dd',
          'projection.timestamp.range': '2026/01/01,NOW',
          'projection.timestamp.interval': '1',
          'projection.timestamp.interval.unit': 'DAYS',
          'storage.location.template': `${logsUrl}\${region}/\${timestamp}`,
        },
        storageDescriptor: {
          location: logsUrl,
          columns: CLOUDTRAIL_COLUMNS.map((c) => ({ name: c.name, type: c.type })),
          inputFormat: 'com.amazon.emr.cloudtrail.CloudTrailInputFormat',
          outputFormat: 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat',
          serdeInfo: { serializationLibrary: 'org.apache.hive.hcatalog.data.JsonSerDe' },
        },
      },
    });
    this.table.node.addDependency(this.database);

    const named = new Map<string, athena.CfnNamedQuery>();
    for (const query of props.queries) {
      if (named.has(query.name)) throw new Error(`audit query "${query.name}" is declared twice in AUDIT_QUERIES: give each a unique name`);
      const cfn = new athena.CfnNamedQuery(this, `Query-${query.name}`, {
        name: query.name,
        description: query.description,
        database: AUDIT_DATABASE,
        queryString: query.sql,
        workGroup: this.workGroup.ref,
      });
      cfn.node.addDependency(this.database);
      named.set(query.name, cfn);
    }
    this.namedQueries = named;

    this.grantAuditorReads(props.ledger);
    this.acknowledge();
  }

  /** What the auditor's queries need, and on the ledger Query and GetItem only. */
  private grantAuditorReads(ledger: dynamodb.ITable): void {
    const stack = Stack.of(this);
    // From the name, not a Ref: the local stack resolves the auditor's policy from the template.
    const workGroupArn = stack.formatArn({ service: 'athena', resource: 'workgroup', resourceName: this.workGroup.name });
    const glueArn = (resource: string, name?: string): string => stack.formatArn({ service: 'glue', resource, ...(name === undefined ? {} : { resourceName: name }) });
    const statements = [
      ...AUDITOR_READ_ONLY.Statement.map((statement) => iam.PolicyStatement.fromJson(statement)),
      new iam.PolicyStatement({ sid: 'AuditQueries', actions: [...ATHENA_QUERY_ACTIONS], resources: [workGroupArn] }),
      new iam.PolicyStatement({
        sid: 'AuditCatalog',
        actions: ['glue:GetDatabase', 'glue:GetTable', 'glue:GetTables', 'glue:GetPartition', 'glue:GetPartitions'],
        resources: [glueArn('catalog'), glueArn('database', AUDIT_DATABASE), glueArn('table', `${AUDIT_DATABASE}/${CLOUDTRAIL_TABLE}`)],
      }),
      new iam.PolicyStatement({ sid: 'ReadTrailBucket', actions: ['s3:GetBucketLocation', 's3:ListBucket'], resources: [this.bucket.bucketArn] }),
      new iam.PolicyStatement({ sid: 'ReadTrailLogs', actions: ['s3:GetObject'], resources: [this.bucket.arnForObjects(`${LOGS_PREFIX}*`)] }),
      new iam.PolicyStatement({ sid: 'QueryResultsBucket', actions: ['s3:GetBucketLocation', 's3:ListBucket'], resources: [this.resultsBucket.bucketArn] }),
      new iam.PolicyStatement({
        sid: 'QueryResults',
        actions: ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'],
        resources: [this.resultsBucket.arnForObjects('athena/*')],
      }),
      // The consent ledger, read only: an employee's events and state, no Scan, no write.
      new iam.PolicyStatement({ sid: 'ReadLedger', actions: ['dynamodb:Query', 'dynamodb:GetItem'], resources: [ledger.tableArn] }),
    ];
    const policy = new iam.Policy(this, 'AuditorReads', { statements, roles: [this.auditor] });
    const bucketId = stack.getLogicalId(this.bucket.node.defaultChild as s3.CfnBucket);
    const resultsId = stack.getLogicalId(this.resultsBucket.node.defaultChild as s3.CfnBucket);
    Validations.of(policy).acknowledge(
      { id: 'NIST.800.53.R5-IAMNoInlinePolicy', reason: 'The auditor\'s reads belong to this one role; as a managed policy they could be attached to another principal.' },
      { id: 'AwsSolutions-IAM5[Resource::*]', reason: 'kms:ListAliases and kms:ListKeys have no resource to scope to; they list key ids and aliases, never key material or use. What the auditor may read of an employee key is that key policy\'s to give.' },
      { id: `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/${LOGS_PREFIX}*]`, reason: 'CloudTrail writes a log file per Region, day and delivery under AWSLogs/; the auditor reads them all (GetObject only). The bucket holds nothing else but CloudTrail\'s files.' },
      { id: `AwsSolutions-IAM5[Resource::<${resultsId}.Arn>/athena/*]`, reason: 'Athena writes each query\'s results under a key named by the query id; the auditor reads and writes under athena/ of the results bucket only.' },
    );
  }

  private acknowledge(): void {
    Validations.of(this.trail).acknowledge({
      id: 'NIST.800.53.R5-CloudTrailCloudWatchLogsEnabled',
      reason: 'EventBridge rules receive the same management events directly and alarm on them; a CloudWatch Logs copy would be one more store of the trail, outside the Object Lock bucket.',
    });
    Validations.of(this.bucket).acknowledge({
      id: 'NIST.800.53.R5-S3BucketReplicationEnabled',
      reason: 'The log files are locked in compliance mode and CloudTrail signs hourly digests of them; a replica would be one more copy of the trail to keep in step, with no more integrity.',
    });
    Validations.of(this.resultsBucket).acknowledge(
      { id: 'NIST.800.53.R5-S3BucketReplicationEnabled', reason: 'Query results are derived from the trail and expire in days; any of them can be recomputed from the trail.' },
      { id: 'NIST.800.53.R5-S3BucketVersioningEnabled', reason: 'Athena writes each result once under a new key and the results expire in days; versions would keep expired results longer.' },
    );
  }
}
