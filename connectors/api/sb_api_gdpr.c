/* The GDPR endpoints (sb_api_gdpr.h). */
#include "sb_api_gdpr.h"

#include "sb_access.h"
#include "sb_api_read.h"
#include "sb_auth.h"
#include "sb_dsar.h"
#include "sb_text.h"
#include "sb_util.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT_MAX (64u << 20) /* bytes of an export served over HTTP */

typedef enum { DO_EXPORT, DO_ERASE, DO_STATUS, DO_DOWNLOAD } what_t;

typedef struct {
  uv_work_t work;
  sb_api_gdpr_t *g;
  sb_http_req_t *req;
  sb_claims_t who;
  sb_client_info_t from; /* borrowed from req until it is answered */
  what_t what;
  char subject[129];
  char request[SB_DSAR_ID_MAX + 1];
  int has_subject, has_request;
  /* the outcome, from the thread pool */
  int status;
  char code[32], msg[SB_ERR_MSG_MAX + 64];
  char *body; /* JSON */
  size_t len;
  long long count; /* records read, for the record */
} job_t;

static void job_free(job_t *j) {
  free(j->body);
  free(j);
}

static void fail(job_t *j, const sb_err_t *err) {
  int usage = err->code == SB_EUSAGE || err->code == SB_EINVAL;
  j->status = usage ? 400 : err->code == SB_ENOENT ? 404 : 503;
  snprintf(j->code, sizeof j->code, "%s",
           usage ? "invalid" : err->code == SB_ENOENT ? "not_found"
                                                      : "unavailable");
  snprintf(j->msg, sizeof j->msg, "%s", err->msg);
}

static int set_body(job_t *j, cJSON *o, sb_err_t *err) {
  j->body = o ? cJSON_PrintUnformatted(o) : NULL;
  cJSON_Delete(o);
  if (j->body == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  j->len = strlen(j->body);
  return 0;
}

/* The export document of request R in the tenant's exports: the file
 * whose name ends with "-R.json". */
static int find_export(job_t *j, char *path, size_t sz, sb_err_t *err) {
  char dir[1024], suffix[SB_DSAR_ID_MAX + 8];
  if (sb_fmt(dir, sizeof dir, err, "%s/exports/%s", j->g->c->data_dir,
             j->who.tenant) != 0)
    return err->code;
  snprintf(suffix, sizeof suffix, "-%s.json", j->request);
  DIR *d = opendir(dir);
  struct dirent *e;
  size_t sl = strlen(suffix);
  int rc = SB_ENOENT;
  while (d != NULL && (e = readdir(d)) != NULL) {
    size_t n = strlen(e->d_name);
    if (n > sl && strcmp(e->d_name + n - sl, suffix) == 0) {
      rc = sb_fmt(path, sz, err, "%s/%s", dir, e->d_name);
      break;
    }
  }
  if (d != NULL)
    closedir(d);
  if (rc == SB_ENOENT)
    sb_err_set(err, SB_ENOENT,
               "no export of request %s (erased, or never made: POST "
               "/v1/gdpr {\"action\": \"export\"})",
               j->request);
  return rc;
}

static void run(uv_work_t *w) {
  job_t *j = w->data;
  sb_err_t err = SB_ERR_INIT;
  if (j->what == DO_DOWNLOAD) {
    char path[1400];
    char *text = NULL;
    size_t len = 0;
    if (find_export(j, path, sizeof path, &err) != 0 ||
        sb_read_file(path, EXPORT_MAX, &text, &len, &err) != 0) {
      fail(j, &err);
      if (err.code == SB_EINVAL) { /* larger than EXPORT_MAX */
        j->status = 413;
        snprintf(j->code, sizeof j->code, "too_large");
        snprintf(j->msg, sizeof j->msg,
                 "the export is over %u MiB: take it on the server "
                 "(`switchboard gdpr export` writes it under the data "
                 "directory)",
                 EXPORT_MAX >> 20);
      }
      return;
    }
    j->body = text;
    j->len = len;
    j->status = 200;
    return;
  }
  sb_dsar_t *d = NULL;
  if (sb_dsar_open(j->g->c, &d, &err) != 0) {
    fail(j, &err);
    return;
  }
  sb_dsar_req_t q = {.tenant = j->who.tenant,
                     .subject = j->subject,
                     .request_id = j->has_request ? j->request : NULL,
                     .actor = j->who.sub,
                     .actor_role = sb_role_name(j->who.role),
                     .ip = j->from.ip,
                     .user_agent = j->from.user_agent,
                     .via = "api"};
  sb_dsar_result_t res = {0};
  int rc;
  if (j->what == DO_STATUS) {
    cJSON *st = NULL;
    rc = sb_dsar_status(d, j->who.tenant, j->has_subject ? j->subject : NULL,
                        &st, &err);
    if (rc == 0) {
      j->count = cJSON_GetArraySize(cJSON_GetObjectItem(st, "requests")) +
                 cJSON_GetArraySize(cJSON_GetObjectItem(st, "erasures"));
      rc = set_body(j, st, &err);
    }
  } else {
    rc = j->what == DO_EXPORT ? sb_dsar_export(d, &q, &res, &err)
                              : sb_dsar_erase(d, &q, &res, &err);
    cJSON *o = rc == 0 ? cJSON_CreateObject() : NULL;
    if (o != NULL) {
      cJSON_AddStringToObject(o, "request_id", res.request_id);
      cJSON_AddStringToObject(o, "action",
                              j->what == DO_EXPORT ? "export" : "erase");
      if (j->what == DO_EXPORT) {
        char dl[SB_DSAR_ID_MAX + 40];
        snprintf(dl, sizeof dl, "/v1/gdpr/export?request=%s", res.request_id);
        cJSON_AddNumberToObject(o, "events", (double)res.events);
        cJSON_AddNumberToObject(o, "rows", (double)res.rows);
        cJSON_AddStringToObject(o, "sha256", res.sha256);
        cJSON_AddStringToObject(o, "download", dl);
      } else {
        cJSON_AddNumberToObject(o, "keys_erased", (double)res.keys_erased);
        cJSON_AddNumberToObject(o, "files_removed", res.files_removed);
      }
    }
    if (rc == 0)
      rc = set_body(j, o, &err);
    else if (res.request_id[0])
      sb_err_prefix(&err, "request %s (post it again with this request_id): ",
                    res.request_id);
  }
  sb_dsar_close(d);
  if (rc != 0)
    fail(j, &err);
  else
    j->status = 200;
}

static void respond(job_t *j) {
  sb_http_respond(j->req, 200, "application/json", j->body, j->len,
                  "Cache-Control: no-store\r\n");
  job_free(j);
}

static void on_recorded(void *ud, int status, const char *message) {
  job_t *j = ud;
  if (status != 0) {
    sb_http_error(j->req, 503, "unavailable", message, "Retry-After: 1\r\n");
    job_free(j);
    return;
  }
  respond(j);
}

static void after(uv_work_t *w, int status) {
  job_t *j = w->data;
  if (status != 0 || j->status != 200) {
    if (status != 0) {
      j->status = 503;
      snprintf(j->code, sizeof j->code, "unavailable");
      snprintf(j->msg, sizeof j->msg, "the server is stopping; retry");
    }
    sb_http_error(j->req, j->status, j->code, j->msg,
                  j->status == 503 ? "Retry-After: 1\r\n" : NULL);
    job_free(j);
    return;
  }
  if (j->what == DO_EXPORT || j->what == DO_ERASE) {
    respond(j); /* the export recorded its reading itself */
    return;
  }
  /* a read of GDPR data: answered once recorded */
  const char *filters[2];
  char f[SB_DSAR_ID_MAX + 16];
  size_t nf = 0;
  if (j->has_subject || j->has_request) {
    snprintf(f, sizeof f, "%s=%s", j->has_request ? "request" : "subject",
             j->has_request ? j->request : j->subject);
    filters[nf++] = f;
  }
  sb_read_t rd = {
      .tenant = j->who.tenant,
      .user = j->who.sub,
      .role = sb_role_name(j->who.role),
      .ip = j->from.ip,
      .user_agent = j->from.user_agent,
      .method = j->from.method,
      .route = j->from.path,
      .resource_type = j->what == DO_STATUS ? "gdpr_status" : "gdpr_export",
      .resource_id = j->has_request ? j->request : NULL,
      .subject_id = j->has_subject ? j->subject : NULL,
      .filters = filters,
      .nfilters = nf,
      .rows = (uint64_t)(j->what == DO_STATUS ? j->count : 1),
  };
  sb_ingest_record_read(j->g->in, &rd, on_recorded, j);
}

/* The caller, an admin of its tenant: the job, or NULL (answered). */
static job_t *begin(sb_http_req_t *r, sb_api_gdpr_t *g, what_t what) {
  const char *auth = sb_http_header(r, "Authorization");
  const char *token =
      auth && strncasecmp(auth, "Bearer ", 7) == 0 ? auth + 7 : NULL;
  job_t *j = calloc(1, sizeof *j);
  if (j == NULL) {
    sb_http_error(r, 503, "unavailable", "out of memory", "Retry-After: 1\r\n");
    return NULL;
  }
  if (sb_ingest_authenticate(g->in, r, token, &j->who) != 0) {
    free(j); /* answered 401 and recorded */
    return NULL;
  }
  j->g = g;
  j->req = r;
  j->what = what;
  j->from = sb_client_info(r);
  if (j->who.role != SB_ROLE_ADMIN) {
    sb_ingest_record_security(g->in, &j->from, "security.access_denied",
                              j->who.tenant, j->who.sub, "insufficient_role",
                              "gdpr");
    sb_http_error(r, 403, "forbidden",
                  "data subject requests are an admin's: the role may not do "
                  "this",
                  NULL);
    job_free(j);
    return NULL;
  }
  return j;
}

static void queue(job_t *j) {
  j->work.data = j;
  if (uv_queue_work(j->g->loop, &j->work, run, after) != 0) {
    sb_http_error(j->req, 503, "unavailable", "the server is stopping; retry",
                  "Retry-After: 1\r\n");
    job_free(j);
  }
}

static int bad(job_t *j, const char *msg) {
  sb_http_error(j->req, 400, "invalid", msg, NULL);
  job_free(j);
  return -1;
}

/* subject= and request= of the query string. */
static int query(job_t *j, int need_request) {
  const char *qs = sb_http_query(j->req);
  int s = sb_api_query_param(qs, "subject", j->subject, sizeof j->subject);
  int q = sb_api_query_param(qs, "request", j->request, sizeof j->request);
  if (s < 0 || (s > 0 && j->subject[0] == '\0'))
    return bad(j, "subject: 1 to 128 bytes, percent-encoded");
  if (q < 0 || (need_request && q == 0))
    return bad(j, "request: the request's id, 1 to 128 bytes");
  j->has_subject = s > 0;
  j->has_request = q > 0;
  return 0;
}

void sb_api_post_gdpr(sb_http_req_t *r, sb_api_gdpr_t *g) {
  job_t *j = begin(r, g, DO_EXPORT);
  if (j == NULL)
    return;
  size_t len;
  const char *body = sb_http_body(r, &len);
  cJSON *o = body ? cJSON_ParseWithLength(body, len) : NULL;
  const char *action =
      cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "action"));
  const char *subject =
      cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "subject"));
  const cJSON *rq = cJSON_GetObjectItemCaseSensitive(o, "request_id");
  const char *why = NULL;
  if (!cJSON_IsObject(o))
    why = "the body is a JSON object: {\"action\": \"export\" | \"erase\", "
          "\"subject\": \"...\"}";
  else if (action == NULL ||
           (strcmp(action, "export") != 0 && strcmp(action, "erase") != 0))
    why = "action: \"export\" or \"erase\"";
  else if (subject == NULL || subject[0] == '\0' ||
           strlen(subject) >= sizeof j->subject)
    why = "subject: the data subject's id (a lead id), 1 to 128 bytes";
  else if (rq != NULL && (!cJSON_IsString(rq) ||
                          strlen(rq->valuestring) >= sizeof j->request))
    why = "request_id: a string of 1 to 128 of [A-Za-z0-9._:-]";
  if (why == NULL) {
    j->what = strcmp(action, "export") == 0 ? DO_EXPORT : DO_ERASE;
    snprintf(j->subject, sizeof j->subject, "%s", subject);
    j->has_subject = 1;
    if (rq != NULL) {
      snprintf(j->request, sizeof j->request, "%s", rq->valuestring);
      j->has_request = 1;
    }
  }
  cJSON_Delete(o);
  if (why != NULL) {
    bad(j, why);
    return;
  }
  queue(j);
}

void sb_api_get_gdpr(sb_http_req_t *r, sb_api_gdpr_t *g) {
  job_t *j = begin(r, g, DO_STATUS);
  if (j != NULL && query(j, 0) == 0)
    queue(j);
}

void sb_api_get_gdpr_export(sb_http_req_t *r, sb_api_gdpr_t *g) {
  job_t *j = begin(r, g, DO_DOWNLOAD);
  if (j != NULL && query(j, 1) == 0)
    queue(j);
}
