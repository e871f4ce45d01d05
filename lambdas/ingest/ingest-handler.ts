// Maps POST /v1/events to IngestService and its outcome to the HTTP contract. Built from its
// dependencies, so tests can give it their own clients (to inject faults or move time).
import type { Logger } from '@aws-lambda-powertools/logger';
import { asDependencyError, BadRequestError } from '../shared/errors.js';
import { callerOf, errorResponse, jsonResponse, requireScope, type HttpEvent, type HttpResult } from '../shared/http.js';
import type { IngestService } from './ingest-service.js';
import { requestBodyText } from './request-body.js';
import { MAX_BODY_BYTES, parseBatch } from './schemas.js';

export interface IngestHandlerDeps {
  readonly service: IngestService;
  readonly employeeIdClaim: string;
  readonly logger: Logger;
  readonly now?: () => Date;
}

export function createIngestHandler(deps: IngestHandlerDeps): (event: HttpEvent) => Promise<HttpResult> {
  const now = deps.now ?? (() => new Date());
  return async (event) => {
    deps.logger.appendKeys({ requestId: event.requestContext?.requestId });
    try {
      const caller = callerOf(event, deps.employeeIdClaim);
      requireScope(caller, 'capture:write');
      const body = requestBodyText(event, MAX_BODY_BYTES);
      let json: unknown;
      try {
        json = JSON.parse(body.text);
      } catch {
        throw new BadRequestError('the body is not valid JSON', undefined, 'invalid-json');
      }
      const parsed = parseBatch(json, now());
      if (!parsed.ok) throw new BadRequestError('the batch does not match the contract', parsed.details, 'invalid-batch');
      const { batchId } = parsed.batch;
      const outcome = await deps.service.ingest(caller.employeeId, parsed.batch);
      if (outcome.kind === 'duplicate') return jsonResponse(200, { batchId, duplicate: true });
      if (outcome.kind === 'refused') {
        return jsonResponse(403, {
          error: 'capture-not-permitted',
          message: 'nothing in this batch may be stored now: consent is not active for its scopes',
          details: Object.entries(outcome.result.refused).map(([scope, reason]) => ({
            path: scope,
            message: typeof reason === 'string' ? reason : `${reason.outsideConsent} events fall outside every consent window (refused for good)`,
          })),
          batchId,
          refused: outcome.result.refused,
        });
      }
      return jsonResponse(202, { batchId, ...outcome.result });
    } catch (error) {
      return errorResponse(asDependencyError(error, 'a dependency') ?? error, deps.logger);
    }
  };
}

