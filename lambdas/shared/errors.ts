// Typed errors of the HTTP API, each with its status and kebab-case code. `http.ts` maps them
// to responses in one place; anything else becomes a generic 500 whose details go to the log only.

export interface ErrorDetail {
  readonly path: string;
  readonly message: string;
}

export abstract class ApiError extends Error {
  abstract readonly status: number;
  abstract readonly code: string;
  /** Seconds a client should wait before retrying; set on retryable errors only. */
  readonly retryAfterSeconds?: number;
  readonly details?: readonly ErrorDetail[];
}

export class BadRequestError extends ApiError {
  override readonly name = 'BadRequestError';
  readonly status = 400;
  readonly code: string;
  override readonly details: readonly ErrorDetail[] | undefined;
  constructor(message: string, details?: readonly ErrorDetail[], code = 'bad-request') {
    super(message);
    this.code = code;
    this.details = details;
  }
}

export class UnauthorizedError extends ApiError {
  override readonly name = 'UnauthorizedError';
  readonly status = 401;
  readonly code = 'unauthorized';
}

export class ForbiddenError extends ApiError {
  override readonly name = 'ForbiddenError';
  readonly status = 403;
  readonly code: string;
  constructor(message: string, code = 'forbidden') {
    super(message);
    this.code = code;
  }
}

export class NotFoundError extends ApiError {
  override readonly name = 'NotFoundError';
  readonly status = 404;
  readonly code = 'not-found';
}

/** The request is valid but the consent state does not allow it (e.g. pausing without consent). */
export class ConflictError extends ApiError {
  override readonly name = 'ConflictError';
  readonly status = 409;
  readonly code: string;
  constructor(message: string, code = 'conflict') {
    super(message);
    this.code = code;
  }
}

/** The request is well formed but cannot be served as asked (a dataset below its minimum size). */
export class UnprocessableError extends ApiError {
  override readonly name = 'UnprocessableError';
  readonly status = 422;
  readonly code: string;
  constructor(message: string, code = 'unprocessable') {
    super(message);
    this.code = code;
  }
}

export class PayloadTooLargeError extends ApiError {
  override readonly name = 'PayloadTooLargeError';
  readonly status = 413;
  readonly code = 'payload-too-large';
}

/** Concurrent writers kept winning the ledger's optimistic lock; safe to retry. */
export class ContentionError extends ApiError {
  override readonly name = 'ContentionError';
  readonly status = 409;
  readonly code = 'concurrent-change';
  override readonly retryAfterSeconds = 1;
}

/**
 * A dependency (KMS, DynamoDB, S3, SQS) throttled or failed; safe to retry. Both are 503: the
 * quota that ran out is the service's, not the caller's, so 429 stays for the API's own rate
 * limit (the API Gateway stage throttle).
 */
export class DependencyError extends ApiError {
  override readonly name = 'DependencyError';
  readonly status = 503;
  readonly code: string;
  override readonly retryAfterSeconds: number;
  constructor(message: string, options: { throttled: boolean; cause?: unknown; retryAfterSeconds?: number }) {
    super(message, { cause: options.cause });
    this.code = options.throttled ? 'dependency-throttled' : 'dependency-unavailable';
    this.retryAfterSeconds = options.retryAfterSeconds ?? (options.throttled ? 2 : 5);
  }
}

/**
 * The consent state cannot be read or trusted: the newest ledger event is invalid, or the alias
 * does not name the key the ledger records. Nothing is stored or changed; an operator is alarmed.
 * 503, not 403: the employee may well have consented, so an agent keeps its batch and retries
 * later rather than treat consent as withdrawn.
 */
export class ConsentStateUnavailableError extends ApiError {
  override readonly name = 'ConsentStateUnavailableError';
  readonly status = 503;
  readonly code = 'consent-state-unavailable';
  override readonly retryAfterSeconds = 300;
}

/**
 * KMS refused to create a key: the Region's key quota (100,000, counting keys pending deletion)
 * is used up. No Retry-After: retrying cannot help until an operator raises the quota or deleted
 * keys age out, so the portal shows the message and the employee tries again another day.
 */
export class KeyQuotaExhaustedError extends ApiError {
  override readonly name = 'KeyQuotaExhaustedError';
  readonly status = 503;
  readonly code = 'key-quota-exhausted';
}

/**
 * Whether an error is one of the named AWS service exceptions. By name rather than instanceof,
 * so it also holds for errors from another copy of a client (the Encryption SDK's, say).
 */
export function isAwsError(error: unknown, ...names: readonly string[]): boolean {
  return error instanceof Error && names.includes(error.name);
}

const THROTTLING = new Set([
  'ThrottlingException',
  'Throttling',
  'TooManyRequestsException',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'SlowDown',
  // Not LimitExceededException: in KMS it is a resource quota (keys, grants, aliases), which no
  // retry fixes; KeySteward maps it to KeyQuotaExhaustedError.
]);

const TRANSIENT = new Set([
  'InternalServerError',
  'InternalFailure',
  'ServiceUnavailable',
  'KMSInternalException',
  'DependencyTimeoutException',
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
]);

/**
 * Turns an AWS SDK failure into a retryable DependencyError when it is throttling or transient,
 * and returns undefined otherwise (a bug or a misconfiguration: the caller answers 500).
 */
export function asDependencyError(error: unknown, dependency: string): DependencyError | undefined {
  // Already read (the key steward's answer, say): it names its dependency itself.
  if (error instanceof DependencyError) return error;
  if (!(error instanceof Error)) return undefined;
  const meta = (error as { $metadata?: { httpStatusCode?: number }; code?: string; $retryable?: unknown }).$metadata;
  const code = (error as { code?: string }).code;
  if (THROTTLING.has(error.name)) return new DependencyError(`${dependency} is throttling requests; retry later`, { throttled: true, cause: error });
  const status = meta?.httpStatusCode;
  if (TRANSIENT.has(error.name) || (code !== undefined && TRANSIENT.has(code)) || (status !== undefined && status >= 500)) {
    return new DependencyError(`${dependency} is temporarily unavailable; retry later`, { throttled: false, cause: error });
  }
  return undefined;
}
