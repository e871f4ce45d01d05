// The OpenAPI 3.1 document of the HTTP API, built from the route table and its zod schemas (zod 4's
// JSON Schema output). Committed as docs/openapi.json (`npm run openapi`) and served by the local
// gateway at GET /v1/openapi.json; a test fails when the committed file and this builder differ.
import * as z from 'zod';
import { MAX_BODY_BYTES } from './capture-batch.js';
import { captureRefusedResponse, errorBody } from './responses.js';
import { API_ROUTES, routeKey, type ApiRoute } from './routes.js';
import { SCOPE_OF_EVENT_KIND } from './vocabulary.js';

export const OPENAPI_PATH = '/v1/openapi.json';

type JsonSchema = Record<string, unknown>;

/** Request bodies as a client writes them (before transforms), answers as the server writes them. */
function jsonSchema(schema: z.core.$ZodType, io: 'input' | 'output'): JsonSchema {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'draft-2020-12' }) as JsonSchema;
  return rest;
}

const json = (schema: JsonSchema) => ({ 'application/json': { schema } });
const errorRef = { $ref: '#/components/schemas/Error' };
const retryAfter = {
  'Retry-After': { description: 'Seconds to wait before retrying with the same request (and the same batchId).', schema: { type: 'integer', minimum: 0 } },
};

/** What each route is for, in a line, and what only its prose can say. */
const SUMMARIES: Readonly<Record<string, { summary: string; description?: string }>> = {
  'POST /v1/consent': { summary: 'Give consent to capture scopes, or change them (creates the key on first consent)' },
  'GET /v1/consent': {
    summary: 'Read the consent state (agents poll it)',
    description:
      'Agents poll this at least every 60 s and before every flush, sending If-None-Match with the last ETag; an unchanged answer is 304 with no body. ' +
      'A pause whose pausedUntil has passed reads as active. `windows` lists, per scope, when it was consented and not paused over the last 7 days; ' +
      '`exclusions` are the apps and window-title globs the employee excluded. Event kinds map to scopes: ' +
      Object.entries(SCOPE_OF_EVENT_KIND)
        .map(([kind, scope]) => `${kind} → ${scope}`)
        .join(', ') +
      '.',
  },
  'POST /v1/consent/pause': { summary: 'Pause capture for some minutes or until an instant; it lapses by itself' },
  'POST /v1/consent/resume': { summary: 'End a pause now' },
  'POST /v1/consent/revoke': { summary: 'Withdraw consent; with erase: true, crypto-shred and delete the data' },
  'PUT /v1/consent/exclusions': {
    summary: "Set the apps and window-title patterns whose events are never captured",
    description:
      'Recorded in the consent ledger like any other change, and returned in GET /v1/consent. Agents apply them on the device; ingest drops and counts ' +
      'excluded events again (`excluded` in the 202). Apps match whole and case-insensitively; title patterns are case-insensitive globs over the whole ' +
      'title (`*` any run, `?` one character). Keystrokes and clicks after a focus on an excluded app or title, until the next app-focus, are excluded too.',
  },
  'GET /v1/consent/history': { summary: 'Every consent change, newest last' },
  'POST /v1/exports': { summary: "Ask for an export of the caller's own data" },
  'GET /v1/exports/{exportId}': { summary: "An export's status and, once ready, its download URLs" },
  'POST /v1/employees/{employeeId}/offboard': { summary: 'HR offboarding: erase an employee (never grants consent)' },
  'POST /v1/events': {
    summary: 'Send a batch of capture events',
    description:
      `At most ${MAX_BODY_BYTES} bytes, checked after decompression too (send Content-Encoding: gzip to compress). ` +
      'Retry a 429, a 503 or a 409 batch-in-progress with the same batchId after Retry-After: nothing is stored twice, and a batch stored before answers 200 duplicate. ' +
      'A 403 capture-not-permitted means nothing in the batch may be stored now: drop the batch and read GET /v1/consent again. ' +
      'A 409 batch-id-reused means the batchId was used for another body: a bug in the client, never retried with the same id.',
  },
};

function operationId(route: ApiRoute): string {
  const words = `${route.method.toLowerCase()} ${route.path}`.replace(/[{}]/g, '').split(/[^A-Za-z0-9]+/).filter((w) => w !== '' && w !== 'v1');
  return words.map((w, i) => (i === 0 ? w : w[0]?.toUpperCase() + w.slice(1))).join('');
}

function operation(route: ApiRoute): Record<string, unknown> {
  const key = routeKey(route);
  const parameters: unknown[] = [...route.path.matchAll(/\{([A-Za-z0-9_]+)\}/g)].map((m) => ({
    name: m[1],
    in: 'path',
    required: true,
    schema: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' },
  }));
  const responses: Record<string, unknown> = {};
  for (const [status, schema] of Object.entries(route.responses)) {
    responses[status] = {
      description: status === '200' && key === 'POST /v1/events' ? 'The batch was stored before; nothing was stored again.' : 'Success.',
      content: json(jsonSchema(schema, 'output')),
      ...(key === 'GET /v1/consent' ? { headers: { ETag: { description: 'Send it back in If-None-Match to get a 304 while nothing changed.', schema: { type: 'string' } } } } : {}),
    };
  }
  if (key === 'GET /v1/consent') {
    parameters.push({ name: 'If-None-Match', in: 'header', required: false, schema: { type: 'string' }, description: 'The ETag of the last 200.' });
    responses['304'] = { description: 'Not modified: the state is the one the ETag names.' };
  }
  if (key === 'POST /v1/events') {
    parameters.push({ name: 'Content-Encoding', in: 'header', required: false, schema: { type: 'string', enum: ['gzip', 'identity'] } });
    responses['403'] = { description: 'capture-not-permitted: nothing may be stored now (drop the batch), or a token without capture:write.', content: json({ anyOf: [jsonSchema(captureRefusedResponse, 'output'), errorRef] }) };
    responses['409'] = { description: 'batch-in-progress (retry after Retry-After) or batch-id-reused (a client bug: never retry it).', headers: retryAfter, content: json(errorRef) };
    responses['413'] = { description: 'The body, or the body once decompressed, is too large.', content: json(errorRef) };
    responses['415'] = { description: 'A Content-Encoding other than gzip.', content: json(errorRef) };
  } else {
    responses['403'] = { description: 'The token lacks the scope, or the resource is not the caller’s.', content: json(errorRef) };
    if (route.function === 'consent' && route.method !== 'GET') responses['409'] = { description: 'The consent state does not allow this change, or a concurrent change won (retry).', content: json(errorRef) };
  }
  if (route.request !== undefined) {
    responses['400'] = { description: 'The body does not match the contract; `details` names each field.', content: json(errorRef) };
    responses['413'] ??= { description: 'The body is too large.', content: json(errorRef) };
  }
  if (route.path.includes('{')) responses['404'] = { description: 'No such resource for this caller.', content: json(errorRef) };
  responses['401'] = { description: 'A missing, expired or invalid bearer token.', content: json(errorRef) };
  responses['429'] = { description: 'Throttled: retry after Retry-After.', headers: retryAfter, content: json(errorRef) };
  responses['503'] = { description: 'A dependency is unavailable: retry after Retry-After (when present).', headers: retryAfter, content: json(errorRef) };
  const text = SUMMARIES[key];
  return {
    operationId: operationId(route),
    ...(text === undefined ? {} : text),
    security: [{ bearer: [...route.scopes] }],
    ...(parameters.length === 0 ? {} : { parameters }),
    ...(route.request === undefined ? {} : { requestBody: { required: true, content: json(jsonSchema(route.request, 'input')) } }),
    responses: Object.fromEntries(Object.entries(responses).sort(([a], [b]) => a.localeCompare(b))),
  };
}

/** The document for `routes` (the contract's by default). Deterministic: the same input gives the same bytes. */
export function buildOpenApi(routes: readonly ApiRoute[] = API_ROUTES): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const item = (paths[route.path] ??= {});
    item[route.method.toLowerCase()] = operation(route);
  }
  paths[OPENAPI_PATH] = {
    get: {
      operationId: 'getOpenApi',
      summary: 'This document',
      security: [],
      responses: { '200': { description: 'The OpenAPI 3.1 document.', content: json({ type: 'object' }) } },
    },
  };
  return {
    openapi: '3.1.0',
    info: {
      title: 'consent-capture API',
      version: '1',
      description:
        'Capture of computer-usage events where consent is each employee’s own KMS key. Every route but this document needs Authorization: Bearer <JWT>; ' +
        'the employee is the token’s subject, never a body field. Errors are JSON {error, message, details?}. Clients ignore fields they do not know: changes are additive.',
    },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    paths: Object.fromEntries(Object.entries(paths).sort(([a], [b]) => a.localeCompare(b))),
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'The JWT scope claim carries capture:write, consent:manage or capture:offboard.' },
      },
      schemas: { Error: jsonSchema(errorBody, 'output') },
    },
  };
}

/** The committed file's bytes: two-space JSON and a final newline. */
export function openApiText(routes: readonly ApiRoute[] = API_ROUTES): string {
  return `${JSON.stringify(buildOpenApi(routes), null, 2)}\n`;
}
