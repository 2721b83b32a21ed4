import { AwsKmsKeyProvider } from '../keys/aws-kms-key-provider'
import { kmsClientConfig } from '../keys/kms-client'
import { LocalKeyProvider } from '../keys/local-key-provider'
import type { CliIo } from './cli-io'

export interface KeygenFlags {
  kmsKeyId?: string
  kmsRegion?: string
  kmsEndpoint?: string
  json?: boolean
}

/**
 * `keygen`: without KMS, a fresh local master key (32 random bytes, base64), for
 * KFE_LOCAL_MASTER_KEY. With `--kms-key-id`, a fresh blind-index root key made by KMS and
 * returned only wrapped by that key (base64), for the AWS provider's `wrappedBlindIndexRootKey`
 * (or KFE_KMS_WRAPPED_ROOT_KEY). The value alone goes to stdout (`export X=$(... keygen)`);
 * advice goes to stderr.
 */
export async function keygen(flags: KeygenFlags, io: CliIo): Promise<number> {
  const kmsKeyId = flags.kmsKeyId ?? io.env.KFE_KMS_KEY_ID
  if (!kmsKeyId) {
    const key = LocalKeyProvider.generateMasterKey()
    io.stdout.write(flags.json ? `${JSON.stringify({ localMasterKey: key })}\n` : `${key}\n`)
    if (!flags.json)
      io.stderr.write('A new local master key. Keep it in your secret manager (never in git) and set it as KFE_LOCAL_MASTER_KEY.\n')
    return 0
  }
  const clientConfig = kmsClientConfig(flags.kmsRegion ?? io.env.KFE_KMS_REGION, flags.kmsEndpoint)
  const wrapped = await AwsKmsKeyProvider.generateWrappedRootKey({ keyId: kmsKeyId, ...(clientConfig ? { clientConfig } : {}) })
  io.stdout.write(flags.json ? `${JSON.stringify({ kmsKeyId, wrappedBlindIndexRootKey: wrapped })}\n` : `${wrapped}\n`)
  if (!flags.json) {
    io.stderr.write(
      `A new blind-index root key, wrapped by KMS key ${kmsKeyId} (only KMS can unwrap it). Pass it as wrappedBlindIndexRootKey to AwsKmsKeyProvider, or set KFE_KMS_WRAPPED_ROOT_KEY.\n`,
    )
  }
  return 0
}
