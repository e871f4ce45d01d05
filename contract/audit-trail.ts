// The CloudTrail table the compliance team queries: its columns, declared once. The CDK app makes
// the Glue table (with partition projection) from them; tools/audit checks each named query's
// Athena text against them and loads local trail records into DuckDB with the same names.

/** The Glue database and table that Athena queries over the audit bucket. */
export const AUDIT_DATABASE = 'consent_capture_audit';
export const CLOUDTRAIL_TABLE = 'cloudtrail';

export interface TrailColumn {
  readonly name: string;
  /** The Hive/Glue type, as the CloudTrail table in the Athena documentation declares it. */
  readonly type: string;
}

/**
 * CloudTrail's record fields as Athena's documented CloudTrail table declares them. Nested
 * objects whose shape varies by service (`requestparameters`, `responseelements`,
 * `additionaleventdata`, `serviceeventdetails`) are strings: read them with `json_extract_scalar`.
 */
export const CLOUDTRAIL_COLUMNS: readonly TrailColumn[] = [
  { name: 'eventversion', type: 'string' },
  {
    name: 'useridentity',
    type:
      'struct<type:string,principalid:string,arn:string,accountid:string,invokedby:string,accesskeyid:string,username:string,' +
      'onbehalfof:struct<userid:string,identitystorearn:string>,' +
      'sessioncontext:struct<attributes:struct<mfaauthenticated:string,creationdate:string>,' +
      'sessionissuer:struct<type:string,principalid:string,arn:string,accountid:string,username:string>,' +
      'ec2roledelivery:string,webidfederationdata:struct<federatedprovider:string,attributes:map<string,string>>,' +
      'sourceidentity:string>>',
  },
  { name: 'eventtime', type: 'string' },
  { name: 'eventsource', type: 'string' },
  { name: 'eventname', type: 'string' },
  { name: 'awsregion', type: 'string' },
  { name: 'sourceipaddress', type: 'string' },
  { name: 'useragent', type: 'string' },
  { name: 'errorcode', type: 'string' },
  { name: 'errormessage', type: 'string' },
  { name: 'requestparameters', type: 'string' },
  { name: 'responseelements', type: 'string' },
  { name: 'additionaleventdata', type: 'string' },
  { name: 'requestid', type: 'string' },
  { name: 'eventid', type: 'string' },
  { name: 'readonly', type: 'string' },
  { name: 'resources', type: 'array<struct<arn:string,accountid:string,type:string>>' },
  { name: 'eventtype', type: 'string' },
  { name: 'apiversion', type: 'string' },
  { name: 'recipientaccountid', type: 'string' },
  { name: 'serviceeventdetails', type: 'string' },
  { name: 'sharedeventid', type: 'string' },
  { name: 'vpcendpointid', type: 'string' },
  { name: 'vpcendpointaccountid', type: 'string' },
  { name: 'eventcategory', type: 'string' },
  { name: 'addendum', type: 'struct<reason:string,updatedfields:string,originalrequestid:string,originaleventid:string>' },
  { name: 'sessioncredentialfromconsole', type: 'string' },
  { name: 'edgedevicedetails', type: 'string' },
  { name: 'tlsdetails', type: 'struct<tlsversion:string,ciphersuite:string,clientprovidedhostheader:string>' },
];

/** Partition keys, filled by partition projection from the S3 path: `…/CloudTrail/{region}/{yyyy}/{MM}/{dd}/`. */
export const CLOUDTRAIL_PARTITIONS: readonly TrailColumn[] = [
  { name: 'region', type: 'string' },
  { name: 'timestamp', type: 'string' },
];
