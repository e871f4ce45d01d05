// The vocabulary of consent shared by every function (scopes, statuses, event kinds), declared in
// the application contract.
export { CONSENT_STATUSES, SCOPE_OF_EVENT_KIND, SCOPES, type ConsentStatus, type Scope } from '../../contract/vocabulary.js';
