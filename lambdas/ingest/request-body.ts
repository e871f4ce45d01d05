// The body of POST /v1/events as text, decompressing `Content-Encoding: gzip`. The size limit
// holds after decompression too: zlib stops at the limit, so a gzip bomb costs at most the limit
// in memory and answers 413.
import { gunzipSync } from 'node:zlib';
import { ApiError, BadRequestError, PayloadTooLargeError } from '../shared/errors.js';
import { bodyText, type HttpEvent } from '../shared/http.js';

export class UnsupportedEncodingError extends ApiError {
  override readonly name = 'UnsupportedEncodingError';
  readonly status = 415;
  readonly code = 'unsupported-content-encoding';
}

/** The Content-Encoding header, lowercased; API Gateway v2 lowercases header names, direct callers may not. */
function contentEncoding(event: HttpEvent): string | undefined {
  for (const [name, value] of Object.entries(event.headers ?? {})) {
    if (name.toLowerCase() === 'content-encoding' && value !== undefined) return value.trim().toLowerCase();
  }
  return undefined;
}

/** The decoded body and its size in bytes once decompressed, refusing more than `maxBytes` either way. */
export function requestBodyText(event: HttpEvent, maxBytes: number): { readonly text: string; readonly bytes: number; readonly compressed: boolean } {
  const encoding = contentEncoding(event);
  if (encoding === undefined || encoding === '' || encoding === 'identity') {
    const body = bodyText(event);
    if (body.bytes > maxBytes) throw new PayloadTooLargeError(`the batch is ${body.bytes} bytes; the limit is ${maxBytes} (send smaller batches)`);
    return { ...body, compressed: false };
  }
  if (encoding !== 'gzip') throw new UnsupportedEncodingError(`Content-Encoding ${encoding.slice(0, 40)} is not accepted; send gzip or no encoding`);
  // A gzip body reaches the function base64-encoded (API Gateway treats it as binary). A text body
  // claiming gzip was mangled on the way: refuse it rather than guess.
  if (event.isBase64Encoded !== true) throw new BadRequestError('a gzip body must arrive as binary (base64-encoded by the gateway)', undefined, 'invalid-gzip');
  const compressed = Buffer.from(event.body ?? '', 'base64');
  if (compressed.length > maxBytes) throw new PayloadTooLargeError(`the compressed batch is ${compressed.length} bytes; the limit is ${maxBytes} (send smaller batches)`);
  let plain: Buffer;
  try {
    plain = gunzipSync(compressed, { maxOutputLength: maxBytes });
  } catch (error) {
    if (error instanceof RangeError || (error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new PayloadTooLargeError(`the batch exceeds ${maxBytes} bytes once decompressed (send smaller batches)`);
    }
    throw new BadRequestError('the body is not valid gzip', undefined, 'invalid-gzip');
  }
  return { text: plain.toString('utf8'), bytes: plain.length, compressed: true };
}
