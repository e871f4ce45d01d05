// The vocabulary of consent shared by every function: scopes, statuses and event kinds.

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
