// What `npm run smoke -- --api <url> --token <jwt>` does (tools/smoke.ts is its command line): checks
// a deployed API end to end as one throwaway
// employee: consent, a stored batch, a pause that refuses the next batch, resume, an export where
// the route exists, and an erasure, which also runs (as clean-up) when a step after the grant
// fails. Each step prints its status and time. Exit 0: every answer was the expected one;
// 1: some answer was not (the step says what it expected); 2: bad arguments, an employee who is
// not a throwaway one (any consent history), or an API that does not answer. No stack traces.
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { captureAcceptedResponse, consentStateResponse, errorBody } from '../contract/responses.js';
import { sendJson, StackNotRunningError, type ApiAnswer } from './demo-stack.js';

/** First consent makes several KMS calls; API Gateway itself gives up after 30 s. */
const REQUEST_TIMEOUT_MS = 35_000;
const USAGE =
  'usage: npm run smoke -- --api <url> (--token <jwt with consent:manage and capture:write> | --consent-token <jwt> --agent-token <jwt>) [--wait-purged] [--purge-timeout <seconds>]';
const NOTICE = { noticeVersion: 'smoke-test', noticeSha256: '0'.repeat(64) };

class UsageError extends Error {
  override readonly name = 'UsageError';
}
class NotThrowawayError extends Error {
  override readonly name = 'NotThrowawayError';
}
/** An answer other than the expected one: the step, what it expected, what came back. */
class SurpriseError extends Error {
  override readonly name = 'SurpriseError';
}

interface SmokeOptions {
  readonly api: string;
  readonly consentToken: string;
  readonly agentToken: string;
  readonly waitPurged: boolean;
  readonly purgeTimeoutSeconds: number;
}

function parseOptions(argv: readonly string[]): SmokeOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        api: { type: 'string' },
        token: { type: 'string' },
        'consent-token': { type: 'string' },
        'agent-token': { type: 'string' },
        'wait-purged': { type: 'boolean', default: false },
        'purge-timeout': { type: 'string', default: '900' },
      },
      strict: true,
    }));
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const api = values.api?.replace(/\/+$/, '');
  if (api === undefined || !/^https?:\/\/[^/]+/.test(api)) throw new UsageError('--api must be the API URL, e.g. --api https://abc123.execute-api.eu-west-1.amazonaws.com');
  const consentToken = values['consent-token'] ?? values.token;
  const agentToken = values['agent-token'] ?? values.token;
  if (consentToken === undefined || agentToken === undefined) throw new UsageError('give --token, or both --consent-token and --agent-token');
  const purgeTimeoutSeconds = Number(values['purge-timeout']);
  if (!Number.isInteger(purgeTimeoutSeconds) || purgeTimeoutSeconds < 1 || purgeTimeoutSeconds > 3600) throw new UsageError(`--purge-timeout ${values['purge-timeout']} must be whole seconds from 1 to 3600`);
  return { api, consentToken, agentToken, waitPurged: values['wait-purged'], purgeTimeoutSeconds };
}

/** Where the check writes: stdout for the steps, stderr for the verdict on failure. */
export interface SmokeOutput {
  out(line: string): void;
  err(line: string): void;
}

/** `403 capture-not-permitted`, or the status alone when the body has no error code. */
function answerText(answer: ApiAnswer): string {
  const error = errorBody.safeParse(answer.body);
  return error.success ? `${answer.status} ${error.data.error}` : String(answer.status);
}

class SmokeRun {
  private step = 0;

  constructor(
    private readonly options: SmokeOptions,
    readonly out: (line: string) => void,
  ) {}

  /** One call, printed as `n. title  METHOD path → status (ms)`, checked by `expect` (which returns what went wrong). */
  async call(title: string, method: 'GET' | 'POST', path: string, token: string, body: unknown, expect: (answer: ApiAnswer) => string | undefined): Promise<ApiAnswer> {
    this.step += 1;
    const started = performance.now();
    const answer = await sendJson(this.options.api, method, path, { authorization: `Bearer ${token}` }, body, REQUEST_TIMEOUT_MS);
    const ms = Math.round(performance.now() - started);
    const problem = expect(answer);
    this.out(`${problem === undefined ? 'ok  ' : 'FAIL'} ${String(this.step).padStart(2)}. ${title.padEnd(34)} ${method} ${path} → ${answerText(answer)} (${ms} ms)`);
    if (problem !== undefined) throw new SurpriseError(`step ${this.step} (${title}): ${problem}`);
    return answer;
  }

  note(text: string): void {
    this.out(`        ${text}`);
  }
}

/** Undefined when the answer is `status` with a body `schema` accepts and `check` likes; otherwise what was wrong. */
function expecting<T>(status: number, schema: { safeParse(v: unknown): { success: true; data: T } | { success: false } }, check: (body: T) => string | undefined = () => undefined) {
  return (answer: ApiAnswer): string | undefined => {
    if (answer.status !== status) return `expected ${status}, got ${answerText(answer)}`;
    const parsed = schema.safeParse(answer.body);
    if (!parsed.success) return `the ${status} body does not match the contract`;
    return check(parsed.data);
  };
}

function errorCode(status: number, code: string) {
  return expecting(status, errorBody, (body) => (body.error === code ? undefined : `expected error ${code}, got ${body.error}`));
}

function batch(): { batchId: string; deviceId: string; events: Record<string, unknown>[] } {
  const now = new Date().toISOString();
  return {
    batchId: `b-${randomUUID()}`,
    deviceId: 'smoke-test',
    events: [
      { kind: 'keystroke', ts: now, text: 'smoke test', app: 'smoke' },
      { kind: 'click', ts: Date.now(), x: 1, y: 1, button: 'left', app: 'smoke' },
    ],
  };
}

async function smoke(options: SmokeOptions, out: (line: string) => void): Promise<void> {
  const run = new SmokeRun(options, out);
  const { consentToken: manage, agentToken: agent } = options;
  const state = consentStateResponse;
  out(`smoke test of ${options.api}`);

  const before = await run.call('read consent (throwaway check)', 'GET', '/v1/consent', manage, undefined, expecting(200, state));
  const initial = state.parse(before.body);
  // The run ends by erasing this employee: refuse anyone with a consent history.
  if (initial.status !== 'none' || initial.sequence !== 0) {
    throw new NotThrowawayError(`employee ${initial.employeeId} has a consent history (status ${initial.status}, ${initial.sequence} events); the smoke test erases its employee, so use a token for a new, throwaway employee id`);
  }
  const employee = initial.employeeId;
  run.note(`employee ${employee}`);

  let granted = false;
  let erased = false;
  try {
    await run.call('grant keystrokes and clicks', 'POST', '/v1/consent', manage, { scopes: ['keystrokes', 'clicks'], ...NOTICE }, expecting(200, state, (s) => (s.status === 'active' ? undefined : `expected status active, got ${s.status}`)));
    granted = true;
    await run.call('read consent as the agent', 'GET', '/v1/consent', agent, undefined, expecting(200, state, (s) => (s.status === 'active' ? undefined : `expected status active, got ${s.status}`)));
    await run.call('send a batch', 'POST', '/v1/events', agent, batch(), expecting(202, captureAcceptedResponse, (b) => (b.stored['keystrokes'] === 1 && b.stored['clicks'] === 1 ? undefined : `expected one stored keystroke and click, got stored ${JSON.stringify(b.stored)}`)));
    await run.call('pause for 5 minutes', 'POST', '/v1/consent/pause', manage, { minutes: 5 }, expecting(200, state, (s) => (s.status === 'paused' ? undefined : `expected status paused, got ${s.status}`)));
    await run.call('send a batch while paused', 'POST', '/v1/events', agent, batch(), errorCode(403, 'capture-not-permitted'));
    await run.call('resume', 'POST', '/v1/consent/resume', manage, undefined, expecting(200, state, (s) => (s.status === 'active' ? undefined : `expected status active, got ${s.status}`)));
    const exported = await run.call('request an export (if deployed)', 'POST', '/v1/exports', manage, {}, (a) => (a.status === 404 || a.status === 202 || a.status === 200 ? undefined : `expected 202, or 404 where the export route is not deployed; got ${answerText(a)}`));
    if (exported.status === 404) run.note('no export route on this API: skipped');
    await erase(run, manage);
    erased = true;
    if (options.waitPurged) await waitPurged(run, options, manage);
    else run.note('purging: the purge worker finishes within minutes (its second sweep waits 6 minutes in AWS); --wait-purged waits for it');
  } finally {
    // Clean up a throwaway employee left consented by a failed step.
    if (granted && !erased) {
      out('clean-up: erasing the throwaway employee');
      await erase(run, manage).catch((error: unknown) => out(`clean-up failed: ${error instanceof Error ? error.message : String(error)}; erase employee ${employee} by hand`));
    }
  }
}

async function erase(run: SmokeRun, manage: string): Promise<void> {
  await run.call('withdraw and erase', 'POST', '/v1/consent/revoke', manage, { erase: true }, expecting(200, consentStateResponse, (s) => (s.status === 'purging' || s.status === 'purged' ? undefined : `expected status purging or purged, got ${s.status}`)));
}

async function waitPurged(run: SmokeRun, options: SmokeOptions, manage: string): Promise<void> {
  const deadline = Date.now() + options.purgeTimeoutSeconds * 1000;
  const started = performance.now();
  for (;;) {
    const answer = await sendJson(options.api, 'GET', '/v1/consent', { authorization: `Bearer ${manage}` }, undefined, REQUEST_TIMEOUT_MS);
    const parsed = consentStateResponse.safeParse(answer.body);
    if (answer.status === 200 && parsed.success && parsed.data.status === 'purged') {
      run.out(`ok       purged                             GET /v1/consent → 200 purged (after ${Math.round(performance.now() - started)} ms)`);
      return;
    }
    if (Date.now() > deadline) throw new SurpriseError(`the erasure did not reach purged within ${options.purgeTimeoutSeconds} s (last answer ${answerText(answer)}${parsed.success ? ` ${parsed.data.status}` : ''})`);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
}

/** Runs the check with command-line arguments; resolves with the exit status. Never throws. */
export async function runSmoke(argv: readonly string[], output: SmokeOutput): Promise<number> {
  try {
    await smoke(parseOptions(argv), output.out);
    output.out('smoke test passed');
    return 0;
  } catch (error) {
    if (error instanceof SurpriseError) {
      output.err(`smoke test FAILED: ${error.message}`);
      return 1;
    }
    if (error instanceof UsageError) output.err(`smoke: ${error.message}\n${USAGE}`);
    else if (error instanceof NotThrowawayError || error instanceof StackNotRunningError) output.err(`smoke: ${error.message}`);
    // Anything else is a fault of this tool: its name and message, never a stack trace.
    else output.err(`smoke: unexpected ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`);
    return 2;
  }
}
