// The deployer's settings (CDK context in AWS; fixed values locally) that function environments
// refer to, with their defaults.

export interface AppSettings {
  /** The JWT claim that holds the employee id. */
  readonly employeeIdClaim: string;
  /** Days a capture object is kept before S3 expires it (1-3650). */
  readonly retentionDays: number;
  /** Days a shredded key waits before KMS deletes it (7-30). */
  readonly keyDeletionDays: number;
  /** Days a training dataset's grants live before the sweeper retires them (1-30). */
  readonly datasetMaxDays: number;
  /** The compliance role that key policies give read-only access. @default - none */
  readonly auditorRoleArn?: string;
}

/** The settings with a default: CDK context may override each; the local stack uses them as they are. */
export const SETTING_DEFAULTS = {
  employeeIdClaim: 'sub',
  retentionDays: 365,
  keyDeletionDays: 7,
  datasetMaxDays: 30,
} as const satisfies Partial<AppSettings>;

export type SettingName = keyof AppSettings;
