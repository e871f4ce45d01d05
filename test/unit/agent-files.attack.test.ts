// Attacks on what the capture agent keeps on disk (agent/key-store.ts, agent/disk-queue.ts) by
// another user of the same machine: the queue key and the queue's listing are the owner's alone,
// even when the files or directories were there before the agent, with a looser mode.
import { chmodSync, mkdirSync, mkdtempSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DiskQueue } from '../../agent/disk-queue.js';
import { loadQueueKey } from '../../agent/key-store.js';

const modeOf = (path: string): number => statSync(path).mode & 0o777;
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'cc-agent-files-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(process.platform === 'win32')('another user of the machine', () => {
  // The hole: writeFileSync's mode applies only when it creates the file, so a key written into a
  // file that already existed as 0644 (an empty leftover, a restored backup) stayed world-readable.
  it('cannot read a queue key written into a key file that already existed as 0644', async () => {
    // Arrange
    const path = join(dir, 'laptop-1.key');
    writeFileSync(path, 'not a key', { mode: 0o644 });
    chmodSync(path, 0o644);

    // Act
    const { key, source } = await loadQueueKey('laptop-1', path, { keychain: false });

    // Assert
    expect(source).toBe('file');
    expect(key).toHaveLength(32);
    expect(modeOf(path)).toBe(0o600);
  });

  it('cannot read a valid queue key that was restored as 0644', async () => {
    const path = join(dir, 'laptop-1.key');
    writeFileSync(path, Buffer.alloc(32, 7).toString('base64url'));
    chmodSync(path, 0o644);

    const { key } = await loadQueueKey('laptop-1', path, { keychain: false });

    expect(key.equals(Buffer.alloc(32, 7))).toBe(true);
    expect(modeOf(path)).toBe(0o600);
  });

  it('cannot list the batches of a queue directory that already existed as 0755', () => {
    const queueDir = join(dir, 'queue');
    mkdirSync(join(queueDir, 'rejected'), { recursive: true });
    chmodSync(queueDir, 0o755);
    chmodSync(join(queueDir, 'rejected'), 0o755);

    const queue = new DiskQueue(queueDir, Buffer.alloc(32, 1));
    queue.push('b-1', Buffer.from('{}'));

    expect(modeOf(queueDir)).toBe(0o700);
    expect(modeOf(join(queueDir, 'rejected'))).toBe(0o700);
    expect(modeOf(join(queueDir, queue.list()[0]?.name ?? ''))).toBe(0o600);
  });
});

describe('a queue file under another batch\'s name', () => {
  // The hole: the file's sealing authenticated only the format, not the batch id its name gives,
  // so a file copied or moved under another batch's name (a restored backup, a sync tool, another
  // process of the user) was read back, sent and, once acknowledged, deleted as that other batch.
  it('is set aside as unreadable, never read back as that batch', () => {
    // Arrange
    const queueDir = join(dir, 'queue');
    const queue = new DiskQueue(queueDir, Buffer.alloc(32, 1));
    const first = queue.push('b-first', Buffer.from('{"batchId":"b-first"}'));
    const second = queue.push('b-second', Buffer.from('{"batchId":"b-second"}'));
    renameSync(join(queueDir, first.name), join(dir, 'moved'));
    renameSync(join(queueDir, second.name), join(queueDir, first.name));
    renameSync(join(dir, 'moved'), join(queueDir, second.name));

    // Act
    const reopened = new DiskQueue(queueDir, Buffer.alloc(32, 1));
    const bodies = reopened.list().map((b) => reopened.read(b));

    // Assert
    expect(bodies).toEqual([undefined, undefined]);
    expect(reopened.stats).toMatchObject({ unreadable: 2, batches: 0 });
  });
});
