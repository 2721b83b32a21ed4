/**
 * What every key provider does: hand out fresh data keys (plaintext + wrapped copy) and unwrap
 * wrapped copies. The local master key and AWS KMS both sit behind this interface; the data-key
 * cache and the cipher never know which one they talk to.
 */
/** Size of a data key (and of a blind-index root key from a provider): 256 bits. */
export const DATA_KEY_BYTES = 32

export interface GeneratedDataKey {
  /** 32 plaintext bytes. The caller owns them and zeroes them when done. */
  plaintext: Buffer
  /** The data key wrapped by the provider's key; stored in every value it encrypts. */
  wrapped: Buffer
}

export interface KeyProvider {
  /**
   * Short ASCII id written into every value (at most 255 bytes), e.g. `local` or `aws-kms`.
   * Reads pick the provider by this id, so two configured providers must not share one.
   */
  readonly id: string
  /** A fresh 256-bit data key, wrapped under the provider's current (primary) key. */
  generateDataKey(): Promise<GeneratedDataKey>
  /** Unwrap a data key this provider wrapped. Throws KeyProviderError on any failure. */
  unwrapDataKey(wrapped: Buffer): Promise<Buffer>
  /**
   * Whether `wrapped` is wrapped under the provider's current key (used by `status` and `rotate`).
   * Providers that cannot tell answer true.
   */
  isCurrent?(wrapped: Buffer): boolean
  /**
   * Re-wraps a data key under the provider's current key without the data key ever reaching
   * this process (AWS KMS ReEncrypt), and says whether it already was under the current key.
   * `rotate` uses it to rotate a KMS key by rewriting value headers only; `status` to tell
   * current values from older ones when `isCurrent` cannot.
   */
  rewrapDataKey?(wrapped: Buffer): Promise<RewrappedDataKey>
  /** A root secret for blind indexes, derived or unwrapped by the provider. */
  blindIndexRootKey?(): Promise<Buffer>
  /**
   * Re-wraps the provider's wrapped blind-index root key under its current key (AWS KMS
   * ReEncrypt), saying whether it already was; undefined when the provider keeps no wrapped root
   * key (a local master key derives it). `rotate` prints the new value to deploy; `status`
   * reports a root key wrapped under an older key.
   */
  rewrapBlindIndexRootKey?(): Promise<RewrappedDataKey | undefined>
}

/** What `rewrapDataKey` returns. */
export interface RewrappedDataKey {
  /** The same data key, wrapped under the provider's current key. */
  wrapped: Buffer
  /** True when the input already was wrapped under the current key (no need to store `wrapped`). */
  wasCurrent: boolean
}
