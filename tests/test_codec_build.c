/* Typed emit: a record built from typed values is the record
 * sb_codec_from_ce makes of the same event (bytes and key), for every event
 * type; and the builder refuses what the converter refuses, naming the
 * field. */
#include "sb_codec.h"
#include "sb_schema.h"
#include "sb_test.h"
#include "sb_tests.h"
#include "sb_time.h"
#include "sb_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

cJSON *sbt_gen_event(const sb_evtype_t *t, int full, unsigned seed);

static int is_envelope(const char *name) {
  static const char *const env[] = {"tenant_id",      "event_id",
                                    "occurred_at",    "source",
                                    "correlation_id", "causation_id",
                                    "actor"};
  for (size_t i = 0; i < SB_ARRAY_LEN(env); i++)
    if (strcmp(env[i], name) == 0)
      return 1;
  return 0;
}

/* Copies field path of ev into b through a handle, by its kind. */
static int copy_field(const sb_schemas_t *s, const sb_event_t *ev,
                      sb_build_t *b, const char *path, sb_err_t *err) {
  sb_field_t f;
  if (sb_codec_field(s, sb_evtype_name(ev->type), path, &f, err) != 0)
    return err->code;
  if (!sb_event_has(ev, f))
    return 0; /* optional and null: left unset */
  switch (f.kind) {
  case SB_FIELD_STR:
    return sb_build_str(b, f, sb_event_str(ev, f));
  case SB_FIELD_LONG:
  case SB_FIELD_INT:
  case SB_FIELD_TIMESTAMP:
    return sb_build_i64(b, f, sb_event_i64(ev, f));
  case SB_FIELD_DOUBLE:
  case SB_FIELD_FLOAT:
    return sb_build_double(b, f, sb_event_double(ev, f));
  case SB_FIELD_BOOL:
    return sb_build_bool(b, f, sb_event_bool(ev, f));
  case SB_FIELD_ENUM:
    return sb_build_enum(b, f, sb_event_enum_name(ev, f));
  case SB_FIELD_STR_ARRAY: {
    size_t n = sb_event_count(ev, f);
    const char **items = calloc(n ? n : 1, sizeof *items);
    if (items == NULL)
      return sb_err_set(err, SB_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
      items[i] = sb_event_str_at(ev, f, i);
    int rc = sb_build_strs(b, f, items, n);
    free(items);
    return rc;
  }
  default:
    return sb_err_set(err, SB_EINTERNAL, "%s: kind %d", path, f.kind);
  }
}

/* The record of ev rebuilt through handles and the builder. */
static int rebuild(const sb_schemas_t *s, sb_codec_t *c, const sb_event_t *ev,
                   sb_record_t *out, sb_err_t *err) {
  cJSON *schema = cJSON_Parse(sb_evtype_json(ev->type));
  sb_etype_ref_t t;
  int rc = sb_codec_type(s, sb_evtype_name(ev->type), &t, err);
  sb_build_t *b = sb_codec_build_begin(c, t);
  const cJSON *f;
  cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(schema, "fields")) {
    const char *name = cJSON_GetObjectItemCaseSensitive(f, "name")->valuestring;
    if (rc != 0 || is_envelope(name))
      continue;
    /* a nested record ([null, {record}] or {record}): field by field */
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(f, "type"), *rec = NULL;
    if (cJSON_IsArray(type)) {
      const cJSON *br;
      cJSON_ArrayForEach(br, type) if (cJSON_IsObject(br)) type = br;
    }
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(type, "type");
    if (cJSON_IsString(kind) && strcmp(kind->valuestring, "record") == 0)
      rec = type;
    if (rec == NULL) {
      rc = copy_field(s, ev, b, name, err);
      continue;
    }
    const cJSON *sf;
    cJSON_ArrayForEach(sf, cJSON_GetObjectItemCaseSensitive(rec, "fields")) {
      char path[256];
      snprintf(path, sizeof path, "%s.%s", name,
               cJSON_GetObjectItemCaseSensitive(sf, "name")->valuestring);
      if (rc == 0)
        rc = copy_field(s, ev, b, path, err);
    }
  }
  cJSON_Delete(schema);
  sb_actor_t actor = {sb_event_str_path(ev, "actor.user_id"),
                      sb_event_str_path(ev, "actor.role"),
                      sb_event_str_path(ev, "actor.ip"),
                      sb_event_str_path(ev, "actor.user_agent")};
  sb_envelope_t env = {
      .event_id = ev->event_id,
      .tenant_id = ev->tenant_id,
      .source = sb_event_str_path(ev, "source"),
      .occurred_at = ev->occurred_at,
      .correlation_id = sb_event_str_path(ev, "correlation_id"),
      .causation_id = sb_event_str_path(ev, "causation_id"),
      .actor = actor.user_id ? &actor : NULL,
  };
  int brc = sb_codec_build_end(b, &env, out, err); /* ends it either way */
  return rc != 0 ? rc : brc;
}

int test_codec_build_equivalence(void) {
  sb_err_t err = SB_ERR_INIT;
  sb_schemas_t *s = NULL;
  sb_codec_t *c = NULL, *bc = NULL;
  CHECK_OK(sb_schemas_load(&s, &err), &err);
  CHECK_OK(sb_codec_new(s, &c, &err), &err);
  CHECK_OK(sb_codec_new(s, &bc, &err), &err);
  size_t types = 0, events = 0;
  int failed = 0;
  for (size_t i = 0; i < sb_schemas_count(s); i++) {
    const sb_evtype_t *t = sb_schemas_at(s, i);
    if (sb_schemas_by_type(s, sb_evtype_name(t)) != t)
      continue; /* superseded: only read */
    types++;
    for (unsigned v = 0; v < 4; v++) {
      cJSON *ce = sbt_gen_event(t, v % 2 == 0, (unsigned)i * 131 + v);
      sb_record_t want, got;
      sb_event_t ev;
      err = (sb_err_t)SB_ERR_INIT;
      if (ce == NULL || sb_codec_from_ce(c, ce, 0, &want, &err) != 0) {
        fprintf(stderr, "%s: no event to start from: %s\n", sb_evtype_name(t),
                err.msg);
        failed++;
        cJSON_Delete(ce);
        continue;
      }
      cJSON_Delete(ce);
      /* alternate: build on the decoding codec (its decoded event must
       * survive the build) and on another codec */
      sb_codec_t *on = v < 2 ? c : bc;
      if (sb_codec_decode(c, want.value, want.value_len, &ev, &err) != 0 ||
          rebuild(s, on, &ev, &got, &err) != 0) {
        fprintf(stderr, "%s (%u): %s\n", sb_evtype_name(t), v, err.msg);
        failed++;
      } else {
        if (got.value_len != want.value_len ||
            memcmp(got.value, want.value, want.value_len) != 0 ||
            got.key_len != want.key_len || strcmp(got.key, want.key) != 0 ||
            strcmp(got.event_id, want.event_id) != 0 || got.type != want.type ||
            got.occurred_at != want.occurred_at) {
          fprintf(stderr, "%s (%u): built record differs (%zu vs %zu bytes)\n",
                  sb_evtype_name(t), v, got.value_len, want.value_len);
          failed++;
        }
        /* the event decoded before the build reads the same */
        if (strcmp(ev.event_id, want.event_id) != 0) {
          fprintf(stderr, "%s (%u): build clobbered the decoded event\n",
                  sb_evtype_name(t), v);
          failed++;
        }
        sb_record_clear(&got);
      }
      sb_record_clear(&want);
      events++;
    }
  }
  sb_codec_stats_t st;
  sb_codec_stats(bc, &st);
  CHECK_INT(st.encoded, types * 2);
  printf("codec_build_equivalence: %zu types, %zu events, %d failed\n", types,
         events, failed);
  sb_codec_free(c);
  sb_codec_free(bc);
  sb_schemas_free(s);
  CHECK_INT(failed, 0);
  CHECK(types >= 50);
  return 0;
}

/* ---- refusals --------------------------------------------------------- */

typedef struct {
  sb_codec_t *c;
  sb_etype_ref_t t, t_lead;
  /* lead.assigned: lead_id, agent_id and strategy required */
  sb_field_t lead_id, agent, strategy, reason, skills, candidates, expires;
  /* lead.created: every data field optional */
  sb_field_t l_lead_id, first, tags, line1;
  sb_actor_t actor;
  sb_envelope_t env;
} fx_t;

static int fx_init(fx_t *x, const sb_schemas_t *s, sb_codec_t *c,
                   sb_err_t *err) {
  memset(x, 0, sizeof *x);
  x->c = c;
  int rc = sb_codec_type(s, "lead.assigned", &x->t, err);
  if (rc == 0)
    rc = sb_codec_type(s, "lead.created", &x->t_lead, err);
  struct {
    sb_field_t *f;
    const char *type, *path;
  } want[] = {{&x->lead_id, "lead.assigned", "lead_id"},
              {&x->agent, "lead.assigned", "agent_id"},
              {&x->strategy, "lead.assigned", "strategy"},
              {&x->reason, "lead.assigned", "reason"},
              {&x->skills, "lead.assigned", "required_skills"},
              {&x->candidates, "lead.assigned", "candidates_count"},
              {&x->expires, "lead.assigned", "expires_at"},
              {&x->l_lead_id, "lead.created", "lead_id"},
              {&x->first, "lead.created", "first_name"},
              {&x->tags, "lead.created", "tags"},
              {&x->line1, "lead.created", "address.line1"}};
  for (size_t i = 0; rc == 0 && i < SB_ARRAY_LEN(want); i++)
    rc = sb_codec_field(s, want[i].type, want[i].path, want[i].f, err);
  x->actor = (sb_actor_t){.user_id = "u-1", .role = "admin"};
  x->env = (sb_envelope_t){.event_id = "01JDQ7ZV3K8YQ2W5N6P7R8S9T0",
                           .tenant_id = "acme",
                           .source = "test",
                           .occurred_at = 1764007200000000LL,
                           .actor = &x->actor};
  return rc;
}

/* A valid lead.assigned, built; the caller may spoil it before end. */
static sb_build_t *fx_begin(fx_t *x) {
  sb_build_t *b = sb_codec_build_begin(x->c, x->t);
  sb_build_str(b, x->lead_id, "L-1");
  sb_build_str(b, x->agent, "A-1");
  sb_build_enum(b, x->strategy, "longest_wait_time");
  return b;
}

/* A valid lead.created. */
static sb_build_t *fx_lead(fx_t *x) {
  sb_build_t *b = sb_codec_build_begin(x->c, x->t_lead);
  sb_build_str(b, x->l_lead_id, "L-1");
  return b;
}

static int expect_refused(fx_t *x, sb_build_t *b, const char *want, int line) {
  sb_err_t err = SB_ERR_INIT;
  sb_record_t r;
  int rc = sb_codec_build_end(b, &x->env, &r, &err);
  if (rc == 0 || strstr(err.msg, want) == NULL || r.value != NULL ||
      r.key != NULL) {
    fprintf(stderr, "line %d: wanted a refusal with \"%s\", got %d \"%s\"\n",
            line, want, rc, err.msg);
    sb_record_clear(&r);
    return 1;
  }
  return 0;
}
#define REFUSED(x, b, want)                                                   \
  do {                                                                        \
    if (expect_refused(x, b, want, __LINE__) != 0)                            \
      return 1;                                                               \
  } while (0)

int test_codec_build_errors(void) {
  sb_err_t err = SB_ERR_INIT;
  sb_schemas_t *s = NULL;
  sb_codec_t *c = NULL;
  CHECK_OK(sb_schemas_load(&s, &err), &err);
  CHECK_OK(sb_codec_new(s, &c, &err), &err);
  fx_t x;
  CHECK_OK(fx_init(&x, s, c, &err), &err);

  /* the fixtures build */
  sb_record_t r;
  CHECK_OK(sb_codec_build_end(fx_begin(&x), &x.env, &r, &err), &err);
  CHECK_STR(r.key, "acme:L-1");
  CHECK_STR(r.event_id, x.env.event_id);
  sb_event_t ev;
  CHECK_OK(sb_codec_decode(c, r.value, r.value_len, &ev, &err), &err);
  CHECK_STR(sb_event_enum_name(&ev, x.strategy), "longest_wait_time");
  CHECK_STR(sb_event_str(&ev, x.agent), "A-1");
  CHECK(!sb_event_has(&ev, x.reason));
  CHECK_STR(sb_event_str_path(&ev, "actor.role"), "admin");
  sb_record_clear(&r);
  CHECK_OK(sb_codec_build_end(fx_lead(&x), &x.env, &r, &err), &err);
  sb_record_clear(&r);
  /* no event id: a new one */
  sb_envelope_t env = x.env;
  env.event_id = NULL;
  CHECK_OK(sb_codec_build_end(fx_begin(&x), &env, &r, &err), &err);
  CHECK_INT(strlen(r.event_id), 26);
  sb_record_clear(&r);

  /* required fields */
  sb_build_t *b = sb_codec_build_begin(c, x.t);
  sb_build_str(b, x.lead_id, "L-1");
  sb_build_enum(b, x.strategy, "longest_wait_time");
  REFUSED(&x, b, "lead.assigned: agent_id: missing required field");
  b = sb_codec_build_begin(c, x.t);
  sb_build_str(b, x.lead_id, "L-1");
  sb_build_str(b, x.agent, "A-1");
  REFUSED(&x, b, "lead.assigned: strategy: missing required field");
  b = sb_codec_build_begin(c, x.t);
  sb_build_str(b, x.agent, "A-1");
  sb_build_enum(b, x.strategy, "longest_wait_time");
  REFUSED(&x, b, "lead.assigned: lead_id: missing required field");
  b = fx_begin(&x);
  sb_build_str(b, x.lead_id, "");
  REFUSED(&x, b, "lead_id: must not be empty");
  b = fx_begin(&x);
  CHECK_INT(sb_build_null(b, x.agent), SB_EVALIDATE);
  REFUSED(&x, b, "lead.assigned: agent_id: must not be null");
  b = fx_begin(&x);
  sb_build_str(b, x.agent, NULL); /* NULL is null */
  REFUSED(&x, b, "lead.assigned: agent_id: must not be null");
  /* optional fields: null, or set and then null again */
  b = fx_begin(&x);
  CHECK_INT(sb_build_str(b, x.reason, "r"), 0);
  CHECK_INT(sb_build_null(b, x.reason), 0);
  CHECK_OK(sb_codec_build_end(b, &x.env, &r, &err), &err);
  CHECK_OK(sb_codec_decode(c, r.value, r.value_len, &ev, &err), &err);
  CHECK(!sb_event_has(&ev, x.reason));
  sb_record_clear(&r);

  /* strings: length (code points), UTF-8 */
  char longname[300];
  memset(longname, 'a', sizeof longname - 1);
  longname[sizeof longname - 1] = '\0';
  b = fx_lead(&x);
  CHECK_INT(sb_build_str(b, x.first, longname), SB_EVALIDATE);
  REFUSED(&x, b, "lead.created: first_name: longer than 256 characters (299)");
  b = fx_lead(&x);
  sb_build_str(b, x.first, "bad \xC3\x28 utf8");
  REFUSED(&x, b, "lead.created: first_name: not valid UTF-8");
  /* 256 code points of two bytes each: within the limit */
  char wide[513];
  for (int i = 0; i < 256; i++)
    memcpy(wide + 2 * i, "\xC3\xA9", 2);
  wide[512] = '\0';
  b = fx_lead(&x);
  CHECK_INT(sb_build_str(b, x.first, wide), 0);
  CHECK_OK(sb_codec_build_end(b, &x.env, &r, &err), &err);
  sb_record_clear(&r);
  /* the same reason as the converter gives, word for word */
  cJSON *ce = cJSON_Parse(
      "{\"specversion\":\"1.0\",\"id\":\"01JDQ7ZV3K8YQ2W5N6P7R8S9T0\",\"type\":"
      "\"lead.assigned\",\"source\":\"test\",\"subject\":\"L-1\",\"time\":"
      "\"2025-11-24T18:00:00Z\",\"tenantid\":\"acme\",\"data\":{\"agent_id\":"
      "\"A-1\",\"strategy\":\"wonn\"}}");
  sb_err_t ce_err = SB_ERR_INIT;
  CHECK(sb_codec_from_ce(c, ce, 0, &r, &ce_err) == SB_EVALIDATE);
  cJSON_Delete(ce);
  CHECK_HAS(ce_err.msg, "data.strategy: 'wonn' is not one of ");
  b = fx_begin(&x);
  CHECK_INT(sb_build_enum(b, x.strategy, "wonn"), SB_EVALIDATE);
  {
    sb_err_t e = SB_ERR_INIT;
    CHECK(sb_codec_build_end(b, &x.env, &r, &e) == SB_EVALIDATE);
    CHECK_HAS(e.msg, "lead.assigned: strategy: 'wonn' is not one of ");
    CHECK_STR(strstr(e.msg, "'wonn'"), strstr(ce_err.msg, "'wonn'"));
  }
  /* arrays: item count, item length, null items */
  const char *many[33];
  for (size_t i = 0; i < SB_ARRAY_LEN(many); i++)
    many[i] = "t";
  b = fx_lead(&x);
  CHECK_INT(sb_build_strs(b, x.tags, many, 32), 0);
  CHECK_OK(sb_codec_build_end(b, &x.env, &r, &err), &err);
  CHECK_OK(sb_codec_decode(c, r.value, r.value_len, &ev, &err), &err);
  CHECK_INT(sb_event_count(&ev, x.tags), 32);
  sb_record_clear(&r);
  b = fx_lead(&x);
  sb_build_strs(b, x.tags, many, 33);
  REFUSED(&x, b, "lead.created: tags: more than 32 items (33)");
  const char *one_long[] = {"ok", longname};
  b = fx_lead(&x);
  sb_build_strs(b, x.tags, one_long, 2);
  REFUSED(&x, b, "lead.created: tags[1]: longer than 128 characters");
  const char *with_null[] = {"ok", NULL};
  b = fx_lead(&x);
  sb_build_strs(b, x.tags, with_null, 2);
  REFUSED(&x, b, "lead.created: tags[1]: expected a string, got null");
  /* numbers */
  b = fx_begin(&x);
  CHECK_INT(sb_build_i64(b, x.candidates, 1LL << 40), SB_EVALIDATE);
  REFUSED(&x, b, "candidates_count: 1099511627776 is out of range "
                 "[-2147483648, 2147483647]");
  b = fx_begin(&x);
  CHECK_INT(sb_build_i64(b, x.expires, INT64_MAX), SB_EVALIDATE);
  REFUSED(&x, b, "expires_at: 9223372036854775807 is not a time between "
                 "years 1 and 9999");
  sb_field_t idle, score;
  CHECK_OK(sb_codec_field(s, "lead.assigned", "agent_idle_ms", &idle, &err),
           &err);
  b = fx_begin(&x);
  CHECK_INT(sb_build_i64(b, idle, 9007199254740992LL), SB_EVALIDATE);
  REFUSED(&x, b, "agent_idle_ms: 9007199254740992 is out of range "
                 "[-9007199254740991, 9007199254740991]");
  CHECK_OK(sb_codec_field(s, "lead.scored", "score", &score, &err), &err);
  CHECK_INT(score.kind, SB_FIELD_DOUBLE);
  sb_etype_ref_t t_scored = {score.type};
  b = sb_codec_build_begin(c, t_scored);
  CHECK_INT(sb_build_double(b, score, NAN), SB_EVALIDATE);
  REFUSED(&x, b, "lead.scored: score: nan is not a finite number");
  /* the time limits are sb_time_parse's: years 1 and 9999 both build */
  int64_t lo, hi;
  char why[160];
  CHECK(sb_time_parse("0001-01-01T00:00:00Z", &lo, why, sizeof why) == 0);
  CHECK(sb_time_parse("9999-12-31T23:59:59.999999Z", &hi, why, sizeof why) == 0);
  int64_t edges[] = {lo, hi};
  for (size_t i = 0; i < 2; i++) {
    b = fx_begin(&x);
    CHECK_INT(sb_build_i64(b, x.expires, edges[i]), 0);
    CHECK_OK(sb_codec_build_end(b, &x.env, &r, &err), &err);
    sb_record_clear(&r);
    b = fx_begin(&x);
    CHECK_INT(sb_build_i64(b, x.expires, edges[i] + (i ? 1 : -1)),
              SB_EVALIDATE);
    REFUSED(&x, b, "is not a time between years 1 and 9999");
  }
  /* the envelope's time is checked the same way */
  b = fx_begin(&x);
  env = x.env;
  env.occurred_at = INT64_MIN;
  {
    sb_err_t e = SB_ERR_INIT;
    CHECK(sb_codec_build_end(b, &env, &r, &e) == SB_EVALIDATE);
    CHECK_HAS(e.msg, "occurred_at: ");
  }

  /* handles: of another type, never resolved, of an envelope field, of the
   * wrong kind */
  sb_field_t call_id;
  CHECK_OK(sb_codec_field(s, "call.started", "call_id", &call_id, &err), &err);
  b = fx_begin(&x);
  CHECK_INT(sb_build_str(b, call_id, "C-1"), SB_EVALIDATE);
  REFUSED(&x, b, "a handle of call.started, not of this type");
  b = fx_begin(&x);
  sb_build_str(b, (sb_field_t){0}, "x");
  REFUSED(&x, b, "a field handle never resolved");
  sb_field_t tenant;
  CHECK_OK(sb_codec_field(s, "lead.assigned", "tenant_id", &tenant, &err),
           &err);
  b = fx_begin(&x);
  sb_build_str(b, tenant, "other");
  REFUSED(&x, b, "tenant_id: set through the envelope");
  b = fx_begin(&x);
  sb_build_i64(b, x.agent, 3);
  REFUSED(&x, b, "lead.assigned: agent_id: not a field of that kind");
  b = fx_begin(&x);
  sb_build_str(b, x.strategy, "longest_wait_time");
  REFUSED(&x, b, "lead.assigned: strategy: not a field of that kind");

  /* the envelope */
  b = fx_begin(&x);
  env = x.env;
  env.tenant_id = "bad tenant!";
  {
    sb_err_t e = SB_ERR_INIT;
    CHECK(sb_codec_build_end(b, &env, &r, &e) == SB_EVALIDATE);
    CHECK_HAS(e.msg, "tenant_id: must be 1 to 64 of");
  }
  b = fx_begin(&x);
  env = x.env;
  env.tenant_id = NULL;
  {
    sb_err_t e = SB_ERR_INIT;
    CHECK(sb_codec_build_end(b, &env, &r, &e) == SB_EVALIDATE);
    CHECK_HAS(e.msg, "lead.assigned: tenant_id: missing required field");
  }
  b = fx_begin(&x);
  env = x.env;
  env.event_id = "not-a-ulid";
  {
    sb_err_t e = SB_ERR_INIT;
    CHECK(sb_codec_build_end(b, &env, &r, &e) == SB_EVALIDATE);
    CHECK_HAS(e.msg, "event_id: 'not-a-ulid' is not a ULID");
  }
  b = fx_begin(&x);
  env = x.env;
  env.source = NULL;
  {
    sb_err_t e = SB_ERR_INIT;
    CHECK(sb_codec_build_end(b, &env, &r, &e) == SB_EVALIDATE);
    CHECK_HAS(e.msg, "lead.assigned: source: missing required field");
  }
  b = fx_begin(&x);
  sb_actor_t actor = {.user_id = NULL, .role = "admin"};
  env = x.env;
  env.actor = &actor;
  {
    sb_err_t e = SB_ERR_INIT;
    CHECK(sb_codec_build_end(b, &env, &r, &e) == SB_EVALIDATE);
    CHECK_HAS(e.msg, "actor.user_id: missing required field");
  }
  b = fx_begin(&x);
  actor = (sb_actor_t){.user_id = "u", .role = longname};
  {
    sb_err_t e = SB_ERR_INIT;
    CHECK(sb_codec_build_end(b, &env, &r, &e) == SB_EVALIDATE);
    CHECK_HAS(e.msg, "actor.role: longer than ");
  }

  b = fx_begin(&x);
  {
    sb_err_t e = SB_ERR_INIT;
    CHECK_INT(sb_codec_build_end(b, NULL, &r, &e), SB_EINVAL);
    CHECK_HAS(e.msg, "lead.assigned: no envelope");
  }

  /* the first error wins; the build is over after end */
  b = fx_begin(&x);
  sb_build_enum(b, x.strategy, "first");
  sb_build_str(b, x.agent, longname);
  REFUSED(&x, b, "'first' is not one of");
  REFUSED(&x, b, "build: none under way");
  /* a type of other schemas than the codec's */
  sb_schemas_t *s2 = NULL;
  CHECK_OK(sb_schemas_load(&s2, &err), &err);
  sb_etype_ref_t t2;
  CHECK_OK(sb_codec_type(s2, "lead.assigned", &t2, &err), &err);
  REFUSED(&x, sb_codec_build_begin(c, t2), "resolved against other schemas");
  REFUSED(&x, sb_codec_build_begin(c, (sb_etype_ref_t){0}), "no event type");
  sb_schemas_free(s2);
  /* and the codec still builds */
  CHECK_OK(sb_codec_build_end(fx_begin(&x), &x.env, &r, &err), &err);
  sb_record_clear(&r);

  /* sb.oneOf and sb.minimum / sb.maximum (retention.policy_set) */
  sb_etype_ref_t pol;
  sb_field_t cls, days;
  CHECK_OK(sb_codec_type(s, "retention.policy_set", &pol, &err), &err);
  CHECK_OK(sb_codec_field(s, "retention.policy_set", "class", &cls, &err),
           &err);
  CHECK_OK(sb_codec_field(s, "retention.policy_set", "days", &days, &err),
           &err);
  b = sb_codec_build_begin(c, pol);
  sb_build_str(b, cls, "calls");
  REFUSED(&x, b, "class: 'calls' is not one of lead, call, agent");
  b = sb_codec_build_begin(c, pol);
  sb_build_str(b, cls, "call");
  CHECK_INT(sb_build_i64(b, days, -1), SB_EVALIDATE);
  REFUSED(&x, b, "days: -1 is out of range [0, 36500]");
  b = sb_codec_build_begin(c, pol);
  sb_build_str(b, cls, "call");
  sb_build_i64(b, days, 36501);
  REFUSED(&x, b, "days: 36501 is out of range [0, 36500]");
  b = sb_codec_build_begin(c, pol);
  sb_build_str(b, cls, "subject");
  sb_build_i64(b, days, 36500);
  CHECK_OK(sb_codec_build_end(b, &x.env, &r, &err), &err);
  CHECK_STR(r.key, "acme:subject");
  sb_record_clear(&r);

  sb_codec_free(c);
  sb_schemas_free(s);
  return 0;
}
