// Invariant 1, model-based: for random sequences of consent changes, clock moves and ingest
// attempts over several employees, a batch's scope is stored iff a model of the ledger says that
// scope was consented and not paused at that moment, and a refused scope leaves no object.
//
// The services run in this process (ConsentService and the ingest handler, with their own
// principals' clients against the local stack), because the stack's workers read wall-clock time
// and this test moves time: services and the local KMS (aws:CurrentTime) share the stack's clock.
//
// Time and the model agree without races: the clock only ever moves by whole minutes and a pause
// lasts whole minutes, so "now - pausedUntil" is a multiple of a minute plus the wall-clock time
// that passed since the pause (well under a minute within one run). Its sign is therefore the same
// for the model (clock read just before the call), the ingest service and KMS.
import fc from 'fast-check';
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCOPE_OF_EVENT_KIND, SCOPES, type Scope } from '../../lambdas/shared/consent-model.js';
import { effectiveState } from '../../lambdas/shared/consent-state.js';
import { ConflictError } from '../../lambdas/shared/errors.js';
import { LOCAL_RESOURCES } from '../../local/stack.js';
import { captureBatch, newBatchId } from '../support/capture-batches.js';
import { inProcessConsent, inProcessIngest, type InProcessConsent, type InProcessIngest } from '../support/in-process-services.js';
import { httpEvent } from '../support/ingest-http-event.js';
import { startTestStack, type TestStack } from '../support/local-stack.js';

function seed(): number {
  const raw = process.env['FC_SEED'];
  if (raw === undefined || raw === '') return 20_261_204;
  const n = Number(raw);
  if (!Number.isInteger(n)) throw new Error(`FC_SEED=${JSON.stringify(raw)} must be an integer`);
  return n;
}
const SEED = seed();
const RUNS = Number(process.env['FC_RUNS'] ?? 200);
const MINUTE = 60_000;
const NOTICE = { noticeVersion: '2026-11', noticeSha256: 'c'.repeat(64) };
const PER_KIND = 2;

type Kind = keyof typeof SCOPE_OF_EVENT_KIND;
const KINDS = Object.keys(SCOPE_OF_EVENT_KIND) as Kind[];
type Reason = 'paused' | 'scope-not-consented' | 'consent-not-active';

// ---------------------------------------------------------------------------------------------
// Commands

type Command =
  | { readonly type: 'grant'; readonly e: number; readonly scopes: readonly Scope[] }
  | { readonly type: 'pause'; readonly e: number; readonly minutes: number }
  | { readonly type: 'resume'; readonly e: number }
  | { readonly type: 'revoke'; readonly e: number }
  | { readonly type: 'advance'; readonly minutes: number }
  /**
   * Moves the clock to `extraMinutes` (whole minutes) around the end of the soonest-ending running
   * pause, if any, and then ingests for that employee: the boundary, where a model and a system
   * that disagree by a minute would show it. With `retry`, the agent re-sends its newest refused
   * batch (the same batchId) instead of a new one, as an agent waiting out a pause would.
   */
  | { readonly type: 'lapse'; readonly extraMinutes: number; readonly kinds: readonly Kind[]; readonly retry: boolean }
  | { readonly type: 'ingest'; readonly e: number; readonly kinds: readonly Kind[] }
  /** Sends an earlier batchId of the employee again (an agent's retry), with fresh events. */
  | { readonly type: 'resend'; readonly e: number; readonly pick: number; readonly kinds: readonly Kind[] };

const employee = fc.nat({ max: 2 });
const pauseMinutes = fc.oneof(fc.integer({ min: 1, max: 120 }), fc.integer({ min: 1, max: 10_080 }));
const advanceMinutes = fc.oneof(fc.integer({ min: 1, max: 90 }), fc.integer({ min: 1, max: 10_081 }));
const kinds = fc.subarray(KINDS, { minLength: 1 });
const grant = fc.record({ type: fc.constant('grant' as const), e: employee, scopes: fc.subarray([...SCOPES], { minLength: 1 }) });
const command: fc.Arbitrary<Command> = fc.oneof(
  { weight: 3, arbitrary: grant },
  { weight: 3, arbitrary: fc.record({ type: fc.constant('pause' as const), e: employee, minutes: pauseMinutes }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('resume' as const), e: employee }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('revoke' as const), e: employee }) },
  { weight: 2, arbitrary: fc.record({ type: fc.constant('advance' as const), minutes: advanceMinutes }) },
  { weight: 4, arbitrary: fc.record({ type: fc.constant('lapse' as const), extraMinutes: fc.constantFrom(-1, 0, 1), kinds, retry: fc.boolean() }) },
  { weight: 4, arbitrary: fc.record({ type: fc.constant('ingest' as const), e: employee, kinds }) },
  { weight: 3, arbitrary: fc.record({ type: fc.constant('resend' as const), e: employee, pick: fc.nat(), kinds }) },
);
const MAX_COMMANDS = 10;
/** Most runs start with a grant or two, so that later commands have consent to pause, change and revoke. */
const scenario = fc
  .record({ employees: fc.integer({ min: 2, max: 3 }), opening: fc.array(grant, { maxLength: 3 }), rest: fc.array(command, { minLength: 1, maxLength: MAX_COMMANDS }) })
  .map(({ employees, opening, rest }) => ({ employees, commands: [...opening, ...rest].slice(0, MAX_COMMANDS) }));

// ---------------------------------------------------------------------------------------------
// The model of one employee's ledger

interface SentBatch {
  readonly batchId: string;
  /** Completed (something stored): a resend is a duplicate. Otherwise the claim was released. */
  completed: boolean;
  storedScopes: Scope[];
}

interface EmployeeModel {
  readonly id: string;
  status: 'none' | 'active' | 'paused' | 'revoked';
  scopes: Scope[];
  pausedUntil?: number;
  readonly batches: SentBatch[];
}

/** The status as of `now`: a pause whose end has passed is active. */
function effective(m: EmployeeModel, now: number): EmployeeModel['status'] {
  return m.status === 'paused' && m.pausedUntil !== undefined && now >= m.pausedUntil ? 'active' : m.status;
}

function expectedOutcome(m: EmployeeModel, batchKinds: readonly Kind[], now: number): { stored: Scope[]; refused: Record<string, Reason> } {
  const status = effective(m, now);
  const stored: Scope[] = [];
  const refused: Record<string, Reason> = {};
  for (const kind of batchKinds) {
    const scope = SCOPE_OF_EVENT_KIND[kind];
    if (status === 'paused') refused[scope] = 'paused';
    else if (status !== 'active') refused[scope] = 'consent-not-active';
    else if (!m.scopes.includes(scope)) refused[scope] = 'scope-not-consented';
    else stored.push(scope);
  }
  return { stored: stored.sort(), refused };
}

/** Which outcomes the runs reached: a property whose interesting branches never ran proves nothing. */
const coverage = {
  stored: 0,
  storedAfterLapsedPause: 0,
  /** Stored less than a minute after the pause ended (the boundary). */
  storedJustAfterPause: 0,
  paused: 0,
  /** Refused less than a minute before the pause ends. */
  pausedJustBeforeEnd: 0,
  scopeNotConsented: 0,
  consentNotActive: 0,
  duplicate: 0,
  resentAfterRefusal: 0,
  conflicts: 0,
  partial: 0,
};

// ---------------------------------------------------------------------------------------------

let t: TestStack;
let consent: InProcessConsent;
let ingest: InProcessIngest;
let s3: S3Client;
let run = 0;

beforeAll(async () => {
  t = await startTestStack();
  const now = () => t.clock.now();
  consent = inProcessConsent(t, { now });
  ingest = inProcessIngest(t, { now });
  s3 = t.s3('admin');
}, 60_000);

afterAll(async () => {
  consent?.destroy();
  ingest?.destroy();
  await t?.close();
});

async function objectKeys(employeeId: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: LOCAL_RESOURCES.buckets.captures, Prefix: `captures/${employeeId}/`, ContinuationToken: token }));
    for (const o of page.Contents ?? []) keys.push(o.Key ?? '');
    token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
  } while (token !== undefined);
  return keys;
}

/** Scopes stored for one batch, from the object keys `captures/{id}/{scope}/{yyyy}/{mm}/{dd}/{batchId}`. */
async function storedScopes(employeeId: string, batchId: string): Promise<string[]> {
  return (await objectKeys(employeeId)).filter((k) => k.endsWith(`/${batchId}`)).map((k) => k.split('/')[2] ?? '?').sort();
}

async function applyConsent(m: EmployeeModel, cmd: Extract<Command, { e: number }>, log: string[]): Promise<void> {
  const now = t.clock.now().getTime();
  const status = effective(m, now);
  switch (cmd.type) {
    case 'grant': {
      const state = await consent.service.apply(m.id, { type: 'grant', scopes: cmd.scopes, ...NOTICE });
      m.scopes = [...new Set(cmd.scopes)];
      // A grant during a running pause changes the scopes and keeps the pause.
      if (status !== 'paused') {
        m.status = 'active';
        delete m.pausedUntil;
      }
      expectState(m, state);
      return;
    }
    case 'pause': {
      const until = new Date(now + cmd.minutes * MINUTE);
      if (status !== 'active' && status !== 'paused') {
        await expectConflict(consent.service.apply(m.id, { type: 'pause', until }), 'not-consented');
        return;
      }
      const state = await consent.service.apply(m.id, { type: 'pause', until });
      m.status = 'paused';
      m.pausedUntil = until.getTime();
      expectState(m, state);
      return;
    }
    case 'resume': {
      if (status !== 'active' && status !== 'paused') {
        await expectConflict(consent.service.apply(m.id, { type: 'resume' }), 'not-paused');
        return;
      }
      const state = await consent.service.apply(m.id, { type: 'resume' });
      m.status = 'active';
      delete m.pausedUntil;
      expectState(m, state);
      return;
    }
    case 'revoke': {
      const state = await consent.service.apply(m.id, { type: 'revoke', erase: false });
      if (status !== 'none') {
        m.status = 'revoked';
        m.scopes = [];
        delete m.pausedUntil;
      }
      expectState(m, state);
      return;
    }
    default:
      throw new Error(`not a consent command: ${cmd.type}`);
  }

  function expectState(model: EmployeeModel, state: Awaited<ReturnType<typeof consent.service.apply>>): void {
    const at = t.clock.now();
    const seen = effectiveState(state, at);
    expect({ status: seen.status, scopes: [...seen.scopes].sort() }, `state after ${cmd.type} (${log.join(' → ')})`).toEqual({
      status: effective(model, at.getTime()),
      scopes: [...model.scopes].sort(),
    });
  }

  async function expectConflict(attempt: Promise<unknown>, code: string): Promise<void> {
    coverage.conflicts += 1;
    const error = await attempt.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error, `${cmd.type} on status ${status} (${log.join(' → ')})`).toBeInstanceOf(ConflictError);
    expect((error as ConflictError).code).toBe(code);
  }
}

async function attemptIngest(m: EmployeeModel, batchKinds: readonly Kind[], resend: SentBatch | undefined, log: string[]): Promise<void> {
  const now = t.clock.now();
  const batch = captureBatch({ kinds: batchKinds, perKind: PER_KIND, now, batchId: resend?.batchId ?? newBatchId() });
  const before = resend === undefined ? [] : await storedScopes(m.id, batch.batchId);
  const what = `${resend ? 'resend' : 'ingest'} ${batchKinds.join('+')} as ${m.id} at +${Math.round((now.getTime() - Date.now()) / MINUTE)} min (${log.join(' → ')})`;

  // Act
  const response = await ingest.handler(httpEvent({ employeeId: m.id, body: batch, now }));
  const body = JSON.parse(String(response.body)) as Record<string, unknown>;

  // Assert
  if (resend?.completed === true) {
    coverage.duplicate += 1;
    expect({ status: response.statusCode, body }, what).toEqual({ status: 200, body: { batchId: batch.batchId, duplicate: true } });
    expect(await storedScopes(m.id, batch.batchId), `${what}: a duplicate stores nothing new`).toEqual(before);
    return;
  }
  const expected = expectedOutcome(m, batchKinds, now.getTime());
  if (expected.stored.length === 0) {
    expect({ status: response.statusCode, error: body['error'], refused: body['refused'] }, what).toEqual({ status: 403, error: 'capture-not-permitted', refused: expected.refused });
  } else {
    expect({ status: response.statusCode, stored: body['stored'], refused: body['refused'] }, what).toEqual({
      status: 202,
      stored: Object.fromEntries(expected.stored.map((s) => [s, PER_KIND])),
      refused: expected.refused,
    });
  }
  expect(await storedScopes(m.id, batch.batchId), `${what}: objects of this batch`).toEqual(expected.stored);

  const untilEnd = m.pausedUntil === undefined ? undefined : m.pausedUntil - now.getTime();
  for (const reason of Object.values(expected.refused)) {
    if (reason === 'paused') coverage.paused += 1;
    if (reason === 'paused' && untilEnd !== undefined && untilEnd <= MINUTE) coverage.pausedJustBeforeEnd += 1;
    if (reason === 'scope-not-consented') coverage.scopeNotConsented += 1;
    if (reason === 'consent-not-active') coverage.consentNotActive += 1;
  }
  if (expected.stored.length > 0) {
    coverage.stored += 1;
    if (Object.keys(expected.refused).length > 0) coverage.partial += 1;
    if (m.status === 'paused') coverage.storedAfterLapsedPause += 1;
    if (m.status === 'paused' && untilEnd !== undefined && untilEnd > -MINUTE) coverage.storedJustAfterPause += 1;
    if (resend !== undefined) coverage.resentAfterRefusal += 1;
  }
  const sent = resend ?? { batchId: batch.batchId, completed: false, storedScopes: [] };
  sent.completed = expected.stored.length > 0;
  sent.storedScopes = expected.stored;
  if (resend === undefined) m.batches.push(sent);
}

async function runScenario({ employees, commands }: { employees: number; commands: Command[] }): Promise<void> {
  run += 1;
  const models: EmployeeModel[] = Array.from({ length: employees }, (_, i) => ({ id: `m${run}-${i}`, status: 'none', scopes: [], batches: [] }));
  const log: string[] = [];
  try {
    for (const cmd of commands) {
      log.push(JSON.stringify(cmd));
      if (cmd.type === 'advance') {
        t.clock.advance(cmd.minutes * MINUTE);
        continue;
      }
      if (cmd.type === 'lapse') {
        const now = t.clock.now().getTime();
        const [soonest] = models
          .filter((m) => m.status === 'paused' && m.pausedUntil !== undefined && m.pausedUntil > now)
          .sort((a, b) => (a.pausedUntil ?? 0) - (b.pausedUntil ?? 0));
        if (soonest?.pausedUntil === undefined) continue;
        // Whole minutes only (see the top of the file): the first whole minute at or after the end, plus extra.
        const minutes = Math.ceil((soonest.pausedUntil - now) / MINUTE) + cmd.extraMinutes;
        if (minutes > 0) t.clock.advance(minutes * MINUTE);
        const refused = cmd.retry ? soonest.batches.filter((b) => !b.completed).at(-1) : undefined;
        await attemptIngest(soonest, cmd.kinds, refused, log);
        continue;
      }
      const m = models[cmd.e % employees];
      if (m === undefined) throw new Error('unreachable: employee index');
      if (cmd.type === 'ingest') await attemptIngest(m, cmd.kinds, undefined, log);
      else if (cmd.type === 'resend') await attemptIngest(m, cmd.kinds, m.batches.length === 0 ? undefined : m.batches[cmd.pick % m.batches.length], log);
      else await applyConsent(m, cmd, log);
    }
    // Nothing else was written under these employees' prefixes (e.g. under another batchId).
    for (const m of models) {
      const expectedKeys = m.batches.flatMap((b) => b.storedScopes.map((s) => `${s}/${b.batchId}`)).sort();
      // captures/{id}/{scope}/{yyyy}/{mm}/{dd}/{batchId}
      const actual = (await objectKeys(m.id)).map((k) => k.split('/')).map((p) => `${p[2]}/${p[6]}`).sort();
      expect(actual, `every object of ${m.id} (${log.join(' → ')})`).toEqual(expectedKeys);
    }
  } finally {
    t.clock.reset();
  }
}

describe('ingest against a model of the consent ledger (invariant 1)', () => {
  it(`stores a batch's scope iff the model says it was consented and not paused at that moment (${RUNS} runs, seed ${SEED})`, async () => {
    // Arrange
    const started = performance.now();

    // Act + Assert (per command, inside the property)
    await fc.assert(fc.asyncProperty(scenario, runScenario), { numRuns: RUNS, seed: SEED });

    // Assert: the runs reached every branch the property is about
    const elapsed = Math.round(performance.now() - started);
    console.info(`model test: ${RUNS} runs, seed ${SEED}, ${run} scenarios executed, ${elapsed} ms, coverage ${JSON.stringify(coverage)}`);
    expect(coverage.stored).toBeGreaterThan(0);
    expect(coverage.partial).toBeGreaterThan(0);
    expect(coverage.storedAfterLapsedPause).toBeGreaterThan(0);
    expect(coverage.storedJustAfterPause).toBeGreaterThan(0);
    expect(coverage.pausedJustBeforeEnd).toBeGreaterThan(0);
    expect(coverage.paused).toBeGreaterThan(0);
    expect(coverage.scopeNotConsented).toBeGreaterThan(0);
    expect(coverage.consentNotActive).toBeGreaterThan(0);
    expect(coverage.duplicate).toBeGreaterThan(0);
    expect(coverage.resentAfterRefusal).toBeGreaterThan(0);
    expect(coverage.conflicts).toBeGreaterThan(0);
  }, 180_000);

  it('the model itself: a lapsed pause is active, a running one refuses everything as paused', () => {
    // Arrange
    const m: EmployeeModel = { id: 'x', status: 'paused', scopes: ['clicks'], pausedUntil: 1_000, batches: [] };

    // Act
    const during = expectedOutcome(m, ['click', 'keystroke'], 999);
    const after = expectedOutcome(m, ['click', 'keystroke'], 1_000);

    // Assert
    expect(during).toEqual({ stored: [], refused: { clicks: 'paused', keystrokes: 'paused' } });
    expect(after).toEqual({ stored: ['clicks'], refused: { keystrokes: 'scope-not-consented' } });
  });
});
