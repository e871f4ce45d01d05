// What a capture object's key says: `captures/{employeeId}/{scope}/{yyyy}/{mm}/{dd}/{batchId}`
// names the encryption context its message must carry. The export worker and the dataset reader
// both hold a decrypted message to the key it was fetched from.
import { CAPTURES_PREFIX } from './resources.js';
import { ID_PATTERN, SCOPES, type Scope } from './vocabulary.js';

const KEY_PATTERN = new RegExp(`^${CAPTURES_PREFIX}([^/]+)/([^/]+)/\\d{4}/\\d{2}/\\d{2}/([^/]+)$`);

/** `captures/{employeeId}/{scope}/{yyyy}/{mm}/{dd}/{batchId}` → what its encryption context must be; undefined for any other key. */
export function contextOfKey(key: string): { employeeId: string; scope: Scope; batchId: string } | undefined {
  const match = KEY_PATTERN.exec(key);
  if (match === null) return undefined;
  const [, employeeId = '', scope = '', batchId = ''] = match;
  if (!ID_PATTERN.test(employeeId) || !ID_PATTERN.test(batchId) || !(SCOPES as readonly string[]).includes(scope)) return undefined;
  return { employeeId, scope: scope as Scope, batchId };
}
