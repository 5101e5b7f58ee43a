/* Fuzz target: the CloudEvents <-> Kafka record converter (sb_codec.h).
 *
 * The input is read twice:
 *  - as CloudEvent JSON from outside (sb_json_parse, sb_codec_from_ce with
 *    and without SB_CE_GENERATE_ID). A record it produces must decode, and
 *    converting it back (sb_codec_to_ce) and in again, as a cJSON tree and as
 *    printed text, must give the very same bytes: what ingest accepted is
 *    what audit export gives back.
 *  - as a Kafka value from outside (sb_codec_decode), which anything may
 *    have written to a topic; a value that decodes is converted to a
 *    CloudEvent and that one fed back in.
 *
 * A broken invariant prints what differs and aborts. One codec per process.
 *
 * With SB_FUZZ_CODEC_EMIT=DIR set, every record produced is also written
 * to DIR (named after its bytes), to seed the corpus with Avro values made
 * from its JSON events: see README.md. */
#include "sb_codec.h"
#include "sb_schema.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static sb_schemas_t *the_schemas;

static sb_codec_t *codec(void) {
  static sb_codec_t *c;
  sb_err_t err = SB_ERR_INIT;
  if (c == NULL && (sb_schemas_load(&the_schemas, &err) != 0 ||
                    sb_codec_new(the_schemas, &c, &err) != 0)) {
    fprintf(stderr, "fuzz_codec: %s\n", err.msg);
    abort();
  }
  return c;
}

static const sb_schemas_t *schemas(void) {
  codec();
  return the_schemas;
}

static void broken(const char *what, const char *detail, const cJSON *ce) {
  char *text = ce ? cJSON_PrintUnformatted(ce) : NULL;
  fprintf(stderr, "fuzz_codec: %s: %s\n  event: %s\n", what,
          detail ? detail : "", text ? text : "(none)");
  free(text);
  abort();
}

static void emit(const sb_record_t *rec) {
  const char *dir = getenv("SB_FUZZ_CODEC_EMIT");
  if (dir == NULL)
    return;
  uint64_t h = 1469598103934665603ull; /* FNV-1a of the bytes */
  for (size_t i = 0; i < rec->value_len; i++)
    h = (h ^ rec->value[i]) * 1099511628211ull;
  char path[4096];
  snprintf(path, sizeof path, "%s/avro-%016llx", dir, (unsigned long long)h);
  FILE *f = fopen(path, "wb");
  if (f != NULL) {
    fwrite(rec->value, 1, rec->value_len, f);
    fclose(f);
  }
}

/* ce2 (made by sb_codec_to_ce) converted in again must give rec's bytes. */
static void same_again(sb_codec_t *c, const cJSON *ce2, const sb_record_t *rec,
                       const char *how) {
  sb_err_t err = SB_ERR_INIT;
  sb_record_t again;
  if (sb_codec_from_ce(c, ce2, 0, &again, &err) != 0)
    broken(how, err.msg, ce2);
  if (again.value_len != rec->value_len ||
      memcmp(again.value, rec->value, rec->value_len) != 0 ||
      strcmp(again.key, rec->key) != 0 ||
      strcmp(again.event_id, rec->event_id) != 0 ||
      again.occurred_at != rec->occurred_at || again.type != rec->type)
    broken(how, "a different record", ce2);
  sb_record_clear(&again);
}

/* Whether cJSON prints every number of j as the same double. It prints a
 * finite number with 15 significant digits whenever that reads back within
 * an epsilon (cJSON 1.7.15 print_number), -0 as 0: such numbers, which the
 * codec accepts (longs up to 2^53 - 1, any double), do not survive being
 * printed, a limit of the export's JSON printer, so the text round trip
 * skips them. Infinities are not skipped: the codec must not accept them,
 * JSON has none (cJSON prints null). */
static int numbers_print_exactly(const cJSON *j) {
  if (cJSON_IsNumber(j)) {
    double d = j->valuedouble, back;
    char text[64];
    if (!isfinite(d) || (d >= INT_MIN && d <= INT_MAX && d == (int)d))
      return !(d == 0 && signbit(d));
    snprintf(text, sizeof text, "%1.15g", d);
    return sscanf(text, "%lg", &back) == 1 && back == d;
  }
  for (const cJSON *c = j->child; c != NULL; c = c->next)
    if (!numbers_print_exactly(c))
      return 0;
  return 1;
}

static void round_trip(sb_codec_t *c, const sb_record_t *rec, const cJSON *ce) {
  sb_err_t err = SB_ERR_INIT;
  sb_event_t ev;
  if (rec->value_len <= SB_WIRE_HEADER ||
      sb_wire_schema_id(rec->value, rec->value_len) != sb_evtype_id(rec->type))
    broken("record framing", "bad header", ce);
  if (sb_codec_decode(c, rec->value, rec->value_len, &ev, &err) != 0)
    broken("an accepted event does not decode", err.msg, ce);
  size_t tl = strlen(ev.tenant_id);
  int key_ok = strncmp(rec->key, ev.tenant_id, tl) == 0 &&
               rec->key[tl] == ':' &&
               strcmp(rec->key + tl + 1, ev.subject) == 0;
  if (ev.type != rec->type || strcmp(ev.event_id, rec->event_id) != 0 ||
      ev.occurred_at != rec->occurred_at || !key_ok)
    broken("decoded envelope", "differs from the record", ce);
  cJSON *ce2 = NULL;
  if (sb_codec_to_ce(c, &ev, &ce2, &err) != 0)
    broken("sb_codec_to_ce", err.msg, ce);
  same_again(c, ce2, rec, "back and in again");
  if (!numbers_print_exactly(ce2)) {
    cJSON_Delete(ce2);
    return;
  }
  char *text = cJSON_PrintUnformatted(ce2);
  cJSON *ce3 = NULL;
  if (text == NULL || sb_json_parse(text, strlen(text), &ce3, &err) != 0)
    broken("the exported event is not JSON", err.msg, ce2);
  same_again(c, ce3, rec, "exported as text and in again");
  cJSON_Delete(ce3);
  free(text);
  cJSON_Delete(ce2);
}

static void as_cloudevent(sb_codec_t *c, const uint8_t *data, size_t size) {
  sb_err_t err = SB_ERR_INIT;
  cJSON *ce = NULL;
  if (sb_json_parse((const char *)data, size, &ce, &err) != 0)
    return;
  static const unsigned flags[] = {0, SB_CE_GENERATE_ID};
  for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
    sb_record_t rec;
    sb_err_clear(&err);
    if (sb_codec_from_ce(c, ce, flags[i], &rec, &err) != 0) {
      if (err.code != SB_EVALIDATE || err.msg[0] == '\0')
        broken("refused without a validation message", err.msg, ce);
      continue;
    }
    emit(&rec);
    round_trip(c, &rec, ce);
    sb_record_clear(&rec);
  }
  cJSON_Delete(ce);
}

/* Every getter through handles of a few fields (of this type or another):
 * never a crash, and a string by handle is the string by path. */
static void typed_reads(const sb_event_t *ev) {
  static const char *const fields[] = {
      "correlation_id", "actor.user_id", "actor.role", "occurred_at",
      "status",         "tags",          "address.city", "reason",
      "attempts",       "score",         "on_hold",      "amount_cents"};
  static const char *const others[] = {"lead.created", "call.hold",
                                       "security.access_denied"};
  for (size_t t = 0; t < 1 + sizeof others / sizeof others[0]; t++) {
    const char *type = t == 0 ? sb_evtype_name(ev->type) : others[t - 1];
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
      sb_field_t f;
      sb_err_t err = SB_ERR_INIT;
      if (sb_codec_field(schemas(), type, fields[i], &f, &err) != 0)
        continue;
      (void)sb_event_has(ev, f);
      (void)sb_event_i64(ev, f);
      (void)sb_event_double(ev, f);
      (void)sb_event_bool(ev, f);
      (void)sb_event_enum(ev, f);
      (void)sb_event_enum_name(ev, f);
      for (size_t k = 0; k < sb_event_count(ev, f) && k < 50; k++)
        (void)sb_event_str_at(ev, f, k);
      const char *by_handle = sb_event_str(ev, f);
      const char *by_path = sb_event_str_path(ev, fields[i]);
      if (f.type == ev->type && f.kind == SB_FIELD_STR &&
          (by_handle == NULL) != (by_path == NULL))
        broken("a string by handle differs from the string by path",
               fields[i], NULL);
      if (f.type != ev->type && sb_event_has(ev, f))
        broken("a handle of another type reads", fields[i], NULL);
    }
  }
}

static void as_kafka_value(sb_codec_t *c, const uint8_t *data, size_t size) {
  sb_err_t err = SB_ERR_INIT;
  sb_event_t ev;
  if (sb_codec_decode(c, data, size, &ev, &err) != 0) {
    if ((err.code != SB_EDECODE && err.code != SB_EVALIDATE) || !err.msg[0])
      broken("sb_codec_decode failed without saying why", err.msg, NULL);
    return;
  }
  static const char *const paths[] = {"correlation_id", "actor.user_id",
                                      "actor", "source.x", "no.such.path"};
  for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
    (void)sb_event_str_path(&ev, paths[i]);
  typed_reads(&ev);
  cJSON *ce = NULL;
  if (sb_codec_to_ce(c, &ev, &ce, &err) != 0)
    broken("sb_codec_to_ce of a decoded value", err.msg, NULL);
  sb_record_t rec;
  sb_err_clear(&err);
  /* it may refuse: decoding checks the envelope only, not the data */
  if (sb_codec_from_ce(c, ce, 0, &rec, &err) == 0) {
    if (rec.type != ev.type || strcmp(rec.event_id, ev.event_id) != 0 ||
        rec.occurred_at != ev.occurred_at)
      broken("a decoded value's envelope changed through CloudEvents", NULL,
             ce);
    round_trip(c, &rec, ce); /* decodes into the slot ev borrows from */
    sb_record_clear(&rec);
  }
  cJSON_Delete(ce);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  sb_codec_t *c = codec();
  as_cloudevent(c, data, size);
  as_kafka_value(c, data, size);
  return 0;
}
