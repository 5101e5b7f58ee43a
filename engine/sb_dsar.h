/* Data subject requests carried out: access/portability exports and
 * erasure (crypto-shredding), for `switchboard gdpr` and the API.
 *
 * Every step is an event on sb.compliance, with an id derived from the
 * request id and the step, so a request carried out again (after a crash,
 * or twice) repeats the same events rather than adding others:
 *
 *   export  dsar.received (kind access, unless the gdpr projection already
 *           has the request's receipt) -> the files -> access.recorded
 *           (READ of the subject's data, records counted) -> dsar.completed
 *           (fulfilled, the export's SHA-256 and record count).
 *   erase   dsar.received (kind erasure, unless received) -> every data
 *           key of the subject destroyed (sb_keys_erase) and the subject's
 *           export files removed -> subject.erased (the key id: the
 *           subject's hash, all its generations) -> dsar.completed.
 *
 * The export is one JSON document, <data_dir>/exports/<tenant>/<subject
 * hash>-<request>.json (mode 0600, directory 0700):
 *
 *   {"tenant_id", "subject_id", "request_id", "generated_at",
 *    "events": [CloudEvents, PII decrypted; an erased field reads
 *               "sbx1.erased"],
 *    "projections": {"<processor>.<table>": [rows as JSON], ...}}
 *
 * and the same events as NDJSON beside it (.ndjson). The events are those
 * of the audit log (the complete record; run the audit processor) whose
 * data subject (sb_pii_data_subject: the lead they name, else the subject
 * they name, else their subject) is the subject; the rows those of every
 * built-in processor's table (but the audit log's) with a subject_id or
 * lead_id column naming it.
 *
 * Not thread-safe: one sb_dsar_t per thread. */
#ifndef SB_DSAR_H
#define SB_DSAR_H

#include "sb_conf.h"
#include "sb_err.h"

#include <cjson/cJSON.h>
#include <limits.h>

typedef struct sb_dsar_s sb_dsar_t;

#define SB_DSAR_ID_MAX 128 /* request ids: [A-Za-z0-9._:-]{1,128} */

/* Who asks, recorded on every event of the request. */
typedef struct sb_dsar_req_s {
  const char *tenant;
  const char *subject;    /* the data subject's id (a lead id) */
  const char *request_id; /* NULL: a new one (a ULID) */
  const char *actor;      /* user id of who carries it out */
  const char *actor_role; /* NULL or a role name */
  const char *ip;         /* NULL or the caller's address */
  const char *user_agent; /* NULL or the caller's user agent */
  const char *via;        /* "cli", "api": dsar.received's received_via */
} sb_dsar_req_t;

typedef struct sb_dsar_result_s {
  char request_id[SB_DSAR_ID_MAX + 1];
  long long events;  /* export: events written */
  long long rows;    /* export: projection rows written */
  long long unopened; /* export: sealed values that did not open */
  long keys_erased;  /* erase: data keys destroyed now */
  int files_removed; /* erase: export files removed */
  char path[PATH_MAX];   /* export: the JSON document */
  char ndjson[PATH_MAX]; /* export: the events as NDJSON */
  char sha256[65];       /* export: of the JSON document, hex */
} sb_dsar_result_t;

/* Connects what requests need (PostgreSQL at c->database_url, Kafka at
 * c->brokers, the key store). *out is the caller's: sb_dsar_close. */
int sb_dsar_open(const sb_conf_t *c, sb_dsar_t **out, sb_err_t *err);
void sb_dsar_close(sb_dsar_t *d);

int sb_dsar_export(sb_dsar_t *d, const sb_dsar_req_t *q, sb_dsar_result_t *res,
                   sb_err_t *err);
int sb_dsar_erase(sb_dsar_t *d, const sb_dsar_req_t *q, sb_dsar_result_t *res,
                  sb_err_t *err);

/* Records a read of personal data outside the API (`audit export` in
 * clear or masked) as access.recorded READ, acknowledged by Kafka before
 * it returns: the caller reads nothing when this fails. */
typedef struct sb_dsar_read_s {
  const char *tenant, *actor, *actor_role; /* actor: who reads */
  const char *resource_type, *resource_id; /* "audit_export", the tenant */
  const char *subject;                     /* NULL: every subject */
  const char *purpose;                     /* NULL or why */
} sb_dsar_read_t;
int sb_dsar_record_read(sb_dsar_t *d, const sb_dsar_read_t *r, sb_err_t *err);

/* A tenant's requests (one subject's when subject is not NULL) as the gdpr
 * projection holds them, with "overdue" computed now (open past its due
 * date), and the subject's erasures: {"requests": [...], "erasures":
 * [...]}. *out is the caller's (cJSON_Delete). */
int sb_dsar_status(sb_dsar_t *d, const char *tenant, const char *subject,
                   cJSON **out, sb_err_t *err);

#endif
