// What the policy-watch queue carries: a CloudTrail PutKeyPolicy record in EventBridge's envelope
// ("AWS API Call via CloudTrail"). In AWS an EventBridge rule with KEY_POLICY_WRITE_PATTERN sends
// it; locally a dispatcher wraps the local trail's records the same way and applies the same pattern.
import * as z from 'zod';

/** EventBridge's detail-type for a CloudTrail management event. */
export const CLOUDTRAIL_DETAIL_TYPE = 'AWS API Call via CloudTrail';

/**
 * Every PutKeyPolicy, allowed or denied. EventBridge cannot see a key's alias, so the function
 * decides which keys are employee keys (by their alias under ALIAS_PREFIX).
 */
export const KEY_POLICY_WRITE_PATTERN = {
  source: ['aws.kms'],
  detailType: [CLOUDTRAIL_DETAIL_TYPE],
  detail: { eventSource: ['kms.amazonaws.com'], eventName: ['PutKeyPolicy'] },
} as const;

/** The CloudTrail record fields policy-watch reads; the rest of the record passes through unread. */
export const keyPolicyWriteRecordSchema = z
  .object({
    eventID: z.string().min(1).max(128),
    eventTime: z.string().datetime({ offset: true }),
    eventSource: z.literal('kms.amazonaws.com'),
    eventName: z.literal('PutKeyPolicy'),
    userIdentity: z.object({ arn: z.string().max(2048).optional() }).passthrough(),
    errorCode: z.string().max(256).optional(),
    requestParameters: z
      .object({
        keyId: z.string().min(1).max(2048),
        policy: z.string().min(1).max(131_072),
      })
      .passthrough()
      // A denied call may be recorded without its parameters.
      .nullable()
      .optional(),
    resources: z.array(z.object({ ARN: z.string().max(2048) }).passthrough()).optional(),
  })
  .passthrough();
export type KeyPolicyWriteRecord = z.infer<typeof keyPolicyWriteRecordSchema>;

/** The queue's message: EventBridge's envelope around the record. */
export const keyPolicyWriteEventSchema = z
  .object({
    'detail-type': z.literal(CLOUDTRAIL_DETAIL_TYPE),
    source: z.literal('aws.kms'),
    detail: keyPolicyWriteRecordSchema,
  })
  .passthrough();
export type KeyPolicyWriteEvent = z.infer<typeof keyPolicyWriteEventSchema>;
