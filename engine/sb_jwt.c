/* RS256 JSON Web Tokens: see sb_jwt.h. */
#include "sb_jwt.h"

#include "sb_pii.h"

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>

/* appends base64url(p[0..n)) to out */
static int put_b64url(sb_text_t *out, const unsigned char *p, size_t n) {
  size_t cap = (n + 2) / 3 * 4 + 1;
  char *b = malloc(cap);
  if (b == NULL)
    return -1;
  long k = sb_b64url_encode(p, n, b, cap);
  if (k >= 0)
    sb_text_put(out, b, (size_t)k);
  free(b);
  return k < 0 ? -1 : 0;
}

int sb_jwt_rs256(const char *key_pem, const char *header_json,
                 const char *claims_json, sb_text_t *out, sb_err_t *err) {
  int rc = 0;
  EVP_PKEY *pk = NULL;
  EVP_MD_CTX *md = NULL;
  unsigned char *sig = NULL;
  size_t siglen = 0, start = out->len;
  BIO *bio = BIO_new_mem_buf(key_pem, -1);
  if (bio == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  pk = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
  BIO_free(bio);
  ERR_clear_error(); /* the reason would not help more than ours */
  if (pk == NULL || EVP_PKEY_get_base_id(pk) != EVP_PKEY_RSA) {
    rc = sb_err_set(err, SB_EINVAL, "jwt: not an RSA private key in PEM");
    goto out;
  }
  if (put_b64url(out, (const unsigned char *)header_json,
                 strlen(header_json)) != 0) {
    rc = sb_err_set(err, SB_ENOMEM, "out of memory");
    goto out;
  }
  sb_text_put(out, ".", 1);
  if (put_b64url(out, (const unsigned char *)claims_json,
                 strlen(claims_json)) != 0 ||
      out->failed) {
    rc = sb_err_set(err, SB_ENOMEM, "out of memory");
    goto out;
  }
  /* the signing input: what was appended so far */
  if ((md = EVP_MD_CTX_new()) == NULL ||
      EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, pk) != 1 ||
      EVP_DigestSignUpdate(md, out->s + start, out->len - start) != 1 ||
      EVP_DigestSignFinal(md, NULL, &siglen) != 1 ||
      (sig = OPENSSL_malloc(siglen)) == NULL ||
      EVP_DigestSignFinal(md, sig, &siglen) != 1) {
    ERR_clear_error();
    rc = sb_err_set(err, SB_ECRYPTO, "jwt: RS256 signing failed");
    goto out;
  }
  sb_text_put(out, ".", 1);
  if (put_b64url(out, sig, siglen) != 0 || out->failed)
    rc = sb_err_set(err, SB_ENOMEM, "out of memory");
out:
  if (rc != 0 && out->s != NULL && out->len > start) {
    out->len = start;
    out->s[start] = '\0';
  }
  OPENSSL_free(sig);
  EVP_MD_CTX_free(md);
  EVP_PKEY_free(pk); /* OpenSSL clears private key material it frees */
  return rc;
}
