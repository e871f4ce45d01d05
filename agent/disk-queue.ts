// The durable queue of batches waiting to be sent: one encrypted file per batch in a directory.
// Each file is written to a temporary name, flushed and renamed, so a crash or a torn write loses at
// most the batch being written, never another one; a file that fails to decrypt is set aside and
// counted. A batch leaves the queue only when the caller removes it (after a 202 or a duplicate).
// Bounded in bytes: when full, the oldest batches are dropped and counted.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { chmodSync, closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/** 200 MB, the default. */
export const DEFAULT_QUEUE_BYTES = 200 * 1024 * 1024;

export interface QueuedBatch {
  /** The file name: `<sequence>-<batchId>.batch`, so a listing sorts oldest first. */
  readonly name: string;
  readonly batchId: string;
  readonly bytes: number;
}

export interface QueueCounters {
  /** Batches dropped because the queue was full (oldest first). */
  readonly droppedFull: number;
  /** Files that could not be read back (torn or tampered) and were set aside. */
  readonly unreadable: number;
}

const MAGIC = Buffer.from('CCQ1');
const NAME = /^(\d{16})-([A-Za-z0-9_-]{1,64})\.batch$/;

function writeAtomically(path: string, data: Buffer): void {
  const temporary = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fd = openSync(temporary, 'wx', 0o600);
  try {
    writeSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temporary, path);
}

export class DiskQueue {
  private sequence = 0;
  /** The queue's files, oldest first: read from the directory once, then kept (one agent per queue). */
  private entries: QueuedBatch[];
  private counters: { droppedFull: number; unreadable: number } = { droppedFull: 0, unreadable: 0 };

  /** `key` is 32 bytes (AES-256-GCM); see key-store.ts for where it comes from. */
  constructor(
    private readonly dir: string,
    private readonly key: Buffer,
    private readonly maxBytes = DEFAULT_QUEUE_BYTES,
  ) {
    if (key.length !== 32) throw new RangeError('the queue key must be 32 bytes');
    mkdirSync(join(dir, 'rejected'), { recursive: true, mode: 0o700 });
    // `mode` applies only to directories mkdir creates: one that existed keeps its mode, and the
    // batch names (ids and times of capture) must not be listed by other users.
    if (process.platform !== 'win32') for (const d of [dir, join(dir, 'rejected')]) if ((statSync(d).mode & 0o077) !== 0) chmodSync(d, 0o700);
    // Leftovers of writes a crash interrupted: never renamed, so never part of the queue.
    const names = new Set(readdirSync(dir));
    for (const name of names) {
      if (name.endsWith('.tmp')) rmSync(join(dir, name), { force: true });
      // A marker whose batch was removed before the crash let go of it.
      if (name.endsWith('.attempted') && !names.has(name.slice(0, -'.attempted'.length))) rmSync(join(dir, name), { force: true });
    }
    this.entries = this.scan();
    const last = this.entries.at(-1);
    this.sequence = last === undefined ? 0 : Number(NAME.exec(last.name)?.[1] ?? 0);
    try {
      const saved = JSON.parse(readFileSync(join(dir, 'counters.json'), 'utf8')) as Partial<QueueCounters>;
      this.counters = { droppedFull: Number(saved.droppedFull ?? 0) || 0, unreadable: Number(saved.unreadable ?? 0) || 0 };
    } catch {
      // none yet
    }
  }

  get stats(): QueueCounters & { batches: number; bytes: number } {
    return { ...this.counters, batches: this.entries.length, bytes: this.entries.reduce((sum, b) => sum + b.bytes, 0) };
  }

  /** Oldest first. */
  list(): QueuedBatch[] {
    return [...this.entries];
  }

  private scan(): QueuedBatch[] {
    const batches: QueuedBatch[] = [];
    for (const name of readdirSync(this.dir).sort()) {
      const match = NAME.exec(name);
      if (match?.[2] === undefined) continue;
      let bytes = 0;
      try {
        bytes = statSync(join(this.dir, name)).size;
      } catch {
        continue; // removed meanwhile
      }
      batches.push({ name, batchId: match[2], bytes });
    }
    return batches;
  }

  /** Stores a batch body (the exact bytes to send); drops the oldest batches to stay within bounds. */
  push(batchId: string, body: Buffer): QueuedBatch {
    const sealed = this.seal(batchId, body);
    if (sealed.length > this.maxBytes) throw new RangeError('a single batch is larger than the whole queue');
    let total = this.entries.reduce((sum, b) => sum + b.bytes, 0);
    while (total + sealed.length > this.maxBytes && this.entries.length > 0) {
      const oldest = this.entries[0];
      if (oldest === undefined) break;
      this.remove(oldest);
      total -= oldest.bytes;
      this.count('droppedFull');
    }
    this.sequence += 1;
    const name = `${String(this.sequence).padStart(16, '0')}-${batchId}.batch`;
    writeAtomically(join(this.dir, name), sealed);
    const batch = { name, batchId, bytes: sealed.length };
    this.entries.push(batch);
    return batch;
  }

  /** The batch's body, or undefined when the file is unreadable (it is then set aside and counted). */
  read(batch: QueuedBatch): Buffer | undefined {
    let data: Buffer;
    try {
      data = readFileSync(join(this.dir, batch.name));
    } catch {
      this.forget(batch); // gone from the disk: nothing left to send
      return undefined;
    }
    const body = this.open(batch.batchId, data);
    if (body === undefined) {
      this.setAside(batch);
      this.count('unreadable');
    }
    return body;
  }

  /** Sent (202) or already stored (duplicate): gone for good. */
  remove(batch: QueuedBatch): void {
    this.forget(batch);
    rmSync(join(this.dir, batch.name), { force: true });
    rmSync(join(this.dir, `${batch.name}.attempted`), { force: true });
  }

  /**
   * Records that the batch may have reached the server, before its first request goes out. From
   * then on its body must never change: a retry under the same id with another body is refused.
   */
  markAttempted(batch: QueuedBatch): void {
    if (!this.attempted(batch)) writeAtomically(join(this.dir, `${batch.name}.attempted`), Buffer.alloc(0));
  }

  attempted(batch: QueuedBatch): boolean {
    try {
      statSync(join(this.dir, `${batch.name}.attempted`));
      return true;
    } catch {
      return false;
    }
  }

  /** Refused for good in a way a person must look at (batch-id-reused, 400): kept aside, never resent. */
  setAside(batch: QueuedBatch): void {
    this.forget(batch);
    try {
      renameSync(join(this.dir, batch.name), join(this.dir, 'rejected', batch.name));
    } catch {
      // already gone
    }
    rmSync(join(this.dir, `${batch.name}.attempted`), { force: true });
  }

  private forget(batch: QueuedBatch): void {
    this.entries = this.entries.filter((b) => b.name !== batch.name);
  }

  private count(counter: keyof QueueCounters): void {
    this.counters[counter] += 1;
    writeAtomically(join(this.dir, 'counters.json'), Buffer.from(JSON.stringify(this.counters)));
  }

  /**
   * MAGIC, 12-byte IV, 16-byte tag, ciphertext. The batch id of the file's name is authenticated
   * too, so a file moved or copied under another batch's name fails to open rather than being sent
   * (and acknowledged, and deleted) as that batch.
   */
  private seal(batchId: string, body: Buffer): Buffer {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.concat([MAGIC, Buffer.from(batchId, 'utf8')]));
    const ciphertext = Buffer.concat([cipher.update(body), cipher.final()]);
    return Buffer.concat([MAGIC, iv, cipher.getAuthTag(), ciphertext]);
  }

  private open(batchId: string, data: Buffer): Buffer | undefined {
    if (data.length < 32 || !data.subarray(0, 4).equals(MAGIC)) return undefined;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, data.subarray(4, 16));
      decipher.setAAD(Buffer.concat([MAGIC, Buffer.from(batchId, 'utf8')]));
      decipher.setAuthTag(data.subarray(16, 32));
      return Buffer.concat([decipher.update(data.subarray(32)), decipher.final()]);
    } catch {
      return undefined;
    }
  }
}
