/* The keys PII is sealed under (sb_pii.h): a key-encryption key (KEK) per
 * tenant, and a data key (DEK) per (tenant, data subject, generation).
 *
 * Tenant keys live in the key file, pii.key_file (default
 * <data_dir>/tenant.keys: mode 0600, refused when group or others may read
 * it, never logged), one line each:
 *
 *   kek <tenant> <version> <base64url of 32 bytes>
 *   hmac <tenant> <base64url of 32 bytes>
 *
 * or come from pii.key_command (run as `sh -c CMD sb-keys TENANT`, it
 * prints the same lines for the tenant; Switchboard never writes keys
 * there). A tenant's first use makes its KEK version 1 and its HMAC root
 * (HKDF-SHA256 of that KEK), appended to the file under an exclusive lock
 * and synced before use. The HMAC root outlives KEK rotations: the match
 * HMACs (F_hmac) and subject hashes derive from it (HKDF, info "match" /
 * "subject"), so they stay the same.
 *
 * Data keys: 32 random bytes, stored only wrapped (AES-256-GCM under the
 * tenant's KEK, with its version; AAD the tenant, subject hash and
 * generation) in sb.data_keys (sql/0012). The subject is the event's data
 * subject (sb_pii_data_subject: the lead it names, else its subject_id,
 * else its subject); the table holds only its hash: the first 64 bits of HMAC-SHA256(subject key,
 * subject id) as 16 hex digits. A key id is "<subject hash>-<gen>".
 * Erasure sets erased_at and wipes wrapped; a subject whose newest key is
 * erased gets a new generation for new events, never the old one back.
 *
 * Unwrapped data keys are cached in a byte-bounded LRU
 * (pii.dek_cache_bytes), each entry for at most pii.dek_cache_ttl_ms, so
 * an erasure made by another process takes effect here within that time.
 *
 * Not thread-safe: one sb_keys_t per thread (each has its own PostgreSQL
 * connection, opened on first use). */
#ifndef SB_KEYS_H
#define SB_KEYS_H

#include "sb_conf.h"
#include "sb_err.h"
#include "sb_pii.h"

#include <stddef.h>

typedef struct sb_keys_s sb_keys_t;

#define SB_KEYS_SUBJECT_HASH 16 /* hex digits */

/* Opens the key store for c (pii.key_file or pii.key_command, and
 * c->database_url for the data keys, connected on first use). A missing
 * key file is created empty (0600); one readable by group or others is
 * refused (SB_EPERM naming it and its mode). *out is owned by the caller
 * (sb_keys_free accepts NULL). */
int sb_keys_open(const sb_conf_t *c, sb_keys_t **out, sb_err_t *err);
void sb_keys_free(sb_keys_t *k);

/* Creates the key file of c when missing and checks its mode (what `up`
 * does at start); nothing for pii.key_command. */
int sb_keys_file_ensure(const sb_conf_t *c, sb_err_t *err);

/* A subject's data key for sealing new values. */
typedef struct sb_keys_seal_s {
  const char *tenant, *subject; /* in: borrowed */
  unsigned char dek[SB_PII_KEY_LEN];         /* out */
  char key_id[SB_PII_KEYID_MAX + 1];         /* out */
} sb_keys_seal_t;

/* Fills the current data key of every request: from the cache, the
 * misses made or read in one round trip to PostgreSQL (INSERT .. ON
 * CONFLICT DO NOTHING, then SELECT: committed before this returns, so a
 * record sealed under a key never outlives its key by a crash). n may be
 * 0. On failure no request is filled. */
int sb_keys_for_seal(sb_keys_t *k, sb_keys_seal_t *reqs, size_t n,
                     sb_err_t *err);

/* The data key of key_id ("<hash>-<gen>") of tenant, for opening: 0 and
 * dek filled; 1 when the key was erased (the value reads "sbx1.erased");
 * else an error (SB_ENOENT for a key id the table does not hold). */
int sb_keys_for_open(sb_keys_t *k, const char *tenant, const char *key_id,
                     unsigned char dek[SB_PII_KEY_LEN], sb_err_t *err);

/* The tenant's match HMAC key (F_hmac values), made with the tenant's
 * keys on first use. */
int sb_keys_match_key(sb_keys_t *k, const char *tenant,
                      unsigned char out[SB_PII_KEY_LEN], sb_err_t *err);

/* The hash of a subject id as stored (16 hex digits and a NUL). */
int sb_keys_subject_hash(sb_keys_t *k, const char *tenant,
                         const char *subject,
                         char out[SB_KEYS_SUBJECT_HASH + 1], sb_err_t *err);

/* Crypto-shredding: destroys every data key of (tenant, subject) — sets
 * erased_at, wipes wrapped, in one statement — and drops them from this
 * process's cache. *erased (may be NULL) gets the number of keys destroyed
 * now (0 when there were none or all were already erased). Other processes
 * stop using their cached copy within pii.dek_cache_ttl_ms. The events stay
 * in the log: their fields of this subject read "sbx1.erased" from then
 * on. */
int sb_keys_erase(sb_keys_t *k, const char *tenant, const char *subject,
                  long *erased, sb_err_t *err);

/* Rotation: a new KEK version for tenant, appended to the key file; every
 * data key of the tenant re-wrapped under it in one transaction; then the
 * older versions removed from the key file. *version and *rewrapped (may
 * be NULL) say what was done. Refused with pii.key_command (rotate in the
 * key service). */
int sb_keys_rotate(sb_keys_t *k, const char *tenant, int *version,
                   long *rewrapped, sb_err_t *err);

/* What the store holds for a tenant: its KEK versions in the key source
 * (the newest first, at most cap), their number, and the data keys by KEK
 * version, live and erased (from PostgreSQL). */
typedef struct sb_keys_status_s {
  int kek_versions[8];
  int nkek;
  long live, erased, stale; /* stale: wrapped under a version not newest */
} sb_keys_status_t;
int sb_keys_status(sb_keys_t *k, const char *tenant, sb_keys_status_t *out,
                   sb_err_t *err);

/* The tenants the key source names (key file only), into a newly
 * allocated, NULL-terminated array the caller frees (each and the array). */
int sb_keys_tenants(sb_keys_t *k, char ***out, sb_err_t *err);

/* The cache's bookkeeping, for tests and metrics. */
typedef struct sb_keys_stats_s {
  size_t cache_bytes, cache_entries;
  unsigned long long hits, misses, round_trips, evictions;
} sb_keys_stats_t;
void sb_keys_stats(const sb_keys_t *k, sb_keys_stats_t *out);

#endif
