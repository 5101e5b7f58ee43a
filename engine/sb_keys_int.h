/* Inside the key store (sb_keys.h), shared by its files only:
 *
 *   sb_keys_file.c  tenant keys: the key file (or key command), HKDF,
 *                   wrapping data keys under a KEK
 *   sb_keys.c       data keys: the cache, sb.data_keys, erase, rotate */
#ifndef SB_KEYS_INT_H
#define SB_KEYS_INT_H

#include "sb_keys.h"
#include "sb_tenant.h"

#include <stddef.h>
#include <sys/stat.h>

#define SB__KEK_MAX 8 /* versions of one tenant held at once (a rotation
                         in progress has two) */
#define SB__WRAPPED_LEN (SB_PII_NONCE_LEN + SB_PII_KEY_LEN + SB_PII_TAG_LEN)

typedef struct sb__tkeys_s {
  char tenant[SB_TENANT_MAX + 1];
  int nkek;
  int ver[SB__KEK_MAX]; /* ascending */
  unsigned char kek[SB__KEK_MAX][SB_PII_KEY_LEN];
  int has_root;
  unsigned char root[SB_PII_KEY_LEN];  /* the HMAC root */
  unsigned char match[SB_PII_KEY_LEN]; /* HKDF(root, "match") */
  unsigned char subj[SB_PII_KEY_LEN];  /* HKDF(root, "subject") */
} sb__tkeys_t;

typedef struct sb__keysrc_s {
  char path[4096];    /* the key file, or "" with a command */
  char *command;      /* pii.key_command, or NULL */
  sb__tkeys_t *t;
  size_t n, cap;
  struct timespec mtime; /* of the file when read */
  ino_t ino;
  off_t size;
} sb__keysrc_t;

int sb__keysrc_init(sb__keysrc_t *s, const sb_conf_t *c, sb_err_t *err);
void sb__keysrc_free(sb__keysrc_t *s);
/* The keys of tenant: read again when the file changed; made (and
 * appended) when create and the tenant has none. NULL with err set. */
const sb__tkeys_t *sb__keysrc_get(sb__keysrc_t *s, const char *tenant,
                                  int create, sb_err_t *err);
/* Reads the key file (or runs the command for tenant) again, now. */
int sb__keysrc_reload(sb__keysrc_t *s, const char *tenant, sb_err_t *err);
/* Rotation, file side: appends KEK version newest+1 of tenant (under the
 * file's lock), returning it. */
int sb__keysrc_add_version(sb__keysrc_t *s, const char *tenant, int *version,
                           sb_err_t *err);
/* Rotation, file side: removes every KEK version of tenant but keep. */
int sb__keysrc_retire(sb__keysrc_t *s, const char *tenant, int keep,
                      sb_err_t *err);

/* The KEK of a version, or NULL. */
const unsigned char *sb__tkeys_kek(const sb__tkeys_t *t, int version);

/* HKDF-SHA256 of ikm, with info, into out (32 bytes). */
int sb__hkdf(const unsigned char *ikm, size_t ikm_len, const char *info,
             const char *info2, unsigned char out[SB_PII_KEY_LEN],
             sb_err_t *err);

/* Wraps / unwraps a data key under a KEK (AES-256-GCM, AAD tenant, subject
 * hash). unwrap: SB_ECRYPTO when the tag does not verify. */
int sb__dek_wrap(const unsigned char kek[SB_PII_KEY_LEN], const char *tenant,
                 const char *subject_hash,
                 const unsigned char dek[SB_PII_KEY_LEN],
                 unsigned char out[SB__WRAPPED_LEN], sb_err_t *err);
int sb__dek_unwrap(const unsigned char kek[SB_PII_KEY_LEN],
                   const char *tenant, const char *subject_hash,
                   const unsigned char in[SB__WRAPPED_LEN],
                   unsigned char dek[SB_PII_KEY_LEN], sb_err_t *err);

#endif
