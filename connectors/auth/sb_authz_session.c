/* Dashboard sessions: the live ones in memory, sign-in and sign-out. See
 * sb_authz.h. The cookie's value (32 random bytes, base64url) is never
 * stored, logged or compared: only its SHA-256 is. */
#include "sb_authz_int.h"

#include "sb_log.h"
#include "sb_time.h"
#include "sb_ulid.h"
#include "sb_util.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t hash_bucket(const unsigned char h[32]) {
  uint64_t v;
  memcpy(&v, h, sizeof v);
  return v % AUTHZ_BUCKETS;
}

static int unhex(const char *hex, unsigned char out[32]) {
  for (int i = 0; i < 32; i++) {
    unsigned v = 0;
    for (int k = 0; k < 2; k++) {
      char ch = hex[2 * i + k];
      int d = ch >= '0' && ch <= '9'   ? ch - '0'
              : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                                       : -1;
      if (d < 0)
        return -1;
      v = v * 16 + (unsigned)d;
    }
    out[i] = (unsigned char)v;
  }
  return hex[64] == '\0' ? 0 : -1;
}

static void tohex(const unsigned char in[32], char out[65]) {
  static const char d[] = "0123456789abcdef";
  for (int i = 0; i < 32; i++) {
    out[2 * i] = d[in[i] >> 4];
    out[2 * i + 1] = d[in[i] & 15];
  }
  out[64] = '\0';
}

/* Under z->lock. */
static sess_t *sess_find(sb_authz_t *z, const unsigned char h[32]) {
  for (sess_t *s = z->sessions[hash_bucket(h)]; s; s = s->next)
    if (memcmp(s->s.hash, h, 32) == 0)
      return s;
  return NULL;
}

static void sess_drop(sb_authz_t *z, const unsigned char h[32]) {
  for (sess_t **p = &z->sessions[hash_bucket(h)]; *p; p = &(*p)->next)
    if (memcmp((*p)->s.hash, h, 32) == 0) {
      sess_t *s = *p;
      *p = s->next;
      free(s);
      z->nsessions--;
      return;
    }
}

static int sess_put(sb_authz_t *z, const sb_session_t *in) {
  sess_drop(z, in->hash);
  sess_t *s = calloc(1, sizeof *s);
  if (s == NULL)
    return -1;
  s->s = *in;
  uint64_t b = hash_bucket(in->hash);
  s->next = z->sessions[b];
  z->sessions[b] = s;
  z->nsessions++;
  return 0;
}

void sb__authz_sessions_free(sb_authz_t *z) {
  for (size_t b = 0; z->sessions && b < AUTHZ_BUCKETS; b++) {
    for (sess_t *s = z->sessions[b], *n; s; s = n) {
      n = s->next;
      free(s);
    }
    z->sessions[b] = NULL;
  }
  z->nsessions = 0;
}

/* A row (hash hex, id, tenant, user, role, expires micros) as a session. */
static int from_row(const sb_pg_rows_t *rows, int r, sb_session_t *s) {
  memset(s, 0, sizeof *s);
  const char *hex = sb_pg_rows_get(rows, r, 0), *id = sb_pg_rows_get(rows, r, 1),
             *tenant = sb_pg_rows_get(rows, r, 2),
             *user = sb_pg_rows_get(rows, r, 3),
             *role = sb_pg_rows_get(rows, r, 4),
             *exp = sb_pg_rows_get(rows, r, 5);
  sb_err_t ignore = SB_ERR_INIT;
  if (!hex || !id || !tenant || !user || !role || !exp ||
      unhex(hex, s->hash) != 0 || strlen(id) > SB_SESSION_ID_LEN ||
      strlen(tenant) > SB_TENANT_MAX || strlen(user) > SB_AUTH_SUB_MAX ||
      sb_role_parse(role, &s->who.role, &ignore) != 0)
    return -1;
  snprintf(s->id, sizeof s->id, "%s", id);
  snprintf(s->who.tenant, sizeof s->who.tenant, "%s", tenant);
  snprintf(s->who.sub, sizeof s->who.sub, "%s", user);
  s->expires_us = strtoll(exp, NULL, 10);
  s->who.exp = s->expires_us / 1000000;
  return 0;
}

static const char live_sql[] =
    "SELECT encode(id_hash, 'hex'), session_id, tenant_id, user_id, role, "
    "(extract(epoch FROM expires_at) * 1000000)::bigint FROM sb.sessions "
    "WHERE ended_at IS NULL AND expires_at > now()";

int sb__authz_sessions_load(sb_authz_t *z, sb_pg_t *pg, sb_err_t *err) {
  sb_pg_rows_t *rows = NULL;
  int rc = sb_pg_rows(pg, live_sql, 0, NULL, &rows, err);
  if (rc != 0)
    return rc;
  pthread_mutex_lock(&z->lock);
  sb__authz_sessions_free(z);
  for (int r = 0; r < sb_pg_rows_count(rows); r++) {
    sb_session_t s;
    if (from_row(rows, r, &s) == 0 && sess_put(z, &s) != 0) {
      rc = sb_err_set(err, SB_ENOMEM, "out of memory");
      break;
    }
  }
  pthread_mutex_unlock(&z->lock);
  sb_pg_rows_free(rows);
  return rc;
}

int sb__authz_session_reload(sb_authz_t *z, sb_pg_t *pg, const char *hex,
                             sb_err_t *err) {
  unsigned char h[32];
  if (unhex(hex, h) != 0)
    return 0;
  char sql[sizeof live_sql + 64];
  snprintf(sql, sizeof sql, "%s AND id_hash = decode($1, 'hex')", live_sql);
  const char *p[] = {hex};
  sb_pg_rows_t *rows = NULL;
  int rc = sb_pg_rows(pg, sql, 1, p, &rows, err);
  if (rc != 0)
    return rc;
  sb_session_t s;
  pthread_mutex_lock(&z->lock);
  if (sb_pg_rows_count(rows) == 1 && from_row(rows, 0, &s) == 0)
    rc = sess_put(z, &s) == 0 ? 0 : sb_err_set(err, SB_ENOMEM, "out of memory");
  else
    sess_drop(z, h); /* ended, expired or purged */
  z->reloads++;
  pthread_mutex_unlock(&z->lock);
  sb_pg_rows_free(rows);
  return rc;
}

static int secret_hash(const char *secret, unsigned char out[32]) {
  size_t n = secret ? strnlen(secret, SB_SESSION_SECRET_LEN + 1) : 0;
  if (n != SB_SESSION_SECRET_LEN)
    return -1;
  for (size_t i = 0; i < n; i++) {
    char ch = secret[i];
    if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
          (ch >= '0' && ch <= '9') || ch == '-' || ch == '_'))
      return -1;
  }
  unsigned int len = 0;
  return EVP_Digest(secret, n, out, &len, EVP_sha256(), NULL) == 1 &&
                 len == 32
             ? 0
             : -1;
}

int sb_authz_session_find(sb_authz_t *z, const char *secret, int64_t now_us,
                          sb_session_t *out, sb_err_t *err) {
  unsigned char h[32];
  if (secret_hash(secret, h) != 0)
    return sb_err_set(err, SB_ENOENT,
                      "the session cookie is not one this server made");
  if (!sb__authz_fresh(z))
    return sb_err_set(err, SB_EUNAVAIL,
                      "sessions could not be checked: no news from "
                      "PostgreSQL for more than %d ms; retry later",
                      z->c->auth_cache_max_stale_ms);
  pthread_mutex_lock(&z->lock);
  sess_t *s = sess_find(z, h);
  int live = s && s->s.expires_us > now_us;
  if (live)
    *out = s->s;
  pthread_mutex_unlock(&z->lock);
  if (!live)
    return sb_err_set(err, SB_ENOENT,
                      "the session has ended or expired: sign in again "
                      "(POST /v1/session)");
  return 0;
}

int sb_authz_session_live(sb_authz_t *z, const unsigned char hash[32],
                          int64_t now_us) {
  pthread_mutex_lock(&z->lock);
  sess_t *s = sess_find(z, hash);
  int live = s && s->s.expires_us > now_us;
  pthread_mutex_unlock(&z->lock);
  return live;
}

/* ---- sign-in and sign-out, on libuv's thread pool ------------------------ */

typedef struct {
  uv_work_t w;
  sb_authz_t *z;
  int end;
  sb_session_t s;
  char secret[SB_SESSION_SECRET_LEN + 1];
  char ip[64], ua[512], reason[32];
  int rc;
  char error[SB_ERR_MSG_MAX];
  sb_authz_session_cb cb;
  void *ud;
} job_t;

static const char begin_sql[] =
    "WITH old AS (UPDATE sb.sessions SET ended_at = now(), end_reason = "
    "'superseded' WHERE id_hash IN (SELECT id_hash FROM sb.sessions WHERE "
    "tenant_id = $3 AND user_id = $4 AND ended_at IS NULL AND expires_at > "
    "now() ORDER BY created_at DESC, session_id DESC OFFSET $9::int - 1) "
    "RETURNING 1) "
    "INSERT INTO sb.sessions (id_hash, session_id, tenant_id, user_id, role, "
    "expires_at, ip, user_agent) VALUES (decode($1, 'hex'), $2, $3, $4, $5, "
    "to_timestamp($6::bigint / 1000000.0), $7, $8)";

static void work(uv_work_t *w) {
  job_t *j = w->data;
  sb_authz_t *z = j->z;
  sb_err_t err = SB_ERR_INIT;
  char hex[65], exp[32], max[16];
  tohex(j->s.hash, hex);
  snprintf(exp, sizeof exp, "%lld", (long long)j->s.expires_us);
  snprintf(max, sizeof max, "%d", z->c->auth_session_max_per_user);
  pthread_mutex_lock(&z->wlock);
  int rc = 0;
  if (z->wpg == NULL)
    rc = sb_pg_connect(z->c->database_url, &z->wpg, &err);
  if (rc == 0 && !j->end) {
    const char *p[] = {hex,
                       j->s.id,
                       j->s.who.tenant,
                       j->s.who.sub,
                       sb_role_name(j->s.who.role),
                       exp,
                       j->ip[0] ? j->ip : NULL,
                       j->ua[0] ? j->ua : NULL,
                       max};
    rc = sb_pg_exec(z->wpg, begin_sql, 9, p, &err);
  } else if (rc == 0) {
    const char *p[] = {hex, j->reason};
    rc = sb_pg_exec(z->wpg,
                    "UPDATE sb.sessions SET ended_at = now(), end_reason = "
                    "$2 WHERE id_hash = decode($1, 'hex') AND ended_at IS "
                    "NULL",
                    2, p, &err);
  }
  if (rc != 0 && err.sqlstate[0] == '\0') { /* the connection: anew next */
    sb_pg_close(z->wpg);
    z->wpg = NULL;
  }
  pthread_mutex_unlock(&z->wlock);
  j->rc = rc;
  snprintf(j->error, sizeof j->error, "%s", rc ? err.msg : "");
}

static void after(uv_work_t *w, int status) {
  job_t *j = w->data;
  sb_authz_t *z = j->z;
  if (status != 0 && j->rc == 0) {
    j->rc = SB_EINTERNAL;
    snprintf(j->error, sizeof j->error, "the work was cancelled");
  }
  if (j->rc == 0) { /* this process knows at once; the others by NOTIFY */
    pthread_mutex_lock(&z->lock);
    if (j->end)
      sess_drop(z, j->s.hash);
    else
      sess_put(z, &j->s);
    pthread_mutex_unlock(&z->lock);
  } else {
    sb_log(SB_LOG_WARN, "authz",
           j->end ? "a sign-out was not recorded" : "a sign-in failed",
           SB_F_STR("error", j->error), SB_F_END);
  }
  atomic_fetch_sub(&z->inflight, 1);
  j->cb(j->ud, j->rc, &j->s, j->end || j->rc ? NULL : j->secret,
        j->rc ? j->error : NULL);
  OPENSSL_cleanse(j->secret, sizeof j->secret);
  free(j);
}

static int submit(sb_authz_t *z, job_t *j, sb_err_t *err) {
  j->w.data = j;
  atomic_fetch_add(&z->inflight, 1);
  int rc = uv_queue_work(z->loop, &j->w, work, after);
  if (rc != 0) {
    atomic_fetch_sub(&z->inflight, 1);
    OPENSSL_cleanse(j->secret, sizeof j->secret);
    free(j);
    return sb_err_set(err, SB_EINTERNAL, "uv_queue_work: %s",
                      uv_strerror(rc));
  }
  return 0;
}

int sb_authz_session_begin(sb_authz_t *z, const sb_claims_t *who,
                           const char *ip, const char *ua,
                           sb_authz_session_cb cb, void *ud, sb_err_t *err) {
  pthread_mutex_lock(&z->lock);
  size_t live = z->nsessions;
  pthread_mutex_unlock(&z->lock);
  if (live + (size_t)atomic_load(&z->inflight) >=
      (size_t)z->c->auth_session_max)
    return sb_err_set(err, SB_EBUSY,
                      "the instance holds auth.session_max (%d) live "
                      "sessions; retry later",
                      z->c->auth_session_max);
  job_t *j = calloc(1, sizeof *j);
  if (j == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  j->z = z;
  j->cb = cb;
  j->ud = ud;
  unsigned char rnd[32];
  if (RAND_bytes(rnd, sizeof rnd) != 1 || sb_ulid_new(j->s.id, err) != 0) {
    free(j);
    return sb_err_set(err, SB_ECRYPTO, "no randomness for a session");
  }
  /* base64url without padding: 43 characters */
  static const char b64[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  size_t o = 0;
  for (size_t i = 0; i < 32; i += 3) {
    uint32_t v = (uint32_t)rnd[i] << 16 |
                 (i + 1 < 32 ? (uint32_t)rnd[i + 1] << 8 : 0) |
                 (i + 2 < 32 ? rnd[i + 2] : 0);
    size_t k = i + 2 < 32 ? 4 : 3; /* the last group holds 2 bytes */
    for (size_t q = 0; q < k; q++)
      j->secret[o++] = b64[(v >> (18 - 6 * q)) & 63];
  }
  j->secret[o] = '\0';
  OPENSSL_cleanse(rnd, sizeof rnd);
  if (secret_hash(j->secret, j->s.hash) != 0) {
    OPENSSL_cleanse(j->secret, sizeof j->secret);
    free(j);
    return sb_err_set(err, SB_ECRYPTO, "SHA-256 failed");
  }
  j->s.who = *who;
  j->s.who.iat = 0;
  j->s.expires_us =
      sb_time_now_micros() + (int64_t)z->c->auth_session_ttl_s * 1000000;
  j->s.who.exp = j->s.expires_us / 1000000;
  snprintf(j->ip, sizeof j->ip, "%s", ip ? ip : "");
  /* visible ASCII only, as the audit records it */
  size_t n = 0;
  for (; ua && ua[n] && n + 1 < sizeof j->ua; n++)
    j->ua[n] = ua[n] >= 0x20 && ua[n] < 0x7f ? ua[n] : '?';
  j->ua[n] = '\0';
  return submit(z, j, err);
}

int sb_authz_session_end(sb_authz_t *z, const sb_session_t *s,
                         const char *reason, sb_authz_session_cb cb, void *ud,
                         sb_err_t *err) {
  job_t *j = calloc(1, sizeof *j);
  if (j == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  j->z = z;
  j->end = 1;
  j->s = *s;
  j->cb = cb;
  j->ud = ud;
  snprintf(j->reason, sizeof j->reason, "%s", reason ? reason : "logout");
  return submit(z, j, err);
}
