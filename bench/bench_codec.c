/* sb_bench_codec: what a processor pays per event in the codec, in ns per
 * event on this machine, for the generator's events (the default mix):
 *
 *   decode                  sb_codec_decode alone
 *   emit via JSON           decode, sb_codec_to_ce + sb_codec_from_ce (the
 *                           event as cJSON, converted)
 *   emit typed              decode, sb_codec_build_*: every field set by
 *                           handle from the decoded event
 *   string reads by name    every string field of a decoded event read by
 *                           path (sb_event_str_path: a lookup per level)
 *   string reads by handle  the same fields read by handle (sb_event_str)
 *
 * Each figure is the best of --rounds passes over the same --events
 * records. It also checks that both reads agree and that both emits give
 * the same bytes, and fails (exit 1) when they do not.
 *
 *   sb_bench_codec [--events N] [--rounds R] [--seed S] */
#include "sb_codec.h"
#include "sb_gen.h"
#include "sb_schema.h"
#include "sb_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_IDS 1024 /* schema ids are small: a table by id */
#define MAX_FIELDS 64
#define READS_K 32 /* reads of each event's fields per timing */

typedef struct {
  size_t n;
  sb_field_t f[MAX_FIELDS];
  char path[MAX_FIELDS][96];
  int envelope[MAX_FIELDS]; /* set through sb_envelope_t, not by handle */
  /* the envelope's optional parts, read by handle too */
  sb_field_t source, corr, caus, uid, role, ip, ua;
} fields_t;

/* Everything counts this process's CPU time: the machine is shared, and
 * wall time would count other work. The reads are timed per event (a
 * clock read costs about the same for both kinds), interleaved so both see
 * the same caches. */
static double cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}


static int is_envelope(const char *p) {
  return strcmp(p, "tenant_id") == 0 || strcmp(p, "event_id") == 0 ||
         strcmp(p, "occurred_at") == 0 || strcmp(p, "source") == 0 ||
         strcmp(p, "correlation_id") == 0 || strcmp(p, "causation_id") == 0 ||
         strncmp(p, "actor", 5) == 0;
}

/* Every field a handle reads, of the newest schema of t's type. */
static int resolve_fields(const sb_schemas_t *s, const sb_evtype_t *t,
                          fields_t *fs, sb_err_t *err) {
  cJSON *schema = cJSON_Parse(sb_evtype_json(t));
  if (schema == NULL)
    return sb_err_set(err, SB_EINVAL, "%s: schema is not JSON",
                      sb_evtype_name(t));
  const cJSON *f;
  cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(schema, "fields")) {
    const char *name = cJSON_GetObjectItemCaseSensitive(f, "name")->valuestring;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(f, "type");
    if (cJSON_IsArray(type)) {
      const cJSON *br;
      cJSON_ArrayForEach(br, type) if (cJSON_IsObject(br)) type = br;
    }
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(type, "type");
    int record = cJSON_IsString(kind) && strcmp(kind->valuestring, "record") == 0;
    const cJSON *sub = record ? cJSON_GetObjectItemCaseSensitive(type, "fields")
                              : NULL;
    const cJSON *sf = sub ? sub->child : NULL;
    do {
      if (fs->n == MAX_FIELDS)
        break;
      char *path = fs->path[fs->n];
      if (sf != NULL)
        snprintf(path, sizeof fs->path[0], "%s.%s", name,
                 cJSON_GetObjectItemCaseSensitive(sf, "name")->valuestring);
      else
        snprintf(path, sizeof fs->path[0], "%s", name);
      sb_err_t e = SB_ERR_INIT;
      if (sb_codec_field(s, sb_evtype_name(t), path, &fs->f[fs->n], &e) == 0) {
        fs->envelope[fs->n] = is_envelope(path);
        fs->n++;
      }
      sf = sf ? sf->next : NULL;
    } while (sf != NULL);
  }
  cJSON_Delete(schema);
  struct {
    sb_field_t *f;
    const char *path;
  } env[] = {{&fs->source, "source"},         {&fs->corr, "correlation_id"},
             {&fs->caus, "causation_id"},     {&fs->uid, "actor.user_id"},
             {&fs->role, "actor.role"},       {&fs->ip, "actor.ip"},
             {&fs->ua, "actor.user_agent"}};
  for (size_t i = 0; i < SB_ARRAY_LEN(env); i++)
    if (sb_codec_field(s, sb_evtype_name(t), env[i].path, env[i].f, err) != 0)
      return err->code;
  return 0;
}

/* One event rebuilt through the builder from its decoded values. */
static int build_from(sb_codec_t *c, const sb_event_t *ev, const fields_t *fs,
                      sb_record_t *out, sb_err_t *err) {
  sb_build_t *b = sb_codec_build_begin(c, (sb_etype_ref_t){ev->type});
  for (size_t i = 0; i < fs->n; i++) {
    sb_field_t f = fs->f[i];
    if (fs->envelope[i] || !sb_event_has(ev, f))
      continue;
    switch (f.kind) {
    case SB_FIELD_STR: sb_build_str(b, f, sb_event_str(ev, f)); break;
    case SB_FIELD_LONG:
    case SB_FIELD_INT:
    case SB_FIELD_TIMESTAMP: sb_build_i64(b, f, sb_event_i64(ev, f)); break;
    case SB_FIELD_DOUBLE:
    case SB_FIELD_FLOAT: sb_build_double(b, f, sb_event_double(ev, f)); break;
    case SB_FIELD_BOOL: sb_build_bool(b, f, sb_event_bool(ev, f)); break;
    case SB_FIELD_ENUM: sb_build_enum(b, f, sb_event_enum_name(ev, f)); break;
    case SB_FIELD_STR_ARRAY: {
      const char *items[64];
      size_t n = sb_event_count(ev, f);
      for (size_t k = 0; k < n && k < 64; k++)
        items[k] = sb_event_str_at(ev, f, k);
      sb_build_strs(b, f, items, n < 64 ? n : 64);
      break;
    }
    default: break;
    }
  }
  sb_actor_t actor = {sb_event_str(ev, fs->uid), sb_event_str(ev, fs->role),
                      sb_event_str(ev, fs->ip), sb_event_str(ev, fs->ua)};
  sb_envelope_t env = {.event_id = ev->event_id,
                       .tenant_id = ev->tenant_id,
                       .source = sb_event_str(ev, fs->source),
                       .occurred_at = ev->occurred_at,
                       .correlation_id = sb_event_str(ev, fs->corr),
                       .causation_id = sb_event_str(ev, fs->caus),
                       .actor = actor.user_id ? &actor : NULL};
  return sb_codec_build_end(b, &env, out, err);
}

int main(int argc, char **argv) {
  long long events = 100000, rounds = 5, seed = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    long long *v = strcmp(argv[i], "--events") == 0   ? &events
                   : strcmp(argv[i], "--rounds") == 0 ? &rounds
                   : strcmp(argv[i], "--seed") == 0   ? &seed
                                                      : NULL;
    if (v == NULL || sb_parse_ll(argv[i + 1], v) != 0 || *v <= 0) {
      fprintf(stderr, "usage: sb_bench_codec [--events N] [--rounds R] "
                      "[--seed S]\n");
      return 2;
    }
  }
  if ((argc - 1) % 2 != 0) {
    fprintf(stderr, "usage: sb_bench_codec [--events N] [--rounds R] "
                    "[--seed S]\n");
    return 2;
  }
  sb_err_t err = SB_ERR_INIT;
  sb_schemas_t *s = NULL;
  sb_codec_t *c = NULL, *bc = NULL;
  sb_gen_t *g = NULL;
  sb_record_t *recs = calloc((size_t)events, sizeof *recs);
  fields_t *by_id = calloc(MAX_IDS, sizeof *by_id);
  char *buf = malloc(SB_GEN_MAX_EVENT);
  int rc = 1;
  sb_gen_opts_t go = {.seed = (uint64_t)seed, .tenants = 10};
  if (recs == NULL || by_id == NULL || buf == NULL ||
      sb_schemas_load(&s, &err) != 0 || sb_codec_new(s, &c, &err) != 0 ||
      sb_codec_new(s, &bc, &err) != 0 || sb_gen_new(&go, &g, &err) != 0)
    goto out;
  for (size_t i = 0; i < sb_schemas_count(s); i++) {
    const sb_evtype_t *t = sb_schemas_at(s, i);
    if (sb_evtype_id(t) >= MAX_IDS ||
        resolve_fields(s, sb_schemas_by_type(s, sb_evtype_name(t)),
                       &by_id[sb_evtype_id(t)], &err) != 0)
      goto out;
  }
  size_t bytes = 0;
  for (long long i = 0; i < events; i++) {
    size_t len;
    cJSON *ce = NULL;
    if (sb_gen_next(g, buf, SB_GEN_MAX_EVENT, &len, NULL) != 0 ||
        sb_json_parse(buf, len, &ce, &err) != 0 ||
        sb_codec_from_ce(c, ce, 0, &recs[i], &err) != 0) {
      cJSON_Delete(ce);
      goto out;
    }
    cJSON_Delete(ce);
    bytes += recs[i].value_len;
  }
  printf("sb_bench_codec: %lld events (%.1f MB as Avro), best of %lld rounds\n",
         events, (double)bytes / 1e6, rounds);
  printf("%-28s %10s\n", "stage", "ns/event");

  double best[3] = {1e30, 1e30, 1e30}, best_name = 1e30, best_handle = 0;
  size_t reads = 0, sink = 0;
  for (long long r = 0; r < rounds; r++) {
    double t0 = cpu_ns();
    for (long long i = 0; i < events; i++) {
      sb_event_t ev;
      if (sb_codec_decode(c, recs[i].value, recs[i].value_len, &ev, &err) != 0)
        goto out;
      sink += ev.value_len;
    }
    double t1 = cpu_ns();
    /* the reads: each event decoded once, then its string fields read
     * READS_K times by name and READS_K times by handle, interleaved so
     * that both see the same machine */
    double by_name = 0, by_handle = 0;
    reads = 0;
    for (long long i = 0; i < events; i++) {
      sb_event_t ev;
      if (sb_codec_decode(c, recs[i].value, recs[i].value_len, &ev, &err) != 0)
        goto out;
      const fields_t *fs = &by_id[sb_evtype_id(ev.type)];
      double a = cpu_ns();
      for (int k = 0; k < READS_K; k++)
        for (size_t j = 0; j < fs->n; j++)
          if (fs->f[j].kind == SB_FIELD_STR)
            sink += sb_event_str_path(&ev, fs->path[j]) != NULL;
      double b = cpu_ns();
      for (int k = 0; k < READS_K; k++)
        for (size_t j = 0; j < fs->n; j++)
          if (fs->f[j].kind == SB_FIELD_STR) {
            sink += sb_event_str(&ev, fs->f[j]) != NULL;
            reads++;
          }
      by_name += b - a;
      by_handle += cpu_ns() - b;
    }
    if (by_name < best_name)
      best_name = by_name, best_handle = by_handle;
    double t3 = cpu_ns();
    for (long long i = 0; i < events; i++) {
      sb_event_t ev;
      cJSON *ce = NULL;
      sb_record_t out;
      if (sb_codec_decode(c, recs[i].value, recs[i].value_len, &ev, &err) != 0 ||
          sb_codec_to_ce(c, &ev, &ce, &err) != 0 ||
          sb_codec_from_ce(bc, ce, 0, &out, &err) != 0) {
        cJSON_Delete(ce);
        goto out;
      }
      cJSON_Delete(ce);
      sink += out.value_len;
      sb_record_clear(&out);
    }
    double t4 = cpu_ns();
    for (long long i = 0; i < events; i++) {
      sb_event_t ev;
      sb_record_t out;
      if (sb_codec_decode(c, recs[i].value, recs[i].value_len, &ev, &err) != 0 ||
          build_from(bc, &ev, &by_id[sb_evtype_id(ev.type)], &out, &err) != 0)
        goto out;
      if (r == 0 && (out.value_len != recs[i].value_len ||
                     memcmp(out.value, recs[i].value, out.value_len) != 0 ||
                     strcmp(out.key, recs[i].key) != 0)) {
        fprintf(stderr, "sb_bench_codec: event %lld (%s): the typed emit "
                        "differs from the JSON one\n",
                i, sb_evtype_name(ev.type));
        sb_record_clear(&out);
        goto out;
      }
      sink += out.value_len;
      sb_record_clear(&out);
    }
    double t5 = cpu_ns();
    double d[3] = {t1 - t0, t4 - t3, t5 - t4};
    for (int k = 0; k < 3; k++)
      if (d[k] < best[k])
        best[k] = d[k];
  }
  /* the two reads agree */
  for (long long i = 0; i < events; i++) {
    sb_event_t ev;
    if (sb_codec_decode(c, recs[i].value, recs[i].value_len, &ev, &err) != 0)
      goto out;
    const fields_t *fs = &by_id[sb_evtype_id(ev.type)];
    for (size_t k = 0; k < fs->n; k++) {
      if (fs->f[k].kind != SB_FIELD_STR)
        continue;
      const char *a = sb_event_str_path(&ev, fs->path[k]);
      const char *b = sb_event_str(&ev, fs->f[k]);
      if ((a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0)) {
        fprintf(stderr, "sb_bench_codec: %s %s: by name '%s', by handle "
                        "'%s'\n", sb_evtype_name(ev.type), fs->path[k],
                a ? a : "(null)", b ? b : "(null)");
        goto out;
      }
    }
  }
  static const char *const names[] = {"decode", "decode + emit via JSON",
                                      "decode + emit typed"};
  for (int k = 0; k < 3; k++)
    printf("%-28s %10.0f\n", names[k], best[k] / (double)events);
  double per_event = (double)reads / READS_K / (double)events;
  printf("%-28s %10.0f   (%.1f string fields; %.1f ns a read)\n",
         "string reads by name", best_name / READS_K / (double)events,
         per_event, best_name / (double)(reads ? reads : 1));
  printf("%-28s %10.0f   (%.1f ns a read)\n", "string reads by handle",
         best_handle / READS_K / (double)events,
         best_handle / (double)(reads ? reads : 1));
  sb_codec_stats_t st;
  sb_codec_stats(c, &st);
  printf("decoded by the codec: %llu (%llu resolved from older schemas)\n",
         (unsigned long long)st.decoded, (unsigned long long)st.resolved);
  rc = sink == 0; /* keeps the loops */
out:
  if (err.code != 0)
    fprintf(stderr, "sb_bench_codec: %s\n", err.msg);
  for (long long i = 0; recs && i < events; i++)
    sb_record_clear(&recs[i]);
  free(recs);
  free(by_id);
  free(buf);
  sb_gen_free(g);
  sb_codec_free(c);
  sb_codec_free(bc);
  sb_schemas_free(s);
  return rc;
}
