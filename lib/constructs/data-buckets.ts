// The S3 buckets for ciphertext captures and short-lived exports, and the bucket that receives
// both buckets' server access logs.

import { Duration, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { BUCKETS, CAPTURES_PREFIX, EXPORTS_PREFIX, type BucketName } from '../../contract/resources.js';
import { DATASETS_PREFIX } from '../../contract/dataset-manifest.js';

export interface DataBucketsProps {
  /** Days a capture object is kept before S3 expires it. */
  readonly retentionDays: number;
  /** @default 1 */
  readonly exportExpiryDays?: number;
  /**
   * Days a dataset's manifest and cards are kept under datasets/ (paths, counts and lineage, no
   * captured content); a week past the datasets' longest life, so an expired dataset can still be
   * explained. @default 37
   */
  readonly datasetManifestDays?: number;
  /** @default 365 */
  readonly accessLogRetentionDays?: number;
}

export class DataBuckets extends Construct {
  public readonly accessLogs: s3.Bucket;
  public readonly captures: s3.Bucket;
  public readonly exports: s3.Bucket;

  constructor(scope: Construct, id: string, props: DataBucketsProps) {
    super(scope, id);

    // Server access logging can only deliver to an SSE-S3 bucket. cdk-nag's S1 accepts a bucket
    // that is itself a log destination, so this one needs no acknowledgement.
    this.accessLogs = new s3.Bucket(this, 'AccessLogs', {
      ...privateBucketDefaults,
      lifecycleRules: [{ id: 'expire-access-logs', expiration: Duration.days(props.accessLogRetentionDays ?? 365) }],
    });

    // Every capture is ciphertext under its employee's own KMS key (envelope encryption in
    // ingest), so that key is the access control and SSE-S3 only covers the disks. SSE-KMS with a
    // shared bucket key would add a key that IAM could grant, and nothing the employee key does
    // not already give. Versioning stays off on purpose: keys are write-once and a purge must
    // really delete; a noncurrent version would be unreadable after crypto-shredding anyway, but
    // there is no reason to keep one.
    this.captures = new s3.Bucket(this, BUCKETS.captures.constructId, {
      ...privateBucketDefaults,
      serverAccessLogsBucket: this.accessLogs,
      serverAccessLogsPrefix: 'captures-bucket/',
      lifecycleRules: [
        { id: 'expire-captures', expiration: Duration.days(props.retentionDays) },
        { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
    });

    // Exports are the one place an employee's data is readable again, for that employee only: the
    // export worker writes a file, and the consent function hands out a 15-minute presigned URL
    // it signs (it may GetObject under exports/ and nothing else). They are protected by lifetime
    // (one day), blocked public access and IAM rather than by a key: SSE-KMS here would need a
    // key IAM can grant anyway, since a presigned URL uses its signer's own permissions.
    this.exports = new s3.Bucket(this, BUCKETS.exports.constructId, {
      ...privateBucketDefaults,
      serverAccessLogsBucket: this.accessLogs,
      serverAccessLogsPrefix: 'exports-bucket/',
      lifecycleRules: [
        // The presigned URL lives 15 minutes; a day covers a retried download and nothing more.
        { id: 'expire-exports', expiration: Duration.days(props.exportExpiryDays ?? 1), prefix: EXPORTS_PREFIX },
        // Dataset manifests and cards (SSE-S3 as the whole bucket): views, never copies of content.
        { id: 'expire-dataset-manifests', expiration: Duration.days(props.datasetManifestDays ?? 37), prefix: DATASETS_PREFIX },
        { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
    });

    acknowledgeErasableBucket(this.captures, 'a capture');
    acknowledgeErasableBucket(this.exports, 'an export');
    Validations.of(this.accessLogs).acknowledge(
      {
        id: 'NIST.800.53.R5-S3BucketVersioningEnabled',
        reason: 'Access log objects are written once by the S3 logging service and expire by lifecycle; versions would keep expired logs, which name employee prefixes, beyond their retention.',
      },
      {
        id: 'NIST.800.53.R5-S3BucketReplicationEnabled',
        reason: 'Access logs name employee object keys; a replica would be one more copy an erasure request has to reach. The logs are kept in this Region for their retention only.',
      },
      {
        id: 'NIST.800.53.R5-S3DefaultEncryptionKMS',
        reason: 'S3 server access logging delivers only to buckets encrypted with SSE-S3; it cannot write to an SSE-KMS bucket.',
      },
    );
  }

  /** The bucket by its name in the contract (contract/resources.ts). */
  public bucket(name: BucketName): s3.Bucket {
    return this[name];
  }

  /** Lets ingest write ciphertext objects under captures/ only: no read, no list, no delete. */
  public grantCaptureWrites(grantee: iam.IGrantable): iam.Grant {
    const grant = this.captures.grantPut(grantee, `${CAPTURES_PREFIX}*`);
    const policy = grantee.grantPrincipal instanceof iam.Role ? grantee.grantPrincipal.node.tryFindChild('DefaultPolicy') : undefined;
    if (policy) {
      const logicalId = Stack.of(this.captures).getLogicalId(this.captures.node.defaultChild as s3.CfnBucket);
      Validations.of(policy).acknowledge(
        {
          id: `AwsSolutions-IAM5[Resource::<${logicalId}.Arn>/${CAPTURES_PREFIX}*]`,
          reason: `Ingest writes captures/{employeeId}/{scope}/{date}/{batchId}; employees are only known at run time. The grant is s3:PutObject (and its ACL/tagging variants) under the ${CAPTURES_PREFIX} prefix only.`,
        },
        {
          id: 'AwsSolutions-IAM5[Action::s3:Abort*]',
          reason: 'grantPut adds s3:Abort* so a failed multipart upload can be cleaned up; it only ever aborts ingest\'s own uploads under captures/.',
        },
      );
    }
    return grant;
  }

  /**
   * What the export worker reads: list and get objects under captures/ only. Reading gives it
   * ciphertext; only the export's one-off KMS grant lets it decrypt any of it.
   */
  public grantCaptureReads(grantee: iam.IGrantable): iam.Grant {
    const list = iam.Grant.addToPrincipal({
      grantee,
      actions: ['s3:ListBucket'],
      resourceArns: [this.captures.bucketArn],
      conditions: { StringLike: { 's3:prefix': [`${CAPTURES_PREFIX}*`] } },
    });
    const read = iam.Grant.addToPrincipal({ grantee, actions: ['s3:GetObject'], resourceArns: [this.captures.arnForObjects(`${CAPTURES_PREFIX}*`)] });
    acknowledgeObjectWildcard(grantee, this.captures, CAPTURES_PREFIX, `The export worker reads every capture of the employee it exports, under ${CAPTURES_PREFIX}{employeeId}/; employees are only known at run time. The grant is s3:GetObject under the ${CAPTURES_PREFIX} prefix only, and the objects are ciphertext that only the export's KMS grant opens.`);
    return list.combine(read);
  }

  /** What the datasets worker writes: each dataset's manifest and cards, under datasets/ only. */
  public grantDatasetWrites(grantee: iam.IGrantable): iam.Grant {
    const grant = iam.Grant.addToPrincipal({ grantee, actions: ['s3:PutObject'], resourceArns: [this.exports.arnForObjects(`${DATASETS_PREFIX}*`)] });
    acknowledgeObjectWildcard(grantee, this.exports, DATASETS_PREFIX, `The datasets worker writes datasets/{datasetId}/manifest.jsonl and its cards for datasets created at run time; s3:PutObject under the ${DATASETS_PREFIX} prefix only. They hold paths, counts and lineage, no captured content.`);
    return grant;
  }

  /**
   * What training jobs read: dataset manifests and cards, and the capture objects they list.
   * Ciphertext only: the training role has no standing Decrypt, only grants per employee and scope.
   */
  public grantTrainingReads(grantee: iam.IGrantable): iam.Grant {
    const manifests = iam.Grant.addToPrincipal({ grantee, actions: ['s3:GetObject'], resourceArns: [this.exports.arnForObjects(`${DATASETS_PREFIX}*`)] });
    const captures = iam.Grant.addToPrincipal({ grantee, actions: ['s3:GetObject'], resourceArns: [this.captures.arnForObjects(`${CAPTURES_PREFIX}*`)] });
    acknowledgeObjectWildcard(grantee, this.exports, DATASETS_PREFIX, `Training jobs read datasets/{datasetId}/ manifests and cards of datasets created at run time; s3:GetObject under the ${DATASETS_PREFIX} prefix only.`);
    acknowledgeObjectWildcard(grantee, this.captures, CAPTURES_PREFIX, `Training jobs read the capture objects a manifest lists, of employees known only at run time; s3:GetObject under the ${CAPTURES_PREFIX} prefix only, ciphertext that only a training grant (per employee and consented scope) opens.`);
    return manifests.combine(captures);
  }

  /** What the export worker writes: the export file (in parts) and its manifest, under exports/ only. */
  public grantExportWrites(grantee: iam.IGrantable): iam.Grant {
    const grant = iam.Grant.addToPrincipal({
      grantee,
      actions: ['s3:PutObject', 's3:AbortMultipartUpload'],
      resourceArns: [this.exports.arnForObjects(`${EXPORTS_PREFIX}*`)],
    });
    acknowledgeObjectWildcard(grantee, this.exports, EXPORTS_PREFIX, `The export worker writes exports/{employeeId}/{exportId}.jsonl.gz and its manifest for employees known only at run time; PutObject (with the multipart upload it implies) and AbortMultipartUpload under the ${EXPORTS_PREFIX} prefix only.`);
    return grant;
  }

  /**
   * GetObject under exports/ only: the consent role signs the 15-minute download URL of a ready
   * export, and a presigned URL acts with its signer's permissions. The consent function signs
   * only keys it looked up under the caller's own employee id.
   */
  public grantExportDownloads(grantee: iam.IGrantable): iam.Grant {
    const grant = iam.Grant.addToPrincipal({ grantee, actions: ['s3:GetObject'], resourceArns: [this.exports.arnForObjects(`${EXPORTS_PREFIX}*`)] });
    acknowledgeObjectWildcard(grantee, this.exports, EXPORTS_PREFIX, `The consent role signs download URLs for exports/{employeeId}/{exportId}.* of the calling employee, known only at run time; s3:GetObject under the ${EXPORTS_PREFIX} prefix only.`);
    return grant;
  }

  /**
   * What a purge needs: list and delete objects under both buckets' prefixes.
   * Versioning is off, so deleting the current object deletes the data.
   */
  public grantPurge(grantee: iam.IGrantable): iam.Grant {
    const grant = grantListAndDelete(grantee, this.captures, CAPTURES_PREFIX).combine(
      grantListAndDelete(grantee, this.exports, EXPORTS_PREFIX),
    );
    acknowledgePrefixWildcards(grantee, [
      [this.captures, CAPTURES_PREFIX],
      [this.exports, EXPORTS_PREFIX],
    ]);
    return grant;
  }
}

/**
 * The NIST 800-53 findings a bucket of employee data gets on purpose: it must be erasable. A
 * purge deletes objects; versioning would keep the deleted ciphertext as noncurrent versions (and
 * the purge role would need DeleteObjectVersion on every one), replication would put a copy where
 * the purge does not reach, and SSE-KMS under a shared key adds nothing over each object's
 * envelope encryption under its employee's own key, while adding a key IAM could grant.
 */
function acknowledgeErasableBucket(bucket: s3.Bucket, what: string): void {
  Validations.of(bucket).acknowledge(
    {
      id: 'NIST.800.53.R5-S3BucketVersioningEnabled',
      reason: `Off on purpose, for erasure: a purge deletes ${what}, and versioning would keep the deleted ciphertext as a noncurrent version. Objects are write-once (keys derive from the batch), so there is nothing to roll back.`,
    },
    {
      id: 'NIST.800.53.R5-S3BucketReplicationEnabled',
      reason: `A replica would hold a copy of ${what} that an erasure's purge does not reach; the data is recoverable only as long as the employee consents, by design.`,
    },
    {
      id: 'NIST.800.53.R5-S3DefaultEncryptionKMS',
      reason: 'Every object is already envelope-encrypted under its employee\'s own KMS key (or, for exports, short-lived by design); SSE-KMS with a shared bucket key would add a key IAM could grant and nothing the employee key does not give. SSE-S3 covers the disks.',
    },
  );
}

const privateBucketDefaults = {
  blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
  objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
  encryption: s3.BucketEncryption.S3_MANAGED,
  enforceSSL: true,
  minimumTLSVersion: 1.2,
  versioned: false,
} as const satisfies s3.BucketProps;

/** One prefix wildcard, acknowledged on the policy that holds it, with the reason that grant has it. */
function acknowledgeObjectWildcard(grantee: iam.IGrantable, bucket: s3.Bucket, prefix: string, reason: string): void {
  const policy = grantee.grantPrincipal instanceof iam.Role ? grantee.grantPrincipal.node.tryFindChild('DefaultPolicy') : undefined;
  if (!policy) return;
  const logicalId = Stack.of(bucket).getLogicalId(bucket.node.defaultChild as s3.CfnBucket);
  Validations.of(policy).acknowledge({ id: `AwsSolutions-IAM5[Resource::<${logicalId}.Arn>/${prefix}*]`, reason });
}

/** The object wildcards a prefix grant needs, acknowledged on the policy that holds them. */
function acknowledgePrefixWildcards(grantee: iam.IGrantable, grants: ReadonlyArray<readonly [s3.Bucket, string]>): void {
  const policy = grantee.grantPrincipal instanceof iam.Role ? grantee.grantPrincipal.node.tryFindChild('DefaultPolicy') : undefined;
  if (!policy) return;
  for (const [bucket, prefix] of grants) {
    const logicalId = Stack.of(bucket).getLogicalId(bucket.node.defaultChild as s3.CfnBucket);
    Validations.of(policy).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${logicalId}.Arn>/${prefix}*]`,
      reason: `A purge deletes every object under ${prefix}{employeeId}/, and which employees exist is only known at run time; the grant is s3:DeleteObject only, limited to the ${prefix} prefix.`,
    });
  }
}

function grantListAndDelete(grantee: iam.IGrantable, bucket: s3.IBucket, prefix: string): iam.Grant {
  const list = iam.Grant.addToPrincipal({
    grantee,
    actions: ['s3:ListBucket'],
    resourceArns: [bucket.bucketArn],
    conditions: { StringLike: { 's3:prefix': [`${prefix}*`] } },
  });
  const remove = iam.Grant.addToPrincipal({
    grantee,
    actions: ['s3:DeleteObject'],
    resourceArns: [bucket.arnForObjects(`${prefix}*`)],
  });
  return list.combine(remove);
}
