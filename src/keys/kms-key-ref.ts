import { ConfigurationError } from '../errors'

// KMS key references (key id, key ARN, alias name `alias/...`, alias ARN): checked, and read for
// what they say without a call to KMS (the region of an ARN, whether an alias is AWS managed).

/** A key id, key ARN, alias name or alias ARN as given, or a ConfigurationError naming `label`. */
export function checkKeyRef(ref: unknown, label: string): string {
  if (typeof ref !== 'string' || ref.trim() === '' || ref.trim() !== ref) {
    throw new ConfigurationError(`${label} must be a KMS key id, key ARN, alias name (alias/...) or alias ARN`)
  }
  return ref
}

/** The region of a key or alias ARN (`arn:aws:kms:<region>:...`); undefined for ids and alias names. */
export function regionOfKeyArn(keyRef: string): string | undefined {
  return /^arn:[^:]+:kms:([^:]+):/.exec(keyRef)?.[1]
}

/** Whether a key reference names an AWS managed key (`alias/aws/...`, by name or alias ARN). */
export function isAwsManagedKeyRef(keyRef: string): boolean {
  return keyRef.startsWith('alias/aws/') || /^arn:[^:]+:kms:[^:]*:[^:]*:alias\/aws\//.test(keyRef)
}
