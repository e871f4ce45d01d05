// Pseudonymous identifiers: employee, device and batch ids. They appear in plain text in
// encryption contexts and therefore in CloudTrail, so they must never be names or emails.

export const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export function isId(value: unknown): value is string {
  return typeof value === 'string' && ID_PATTERN.test(value);
}
