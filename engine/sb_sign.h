/* Ed25519 signatures (OpenSSL) with a key kept in the data directory and
 * nowhere else: the audit worker signs checkpoints of the audit log's chain
 * heads with it, `audit verify` checks them with the public key. The
 * private key is <data_dir>/audit-signing.key (PEM, PKCS#8, mode 0600,
 * created on first use, never logged or printed); the public key is
 * <data_dir>/audit-signing.pub (PEM) beside it. PostgreSQL never holds
 * either: its users cannot sign a checkpoint. */
#ifndef SB_SIGN_H
#define SB_SIGN_H

#include "sb_err.h"

#include <stddef.h>

#define SB_SIGN_KEY_FILE "audit-signing.key"
#define SB_SIGN_PUB_FILE "audit-signing.pub"
#define SB_SIGN_LEN 64    /* an Ed25519 signature */
#define SB_SIGN_ID_LEN 16 /* hex digits of a key's id */

typedef struct sb_sigkey_s sb_sigkey_t;

/* The private key of data_dir, made (with its public key) when missing and
 * create is set; SB_ENOENT when missing otherwise; SB_EPERM when the key
 * file is readable by others than its owner. *out is the caller's: free
 * with sb_sigkey_free. */
int sb_sigkey_load_private(const char *data_dir, int create, sb_sigkey_t **out,
                           sb_err_t *err);
/* The public key of data_dir (SB_ENOENT when there is none). */
int sb_sigkey_load_public(const char *data_dir, sb_sigkey_t **out,
                          sb_err_t *err);
void sb_sigkey_free(sb_sigkey_t *k);

/* The key's id: the first 8 bytes of SHA-256 of the raw public key, in hex;
 * borrowed, valid while k is. */
const char *sb_sigkey_id(const sb_sigkey_t *k);

/* Signs msg with a private key. */
int sb_sigkey_sign(const sb_sigkey_t *k, const void *msg, size_t len,
                   unsigned char sig[SB_SIGN_LEN], sb_err_t *err);
/* 1 when sig is k's signature of msg, else 0. */
int sb_sigkey_verify(const sb_sigkey_t *k, const void *msg, size_t len,
                     const unsigned char sig[SB_SIGN_LEN]);

#endif
