// How the datasets worker asks the key steward (a function no route reaches) for training grants
// and their retirement: a synchronous invoke naming an employee, a dataset and scopes, never a
// policy or a grant's shape. The steward reads the consent from the ledger itself.
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { stewardResponseSchema, type StewardRequest, type StewardResponse } from '../../contract/steward.js';
import type { Scope } from '../shared/consent-model.js';

export interface TrainingGrants {
  /** Grants the training role Decrypt per asked scope the employee consents to now; answers the scopes granted. */
  grant(employeeId: string, datasetId: string, scopes: readonly Scope[]): Promise<Scope[]>;
  /** Revokes the dataset's training grants on the employee's key; answers how many. */
  retire(employeeId: string, datasetId: string): Promise<number>;
}

/** The steward refused or failed: the job is retried by the queue. Its message names a code, never AWS text. */
export class StewardRefusedError extends Error {
  override readonly name = 'StewardRefusedError';
}

export class StewardTrainingGrants implements TrainingGrants {
  constructor(
    private readonly lambda: LambdaClient,
    private readonly functionName: string,
  ) {}

  async grant(employeeId: string, datasetId: string, scopes: readonly Scope[]): Promise<Scope[]> {
    const answer = await this.ask({ action: 'training-grant', employeeId, datasetId, scopes: [...scopes] });
    if (answer.action !== 'training-grant') throw new StewardRefusedError('the key steward answered another action');
    return answer.scopes;
  }

  async retire(employeeId: string, datasetId: string): Promise<number> {
    const answer = await this.ask({ action: 'retire-dataset', employeeId, datasetId });
    if (answer.action !== 'retire-dataset') throw new StewardRefusedError('the key steward answered another action');
    return answer.revoked;
  }

  private async ask(request: StewardRequest): Promise<Extract<StewardResponse, { ok: true }>> {
    const out = await this.lambda.send(new InvokeCommand({ FunctionName: this.functionName, InvocationType: 'RequestResponse', Payload: Buffer.from(JSON.stringify(request), 'utf8') }));
    if (out.FunctionError !== undefined) throw new StewardRefusedError(`the key steward failed (${out.FunctionError})`);
    let json: unknown;
    try {
      json = JSON.parse(out.Payload === undefined ? '' : Buffer.from(out.Payload).toString('utf8'));
    } catch {
      throw new StewardRefusedError('the key steward answered something that is not JSON');
    }
    const parsed = stewardResponseSchema.safeParse(json);
    if (!parsed.success) throw new StewardRefusedError('the key steward answered something that is not an answer');
    if (!parsed.data.ok) throw new StewardRefusedError(`the key steward refused: ${parsed.data.error}`);
    return parsed.data;
  }
}
