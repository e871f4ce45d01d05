// The HTTP plumbing the authenticating fronts of the local S3 and DynamoDB share: read a request
// body up to a limit (SigV4 signs its hash, so it is read before anything is forwarded), and pass
// an authorized request on to the emulator behind the front, unchanged.
import { Agent, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { HINT_HONOURING_AGENT } from '../keep-alive.js';

/** The upstream reset a reused connection before it answered: the request was never read. */
class StaleConnectionError extends Error {
  override readonly name = 'StaleConnectionError';
  constructor(readonly reset: Error) {
    super(`the upstream closed a reused connection before answering: ${reset.message}`);
  }
}

export class BodyTooLargeError extends Error {
  override readonly name = 'BodyTooLargeError';
  constructor(readonly limit: number) {
    super(`the request body exceeds ${limit} bytes`);
  }
}

export function readLimitedBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) {
      reject(new BodyTooLargeError(limit));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners('data');
        reject(new BodyTooLargeError(limit));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** Forwards to one upstream on 127.0.0.1, over kept-alive connections. */
export class Forwarder {
  private readonly agent = new Agent({ ...HINT_HONOURING_AGENT, maxSockets: 64 });
  private readonly host: string;
  private readonly port: number;

  constructor(upstream: string) {
    const url = new URL(upstream);
    this.host = url.hostname;
    this.port = Number(url.port);
  }

  /** `strip` removes headers (e.g. the signature, which the upstream need not see); `path` replaces the request's. */
  async forward(req: IncomingMessage, body: Buffer, res: ServerResponse, options: { readonly strip?: readonly string[]; readonly path?: string } = {}): Promise<void> {
    try {
      await this.send(req, body, res, options);
    } catch (error) {
      // The upstream closed an idle connection as this request was sent on it, so it never read the
      // request: send it once more, on a new connection (local/keep-alive.ts).
      if (!(error instanceof StaleConnectionError)) throw error;
      await this.send(req, body, res, options);
    }
  }

  private send(req: IncomingMessage, body: Buffer, res: ServerResponse, options: { readonly strip?: readonly string[]; readonly path?: string }): Promise<void> {
    return new Promise((resolve, reject) => {
      // Host is the upstream's: s3rver reads `<bucket>.s3.amazonaws.com` as a virtual-hosted bucket,
      // so a caller's Host could make it store under a bucket the front never authorized.
      const headers: Record<string, string | string[] | undefined> = { ...req.headers, host: `${this.host}:${this.port}`, 'content-length': String(body.length) };
      for (const name of options.strip ?? []) delete headers[name];
      // The body is whole; a chunked framing header would describe a body that is not sent.
      delete headers['transfer-encoding'];
      let answered = false;
      const upstream = httpRequest(
        { host: this.host, port: this.port, method: req.method, path: options.path ?? req.url, headers, agent: this.agent },
        (answer) => {
          answered = true;
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
          answer.on('end', resolve);
          answer.on('error', reject);
        },
      );
      upstream.on('error', (error: NodeJS.ErrnoException) => {
        reject(!answered && upstream.reusedSocket && (error.code === 'ECONNRESET' || error.code === 'EPIPE') ? new StaleConnectionError(error) : error);
      });
      upstream.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
