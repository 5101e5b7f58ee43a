/* The routing book's records as JSON (book_codec.h). */
#include "book_codec.h"

#include <stdlib.h>
#include <string.h>

/* ---- writing ------------------------------------------------------------- */

static int done(cJSON *o, int ok, char **out, size_t *len, sb_err_t *err) {
  char *t = ok ? cJSON_PrintUnformatted(o) : NULL;
  cJSON_Delete(o);
  if (t == NULL)
    return sb_err_set(err, SB_ENOMEM, "routing: out of memory");
  *out = t;
  *len = strlen(t);
  return 0;
}

static int add_i64(cJSON *o, const char *k, int64_t v) {
  /* whole numbers up to 2^53 are exact in a double; times and counts are */
  return v == 0 || cJSON_AddNumberToObject(o, k, (double)v) != NULL;
}

static int add_skills(cJSON *o, const char *k, const routing_named_skill_t *s,
                      int n) {
  if (n == 0)
    return 1;
  cJSON *m = cJSON_AddObjectToObject(o, k);
  int ok = m != NULL;
  for (int i = 0; ok && i < n; i++)
    ok = cJSON_AddNumberToObject(m, s[i].name, s[i].level) != NULL;
  return ok;
}

static int add_channels(cJSON *o, const char *k, const int *v) {
  cJSON *m = NULL;
  for (int c = 0; c < ROUTING_CH_N; c++) {
    if (v[c] == 0)
      continue;
    if (m == NULL && (m = cJSON_AddObjectToObject(o, k)) == NULL)
      return 0;
    if (cJSON_AddNumberToObject(m, routing_channel_name((routing_channel_t)c),
                                v[c]) == NULL)
      return 0;
  }
  return 1;
}

int routing_agent_encode(const routing_agent_rec_t *a, char **out, size_t *len,
                         sb_err_t *err) {
  cJSON *o = cJSON_CreateObject(), *qs = NULL;
  int ok = o != NULL && cJSON_AddStringToObject(o, "id", a->id) &&
           cJSON_AddStringToObject(o, "state", routing_state_name(a->state)) &&
           add_i64(o, "idle_since", a->idle_since_us) &&
           add_i64(o, "calls_today", a->calls_today) &&
           add_i64(o, "as_of", a->as_of_us) &&
           add_i64(o, "reserved_at", a->reserved_at_us) &&
           add_i64(o, "state_at", a->state_at_us) &&
           (a->call_at_us == 0 ||
            (cJSON_AddStringToObject(o, "call_state",
                                     routing_state_name(a->call_state)) &&
             add_i64(o, "call_at", a->call_at_us))) &&
           add_i64(o, "calls_day", a->calls_day) &&
           add_i64(o, "call_ended", a->call_ended) &&
           add_skills(o, "skills", a->skills, a->nskills) &&
           add_channels(o, "capacity", a->capacity) &&
           add_channels(o, "load", a->load) &&
           add_channels(o, "reserved", a->reserved);
  if (ok && a->nqueues > 0)
    ok = (qs = cJSON_AddArrayToObject(o, "queues")) != NULL;
  for (int i = 0; ok && i < a->nqueues; i++) {
    cJSON *s = cJSON_CreateString(a->queues[i]);
    ok = s != NULL && cJSON_AddItemToArray(qs, s);
  }
  return done(o, ok, out, len, err);
}

int routing_queue_encode(const routing_queue_rec_t *q, char **out, size_t *len,
                         sb_err_t *err) {
  cJSON *o = cJSON_CreateObject();
  int ok = o != NULL && cJSON_AddStringToObject(o, "id", q->id) &&
           cJSON_AddStringToObject(o, "strategy",
                                   routing_strategy_name(q->strategy)) &&
           add_i64(o, "relax_after", q->relax_after_us) &&
           add_i64(o, "priority", q->priority) &&
           add_i64(o, "max_waiting", q->max_waiting) &&
           add_i64(o, "service_level", q->service_level_s) &&
           add_skills(o, "required", q->required, q->nrequired) &&
           (q->rr_last[0] == '\0' ||
            cJSON_AddStringToObject(o, "rr_last", q->rr_last)) &&
           add_i64(o, "gated", q->gated) && add_i64(o, "paused", q->paused) &&
           (q->window[0] == '\0' ||
            cJSON_AddStringToObject(o, "window", q->window)) &&
           (q->zone[0] == '\0' || cJSON_AddStringToObject(o, "zone", q->zone));
  return done(o, ok, out, len, err);
}

int routing_lead_encode(const routing_lead_rec_t *l, char **out, size_t *len,
                        sb_err_t *err) {
  cJSON *o = cJSON_CreateObject();
  int ok = o != NULL && cJSON_AddStringToObject(o, "id", l->id) &&
           cJSON_AddStringToObject(o, "queue", l->queue) &&
           cJSON_AddStringToObject(o, "channel",
                                   routing_channel_name(l->channel)) &&
           add_i64(o, "units", l->units) && add_i64(o, "score", l->score) &&
           add_i64(o, "recycled", l->recycled) &&
           add_i64(o, "ready_at", l->ready_at_us) &&
           add_i64(o, "queued_said", l->queued_said) &&
           (l->zone[0] == '\0' || cJSON_AddStringToObject(o, "zone", l->zone)) &&
           add_i64(o, "tcpa", l->tcpa) &&
           add_skills(o, "required", l->required, l->nrequired) &&
           add_skills(o, "optional", l->optional, l->noptional);
  return done(o, ok, out, len, err);
}

/* ---- reading ------------------------------------------------------------- */

typedef struct {
  const char *what;
  sb_err_t *err;
} rd_t;

static int bad(rd_t *r, const char *field, const char *why) {
  return sb_err_set(r->err, SB_EDECODE, "routing: a saved %s record: %s %s",
                    r->what, field, why);
}

static int get_str(rd_t *r, const cJSON *o, const char *k, char *out,
                   size_t cap, int required) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  out[0] = '\0';
  if (v == NULL)
    return required ? bad(r, k, "is missing") : 0;
  if (!cJSON_IsString(v) || strlen(v->valuestring) >= cap)
    return bad(r, k, "is not a string of its size");
  memcpy(out, v->valuestring, strlen(v->valuestring) + 1);
  return 0;
}

static int get_i64(rd_t *r, const cJSON *o, const char *k, int64_t *out) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  *out = 0;
  if (v == NULL)
    return 0;
  if (!cJSON_IsNumber(v) || v->valuedouble != (double)(int64_t)v->valuedouble)
    return bad(r, k, "is not a whole number");
  *out = (int64_t)v->valuedouble;
  return 0;
}

static int get_int(rd_t *r, const cJSON *o, const char *k, int *out) {
  int64_t v;
  int rc = get_i64(r, o, k, &v);
  if (rc == 0 && (v < -2147483647 || v > 2147483647))
    return bad(r, k, "is out of range");
  *out = (int)v;
  return rc;
}

static int get_skills(rd_t *r, const cJSON *o, const char *k,
                      routing_named_skill_t *s, int *n) {
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, k), *e;
  *n = 0;
  if (m == NULL)
    return 0;
  if (!cJSON_IsObject(m))
    return bad(r, k, "is not an object");
  cJSON_ArrayForEach(e, m) {
    if (*n >= ROUTING_SKILLS_MAX || strlen(e->string) >= sizeof s->name ||
        !cJSON_IsNumber(e))
      return bad(r, k, "holds too many skills or a bad one");
    memcpy(s[*n].name, e->string, strlen(e->string) + 1);
    s[*n].level = (int)e->valuedouble;
    (*n)++;
  }
  return 0;
}

static int get_channels(rd_t *r, const cJSON *o, const char *k, int *v) {
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, k), *e;
  memset(v, 0, sizeof(int) * ROUTING_CH_N);
  if (m == NULL)
    return 0;
  if (!cJSON_IsObject(m))
    return bad(r, k, "is not an object");
  cJSON_ArrayForEach(e, m) {
    routing_channel_t c;
    if (routing_channel_parse(e->string, &c) != 0 || !cJSON_IsNumber(e))
      return bad(r, k, "names an unknown channel");
    v[c] = (int)e->valuedouble;
  }
  return 0;
}

static cJSON *parse(rd_t *r, const void *buf, size_t len) {
  cJSON *o = cJSON_ParseWithLength(buf, len);
  if (o == NULL || !cJSON_IsObject(o)) {
    cJSON_Delete(o);
    bad(r, "the text", "is not a JSON object");
    return NULL;
  }
  return o;
}

int routing_agent_decode(const void *buf, size_t len, routing_agent_rec_t *a,
                         sb_err_t *err) {
  rd_t r = {"agent", err};
  memset(a, 0, sizeof *a);
  cJSON *o = parse(&r, buf, len);
  if (o == NULL)
    return err->code;
  char state[16];
  int rc = get_str(&r, o, "id", a->id, sizeof a->id, 1);
  if (rc == 0 && (rc = get_str(&r, o, "state", state, sizeof state, 1)) == 0 &&
      routing_state_parse(state, &a->state) != 0)
    rc = bad(&r, "state", "is unknown");
  if (rc == 0)
    rc = get_i64(&r, o, "idle_since", &a->idle_since_us);
  if (rc == 0)
    rc = get_i64(&r, o, "calls_today", &a->calls_today);
  if (rc == 0)
    rc = get_i64(&r, o, "as_of", &a->as_of_us);
  if (rc == 0)
    rc = get_i64(&r, o, "reserved_at", &a->reserved_at_us);
  if (rc == 0)
    rc = get_i64(&r, o, "state_at", &a->state_at_us);
  if (rc == 0)
    rc = get_i64(&r, o, "call_at", &a->call_at_us);
  if (rc == 0)
    rc = get_i64(&r, o, "calls_day", &a->calls_day);
  if (rc == 0)
    rc = get_int(&r, o, "call_ended", &a->call_ended);
  char cst[16];
  if (rc == 0 && (rc = get_str(&r, o, "call_state", cst, sizeof cst, 0)) == 0 &&
      cst[0] && routing_state_parse(cst, &a->call_state) != 0)
    rc = bad(&r, "call_state", "is unknown");
  if (rc == 0)
    rc = get_skills(&r, o, "skills", a->skills, &a->nskills);
  if (rc == 0)
    rc = get_channels(&r, o, "capacity", a->capacity);
  if (rc == 0)
    rc = get_channels(&r, o, "load", a->load);
  if (rc == 0)
    rc = get_channels(&r, o, "reserved", a->reserved);
  const cJSON *qs = cJSON_GetObjectItemCaseSensitive(o, "queues"), *e;
  if (rc == 0 && qs != NULL && !cJSON_IsArray(qs))
    rc = bad(&r, "queues", "is not an array");
  if (rc == 0 && qs != NULL)
    cJSON_ArrayForEach(e, qs) {
      if (a->nqueues >= ROUTING_QUEUES_MAX || !cJSON_IsString(e) ||
          strlen(e->valuestring) >= sizeof a->queues[0]) {
        rc = bad(&r, "queues", "holds too many queues or a bad one");
        break;
      }
      memcpy(a->queues[a->nqueues++], e->valuestring,
             strlen(e->valuestring) + 1);
    }
  cJSON_Delete(o);
  return rc;
}

int routing_queue_decode(const void *buf, size_t len, routing_queue_rec_t *q,
                         sb_err_t *err) {
  rd_t r = {"queue", err};
  memset(q, 0, sizeof *q);
  cJSON *o = parse(&r, buf, len);
  if (o == NULL)
    return err->code;
  char s[32];
  int rc = get_str(&r, o, "id", q->id, sizeof q->id, 1);
  if (rc == 0 && (rc = get_str(&r, o, "strategy", s, sizeof s, 1)) == 0 &&
      routing_strategy_parse(s, &q->strategy, NULL) != 0)
    rc = bad(&r, "strategy", "is unknown");
  if (rc == 0)
    rc = get_i64(&r, o, "relax_after", &q->relax_after_us);
  if (rc == 0)
    rc = get_int(&r, o, "priority", &q->priority);
  if (rc == 0)
    rc = get_int(&r, o, "max_waiting", &q->max_waiting);
  if (rc == 0)
    rc = get_int(&r, o, "service_level", &q->service_level_s);
  if (rc == 0)
    rc = get_skills(&r, o, "required", q->required, &q->nrequired);
  if (rc == 0)
    rc = get_str(&r, o, "rr_last", q->rr_last, sizeof q->rr_last, 0);
  if (rc == 0)
    rc = get_int(&r, o, "gated", &q->gated);
  if (rc == 0)
    rc = get_int(&r, o, "paused", &q->paused);
  if (rc == 0)
    rc = get_str(&r, o, "window", q->window, sizeof q->window, 0);
  if (rc == 0)
    rc = get_str(&r, o, "zone", q->zone, sizeof q->zone, 0);
  cJSON_Delete(o);
  return rc;
}

int routing_lead_decode(const void *buf, size_t len, routing_lead_rec_t *l,
                        sb_err_t *err) {
  rd_t r = {"lead", err};
  memset(l, 0, sizeof *l);
  cJSON *o = parse(&r, buf, len);
  if (o == NULL)
    return err->code;
  char ch[16];
  int rc = get_str(&r, o, "id", l->id, sizeof l->id, 1);
  if (rc == 0)
    rc = get_str(&r, o, "queue", l->queue, sizeof l->queue, 1);
  if (rc == 0 && (rc = get_str(&r, o, "channel", ch, sizeof ch, 1)) == 0 &&
      routing_channel_parse(ch, &l->channel) != 0)
    rc = bad(&r, "channel", "is unknown");
  if (rc == 0)
    rc = get_int(&r, o, "units", &l->units);
  if (rc == 0)
    rc = get_i64(&r, o, "score", &l->score);
  if (rc == 0)
    rc = get_int(&r, o, "recycled", &l->recycled);
  if (rc == 0)
    rc = get_i64(&r, o, "ready_at", &l->ready_at_us);
  if (rc == 0)
    rc = get_int(&r, o, "queued_said", &l->queued_said);
  if (rc == 0)
    rc = get_str(&r, o, "zone", l->zone, sizeof l->zone, 0);
  if (rc == 0)
    rc = get_int(&r, o, "tcpa", &l->tcpa);
  if (rc == 0)
    rc = get_skills(&r, o, "required", l->required, &l->nrequired);
  if (rc == 0)
    rc = get_skills(&r, o, "optional", l->optional, &l->noptional);
  cJSON_Delete(o);
  return rc;
}
