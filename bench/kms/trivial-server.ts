// The benchmark's baseline: an HTTP server on 127.0.0.1 that answers every request with a canned,
// valid GenerateDataKey response (AWS JSON 1.1, same headers and about the same size as the local
// KMS's) and does nothing else. Run as a child process by bench/kms/index.ts.
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { keepIdleConnections } from '../../local/keep-alive.js';

/** Sizes of the local KMS's answer: a 79-byte blob (31 header + 32 ciphertext + 16 tag), a 32-byte key. */
const BLOB_BYTES = 79;
const DATA_KEY_BYTES = 32;

const payload = JSON.stringify({
  CiphertextBlob: randomBytes(BLOB_BYTES).toString('base64'),
  Plaintext: randomBytes(DATA_KEY_BYTES).toString('base64'),
  KeyId: `arn:aws:kms:us-east-1:123456789012:key/${randomUUID()}`,
});
const length = Buffer.byteLength(payload);

function answer(req: IncomingMessage, res: ServerResponse): void {
  // Read the whole body first, as the real server does, so both pay for the same bytes.
  req.resume();
  req.on('end', () => {
    res.writeHead(200, {
      'content-type': 'application/x-amz-json-1.1',
      'content-length': length,
      'x-amzn-requestid': randomUUID(),
    });
    res.end(payload);
  });
}

const server = createServer(answer);
// The same keep-alive timeout as local/kms/server.ts.
keepIdleConnections(server);
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  process.send?.({ type: 'ready', url: `http://127.0.0.1:${port}` });
});

function stop(): void {
  server.close(() => process.exit(0));
  server.closeAllConnections();
}
process.on('message', (message: unknown) => {
  if (message === 'stop') stop();
  // CPU time so far, so the parent can charge this process's CPU per request it served.
  if (message === 'cpu') process.send?.({ type: 'cpu', ...process.cpuUsage() });
});
// If the parent dies, do not linger.
process.on('disconnect', stop);
