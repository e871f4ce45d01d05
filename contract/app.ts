// The application's own names: what it calls itself in AWS tags, key aliases, logs and metrics.
// Both the CDK app and the local stack read them from here.

/** The application's name: the `app` tag's value, the prefix of local resource names and the service name in logs. */
export const APP_NAME = 'consent-capture';

/** The tag every employee key carries; the consent role may create keys only with it. */
export const APP_TAG = { key: 'app', value: APP_NAME } as const;

/** Employee key aliases are `alias/consent-capture/{employeeId}`; IAM scopes alias permissions by this prefix. */
export const ALIAS_PREFIX = `alias/${APP_NAME}/`;

/**
 * The CloudWatch metrics namespace (POWERTOOLS_METRICS_NAMESPACE). AWS's spelling, since alarms
 * and dashboards in the account are keyed on it; locally no metric leaves the machine.
 */
export const METRICS_NAMESPACE = 'ConsentCapture';

/** Powertools' service name (POWERTOOLS_SERVICE_NAME), the `service` key of every log line. */
export const SERVICE_NAME = APP_NAME;
