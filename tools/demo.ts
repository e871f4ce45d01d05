// `npm run demo`: against a running `npm start`, a scripted employee and agent tell the consent
// story step by step: what each call does, what the API answered, and what KMS decided, read
// from the local KMS's CloudTrail-shaped records. It doubles as a smoke test: at the first answer
// that differs from the story it names the step, what was expected and what came back, and exits 1.
// It also exits 1, with "start the local stack first: npm start", when no stack answers.
// LOCAL_DIR points at the stack's state directory (default `.local`).
import '../local/node-version.js';
import { createHash, randomInt, randomUUID } from 'node:crypto';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GenerateDataKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { actorFromRecord } from '../lambdas/shared/consent-state.js';
import { connectToStack, StackNotRunningError, type ApiAnswer, type DemoStack } from './demo-stack.js';
import {
  columns,
  DEMO_USER_AGENT,
  isDemoCall,
  keyArnByAlias,
  keyCreatedFor,
  outcomeOf,
  principalOf,
  scopeOf,
  touchesKey,
  TrailReader,
  trailDirOf,
  type TrailRecord,
} from './demo-trail.js';

process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] = 'true';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** How long a record the story needs may lag behind the answer it belongs to. */
const TRAIL_WAIT_MS = 2_000;
const CONSENTED = ['keystrokes', 'clicks'] as const;
const NOTICE_VERSION = 'demo-v1';
const NOTICE_TEXT =
  'With your consent we record your keystrokes and clicks in work apps to train our assistant. ' +
  'Emails, card numbers and secrets are masked before anything is stored, and everything is ' +
  'encrypted under a key of your own. You can pause or withdraw at any time.';
const SENSITIVE_TEXT = 'mail me at jane.doe@example.com, card 4111 1111 1111 1111';

// ---- output ------------------------------------------------------------------------------------

/** The actor of a history event, short: `employee demo-1`, `hr hr.admin@corp.example`, `purge-worker`. */
function whoActed(raw: unknown, employeeId: string): string {
  const actor = actorFromRecord(raw, employeeId);
  return actor.kind === 'service' ? actor.name : `${actor.kind} ${actor.subject ?? '(not recorded)'}`;
}

function painter(stream: NodeJS.WriteStream): (code: string) => (text: string) => string {
  const enabled = stream.isTTY === true && (process.env['NO_COLOR'] ?? '') === '';
  return (code) => (text) => (enabled ? `\x1b[${code}m${text}\x1b[0m` : text);
}
const paint = painter(process.stdout);
const bold = paint('1');
const dim = paint('2');
const green = paint('32');
const yellow = paint('33');
const cyan = paint('36');
const errPaint = painter(process.stderr);

function out(line = ''): void {
  process.stdout.write(`${line}\n`);
}

/** `{a: 1, b: [x, y]}` without JSON's quotes, for one-line answers; keys sorted, as the API's per-scope maps have no order. */
function brief(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(brief).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value).sort(([a], [b]) => a.localeCompare(b));
    return `{${entries.map(([k, v]) => `${k}:${brief(v)}`).join(', ')}}`;
  }
  // A SHA-256 in full adds nothing to a one-line answer.
  if (typeof value === 'string' && /^[0-9a-f]{64}$/.test(value)) return `${value.slice(0, 12)}…`;
  return String(value);
}

function statusText(status: number): string {
  const text = String(status);
  return status < 300 ? green(text) : status < 500 ? yellow(text) : errPaint('31')(text);
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  return line === '' ? lines : [...lines, line];
}

// ---- the story's bookkeeping -------------------------------------------------------------------

class StoryMismatchError extends Error {
  override readonly name = 'StoryMismatchError';
  constructor(
    readonly step: number,
    readonly title: string,
    readonly expected: string,
    readonly got: string,
  ) {
    super(`step ${step} (${title}): expected ${expected}, got ${got}`);
  }
}

/** Sorted keys and sorted arrays: the story compares scopes and counts, never their order. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).sort().join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${k}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'undefined';
}

interface KeyRecord {
  readonly record: TrailRecord;
  readonly step: number;
}

class Story {
  private number = 0;
  private title = '';
  private pending: TrailRecord[] = [];
  keyArn: string | undefined;
  readonly keyRecords: KeyRecord[] = [];

  constructor(readonly trail: TrailReader) {}

  get step(): number {
    return this.number;
  }

  begin(title: string): void {
    this.number += 1;
    this.title = title;
    out();
    out(bold(`${String(this.number).padStart(2)}. ${title}`));
  }

  /** An indented line of what the system answered (or what we sent). */
  say(line: string): void {
    out(`    ${line}`);
  }

  expect(holds: boolean, expected: string, got: string): void {
    if (!holds) throw new StoryMismatchError(this.number, this.title, expected, got);
  }

  /** Prints the call and its answer, and checks the status and the named body fields. */
  answer(call: string, answer: ApiAnswer, status: number, fields: Record<string, unknown>, note = ''): void {
    const shown = Object.keys(fields).filter((k) => k in answer.body);
    const body = answer.status === status ? shown.map((k) => `${k}=${brief(answer.body[k])}`).join(' ') : brief(answer.body);
    this.say(`${call} → ${statusText(answer.status)} ${body}${note === '' ? '' : dim(`  ${note}`)}`);
    const holds = answer.status === status && Object.entries(fields).every(([k, v]) => canonical(answer.body[k]) === canonical(v));
    const expected = `${status} with ${Object.entries(fields).map(([k, v]) => `${k}=${brief(v)}`).join(' ')}`;
    this.expect(holds, expected, `${answer.status} ${brief(answer.body).slice(0, 400)}`);
  }

  /**
   * Reads the trail records this step added about the employee's key, and prints one line each.
   * The local KMS answers a call before it appends the call's record, so a caller in another
   * process can get ahead of the file: records the step must have are waited for, briefly.
   */
  async kms(ifNone: string, complete: (records: readonly TrailRecord[]) => boolean = () => true): Promise<TrailRecord[]> {
    const keyArn = this.keyArn;
    if (keyArn === undefined) return [];
    const deadline = Date.now() + TRAIL_WAIT_MS;
    const mine: TrailRecord[] = [];
    for (;;) {
      this.pending.push(...this.trail.readNew());
      mine.push(...this.pending.filter((r) => touchesKey(r, keyArn)));
      this.pending = [];
      if (complete(mine) || Date.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    for (const record of mine) {
      this.keyRecords.push({ record, step: this.number });
      const scope = scopeOf(record);
      const outcome = outcomeOf(record);
      const who = `${principalOf(record)}${isDemoCall(record) ? ' (the demo, signing as this role)' : ''}`;
      this.say(`${cyan('KMS')} ${record.eventName} by ${who}${scope === undefined ? '' : `, scope ${scope}`} → ${outcome === 'allowed' ? green(outcome) : yellow(outcome)}`);
    }
    if (mine.length === 0) this.say(`${cyan('KMS')} ${dim(ifNone)}`);
    return mine;
  }

  /** Takes the records read so far (before the key was known), for finding the key in them. */
  peek(): readonly TrailRecord[] {
    this.pending.push(...this.trail.readNew());
    return this.pending;
  }
}

const isDataKey = (r: TrailRecord): boolean => r.eventName.startsWith('GenerateDataKey');
const allowedDataKeys = (records: readonly TrailRecord[]): TrailRecord[] => records.filter((r) => isDataKey(r) && r.errorCode === undefined);
const allowed = (records: readonly TrailRecord[], eventName: string, principal: string): boolean =>
  records.some((r) => r.eventName === eventName && r.errorCode === undefined && principalOf(r) === principal);
const listed = (records: readonly TrailRecord[]): string => (records.length === 0 ? 'no record' : records.map((r) => `${r.eventName} ${outcomeOf(r)}`).join(', '));

// ---- the story ---------------------------------------------------------------------------------

function randomSuffix(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return Array.from({ length: 6 }, () => alphabet[randomInt(alphabet.length)]).join('');
}

function newBatchId(): string {
  return `b-${randomUUID()}`;
}

type Batch = { batchId: string; deviceId: string; events: Record<string, unknown>[] };

function batchOf(events: Record<string, unknown>[]): Batch {
  return { batchId: newBatchId(), deviceId: 'laptop-demo', events };
}

function describeBatch(batch: Batch): string {
  const counts = new Map<string, number>();
  for (const e of batch.events) counts.set(String(e['kind']), (counts.get(String(e['kind'])) ?? 0) + 1);
  const named = (kind: string, n: number) => (kind === 'app-focus' ? `${n} app-focus event${n === 1 ? '' : 's'}` : `${n} ${kind}${n === 1 ? '' : 's'}`);
  return `batch ${batch.batchId}: ${[...counts].map(([kind, n]) => named(kind, n)).join(', ')}`;
}

async function tellStory(stack: DemoStack, trailDir: string): Promise<void> {
  const started = Date.now();
  const employeeId = `demo-${randomSuffix()}`;
  const story = new Story(new TrailReader(trailDir));
  const manage = await stack.token(employeeId, 'consent:manage');
  const agent = await stack.token(employeeId, 'capture:write');
  const kms = new KMSClient({
    endpoint: stack.file.endpoints.kms,
    region: stack.file.region,
    credentials: { accessKeyId: stack.file.principals.ingest.accessKeyId, secretAccessKey: stack.file.principals.ingest.secretAccessKey },
    maxAttempts: 1,
    customUserAgent: DEMO_USER_AGENT,
  });
  const ingestRole = stack.file.principals.ingest.arn.split('/').pop() ?? 'ingest';
  // Keys are written by the key steward's role; the consent function the employee calls has no KMS access.
  const stewardRole = stack.file.principals.steward.arn.split('/').pop() ?? 'steward';

  /** Not what the agent does: the demo signs as the ingest role and asks KMS itself, to show the key refuses too. */
  async function crossCheck(scope: string): Promise<void> {
    story.say(dim(`cross-check: the demo signs as ${ingestRole} and asks KMS itself for a data key, scope ${scope}`));
    let outcome = 'allowed';
    let requestId: string | undefined;
    try {
      const answer = await kms.send(
        new GenerateDataKeyCommand({ KeyId: story.keyArn, KeySpec: 'AES_256', EncryptionContext: { employeeId, scope, batchId: `probe-${randomSuffix()}` } }),
      );
      requestId = answer.$metadata.requestId;
    } catch (error) {
      outcome = error instanceof Error ? error.name : String(error);
      requestId = (error as { $metadata?: { requestId?: string } }).$metadata?.requestId;
    }
    await story.kms(`no record of the cross-check in ${trailDir}`, (records) => records.some((r) => r.requestID === requestId));
    story.expect(outcome === 'AccessDeniedException', 'KMS to refuse the data key with AccessDeniedException', outcome);
  }

  function expectNoDataKeys(records: readonly TrailRecord[]): void {
    const issued = allowedDataKeys(records);
    story.expect(issued.length === 0, 'no data key issued', `${issued.length} GenerateDataKey allowed (${issued.map(scopeOf).join(', ')})`);
  }

  const missingDataKeys = (records: readonly TrailRecord[]): string[] => {
    const issued = allowedDataKeys(records).filter((r) => principalOf(r) === ingestRole);
    return CONSENTED.filter((s) => !issued.some((r) => scopeOf(r) === s));
  };

  /** The ingest role got a data key for each consented scope. */
  async function expectDataKeys(ifNone: string): Promise<void> {
    const records = await story.kms(ifNone, (r) => missingDataKeys(r).length === 0);
    const missing = missingDataKeys(records);
    story.expect(missing.length === 0, `GenerateDataKey allowed for ${ingestRole}, scopes ${CONSENTED.join(', ')}`, `no allowed data key for ${missing.join(', ')} (${listed(records)})`);
  }

  async function expectPolicyWrite(): Promise<void> {
    const records = await story.kms('no key policy change recorded', (r) => allowed(r, 'PutKeyPolicy', stewardRole));
    story.expect(allowed(records, 'PutKeyPolicy', stewardRole), `an allowed PutKeyPolicy by ${stewardRole}`, listed(records));
  }

  out(bold(`consent-capture demo: employee ${employeeId}, API ${stack.file.api}`));
  out(dim(`the employee calls with a consent:manage token, the agent with a capture:write token (local issuer); KMS records from ${trailDir}`));

  // 1. Opt-in, per scope, against a notice whose hash the ledger keeps.
  story.begin(`${employeeId} reads a short notice and consents to ${CONSENTED.join(' and ')}`);
  const noticeSha256 = createHash('sha256').update(NOTICE_TEXT, 'utf8').digest('hex');
  story.say(`notice ${NOTICE_VERSION}:`);
  for (const line of wrap(`"${NOTICE_TEXT}"`, 88)) story.say(dim(`  ${line}`));
  story.say(`sha256 of the notice: ${noticeSha256}`);
  const granted = await stack.call('POST', '/v1/consent', manage, { scopes: CONSENTED, noticeVersion: NOTICE_VERSION, noticeSha256 });
  story.answer('POST /v1/consent', granted, 200, { status: 'active', scopes: CONSENTED, noticeSha256 });
  const byAlias = await keyArnByAlias(stack.file, employeeId);
  story.keyArn = byAlias ?? keyCreatedFor(story.peek(), employeeId);
  story.expect(story.keyArn !== undefined, `a key behind alias/consent-capture/${employeeId}`, 'no such alias and no CreateKey record tagged with the employee');
  story.say(`the employee's own key: ${story.keyArn} ${dim(byAlias === undefined ? '(from the CreateKey record tagged with the employee)' : '(found with kms:ListAliases, as the auditor)')}`);
  const created = await story.kms(`no record names the key in ${trailDir}`, (r) => allowed(r, 'CreateKey', stewardRole) && allowed(r, 'PutKeyPolicy', stewardRole));
  story.expect(allowed(created, 'CreateKey', stewardRole), `an allowed CreateKey by ${stewardRole} in the trail`, listed(created));

  // 2. The agent polls, then captures; redaction happens before encryption.
  story.begin('the agent checks consent, then sends keystrokes and clicks, one with an email and a card number');
  const polled = await stack.call('GET', '/v1/consent', agent);
  story.answer('GET /v1/consent', polled, 200, { status: 'active', scopes: CONSENTED }, 'the agent may capture these scopes');
  // Consent is judged at event time too, so the agent's events are dated after the consent.
  const now = Date.now() + 5_000;
  const first = batchOf([
    { kind: 'keystroke', ts: now - 5_000, text: 'Meeting notes: ship the Q3 plan on Friday', app: 'editor' },
    { kind: 'keystroke', ts: now - 4_000, text: SENSITIVE_TEXT, app: 'browser' },
    { kind: 'keystroke', ts: new Date(now - 3_000).toISOString(), text: 'thanks, see you there', app: 'chat' },
    { kind: 'click', ts: now - 2_000, x: 640, y: 380, button: 'left', app: 'editor' },
    { kind: 'click', ts: now - 1_000, x: 12, y: 700, button: 'right', app: 'browser' },
  ]);
  story.say(dim(`${describeBatch(first)}; one text reads "${SENSITIVE_TEXT}"`));
  const stored = await stack.call('POST', '/v1/events', agent, first);
  story.answer('POST /v1/events', stored, 202, { batchId: first.batchId, stored: { keystrokes: 3, clicks: 2 }, refused: {}, redacted: 2 }, 'the email and the card were masked before encryption');
  await expectDataKeys(`no record names the key in ${trailDir}`);

  // 3. A scope nobody consented to.
  story.begin('the agent sends app-focus events, a scope the employee did not consent to');
  const focus = batchOf([
    { kind: 'app-focus', ts: now - 2_000, app: 'mail', title: 'Inbox (3)' },
    { kind: 'app-focus', ts: now - 1_000, app: 'editor', title: 'Q3 plan.md' },
  ]);
  story.say(dim(describeBatch(focus)));
  const unconsented = await stack.call('POST', '/v1/events', agent, focus);
  story.answer('POST /v1/events', unconsented, 403, { error: 'capture-not-permitted', refused: { 'app-focus': 'scope-not-consented' } });
  expectNoDataKeys(await story.kms('not asked: ingest refused from the consent ledger, before asking for a data key'));
  await crossCheck('app-focus');

  // 4-7. Pause (any length, lapsing inside KMS), capture refused, resume, the same batch stored.
  story.begin('the employee pauses capture for 15 minutes');
  const pauseStep = story.step;
  const paused = await stack.call('POST', '/v1/consent/pause', manage, { minutes: 15 });
  story.answer('POST /v1/consent/pause', paused, 200, { status: 'paused' });
  const until = Date.parse(String(paused.body['pausedUntil']));
  story.expect(Math.abs(until - (Date.now() + 15 * 60_000)) < 60_000, 'pausedUntil about 15 minutes from now', String(paused.body['pausedUntil']));
  story.say(`pausedUntil=${String(paused.body['pausedUntil'])} ${dim('(the key policy now denies data keys to the ingest role until then; the Deny lapses by itself)')}`);
  await expectPolicyWrite();

  story.begin('the agent sends a batch during the pause: two events from before it, one typed during it');
  const pausedAt = Date.parse(String(paused.body['updatedAt']));
  const pausedBatch = batchOf([
    { kind: 'keystroke', ts: pausedAt - 2, text: 'typed before the pause', app: 'editor' },
    { kind: 'click', ts: pausedAt - 1, x: 300, y: 200, button: 'left', app: 'editor' },
    { kind: 'keystroke', ts: pausedAt + 1, text: 'typed during the pause', app: 'editor' },
  ]);
  story.say(dim(describeBatch(pausedBatch)));
  const duringPause = await stack.call('POST', '/v1/events', agent, pausedBatch);
  story.answer('POST /v1/events', duringPause, 403, { error: 'capture-not-permitted', refused: { keystrokes: 'paused', clicks: 'paused' } }, 'nothing stored; the agent keeps the batch');
  expectNoDataKeys(await story.kms('not asked: ingest saw the pause in the consent ledger first'));
  await crossCheck('clicks');

  story.begin('the employee resumes capture');
  const resumeStep = story.step;
  const resumed = await stack.call('POST', '/v1/consent/resume', manage);
  story.answer('POST /v1/consent/resume', resumed, 200, { status: 'active', scopes: CONSENTED }, 'the key policy drops its Deny');
  await expectPolicyWrite();

  story.begin(`the agent sends the paused batch again, same batchId ${pausedBatch.batchId}`);
  const afterResume = await stack.call('POST', '/v1/events', agent, pausedBatch);
  story.answer(
    'POST /v1/events',
    afterResume,
    202,
    { batchId: pausedBatch.batchId, stored: { keystrokes: 1, clicks: 1 }, refused: { keystrokes: { outsideConsent: 1 } } },
    'the keystroke typed during the pause is dropped for good: consent is judged at event time too',
  );
  await expectDataKeys(`no record names the key in ${trailDir}`);

  // 8. Idempotency: the agent never saw that 202 (say the network dropped it) and retries.
  story.begin('the agent never saw that answer and retries the same batch once more');
  const retried = await stack.call('POST', '/v1/events', agent, pausedBatch);
  story.answer('POST /v1/events', retried, 200, { batchId: pausedBatch.batchId, duplicate: true }, 'already stored: nothing is stored twice');
  expectNoDataKeys(await story.kms('not asked: the batch was already stored'));

  // 9-10. Withdrawal is one call; the key is kept so the employee can still export.
  story.begin('the employee withdraws consent (erase: false, so the data stays exportable)');
  const revokeStep = story.step;
  const revoked = await stack.call('POST', '/v1/consent/revoke', manage, { erase: false });
  story.answer('POST /v1/consent/revoke', revoked, 200, { status: 'revoked' }, 'the key policy no longer lets the ingest role get data keys; the key stays');
  await expectPolicyWrite();

  story.begin('the agent sends a batch after the withdrawal');
  const late = batchOf([
    { kind: 'keystroke', ts: Date.now() - 1_000, text: 'typed after withdrawing', app: 'editor' },
    { kind: 'click', ts: Date.now() - 500, x: 10, y: 10, button: 'left', app: 'editor' },
  ]);
  story.say(dim(describeBatch(late)));
  const afterRevoke = await stack.call('POST', '/v1/events', agent, late);
  story.answer('POST /v1/events', afterRevoke, 403, { error: 'capture-not-permitted', refused: { keystrokes: 'consent-not-active', clicks: 'consent-not-active' } });
  expectNoDataKeys(await story.kms('not asked: ingest saw the withdrawal in the consent ledger first'));
  await crossCheck('keystrokes');

  // 11. The compliance view: everything that named the key, from the trail alone.
  story.begin(`who touched ${employeeId}'s key, when, and was it allowed? (CloudTrail records that name the key)`);
  const stepsOf = (first: number, last: number) => story.keyRecords.filter((k) => k.step >= first && k.step <= last).map((k) => k.record);
  const rows = [
    ['time', 'principal', 'event', 'scope', 'outcome', 'step'],
    ...story.keyRecords.map(({ record, step }) => [
      record.eventTime,
      principalOf(record),
      record.eventName,
      scopeOf(record) ?? '-',
      outcomeOf(record),
      `${step}${isDemoCall(record) ? ' (demo cross-check)' : ''}`,
    ]),
  ];
  const outcomeColumn = 4;
  for (const line of columns(rows, (cell, row, column) => (row === 0 ? bold(cell) : column === outcomeColumn ? (cell.startsWith('allowed') ? green(cell) : yellow(cell)) : cell))) {
    story.say(line);
  }
  const records = story.keyRecords.map((k) => k.record);
  const issued = allowedDataKeys(records);
  const denied = records.filter((r) => r.errorCode !== undefined);
  const principals = [...new Set(records.map(principalOf))];
  const keysDuringPause = allowedDataKeys(stepsOf(pauseStep, resumeStep - 1));
  const afterWithdrawal = allowedDataKeys(stepsOf(revokeStep, story.step));
  story.say(`data keys issued: ${issued.length}, to ${[...new Set(issued.map(principalOf))].join(', ') || 'nobody'}, for ${[...new Set(issued.map((r) => scopeOf(r) ?? '-'))].join(', ') || 'no scope'}`);
  story.say(`data keys issued during the pause: ${keysDuringPause.length}; after the withdrawal: ${afterWithdrawal.length}`);
  story.say(`refused by KMS: ${denied.length} (${[...new Set(denied.map(outcomeOf))].join(', ') || 'none'}); principals that touched the key: ${principals.join(', ')}`);
  const strays = issued.filter((r) => principalOf(r) !== ingestRole || !(CONSENTED as readonly string[]).includes(scopeOf(r) ?? ''));
  story.expect(strays.length === 0, `data keys only for ${ingestRole} and scopes ${CONSENTED.join(', ')}`, strays.map((r) => `${principalOf(r)} ${scopeOf(r) ?? '-'}`).join('; '));
  story.expect(keysDuringPause.length === 0 && afterWithdrawal.length === 0, 'no data key during the pause or after the withdrawal', `${keysDuringPause.length} during the pause, ${afterWithdrawal.length} after the withdrawal`);

  // 12. The employee's own record of what they decided, and when.
  story.begin('the employee reads their consent history');
  const history = await stack.call('GET', '/v1/consent/history', manage);
  const events = Array.isArray(history.body['events']) ? (history.body['events'] as Record<string, unknown>[]) : [];
  story.say(`GET /v1/consent/history → ${statusText(history.status)} ${events.length} events`);
  const historyRows = events.map((e) => {
    const state = (typeof e['state'] === 'object' && e['state'] !== null ? e['state'] : {}) as Record<string, unknown>;
    const scopes = Array.isArray(state['scopes']) ? (state['scopes'] as unknown[]).join(',') : '';
    const extra = state['pausedUntil'] === undefined ? (e['kind'] === 'granted' ? `notice ${String(state['noticeVersion'])}` : '') : `until ${String(state['pausedUntil'])}`;
    return [`#${String(e['sequence'])}`, String(e['at']), String(e['kind']), `by ${whoActed(e['actor'], String(state['employeeId']))}`, `→ ${String(state['status'])}`, scopes, extra];
  });
  for (const line of columns(historyRows)) story.say(line);
  const kinds = events.map((e) => String(e['kind']));
  const expectedKinds = ['granted', 'paused', 'resumed', 'revoked'];
  story.expect(history.status === 200 && kinds.join(',') === expectedKinds.join(','), `200 with events ${expectedKinds.join(', ')}`, `${history.status} with ${kinds.join(', ') || 'no events'}`);

  kms.destroy();
  out();
  out(green(`✓ the story held: ${story.step} steps, every answer as expected (${((Date.now() - started) / 1000).toFixed(1)} s)`));
}

// ---- entry -------------------------------------------------------------------------------------

const localDir = resolve(process.env['LOCAL_DIR'] ?? '.local');
const red = errPaint('31');
try {
  const stack = await connectToStack(localDir);
  await tellStory(stack, trailDirOf(stack.file, localDir, REPO_ROOT));
} catch (error) {
  if (error instanceof StackNotRunningError) {
    process.stderr.write(`demo: ${error.message}\n${red('start the local stack first: npm start')}\n`);
  } else if (error instanceof StoryMismatchError) {
    process.stderr.write(`\n${red(`✗ step ${error.step} (${error.title}) did not go as the story expects`)}\n  expected: ${error.expected}\n  got:      ${error.got}\n`);
  } else {
    process.stderr.write(`\n${red(`✗ the demo failed: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`)}\n`);
  }
  process.exit(1);
}
