// What the datasets tests ask of capture objects: an employee's key, the object keys of one
// scope, and a decryption as a given local principal, which answers the events or KMS's refusal.
import { gunzipSync } from 'node:zlib';
import { buildClient, CommitmentPolicy, KmsKeyringNode } from '@aws-crypto/client-node';
import { KMS } from '@aws-sdk/client-kms';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { PrincipalName } from '../../local/principals.js';
import { LOCAL_RESOURCES } from '../../local/stack.js';
import type { ConsentTestStack } from './consent-api.js';
import { LOCAL_REQUEST_HANDLER } from '../../local/keep-alive.js';

const { decrypt } = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT);
const { captures } = LOCAL_RESOURCES.buckets;

export async function employeeKeyArn(t: ConsentTestStack, employeeId: string): Promise<string> {
  const arn = (await t.ledger.latestEvent(employeeId))?.state.keyArn;
  if (arn === undefined) throw new Error(`${employeeId} has no key`);
  return arn;
}

export async function captureObjectKeys(t: ConsentTestStack, employeeId: string, scope: string): Promise<string[]> {
  const listed = await t.s3.send(new ListObjectsV2Command({ Bucket: captures, Prefix: `captures/${employeeId}/${scope}/` }));
  return (listed.Contents ?? []).flatMap((o) => (o.Key === undefined ? [] : [o.Key]));
}

/** Decrypts a capture object as `principal` with the Encryption SDK: its events, or the error's text. */
export async function decryptCaptureAs(t: ConsentTestStack, principal: PrincipalName, employeeId: string, key: string): Promise<Record<string, unknown>[] | string> {
  const { endpoints, identity } = t.stack;
  const { accessKeyId, secretAccessKey } = identity.principals[principal];
  const client = new KMS({ region: identity.region, endpoint: endpoints.kms, credentials: { accessKeyId, secretAccessKey }, maxAttempts: 1, requestHandler: LOCAL_REQUEST_HANDLER });
  try {
    const object = await t.s3.send(new GetObjectCommand({ Bucket: captures, Key: key }));
    const bytes = await (object.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray();
    const keyring = new KmsKeyringNode({ keyIds: [await employeeKeyArn(t, employeeId)], clientProvider: () => client });
    const { plaintext } = await decrypt(keyring, bytes);
    return gunzipSync(plaintext).toString('utf8').trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  } finally {
    client.destroy();
  }
}
