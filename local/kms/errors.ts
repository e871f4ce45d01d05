// The KMS exceptions the local KMS answers with, named and shaped as AWS names them, so SDK
// clients raise the same exception classes they would against AWS.

export type KmsExceptionType =
  | 'AccessDeniedException'
  | 'AlreadyExistsException'
  | 'DisabledException'
  | 'IncompleteSignatureException'
  | 'IncorrectKeyException'
  | 'InvalidAliasNameException'
  | 'InvalidArnException'
  | 'InvalidCiphertextException'
  | 'InvalidGrantIdException'
  | 'InvalidGrantTokenException'
  | 'InvalidSignatureException'
  | 'KMSInternalException'
  | 'KMSInvalidStateException'
  | 'LimitExceededException'
  | 'MalformedPolicyDocumentException'
  | 'MissingAuthenticationTokenException'
  | 'NotFoundException'
  | 'SerializationException'
  | 'TagException'
  | 'UnknownOperationException'
  | 'UnrecognizedClientException'
  | 'UnsupportedOperationException'
  | 'ValidationException';

export class KmsException extends Error {
  override readonly name = 'KmsException';
  constructor(
    readonly type: KmsExceptionType,
    message: string,
    readonly httpStatus: number = 400,
  ) {
    super(message);
  }
}

export function validationError(field: string, value: unknown, constraint: string): KmsException {
  const shown = typeof value === 'string' ? value.slice(0, 64) : JSON.stringify(value)?.slice(0, 64);
  return new KmsException(
    'ValidationException',
    `1 validation error detected: Value '${shown ?? 'null'}' at '${field}' failed to satisfy constraint: ${constraint}`,
  );
}
