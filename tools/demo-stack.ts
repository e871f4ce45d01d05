// How `npm run demo` reaches a running local stack: `.local/stack.json` (parsed once, here),
// tokens from the local issuer, and JSON calls to the API. Every sign that the stack is not
// running becomes a StackNotRunningError, which the demo turns into one plain sentence.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { IssuerMissingError, loadIssuer, type LocalIssuer } from '../local/issuer.js';

/** Per call; the local API answers in milliseconds, so a silent one is not running. */
const REQUEST_TIMEOUT_MS = 5_000;

export class StackNotRunningError extends Error {
  override readonly name = 'StackNotRunningError';
}

const principal = z.object({ arn: z.string(), accessKeyId: z.string(), secretAccessKey: z.string() });

const stackFileSchema = z.object({
  api: z.url({ error: 'is missing: only the local KMS is running (`npm run kms`), not the whole stack' }),
  region: z.string(),
  account: z.string(),
  endpoints: z.object({ kms: z.url() }),
  principals: z.object({ ingest: principal, steward: principal, auditor: principal }),
  trail: z.string().min(1),
});

export type DemoStackFile = z.infer<typeof stackFileSchema>;

export interface ApiAnswer {
  readonly status: number;
  /** The JSON body; an empty object when the body is not a JSON object. */
  readonly body: Record<string, unknown>;
}

export interface DemoStack {
  readonly localDir: string;
  readonly file: DemoStackFile;
  token(employeeId: string, scope: 'consent:manage' | 'capture:write'): Promise<string>;
  call(method: 'GET' | 'POST', path: string, token: string, body?: unknown): Promise<ApiAnswer>;
}

function readStackFile(localDir: string): DemoStackFile {
  const path = join(localDir, 'stack.json');
  if (!existsSync(path)) throw new StackNotRunningError(`no ${path}`);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    throw new StackNotRunningError(`${path} is not JSON`);
  }
  const parsed = stackFileSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new StackNotRunningError(`${path} ${issue?.path.join('.') ?? ''} ${issue?.message ?? 'does not match'}`.replace(/\s+/g, ' '));
  }
  return parsed.data;
}

function unreachable(api: string, error: unknown, timeoutMs: number): StackNotRunningError {
  if (error instanceof Error && error.name === 'TimeoutError') return new StackNotRunningError(`the API at ${api} did not answer within ${timeoutMs / 1000} s`);
  const cause = error instanceof Error && error.cause instanceof Error ? ((error.cause as NodeJS.ErrnoException).code ?? error.cause.message) : undefined;
  return new StackNotRunningError(`the API at ${api} does not answer${cause === undefined ? '' : ` (${cause})`}`);
}

/** One JSON call; an API that does not answer (refused, reset, silent past `timeoutMs`) is a StackNotRunningError. `npm run smoke` uses it too. */
export async function sendJson(api: string, method: string, path: string, headers: Record<string, string>, body?: unknown, timeoutMs = REQUEST_TIMEOUT_MS): Promise<ApiAnswer> {
  let response: Response;
  let text: string;
  try {
    response = await fetch(`${api}${path}`, {
      method,
      headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    text = await response.text();
  } catch (error) {
    throw unreachable(api, error, timeoutMs);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const isObject = typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed);
  return { status: response.status, body: isObject ? (parsed as Record<string, unknown>) : {} };
}

/** Reads stack.json and the issuer, and checks that the API answers at all (any HTTP status will do). */
export async function connectToStack(localDir: string): Promise<DemoStack> {
  const file = readStackFile(localDir);
  let issuer: LocalIssuer;
  try {
    issuer = await loadIssuer(localDir);
  } catch (error) {
    if (error instanceof IssuerMissingError) throw new StackNotRunningError(error.message);
    throw error;
  }
  await sendJson(file.api, 'GET', '/v1/consent', {});
  return {
    localDir,
    file,
    token: (employeeId, scope) => issuer.mint({ subject: employeeId, scope, ttlSeconds: 600 }),
    call: (method, path, token, body) => sendJson(file.api, method, path, { authorization: `Bearer ${token}` }, body),
  };
}
