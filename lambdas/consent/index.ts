// The consent function: give, change, pause, resume and withdraw consent, read state and
// history, and HR offboarding. Thin: parse, call ConsentService, map the result. It holds no KMS
// permission: the key steward it invokes writes every key.
import { optionalEnv, requireEnv, resweepSecondsFromEnv, ENV } from '../shared/environment.js';
import { documentClient, lambdaClient, s3Client, sqsClient } from '../shared/clients.js';
import { publicState, type Actor } from '../shared/consent-state.js';
import { asDependencyError, BadRequestError, NotFoundError } from '../shared/errors.js';
import { callerOf, errorResponse, evidenceOf, identityOf, jsonResponse, parseBody, requireScope, type HttpEvent, type HttpResult } from '../shared/http.js';
import { ID_PATTERN } from '../shared/ids.js';
import { Ledger } from '../shared/ledger.js';
import { createLogger } from '../shared/logger.js';
import { metricAlarms } from '../shared/alarm-metrics.js';
import { ConsentService } from './consent-service.js';
import { lambdaTransport, StewardClient } from './steward-client.js';
import { ExportRequests } from './export-requests.js';
import { ExportJobs } from '../shared/export-jobs.js';
import { DatasetsStore } from '../shared/datasets-store.js';
import { DatasetRequests } from './dataset-requests.js';
import { datasetRequestBody, DEFAULT_DATASET_MAX_DAYS, MAX_DATASET_BODY_BYTES } from '../../contract/datasets.js';
import { emptyBody, grantBody, MAX_CONSENT_BODY_BYTES, MAX_PAUSE_UNTIL_DAYS, pauseBody, revokeBody } from '../../contract/consent-requests.js';
import { exclusionsBody, MAX_EXCLUSIONS_BODY_BYTES } from '../../contract/exclusions.js';
import { consentStateEtag, notModified } from './consent-etag.js';
import type { ConsentCommand } from './transitions.js';
import { lastCaptureOf } from './last-capture.js';

const logger = createLogger('consent');
const alarms = metricAlarms('consent');
const employeeIdClaim = optionalEnv(ENV.employeeIdClaim) ?? 'sub';
const ledger = new Ledger(documentClient(), requireEnv(ENV.ledgerTable));
const steward = new StewardClient(lambdaTransport(lambdaClient(), requireEnv(ENV.keyStewardFunction)));
const service = new ConsentService({
  ledger,
  steward,
  sqs: sqsClient(),
  purgeQueueUrl: requireEnv(ENV.purgeQueueUrl),
  keySyncQueueUrl: requireEnv(ENV.keySyncQueueUrl),
  revokeSweepDelaySeconds: resweepSecondsFromEnv(),
  logger,
  alarms,
});
const exportRequests = new ExportRequests({
  ledger,
  jobs: new ExportJobs(documentClient(), requireEnv(ENV.exportsTable)),
  // The key steward function mints the export's grant, reading the consent from the ledger itself.
  grants: steward,
  sqs: sqsClient(),
  exportQueueUrl: requireEnv(ENV.exportQueueUrl),
  s3: s3Client(),
  exportsBucket: requireEnv(ENV.exportsBucket),
  logger,
});

const datasetRequests = new DatasetRequests({
  store: new DatasetsStore(documentClient(), requireEnv(ENV.datasetsTable)),
  db: documentClient(),
  ledgerTable: requireEnv(ENV.ledgerTable),
  sqs: sqsClient(),
  queueUrl: requireEnv(ENV.datasetsQueueUrl),
  maxDays: Math.min(DEFAULT_DATASET_MAX_DAYS, Number(optionalEnv(ENV.datasetMaxDays) ?? DEFAULT_DATASET_MAX_DAYS)) || DEFAULT_DATASET_MAX_DAYS,
  logger,
});
const batches = { db: documentClient(), table: requireEnv(ENV.batchesTable) };

const MINUTE_MS = 60_000;

function pauseUntil(body: { minutes: number } | { until: string }, now: Date): Date {
  if ('minutes' in body) return new Date(now.getTime() + body.minutes * MINUTE_MS);
  const until = new Date(body.until);
  if (until.getTime() < now.getTime() + MINUTE_MS) {
    throw new BadRequestError('the pause must end at least one minute from now', [{ path: 'until', message: `${body.until} is too soon` }], 'invalid-body');
  }
  if (until.getTime() > now.getTime() + MAX_PAUSE_UNTIL_DAYS * 24 * 60 * MINUTE_MS) {
    throw new BadRequestError(`a pause can last at most ${MAX_PAUSE_UNTIL_DAYS} days; to stop for longer, withdraw consent`, [{ path: 'until', message: `${body.until} is too far ahead` }], 'invalid-body');
  }
  return until;
}

/** HR offboarding: the caller is not an employee, so their `sub` is not held to the employee-id pattern. */
async function offboard(event: HttpEvent): Promise<HttpResult> {
  const hr = identityOf(event);
  requireScope(hr, 'capture:offboard');
  const target = event.pathParameters?.['employeeId'];
  if (target === undefined || !ID_PATTERN.test(target)) {
    throw new BadRequestError(`the employee id in the path must match ${ID_PATTERN.source}`, [{ path: 'employeeId', message: 'invalid id' }], 'invalid-employee-id');
  }
  parseBody(event, emptyBody, MAX_CONSENT_BODY_BYTES);
  const actor: Actor = { kind: 'hr', issuer: hr.issuer, subject: hr.subject, ...evidenceOf(event) };
  const state = await service.apply(target, { type: 'offboard' }, actor);
  return jsonResponse(202, { employeeId: target, status: state.status });
}

/** The ML platform's routes: its caller is a client of the IdP, not an employee, so identityOf. */
async function datasets(event: HttpEvent): Promise<HttpResult> {
  const platform = identityOf(event);
  requireScope(platform, 'datasets:build');
  if (event.routeKey === 'POST /v1/datasets') {
    const body = parseBody(event, datasetRequestBody, MAX_DATASET_BODY_BYTES);
    return jsonResponse(202, await datasetRequests.create({ issuer: platform.issuer, subject: platform.subject }, body));
  }
  return jsonResponse(200, await datasetRequests.status(event.pathParameters?.['datasetId'] ?? ''));
}

async function route(event: HttpEvent): Promise<HttpResult> {
  if (event.routeKey === 'POST /v1/employees/{employeeId}/offboard') return offboard(event);
  if (event.routeKey === 'POST /v1/datasets' || event.routeKey === 'GET /v1/datasets/{datasetId}') return datasets(event);
  const caller = callerOf(event, employeeIdClaim);
  const now = new Date();
  // The employee id, not the raw `sub`, names the employee: it is the pseudonymous id the ledger keeps.
  const change = async (command: ConsentCommand) => {
    const actor: Actor = { kind: 'employee', issuer: caller.issuer, subject: caller.employeeId, ...evidenceOf(event) };
    return jsonResponse(200, publicState(await service.apply(caller.employeeId, command, actor), new Date()));
  };

  switch (event.routeKey) {
    case 'GET /v1/consent': {
      requireScope(caller, 'consent:manage', 'capture:write');
      // Agents poll this every minute: an unchanged answer is a 304 without a body.
      const body = publicState(await service.current(caller.employeeId), now);
      const etag = consentStateEtag(body);
      if (notModified(event.headers?.['if-none-match'], etag)) return { statusCode: 304, headers: { etag, 'cache-control': 'no-store' } };
      return jsonResponse(200, body, { etag });
    }
    case 'PUT /v1/consent/exclusions': {
      requireScope(caller, 'consent:manage');
      const body = parseBody(event, exclusionsBody, MAX_EXCLUSIONS_BODY_BYTES);
      return change({ type: 'set-exclusions', exclusions: body });
    }
    case 'POST /v1/consent': {
      requireScope(caller, 'consent:manage');
      const body = parseBody(event, grantBody, MAX_CONSENT_BODY_BYTES);
      return change({ type: 'grant', ...body });
    }
    case 'POST /v1/consent/pause': {
      requireScope(caller, 'consent:manage');
      const body = parseBody(event, pauseBody, MAX_CONSENT_BODY_BYTES);
      return change({ type: 'pause', until: pauseUntil(body, now) });
    }
    case 'POST /v1/consent/resume':
      requireScope(caller, 'consent:manage');
      parseBody(event, emptyBody, MAX_CONSENT_BODY_BYTES);
      return change({ type: 'resume' });
    case 'POST /v1/consent/revoke': {
      requireScope(caller, 'consent:manage');
      const body = parseBody(event, revokeBody, MAX_CONSENT_BODY_BYTES);
      return change({ type: 'revoke', erase: body.erase });
    }
    case 'GET /v1/consent/history': {
      requireScope(caller, 'consent:manage');
      const events = await service.history(caller.employeeId);
      return jsonResponse(200, {
        events: events.map((e) => ({ sequence: e.sequence, kind: e.kind, at: e.at, actor: e.actor, state: publicState(e.state, new Date(e.at)), ...(e.details ? { details: e.details } : {}) })),
      });
    }
    case 'GET /v1/consent/last-capture':
      requireScope(caller, 'consent:manage');
      return jsonResponse(200, await lastCaptureOf(batches.db, batches.table, caller.employeeId, now));
    case 'POST /v1/exports':
      requireScope(caller, 'consent:manage');
      parseBody(event, emptyBody, MAX_CONSENT_BODY_BYTES);
      return jsonResponse(202, await exportRequests.request(caller.employeeId, { kind: 'employee', issuer: caller.issuer, subject: caller.employeeId, ...evidenceOf(event) }));
    case 'GET /v1/consent/datasets':
      requireScope(caller, 'consent:manage');
      return jsonResponse(200, await datasetRequests.forEmployee(caller.employeeId));
    case 'GET /v1/exports/{exportId}':
      requireScope(caller, 'consent:manage');
      return jsonResponse(200, await exportRequests.status(caller.employeeId, event.pathParameters?.['exportId'] ?? ''));
    default:
      throw new NotFoundError(`no route ${event.routeKey}`);
  }
}

export async function handler(event: HttpEvent): Promise<HttpResult> {
  logger.appendKeys({ requestId: event.requestContext?.requestId });
  try {
    return await route(event);
  } catch (error) {
    return errorResponse(asDependencyError(error, 'a dependency') ?? error, logger);
  }
}
