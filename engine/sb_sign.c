#include "sb_sign.h"

#include "sb_util.h"

#include <errno.h>
#include <limits.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEY_FILE_MAX 4096

struct sb_sigkey_s {
  EVP_PKEY *pkey;
  char id[SB_SIGN_ID_LEN + 1];
};

void sb_sigkey_free(sb_sigkey_t *k) {
  if (k == NULL)
    return;
  EVP_PKEY_free(k->pkey);
  free(k);
}

const char *sb_sigkey_id(const sb_sigkey_t *k) { return k->id; }

/* Takes ownership of pkey. */
static int wrap(EVP_PKEY *pkey, sb_sigkey_t **out, sb_err_t *err) {
  unsigned char raw[32], md[32];
  size_t rawlen = sizeof raw;
  unsigned int mdlen = 0;
  sb_sigkey_t *k = calloc(1, sizeof *k);
  if (k == NULL) {
    EVP_PKEY_free(pkey);
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  }
  k->pkey = pkey;
  if (EVP_PKEY_get_raw_public_key(pkey, raw, &rawlen) != 1 || rawlen != 32 ||
      EVP_Digest(raw, rawlen, md, &mdlen, EVP_sha256(), NULL) != 1) {
    sb_sigkey_free(k);
    return sb_err_set(err, SB_ECRYPTO, "OpenSSL: not an Ed25519 key");
  }
  for (int i = 0; i < SB_SIGN_ID_LEN / 2; i++)
    snprintf(k->id + 2 * i, 3, "%02x", md[i]);
  *out = k;
  return 0;
}

/* Writes pkey's public key as PEM to path (through a temporary file). */
static int write_public(EVP_PKEY *pkey, const char *path, sb_err_t *err) {
  BIO *b = BIO_new(BIO_s_mem());
  char *data = NULL;
  long n;
  int rc;
  if (b == NULL || PEM_write_bio_PUBKEY(b, pkey) != 1 ||
      (n = BIO_get_mem_data(b, &data)) <= 0)
    rc = sb_err_set(err, SB_ECRYPTO, "OpenSSL: cannot encode the public key");
  else
    rc = sb_write_file(path, data, (size_t)n, 0644, err);
  BIO_free(b);
  return rc;
}

/* Makes a key at path unless one appears meanwhile: written whole to a
 * temporary name, then hard-linked into place, which fails when path
 * exists (another worker made it first: that one is used). */
static int create_key(const char *data_dir, const char *path, sb_err_t *err) {
  char tmp[PATH_MAX];
  EVP_PKEY *pkey = NULL;
  BIO *b = NULL;
  char *data = NULL;
  long n = 0;
  int rc;
  if ((rc = sb_mkdir_p(data_dir, 0700, err)) != 0 ||
      (rc = sb_fmt(tmp, sizeof tmp, err, "%s.new.%ld", path,
                   (long)getpid())) != 0)
    return rc;
  EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "ED25519", NULL);
  if (ctx == NULL || EVP_PKEY_keygen_init(ctx) != 1 ||
      EVP_PKEY_keygen(ctx, &pkey) != 1) {
    rc = sb_err_set(err, SB_ECRYPTO, "OpenSSL: cannot make an Ed25519 key");
    goto out;
  }
  if ((b = BIO_new(BIO_s_mem())) == NULL ||
      PEM_write_bio_PrivateKey(b, pkey, NULL, NULL, 0, NULL, NULL) != 1 ||
      (n = BIO_get_mem_data(b, &data)) <= 0) {
    rc = sb_err_set(err, SB_ECRYPTO, "OpenSSL: cannot encode the key");
    goto out;
  }
  if ((rc = sb_write_file(tmp, data, (size_t)n, 0600, err)) != 0)
    goto out;
  if (link(tmp, path) != 0 && errno != EEXIST && rename(tmp, path) != 0) {
    rc = sb_err_set(err, SB_EIO, "cannot create the audit signing key %s: %s",
                    path, strerror(errno));
    unlink(tmp);
    goto out;
  }
  unlink(tmp);
out:
  if (data != NULL)
    OPENSSL_cleanse(data, (size_t)n);
  BIO_free(b);
  EVP_PKEY_free(pkey);
  EVP_PKEY_CTX_free(ctx);
  return rc;
}

/* Reads a PEM key file (private or public) into *pkey. */
static int read_key(const char *path, int private_key, EVP_PKEY **pkey,
                    sb_err_t *err) {
  struct stat st;
  if (stat(path, &st) != 0) {
    if (errno == ENOENT)
      return sb_err_set(err, SB_ENOENT, "no audit signing key at %s", path);
    return sb_err_set(err, SB_EIO, "cannot read %s: %s", path, strerror(errno));
  }
  if (private_key && (st.st_mode & 077) != 0)
    return sb_err_set(err, SB_EPERM,
                      "the audit signing key %s may be read by others (mode "
                      "%03o): chmod 600 it, and consider it disclosed",
                      path, (unsigned)(st.st_mode & 0777));
  char *buf = NULL;
  size_t len = 0;
  int rc = sb_read_file(path, KEY_FILE_MAX, &buf, &len, err);
  if (rc != 0)
    return rc;
  BIO *b = BIO_new_mem_buf(buf, (int)len);
  *pkey = b == NULL ? NULL
          : private_key ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL)
                        : PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
  BIO_free(b);
  OPENSSL_cleanse(buf, len);
  free(buf);
  if (*pkey == NULL || EVP_PKEY_get_base_id(*pkey) != EVP_PKEY_ED25519) {
    EVP_PKEY_free(*pkey);
    *pkey = NULL;
    return sb_err_set(err, SB_ECRYPTO, "%s is not a PEM Ed25519 %s key", path,
                      private_key ? "private" : "public");
  }
  return 0;
}

int sb_sigkey_load_private(const char *data_dir, int create, sb_sigkey_t **out,
                           sb_err_t *err) {
  char path[PATH_MAX], pub[PATH_MAX];
  EVP_PKEY *pkey = NULL;
  *out = NULL;
  if (data_dir == NULL || *data_dir == '\0')
    return sb_err_set(err, SB_ECONFIG, "no data directory for the audit "
                                       "signing key");
  if (sb_fmt(path, sizeof path, err, "%s/%s", data_dir, SB_SIGN_KEY_FILE) ||
      sb_fmt(pub, sizeof pub, err, "%s/%s", data_dir, SB_SIGN_PUB_FILE))
    return SB_EINVAL;
  sb_err_t probe = SB_ERR_INIT;
  int rc = read_key(path, 1, &pkey, &probe);
  if (rc == SB_ENOENT && create) {
    if ((rc = create_key(data_dir, path, err)) != 0)
      return rc;
    sb_err_clear(&probe);
    rc = read_key(path, 1, &pkey, &probe);
  }
  if (rc != 0)
    return sb_err_set(err, rc, "%s", probe.msg);
  if (access(pub, F_OK) != 0 && (rc = write_public(pkey, pub, err)) != 0) {
    EVP_PKEY_free(pkey);
    return rc;
  }
  return wrap(pkey, out, err);
}

int sb_sigkey_load_public(const char *data_dir, sb_sigkey_t **out,
                          sb_err_t *err) {
  char pub[PATH_MAX];
  EVP_PKEY *pkey = NULL;
  *out = NULL;
  if (sb_fmt(pub, sizeof pub, err, "%s/%s", data_dir, SB_SIGN_PUB_FILE))
    return SB_EINVAL;
  int rc = read_key(pub, 0, &pkey, err);
  return rc != 0 ? rc : wrap(pkey, out, err);
}

int sb_sigkey_sign(const sb_sigkey_t *k, const void *msg, size_t len,
                   unsigned char sig[SB_SIGN_LEN], sb_err_t *err) {
  size_t siglen = SB_SIGN_LEN;
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  int ok = md != NULL &&
           EVP_DigestSignInit(md, NULL, NULL, NULL, k->pkey) == 1 &&
           EVP_DigestSign(md, sig, &siglen, msg, len) == 1 &&
           siglen == SB_SIGN_LEN;
  EVP_MD_CTX_free(md);
  return ok ? 0 : sb_err_set(err, SB_ECRYPTO, "OpenSSL: Ed25519 signing failed");
}

int sb_sigkey_verify(const sb_sigkey_t *k, const void *msg, size_t len,
                     const unsigned char sig[SB_SIGN_LEN]) {
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  int ok = md != NULL &&
           EVP_DigestVerifyInit(md, NULL, NULL, NULL, k->pkey) == 1 &&
           EVP_DigestVerify(md, sig, SB_SIGN_LEN, msg, len) == 1;
  EVP_MD_CTX_free(md);
  return ok;
}
