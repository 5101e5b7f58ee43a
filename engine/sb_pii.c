/* The PII envelope (AES-256-GCM), match HMACs and masking: see sb_pii.h. */
#include "sb_pii.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <string.h>

#define PREFIX_LEN 5 /* "sbx1." */

/* The algorithms, fetched once for the process: OpenSSL 3 looks an
 * implicit one (EVP_aes_256_gcm(), EVP_sha256()) up again, under a lock, on
 * every init. */
static EVP_CIPHER *gcm;
static EVP_MD *sha256;
static pthread_once_t fetched = PTHREAD_ONCE_INIT;

static void fetch(void) {
  gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
  sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static const EVP_CIPHER *aes_gcm(void) {
  pthread_once(&fetched, fetch);
  return gcm ? gcm : EVP_aes_256_gcm();
}

const void *sb__pii_aes_gcm(void) { return aes_gcm(); }

int sb_pii_hmac_sha256(const unsigned char key[SB_PII_KEY_LEN],
                       const void *msg, size_t n, unsigned char out[32]) {
  /* RFC 2104 over the fetched SHA-256: H((K^opad) || H((K^ipad) || m)),
   * the 32-byte key zero-padded to the 64-byte block */
  pthread_once(&fetched, fetch);
  const EVP_MD *md = sha256 ? sha256 : EVP_sha256();
  unsigned char pad[64], inner[32];
  unsigned int len = 0;
  int ok = 1;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  for (int i = 0; i < 64; i++)
    pad[i] = (unsigned char)((i < SB_PII_KEY_LEN ? key[i] : 0) ^ 0x36);
  ok = ctx && EVP_DigestInit_ex(ctx, md, NULL) == 1 &&
       EVP_DigestUpdate(ctx, pad, 64) == 1 &&
       EVP_DigestUpdate(ctx, msg, n) == 1 &&
       EVP_DigestFinal_ex(ctx, inner, &len) == 1;
  for (int i = 0; i < 64; i++)
    pad[i] = (unsigned char)((i < SB_PII_KEY_LEN ? key[i] : 0) ^ 0x5c);
  ok = ok && EVP_DigestInit_ex(ctx, md, NULL) == 1 &&
       EVP_DigestUpdate(ctx, pad, 64) == 1 &&
       EVP_DigestUpdate(ctx, inner, 32) == 1 &&
       EVP_DigestFinal_ex(ctx, out, &len) == 1;
  EVP_MD_CTX_free(ctx);
  sb_pii_wipe(pad, sizeof pad);
  return ok ? 0 : -1;
}

void sb_pii_wipe(void *p, size_t n) {
  if (p != NULL && n > 0)
    OPENSSL_cleanse(p, n);
}

int sb_pii_is_sealed(const char *v) {
  return v != NULL && strncmp(v, SB_PII_PREFIX, PREFIX_LEN) == 0;
}

static size_t b64_len(size_t n) { return (n * 4 + 2) / 3; }

size_t sb_pii_sealed_len(size_t keyid_len, size_t plain_len) {
  return PREFIX_LEN + keyid_len + 1 +
         b64_len(SB_PII_NONCE_LEN + plain_len + SB_PII_TAG_LEN);
}

long sb_pii_sealed_max(long max_cps) {
  return (long)sb_pii_sealed_len(SB_PII_KEYID_MAX, (size_t)max_cps * 4);
}

static const char b64u[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

long sb_b64url_encode(const unsigned char *in, size_t n, char *out,
                      size_t outsz) {
  size_t need = b64_len(n);
  if (outsz < need + 1)
    return -1;
  size_t o = 0, i = 0;
  for (; i + 3 <= n; i += 3) {
    unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
    out[o++] = b64u[v >> 18 & 63];
    out[o++] = b64u[v >> 12 & 63];
    out[o++] = b64u[v >> 6 & 63];
    out[o++] = b64u[v & 63];
  }
  if (n - i == 1) {
    unsigned v = (unsigned)in[i] << 16;
    out[o++] = b64u[v >> 18 & 63];
    out[o++] = b64u[v >> 12 & 63];
  } else if (n - i == 2) {
    unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
    out[o++] = b64u[v >> 18 & 63];
    out[o++] = b64u[v >> 12 & 63];
    out[o++] = b64u[v >> 6 & 63];
  }
  out[o] = '\0';
  return (long)o;
}

static int b64_val(int c) {
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '-')
    return 62;
  if (c == '_')
    return 63;
  return -1;
}

long sb_b64url_decode(const char *in, size_t n, unsigned char *out,
                      size_t outsz) {
  if (n % 4 == 1)
    return -1;
  size_t need = n * 3 / 4;
  if (outsz < need)
    return -1;
  size_t o = 0;
  unsigned acc = 0;
  int bits = 0;
  for (size_t i = 0; i < n; i++) {
    int v = b64_val((unsigned char)in[i]);
    if (v < 0)
      return -1;
    acc = acc << 6 | (unsigned)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (unsigned char)(acc >> bits & 0xff);
    }
  }
  /* the unused low bits of the last character must be zero (one form) */
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
    return -1;
  return (long)o;
}

/* AAD = tenant "\0" type "\0" field */
static int add_aad(EVP_CIPHER_CTX *ctx, const char *tenant, const char *type,
                   const char *field) {
  int n = 0;
  const char *parts[3] = {tenant, type, field};
  for (int i = 0; i < 3; i++) {
    const char *p = parts[i] ? parts[i] : "";
    if (EVP_CipherUpdate(ctx, NULL, &n, (const unsigned char *)p,
                         (int)strlen(p) + (i < 2 ? 1 : 0)) != 1)
      return -1;
  }
  return 0;
}

int sb_pii_seal(const unsigned char key[SB_PII_KEY_LEN], const char *key_id,
                const char *aad_tenant, const char *aad_type,
                const char *aad_field, const char *plain, size_t plain_len,
                char *out, size_t outsz, sb_err_t *err) {
  size_t kl = strlen(key_id);
  if (kl == 0 || kl > SB_PII_KEYID_MAX || strchr(key_id, '.') != NULL)
    return sb_err_set(err, SB_EINVAL, "pii: bad key id");
  if (plain_len > 1 << 20 || sb_pii_sealed_len(kl, plain_len) + 1 > outsz)
    return sb_err_set(err, SB_EINVAL, "pii: %zu bytes do not fit the "
                      "envelope's buffer", plain_len);
  unsigned char stack[4096], *raw = stack;
  size_t rawn = SB_PII_NONCE_LEN + plain_len + SB_PII_TAG_LEN;
  unsigned char *heap = NULL;
  if (rawn > sizeof stack && (raw = heap = OPENSSL_malloc(rawn)) == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  int rc = 0, n = 0;
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  if (ctx == NULL || RAND_bytes(raw, SB_PII_NONCE_LEN) != 1 ||
      EVP_EncryptInit_ex(ctx, aes_gcm(), NULL, NULL, NULL) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, SB_PII_NONCE_LEN,
                          NULL) != 1 ||
      EVP_EncryptInit_ex(ctx, NULL, NULL, key, raw) != 1 ||
      add_aad(ctx, aad_tenant, aad_type, aad_field) != 0 ||
      EVP_EncryptUpdate(ctx, raw + SB_PII_NONCE_LEN, &n,
                        (const unsigned char *)plain, (int)plain_len) != 1 ||
      EVP_EncryptFinal_ex(ctx, raw + SB_PII_NONCE_LEN + n, &n) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, SB_PII_TAG_LEN,
                          raw + SB_PII_NONCE_LEN + plain_len) != 1) {
    rc = sb_err_set(err, SB_ECRYPTO, "pii: AES-256-GCM encryption failed");
    goto out;
  }
  memcpy(out, SB_PII_PREFIX, PREFIX_LEN);
  memcpy(out + PREFIX_LEN, key_id, kl);
  out[PREFIX_LEN + kl] = '.';
  size_t at = PREFIX_LEN + kl + 1;
  if (sb_b64url_encode(raw, rawn, out + at, outsz - at) < 0)
    rc = sb_err_set(err, SB_EINVAL, "pii: envelope buffer too small");
out:
  EVP_CIPHER_CTX_free(ctx);
  sb_pii_wipe(raw, rawn);
  OPENSSL_free(heap);
  return rc;
}

/* Splits an envelope: the key id's span and the payload's. */
static int split(const char *v, const char **kid, size_t *kidn,
                 const char **b64, size_t *b64n) {
  if (!sb_pii_is_sealed(v))
    return -1;
  const char *k = v + PREFIX_LEN, *dot = strchr(k, '.');
  if (dot == NULL || dot == k || (size_t)(dot - k) > SB_PII_KEYID_MAX)
    return -1;
  *kid = k;
  *kidn = (size_t)(dot - k);
  *b64 = dot + 1;
  *b64n = strlen(dot + 1);
  return *b64n >= b64_len(SB_PII_NONCE_LEN + SB_PII_TAG_LEN) ? 0 : -1;
}

int sb_pii_key_id(const char *v, char *key_id, sb_err_t *err) {
  const char *k, *b;
  size_t kn, bn;
  if (split(v, &k, &kn, &b, &bn) != 0)
    return sb_err_set(err, SB_EDECODE, "pii: not an sbx1 envelope");
  memcpy(key_id, k, kn);
  key_id[kn] = '\0';
  return 0;
}

int sb_pii_open(const unsigned char key[SB_PII_KEY_LEN], const char *v,
                const char *aad_tenant, const char *aad_type,
                const char *aad_field, char *out, size_t outsz, size_t *outlen,
                sb_err_t *err) {
  const char *k, *b;
  size_t kn, bn;
  if (split(v, &k, &kn, &b, &bn) != 0)
    return sb_err_set(err, SB_EDECODE, "pii: %s: not an sbx1 envelope",
                      aad_field ? aad_field : "?");
  unsigned char stack[4096], *raw = stack, *heap = NULL;
  size_t cap = bn * 3 / 4 + 1;
  if (cap > sizeof stack && (raw = heap = OPENSSL_malloc(cap)) == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  int rc = 0, n = 0;
  EVP_CIPHER_CTX *ctx = NULL;
  long rawn = sb_b64url_decode(b, bn, raw, cap);
  if (rawn < SB_PII_NONCE_LEN + SB_PII_TAG_LEN) {
    rc = sb_err_set(err, SB_EDECODE, "pii: %s: the envelope's payload is not "
                    "base64url of a nonce, ciphertext and tag",
                    aad_field ? aad_field : "?");
    goto out;
  }
  size_t cn = (size_t)rawn - SB_PII_NONCE_LEN - SB_PII_TAG_LEN;
  if (cn + 1 > outsz) {
    rc = sb_err_set(err, SB_EINVAL, "pii: plaintext buffer too small");
    goto out;
  }
  ctx = EVP_CIPHER_CTX_new();
  if (ctx == NULL ||
      EVP_DecryptInit_ex(ctx, aes_gcm(), NULL, NULL, NULL) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, SB_PII_NONCE_LEN,
                          NULL) != 1 ||
      EVP_DecryptInit_ex(ctx, NULL, NULL, key, raw) != 1 ||
      add_aad(ctx, aad_tenant, aad_type, aad_field) != 0 ||
      EVP_DecryptUpdate(ctx, (unsigned char *)out, &n,
                        raw + SB_PII_NONCE_LEN, (int)cn) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, SB_PII_TAG_LEN,
                          raw + SB_PII_NONCE_LEN + cn) != 1) {
    rc = sb_err_set(err, SB_ECRYPTO, "pii: AES-256-GCM decryption failed");
    goto out;
  }
  if (EVP_DecryptFinal_ex(ctx, (unsigned char *)out + n, &n) != 1) {
    rc = sb_err_set(err, SB_ECRYPTO,
                    "pii: %s (key %.*s): authentication failed (GCM tag): the "
                    "value was altered, or belongs to another tenant, event "
                    "type or field",
                    aad_field ? aad_field : "?", (int)kn, k);
    goto out;
  }
  out[cn] = '\0';
  if (outlen)
    *outlen = cn;
out:
  if (rc != 0 && outsz > 0)
    sb_pii_wipe(out, outsz);
  EVP_CIPHER_CTX_free(ctx);
  sb_pii_wipe(raw, rawn > 0 ? (size_t)rawn : 0);
  OPENSSL_free(heap);
  return rc;
}

/* [*b, *e) without the white space at either end */
static void trim(const char **b, const char **e) {
  while (*b < *e && isspace((unsigned char)**b))
    (*b)++;
  while (*e > *b && isspace((unsigned char)(*e)[-1]))
    (*e)--;
}

int sb_pii_norm_phone(const char *in, char *out, size_t outsz, sb_err_t *err) {
  if (outsz < 17)
    return sb_err_set(err, SB_EINVAL, "pii: phone buffer too small");
  const char *p = in;
  while (*p == ' ' || *p == '\t')
    p++;
  if (*p == '+')
    p++;
  else if (p[0] == '0' && p[1] == '0')
    p += 2;
  else
    return sb_err_set(err, SB_EVALIDATE,
                      "is not an E.164 phone number: give '+' and the "
                      "country code (+14155550123)");
  size_t n = 0;
  out[n++] = '+';
  for (; *p; p++) {
    if (*p >= '0' && *p <= '9') {
      if (n >= 16)
        return sb_err_set(err, SB_EVALIDATE, "is not an E.164 phone number: "
                                             "more than 15 digits");
      out[n++] = *p;
    } else if (!strchr(" -.()\t", *p)) {
      return sb_err_set(err, SB_EVALIDATE,
                        "is not an E.164 phone number: only digits, '+' and "
                        "the separators ' -.()' are allowed");
    }
  }
  out[n] = '\0';
  if (n - 1 < 7 || out[1] == '0')
    return sb_err_set(err, SB_EVALIDATE,
                      "is not an E.164 phone number: 7 to 15 digits, the "
                      "first not 0");
  return 0;
}

int sb_pii_norm_email(const char *in, char *out, size_t outsz, sb_err_t *err) {
  const char *b = in, *e = in + strlen(in);
  trim(&b, &e);
  size_t n = (size_t)(e - b);
  if (n + 1 > outsz)
    return sb_err_set(err, SB_EVALIDATE, "is too long for an e-mail address");
  const char *at = memchr(b, '@', n);
  if (at == NULL || at == b || at == e - 1 ||
      memchr(at + 1, '@', (size_t)(e - at - 1)) != NULL)
    return sb_err_set(err, SB_EVALIDATE,
                      "is not an e-mail address (one '@' with something on "
                      "each side)");
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)b[i];
    if (isspace(ch))
      return sb_err_set(err, SB_EVALIDATE,
                        "is not an e-mail address (white space inside)");
    out[i] = (char)(ch < 0x80 ? tolower(ch) : ch);
  }
  out[n] = '\0';
  return 0;
}

sb_pii_match_t sb_pii_match_for_channel(const char *channel) {
  static const struct {
    const char *channel;
    sb_pii_match_t kind;
  } map[] = {{"sms", SB_PII_MATCH_PHONE},   {"whatsapp", SB_PII_MATCH_PHONE},
             {"email", SB_PII_MATCH_EMAIL}, {"slack", SB_PII_MATCH_SLACK},
             {"push", SB_PII_MATCH_PUSH}};
  for (size_t i = 0; channel != NULL && i < sizeof map / sizeof map[0]; i++)
    if (strcmp(channel, map[i].channel) == 0)
      return map[i].kind;
  return SB_PII_MATCH_ADDRESS;
}

/* A Slack recipient, trimmed, into out: a channel, group, DM or user id
 * (C, G, D, U or W, then 8 to 20 upper-case letters and digits), a
 * #channel-name (1 to 80 of lower-case letters, digits, '-', '_', '.'),
 * or an https:// incoming-webhook URL (visible ASCII). */
static int norm_slack(const char *in, char *out, size_t outsz, sb_err_t *err) {
  const char *b = in, *e = in + strlen(in);
  trim(&b, &e);
  size_t n = (size_t)(e - b);
  int ok = n > 0 && n < outsz;
  if (ok && strncmp(b, "https://", 8) == 0) {
    ok = n > 8;
    for (size_t i = 8; ok && i < n; i++)
      ok = b[i] > 0x20 && b[i] < 0x7f;
  } else if (ok && b[0] == '#') {
    ok = n >= 2 && n <= 81;
    for (size_t i = 1; ok && i < n; i++)
      ok = (b[i] >= 'a' && b[i] <= 'z') || (b[i] >= '0' && b[i] <= '9') ||
           strchr("-_.", b[i]) != NULL;
  } else if (ok) {
    ok = strchr("CGDUW", b[0]) != NULL && n >= 9 && n <= 21;
    for (size_t i = 1; ok && i < n; i++)
      ok = (b[i] >= 'A' && b[i] <= 'Z') || (b[i] >= '0' && b[i] <= '9');
  }
  if (!ok)
    return sb_err_set(err, SB_EVALIDATE,
                      "is not a Slack channel: give a channel id "
                      "(C0123ABCDE), a #channel-name or an https:// "
                      "incoming-webhook URL");
  memcpy(out, b, n);
  out[n] = '\0';
  return 0;
}

/* A push device token (FCM registration tokens are about 160 characters
 * of letters, digits, '-', '_' and ':'), exactly as given. */
static int norm_push(const char *in, char *out, size_t outsz, sb_err_t *err) {
  size_t n = strlen(in);
  int ok = n >= 20 && n <= 320 && n < outsz;
  for (size_t i = 0; ok && i < n; i++)
    ok = isalnum((unsigned char)in[i]) || strchr("_:.-", in[i]) != NULL;
  if (!ok)
    return sb_err_set(err, SB_EVALIDATE,
                      "is not a push device token: 20 to 320 of letters, "
                      "digits, '-', '_', ':' and '.'");
  memcpy(out, in, n + 1);
  return 0;
}

int sb_pii_match_hmac(const unsigned char key[SB_PII_KEY_LEN],
                      sb_pii_match_t kind, const char *value,
                      char out[SB_PII_HMAC_HEX + 1], sb_err_t *err) {
  char norm[400];
  int rc;
  if (kind == SB_PII_MATCH_ADDRESS)
    kind = strchr(value, '@') ? SB_PII_MATCH_EMAIL : SB_PII_MATCH_PHONE;
  if (kind == SB_PII_MATCH_PHONE)
    rc = sb_pii_norm_phone(value, norm, sizeof norm, err);
  else if (kind == SB_PII_MATCH_EMAIL)
    rc = sb_pii_norm_email(value, norm, sizeof norm, err);
  else if (kind == SB_PII_MATCH_SLACK)
    rc = norm_slack(value, norm, sizeof norm, err);
  else if (kind == SB_PII_MATCH_PUSH)
    rc = norm_push(value, norm, sizeof norm, err);
  else
    rc = sb_err_set(err, SB_EINVAL, "pii: no match kind");
  if (rc != 0)
    return rc;
  unsigned char md[32];
  if (sb_pii_hmac_sha256(key, norm, strlen(norm), md) != 0) {
    sb_pii_wipe(norm, sizeof norm);
    return sb_err_set(err, SB_ECRYPTO, "pii: HMAC-SHA256 failed");
  }
  sb_pii_wipe(norm, sizeof norm);
  static const char hex[] = "0123456789abcdef";
  for (unsigned i = 0; i < 32; i++) {
    out[2 * i] = hex[md[i] >> 4];
    out[2 * i + 1] = hex[md[i] & 15];
  }
  out[64] = '\0';
  return 0;
}

void sb_pii_mask(sb_pii_match_t kind, const char *plain, char *out,
                 size_t outsz) {
  if (outsz == 0)
    return;
  out[0] = '\0';
  if (plain == NULL)
    return;
  if (kind == SB_PII_MATCH_ADDRESS)
    kind = strchr(plain, '@') ? SB_PII_MATCH_EMAIL : SB_PII_MATCH_PHONE;
  if (kind == SB_PII_MATCH_PHONE) {
    char digits[32];
    size_t n = 0;
    for (const char *p = plain; *p && n + 1 < sizeof digits; p++)
      if (*p >= '0' && *p <= '9')
        digits[n++] = *p;
    if (n >= 6 && outsz > n + 2) {
      size_t o = 0;
      out[o++] = '+';
      out[o++] = digits[0];
      for (size_t i = 1; i + 4 < n; i++)
        out[o++] = '*';
      memcpy(out + o, digits + n - 4, 4);
      out[o + 4] = '\0';
      return;
    }
  } else if (kind == SB_PII_MATCH_EMAIL) {
    const char *at = strrchr(plain, '@');
    if (at != NULL && at > plain && strlen(at) + 5 <= outsz) {
      snprintf(out, outsz, "%c***%s", plain[0], at);
      return;
    }
  }
  snprintf(out, outsz, "***");
}

int sb_pii_has_card_number(const char *s) {
  /* runs of digits joined by at most one space or dash between digits */
  for (const char *p = s; *p;) {
    if (!(*p >= '0' && *p <= '9')) {
      p++;
      continue;
    }
    int d[24], n = 0;
    const char *q = p;
    while (*q) {
      if (*q >= '0' && *q <= '9') {
        if (n < 24)
          d[n] = *q - '0';
        n++;
        q++;
      } else if ((*q == ' ' || *q == '-') && q[1] >= '0' && q[1] <= '9') {
        q++;
      } else {
        break;
      }
    }
    if (n >= 13 && n <= 19) {
      int sum = 0;
      for (int i = n - 1, k = 0; i >= 0; i--, k++) {
        int v = d[i];
        if (k & 1) {
          v *= 2;
          if (v > 9)
            v -= 9;
        }
        sum += v;
      }
      if (sum % 10 == 0)
        return 1;
    }
    p = q;
  }
  return 0;
}
