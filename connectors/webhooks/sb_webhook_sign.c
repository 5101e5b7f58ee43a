/* The providers' signatures (sb_webhook.h): Twilio's HMAC-SHA1 over the URL
 * and the sorted form, Meta's X-Hub-Signature-256, SendGrid's ECDSA P-256.
 * OpenSSL EVP; comparisons in constant time. */
#include "sb_webhook.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

static int by_name(const void *a, const void *b) {
  const sb_whk_param_t *x = *(const sb_whk_param_t *const *)a;
  const sb_whk_param_t *y = *(const sb_whk_param_t *const *)b;
  return strcmp(x->name, y->name);
}

int sb_whk_twilio_sign(const char *auth_token, const char *url,
                       const sb_whk_form_t *f, char *out, size_t outsz,
                       sb_err_t *err) {
  const sb_whk_param_t *sorted[SB_WHK_FORM_PARAMS];
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  int rc = 0;
  if (outsz < 29)
    return sb_err_set(err, SB_EINVAL, "signature buffer too small");
  for (size_t k = 0; k < f->n; k++)
    sorted[k] = &f->p[k];
  qsort(sorted, f->n, sizeof *sorted, by_name);
  EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
  EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA1", 0),
      OSSL_PARAM_construct_end()};
  size_t outl = 0;
  if (ctx == NULL ||
      EVP_MAC_init(ctx, (const unsigned char *)auth_token, strlen(auth_token),
                   params) != 1 ||
      EVP_MAC_update(ctx, (const unsigned char *)url, strlen(url)) != 1) {
    rc = sb_err_set(err, SB_ECRYPTO, "HMAC-SHA1 failed");
    goto out;
  }
  for (size_t k = 0; k < f->n; k++)
    if (EVP_MAC_update(ctx, (const unsigned char *)sorted[k]->name,
                       strlen(sorted[k]->name)) != 1 ||
        EVP_MAC_update(ctx, (const unsigned char *)sorted[k]->value,
                       strlen(sorted[k]->value)) != 1) {
      rc = sb_err_set(err, SB_ECRYPTO, "HMAC-SHA1 failed");
      goto out;
    }
  if (EVP_MAC_final(ctx, md, &outl, sizeof md) != 1 || outl != 20) {
    rc = sb_err_set(err, SB_ECRYPTO, "HMAC-SHA1 failed");
    goto out;
  }
  mdlen = (unsigned int)outl;
  EVP_EncodeBlock((unsigned char *)out, md, (int)mdlen); /* 28 + NUL */
out:
  EVP_MAC_CTX_free(ctx);
  EVP_MAC_free(mac);
  OPENSSL_cleanse(md, sizeof md);
  return rc;
}

/* Constant time over the expected length; a different length differs. */
static int same(const char *a, const char *b) {
  size_t n = strlen(a);
  return strlen(b) == n && CRYPTO_memcmp(a, b, n) == 0;
}

int sb_whk_twilio_verify(const char *auth_token, const char *url,
                         const sb_whk_form_t *f, const char *signature,
                         sb_err_t *err) {
  char want[64];
  if (signature == NULL || *signature == '\0')
    return sb_err_set(err, SB_EPERM, "X-Twilio-Signature: missing");
  if (sb_whk_twilio_sign(auth_token, url, f, want, sizeof want, err) != 0)
    return err->code;
  int ok = same(want, signature);
  OPENSSL_cleanse(want, sizeof want);
  return ok ? 0
            : sb_err_set(err, SB_EPERM,
                         "X-Twilio-Signature: does not match the URL and "
                         "parameters under the account's auth token");
}

int sb_whk_hub_verify(const char *app_secret, const char *body, size_t len,
                      const char *header, sb_err_t *err) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  char want[7 + 64 + 1] = "sha256=";
  if (header == NULL || *header == '\0')
    return sb_err_set(err, SB_EPERM, "X-Hub-Signature-256: missing");
  if (HMAC(EVP_sha256(), app_secret, (int)strlen(app_secret),
           (const unsigned char *)body, len, md, &mdlen) == NULL ||
      mdlen != 32)
    return sb_err_set(err, SB_ECRYPTO, "HMAC-SHA256 failed");
  static const char hex[] = "0123456789abcdef";
  for (unsigned i = 0; i < 32; i++) {
    want[7 + 2 * i] = hex[md[i] >> 4];
    want[8 + 2 * i] = hex[md[i] & 15];
  }
  want[71] = '\0';
  OPENSSL_cleanse(md, sizeof md);
  /* hex digits in either case */
  char got[72];
  size_t n = strlen(header);
  int ok = n == 71 && strncmp(header, "sha256=", 7) == 0;
  if (ok) {
    for (size_t i = 0; i < n; i++)
      got[i] = header[i] >= 'A' && header[i] <= 'F' ? (char)(header[i] + 32)
                                                    : header[i];
    got[n] = '\0';
    ok = same(want, got);
  }
  OPENSSL_cleanse(want, sizeof want);
  return ok ? 0
            : sb_err_set(err, SB_EPERM,
                         "X-Hub-Signature-256: does not match the body under "
                         "the account's app secret");
}

/* The verification key: PEM, or base64 of the DER SubjectPublicKeyInfo. */
static EVP_PKEY *load_key(const char *k) {
  if (strstr(k, "-----BEGIN") != NULL) {
    BIO *bio = BIO_new_mem_buf(k, -1);
    EVP_PKEY *p = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    return p;
  }
  size_t n = strlen(k);
  if (n == 0 || n > 4096)
    return NULL;
  unsigned char *der = malloc(n);
  char *clean = malloc(n + 1);
  size_t m = 0;
  EVP_PKEY *p = NULL;
  if (der == NULL || clean == NULL)
    goto out;
  for (size_t i = 0; i < n; i++)
    if (k[i] != '\n' && k[i] != '\r' && k[i] != ' ')
      clean[m++] = k[i];
  clean[m] = '\0';
  int dl = m % 4 == 0 && m > 0
               ? EVP_DecodeBlock(der, (const unsigned char *)clean, (int)m)
               : -1;
  if (dl > 0) {
    /* EVP_DecodeBlock counts the padding as zero bytes */
    dl -= (m > 0 && clean[m - 1] == '=') + (m > 1 && clean[m - 2] == '=');
    const unsigned char *q = der;
    p = d2i_PUBKEY(NULL, &q, dl);
  }
out:
  free(der);
  free(clean);
  return p;
}

int sb_whk_sendgrid_verify(const char *public_key, const char *timestamp,
                           const char *body, size_t len, const char *signature,
                           sb_err_t *err) {
  if (signature == NULL || *signature == '\0')
    return sb_err_set(err, SB_EPERM,
                      "X-Twilio-Email-Event-Webhook-Signature: missing");
  if (timestamp == NULL || *timestamp == '\0')
    return sb_err_set(err, SB_EPERM,
                      "X-Twilio-Email-Event-Webhook-Timestamp: missing");
  size_t sl = strlen(signature);
  if (sl > 200 || sl % 4 != 0)
    return sb_err_set(err, SB_EPERM,
                      "X-Twilio-Email-Event-Webhook-Signature: not a base64 "
                      "ECDSA signature");
  unsigned char sig[160];
  int n = EVP_DecodeBlock(sig, (const unsigned char *)signature, (int)sl);
  if (n <= 0)
    return sb_err_set(err, SB_EPERM,
                      "X-Twilio-Email-Event-Webhook-Signature: not base64");
  n -= (signature[sl - 1] == '=') + (sl > 1 && signature[sl - 2] == '=');
  EVP_PKEY *key = load_key(public_key);
  if (key == NULL)
    return sb_err_set(err, SB_EPERM,
                      "the account's verification key (secret2) is not an "
                      "EC public key (PEM, or base64 DER as SendGrid shows "
                      "it)");
  int rc = 0;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  if (ctx == NULL || EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL,
                                          key) != 1 ||
      EVP_DigestVerifyUpdate(ctx, timestamp, strlen(timestamp)) != 1 ||
      EVP_DigestVerifyUpdate(ctx, body, len) != 1) {
    rc = sb_err_set(err, SB_ECRYPTO, "ECDSA verification failed to run");
    goto out;
  }
  if (EVP_DigestVerifyFinal(ctx, sig, (size_t)n) != 1)
    rc = sb_err_set(err, SB_EPERM,
                    "X-Twilio-Email-Event-Webhook-Signature: does not match "
                    "the timestamp and body under the account's "
                    "verification key");
out:
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(key);
  return rc;
}

int sb_whk_whatsapp_verify_token(const char *app_secret, const char *tenant,
                                 const char *account, char out[33],
                                 sb_err_t *err) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  char msg[256];
  int n = snprintf(msg, sizeof msg, "sb-whatsapp-verify:%s:%s", tenant,
                   account);
  if (n < 0 || (size_t)n >= sizeof msg)
    return sb_err_set(err, SB_EINVAL, "tenant and account too long");
  if (HMAC(EVP_sha256(), app_secret, (int)strlen(app_secret),
           (const unsigned char *)msg, (size_t)n, md, &mdlen) == NULL)
    return sb_err_set(err, SB_ECRYPTO, "HMAC-SHA256 failed");
  static const char hex[] = "0123456789abcdef";
  for (int i = 0; i < 16; i++) {
    out[2 * i] = hex[md[i] >> 4];
    out[2 * i + 1] = hex[md[i] & 15];
  }
  out[32] = '\0';
  OPENSSL_cleanse(md, sizeof md);
  return 0;
}
