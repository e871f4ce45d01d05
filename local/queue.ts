// A small SQS-compatible queue for the local stack: it accepts SendMessage, SendMessageBatch,
// GetQueueUrl and GetQueueAttributes over AWS JSON 1.0 (what @aws-sdk/client-sqs 3.x speaks),
// authenticated with SigV4 as the local principals and authorized with IAM (identity policies and
// the queue policy) on the queue's ARN, and delivers messages at least once to a
// consumer as Lambda's SQS event source does: batches of up to 10, partial batch failures,
// retries with backoff, and a dead-letter file after maxReceiveCount receives.
// Pending messages are journalled to `.local/queues/<queue>.jsonl` and redelivered after a restart.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { SQSBatchResponse, SQSEvent, SQSMessageAttributes, SQSRecord } from 'aws-lambda';
import { authorizeAccess, deniedMessage, PrincipalDirectory, requestContext } from './iam/authorizer.js';
import { systemClock, type Clock } from './kms/clock.js';
import { KmsException } from './kms/errors.js';
import type { PolicyDocument } from './kms/policy-evaluator.js';
import { SigV4Error, verifySigV4 } from './kms/sigv4.js';
import type { LocalIdentity, LocalPrincipal, PrincipalName } from './principals.js';
import { keepIdleConnections } from './keep-alive.js';

export interface QueueDefinition {
  readonly name: string;
  /** The queue policy, evaluated with the callers' identity policies. @default - none */
  readonly policy?: PolicyDocument;
  /** @default 10 - Lambda's default for SQS event sources */
  readonly batchSize?: number;
  /** Receives before a message goes to the dead-letter file. @default 5 */
  readonly maxReceiveCount?: number;
  /** Batches delivered at the same time. @default 2 */
  readonly maxConcurrentBatches?: number;
  /** Delay before a failed message is delivered again. @default - 1 s doubling per receive, at most 60 s */
  readonly retryDelayMs?: (receiveCount: number) => number;
}

/** Lambda's contract: return nothing (all succeeded), or the ids that failed; a throw fails the batch. */
export type QueueConsumer = (event: SQSEvent) => Promise<SQSBatchResponse | void | unknown>;

export interface LocalQueueOptions {
  /** Journal directory, e.g. `.local/queues`. */
  readonly queuesDir: string;
  /** Dead-letter directory, e.g. `.local/dlq`. */
  readonly dlqDir: string;
  readonly identity: LocalIdentity;
  readonly queues: readonly QueueDefinition[];
  /** For aws:CurrentTime. @default - the system clock */
  readonly clock?: Clock;
  /** @default 0 - any free port */
  readonly port?: number;
  /** How long close() waits for batches being processed. @default 10_000 */
  readonly drainTimeoutMs?: number;
  /** One-line notes about deliveries that failed (ids and counts only). @default - stderr */
  readonly onNote?: (message: string) => void;
}

export interface QueueStats {
  /** Messages waiting for delivery, including those waiting out a retry delay. */
  readonly pending: number;
  readonly inFlight: number;
  /** Messages moved to the dead-letter file since start. */
  readonly deadLettered: number;
  readonly delivered: number;
}

export interface DeadLetter {
  readonly messageId: string;
  readonly body: string;
  readonly receiveCount: number;
  readonly sentTimestamp: number;
  readonly movedAt: string;
  readonly lastError: string;
}

export interface LocalQueues {
  /** The SQS endpoint (AWS_ENDPOINT_URL_SQS). */
  readonly url: string;
  queueUrl(name: string): string;
  queueArn(name: string): string;
  /**
   * Starts delivering the queue's messages, including those left from an earlier run, to a
   * function running as `role`. Throws, as creating Lambda's event source mapping fails, when that
   * role may not receive, delete and read the attributes of the queue's messages.
   */
  consume(name: string, consumer: QueueConsumer, role: PrincipalName): void;
  /**
   * Enqueues a message as an AWS service would (an EventBridge rule target), past IAM: in AWS the
   * queue's policy admits that service for that rule. `service` is the sender id, e.g. `events.amazonaws.com`.
   */
  sendAsService(name: string, body: string, service: string): void;
  stats(name: string): QueueStats;
  /** Resolves once the queue holds no message (all delivered or dead-lettered); rejects after the deadline. */
  idle(name: string, timeoutMs?: number): Promise<void>;
  deadLetters(name: string): DeadLetter[];
  close(): Promise<void>;
}

/** SQS's limit on a message, and on the sum of a batch's messages. */
export const MAX_MESSAGE_BYTES = 262_144;
const MAX_REQUEST_BYTES = 1024 * 1024;
const TARGET_PREFIX = 'AmazonSQS.';

class SqsError extends Error {
  constructor(
    /** Shape id in `__type`, e.g. `com.amazonaws.sqs#QueueDoesNotExist`. */
    readonly type: string,
    /** The awsQuery error code the SDK exposes as `Code` (x-amzn-query-error). */
    readonly queryCode: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

const invalidParameter = (message: string): SqsError => new SqsError('com.amazonaws.sqs#InvalidParameterValue', 'InvalidParameterValue', message);
const queueDoesNotExist = (): SqsError =>
  new SqsError('com.amazonaws.sqs#QueueDoesNotExist', 'AWS.SimpleQueueService.NonExistentQueue', 'The specified queue does not exist.');

/** Authentication failures as SQS reports them, from the shared SigV4 verifier's KMS-named exceptions. */
function authError(error: KmsException): SqsError {
  const map: Partial<Record<string, [string, number]>> = {
    MissingAuthenticationTokenException: ['MissingAuthenticationToken', 403],
    IncompleteSignatureException: ['IncompleteSignature', 400],
    InvalidSignatureException: ['SignatureDoesNotMatch', 403],
    UnrecognizedClientException: ['InvalidClientTokenId', 403],
  };
  const [code, status] = map[error.type] ?? ['InvalidClientTokenId', 403];
  return new SqsError(`com.amazon.coral.service#${error.type}`, code, error.message, status);
}

// ---- Message shape and journal -------------------------------------------------------------

interface AttributeValue {
  readonly DataType: string;
  readonly StringValue?: string;
  readonly BinaryValue?: string;
}

interface StoredMessage {
  readonly id: string;
  readonly body: string;
  readonly md5OfBody: string;
  readonly sentTimestamp: number;
  readonly senderId: string;
  readonly attributes?: Readonly<Record<string, AttributeValue>>;
  readonly md5OfAttributes?: string;
  receiveCount: number;
  firstReceiveTimestamp?: number;
  visibleAt: number;
  inFlight: boolean;
  lastError?: string;
}

type JournalEntry =
  | { op: 'sent'; message: Omit<StoredMessage, 'receiveCount' | 'inFlight' | 'firstReceiveTimestamp' | 'lastError'> }
  | { op: 'received'; id: string; receiveCount: number; firstReceiveTimestamp: number }
  | { op: 'deleted'; id: string };

const md5 = (data: Buffer | string): string => createHash('md5').update(data).digest('hex');

/** SQS's MD5OfMessageAttributes: names sorted, each field length-prefixed (big-endian uint32). */
function md5OfAttributes(attributes: Readonly<Record<string, AttributeValue>>): string {
  const hash = createHash('md5');
  const field = (bytes: Buffer): void => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    hash.update(length).update(bytes);
  };
  for (const name of Object.keys(attributes).sort()) {
    const value = attributes[name];
    if (value === undefined) continue;
    field(Buffer.from(name, 'utf8'));
    field(Buffer.from(value.DataType, 'utf8'));
    if (value.BinaryValue !== undefined) {
      hash.update(Buffer.from([2]));
      field(Buffer.from(value.BinaryValue, 'base64'));
    } else {
      hash.update(Buffer.from([1]));
      field(Buffer.from(value.StringValue ?? '', 'utf8'));
    }
  }
  return hash.digest('hex');
}

class QueueJournal {
  constructor(private readonly file: string) {}

  /** Replays the journal into the live messages, then rewrites it with only those. */
  load(): StoredMessage[] {
    const live = new Map<string, StoredMessage>();
    if (existsSync(this.file)) {
      for (const line of readFileSync(this.file, 'utf8').split('\n')) {
        if (line.trim() === '') continue;
        let entry: JournalEntry;
        try {
          entry = JSON.parse(line) as JournalEntry;
        } catch {
          continue; // a line torn by a crash mid-write; everything before it is intact
        }
        if (entry.op === 'sent') live.set(entry.message.id, { ...entry.message, receiveCount: 0, inFlight: false });
        else if (entry.op === 'received') {
          const message = live.get(entry.id);
          if (message) Object.assign(message, { receiveCount: entry.receiveCount, firstReceiveTimestamp: entry.firstReceiveTimestamp });
        } else live.delete(entry.id);
      }
    }
    const messages = [...live.values()];
    const now = Date.now();
    const lines = messages.flatMap((m): JournalEntry[] => {
      // Visibility does not survive a restart: whatever was in flight is delivered again.
      m.visibleAt = Math.max(now, m.visibleAt);
      const sent: JournalEntry = {
        op: 'sent',
        message: {
          id: m.id,
          body: m.body,
          md5OfBody: m.md5OfBody,
          sentTimestamp: m.sentTimestamp,
          senderId: m.senderId,
          visibleAt: m.visibleAt,
          ...(m.attributes === undefined ? {} : { attributes: m.attributes, md5OfAttributes: m.md5OfAttributes }),
        },
      };
      return m.firstReceiveTimestamp === undefined
        ? [sent]
        : [sent, { op: 'received', id: m.id, receiveCount: m.receiveCount, firstReceiveTimestamp: m.firstReceiveTimestamp }];
    });
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, lines.map((l) => `${JSON.stringify(l)}\n`).join(''), { mode: 0o600 });
    renameSync(tmp, this.file);
    return messages;
  }

  append(entry: JournalEntry): void {
    appendFileSync(this.file, `${JSON.stringify(entry)}\n`, { mode: 0o600 });
  }
}

// ---- Delivery --------------------------------------------------------------------------------

class Queue {
  readonly arn: string;
  private readonly messages = new Map<string, StoredMessage>();
  private readonly journal: QueueJournal;
  private consumer: QueueConsumer | undefined;
  private timer: NodeJS.Timeout | undefined;
  private pumpScheduled = false;
  private running = 0;
  private stopped = false;
  private detached = false;
  private readonly batches = new Set<Promise<void>>();
  private readonly watchers = new Set<() => void>();
  deadLettered = 0;
  delivered = 0;

  constructor(
    readonly definition: QueueDefinition,
    private readonly identity: LocalIdentity,
    queuesDir: string,
    private readonly dlqFile: string,
    private readonly note: (message: string) => void,
  ) {
    this.arn = `arn:aws:sqs:${identity.region}:${identity.account}:${definition.name}`;
    this.journal = new QueueJournal(join(queuesDir, `${definition.name}.jsonl`));
    for (const message of this.journal.load()) this.messages.set(message.id, message);
  }

  get batchSize(): number {
    return this.definition.batchSize ?? 10;
  }

  stats(): QueueStats {
    let inFlight = 0;
    for (const m of this.messages.values()) if (m.inFlight) inFlight += 1;
    return { pending: this.messages.size - inFlight, inFlight, deadLettered: this.deadLettered, delivered: this.delivered };
  }

  send(input: { body: string; senderId: string; delaySeconds: number; attributes?: Record<string, AttributeValue> }): StoredMessage {
    const now = Date.now();
    const message: StoredMessage = {
      id: randomUUID(),
      body: input.body,
      md5OfBody: md5(Buffer.from(input.body, 'utf8')),
      sentTimestamp: now,
      senderId: input.senderId,
      visibleAt: now + input.delaySeconds * 1000,
      receiveCount: 0,
      inFlight: false,
      ...(input.attributes === undefined ? {} : { attributes: input.attributes, md5OfAttributes: md5OfAttributes(input.attributes) }),
    };
    // Journalled before the sender gets its MessageId: an acknowledged message survives a crash.
    this.journal.append({
      op: 'sent',
      message: {
        id: message.id,
        body: message.body,
        md5OfBody: message.md5OfBody,
        sentTimestamp: message.sentTimestamp,
        senderId: message.senderId,
        visibleAt: message.visibleAt,
        ...(message.attributes === undefined ? {} : { attributes: message.attributes, md5OfAttributes: message.md5OfAttributes }),
      },
    });
    this.messages.set(message.id, message);
    this.schedulePump();
    return message;
  }

  consume(consumer: QueueConsumer): void {
    this.consumer = consumer;
    this.schedulePump();
  }

  idle(timeoutMs: number): Promise<void> {
    if (this.messages.size === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const check = (): void => {
        if (this.messages.size !== 0) return;
        clearTimeout(timer);
        this.watchers.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.watchers.delete(check);
        const s = this.stats();
        reject(new Error(`queue ${this.definition.name} not idle after ${timeoutMs} ms: ${s.pending} pending, ${s.inFlight} in flight`));
      }, timeoutMs);
      this.watchers.add(check);
    });
  }

  deadLetters(): DeadLetter[] {
    if (!existsSync(this.dlqFile)) return [];
    return readFileSync(this.dlqFile, 'utf8')
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as DeadLetter);
  }

  /** Stops delivering and waits (up to the deadline) for the batches being processed. */
  async stop(drainTimeoutMs: number): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.batches.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, drainTimeoutMs);
    });
    await Promise.race([Promise.allSettled([...this.batches]), deadline]);
    clearTimeout(timer);
    if (this.batches.size > 0) this.detached = true;
  }

  private changed(): void {
    for (const watcher of [...this.watchers]) watcher();
  }

  private schedulePump(): void {
    if (this.pumpScheduled || this.stopped) return;
    this.pumpScheduled = true;
    // setImmediate, so the 10 messages of one SendMessageBatch arrive as one batch.
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    if (this.stopped || this.consumer === undefined) return;
    const maxBatches = this.definition.maxConcurrentBatches ?? 2;
    while (this.running < maxBatches) {
      const now = Date.now();
      const visible = [...this.messages.values()].filter((m) => !m.inFlight && m.visibleAt <= now);
      if (visible.length === 0) break;
      visible.sort((a, b) => a.visibleAt - b.visibleAt || a.sentTimestamp - b.sentTimestamp);
      this.startBatch(visible.slice(0, this.batchSize), this.consumer);
    }
    this.armTimer();
  }

  /** Wakes the pump when the next waiting message becomes visible. */
  private armTimer(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    let next = Infinity;
    for (const m of this.messages.values()) if (!m.inFlight && m.visibleAt < next) next = m.visibleAt;
    if (next === Infinity || this.stopped) return;
    this.timer = setTimeout(() => this.pump(), Math.max(0, next - Date.now()));
    this.timer.unref();
  }

  private startBatch(batch: StoredMessage[], consumer: QueueConsumer): void {
    const now = Date.now();
    const records = batch.map((m): SQSRecord => {
      m.inFlight = true;
      m.receiveCount += 1;
      m.firstReceiveTimestamp ??= now;
      this.journal.append({ op: 'received', id: m.id, receiveCount: m.receiveCount, firstReceiveTimestamp: m.firstReceiveTimestamp });
      return this.recordOf(m);
    });
    this.running += 1;
    const run = this.deliver(batch, records, consumer).finally(() => {
      this.running -= 1;
      this.batches.delete(run);
      this.changed();
      this.schedulePump();
    });
    this.batches.add(run);
  }

  private async deliver(batch: StoredMessage[], records: SQSRecord[], consumer: QueueConsumer): Promise<void> {
    let failed: Set<string>;
    let reason: string;
    try {
      const result = await consumer({ Records: records });
      ({ failed, reason } = failuresOf(result, batch));
    } catch (error) {
      failed = new Set(batch.map((m) => m.id));
      reason = error instanceof Error ? `${error.name}: ${error.message}` : 'the consumer failed';
    }
    // After close() gave up waiting, the journal belongs to the next run: it redelivers these.
    if (this.detached) return;
    const now = Date.now();
    for (const message of batch) {
      message.inFlight = false;
      if (!failed.has(message.id)) {
        this.remove(message);
        this.delivered += 1;
        continue;
      }
      message.lastError = reason.slice(0, 300);
      if (message.receiveCount >= (this.definition.maxReceiveCount ?? 5)) {
        this.deadLetter(message);
      } else {
        const delay = (this.definition.retryDelayMs ?? defaultRetryDelay)(message.receiveCount);
        message.visibleAt = now + delay;
      }
    }
    if (failed.size > 0) this.note(`${this.definition.name}: ${failed.size} of ${batch.length} message(s) failed (${reason.slice(0, 200)})`);
  }

  private remove(message: StoredMessage): void {
    this.journal.append({ op: 'deleted', id: message.id });
    this.messages.delete(message.id);
  }

  private deadLetter(message: StoredMessage): void {
    const letter: DeadLetter = {
      messageId: message.id,
      body: message.body,
      receiveCount: message.receiveCount,
      sentTimestamp: message.sentTimestamp,
      movedAt: new Date().toISOString(),
      lastError: message.lastError ?? 'unknown',
    };
    // Bodies are job descriptors, not captured data; the file is still private to the user.
    appendFileSync(this.dlqFile, `${JSON.stringify(letter)}\n`, { mode: 0o600 });
    this.remove(message);
    this.deadLettered += 1;
    this.note(`${this.definition.name}: message ${message.id} moved to ${this.dlqFile} after ${message.receiveCount} receives`);
  }

  private recordOf(m: StoredMessage): SQSRecord {
    const messageAttributes: SQSMessageAttributes = {};
    for (const [name, value] of Object.entries(m.attributes ?? {})) {
      messageAttributes[name] = {
        ...(value.BinaryValue === undefined ? { stringValue: value.StringValue ?? '' } : { binaryValue: value.BinaryValue }),
        stringListValues: [],
        binaryListValues: [],
        dataType: value.DataType,
      };
    }
    return {
      messageId: m.id,
      receiptHandle: randomBytes(48).toString('base64'),
      body: m.body,
      attributes: {
        ApproximateReceiveCount: String(m.receiveCount),
        SentTimestamp: String(m.sentTimestamp),
        SenderId: m.senderId,
        ApproximateFirstReceiveTimestamp: String(m.firstReceiveTimestamp ?? m.sentTimestamp),
      },
      messageAttributes,
      md5OfBody: m.md5OfBody,
      ...(m.md5OfAttributes === undefined ? {} : { md5OfMessageAttributes: m.md5OfAttributes }),
      eventSource: 'aws:sqs',
      eventSourceARN: this.arn,
      awsRegion: this.identity.region,
    };
  }
}

function defaultRetryDelay(receiveCount: number): number {
  return Math.min(60_000, 1_000 * 2 ** (receiveCount - 1));
}

/** Lambda's reading of a batch response: unknown or empty identifiers fail the whole batch. */
function failuresOf(result: unknown, batch: readonly StoredMessage[]): { failed: Set<string>; reason: string } {
  const all = new Set(batch.map((m) => m.id));
  if (result === undefined || result === null) return { failed: new Set(), reason: '' };
  if (typeof result !== 'object') return { failed: new Set(), reason: '' };
  const failures = (result as { batchItemFailures?: unknown }).batchItemFailures;
  if (failures === undefined || failures === null) return { failed: new Set(), reason: '' };
  if (!Array.isArray(failures)) return { failed: all, reason: 'batchItemFailures is not a list' };
  const failed = new Set<string>();
  for (const failure of failures) {
    const id = (failure as { itemIdentifier?: unknown } | null)?.itemIdentifier;
    if (typeof id !== 'string' || !all.has(id)) return { failed: all, reason: 'batchItemFailures names an unknown itemIdentifier' };
    failed.add(id);
  }
  return { failed, reason: 'reported in batchItemFailures' };
}

// ---- HTTP front ------------------------------------------------------------------------------

interface Caller {
  readonly principal: LocalPrincipal;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_REQUEST_BYTES) {
        req.removeAllListeners('data');
        req.resume();
        reject(new SqsError('com.amazonaws.sqs#InvalidParameterValue', 'InvalidParameterValue', 'The request is too large.', 413));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** SQS's allowed message characters: #x9 #xA #xD #x20-#xD7FF #xE000-#xFFFD #x10000-#x10FFFF. */
const INVALID_BODY_CHARS = /[^\x09\x0A\x0D\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;

function parseAttributes(value: unknown): Record<string, AttributeValue> | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isRecord(value)) throw invalidParameter('MessageAttributes must be a map.');
  const entries = Object.entries(value);
  if (entries.length === 0) return undefined;
  if (entries.length > 10) throw invalidParameter('Number of message attributes [' + entries.length + '] exceeds the allowed maximum [10].');
  const attributes: Record<string, AttributeValue> = {};
  for (const [name, attribute] of entries) {
    if (!/^[A-Za-z0-9_.-]{1,256}$/.test(name) || name.startsWith('AWS.') || name.startsWith('Amazon.')) {
      throw invalidParameter(`Message attribute name '${name.slice(0, 64)}' is invalid.`);
    }
    if (!isRecord(attribute) || typeof attribute['DataType'] !== 'string' || !/^(String|Number|Binary)(\..+)?$/.test(attribute['DataType'])) {
      throw invalidParameter(`The message attribute '${name}' must contain a valid DataType (String, Number or Binary).`);
    }
    const dataType = attribute['DataType'];
    if (dataType.startsWith('Binary')) {
      if (typeof attribute['BinaryValue'] !== 'string') throw invalidParameter(`The message attribute '${name}' with type 'Binary' must use field 'Binary'.`);
      attributes[name] = { DataType: dataType, BinaryValue: attribute['BinaryValue'] };
    } else {
      if (typeof attribute['StringValue'] !== 'string' || attribute['StringValue'] === '') {
        throw invalidParameter(`The message attribute '${name}' must contain a non-empty message attribute value for message attribute type '${dataType}'.`);
      }
      attributes[name] = { DataType: dataType, StringValue: attribute['StringValue'] };
    }
  }
  return attributes;
}

interface SendInput {
  body: string;
  delaySeconds: number;
  attributes?: Record<string, AttributeValue>;
}

function parseSend(input: Record<string, unknown>): SendInput {
  const body = input['MessageBody'];
  if (typeof body !== 'string' || body === '') throw invalidParameter('The request must contain the parameter MessageBody.');
  if (Buffer.byteLength(body, 'utf8') > MAX_MESSAGE_BYTES) {
    throw invalidParameter(`One or more parameters are invalid. Reason: Message must be shorter than ${MAX_MESSAGE_BYTES} bytes.`);
  }
  if (INVALID_BODY_CHARS.test(body)) {
    throw new SqsError('com.amazonaws.sqs#InvalidMessageContents', 'InvalidMessageContents', 'Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF');
  }
  if (input['MessageGroupId'] !== undefined || input['MessageDeduplicationId'] !== undefined) {
    throw invalidParameter('The request include parameter that is not valid for this queue type');
  }
  const delay = input['DelaySeconds'] ?? 0;
  if (typeof delay !== 'number' || !Number.isInteger(delay) || delay < 0 || delay > 900) {
    throw invalidParameter(`Value ${String(delay).slice(0, 16)} for parameter DelaySeconds is invalid. Reason: must be between 0 and 900, if provided.`);
  }
  const attributes = parseAttributes(input['MessageAttributes']);
  return { body, delaySeconds: delay, ...(attributes === undefined ? {} : { attributes }) };
}

export async function startLocalQueues(options: LocalQueueOptions): Promise<LocalQueues> {
  const { identity } = options;
  mkdirSync(options.queuesDir, { recursive: true, mode: 0o700 });
  mkdirSync(options.dlqDir, { recursive: true, mode: 0o700 });
  const note = options.onNote ?? ((m: string) => process.stderr.write(`local-queue: ${m}\n`));
  const queues = new Map(
    options.queues.map((definition) => [
      definition.name,
      new Queue(definition, identity, options.queuesDir, join(options.dlqDir, `${definition.name}.jsonl`), note),
    ]),
  );
  const directory = new PrincipalDirectory(identity);
  const clock = options.clock ?? systemClock;
  let url = '';

  const queueUrl = (name: string): string => `${url}/${identity.account}/${name}`;
  function queueOf(name: string): Queue {
    const queue = queues.get(name);
    if (!queue) throw new Error(`no local queue named ${name}; known: ${[...queues.keys()].join(', ')}`);
    return queue;
  }

  function queueFromUrl(value: unknown): Queue {
    if (typeof value !== 'string' || value === '') throw invalidParameter('The request must contain the parameter QueueUrl.');
    let path: string;
    try {
      path = new URL(value).pathname;
    } catch {
      throw new SqsError('com.amazonaws.sqs#InvalidAddress', 'InvalidAddress', 'The address is not valid for this endpoint.', 404);
    }
    const [, account, name, ...rest] = path.split('/');
    const queue = name === undefined ? undefined : queues.get(name);
    if (!queue || account !== identity.account || rest.length > 0) throw queueDoesNotExist();
    return queue;
  }

  function authorize(principal: LocalPrincipal, queue: Queue, action: string): void {
    const request = {
      principal,
      action,
      resource: queue.arn,
      context: requestContext(principal, identity.region, clock.now()),
      ...(queue.definition.policy === undefined ? {} : { resourcePolicy: queue.definition.policy }),
    };
    const decision = authorizeAccess(request);
    if (!decision.allowed) {
      throw new SqsError('com.amazon.coral.service#AccessDeniedException', 'AccessDenied', deniedMessage(request, decision), 403);
    }
  }

  const senderId = (p: LocalPrincipal): string => `${p.roleId}:${p.roleName}-session`;

  const operations: Record<string, (caller: Caller, input: Record<string, unknown>) => unknown> = {
    GetQueueUrl(caller, input) {
      const name = input['QueueName'];
      if (typeof name !== 'string' || name === '') throw invalidParameter('The request must contain the parameter QueueName.');
      const owner = input['QueueOwnerAWSAccountId'];
      const queue = queues.get(name);
      if (!queue || (owner !== undefined && owner !== identity.account)) throw queueDoesNotExist();
      authorize(caller.principal, queue, 'sqs:GetQueueUrl');
      return { QueueUrl: queueUrl(name) };
    },
    GetQueueAttributes(caller, input) {
      const queue = queueFromUrl(input['QueueUrl']);
      authorize(caller.principal, queue, 'sqs:GetQueueAttributes');
      const s = queue.stats();
      const all: Record<string, string> = {
        QueueArn: queue.arn,
        ApproximateNumberOfMessages: String(s.pending),
        ApproximateNumberOfMessagesNotVisible: String(s.inFlight),
        ApproximateNumberOfMessagesDelayed: '0',
        MaximumMessageSize: String(MAX_MESSAGE_BYTES),
        RedrivePolicy: JSON.stringify({ deadLetterTargetArn: `${queue.arn}-dlq`, maxReceiveCount: queue.definition.maxReceiveCount ?? 5 }),
      };
      const names = Array.isArray(input['AttributeNames']) ? (input['AttributeNames'] as unknown[]).map(String) : [];
      const wanted = names.includes('All') ? Object.keys(all) : names.filter((n) => n in all);
      return { Attributes: Object.fromEntries(wanted.map((n) => [n, all[n]])) };
    },
    SendMessage(caller, input) {
      const queue = queueFromUrl(input['QueueUrl']);
      authorize(caller.principal, queue, 'sqs:SendMessage');
      const message = queue.send({ ...parseSend(input), senderId: senderId(caller.principal) });
      return {
        MessageId: message.id,
        MD5OfMessageBody: message.md5OfBody,
        ...(message.md5OfAttributes === undefined ? {} : { MD5OfMessageAttributes: message.md5OfAttributes }),
      };
    },
    SendMessageBatch(caller, input) {
      const queue = queueFromUrl(input['QueueUrl']);
      authorize(caller.principal, queue, 'sqs:SendMessage');
      const entries = input['Entries'];
      if (!Array.isArray(entries) || entries.length === 0) {
        throw new SqsError('com.amazonaws.sqs#EmptyBatchRequest', 'AWS.SimpleQueueService.EmptyBatchRequest', 'There should be at least one SendMessageBatchRequestEntry in the request.');
      }
      if (entries.length > 10) {
        throw new SqsError(
          'com.amazonaws.sqs#TooManyEntriesInBatchRequest',
          'AWS.SimpleQueueService.TooManyEntriesInBatchRequest',
          `Maximum number of entries per request are 10. You have sent ${entries.length}.`,
        );
      }
      const ids = new Set<string>();
      let total = 0;
      for (const entry of entries as unknown[]) {
        const id = isRecord(entry) ? entry['Id'] : undefined;
        if (typeof id !== 'string' || !/^[A-Za-z0-9_-]{1,80}$/.test(id)) {
          throw new SqsError(
            'com.amazonaws.sqs#InvalidBatchEntryId',
            'AWS.SimpleQueueService.InvalidBatchEntryId',
            'A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.',
          );
        }
        if (ids.has(id)) {
          throw new SqsError('com.amazonaws.sqs#BatchEntryIdsNotDistinct', 'AWS.SimpleQueueService.BatchEntryIdsNotDistinct', `Id ${id} repeated.`);
        }
        ids.add(id);
        const body = isRecord(entry) ? entry['MessageBody'] : undefined;
        total += typeof body === 'string' ? Buffer.byteLength(body, 'utf8') : 0;
      }
      if (total > MAX_MESSAGE_BYTES) {
        throw new SqsError(
          'com.amazonaws.sqs#BatchRequestTooLong',
          'AWS.SimpleQueueService.BatchRequestTooLong',
          `Batch requests cannot be longer than ${MAX_MESSAGE_BYTES} bytes. You have sent ${total} bytes.`,
        );
      }
      const Successful: unknown[] = [];
      const Failed: unknown[] = [];
      for (const entry of entries as Record<string, unknown>[]) {
        const id = entry['Id'] as string;
        try {
          const message = queue.send({ ...parseSend(entry), senderId: senderId(caller.principal) });
          Successful.push({
            Id: id,
            MessageId: message.id,
            MD5OfMessageBody: message.md5OfBody,
            ...(message.md5OfAttributes === undefined ? {} : { MD5OfMessageAttributes: message.md5OfAttributes }),
          });
        } catch (error) {
          if (!(error instanceof SqsError)) throw error;
          Failed.push({ Id: id, SenderFault: true, Code: error.queryCode, Message: error.message });
        }
      }
      return { Successful, Failed };
    },
  };

  function respond(res: ServerResponse, requestId: string, status: number, body: unknown, queryError?: string): void {
    const payload = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/x-amz-json-1.0',
      'content-length': Buffer.byteLength(payload),
      'x-amzn-requestid': requestId,
      ...(queryError === undefined ? {} : { 'x-amzn-query-error': queryError }),
    });
    res.end(payload);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = randomUUID();
    try {
      const body = await readBody(req);
      let principal: LocalPrincipal | undefined;
      try {
        const verified = verifySigV4({ method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, body }, directory.secretOf);
        if (verified.service !== 'sqs') {
          throw new KmsException('InvalidSignatureException', `Credential should be scoped to correct service: 'sqs'.`);
        }
        if (verified.region !== identity.region) {
          throw new KmsException('InvalidSignatureException', `Credential should be scoped to a valid region, not '${verified.region.slice(0, 32)}'.`);
        }
        principal = directory.principalOf(verified.accessKeyId);
      } catch (error) {
        if (error instanceof SigV4Error && error.failure === 'malformed-uri') {
          throw new SqsError('com.amazonaws.sqs#InvalidAddress', 'InvalidAddress', 'The address is not valid for this endpoint.', 400);
        }
        if (error instanceof KmsException) throw authError(error);
        throw error;
      }
      if (!principal) throw authError(new KmsException('UnrecognizedClientException', 'The security token included in the request is invalid.'));
      const target = String(req.headers['x-amz-target'] ?? '');
      const name = target.startsWith(TARGET_PREFIX) ? target.slice(TARGET_PREFIX.length) : '';
      const operation = req.method === 'POST' && Object.hasOwn(operations, name) ? operations[name] : undefined;
      if (!operation) {
        throw new SqsError(
          'com.amazonaws.sqs#UnsupportedOperation',
          'AWS.SimpleQueueService.UnsupportedOperation',
          `The local queue does not support ${name === '' ? 'this request' : name.slice(0, 64)}; it supports ${Object.keys(operations).join(', ')}.`,
        );
      }
      let input: unknown;
      try {
        input = body.length === 0 ? {} : JSON.parse(body.toString('utf8'));
      } catch {
        throw new SqsError('com.amazon.coral.service#SerializationException', 'SerializationException', 'The request body is not valid JSON.');
      }
      if (!isRecord(input)) throw new SqsError('com.amazon.coral.service#SerializationException', 'SerializationException', 'The request body must be a JSON object.');
      respond(res, requestId, 200, operation({ principal }, input));
    } catch (error) {
      if (error instanceof SqsError) {
        respond(res, requestId, error.status, { __type: error.type, message: error.message }, `${error.queryCode};Sender`);
      } else {
        note(`internal error: ${error instanceof Error ? `${error.name}: ${error.message}` : 'unknown'}`);
        respond(res, requestId, 500, { __type: 'com.amazonaws.sqs#InternalError', message: 'We encountered an internal error. Please try again.' }, 'InternalError;Receiver');
      }
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  keepIdleConnections(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    queueUrl: (name) => queueUrl(queueOf(name).definition.name),
    queueArn: (name) => queueOf(name).arn,
    consume(name, consumer, role) {
      const queue = queueOf(name);
      const principal = identity.principals[role];
      // What Lambda's SQS event source needs of the function's role (and checks when it is created).
      for (const action of ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes']) {
        const request = { principal, action, resource: queue.arn, context: requestContext(principal, identity.region, clock.now()) };
        const decision = authorizeAccess({ ...request, ...(queue.definition.policy === undefined ? {} : { resourcePolicy: queue.definition.policy }) });
        if (!decision.allowed) {
          throw new Error(`the ${role} role cannot consume ${name}: ${deniedMessage(request, decision)} (Lambda's event source needs sqs:ReceiveMessage, sqs:DeleteMessage and sqs:GetQueueAttributes)`);
        }
      }
      queue.consume(consumer);
    },
    sendAsService(name, body, service) {
      queueOf(name).send({ body, senderId: service, delaySeconds: 0 });
    },
    stats: (name) => queueOf(name).stats(),
    idle: (name, timeoutMs = 10_000) => queueOf(name).idle(timeoutMs),
    deadLetters: (name) => queueOf(name).deadLetters(),
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await Promise.all([...queues.values()].map((q) => q.stop(options.drainTimeoutMs ?? 10_000)));
      await closed;
    },
  };
}
