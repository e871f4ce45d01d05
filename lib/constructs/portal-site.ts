// The employee portal in AWS: a private S3 bucket behind CloudFront (origin access control), with
// the HTTP API on the same distribution under `/v1/*` so the page calls it same-origin (no CORS),
// and a response headers policy with the portal's CSP (no inline script), HSTS, no framing and
// nosniff, declared once in contract/portal.ts and served the same way by the local stack.

import { type CfnResource, Duration, Fn, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import type * as apigw from 'aws-cdk-lib/aws-apigatewayv2';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as origins from 'aws-cdk-lib/aws-cloudfront-origins';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3deploy from 'aws-cdk-lib/aws-s3-deployment';
import { Construct } from 'constructs';
import { PORTAL_HSTS_SECONDS, portalContentSecurityPolicy, type PortalConfig } from '../../contract/portal.js';

export interface PortalSiteProps {
  /** The HTTP API served under `/v1/*` of the same distribution. */
  readonly api: apigw.IHttpApi;
  /** What the page's `/config.json` says: the company's identity provider and the portal's client id. */
  readonly config: PortalConfig;
  /**
   * The built page (portal/dist) to upload. @default - none: the bucket is filled another way (the
   * app builds and passes it; tests synthesize without it)
   */
  readonly contentDirectory?: string;
  /** @default 365 */
  readonly accessLogRetentionDays?: number;
}

export class PortalSite extends Construct {
  public readonly bucket: s3.Bucket;
  public readonly logBucket: s3.Bucket;
  public readonly distribution: cloudfront.Distribution;
  public readonly headers: cloudfront.ResponseHeadersPolicy;
  /** `https://<id>.cloudfront.net/`: the page, and the API under `/v1/`. */
  public readonly url: string;

  constructor(scope: Construct, id: string, props: PortalSiteProps) {
    super(scope, id);

    // CloudFront's standard logs are delivered with ACLs, so this one bucket keeps object-writer
    // ownership; nothing else is ever written to it.
    this.logBucket = new s3.Bucket(this, 'AccessLogs', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.OBJECT_WRITER,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      versioned: true,
      lifecycleRules: [{ id: 'expire-access-logs', expiration: Duration.days(props.accessLogRetentionDays ?? 365), noncurrentVersionExpiration: Duration.days(30) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.bucket = new s3.Bucket(this, 'Content', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      versioned: true,
      serverAccessLogsBucket: this.logBucket,
      serverAccessLogsPrefix: 'portal-bucket/',
      lifecycleRules: [{ id: 'expire-old-builds', noncurrentVersionExpiration: Duration.days(30) }],
      removalPolicy: RemovalPolicy.DESTROY,
      autoDeleteObjects: false,
    });

    const tokenOrigin = new URL(props.config.tokenEndpoint).origin;
    this.headers = new cloudfront.ResponseHeadersPolicy(this, 'SecurityHeaders', {
      comment: 'consent-capture portal: strict CSP, HSTS, no framing, nosniff',
      securityHeadersBehavior: {
        contentSecurityPolicy: { contentSecurityPolicy: portalContentSecurityPolicy(tokenOrigin), override: true },
        strictTransportSecurity: { accessControlMaxAge: Duration.seconds(PORTAL_HSTS_SECONDS), includeSubdomains: true, override: true },
        contentTypeOptions: { override: true },
        frameOptions: { frameOption: cloudfront.HeadersFrameOption.DENY, override: true },
        referrerPolicy: { referrerPolicy: cloudfront.HeadersReferrerPolicy.NO_REFERRER, override: true },
      },
    });

    // The API by its execute-api host: API Gateway must not see the distribution's Host header.
    const apiOrigin = new origins.HttpOrigin(Fn.select(2, Fn.split('/', props.api.apiEndpoint)), {
      protocolPolicy: cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
      originSslProtocols: [cloudfront.OriginSslPolicy.TLS_V1_2],
    });

    this.distribution = new cloudfront.Distribution(this, 'Distribution', {
      comment: 'consent-capture employee portal and API',
      defaultRootObject: 'index.html',
      httpVersion: cloudfront.HttpVersion.HTTP2_AND_3,
      enableLogging: true,
      logBucket: this.logBucket,
      logFilePrefix: 'cloudfront/',
      defaultBehavior: {
        origin: origins.S3BucketOrigin.withOriginAccessControl(this.bucket),
        viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
        cachePolicy: cloudfront.CachePolicy.CACHING_OPTIMIZED,
        responseHeadersPolicy: this.headers,
        compress: true,
      },
      additionalBehaviors: {
        // Never cached: every answer is one employee's. With caching disabled, the AllViewer
        // origin request policies forward the Authorization header to the API.
        '/v1/*': {
          origin: apiOrigin,
          viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
          allowedMethods: cloudfront.AllowedMethods.ALLOW_ALL,
          cachePolicy: cloudfront.CachePolicy.CACHING_DISABLED,
          originRequestPolicy: cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
          responseHeadersPolicy: this.headers,
        },
      },
    });
    this.url = `https://${this.distribution.distributionDomainName}/`;

    const sources = [s3deploy.Source.jsonData('config.json', props.config)];
    if (props.contentDirectory !== undefined) sources.unshift(s3deploy.Source.asset(props.contentDirectory));
    const deployment = new s3deploy.BucketDeployment(this, 'Deploy', {
      sources,
      destinationBucket: this.bucket,
      distribution: this.distribution,
      distributionPaths: ['/index.html', '/config.json'],
      // Old hashed assets stay a while (versions expire), so a page loaded before a deploy still works.
      prune: false,
      memoryLimit: 256,
    });

    this.acknowledge(deployment);
  }

  private acknowledge(deployment: s3deploy.BucketDeployment): void {
    Validations.of(this.distribution).acknowledge(
      {
        id: 'AwsSolutions-CFR1',
        reason: 'Employees sign in from wherever they work; the identity provider, not geography, decides who gets in.',
      },
      {
        id: 'AwsSolutions-CFR2',
        reason: 'The page is static and every API call is authorized by a JWT and throttled at the API stage; a WAF web ACL (us-east-1) is the deployer\'s choice to add, not a default this stack can make for every account.',
      },
      {
        id: 'AwsSolutions-CFR4',
        reason: 'The distribution uses the default *.cloudfront.net certificate, whose security policy CloudFront fixes; a custom domain with its certificate should set minimumProtocolVersion TLSv1.2_2021.',
      },
    );
    Validations.of(this.logBucket).acknowledge(
      { id: 'NIST.800.53.R5-S3BucketReplicationEnabled', reason: 'Access logs of a static page; a replica adds cost and a second copy of viewers\' IP addresses for no recovery need.' },
      { id: 'NIST.800.53.R5-S3DefaultEncryptionKMS', reason: 'CloudFront standard log delivery does not support SSE-KMS with a customer key without extra key policy for the log delivery service; SSE-S3 covers the disks.' },
    );
    Validations.of(this.bucket).acknowledge(
      { id: 'NIST.800.53.R5-S3BucketReplicationEnabled', reason: 'The page is built from the repository at every deploy; the repository is the replica.' },
      { id: 'NIST.800.53.R5-S3DefaultEncryptionKMS', reason: 'Public page assets (HTML, script, style); CloudFront reads them through origin access control, and SSE-KMS would add a key policy for CloudFront for no secrecy gained.' },
    );
    // The deployment's own Lambda function and role are CDK's (aws-s3-deployment), a singleton
    // at stack level; their shape is not ours to change.
    const handler = deployment.handlerRole.node.scope;
    if (handler !== undefined) {
      Validations.of(handler).acknowledge(
        ...deploymentRoleFindings(this.bucket).map((id) => ({
          id,
          reason: "CDK's BucketDeployment handler: its basic execution role for its own logs, reading the deploy's asset from the CDK assets bucket, writing the portal bucket's objects (object wildcards on those two buckets only) and invalidating this distribution (CreateInvalidation has no resource-level permission).",
        })),
        { id: 'AwsSolutions-L1', reason: 'CDK\'s BucketDeployment handler pins its own runtime.' },
        { id: 'Serverless-LambdaTracing', reason: 'A deploy-time custom resource of CDK; it runs once per deploy.' },
        { id: 'Serverless-LambdaDLQ', reason: 'A synchronous CloudFormation custom resource: CloudFormation reports its failure.' },
        { id: 'Serverless-LambdaLatestVersion', reason: 'CDK\'s BucketDeployment handler pins its own runtime.' },
        { id: 'NIST.800.53.R5-LambdaConcurrency', reason: 'Runs once per deploy, invoked by CloudFormation only.' },
        { id: 'NIST.800.53.R5-LambdaDLQ', reason: 'A synchronous CloudFormation custom resource: CloudFormation reports its failure.' },
        { id: 'NIST.800.53.R5-LambdaInsideVPC', reason: 'It talks to S3 and CloudFront APIs only, at deploy time.' },
        { id: 'NIST.800.53.R5-CloudWatchLogGroupEncrypted', reason: 'The deploy handler logs file names and CloudFront invalidation ids, no employee data; CloudWatch Logs encrypts at rest with its own keys.' },
        { id: 'NIST.800.53.R5-IAMNoInlinePolicy', reason: 'CDK\'s BucketDeployment grants its handler through an inline default policy.' },
      );
    }
  }
}

/** How cdk-nag writes a value in a finding id: a pseudo parameter as `<AWS::Region>`, a literal as itself. */
function nagValue(value: string, pseudo: string): string {
  return Token.isUnresolved(value) ? `<AWS::${pseudo}>` : value;
}

/**
 * The IAM findings of CDK's BucketDeployment handler role, each by its exact finding id (cdk-nag
 * acknowledges wildcard findings one by one): the managed logging policy, the S3 actions CDK
 * grants with wildcards, the CDK assets bucket (default synthesizer qualifier), the portal bucket's
 * objects, and `*` for CloudFront invalidations.
 */
function deploymentRoleFindings(bucket: s3.Bucket): string[] {
  const stack = Stack.of(bucket);
  const partition = nagValue(stack.partition, 'Partition');
  const bucketLogicalId = stack.resolve(stack.getLogicalId(bucket.node.defaultChild as CfnResource)) as string;
  return [
    // CDK writes the managed policy's ARN with the partition pseudo parameter even in a pinned environment.
    'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
    ...['s3:GetObject*', 's3:GetBucket*', 's3:List*', 's3:DeleteObject*', 's3:Abort*'].map((action) => `AwsSolutions-IAM5[Action::${action}]`),
    `AwsSolutions-IAM5[Resource::arn:${partition}:s3:::cdk-hnb659fds-assets-${nagValue(stack.account, 'AccountId')}-${nagValue(stack.region, 'Region')}/*]`,
    `AwsSolutions-IAM5[Resource::<${bucketLogicalId}.Arn>/*]`,
    'AwsSolutions-IAM5[Resource::*]',
  ];
}
