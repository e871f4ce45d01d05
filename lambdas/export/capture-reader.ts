// Reads one capture object back for an export: GetObject, decrypt with the Encryption SDK through
// the export's grant, check the message is the one its key names (suite and encryption context),
// gunzip, and turn each stored event into an export line. An object that is not readable is
// reported with a reason; a failure of KMS itself (the grant refused, throttling) fails the job.
import { gunzipSync } from 'node:zlib';
import { buildDecrypt } from '@aws-crypto/decrypt-node';
import { CommitmentPolicy, type KeyringNode } from '@aws-crypto/material-management-node';
import { DecryptCommand, type DecryptCommandInput, type KMSClient } from '@aws-sdk/client-kms';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { exportLineSchema, type ExportLine, type UNREADABLE_REASONS } from '../../contract/export-format.js';
import { contextOfKey } from '../../contract/capture-keys.js';
import { DEVICE_ID_METADATA } from '../../contract/resources.js';
import { ID_PATTERN, type Scope } from '../../contract/vocabulary.js';
import { ALGORITHM_SUITE, KmsKeyring } from '../shared/kms-keyring.js';

/** Refuse non-committing messages, and messages with more wrapped keys than the one ingest writes. */
const { decrypt } = buildDecrypt({ commitmentPolicy: CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT, maxEncryptedDataKeys: 1 });

export type UnreadableReason = (typeof UNREADABLE_REASONS)[number];

export type ObjectReading =
  | { readonly readable: true; readonly key: string; readonly scope: Scope; readonly lines: readonly ExportLine[] }
  | { readonly readable: false; readonly key: string; readonly reason: UnreadableReason };

/** KMS refused or failed the data key for a reason that is not the object's: the export cannot go on. */
export class KmsUnavailableError extends Error {
  override readonly name = 'KmsUnavailableError';
}

export { contextOfKey };

/**
 * A KMS client for the keyring that remembers KMS's own failures, so that a refused grant or a
 * throttle (the job's problem) is told apart from an altered object (the object's problem). The
 * keyring itself passes the export's grant token on every Decrypt.
 */
class ObservedKms {
  private lastFailure: Error | undefined;
  /** The failure since the last call, and forget it. */
  takeFailure(): Error | undefined {
    const failure = this.lastFailure;
    this.lastFailure = undefined;
    return failure;
  }
  constructor(private readonly kms: KMSClient) {}
  async decrypt(input: DecryptCommandInput) {
    try {
      return await this.kms.send(new DecryptCommand(input));
    } catch (error) {
      this.lastFailure = error instanceof Error ? error : new Error(String(error));
      throw error;
    }
  }
}

/** KMS answers for which the object, not the job, is at fault: its wrapped key or context was altered. */
const OBJECT_FAULTS = new Set(['InvalidCiphertextException', 'IncorrectKeyException']);

export interface CaptureReaderOptions {
  readonly s3: S3Client;
  readonly kms: KMSClient;
  readonly bucket: string;
  readonly employeeId: string;
  /** The employee key: the only key whose wrapped data keys this reader unwraps. */
  readonly keyArn: string;
  /** The export's grant token: the grant may not have reached every KMS host yet. */
  readonly grantToken: string;
}

export class CaptureReader {
  constructor(private readonly options: CaptureReaderOptions) {}

  /** A keyring per object (reads overlap), whose KMS client tells that object's KMS failure. */
  private keyringObserved(): { keyring: KeyringNode; observed: ObservedKms } {
    const observed = new ObservedKms(this.options.kms);
    const keyring = new KmsKeyring({
      keyIds: [this.options.keyArn],
      grantTokens: [this.options.grantToken],
      // The keyring calls `decrypt` on what the provider returns; ObservedKms is that much of a KMS client.
      clientProvider: (() => observed) as unknown as NonNullable<ConstructorParameters<typeof KmsKeyring>[0]>['clientProvider'],
    });
    return { keyring, observed };
  }

  /** Fetches the object's ciphertext (and the device id ingest recorded beside it). */
  async fetch(key: string): Promise<{ ciphertext: Uint8Array; deviceId: string | null }> {
    const object = await this.options.s3.send(new GetObjectCommand({ Bucket: this.options.bucket, Key: key }));
    if (object.Body === undefined) throw new Error(`GetObject of ${key} answered without a body`);
    const ciphertext = await object.Body.transformToByteArray();
    const device = object.Metadata?.[DEVICE_ID_METADATA];
    return { ciphertext, deviceId: device !== undefined && ID_PATTERN.test(device) ? device : null };
  }

  /** Decrypts and checks one object. Throws KmsUnavailableError when KMS, not the object, failed. */
  async read(key: string, fetched: { ciphertext: Uint8Array; deviceId: string | null }): Promise<ObjectReading> {
    const expected = contextOfKey(key);
    if (expected === undefined || expected.employeeId !== this.options.employeeId) return { readable: false, key, reason: 'unexpected-key' };
    let plaintext: Buffer;
    let header;
    const { keyring, observed } = this.keyringObserved();
    try {
      ({ plaintext, messageHeader: header } = await decrypt(keyring, fetched.ciphertext));
    } catch {
      const kmsFailure = observed.takeFailure();
      if (kmsFailure !== undefined && !OBJECT_FAULTS.has(kmsFailure.name)) {
        throw new KmsUnavailableError(`KMS could not unwrap a data key (${kmsFailure.name})`, { cause: kmsFailure });
      }
      return { readable: false, key, reason: 'decrypt-failed' };
    }
    // The context is authenticated, but only the key says which object was meant: an object
    // copied under another batch's key, or a message for another scope, is not trusted.
    const context = header.encryptionContext;
    if (header.suiteId !== ALGORITHM_SUITE) return { readable: false, key, reason: 'unexpected-suite' };
    if (Object.keys(context).length !== 3 || context['employeeId'] !== expected.employeeId || context['scope'] !== expected.scope || context['batchId'] !== expected.batchId) {
      return { readable: false, key, reason: 'context-mismatch' };
    }
    const lines = toLines(plaintext, expected.scope, expected.batchId, fetched.deviceId);
    if (lines === undefined) return { readable: false, key, reason: 'invalid-content' };
    return { readable: true, key, scope: expected.scope, lines };
  }
}

/** gzip'd JSON Lines of stored events → export lines; undefined if any line is not a valid event of the scope. */
function toLines(plaintext: Buffer, scope: Scope, batchId: string, deviceId: string | null): ExportLine[] | undefined {
  let text: string;
  try {
    text = gunzipSync(plaintext).toString('utf8');
  } catch {
    return undefined;
  }
  const lines: ExportLine[] = [];
  for (const raw of text.split('\n')) {
    if (raw === '') continue;
    let event: unknown;
    try {
      event = JSON.parse(raw);
    } catch {
      return undefined;
    }
    if (event === null || typeof event !== 'object' || Array.isArray(event)) return undefined;
    // The origin goes first and the event cannot overwrite it: the parse is strict, so a stored
    // event naming `scope` or `batchId` itself fails rather than relabels the line.
    const parsed = exportLineSchema.safeParse({ scope, batchId, deviceId, ...event });
    if (!parsed.success || (event as Record<string, unknown>)['scope'] !== undefined || (event as Record<string, unknown>)['batchId'] !== undefined || (event as Record<string, unknown>)['deviceId'] !== undefined) return undefined;
    lines.push(parsed.data);
  }
  return lines;
}
