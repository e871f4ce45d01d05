// The one way this app builds a Lambda function: runtime, architecture, memory, timeout, tracing,
// source maps, logs and failure handling are decided here, so every function gets the same ones.

import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import type * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import * as sources from 'aws-cdk-lib/aws-lambda-event-sources';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { COMMON_ENVIRONMENT } from '../../contract/functions.js';

/** The repository root: esbuild resolves dependencies from its package-lock.json and node_modules. */
const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The runtime every function uses. cdk-nag's L1 and Serverless rules check it is the newest Node.js. */
export const FUNCTION_RUNTIME = lambda.Runtime.NODEJS_24_X;

/**
 * How a function is invoked. It decides where a failed invocation goes:
 * - `http`: synchronously by API Gateway; the caller gets the error, so there is nothing to park;
 * - `queue`: by an SQS event source; failed messages return to the queue and its redrive policy
 *   moves them to that queue's dead-letter queue;
 * - `async`: by an asynchronous invoke; failed events go to a dead-letter queue this construct
 *   creates, both as the function's DLQ and as its on-failure destination;
 * - `invoke`: synchronously (RequestResponse) by another function, which gets the error.
 */
export type FunctionInvocation =
  | { readonly kind: 'http' }
  | {
      readonly kind: 'queue';
      readonly queue: sqs.IQueue;
      /** @default 1 */
      readonly batchSize?: number;
      /** Most concurrent invocations the queue may drive (2-1000). @default - no limit */
      readonly maxConcurrency?: number;
    }
  | { readonly kind: 'async' }
  | { readonly kind: 'invoke' };

export interface FunctionDefaultsProps {
  /** Absolute path of the handler's TypeScript entry file; it must export `handler`. */
  readonly entry: string;
  /** The function's own execution role. Every function has one, so key policies can name it. */
  readonly role: iam.IRole;
  readonly invocation: FunctionInvocation;
  /** @default - no description */
  readonly description?: string;
  /** @default 512 */
  readonly memorySize?: number;
  /** @default Duration.seconds(15) */
  readonly timeout?: Duration;
  /** Merged over the defaults (NODE_OPTIONS, Powertools service name); a key given here wins. @default - only the defaults */
  readonly environment?: Readonly<Record<string, string>>;
  /** @default logs.RetentionDays.THREE_MONTHS */
  readonly logRetention?: logs.RetentionDays;
}

/**
 * Modules left out of every bundle because Lambda never reaches them. The AWS SDK's default
 * credential chain tries the environment first, and Lambda always sets AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, so the chain's later links (SSO, shared files,
 * credential processes, web identity, container and instance metadata) never run; the chain loads
 * each with a dynamic `import()` only when it gets there. Bundled, they and their STS, SSO and
 * OIDC clients cost about 95 KB in every function; left out, reaching one fails closed
 * (ERR_MODULE_NOT_FOUND: no credentials) instead of finding credentials elsewhere. `bowser` is
 * the SDK's browser user-agent parser, also a dynamic import. A module some bundle imports
 * statically must never be listed (S3 imports `@smithy/core/event-streams` statically, for one):
 * test/infra/function-bundles.test.ts checks that every bundle reaches these only dynamically.
 */
export const UNREACHABLE_IN_LAMBDA: readonly string[] = [
  '@aws-sdk/credential-provider-sso',
  '@aws-sdk/credential-provider-ini',
  '@aws-sdk/credential-provider-process',
  '@aws-sdk/credential-provider-web-identity',
  '@aws-sdk/credential-provider-http',
  '@smithy/credential-provider-imds',
  'bowser',
];

/** Environment every function starts with; `props.environment` and `addEnvironment` add to it. */
const DEFAULT_ENVIRONMENT: Readonly<Record<string, string>> = {
  // Stack traces point at the TypeScript sources through the bundled source maps.
  NODE_OPTIONS: '--enable-source-maps',
  ...COMMON_ENVIRONMENT,
};

export class FunctionDefaults extends Construct {
  public readonly fn: nodejs.NodejsFunction;
  /** The handler's entry file, as given. */
  public readonly entry: string;
  public readonly logGroup: logs.LogGroup;
  /** Present only for `async` invocation: where failed asynchronous events land. */
  public readonly deadLetterQueue?: sqs.Queue;
  /** Present only for `queue` invocation. */
  public readonly eventSource?: sources.SqsEventSource;

  constructor(scope: Construct, id: string, props: FunctionDefaultsProps) {
    super(scope, id);
    this.entry = props.entry;

    const memorySize = props.memorySize ?? 512;
    if (!Number.isInteger(memorySize) || memorySize < 128 || memorySize > 10240) {
      throw new Error(`function "${id}": memorySize must be an integer from 128 to 10240 MB, got ${memorySize}`);
    }

    // An explicit log group gives retention without the LogRetention custom resource (and its
    // extra Lambda and IAM role); the function's own role can write only to it.
    this.logGroup = new logs.LogGroup(this, 'LogGroup', {
      retention: props.logRetention ?? logs.RetentionDays.THREE_MONTHS,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.logGroup.grantWrite(props.role);

    if (props.invocation.kind === 'async') {
      this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
        encryption: sqs.QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
        retentionPeriod: Duration.days(14),
      });
      acknowledgeDeadLetterQueue(this.deadLetterQueue, 'failed asynchronous invocations of this function');
    }

    this.fn = new nodejs.NodejsFunction(this, 'Function', {
      entry: props.entry,
      handler: 'handler',
      description: props.description,
      runtime: FUNCTION_RUNTIME,
      architecture: lambda.Architecture.ARM_64,
      memorySize,
      timeout: props.timeout ?? Duration.seconds(15),
      tracing: lambda.Tracing.ACTIVE,
      role: props.role,
      logGroup: this.logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      environment: { ...DEFAULT_ENVIRONMENT, ...props.environment },
      projectRoot: REPO_ROOT,
      depsLockFilePath: `${REPO_ROOT}package-lock.json`,
      deadLetterQueue: this.deadLetterQueue,
      onFailure: this.deadLetterQueue ? new destinations.SqsDestination(this.deadLetterQueue) : undefined,
      bundling: {
        format: nodejs.OutputFormat.ESM,
        // ESM output cannot `require`; some bundled CommonJS dependencies still call it.
        banner: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
        mainFields: ['module', 'main'],
        minify: true,
        keepNames: true,
        sourceMap: true,
        // Linked: a separate .map file plus the sourceMappingURL comment Node needs to find it
        // (EXTERNAL would leave the comment out and --enable-source-maps would find nothing).
        sourceMapMode: nodejs.SourceMapMode.DEFAULT,
        sourcesContent: false,
        // The SDK versions are pinned in package.json and tested; the runtime's bundled SDK is not.
        bundleAwsSDK: true,
        externalModules: [...UNREACHABLE_IN_LAMBDA],
      },
    });

    switch (props.invocation.kind) {
      case 'http':
        Validations.of(this.fn).acknowledge({
          id: 'Serverless-LambdaDLQ',
          reason: 'Invoked synchronously by API Gateway: the caller receives the error and retries, so a DLQ would never receive an event.',
        });
        break;
      case 'queue':
        this.eventSource = new sources.SqsEventSource(props.invocation.queue, {
          batchSize: props.invocation.batchSize ?? 1,
          ...(props.invocation.maxConcurrency === undefined ? {} : { maxConcurrency: props.invocation.maxConcurrency }),
          // The handler reports the messages that failed, so one bad job does not replay the batch.
          reportBatchItemFailures: true,
        });
        this.fn.addEventSource(this.eventSource);
        Validations.of(this.fn).acknowledge(
          {
            id: 'Serverless-LambdaDLQ',
            reason: 'Invoked by an SQS event source: a failed message goes back to the source queue, whose redrive policy moves it to that queue\'s DLQ.',
          },
          {
            id: 'Serverless-LambdaEventSourceMappingDestination',
            reason: 'SQS event source mappings do not support on-failure destinations; the source queue\'s redrive policy and DLQ keep failed messages.',
          },
        );
        break;
      case 'invoke':
        Validations.of(this.fn).acknowledge({
          id: 'Serverless-LambdaDLQ',
          reason: 'Invoked synchronously (RequestResponse) by another function: the caller receives the error and decides, so a DLQ would never receive an event.',
        });
        break;
      case 'async':
        break;
    }

    // Tracing ACTIVE adds xray:PutTraceSegments and xray:PutTelemetryRecords to the role's
    // default policy. X-Ray has no resource-level permissions, so `*` is the only resource.
    const defaultPolicy = props.role.node.tryFindChild('DefaultPolicy');
    if (defaultPolicy) {
      Validations.of(defaultPolicy).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'Only the X-Ray tracing statement (xray:PutTraceSegments, xray:PutTelemetryRecords) uses Resource "*": X-Ray supports no resource-level permissions. KMS statements live in a separate policy.',
      });
    }
  }

  /** Adds one variable; existing variables stay. */
  public addEnvironment(name: string, value: string): this {
    this.fn.addEnvironment(name, value);
    return this;
  }
}

/** cdk-nag acknowledgements every dead-letter queue needs: it is the end of the line itself. */
export function acknowledgeDeadLetterQueue(queue: sqs.Queue, holds: string): void {
  Validations.of(queue).acknowledge({
    id: 'Serverless-SQSRedrivePolicy',
    reason: `This queue is the dead-letter queue for ${holds}; a redrive policy on it would only move the failure one queue further.`,
  });
}
