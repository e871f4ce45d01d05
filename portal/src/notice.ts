// The consent notice shown to the employee, kept in the repository (notices/), and the SHA-256
// the page sends as noticeSha256: computed here, in the browser, from the exact text shown.
import text from '../../notices/2026-11.md?raw';

export const NOTICE_VERSION = '2026-11';
export const NOTICE_TEXT = text;

/** Lowercase hex SHA-256 of the text's UTF-8 bytes. */
export async function sha256Hex(shown: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(shown));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}
