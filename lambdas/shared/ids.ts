// Pseudonymous identifiers: employee, device and batch ids. They appear in plain text in
// encryption contexts and therefore in CloudTrail, so they must never be names or emails.
import { ID_PATTERN } from '../../contract/vocabulary.js';

export { ID_PATTERN };

export function isId(value: unknown): value is string {
  return typeof value === 'string' && ID_PATTERN.test(value);
}
