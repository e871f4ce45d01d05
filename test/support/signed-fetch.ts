// Sends raw, SigV4-signed requests to the local KMS, for the malformed and hostile requests that
// no SDK would produce. Signs with @smithy/signature-v4, independently of our verifier.
import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';

type SourceData = string | ArrayBuffer | ArrayBufferView;

function toBuffer(data: SourceData): Buffer {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.from(data);
}

/** The hash constructor @smithy/signature-v4 wants, on node:crypto. */
export class NodeSha256 {
  private readonly hash: Hash | Hmac;
  constructor(secret?: SourceData) {
    this.hash = secret === undefined ? createHash('sha256') : createHmac('sha256', toBuffer(secret));
  }
  update(data: SourceData): void {
    this.hash.update(toBuffer(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest());
  }
  reset(): void {
    throw new Error('not needed');
  }
}

export interface RawResponse {
  readonly status: number;
  readonly body: { __type?: string; message?: string; [k: string]: unknown };
}

export async function signedPost(
  url: string,
  credentials: { accessKeyId: string; secretAccessKey: string },
  region: string,
  target: string,
  body: string | Buffer,
  /** Sent instead of `body` after signing, to test tampering. */
  sentBody: string | Buffer = body,
  /** Headers to sign as well (e.g. `x-amz-content-sha256`), and a path other than `/`, sent as given. */
  extra: { readonly headers?: Readonly<Record<string, string>>; readonly path?: string } = {},
): Promise<RawResponse> {
  const { hostname, port } = new URL(url);
  const signer = new SignatureV4({ service: 'kms', region, credentials, sha256: NodeSha256 });
  const path = extra.path ?? '/';
  const signed = await signer.sign({
    method: 'POST',
    protocol: 'http:',
    hostname,
    port: Number(port),
    path,
    query: {},
    headers: { host: `${hostname}:${port}`, 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': target, ...extra.headers },
    body,
  });
  const response = await fetch(`${url}${path}`, { method: 'POST', headers: signed.headers as Record<string, string>, body: sentBody });
  const text = await response.text();
  return { status: response.status, body: text === '' ? {} : (JSON.parse(text) as RawResponse['body']) };
}
