// The child process that hosts s3rver for the local stack (forked by local/s3.ts).
// It is a separate process because s3rver encrypts ListObjectsV2 continuation tokens with DES,
// which Node 20's OpenSSL 3 only offers with --openssl-legacy-provider: a process-wide switch
// that must not be turned on in the process that runs the local KMS.
import { readdirSync } from 'node:fs';
import { rmdir, unlink } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { posix } from 'node:path';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface S3ProcessStart {
  readonly type: 'start';
  readonly directory: string;
  readonly buckets: readonly string[];
  readonly port: number;
}
export type S3ProcessRequest = S3ProcessStart | { readonly type: 'close' };
export type S3ProcessReply = { readonly type: 'ready'; readonly port: number } | { readonly type: 'failed'; readonly message: string };

/** The parts of s3rver's untyped internals used here. */
interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
  httpServer?: Server;
}
type S3rverConstructor = new (options: Record<string, unknown>) => S3rverInstance;
interface ListOptions {
  delimiter?: string;
  startAfter?: string;
  prefix?: string;
  maxKeys?: number;
}
interface StoredObject {
  readonly key: string;
}
interface FilesystemStore {
  getBucketPath(bucket: string): string;
  getResourcePath(bucket: string, key: string, resource: string): string;
  deleteObject(bucket: string, key: string): Promise<void>;
  getMetadata(bucket: string, key: string): Promise<Record<string, string>>;
  listObjects(bucket: string, options: ListOptions): Promise<{ objects: StoredObject[]; commonPrefixes: string[]; isTruncated: boolean }>;
}

const require = createRequire(import.meta.url);
const OBJECT_SUFFIX = '._S3rver_object';

/** S3 orders keys by their UTF-8 bytes. */
const compareKeys = (a: string, b: string): number => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));

/**
 * s3rver lists keys in directory-walk order, not key order ("k-2" comes before "k", and "a/b" before
 * "a"), yet pages with `key > startAfter`: keys that sort before the page boundary but are walked after
 * it are silently skipped. This lists in key order, as S3 does, so 1,000-key pages never lose a key.
 */
function listInKeyOrder(store: FilesystemStore, S3Object: new (bucket: string, key: string, content: null, metadata: Record<string, string>) => StoredObject): void {
  store.listObjects = async function listObjects(this: FilesystemStore, bucket, options) {
    const { delimiter = '', startAfter = '', prefix = '', maxKeys = Infinity } = options;
    const bucketPath = this.getBucketPath(bucket);
    const keys: string[] = [];
    const walk = (relativeDir: string): void => {
      for (const entry of readdirSync(posix.join(bucketPath, relativeDir), { withFileTypes: true })) {
        const relative = relativeDir === '' ? entry.name : `${relativeDir}/${entry.name}`;
        if (entry.isDirectory()) {
          // Only descend where keys under the prefix can be.
          const dirPrefix = `${relative}/`;
          if (dirPrefix.startsWith(prefix) || prefix.startsWith(dirPrefix)) walk(relative);
        } else if (relative.endsWith(OBJECT_SUFFIX)) {
          const key = relative.slice(0, -OBJECT_SUFFIX.length);
          if (key.startsWith(prefix)) keys.push(key);
        }
      }
    };
    walk('');
    keys.sort(compareKeys);
    const commonPrefixes = new Set<string>();
    const page: string[] = [];
    let isTruncated = false;
    for (const key of keys) {
      if (startAfter !== '' && compareKeys(key, startAfter) <= 0) continue;
      if (delimiter !== '') {
        const at = key.indexOf(delimiter, prefix.length);
        if (at !== -1) {
          commonPrefixes.add(key.slice(0, at + delimiter.length));
          continue;
        }
      }
      if (page.length < maxKeys) {
        page.push(key);
      } else {
        isTruncated = true;
        break;
      }
    }
    const objects: StoredObject[] = [];
    for (const key of page) {
      try {
        objects.push(new S3Object(bucket, key, null, await this.getMetadata(bucket, key)));
      } catch (error) {
        // Deleted between the walk and now.
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
    }
    return { objects, commonPrefixes: [...commonPrefixes].sort(), isTruncated };
  };
}

/**
 * s3rver's DeleteObjects deletes its keys concurrently, and each delete removes the key's empty
 * parent directories: two keys in one directory race to remove it, and the loser's rmdir fails
 * with ENOENT (or ENOTEMPTY when a third key was just written), which s3rver answers with a 500.
 * A directory someone else removed, or that is no longer empty, is not an error here.
 */
function deleteWithoutDirectoryRace(store: FilesystemStore): void {
  store.deleteObject = async function deleteObject(this: FilesystemStore, bucket, key) {
    await Promise.all(
      ['object', 'object.md5', 'metadata.json'].map((resource) =>
        unlink(this.getResourcePath(bucket, key, resource)).catch((error: NodeJS.ErrnoException) => {
          if (error.code !== 'ENOENT') throw error;
        }),
      ),
    );
    const parts = key.split('/').slice(0, -1);
    const bucketPath = this.getBucketPath(bucket);
    for (; parts.length > 0; parts.pop()) {
      try {
        await rmdir(posix.join(bucketPath, ...parts));
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'ENOTEMPTY' || code === 'EEXIST') return;
        if (code !== 'ENOENT') throw error;
      }
    }
  };
}

async function start(message: S3ProcessStart): Promise<S3rverInstance> {
  const S3rver = require('s3rver') as S3rverConstructor;
  const FilesystemStoreClass = require('s3rver/lib/stores/filesystem') as { prototype: FilesystemStore };
  const S3ObjectClass = require('s3rver/lib/models/object') as new (bucket: string, key: string, content: null, metadata: Record<string, string>) => StoredObject;
  listInKeyOrder(FilesystemStoreClass.prototype, S3ObjectClass);
  deleteWithoutDirectoryRace(FilesystemStoreClass.prototype);
  // No access keys: the front in the parent authenticates and authorizes, and forwards anonymously.
  const server = new S3rver({
    address: '127.0.0.1',
    port: message.port,
    directory: message.directory,
    silent: true,
    // Buckets are addressed by path (forcePathStyle); 127.0.0.1 has no bucket subdomains anyway.
    vhostBuckets: false,
    configureBuckets: message.buckets.map((name) => ({ name })),
  });
  await server.run();
  return server;
}

function reply(message: S3ProcessReply): void {
  process.send?.(message);
}

let running: S3rverInstance | undefined;
// The parent is gone (even killed): do not outlive it.
process.on('disconnect', () => process.exit(0));
process.on('message', (message: S3ProcessRequest) => {
  if (message.type === 'start') {
    start(message).then(
      (server) => {
        running = server;
        reply({ type: 'ready', port: (server.httpServer?.address() as AddressInfo).port });
      },
      (error: unknown) => {
        reply({ type: 'failed', message: error instanceof Error ? error.message : String(error) });
        process.exitCode = 1;
        process.disconnect();
      },
    );
  } else if (message.type === 'close') {
    const closing = running?.close() ?? Promise.resolve();
    running?.httpServer?.closeAllConnections();
    closing.finally(() => process.exit(0));
  }
});
