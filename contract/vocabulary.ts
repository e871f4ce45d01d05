// The words the API and the ledger share: scopes, statuses, event kinds, pseudonymous ids and the
// token scopes routes require.

export const SCOPES = ['keystrokes', 'clicks', 'app-focus'] as const;
export type Scope = (typeof SCOPES)[number];

export const CONSENT_STATUSES = ['none', 'active', 'paused', 'revoked', 'purging', 'purged'] as const;
export type ConsentStatus = (typeof CONSENT_STATUSES)[number];

/** Which scope each captured event kind belongs to. */
export const SCOPE_OF_EVENT_KIND = {
  keystroke: 'keystrokes',
  click: 'clicks',
  'app-focus': 'app-focus',
} as const satisfies Record<string, Scope>;

/**
 * Employee, device and batch ids. They appear in plain text in encryption contexts and therefore
 * in CloudTrail, so they must be pseudonymous, never names or emails.
 */
export const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** JWT `scope` values. A route accepts a token holding any one of its scopes. `datasets:build` is the ML platform's. */
export const API_SCOPES = ['capture:write', 'consent:manage', 'capture:offboard', 'datasets:build'] as const;
export type ApiScope = (typeof API_SCOPES)[number];
