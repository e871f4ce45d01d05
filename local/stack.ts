// The whole local stack in one call: local KMS, DynamoDB, S3, the job queues, the functions (each
// as its own principal) and the HTTP gateway. `npm start` (local/main.ts) and in-process tests both
// use startLocalStack; it writes `.local/stack.json` once every service answers.
import { existsSync, mkdirSync } from 'node:fs';
import { connect } from 'node:net';
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { COMMON_ENVIRONMENT, consumerOf, envRefFor, FUNCTION_NAMES, FUNCTIONS, type EnvRef, type FunctionName } from '../contract/functions.js';
import { QUEUE_NAMES, QUEUES, type QueueName } from '../contract/queues.js';
import { API_ROUTES, type ApiRoute } from '../contract/routes.js';
import { SETTING_DEFAULTS, type AppSettings } from '../contract/settings.js';
import { startLocalDynamoDb, type LocalDynamoDb } from './dynamodb.js';
import { startLocalFunctions, type FunctionSpec, type LocalFunctions } from './functions.js';
import { startLocalGateway, type LocalGateway } from './gateway.js';
import { OPENAPI_PATH, openApiText } from '../contract/openapi.js';
import { loadOrCreateIssuer, type LocalIssuer } from './issuer.js';
import { localPortalFiles } from './portal-files.js';
import { localOidc, PORTAL_CLIENT_ID, PORTAL_TOKEN_SCOPE } from './portal-oidc.js';
import { startLocalLambda, type LocalLambda } from './lambda.js';
import { AdjustableClock } from './kms/clock.js';
import { kmsPaths, startLocalKms, type LocalKms } from './kms/server.js';
import type { PolicyDocument } from './kms/policy-evaluator.js';
import { loadOrCreateIdentity, type LocalIdentity, type PrincipalName } from './principals.js';
import { startLocalQueues, type LocalQueues, type QueueDefinition } from './queue.js';
import { LOCAL_RESOURCES, localBucketName, localFunctionName, localQueueName, localTableName } from './resource-names.js';
import { startLocalS3, type LocalS3 } from './s3.js';
import { stackFileOf, writeStackFile, type StackFile } from './stack-file.js';
import { KEY_POLICY_WRITE_PATTERN } from '../contract/key-policy-events.js';
import { startTrailDispatcher, type TrailDispatcher } from './trail-dispatcher.js';
import { loadTemplatePolicies, resolveBucketPolicies, type TemplatePolicies } from './template-policies.js';

export { LOCAL_RESOURCES };

export type LocalFunctionName = FunctionName;

/** A queue as the local stack runs it: which function consumes it and how. Who may send is IAM's business (the roles' policies). */
export interface LocalQueueDefinition extends QueueDefinition {
  readonly queue: QueueName;
  readonly consumer: FunctionName;
}

/**
 * Each queue's local definition, from the contract: consumer, batch size, concurrency and
 * receives before the dead-letter file. Pure, so the parity test reads it without starting anything.
 */
export function localQueueDefinitions(): LocalQueueDefinition[] {
  return QUEUE_NAMES.map((queue) => {
    const consumer = consumerOf(queue);
    const trigger = FUNCTIONS[consumer].trigger;
    const maxConcurrency = trigger.kind === 'queue' && 'maxConcurrency' in trigger ? trigger.maxConcurrency : undefined;
    return {
      queue,
      name: localQueueName(queue),
      consumer,
      ...(trigger.kind === 'queue' ? { batchSize: trigger.batchSize } : {}),
      ...(maxConcurrency === undefined ? {} : { maxConcurrentBatches: maxConcurrency }),
      maxReceiveCount: QUEUES[queue].maxReceiveCount,
    };
  });
}

export interface FunctionOverride {
  /** Handler module, relative to the repository root or absolute. */
  readonly entry?: string;
  /** Variables to add or replace; `undefined` removes one (to test a missing variable). */
  readonly environment?: Readonly<Record<string, string | undefined>>;
  /** @default - the function's own timeout */
  readonly timeoutMs?: number;
}

export interface LocalStackOptions {
  /** The state directory, `.local` for `npm start`. */
  readonly localDir: string;
  /** API port. @default 3000 (0 picks a free port) */
  readonly port?: number;
  /** The local KMS's clock; tests move it. @default - a new AdjustableClock at wall-clock time */
  readonly clock?: AdjustableClock;
  /** Replaces functions' handler modules or environment (tests use fixtures). @default - the real handlers */
  readonly functions?: Readonly<Partial<Record<LocalFunctionName, FunctionOverride>>>;
  /** Delay before a failed queue message is delivered again. @default - 1 s doubling, at most 60 s */
  readonly queueRetryDelayMs?: (receiveCount: number) => number;
  /** Receives every line the functions log. @default - this process's stdout/stderr */
  readonly onFunctionLog?: (functionName: string, stream: 'stdout' | 'stderr', line: string) => void;
  /**
   * The CDK template's policies to give the principals (tests pass a variant with a grant removed).
   * @default - loadTemplatePolicies(): the cached extraction, or a fresh synthesis
   */
  readonly templatePolicies?: TemplatePolicies;
  /** Start-up progress lines (`local KMS… ok (120 ms)`). @default - none */
  readonly onProgress?: (line: string) => void;
  /** Request lines and internal faults (ids, counts, durations; never payloads). @default - none */
  readonly onNote?: (line: string) => void;
  /** The built employee portal served at `/`. @default - portal/dist */
  readonly portalDir?: string;
}

/** `.local/stack.json`: the contract in docs/design.md, "The local stack", plus the issuer the gateway trusts. */
export type LocalStackFile = StackFile & { readonly issuer: { readonly issuer: string; readonly audience: string } };

export interface LocalStack {
  readonly api: string;
  /** The employee portal (`<api>/`), on the API's origin. */
  readonly portal: string;
  readonly stackFile: LocalStackFile;
  readonly stackFilePath: string;
  readonly localDir: string;
  readonly clock: AdjustableClock;
  readonly identity: LocalIdentity;
  readonly issuer: LocalIssuer;
  /** Every endpoint, including the queue's (which stack.json does not carry). */
  readonly endpoints: { readonly kms: string; readonly s3: string; readonly dynamodb: string; readonly sqs: string; readonly lambda: string };
  readonly queues: LocalQueues;
  /** The functions running (a handler module that does not exist yet is skipped). */
  readonly functions: readonly LocalFunctionName[];
  /** The template's bucket policies by local bucket name, resolved to the local resources. */
  readonly bucketPolicies: Readonly<Record<string, PolicyDocument>>;
  /** Wall-clock milliseconds from the call to ready. */
  readonly startupMs: number;
  /** Invokes a function directly, bypassing the gateway. */
  invoke(fn: LocalFunctionName, event: unknown): Promise<unknown>;
  close(): Promise<void>;
}

const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url));

/** What the local stack runs for one function: what the CDK app gives the same function in AWS. */
export interface LocalFunctionDefinition {
  /** Handler module, relative to the repository root. */
  readonly entry: string;
  readonly principal: PrincipalName;
  readonly timeoutMs: number;
  readonly memoryMb: number;
  /** The function's own variables (the contract's environment, resolved locally, and the common ones). */
  readonly environment: Readonly<Record<string, string>>;
}

/** The settings the local stack runs with: the defaults, and its own auditor principal. */
export function localSettings(identity: LocalIdentity): AppSettings {
  return { ...SETTING_DEFAULTS, auditorRoleArn: identity.principals.auditor.arn };
}

/** The local value of a logical reference of the contract; undefined for an unset optional setting. */
export function resolveLocalEnvRef(ref: EnvRef, identity: LocalIdentity, queueUrlOf: (name: string) => string): string | undefined {
  if ('table' in ref) return localTableName(ref.table);
  if ('bucket' in ref) return localBucketName(ref.bucket);
  if ('queueUrl' in ref) return queueUrlOf(localQueueName(ref.queueUrl));
  if ('roleArn' in ref) return identity.principals[ref.roleArn].arn;
  if ('functionName' in ref) return localFunctionName(ref.functionName);
  if ('setting' in ref) {
    const value = localSettings(identity)[ref.setting];
    return value === undefined ? undefined : String(value);
  }
  return ref.value;
}

/**
 * Each function's handler, role and configuration, from the contract. Pure: the parity test reads
 * it without starting anything. `queueUrlOf` gives a local queue's URL by its local name.
 */
export function localFunctionDefinitions(identity: LocalIdentity, queueUrlOf: (name: string) => string): Record<LocalFunctionName, LocalFunctionDefinition> {
  return Object.fromEntries(
    FUNCTION_NAMES.map((name) => {
      const declaration = FUNCTIONS[name];
      const environment: Record<string, string> = { ...COMMON_ENVIRONMENT };
      for (const [variable, entry] of Object.entries(declaration.environment)) {
        const value = entry === undefined ? undefined : resolveLocalEnvRef(envRefFor(entry, 'local'), identity, queueUrlOf);
        if (value !== undefined) environment[variable] = value;
      }
      const definition: LocalFunctionDefinition = {
        entry: declaration.entry,
        principal: declaration.role,
        timeoutMs: declaration.timeoutSeconds * 1000,
        memoryMb: declaration.memoryMb,
        environment,
      };
      return [name, definition];
    }),
  ) as Record<LocalFunctionName, LocalFunctionDefinition>;
}

/** The routes the local gateway serves: the contract's, as the CDK app gives them to API Gateway. */
export function localRoutes(): readonly ApiRoute[] {
  return API_ROUTES;
}

function runtimeEnvironment(identity: LocalIdentity, principal: PrincipalName, fn: LocalFunctionName, endpoints: LocalStack['endpoints']): Record<string, string> {
  const { accessKeyId, secretAccessKey } = identity.principals[principal];
  return {
    AWS_REGION: identity.region,
    AWS_DEFAULT_REGION: identity.region,
    AWS_ACCESS_KEY_ID: accessKeyId,
    AWS_SECRET_ACCESS_KEY: secretAccessKey,
    AWS_ENDPOINT_URL_KMS: endpoints.kms,
    AWS_ENDPOINT_URL_DYNAMODB: endpoints.dynamodb,
    AWS_ENDPOINT_URL_S3: endpoints.s3,
    AWS_ENDPOINT_URL_SQS: endpoints.sqs,
    AWS_ENDPOINT_URL_LAMBDA: endpoints.lambda,
    // s3rver: path-style addressing (read by our S3 client factory), and no streaming checksums
    // (read by the SDK itself), which s3rver would store as part of the object.
    S3_FORCE_PATH_STYLE: 'true',
    AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
    // Nothing may leave 127.0.0.1: no instance metadata, no shared config or credentials files.
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    AWS_LAMBDA_FUNCTION_NAME: localFunctionName(fn),
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    TZ: 'UTC',
    NODE_ENV: 'production',
  };
}

async function timed<T>(label: string, progress: (line: string) => void, start: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  try {
    const value = await start();
    progress(`${label}… ok (${Math.round(performance.now() - t0)} ms)`);
    return value;
  } catch (error) {
    progress(`${label}… failed`);
    throw error;
  }
}

/**
 * Resolves once the endpoint answers: an HTTP answer of any status, or for the KMS a TCP
 * connection, because every HTTP request to the KMS (even a probe) is a CloudTrail record.
 */
async function answers(url: string, { http = true }: { http?: boolean } = {}): Promise<void> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    try {
      if (http) {
        const response = await fetch(url, { method: 'GET', signal: AbortSignal.timeout(1_000) });
        await response.arrayBuffer();
      } else {
        const { hostname, port } = new URL(url);
        await new Promise<void>((resolve, reject) => {
          const socket = connect({ host: hostname, port: Number(port) }, () => {
            socket.end();
            resolve();
          });
          socket.once('error', reject);
        });
      }
      return;
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`${url} does not answer: ${error instanceof Error ? error.message : String(error)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const t0 = performance.now();
  const progress = options.onProgress ?? (() => undefined);
  const note = options.onNote ?? (() => undefined);
  const localDir = resolve(options.localDir);
  mkdirSync(localDir, { recursive: true, mode: 0o700 });
  const clock = options.clock ?? new AdjustableClock();
  const paths = kmsPaths(localDir);
  // Before anything starts: a template that cannot be read or resolved stops the start-up here.
  const policies = options.templatePolicies ?? (await loadTemplatePolicies({ onProgress: progress }));
  const identity = loadOrCreateIdentity(paths.principalsFile, policies);
  const bucketPolicies = resolveBucketPolicies(policies, identity);
  // What has started so far, closed in this order: no new requests, drain the queue, stop the
  // workers, then the services they call.
  const running: {
    gateway?: LocalGateway;
    dispatcher?: TrailDispatcher;
    queues?: LocalQueues;
    lambda?: LocalLambda;
    functions?: LocalFunctions;
    services: { close(): Promise<void> }[];
  } = { services: [] };
  const closeAll = async (): Promise<void> => {
    const errors: unknown[] = [];
    const attempt = async (part: { close(): Promise<void> } | undefined): Promise<void> => {
      try {
        await part?.close();
      } catch (error) {
        errors.push(error);
      }
    };
    await attempt(running.gateway);
    await attempt(running.dispatcher);
    await attempt(running.queues);
    await attempt(running.lambda);
    await attempt(running.functions);
    await Promise.all(running.services.map((service) => attempt(service)));
    if (errors.length > 0) throw new AggregateError(errors, 'the local stack did not close cleanly');
  };

  try {
    const started = await Promise.allSettled([
      timed('starting local KMS', progress, () =>
        startLocalKms({ stateDir: paths.stateDir, trailDir: paths.trailDir, identity, clock, onInternalError: (m) => note(`local-kms: ${m}`) }),
      ),
      timed('starting local DynamoDB', progress, () =>
        startLocalDynamoDb({
          dataDir: join(localDir, 'dynamodb'),
          tables: Object.values(LOCAL_RESOURCES.tables),
          region: identity.region,
          // Tables are created on dynalite directly, before its front opens.
          credentials: identity.principals.admin,
          identity,
          clock,
          onInternalError: (m) => note(`local-dynamodb: ${m}`),
        }),
      ),
      timed('starting local S3', progress, () =>
        startLocalS3({ directory: join(localDir, 's3'), buckets: Object.values(LOCAL_RESOURCES.buckets), identity, clock, bucketPolicies, onInternalError: (m) => note(`local-s3: ${m}`) }),
      ),
      timed('starting local queue', progress, () =>
        startLocalQueues({
          queuesDir: join(localDir, 'queues'),
          dlqDir: join(localDir, 'dlq'),
          identity,
          clock,
          queues: localQueueDefinitions().map((definition) => ({
            ...definition,
            ...(options.queueRetryDelayMs === undefined ? {} : { retryDelayMs: options.queueRetryDelayMs }),
          })),
          onNote: (m) => note(`local-queue: ${m}`),
        }),
      ),
      timed('loading local token issuer', progress, () => loadOrCreateIssuer(localDir)),
    ] as const);
    const [kmsResult, dynamoResult, s3Result, queueResult, issuerResult] = started;
    for (const result of [kmsResult, dynamoResult, s3Result]) if (result.status === 'fulfilled') running.services.push(result.value);
    if (queueResult.status === 'fulfilled') running.queues = queueResult.value;
    const failed = started.flatMap((r) => (r.status === 'rejected' ? [r.reason] : []));
    if (failed.length > 0) throw failed.length === 1 ? failed[0] : new AggregateError(failed, failed.map(String).join('\n'));
    const kms = (kmsResult as PromiseFulfilledResult<LocalKms>).value;
    const dynamodb = (dynamoResult as PromiseFulfilledResult<LocalDynamoDb>).value;
    const s3 = (s3Result as PromiseFulfilledResult<LocalS3>).value;
    const queues = (queueResult as PromiseFulfilledResult<LocalQueues>).value;
    const issuer = (issuerResult as PromiseFulfilledResult<LocalIssuer>).value;
    // Functions invoke one another through it; it forwards to the runners started below.
    let functionsRef: LocalFunctions | undefined;
    const lambda = await timed('starting local Lambda endpoint', progress, () =>
      startLocalLambda({
        identity,
        clock,
        functions: Object.fromEntries(FUNCTION_NAMES.map((name) => [localFunctionName(name), name])),
        invoke: (name, event) => {
          if (functionsRef === undefined || !functionsRef.names.includes(name)) return Promise.reject(new Error(`function ${name} is not running`));
          return functionsRef.invoke(name, event);
        },
        onNote: (m) => note(`local-lambda: ${m}`),
      }),
    );
    running.lambda = lambda;
    const endpoints = { kms: kms.url, s3: s3.url, dynamodb: dynamodb.url, sqs: queues.url, lambda: lambda.url };

    // Functions: the real handlers, or the overrides tests give.
    const definitions = localFunctionDefinitions(identity, (name) => queues.queueUrl(name));
    const specs: FunctionSpec[] = [];
    for (const [name, definition] of Object.entries(definitions) as [LocalFunctionName, LocalFunctionDefinition][]) {
      const override = options.functions?.[name];
      const entry = override?.entry === undefined ? join(REPO_ROOT, definition.entry) : isAbsolute(override.entry) ? override.entry : join(REPO_ROOT, override.entry);
      if (!existsSync(entry)) {
        if (override?.entry !== undefined) throw new Error(`function ${name}: handler module ${entry} does not exist`);
        const queue = localQueueDefinitions().find((q) => q.consumer === name);
        progress(`function ${name}: ${definition.entry} does not exist yet; ${queue ? `${queue.name} keeps its messages until it does` : 'its routes answer 501'}`);
        continue;
      }
      const environment: Record<string, string> = { ...runtimeEnvironment(identity, definition.principal, name, endpoints), ...definition.environment };
      for (const [key, value] of Object.entries(override?.environment ?? {})) {
        if (value === undefined) delete environment[key];
        else environment[key] = value;
      }
      specs.push({
        name,
        entry,
        environment,
        timeoutMs: override?.timeoutMs ?? definition.timeoutMs,
        memoryMb: definition.memoryMb,
        arn: `arn:aws:lambda:${identity.region}:${identity.account}:function:${localFunctionName(name)}`,
      });
    }
    const functions: LocalFunctions = await timed(`starting functions (${specs.map((s) => s.name).join(', ') || 'none'})`, progress, () =>
      startLocalFunctions({ functions: specs, ...(options.onFunctionLog === undefined ? {} : { onLog: options.onFunctionLog }) }),
    );
    running.functions = functions;
    functionsRef = functions;
    const available = new Set(functions.names as LocalFunctionName[]);
    let ready = false;
    // A queue whose worker is not built yet keeps its messages until a later start has it.
    for (const { name, consumer } of localQueueDefinitions()) {
      if (available.has(consumer)) queues.consume(name, (event) => functions.invoke(consumer, event), definitions[consumer].principal);
    }
    // The EventBridge rule that sends every PutKeyPolicy to policy-watch (lib/constructs/audit-alarms.ts),
    // played on the local trail.
    running.dispatcher = startTrailDispatcher({
      trailDir: paths.trailDir,
      stateFile: join(localDir, 'trail-dispatch.json'),
      account: identity.account,
      region: identity.region,
      rules: [
        {
          name: 'key-policy-writes',
          pattern: KEY_POLICY_WRITE_PATTERN,
          deliver: (event) => queues.sendAsService(localQueueName('policyWatch'), JSON.stringify(event), 'events.amazonaws.com'),
        },
      ],
      onNote: note,
    });

    // The portal and its sign-in live on the API's origin, as CloudFront serves them in AWS.
    let origin = '';
    const oidc = localOidc({ issuer, redirectUri: () => `${origin}/` });
    const portalFiles = localPortalFiles({
      ...(options.portalDir === undefined ? {} : { directory: options.portalDir }),
      config: () => ({
        issuer: issuer.issuer,
        authorizationEndpoint: `${origin}/authorize`,
        tokenEndpoint: `${origin}/token`,
        clientId: PORTAL_CLIENT_ID,
        scope: `openid ${PORTAL_TOKEN_SCOPE}`,
      }),
    });
    const gateway: LocalGateway = await timed('starting API gateway', progress, () =>
      startLocalGateway({
        routes: localRoutes(),
        publicDocuments: { [OPENAPI_PATH]: openApiText() },
        issuer,
        account: identity.account,
        port: options.port ?? 3000,
        invoke: (fn, event) => functions.invoke(fn, event),
        available: (fn: FunctionName) => available.has(fn),
        serveOther: async (req, res) => (await oidc.handle(req, res)) || portalFiles.handle(req, res),
        // The start-up probe below is not a request worth a line.
        onNote: (line) => {
          if (ready) note(line);
        },
      }),
    );
    running.gateway = gateway;
    origin = gateway.url;

    await Promise.all([answers(kms.url, { http: false }), ...[dynamodb.url, s3.url, queues.url, lambda.url, gateway.url].map((url) => answers(url))]);
    const stackFile: LocalStackFile = {
      ...stackFileOf(identity, {
        api: gateway.url,
        endpoints: { kms: kms.url, s3: s3.url, dynamodb: dynamodb.url, lambda: lambda.url },
        trailDir: paths.trailDir,
        buckets: { ...LOCAL_RESOURCES.buckets },
        tables: { ...LOCAL_RESOURCES.tables },
      }),
      issuer: { issuer: issuer.issuer, audience: issuer.audience },
    };
    const stackFilePath = writeStackFile(localDir, stackFile);
    ready = true;
    let closing: Promise<void> | undefined;
    return {
      api: gateway.url,
      portal: `${gateway.url}/`,
      stackFile,
      stackFilePath,
      localDir,
      clock,
      identity,
      issuer,
      endpoints,
      queues,
      functions: [...available],
      bucketPolicies,
      startupMs: Math.round(performance.now() - t0),
      invoke: (fn, event) => functions.invoke(fn, event),
      close: () => (closing ??= closeAll()),
    };
  } catch (error) {
    await closeAll().catch(() => undefined);
    throw error;
  }
}
