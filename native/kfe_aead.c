/*
 * AES-256-GCM for kms-field-encryption, one shot per value over OpenSSL's EVP interface.
 *
 * Why: node:crypto builds a new cipher object and OpenSSL context (key schedule included) for
 * every value; here one EVP_CIPHER_CTX per data key is keyed once, and each value only sets its
 * IV, AAD and tag. AES and GHASH are OpenSSL's (the copy inside the node binary: this file is
 * compiled against Node's bundled OpenSSL headers and links no libcrypto of its own).
 *
 * JS interface (all synchronous, all checked):
 *   newKey(key: Uint8Array(32))                                 -> handle
 *   seal(handle, iv: Uint8Array(12), plaintext, aad)            -> Buffer iv | ciphertext | tag
 *   open(handle, body: iv | ciphertext | tag, aad)              -> Buffer plaintext, or null if authentication fails
 *   openText(handle, body, aad)                                 -> string (plaintext as UTF-8), or null
 *   openTextBase64Url(handle, text, offset, aad)                -> openText of the body stored as canonical
 *                                                                  base64url (RFC 4648 §5, no padding) in text
 *                                                                  from offset; undefined if it is not that
 *   destroy(handle)                                             -> frees the context (its key schedule is cleansed)
 * A destroyed handle throws on every use. Nothing here logs or puts data in an error message.
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#define KEY_BYTES 32
#define IV_BYTES 12
#define TAG_BYTES 16
#define STACK_PLAINTEXT 4096

typedef struct {
  EVP_CIPHER_CTX *ctx; /* NULL once destroyed */
} kfe_key;

static void free_key(kfe_key *k) {
  if (k->ctx != NULL) {
    /* EVP_CIPHER_CTX_free cleanses the cipher data (the expanded key) before freeing it. */
    EVP_CIPHER_CTX_free(k->ctx);
    k->ctx = NULL;
  }
}

static void finalize_key(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  kfe_key *k = (kfe_key *)data;
  free_key(k);
  free(k);
}

static napi_value fail(napi_env env, const char *message) {
  napi_throw_type_error(env, "KFE_NATIVE_AEAD", message);
  return NULL;
}

/* The bytes of a Uint8Array (a Buffer included); 0 if `value` is not one. */
static int bytes_of(napi_env env, napi_value value, const unsigned char **data, size_t *length) {
  bool is_typed = false;
  if (napi_is_typedarray(env, value, &is_typed) != napi_ok || !is_typed) return 0;
  napi_typedarray_type type;
  void *raw = NULL;
  if (napi_get_typedarray_info(env, value, &type, length, &raw, NULL, NULL) != napi_ok || type != napi_uint8_array) return 0;
  *data = raw != NULL ? (const unsigned char *)raw : (const unsigned char *)"";
  return 1;
}

static kfe_key *key_of(napi_env env, napi_value value) {
  napi_valuetype t;
  if (napi_typeof(env, value, &t) != napi_ok || t != napi_external) return NULL;
  void *data = NULL;
  if (napi_get_value_external(env, value, &data) != napi_ok || data == NULL) return NULL;
  return (kfe_key *)data;
}

static napi_value new_key(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1) return fail(env, "newKey(key)");
  const unsigned char *key;
  size_t key_len;
  if (!bytes_of(env, argv[0], &key, &key_len) || key_len != KEY_BYTES) return fail(env, "newKey: a 32-byte key is required");
  kfe_key *k = (kfe_key *)calloc(1, sizeof(kfe_key));
  if (k == NULL) return fail(env, "newKey: out of memory");
  k->ctx = EVP_CIPHER_CTX_new();
  /* Keyed once; the IV is set per value. The key is read from the caller's buffer, never copied here. */
  if (k->ctx == NULL || EVP_CipherInit_ex(k->ctx, EVP_aes_256_gcm(), NULL, key, NULL, 1) != 1) {
    free_key(k);
    free(k);
    return fail(env, "newKey: OpenSSL could not set up AES-256-GCM");
  }
  napi_value handle;
  if (napi_create_external(env, k, finalize_key, NULL, &handle) != napi_ok) {
    free_key(k);
    free(k);
    return fail(env, "newKey: could not create the handle");
  }
  return handle;
}

static napi_value destroy_key(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1) return fail(env, "destroy(handle)");
  kfe_key *k = key_of(env, argv[0]);
  if (k == NULL) return fail(env, "destroy: not a key handle");
  free_key(k);
  return NULL;
}

static napi_value seal(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 4) return fail(env, "seal(handle, iv, plaintext, aad)");
  kfe_key *k = key_of(env, argv[0]);
  if (k == NULL) return fail(env, "seal: not a key handle");
  if (k->ctx == NULL) return fail(env, "seal: key destroyed");
  const unsigned char *iv, *pt, *aad;
  size_t iv_len, pt_len, aad_len;
  if (!bytes_of(env, argv[1], &iv, &iv_len) || iv_len != IV_BYTES) return fail(env, "seal: a 12-byte IV is required");
  if (!bytes_of(env, argv[2], &pt, &pt_len) || pt_len > 0x7fffffff - IV_BYTES - TAG_BYTES) return fail(env, "seal: plaintext must be a Uint8Array");
  if (!bytes_of(env, argv[3], &aad, &aad_len) || aad_len > 0x7fffffff) return fail(env, "seal: aad must be a Uint8Array");
  napi_value result;
  void *raw;
  if (napi_create_buffer(env, IV_BYTES + pt_len + TAG_BYTES, &raw, &result) != napi_ok) return fail(env, "seal: out of memory");
  unsigned char *out = (unsigned char *)raw;
  memcpy(out, iv, IV_BYTES);
  int n = 0;
  int ok = EVP_CipherInit_ex(k->ctx, NULL, NULL, NULL, iv, 1) == 1;
  if (ok && aad_len > 0) ok = EVP_CipherUpdate(k->ctx, NULL, &n, aad, (int)aad_len) == 1;
  if (ok && pt_len > 0) ok = EVP_CipherUpdate(k->ctx, out + IV_BYTES, &n, pt, (int)pt_len) == 1 && (size_t)n == pt_len;
  if (ok) ok = EVP_CipherFinal_ex(k->ctx, out + IV_BYTES + pt_len, &n) == 1 && n == 0;
  if (ok) ok = EVP_CIPHER_CTX_ctrl(k->ctx, EVP_CTRL_GCM_GET_TAG, TAG_BYTES, out + IV_BYTES + pt_len) == 1;
  if (!ok) {
    OPENSSL_cleanse(out, IV_BYTES + pt_len + TAG_BYTES);
    return fail(env, "seal: OpenSSL failed");
  }
  return result;
}

/* Opens iv | ciphertext | tag into `out` (pt_len bytes); 1 if authentic. */
static int open_into(kfe_key *k, const unsigned char *body, size_t pt_len, const unsigned char *aad, size_t aad_len, unsigned char *out) {
  int n = 0;
  if (EVP_CipherInit_ex(k->ctx, NULL, NULL, NULL, body, 0) != 1) return 0;
  if (aad_len > 0 && EVP_CipherUpdate(k->ctx, NULL, &n, aad, (int)aad_len) != 1) return 0;
  if (pt_len > 0 && (EVP_CipherUpdate(k->ctx, out, &n, body + IV_BYTES, (int)pt_len) != 1 || (size_t)n != pt_len)) return 0;
  /* The tag is set after the data and before Final, the order OpenSSL documents for decryption. */
  if (EVP_CIPHER_CTX_ctrl(k->ctx, EVP_CTRL_GCM_SET_TAG, TAG_BYTES, (void *)(body + IV_BYTES + pt_len)) != 1) return 0;
  return EVP_CipherFinal_ex(k->ctx, out + pt_len, &n) == 1;
}

typedef struct {
  kfe_key *key;
  const unsigned char *body, *aad;
  size_t pt_len, aad_len;
} open_args;

static int read_open_args(napi_env env, napi_callback_info info, const char *name, open_args *a) {
  size_t argc = 3;
  napi_value argv[3];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3) return fail(env, name), 0;
  a->key = key_of(env, argv[0]);
  if (a->key == NULL) return fail(env, "open: not a key handle"), 0;
  if (a->key->ctx == NULL) return fail(env, "open: key destroyed"), 0;
  size_t body_len;
  if (!bytes_of(env, argv[1], &a->body, &body_len) || body_len < IV_BYTES + TAG_BYTES || body_len > 0x7fffffff)
    return fail(env, "open: body must be iv | ciphertext | tag"), 0;
  if (!bytes_of(env, argv[2], &a->aad, &a->aad_len) || a->aad_len > 0x7fffffff) return fail(env, "open: aad must be a Uint8Array"), 0;
  a->pt_len = body_len - IV_BYTES - TAG_BYTES;
  return 1;
}

static napi_value open_bytes(napi_env env, napi_callback_info info) {
  open_args a;
  if (!read_open_args(env, info, "open(handle, body, aad)", &a)) return NULL;
  napi_value result;
  void *raw;
  if (napi_create_buffer(env, a.pt_len, &raw, &result) != napi_ok) return fail(env, "open: out of memory");
  if (!open_into(a.key, a.body, a.pt_len, a.aad, a.aad_len, (unsigned char *)raw)) {
    OPENSSL_cleanse(raw, a.pt_len); /* unauthenticated plaintext never leaves */
    napi_get_null(env, &result);
  }
  return result;
}

static napi_value open_text(napi_env env, napi_callback_info info) {
  open_args a;
  if (!read_open_args(env, info, "openText(handle, body, aad)", &a)) return NULL;
  unsigned char stack[STACK_PLAINTEXT];
  unsigned char *out = a.pt_len <= sizeof stack ? stack : (unsigned char *)malloc(a.pt_len);
  if (out == NULL) return fail(env, "openText: out of memory");
  napi_value result;
  int ok = open_into(a.key, a.body, a.pt_len, a.aad, a.aad_len, out);
  napi_status status = ok ? napi_create_string_utf8(env, (const char *)out, a.pt_len, &result) : napi_get_null(env, &result);
  OPENSSL_cleanse(out, a.pt_len);
  if (out != stack) free(out);
  if (status != napi_ok) return fail(env, "openText: could not create the string");
  return result;
}

/* The value of each base64url character (RFC 4648 §5), -1 for any other code unit below 128. */
static const signed char B64URL[128] = {
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, -1, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -1, -1, -1,
    -1, 0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, 63,
    -1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, -1, -1, -1, -1, -1,
};

/* The value of a UTF-16 code unit as a base64url character, or -1 (anything outside ASCII included). */
static inline int b64url_value(char16_t c) { return c < 128 ? B64URL[c] : -1; }

/*
 * Decodes canonical base64url without padding, from UTF-16 code units: only the alphabet, a length
 * not 1 mod 4, and the unused low bits of a last partial quantum zero (the one text that encodes
 * these bytes, as the library's strict decoder). Returns the byte count, or -1.
 */
static long decode_b64url(const char16_t *in, size_t n, unsigned char *out) {
  if (n % 4 == 1) return -1;
  size_t i = 0, o = 0;
  for (; i + 4 <= n; i += 4) {
    int a = b64url_value(in[i]), b = b64url_value(in[i + 1]), c = b64url_value(in[i + 2]), d = b64url_value(in[i + 3]);
    if ((a | b | c | d) < 0) return -1;
    unsigned long v = ((unsigned long)a << 18) | ((unsigned long)b << 12) | ((unsigned long)c << 6) | (unsigned long)d;
    out[o++] = (unsigned char)(v >> 16);
    out[o++] = (unsigned char)(v >> 8);
    out[o++] = (unsigned char)v;
  }
  size_t rem = n - i;
  if (rem == 2) {
    int a = b64url_value(in[i]), b = b64url_value(in[i + 1]);
    if ((a | b) < 0 || (b & 0x0f) != 0) return -1;
    out[o++] = (unsigned char)((a << 2) | (b >> 4));
  } else if (rem == 3) {
    int a = b64url_value(in[i]), b = b64url_value(in[i + 1]), c = b64url_value(in[i + 2]);
    if ((a | b | c) < 0 || (c & 0x03) != 0) return -1;
    out[o++] = (unsigned char)((a << 2) | (b >> 4));
    out[o++] = (unsigned char)(((b & 0x0f) << 4) | (c >> 2));
  }
  return (long)o;
}

/* Texts up to this many UTF-16 code units are copied out of V8 once, into the stack; longer ones are measured first. */
#define STACK_TEXT 1024

/* openText of a body stored as base64url text: decoding, opening and UTF-8 in one call, no Buffer. */
static napi_value open_text_b64(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 4) return fail(env, "openTextBase64Url(handle, text, offset, aad)");
  kfe_key *k = key_of(env, argv[0]);
  if (k == NULL) return fail(env, "open: not a key handle");
  if (k->ctx == NULL) return fail(env, "open: key destroyed");
  uint32_t offset = 0;
  if (napi_get_value_uint32(env, argv[2], &offset) != napi_ok) return fail(env, "openTextBase64Url: offset must be a number");
  const unsigned char *aad;
  size_t aad_len;
  if (!bytes_of(env, argv[3], &aad, &aad_len) || aad_len > 0x7fffffff) return fail(env, "open: aad must be a Uint8Array");
  napi_value result;
  napi_get_undefined(env, &result);
  /* UTF-16 code units, as JS sees the string: offsets are JS string offsets, and any code unit
   * outside ASCII (so outside the alphabet) is refused, never narrowed to a byte. */
  char16_t stack_text[STACK_TEXT];
  char16_t *text = stack_text;
  size_t text_len = 0;
  if (napi_get_value_string_utf16(env, argv[1], stack_text, STACK_TEXT, &text_len) != napi_ok)
    return fail(env, "openTextBase64Url: text must be a string");
  if (text_len + 1 >= STACK_TEXT) { /* it may have been cut: measure, copy whole */
    if (napi_get_value_string_utf16(env, argv[1], NULL, 0, &text_len) != napi_ok || text_len > 0x3fffffff) return result;
    text = (char16_t *)malloc((text_len + 1) * sizeof(char16_t));
    if (text == NULL) return fail(env, "openTextBase64Url: out of memory");
    size_t copied = 0;
    if (napi_get_value_string_utf16(env, argv[1], text, text_len + 1, &copied) != napi_ok || copied != text_len) {
      free(text);
      return result;
    }
  }
  napi_status status = napi_ok;
  if (offset <= text_len) {
    /* The decoded body, then the plaintext (at most as long as the body). */
    size_t n = text_len - offset;
    size_t body_cap = n / 4 * 3 + 3;
    unsigned char stack[STACK_PLAINTEXT];
    unsigned char *body = 2 * body_cap <= sizeof stack ? stack : (unsigned char *)malloc(2 * body_cap);
    if (body == NULL) {
      if (text != stack_text) free(text);
      return fail(env, "openTextBase64Url: out of memory");
    }
    unsigned char *out = body + body_cap;
    long body_len = decode_b64url(text + offset, n, body);
    if (body_len >= IV_BYTES + TAG_BYTES) {
      size_t pt_len = (size_t)body_len - IV_BYTES - TAG_BYTES;
      status = open_into(k, body, pt_len, aad, aad_len, out) ? napi_create_string_utf8(env, (const char *)out, pt_len, &result)
                                                              : napi_get_null(env, &result);
      OPENSSL_cleanse(out, pt_len);
    }
    if (body != stack) free(body);
  }
  if (text != stack_text) free(text);
  if (status != napi_ok) return fail(env, "openTextBase64Url: could not create the string");
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"newKey", NULL, new_key, NULL, NULL, NULL, napi_enumerable, NULL},
      {"seal", NULL, seal, NULL, NULL, NULL, napi_enumerable, NULL},
      {"open", NULL, open_bytes, NULL, NULL, NULL, napi_enumerable, NULL},
      {"openText", NULL, open_text, NULL, NULL, NULL, napi_enumerable, NULL},
      {"openTextBase64Url", NULL, open_text_b64, NULL, NULL, NULL, napi_enumerable, NULL},
      {"destroy", NULL, destroy_key, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
