// The HTTP API's route table: read by the CDK stack (API Gateway routes and JWT authorizer
// scopes) and by the local gateway, so both expose exactly the same contract.

/** The functions that serve HTTP routes. */
export type RouteFunction = 'consent' | 'ingest';

/** JWT `scope` values. A route accepts a token holding any one of its scopes. */
export const API_SCOPES = ['capture:write', 'consent:manage', 'capture:offboard'] as const;
export type ApiScope = (typeof API_SCOPES)[number];

export interface ApiRoute {
  readonly method: 'GET' | 'POST';
  /** API Gateway path syntax: `{name}` is a path parameter. */
  readonly path: string;
  readonly function: RouteFunction;
  readonly scopes: readonly ApiScope[];
}

export const API_ROUTES: readonly ApiRoute[] = [
  { method: 'POST', path: '/v1/consent', function: 'consent', scopes: ['consent:manage'] },
  { method: 'GET', path: '/v1/consent', function: 'consent', scopes: ['consent:manage', 'capture:write'] },
  { method: 'POST', path: '/v1/consent/pause', function: 'consent', scopes: ['consent:manage'] },
  { method: 'POST', path: '/v1/consent/resume', function: 'consent', scopes: ['consent:manage'] },
  { method: 'POST', path: '/v1/consent/revoke', function: 'consent', scopes: ['consent:manage'] },
  { method: 'GET', path: '/v1/consent/history', function: 'consent', scopes: ['consent:manage'] },
  { method: 'POST', path: '/v1/employees/{employeeId}/offboard', function: 'consent', scopes: ['capture:offboard'] },
  { method: 'POST', path: '/v1/events', function: 'ingest', scopes: ['capture:write'] },
];

/** `METHOD /path` as API Gateway v2 writes a route key. */
export function routeKey(route: Pick<ApiRoute, 'method' | 'path'>): string {
  return `${route.method} ${route.path}`;
}
