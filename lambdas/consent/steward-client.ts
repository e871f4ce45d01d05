// How the consent function asks the key steward (a function no route reaches) to act on an
// employee's key: a synchronous invoke carrying an employee id and an intent, never a policy. The
// steward's typed answers become the errors ConsentService and the HTTP edge already handle.
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { stewardResponseSchema, type StewardRequest, type StewardResponse } from '../../contract/steward.js';
import type { ConsentState } from '../shared/consent-state.js';
import { ConflictError, ConsentStateUnavailableError, DependencyError, KeyQuotaExhaustedError } from '../shared/errors.js';
import { AliasTakenError, ForeignKeyError, ShreddingDeniedError } from '../shared/key-steward.js';
import { consentStateSchema } from '../shared/ledger-event.js';

/** What the consent function needs of the key steward. */
export interface KeyStewardPort {
  /** The employee's key ARN: recorded, adopted (if exactly ours) or new. */
  ensureKey(employeeId: string): Promise<string>;
  /** Writes the newest valid ledger event's policy; answers the state now on the key (undefined for an empty ledger). */
  applyNewest(employeeId: string): Promise<ConsentState | undefined>;
  /** A Decrypt grant for the export role, constrained to the employee, while consent is active, paused or revoked. */
  exportGrant(employeeId: string, exportId: string): Promise<{ grantId: string; grantToken: string }>;
}

/** Sends one request to the steward and resolves with its JSON answer. */
export type StewardTransport = (request: StewardRequest) => Promise<unknown>;

/** The steward crashed, or answered something that is not an answer, or refused our own request: a 500. */
export class StewardFailedError extends Error {
  override readonly name = 'StewardFailedError';
}

export class StewardClient implements KeyStewardPort {
  constructor(private readonly send: StewardTransport) {}

  async ensureKey(employeeId: string): Promise<string> {
    const answer = await this.ask({ action: 'ensure-key', employeeId });
    if (answer.action !== 'ensure-key') throw new StewardFailedError('the key steward answered another action');
    return answer.keyArn;
  }

  async applyNewest(employeeId: string): Promise<ConsentState | undefined> {
    const answer = await this.ask({ action: 'apply', employeeId });
    if (answer.action !== 'apply') throw new StewardFailedError('the key steward answered another action');
    if (answer.state === undefined) return undefined;
    const state = consentStateSchema.safeParse(answer.state);
    if (!state.success || state.data.employeeId !== employeeId) throw new StewardFailedError('the key steward answered a state that is not valid');
    return state.data as unknown as ConsentState;
  }

  async exportGrant(employeeId: string, exportId: string): Promise<{ grantId: string; grantToken: string }> {
    const answer = await this.ask({ action: 'export-grant', employeeId, exportId });
    if (answer.action !== 'export-grant') throw new StewardFailedError('the key steward answered another action');
    return { grantId: answer.grantId, grantToken: answer.grantToken };
  }

  private async ask(request: StewardRequest): Promise<Extract<StewardResponse, { ok: true }>> {
    const parsed = stewardResponseSchema.safeParse(await this.send(request));
    if (!parsed.success) throw new StewardFailedError('the key steward answered something that is not an answer');
    const answer = parsed.data;
    if (answer.ok) return answer;
    // The steward's message is for logs; clients get the messages below.
    switch (answer.error) {
      case 'key-conflict':
        throw new ForeignKeyError(request.employeeId, answer.message);
      case 'alias-taken':
        throw new AliasTakenError(`another request created the alias of ${request.employeeId} first`);
      case 'key-quota-exhausted':
        throw new KeyQuotaExhaustedError('consent cannot be recorded now: the service has reached a limit of its key store; an operator has been alerted, so try again later');
      case 'throttled':
        throw new DependencyError('the key store is throttling requests; retry later', { throttled: true });
      case 'unavailable':
        throw new DependencyError('the key store is temporarily unavailable; retry later', { throttled: false });
      case 'ledger-invalid':
        throw new ConsentStateUnavailableError('the consent record cannot be read; an operator has been alerted. A withdrawal is still accepted.');
      case 'shredding-denied':
        throw new ShreddingDeniedError(`the key steward could not shred the key of ${request.employeeId}`);
      case 'not-consented':
        throw new ConflictError('there is no consent an export could rest on', 'not-consented');
      case 'invalid-request':
      case 'internal':
        throw new StewardFailedError(`the key steward failed: ${answer.error}`);
    }
  }
}

/**
 * The steward over Lambda's Invoke API (RequestResponse). A handler crash comes back as
 * `FunctionError`; Lambda's own throttling (TooManyRequestsException) is thrown by the SDK and
 * read as throttling by the HTTP edge.
 */
export function lambdaTransport(lambda: LambdaClient, functionName: string): StewardTransport {
  return async (request) => {
    const answer = await lambda.send(new InvokeCommand({ FunctionName: functionName, InvocationType: 'RequestResponse', Payload: Buffer.from(JSON.stringify(request), 'utf8') }));
    if (answer.FunctionError !== undefined) throw new StewardFailedError(`the key steward failed (${answer.FunctionError})`);
    const text = answer.Payload === undefined ? '' : Buffer.from(answer.Payload).toString('utf8');
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new StewardFailedError('the key steward answered something that is not JSON');
    }
  };
}
