// Builds the event API Gateway (HTTP API, payload 2.0, JWT authorizer) hands a function, in the
// shape local/gateway.ts builds it, so handlers can be called in-process without the gateway.
import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEventV2WithJWTAuthorizer } from 'aws-lambda';

export interface HttpEventOptions {
  /** The token's `sub` claim. */
  readonly employeeId: string;
  /** The token's scopes (the `scope` claim, space separated, and `jwt.scopes`). @default ['capture:write'] */
  readonly scopes?: readonly string[];
  /** An object is sent as JSON; a string as it is. @default - no body */
  readonly body?: unknown;
  /** @default 'POST /v1/events' */
  readonly routeKey?: string;
  /** Extra claims, e.g. another `sub` spelling; they win over the defaults. */
  readonly claims?: Readonly<Record<string, string>>;
  readonly headers?: Readonly<Record<string, string>>;
  /** @default - wall-clock time */
  readonly now?: Date;
}

export function httpEvent(options: HttpEventOptions): APIGatewayProxyEventV2WithJWTAuthorizer {
  const scopes = [...(options.scopes ?? ['capture:write'])];
  const routeKey = options.routeKey ?? 'POST /v1/events';
  const [method = 'POST', path = '/v1/events'] = routeKey.split(' ');
  const now = options.now ?? new Date();
  const body = options.body === undefined ? undefined : typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
  const nowSeconds = Math.floor(now.getTime() / 1000);
  return {
    version: '2.0',
    routeKey,
    rawPath: path,
    rawQueryString: '',
    headers: { 'content-type': 'application/json', host: '127.0.0.1', ...(options.headers ?? {}) },
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      authorizer: {
        jwt: {
          claims: {
            sub: options.employeeId,
            scope: scopes.join(' '),
            iss: 'https://issuer.local',
            aud: 'consent-capture',
            iat: String(nowSeconds),
            exp: String(nowSeconds + 300),
            ...(options.claims ?? {}),
          },
          scopes,
        },
      },
      domainName: '127.0.0.1',
      domainPrefix: '127',
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'test' },
      requestId: randomUUID(),
      routeKey,
      stage: '$default',
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
    },
    isBase64Encoded: false,
    ...(body === undefined ? {} : { body }),
  };
}
