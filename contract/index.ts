// consent-capture's application manifest: what the application is (functions, queues and their
// jobs, tables, buckets, routes, roles, names), declared once with no AWS dependency. The CDK app
// (lib/) and the local stack (local/) both read it; the functions (lambdas/) import it.
export * from './alarms.js';
export * from './app.js';
export * from './audit-queries.js';
export * from './audit-trail.js';
export * from './capture-batch.js';
export * from './consent-requests.js';
export * from './dataset-manifest.js';
export * from './datasets.js';
export * from './environment.js';
export * from './exclusions.js';
export * from './export-expiry.js';
export * from './export-format.js';
export * from './functions.js';
export * from './jobs.js';
export * from './key-policy-events.js';
export * from './queues.js';
export * from './resources.js';
export * from './responses.js';
export * from './roles.js';
export * from './routes.js';
export * from './settings.js';
export * from './steward.js';
export * from './vocabulary.js';
