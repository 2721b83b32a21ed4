import { LocalKeyProvider } from '../../src/keys/local-key-provider'

/** A fresh local master key for a test (never a fixed key in the repository). */
export function testLocalKeys(): LocalKeyProvider {
  return new LocalKeyProvider({ masterKey: LocalKeyProvider.generateMasterKey() })
}
