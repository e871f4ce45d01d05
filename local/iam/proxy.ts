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

/**
 * Headers that describe one connection, not the message (RFC 9110, section 7.6.1): neither the
 * caller's nor the emulator's are passed on, so each side sees the front's own, such as its
 * `Keep-Alive: timeout=60` (local/keep-alive.ts).
 */
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade'] as const;

function withoutHopByHop<T extends Record<string, unknown>>(headers: T): T {
  const out = { ...headers };
  for (const name of HOP_BY_HOP) delete out[name];
  return out;
}

/** Forwards to one upstream on 127.0.0.1, over kept-alive connections. */
export class Forwarder {
  private readonly agent = new Agent({ ...HINT_HONOURING_AGENT, maxSockets: 64 });
  private readonly host: string;
  private readonly port: number;
  private closed = false;

  constructor(upstream: string) {
    const url = new URL(upstream);
    this.host = url.hostname;
    this.port = Number(url.port);
  }

  /** `strip` removes headers (e.g. the signature, which the upstream need not see); `path` replaces the request's. */
  async forward(req: IncomingMessage, body: Buffer, res: ServerResponse, options: { readonly strip?: readonly string[]; readonly path?: string } = {}): Promise<void> {
    try {
      await this.send(req, body, res, options, this.agent);
    } catch (error) {
      // The upstream reset a kept-alive connection before answering: what it does when it closes
      // an idle connection as a request is sent on it, which it then never read (local/keep-alive.ts).
      // The reset cannot tell that from a request read and then lost, but these emulators reset a
      // connection only when it is idle, and the front's own shutdown (which destroys its
      // connections mid-request) sends nothing again. Sent once more on a connection of its own:
      // the pool's other idle connections may have gone stale at the same moment.
      if (!(error instanceof StaleConnectionError) || this.closed) throw error;
      await this.send(req, body, res, options, false);
    }
  }

  private send(req: IncomingMessage, body: Buffer, res: ServerResponse, options: { readonly strip?: readonly string[]; readonly path?: string }, agent: Agent | false): Promise<void> {
    return new Promise((resolve, reject) => {
      // Host is the upstream's: s3rver reads `<bucket>.s3.amazonaws.com` as a virtual-hosted bucket,
      // so a caller's Host could make it store under a bucket the front never authorized.
      const headers: Record<string, string | string[] | undefined> = { ...withoutHopByHop(req.headers), host: `${this.host}:${this.port}`, 'content-length': String(body.length) };
      for (const name of options.strip ?? []) delete headers[name];
      // The body is whole; a chunked framing header would describe a body that is not sent.
      delete headers['transfer-encoding'];
      let answered = false;
      const upstream = httpRequest(
        { host: this.host, port: this.port, method: req.method, path: options.path ?? req.url, headers, agent },
        (answer) => {
          answered = true;
          res.writeHead(answer.statusCode ?? 502, withoutHopByHop(answer.headers));
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
    this.closed = true;
    this.agent.destroy();
  }
}
