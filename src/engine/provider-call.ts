import { KeyProviderError } from '../errors'

/** The deadline of one key-provider call unless `providerTimeoutMs` says otherwise: 10 s. */
export const DEFAULT_PROVIDER_TIMEOUT_MS = 10_000

/** Runs one key-provider call with a deadline, so a hung KMS never hangs a request forever. */
export async function withDeadline<T>(providerId: string, timeoutMs: number, call: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new KeyProviderError(providerId, 'unavailable', `no answer within ${timeoutMs} ms`)), timeoutMs)
    timer.unref()
  })
  try {
    return await Promise.race([call(), deadline])
  } catch (err) {
    if (err instanceof KeyProviderError) throw err
    throw new KeyProviderError(providerId, 'unavailable', 'the key provider call failed', { cause: err })
  } finally {
    clearTimeout(timer)
  }
}
