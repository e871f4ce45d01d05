// The HTTP API's routes: read by the CDK app (API Gateway routes and JWT authorizer scopes) and by
// the local gateway, so both expose exactly the same contract, and by the functions for the
// request and response shapes.
import * as z from 'zod';
import { captureBatchSchema } from './capture-batch.js';
import { emptyBody, grantBody, pauseBody, revokeBody } from './consent-requests.js';
import { consentDatasetsResponse, datasetAcceptedResponse, datasetRequestBody, datasetStatusResponse } from './datasets.js';
import { exclusionsBody } from './exclusions.js';
import type { FunctionName } from './functions.js';
import { lastCaptureResponse } from './key-usage.js';
import {
  captureAcceptedResponse,
  captureDuplicateResponse,
  consentHistoryResponse,
  consentStateResponse,
  exportAcceptedResponse,
  exportStatusResponse,
  offboardResponse,
} from './responses.js';
import type { ApiScope } from './vocabulary.js';

export { API_SCOPES, type ApiScope } from './vocabulary.js';

export interface ApiRoute {
  readonly method: 'GET' | 'POST' | 'PUT';
  /** API Gateway path syntax: `{name}` is a path parameter. */
  readonly path: string;
  /** The function serving it; its trigger must be `http`. */
  readonly function: FunctionName;
  readonly scopes: readonly ApiScope[];
  /** The body's schema. @default - the route takes no body */
  readonly request?: z.core.$ZodType;
  /** Success answers by status code. */
  readonly responses: Readonly<Record<number, z.core.$ZodType>>;
}

export const API_ROUTES = [
  { method: 'POST', path: '/v1/consent', function: 'consent', scopes: ['consent:manage'], request: grantBody, responses: { 200: consentStateResponse } },
  { method: 'GET', path: '/v1/consent', function: 'consent', scopes: ['consent:manage', 'capture:write'], responses: { 200: consentStateResponse } },
  { method: 'POST', path: '/v1/consent/pause', function: 'consent', scopes: ['consent:manage'], request: pauseBody, responses: { 200: consentStateResponse } },
  { method: 'POST', path: '/v1/consent/resume', function: 'consent', scopes: ['consent:manage'], request: emptyBody, responses: { 200: consentStateResponse } },
  { method: 'POST', path: '/v1/consent/revoke', function: 'consent', scopes: ['consent:manage'], request: revokeBody, responses: { 200: consentStateResponse } },
  { method: 'PUT', path: '/v1/consent/exclusions', function: 'consent', scopes: ['consent:manage'], request: exclusionsBody, responses: { 200: consentStateResponse } },
  { method: 'GET', path: '/v1/consent/history', function: 'consent', scopes: ['consent:manage'], responses: { 200: consentHistoryResponse } },
  { method: 'GET', path: '/v1/consent/last-capture', function: 'consent', scopes: ['consent:manage'], responses: { 200: lastCaptureResponse } },
  { method: 'POST', path: '/v1/exports', function: 'consent', scopes: ['consent:manage'], request: emptyBody, responses: { 202: exportAcceptedResponse } },
  { method: 'GET', path: '/v1/exports/{exportId}', function: 'consent', scopes: ['consent:manage'], responses: { 200: exportStatusResponse } },
  { method: 'POST', path: '/v1/employees/{employeeId}/offboard', function: 'consent', scopes: ['capture:offboard'], responses: { 202: offboardResponse } },
  { method: 'POST', path: '/v1/datasets', function: 'consent', scopes: ['datasets:build'], request: datasetRequestBody, responses: { 202: datasetAcceptedResponse } },
  { method: 'GET', path: '/v1/datasets/{datasetId}', function: 'consent', scopes: ['datasets:build'], responses: { 200: datasetStatusResponse } },
  { method: 'GET', path: '/v1/consent/datasets', function: 'consent', scopes: ['consent:manage'], responses: { 200: consentDatasetsResponse } },
  { method: 'POST', path: '/v1/events', function: 'ingest', scopes: ['capture:write'], request: captureBatchSchema, responses: { 202: captureAcceptedResponse, 200: captureDuplicateResponse } },
] as const satisfies readonly ApiRoute[];

/** The functions that serve routes. */
export type RouteFunction = (typeof API_ROUTES)[number]['function'];

/** `METHOD /path` as API Gateway v2 writes a route key. */
export function routeKey(route: Pick<ApiRoute, 'method' | 'path'>): string {
  return `${route.method} ${route.path}`;
}
