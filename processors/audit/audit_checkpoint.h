/* Signed checkpoints of the audit log's chain heads, kept outside
 * PostgreSQL so that the database's own users cannot rewrite history
 * unnoticed: the audit worker publishes them (to the Kafka topic
 * sb.audit.checkpoints and to <data_dir>/audit-checkpoints.log, one line
 * each) and `audit verify` checks the audit log against the newest one of
 * each chain.
 *
 * A checkpoint is one line: a JSON object, a tab, and the Ed25519
 * signature of the JSON's exact bytes in hex (128 digits):
 *
 *   {"v":1,"key":"<key id>","time":"<RFC 3339>","chains":[{"tenant":"acme",
 *    "topic":"sb.leads","partition":0,"seq":12,"offset":345,
 *    "hash":"<64 hex>"}, ...]}<TAB><signature>
 *
 * seq is the chain's row count at the checkpoint, hash the hash of its row
 * seq, offset the Kafka offset of that row's record. */
#ifndef SB_AUDIT_CHECKPOINT_H
#define SB_AUDIT_CHECKPOINT_H

#include "sb_processor_tools.h"

#include <stddef.h>
#include <stdint.h>

#define SB_CKPT_FILE "audit-checkpoints.log"
#define SB_CKPT_LINE_MAX (1024 * 1024) /* bytes of one line, at most */
#define SB_CKPT_CHAINS_MAX 1024        /* chains in one checkpoint */
#define SB_CKPT_TENANT_MAX 256         /* bytes of a tenant id, NUL included */

typedef struct sb_ckpt_chain_s {
  char tenant[SB_CKPT_TENANT_MAX];
  char topic[64];
  int32_t partition;
  int64_t seq;
  int64_t offset;
  unsigned char hash[32];
} sb_ckpt_chain_t;

/* Encodes and signs a checkpoint of n (1..SB_CKPT_CHAINS_MAX) chains.
 * *line (the caller frees it) is the line without its newline. */
int sb_ckpt_encode(const sb_sigkey_t *k, const sb_ckpt_chain_t *chains,
                   size_t n, char **line, size_t *len, sb_err_t *err);

/* Checks one line's signature with k and parses it. On success *chains
 * (the caller frees it) holds *n chains and *time the checkpoint's time.
 * SB_ECRYPTO: the signature is not k's (a changed line, or another key);
 * SB_EDECODE: not a checkpoint line. err says which. */
int sb_ckpt_decode(const sb_sigkey_t *k, const char *line, size_t len,
                   sb_ckpt_chain_t **chains, size_t *n, char time[40],
                   sb_err_t *err);

/* The newest checkpoint of each chain, gathered from checkpoint lines. */
typedef struct sb_ckpt_entry_s {
  sb_ckpt_chain_t c;
  char time[40]; /* the checkpoint's */
  char src[96];  /* where it was read: "audit-checkpoints.log line 12" */
} sb_ckpt_entry_t;

typedef struct sb_ckpt_set_s {
  /* set by the caller */
  const sb_sigkey_t *key; /* checks every line (borrowed) */
  const char *tenant;     /* keep only this tenant's chains, or NULL */
  void (*bad)(void *ctx, const char *src, const char *why); /* may be NULL */
  void *ctx;
  /* filled */
  sb_ckpt_entry_t *e; /* one per chain, the newest (highest seq) */
  size_t n, cap;
  uint32_t *ix; /* chains indexed: 1 + index into e, 0 empty */
  size_t ixcap;
  long long lines; /* lines read, valid or not */
  char newest[40]; /* time of the newest valid checkpoint */
} sb_ckpt_set_t;

/* Adds one checkpoint line read at src; a line that is not a validly
 * signed checkpoint goes to s->bad. Fails only for want of memory. */
int sb_ckpt_set_line(sb_ckpt_set_t *s, const char *line, size_t len,
                     const char *src, sb_err_t *err);

/* Adds the lines of <data_dir>/audit-checkpoints.log (none when it does
 * not exist); with tail > 0 only those of its last tail bytes. *torn is
 * set when the file ends in an incomplete line (a worker stopped while
 * writing it), which is ignored. */
int sb_ckpt_set_read_file(sb_ckpt_set_t *s, const char *data_dir, size_t tail,
                          int *torn, sb_err_t *err);

/* The newest checkpoint of a chain, or NULL. */
const sb_ckpt_entry_t *sb_ckpt_set_find(const sb_ckpt_set_t *s,
                                        const char *tenant, const char *topic,
                                        int32_t partition);

/* Frees what the set gathered; it can be filled again. */
void sb_ckpt_set_clear(sb_ckpt_set_t *s);

/* Appends line and a newline to <data_dir>/audit-checkpoints.log in one
 * write (O_APPEND: lines of several workers do not interleave), synced. */
int sb_ckpt_append(const char *data_dir, const char *line, size_t len,
                   sb_err_t *err);

#endif
