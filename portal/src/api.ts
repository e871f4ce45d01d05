// The consent API as the page calls it: same origin (`/v1/*`), the access token from memory, and
// every failure turned into a sentence for the employee. Raw JSON never reaches the screen.
import type * as z from 'zod';
import type { consentDatasetsResponse } from '../../contract/datasets.js';
import type { consentHistoryResponse, consentStateResponse, exportAcceptedResponse, exportStatusResponse } from '../../contract/responses.js';
import type { Session } from './sign-in.js';

export type ConsentState = z.infer<typeof consentStateResponse>;
export type HistoryEvent = z.infer<typeof consentHistoryResponse>['events'][number];
export type ExportAccepted = z.infer<typeof exportAcceptedResponse>;
export type ExportStatus = z.infer<typeof exportStatusResponse>;

/** One training data set that includes some of the employee's scopes. */
export type DatasetUse = z.infer<typeof consentDatasetsResponse>['datasets'][number];

export interface LastCapture {
  readonly lastCaptureAt: string | null;
  readonly windowDays?: number;
}

/** An API failure in words; `status` 0 means the service could not be reached. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** What each error code means for the employee; the API's own sentence is the fallback. */
const WORDS: Readonly<Record<string, string>> = {
  unauthorized: 'Your session has ended. Sign in again.',
  forbidden: 'Your sign-in does not allow this. Sign in again with your own account.',
  'consent-closed': 'Your data was erased, so this consent is closed.',
  'not-consented': 'There is no consent to pause. Give consent first.',
  'not-paused': 'Capture is not paused.',
  'key-conflict': 'Your encryption key could not be set up. The platform team has been alerted; try again later.',
  'consent-state-unavailable': 'The service is busy. Nothing was changed; try again in a few seconds.',
  unavailable: 'The service is busy. Nothing was changed; try again in a few seconds.',
  internal: 'The service had a problem. Nothing was changed; try again in a minute.',
};

function sentence(status: number, code: string, message: string | undefined): string {
  const known = WORDS[code];
  if (known !== undefined) return known;
  if (status >= 500) return WORDS['internal'] ?? '';
  if (status === 429) return WORDS['unavailable'] ?? '';
  // The API's messages are sentences written for callers; a missing one gets a plain default.
  if (message !== undefined && message !== '') return `${message.charAt(0).toUpperCase()}${message.slice(1)}${/[.!?]$/.test(message) ? '' : '.'}`;
  return 'The request was refused. Try again.';
}

export async function call<T>(session: Session, method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers: { authorization: `Bearer ${session.accessToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      cache: 'no-store',
    });
  } catch {
    throw new ApiError(0, 'network', 'The service could not be reached. Check your connection and try again.');
  }
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text === '' ? {} : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (response.ok && parsed !== undefined) return parsed as T;
  const fields = typeof parsed === 'object' && parsed !== null ? (parsed as { error?: unknown; message?: unknown }) : {};
  const code = typeof fields.error === 'string' ? fields.error : response.ok ? 'bad-answer' : `http-${response.status}`;
  const message = typeof fields.message === 'string' ? fields.message : undefined;
  throw new ApiError(response.status, code, response.ok ? WORDS['internal'] ?? '' : sentence(response.status, code, message));
}
