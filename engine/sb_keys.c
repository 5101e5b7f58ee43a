/* Data keys: the byte-bounded LRU of unwrapped keys, sb.data_keys in
 * PostgreSQL (one round trip per batch of misses), erasure and rotation.
 * See sb_keys.h. */
#include "sb_keys_int.h"

#include "sb_pg.h"
#include "sb_text.h"
#include "sb_util.h"

#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

/* ---- the cache ----------------------------------------------------------
 * Entries by name: "S\x1f<tenant>\x1f<subject id>" the subject's current
 * key (for sealing: the id itself is held in memory only, never stored),
 * "k\x1f<tenant>\x1f<key id>" a key by id (for opening; erased keys are
 * remembered as such). */
typedef struct ent_s {
  struct ent_s *hnext, *prev, *next; /* bucket chain; LRU (next: older) */
  char *name;
  size_t bytes;
  long long at_ms;
  int erased;
  unsigned char dek[SB_PII_KEY_LEN];
  char key_id[SB_PII_KEYID_MAX + 1];
} ent_t;

struct sb_keys_s {
  const sb_conf_t *c;
  sb__keysrc_t src;
  sb_pg_t *pg;
  ent_t **buckets;
  size_t nbuckets;
  ent_t *newest, *oldest;
  size_t bytes, max_bytes;
  long long ttl_ms;
  sb_keys_stats_t st;
};

#define ENT_OVERHEAD (sizeof(ent_t) + 32) /* the entry, the name's malloc */

static uint64_t fnv(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

static void lru_unlink(sb_keys_t *k, ent_t *e) {
  if (e->prev)
    e->prev->next = e->next;
  else
    k->newest = e->next;
  if (e->next)
    e->next->prev = e->prev;
  else
    k->oldest = e->prev;
  e->prev = e->next = NULL;
}

static void lru_front(sb_keys_t *k, ent_t *e) {
  e->prev = NULL;
  e->next = k->newest;
  if (k->newest)
    k->newest->prev = e;
  k->newest = e;
  if (k->oldest == NULL)
    k->oldest = e;
}

static void ent_drop(sb_keys_t *k, ent_t *e) {
  ent_t **pp = &k->buckets[fnv(e->name) & (k->nbuckets - 1)];
  while (*pp && *pp != e)
    pp = &(*pp)->hnext;
  if (*pp)
    *pp = e->hnext;
  lru_unlink(k, e);
  k->bytes -= e->bytes;
  k->st.cache_entries--;
  sb_pii_wipe(e->dek, sizeof e->dek);
  free(e->name);
  free(e);
}

static ent_t *cache_get(sb_keys_t *k, const char *name) {
  ent_t *e = k->buckets[fnv(name) & (k->nbuckets - 1)];
  while (e && strcmp(e->name, name) != 0)
    e = e->hnext;
  if (e == NULL) {
    k->st.misses++;
    return NULL;
  }
  if (sb_now_ms() - e->at_ms > k->ttl_ms) {
    ent_drop(k, e);
    k->st.misses++;
    return NULL;
  }
  lru_unlink(k, e);
  lru_front(k, e);
  k->st.hits++;
  return e;
}

static int grow(sb_keys_t *k) {
  size_t nb = k->nbuckets * 2;
  ent_t **b = calloc(nb, sizeof *b);
  if (b == NULL)
    return -1;
  for (size_t i = 0; i < k->nbuckets; i++)
    for (ent_t *e = k->buckets[i], *next; e; e = next) {
      next = e->hnext;
      size_t j = fnv(e->name) & (nb - 1);
      e->hnext = b[j];
      b[j] = e;
    }
  free(k->buckets);
  k->buckets = b;
  k->nbuckets = nb;
  return 0;
}

/* Adds or replaces name; the oldest entries go while over the budget. */
static void cache_put(sb_keys_t *k, const char *name, const unsigned char *dek,
                      const char *key_id, int erased) {
  ent_t *e = k->buckets[fnv(name) & (k->nbuckets - 1)];
  while (e && strcmp(e->name, name) != 0)
    e = e->hnext;
  if (e != NULL)
    ent_drop(k, e);
  size_t bytes = ENT_OVERHEAD + strlen(name) + 1;
  if (bytes > k->max_bytes)
    return;
  while (k->bytes + bytes > k->max_bytes && k->oldest) {
    ent_drop(k, k->oldest);
    k->st.evictions++;
  }
  if (k->st.cache_entries + 1 > k->nbuckets)
    grow(k); /* on failure the chains are only longer */
  if ((e = calloc(1, sizeof *e)) == NULL || (e->name = strdup(name)) == NULL) {
    free(e);
    return; /* a cache: the key is asked for again next time */
  }
  e->bytes = bytes;
  e->at_ms = sb_now_ms();
  e->erased = erased;
  if (dek)
    memcpy(e->dek, dek, SB_PII_KEY_LEN);
  snprintf(e->key_id, sizeof e->key_id, "%s", key_id ? key_id : "");
  size_t j = fnv(name) & (k->nbuckets - 1);
  e->hnext = k->buckets[j];
  k->buckets[j] = e;
  lru_front(k, e);
  k->bytes += bytes;
  k->st.cache_entries++;
}

#define NAME_MAX_ (SB_TENANT_MAX + 1100) /* subject ids: 1 KiB at most */

/* The entry's name into out (NAME_MAX_ bytes): 0, or -1 when it does not
 * fit (that subject is then never cached: a cut name could be another's). */
static int ent_name(char *out, char kind, const char *tenant, const char *id) {
  size_t tl = strlen(tenant), il = strlen(id);
  if (tl + il + 4 > NAME_MAX_)
    return -1;
  out[0] = kind;
  out[1] = '\x1f';
  memcpy(out + 2, tenant, tl);
  out[2 + tl] = '\x1f';
  memcpy(out + 3 + tl, id, il + 1);
  return 0;
}

void sb_keys_stats(const sb_keys_t *k, sb_keys_stats_t *out) {
  *out = k->st;
  out->cache_bytes = k->bytes;
}

/* ---- life ---------------------------------------------------------------- */

int sb_keys_file_ensure(const sb_conf_t *c, sb_err_t *err) {
  sb__keysrc_t s;
  int rc = sb__keysrc_init(&s, c, err);
  sb__keysrc_free(&s);
  return rc;
}

int sb_keys_open(const sb_conf_t *c, sb_keys_t **out, sb_err_t *err) {
  *out = NULL;
  sb_keys_t *k = calloc(1, sizeof *k);
  if (k == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  k->c = c;
  k->nbuckets = 256;
  k->max_bytes = (size_t)c->pii_dek_cache_bytes;
  k->ttl_ms = c->pii_dek_cache_ttl_ms;
  if ((k->buckets = calloc(k->nbuckets, sizeof *k->buckets)) == NULL) {
    free(k);
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  }
  int rc = sb__keysrc_init(&k->src, c, err);
  if (rc != 0) {
    sb_keys_free(k);
    return rc;
  }
  *out = k;
  return 0;
}

void sb_keys_free(sb_keys_t *k) {
  if (k == NULL)
    return;
  while (k->oldest)
    ent_drop(k, k->oldest);
  free(k->buckets);
  sb__keysrc_free(&k->src);
  sb_pg_close(k->pg);
  free(k);
}

static sb_pg_t *pg(sb_keys_t *k, sb_err_t *err) {
  if (k->pg == NULL) {
    if (k->c->database_url == NULL || *k->c->database_url == '\0') {
      sb_err_set(err, SB_ECONFIG, "keys: no database_url for the data keys");
      return NULL;
    }
    if (sb_pg_connect(k->c->database_url, &k->pg, err) != 0)
      return NULL;
  }
  return k->pg;
}

/* A failed statement without an SQLSTATE lost the connection: the next
 * use connects again. */
static void pg_failed(sb_keys_t *k, const sb_err_t *err) {
  if (err->sqlstate[0] == '\0') {
    sb_pg_close(k->pg);
    k->pg = NULL;
  }
}

/* ---- tenant keys ---------------------------------------------------------- */

int sb_keys_match_key(sb_keys_t *k, const char *tenant,
                      unsigned char out[SB_PII_KEY_LEN], sb_err_t *err) {
  const sb__tkeys_t *t = sb__keysrc_get(&k->src, tenant, 1, err);
  if (t == NULL)
    return err->code;
  memcpy(out, t->match, SB_PII_KEY_LEN);
  return 0;
}

static int subject_hash(const sb__tkeys_t *t, const char *subject,
                        char out[SB_KEYS_SUBJECT_HASH + 1], sb_err_t *err) {
  unsigned char md[32];
  if (sb_pii_hmac_sha256(t->subj, subject, strlen(subject), md) != 0)
    return sb_err_set(err, SB_ECRYPTO, "keys: HMAC-SHA256 failed");
  static const char hex[] = "0123456789abcdef";
  for (int i = 0; i < SB_KEYS_SUBJECT_HASH / 2; i++) {
    out[2 * i] = hex[md[i] >> 4];
    out[2 * i + 1] = hex[md[i] & 15];
  }
  out[SB_KEYS_SUBJECT_HASH] = '\0';
  return 0;
}

int sb_keys_subject_hash(sb_keys_t *k, const char *tenant,
                         const char *subject,
                         char out[SB_KEYS_SUBJECT_HASH + 1], sb_err_t *err) {
  const sb__tkeys_t *t = sb__keysrc_get(&k->src, tenant, 1, err);
  if (t == NULL)
    return err->code;
  return subject_hash(t, subject, out, err);
}

/* The KEK of tenant's version, reading the key source again once when it
 * does not hold it (another process rotated). */
static const unsigned char *kek_of(sb_keys_t *k, const char *tenant,
                                   int version, sb_err_t *err) {
  const sb__tkeys_t *t = sb__keysrc_get(&k->src, tenant, 0, err);
  const unsigned char *kek = t ? sb__tkeys_kek(t, version) : NULL;
  if (kek == NULL && t != NULL) {
    if (sb__keysrc_reload(&k->src, tenant, err) != 0)
      return NULL;
    t = sb__keysrc_get(&k->src, tenant, 0, err);
    kek = t ? sb__tkeys_kek(t, version) : NULL;
  }
  if (kek == NULL)
    sb_err_set(err, SB_ENOENT, "keys: tenant %s: KEK version %d is not in "
               "the key source (retired by a rotation, or the key file of "
               "another instance)", tenant, version);
  return kek;
}

static int parse_key_id(const char *key_id, char hash[SB_KEYS_SUBJECT_HASH + 1],
                        int *gen) {
  const char *dash = strchr(key_id, '-');
  long long g = 0;
  if (dash == NULL || dash - key_id != SB_KEYS_SUBJECT_HASH ||
      sb_parse_ll(dash + 1, &g) != 0 || g <= 0 || g > 2147483647)
    return -1;
  for (int i = 0; i < SB_KEYS_SUBJECT_HASH; i++)
    if (!((key_id[i] >= '0' && key_id[i] <= '9') ||
          (key_id[i] >= 'a' && key_id[i] <= 'f')))
      return -1;
  memcpy(hash, key_id, SB_KEYS_SUBJECT_HASH);
  hash[SB_KEYS_SUBJECT_HASH] = '\0';
  *gen = (int)g;
  return 0;
}

/* ---- sealing ---------------------------------------------------------------- */

typedef struct {
  char hash[SB_KEYS_SUBJECT_HASH + 1];
  int first; /* index of the first request of the same (tenant, hash) */
  int miss;  /* position among the misses sent, or -1 */
  unsigned char dek[SB_PII_KEY_LEN]; /* made here, for a miss */
} want_t;

/* An element of a PostgreSQL array literal: v is hex, digits or a tenant
 * id ([A-Za-z0-9._-]), nothing to escape. */
static void text_arr(sb_text_t *a, const char *v, int first) {
  if (!first)
    sb_text_put(a, ",", 1);
  sb_text_put(a, "\"", 1);
  sb_text_put(a, v, strlen(v));
  sb_text_put(a, "\"", 1);
}

static void hex_of(const unsigned char *b, size_t n, char *out) {
  static const char hex[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = hex[b[i] >> 4];
    out[2 * i + 1] = hex[b[i] & 15];
  }
  out[2 * n] = '\0';
}

/* Sends the misses: one call of sb.data_keys_take. */
static int take(sb_keys_t *k, sb_keys_seal_t *reqs, want_t *w, size_t n,
                size_t nmiss, sb_err_t *err) {
  sb_text_t at = {0}, as = {0}, ak = {0}, aw = {0};
  int rc = 0, m = 0;
  sb_pg_rows_t *rows = NULL;
  sb_text_add(&at, "{");
  sb_text_add(&as, "{");
  sb_text_add(&ak, "{");
  sb_text_add(&aw, "{");
  int *req_of = calloc(nmiss + 1, sizeof *req_of);
  if (req_of == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  for (size_t i = 0; i < n && rc == 0; i++) {
    if (w[i].miss < 0)
      continue;
    /* looked up again: a tenant made or a key file read since moves them */
    const sb__tkeys_t *t = sb__keysrc_get(&k->src, reqs[i].tenant, 1, err);
    if (t == NULL) {
      rc = err->code;
      break;
    }
    unsigned char wrapped[SB__WRAPPED_LEN];
    char hex[2 * SB__WRAPPED_LEN + 1];
    if (RAND_bytes(w[i].dek, SB_PII_KEY_LEN) != 1) {
      rc = sb_err_set(err, SB_ECRYPTO, "keys: no randomness");
      break;
    }
    if ((rc = sb__dek_wrap(t->kek[t->nkek - 1], t->tenant, w[i].hash,
                           w[i].dek, wrapped, err)) != 0)
      break;
    hex_of(wrapped, SB__WRAPPED_LEN, hex);
    char ver[16];
    snprintf(ver, sizeof ver, "%d", t->ver[t->nkek - 1]);
    text_arr(&at, t->tenant, m == 0);
    text_arr(&as, w[i].hash, m == 0);
    text_arr(&ak, ver, m == 0);
    text_arr(&aw, hex, m == 0);
    req_of[m++] = (int)i;
  }
  sb_text_add(&at, "}");
  sb_text_add(&as, "}");
  sb_text_add(&ak, "}");
  sb_text_add(&aw, "}");
  sb_pg_t *p = rc == 0 ? pg(k, err) : NULL;
  if (rc == 0 && p == NULL)
    rc = err->code;
  if (rc == 0 && (at.failed || as.failed || ak.failed || aw.failed))
    rc = sb_err_set(err, SB_ENOMEM, "out of memory");
  if (rc == 0) {
    const char *params[4] = {at.s, as.s, ak.s, aw.s};
    k->st.round_trips++;
    rc = sb_pg_rows(p,
                    "SELECT ix, gen, kek_version, wrapped "
                    "FROM sb.data_keys_take($1::text[], $2::text[], "
                    "$3::integer[], $4::text[])",
                    4, params, &rows, err);
    if (rc != 0)
      pg_failed(k, err);
  }
  for (int r = 0; rc == 0 && r < sb_pg_rows_count(rows); r++) {
    long long ix = -1, gen = 0, ver = 0;
    sb_parse_ll(sb_pg_rows_get(rows, r, 0), &ix);
    sb_parse_ll(sb_pg_rows_get(rows, r, 1), &gen);
    sb_parse_ll(sb_pg_rows_get(rows, r, 2), &ver);
    const char *wh = sb_pg_rows_get(rows, r, 3);
    if (ix < 0 || ix >= m) {
      rc = sb_err_set(err, SB_EINTERNAL, "keys: data_keys_take answered "
                                         "index %lld", ix);
      break;
    }
    size_t i = (size_t)req_of[ix];
    unsigned char wrapped[SB__WRAPPED_LEN], dek[SB_PII_KEY_LEN];
    if (wh == NULL || sb_bytea_unhex(wh, wrapped, sizeof wrapped) !=
                          SB__WRAPPED_LEN) {
      rc = sb_err_set(err, SB_EUNAVAIL, "keys: tenant %s: the subject's data "
                      "key was erased while it was being made; retry",
                      reqs[i].tenant);
      break;
    }
    const unsigned char *kek = kek_of(k, reqs[i].tenant, (int)ver, err);
    if (kek == NULL || sb__dek_unwrap(kek, reqs[i].tenant, w[i].hash,
                                      wrapped, dek, err) != 0) {
      rc = err->code;
      break;
    }
    char key_id[SB_PII_KEYID_MAX + 1], name[NAME_MAX_];
    snprintf(key_id, sizeof key_id, "%s-%lld", w[i].hash, gen);
    memcpy(reqs[i].dek, dek, SB_PII_KEY_LEN);
    snprintf(reqs[i].key_id, sizeof reqs[i].key_id, "%s", key_id);
    if (ent_name(name, 'S', reqs[i].tenant, reqs[i].subject) == 0)
      cache_put(k, name, dek, key_id, 0);
    if (ent_name(name, 'k', reqs[i].tenant, key_id) == 0)
      cache_put(k, name, dek, key_id, 0);
    sb_pii_wipe(dek, sizeof dek);
    w[i].miss = -2; /* answered */
  }
  for (int j = 0; rc == 0 && j < m; j++)
    if (w[req_of[j]].miss != -2)
      rc = sb_err_set(err, SB_EINTERNAL, "keys: data_keys_take left a "
                                         "subject unanswered");
  sb_pg_rows_free(rows);
  free(req_of);
  sb_text_free(&at);
  sb_text_free(&as);
  sb_text_free(&ak);
  sb_pii_wipe(aw.s, aw.len);
  sb_text_free(&aw);
  return rc;
}

int sb_keys_for_seal(sb_keys_t *k, sb_keys_seal_t *reqs, size_t n,
                     sb_err_t *err) {
  if (n == 0)
    return 0;
  want_t *w = calloc(n, sizeof *w);
  if (w == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  int rc = 0;
  size_t nmiss = 0;
  for (size_t i = 0; i < n && rc == 0; i++) {
    w[i].miss = -1;
    w[i].first = (int)i;
    /* the cache knows a subject by its id (memory only): no hash needed */
    char name[NAME_MAX_];
    ent_t *e = ent_name(name, 'S', reqs[i].tenant, reqs[i].subject) == 0
                   ? cache_get(k, name)
                   : NULL;
    if (e != NULL) {
      memcpy(reqs[i].dek, e->dek, SB_PII_KEY_LEN);
      memcpy(reqs[i].key_id, e->key_id, sizeof reqs[i].key_id);
      continue;
    }
    const sb__tkeys_t *t = sb__keysrc_get(&k->src, reqs[i].tenant, 1, err);
    if (t == NULL || subject_hash(t, reqs[i].subject, w[i].hash, err) != 0) {
      rc = err->code;
      break;
    }
    /* a subject asked for twice in the batch: once */
    for (size_t j = 0; j < i; j++)
      if (w[j].miss >= 0 && strcmp(w[j].hash, w[i].hash) == 0 &&
          strcmp(reqs[j].tenant, reqs[i].tenant) == 0) {
        w[i].first = (int)j;
        break;
      }
    if (w[i].first == (int)i)
      w[i].miss = (int)nmiss++;
  }
  /* a rotation raised the tenant's KEK version meanwhile: read the key
   * source again and wrap under the new one, once */
  for (int attempt = 0; rc == 0 && nmiss > 0 && attempt < 2; attempt++) {
    sb_err_t terr = SB_ERR_INIT;
    rc = take(k, reqs, w, n, nmiss, &terr);
    if (rc != 0 && attempt == 0 && sb_err_sqlstate_is(&terr, "SBK01")) {
      rc = sb__keysrc_reload(&k->src, reqs[0].tenant, err);
      continue;
    }
    if (rc != 0)
      sb_err_set(err, terr.code, "%s", terr.msg);
    break;
  }
  for (size_t i = 0; rc == 0 && i < n; i++)
    if (w[i].first != (int)i) {
      memcpy(reqs[i].dek, reqs[w[i].first].dek, SB_PII_KEY_LEN);
      memcpy(reqs[i].key_id, reqs[w[i].first].key_id, sizeof reqs[i].key_id);
    }
  if (rc != 0)
    for (size_t i = 0; i < n; i++)
      sb_pii_wipe(reqs[i].dek, SB_PII_KEY_LEN);
  sb_pii_wipe(w, n * sizeof *w);
  free(w);
  return rc;
}

/* ---- opening ------------------------------------------------------------------ */

int sb_keys_for_open(sb_keys_t *k, const char *tenant, const char *key_id,
                     unsigned char dek[SB_PII_KEY_LEN], sb_err_t *err) {
  char hash[SB_KEYS_SUBJECT_HASH + 1], name[NAME_MAX_];
  int gen = 0;
  if (parse_key_id(key_id, hash, &gen) != 0 ||
      ent_name(name, 'k', tenant, key_id) != 0)
    return sb_err_set(err, SB_EDECODE, "keys: '%.40s' is not a key id "
                      "(<16 hex digits>-<generation>)", key_id);
  ent_t *e = cache_get(k, name);
  if (e != NULL) {
    if (e->erased)
      return 1;
    memcpy(dek, e->dek, SB_PII_KEY_LEN);
    return 0;
  }
  sb_pg_t *p = pg(k, err);
  if (p == NULL)
    return err->code;
  char gs[16];
  snprintf(gs, sizeof gs, "%d", gen);
  const char *params[3] = {tenant, hash, gs};
  sb_pg_rows_t *rows = NULL;
  k->st.round_trips++;
  int rc = sb_pg_rows(p,
                      "SELECT kek_version, wrapped FROM sb.data_keys "
                      "WHERE tenant_id = $1 AND subject_hash = $2 AND gen = $3",
                      3, params, &rows, err);
  if (rc != 0) {
    pg_failed(k, err);
    return rc;
  }
  if (sb_pg_rows_count(rows) == 0) {
    sb_pg_rows_free(rows);
    return sb_err_set(err, SB_ENOENT, "keys: tenant %s has no data key %s",
                      tenant, key_id);
  }
  long long ver = 0;
  sb_parse_ll(sb_pg_rows_get(rows, 0, 0), &ver);
  const char *wh = sb_pg_rows_get(rows, 0, 1);
  unsigned char wrapped[SB__WRAPPED_LEN];
  if (wh == NULL) {
    sb_pg_rows_free(rows);
    cache_put(k, name, NULL, key_id, 1);
    return 1;
  }
  if (sb_bytea_unhex(wh, wrapped, sizeof wrapped) != SB__WRAPPED_LEN)
    rc = sb_err_set(err, SB_EDECODE, "keys: data key %s is not 60 bytes",
                    key_id);
  sb_pg_rows_free(rows);
  const unsigned char *kek = rc == 0 ? kek_of(k, tenant, (int)ver, err) : NULL;
  if (rc == 0 && kek == NULL)
    rc = err->code;
  if (rc == 0)
    rc = sb__dek_unwrap(kek, tenant, hash, wrapped, dek, err);
  if (rc == 0)
    cache_put(k, name, dek, key_id, 0);
  return rc;
}

/* ---- erasure and rotation ---------------------------------------------------- */

int sb_keys_erase(sb_keys_t *k, const char *tenant, const char *subject,
                  long *erased, sb_err_t *err) {
  char hash[SB_KEYS_SUBJECT_HASH + 1], out[32];
  if (erased)
    *erased = 0;
  if (sb_keys_subject_hash(k, tenant, subject, hash, err) != 0)
    return err->code;
  sb_pg_t *p = pg(k, err);
  if (p == NULL)
    return err->code;
  const char *params[2] = {tenant, hash};
  int found = 0;
  int rc = sb_pg_query1(p,
                        "WITH e AS (UPDATE sb.data_keys SET wrapped = NULL, "
                        "erased_at = now() WHERE tenant_id = $1 AND "
                        "subject_hash = $2 AND erased_at IS NULL RETURNING 1) "
                        "SELECT count(*) FROM e",
                        2, params, out, sizeof out, &found, NULL, err);
  if (rc != 0) {
    pg_failed(k, err);
    return rc;
  }
  long long n = 0;
  sb_parse_ll(out, &n);
  if (erased)
    *erased = (long)n;
  /* this process forgets the subject's keys at once */
  char prefix_s[NAME_MAX_], prefix_k[NAME_MAX_];
  if (ent_name(prefix_s, 'S', tenant, subject) != 0)
    prefix_s[0] = '\0'; /* never cached */
  ent_name(prefix_k, 'k', tenant, hash);
  size_t pk = strlen(prefix_k);
  for (ent_t *e = k->newest, *next; e; e = next) {
    next = e->next;
    if (strcmp(e->name, prefix_s) == 0 ||
        (strncmp(e->name, prefix_k, pk) == 0 && e->name[pk] == '-'))
      ent_drop(k, e);
  }
  return 0;
}

int sb_keys_rotate(sb_keys_t *k, const char *tenant, int *version,
                   long *rewrapped, sb_err_t *err) {
  int v = 0;
  long done = 0;
  sb_pg_rows_t *rows = NULL;
  sb_text_t as = {0}, ag = {0}, aw = {0};
  if (k->src.command)
    return sb_err_set(err, SB_EUSAGE, "keys: pii.key_command is set: rotate "
                      "the tenant's key in the key service");
  if (sb__keysrc_get(&k->src, tenant, 0, err) == NULL)
    return err->code;
  sb_pg_t *p = pg(k, err);
  if (p == NULL)
    return err->code;
  /* 1. the new version in the key file (the old ones still there) */
  int rc = sb__keysrc_add_version(&k->src, tenant, &v, err);
  if (rc != 0)
    return rc;
  char vs[16];
  snprintf(vs, sizeof vs, "%d", v);
  const char *p2[2] = {tenant, vs};
  /* 2. every data key re-wrapped, in one transaction that holds the
   * tenant's version row: ingest making keys meanwhile waits, then wraps
   * under the new version */
  rc = sb_pg_exec(p, "BEGIN", 0, NULL, err);
  if (rc == 0)
    rc = sb_pg_exec(p,
                    "INSERT INTO sb.kek_versions (tenant_id, version) "
                    "VALUES ($1, $2::integer) ON CONFLICT (tenant_id) DO "
                    "UPDATE SET version = greatest(sb.kek_versions.version, "
                    "EXCLUDED.version)",
                    2, p2, err);
  if (rc == 0)
    rc = sb_pg_rows(p,
                    "SELECT subject_hash, gen, kek_version, wrapped FROM "
                    "sb.data_keys WHERE tenant_id = $1 AND wrapped IS NOT "
                    "NULL ORDER BY subject_hash, gen FOR UPDATE",
                    1, p2, &rows, err);
  const sb__tkeys_t *t = rc == 0 ? sb__keysrc_get(&k->src, tenant, 0, err) : NULL;
  const unsigned char *nk = t ? sb__tkeys_kek(t, v) : NULL;
  if (rc == 0 && nk == NULL)
    rc = sb_err_set(err, SB_EINTERNAL, "keys: the new KEK did not read back");
  sb_text_add(&as, "{");
  sb_text_add(&ag, "{");
  sb_text_add(&aw, "{");
  for (int r = 0; rc == 0 && r < sb_pg_rows_count(rows); r++) {
    const char *hash = sb_pg_rows_get(rows, r, 0);
    long long ver = 0;
    sb_parse_ll(sb_pg_rows_get(rows, r, 2), &ver);
    unsigned char wrapped[SB__WRAPPED_LEN], dek[SB_PII_KEY_LEN];
    if (sb_bytea_unhex(sb_pg_rows_get(rows, r, 3), wrapped, sizeof wrapped) !=
        SB__WRAPPED_LEN) {
      rc = sb_err_set(err, SB_EDECODE, "keys: a data key is not 60 bytes");
      break;
    }
    const unsigned char *ok = sb__tkeys_kek(t, (int)ver);
    if (ok == NULL) {
      rc = sb_err_set(err, SB_ENOENT, "keys: tenant %s: data key %s-%s is "
                      "wrapped under KEK version %lld, which the key file no "
                      "longer holds", tenant, hash,
                      sb_pg_rows_get(rows, r, 1), ver);
      break;
    }
    if ((rc = sb__dek_unwrap(ok, tenant, hash, wrapped, dek, err)) != 0 ||
        (rc = sb__dek_wrap(nk, tenant, hash, dek, wrapped, err)) != 0) {
      sb_pii_wipe(dek, sizeof dek);
      break;
    }
    sb_pii_wipe(dek, sizeof dek);
    char hex[2 * SB__WRAPPED_LEN + 1];
    hex_of(wrapped, SB__WRAPPED_LEN, hex);
    text_arr(&as, hash, done == 0);
    text_arr(&ag, sb_pg_rows_get(rows, r, 1), done == 0);
    text_arr(&aw, hex, done == 0);
    done++;
  }
  sb_text_add(&as, "}");
  sb_text_add(&ag, "}");
  sb_text_add(&aw, "}");
  if (rc == 0 && (as.failed || ag.failed || aw.failed))
    rc = sb_err_set(err, SB_ENOMEM, "out of memory");
  if (rc == 0 && done > 0) {
    const char *p5[5] = {tenant, vs, as.s, ag.s, aw.s};
    rc = sb_pg_exec(p,
                    "UPDATE sb.data_keys d SET kek_version = $2::integer, "
                    "wrapped = decode(u.w, 'hex') FROM unnest($3::text[], "
                    "$4::integer[], $5::text[]) AS u(s, g, w) WHERE "
                    "d.tenant_id = $1 AND d.subject_hash = u.s AND d.gen = u.g",
                    5, p5, err);
  }
  if (rc == 0)
    rc = sb_pg_exec(p, "COMMIT", 0, NULL, err);
  else {
    pg_failed(k, err);
    if (k->pg)
      sb_pg_rollback(k->pg);
  }
  sb_pg_rows_free(rows);
  sb_text_free(&as);
  sb_text_free(&ag);
  sb_pii_wipe(aw.s, aw.len);
  sb_text_free(&aw);
  /* 3. the older versions leave the key file: what PostgreSQL (and its
   * backups) held wrapped under them no longer unwraps */
  if (rc == 0)
    rc = sb__keysrc_retire(&k->src, tenant, v, err);
  if (rc == 0) {
    if (version)
      *version = v;
    if (rewrapped)
      *rewrapped = done;
  }
  return rc;
}

int sb_keys_status(sb_keys_t *k, const char *tenant, sb_keys_status_t *out,
                   sb_err_t *err) {
  memset(out, 0, sizeof *out);
  if (sb__keysrc_reload(&k->src, tenant, err) != 0)
    return err->code;
  const sb__tkeys_t *t = sb__keysrc_get(&k->src, tenant, 0, err);
  if (t == NULL)
    return err->code;
  for (int i = t->nkek - 1; i >= 0 && out->nkek < 8; i--)
    out->kek_versions[out->nkek++] = t->ver[i];
  sb_pg_t *p = pg(k, err);
  if (p == NULL)
    return err->code;
  char vs[16];
  snprintf(vs, sizeof vs, "%d", t->ver[t->nkek - 1]);
  const char *params[2] = {tenant, vs};
  sb_pg_rows_t *rows = NULL;
  int rc = sb_pg_rows(p,
                      "SELECT count(*) FILTER (WHERE wrapped IS NOT NULL), "
                      "count(*) FILTER (WHERE erased_at IS NOT NULL), "
                      "count(*) FILTER (WHERE wrapped IS NOT NULL AND "
                      "kek_version <> $2::integer) FROM sb.data_keys WHERE "
                      "tenant_id = $1",
                      2, params, &rows, err);
  if (rc != 0) {
    pg_failed(k, err);
    return rc;
  }
  long long a = 0, b = 0, c = 0;
  sb_parse_ll(sb_pg_rows_get(rows, 0, 0), &a);
  sb_parse_ll(sb_pg_rows_get(rows, 0, 1), &b);
  sb_parse_ll(sb_pg_rows_get(rows, 0, 2), &c);
  out->live = (long)a;
  out->erased = (long)b;
  out->stale = (long)c;
  sb_pg_rows_free(rows);
  return 0;
}

int sb_keys_tenants(sb_keys_t *k, char ***out, sb_err_t *err) {
  *out = NULL;
  if (k->src.command)
    return sb_err_set(err, SB_EUSAGE, "keys: pii.key_command is set: the key "
                                      "service lists its tenants");
  if (sb__keysrc_reload(&k->src, "", err) != 0)
    return err->code;
  char **v = calloc(k->src.n + 1, sizeof *v);
  if (v == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  for (size_t i = 0; i < k->src.n; i++)
    if ((v[i] = strdup(k->src.t[i].tenant)) == NULL) {
      for (size_t j = 0; j < i; j++)
        free(v[j]);
      free(v);
      return sb_err_set(err, SB_ENOMEM, "out of memory");
    }
  *out = v;
  return 0;
}
