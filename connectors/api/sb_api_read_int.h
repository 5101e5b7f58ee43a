/* Inside the read API: the reader's connection pool and one read's state,
 * shared by GET /v1/projection (sb_api_read.c) and the views
 * (sb_api_views.c). Not for other modules. */
#ifndef SB_API_READ_INT_H
#define SB_API_READ_INT_H

#include "sb_api_read.h"
#include "sb_auth.h"
#include "sb_ingest.h"
#include "sb_keys.h"
#include "sb_pg.h"
#include "sb_schema.h"

#include <pthread.h>

#define SB_RDQ_POOL_MAX 4      /* libuv's thread pool has 4 threads */
#define SB_RDQ_MAX_FILTERS 8
#define SB_RDQ_MAX_VALUE 128   /* bytes of a parameter's value */
#define SB_RDQ_MAX_LIMIT 1000
#define SB_RDQ_DEFAULT_LIMIT 100
#define SB_RDQ_MAX_BODY (16u << 20) /* bytes of rows answered */
#define SB_RDQ_NAME_MAX 63          /* a PostgreSQL identifier */
#define SB_RDQ_CURSOR_MAX 1024      /* bytes of a page cursor */

/* A connection and a key store (one per thread: sb_keys.h), taken
 * together from the pool. */
typedef struct {
  sb_pg_t *pg;
  sb_keys_t *keys; /* opened when a read first has PII to reveal */
} sb_rdq_conn_t;

struct sb_api_reader_s {
  const sb_conf_t *c;
  uv_loop_t *loop;
  sb_ingest_t *in;
  sb_schemas_t *schemas; /* read-only once loaded: shared by the threads */
  pthread_mutex_t lock;
  sb_rdq_conn_t idle[SB_RDQ_POOL_MAX]; /* not in use */
  int nidle;
};

struct sb_view_def_s;

/* One read, from its request to its answer. */
typedef struct sb_rdq_s {
  uv_work_t work;
  sb_api_reader_t *rd;
  sb_http_req_t *req;
  sb_claims_t who;
  sb_client_info_t from; /* borrowed from req, valid until it is answered */
  const char *kind;      /* the answer's first member: "projection", "view" */
  char schema[SB_RDQ_NAME_MAX + 1], table[SB_RDQ_NAME_MAX + 1];
  char name[SB_RDQ_MAX_VALUE + 1];
  int limit;
  int nf;
  char col[SB_RDQ_MAX_FILTERS][SB_RDQ_NAME_MAX + 1];
  char val[SB_RDQ_MAX_FILTERS][SB_RDQ_MAX_VALUE + 1];
  /* what the read asked for, for its record: "column=value", "limit=N" */
  char *filters[SB_RDQ_MAX_FILTERS + 8];
  int nfilters;
  /* a view's read (sb_api_views.c) */
  const struct sb_view_def_s *view;
  char from_v[40], to_v[40], bucket[8];
  int bucketed; /* the view asked for takes ?bucket= */
  char after[SB_RDQ_CURSOR_MAX + 1];
  /* the outcome, from the thread pool */
  int status;
  char code[32], msg[300];
  char *rows; /* a JSON array */
  long long count;
  char *next; /* a view's next page cursor, or NULL */
} sb_rdq_t;

sb_rdq_conn_t sb_rdq_pool_get(sb_api_reader_t *rd, sb_err_t *err);
/* Back to the pool; a connection that may be broken (pg set NULL by the
 * caller after closing it) is not kept. */
void sb_rdq_pool_put(sb_api_reader_t *rd, sb_rdq_conn_t cn);
void sb_rdq_fail(sb_rdq_t *q, int status, const char *code,
                  const char *msg);
void sb_rdq_free(sb_rdq_t *q);
/* Adds "what" to the read's record; -1 out of memory. */
int sb_rdq_note(sb_rdq_t *q, const char *what);
/* On the thread pool: json (a JSON array of rows of q->schema's table
 * q->table, count of them) revealed or masked for the caller and kept in
 * q->rows, status 200; or q failed (413, 503). */
void sb_rdq_keep_rows(sb_rdq_t *q, sb_rdq_conn_t *cn, const char *json,
                       long long count);
/* Back on the loop after the query (uv_after_work_cb): the read recorded,
 * then answered. */
void sb_rdq_after(uv_work_t *w, int status);
/* A read of kind ("projection", "view") begun for r: the caller
 * authenticated from its Authorization header. NULL when answered already
 * (401, recorded; 503 out of memory). */
sb_rdq_t *sb_rdq_start(sb_http_req_t *r, sb_api_reader_t *rd,
                         const char *kind);
/* Percent-decodes [s, s+n) into out: the length, -1 for a bad escape or a
 * control character, -2 when it does not fit in cap bytes with the NUL. */
int sb_rdq_url_decode(const char *s, size_t n, char *out, size_t cap);
/* [a-z_][a-z0-9_]*, at most SB_RDQ_NAME_MAX bytes */
int sb_rdq_ident_ok(const char *s, size_t n);

#endif
