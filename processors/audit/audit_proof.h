/* audit verify's checks beyond the hash chains, against what PostgreSQL's
 * users cannot change:
 *  - the newest signed checkpoint of each chain (audit_checkpoint.h): the
 *    chain still has the checkpointed row, with the checkpointed hash;
 *  - the Kafka log: every record of every partition the audit processor
 *    reads, from the log's start to the offset it committed, is in
 *    audit.events once, in order, with the same bytes; every row has its
 *    record. What the log no longer holds is listed as unchecked.
 * Findings are printed on stdout as "audit verify: FAILED ..." lines. */
#ifndef SB_AUDIT_PROOF_H
#define SB_AUDIT_PROOF_H

#include "sb_processor_tools.h"

#define SB_AUDIT_FINDINGS_SHOWN 20 /* FAILED lines printed; more are counted */

typedef struct sb_audit_proof_s {
  sb_pg_t *pg;            /* borrowed */
  const sb_conf_t *conf;  /* borrowed: data_dir for the key and the file */
  sb_logread_t *log;      /* borrowed; NULL: Kafka is not reachable */
  const char *tenant;     /* only this tenant's chains, or NULL */
  int broken;             /* tampering found (each finding printed) */
  int incomplete;         /* something that should be checkable was not */
  long long findings;     /* FAILED lines, printed or counted */
  char epoch[160];        /* the log's incarnation ("": unknown) */
} sb_audit_proof_t;

/* The newest valid checkpoint of each chain, from the file and (when p->log
 * is set) from sb.audit.checkpoints; a line with a bad signature is a
 * finding. */
int sb_audit_check_checkpoints(sb_audit_proof_t *p, sb_err_t *err);

/* The audit log against the Kafka log (p->log must be set). */
int sb_audit_crosscheck(sb_audit_proof_t *p, sb_err_t *err);

#endif
