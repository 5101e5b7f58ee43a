/* The one converter between the outside form of an event (CloudEvents 1.0
 * JSON, structured mode) and the inside form (a Kafka record: key
 * "tenant_id:subject", value in the Confluent wire format: byte 0, the
 * schema id as 4 bytes big-endian, then the Avro binary of the event's
 * record). It is driven by the schemas; nothing here knows an event type.
 *
 * CloudEvents attribute   record field
 *   id                      event_id (a ULID: the id itself when it is one,
 *                           else derived from tenant, source and id by
 *                           sb_ce_event_id; the producer's id then travels
 *                           beside the record, sb_record_t.ce_id, as the
 *                           Kafka header ce_id)
 *   type                    (chooses the schema)
 *   source                  source
 *   time                    occurred_at (RFC 3339 <-> timestamp-micros)
 *   subject                 the field named by the schema's sb.subject
 *   tenantid                tenant_id
 *   correlationid           correlation_id
 *   causationid             causation_id
 *   actoruserid, actorrole,
 *   actorip, actoruseragent actor {user_id, role, ip, user_agent}
 *   data.<field>            every other field
 *
 * Validation is strict: an unknown type, attribute or field, a missing
 * required field, a wrong JSON type, a bad enum symbol, a bad timestamp, an
 * over-long string or array each fail with "<path>: <reason>", e.g.
 * "data.status: 'wonn' is not one of new, contacted, qualified".
 *
 * A codec is not thread-safe: use one per thread. */
#ifndef SB_CODEC_H
#define SB_CODEC_H

#include "sb_err.h"
#include "sb_schema.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sb_codec_s sb_codec_t;

/* A Kafka record ready to produce. key and value are owned by the record;
 * source and ce_id live in key's allocation (after the key's NUL), so a
 * record copied by value stays whole and sb_record_clear frees them. */
typedef struct sb_record_s {
  const sb_evtype_t *type;
  char event_id[27];
  char *key;
  size_t key_len;
  unsigned char *value;
  size_t value_len;
  int64_t occurred_at;
  const char *source; /* the CloudEvents source ("" when the schema has none) */
  const char *ce_id;  /* the producer's id when it is not event_id, or NULL */
} sb_record_t;

/* A decoded record. Strings and avro are borrowed from the codec, valid
 * until it decodes another record of the same type. */
typedef struct sb_event_s {
  const sb_evtype_t *type;
  const char *tenant_id;
  const char *event_id;
  const char *subject;
  int64_t occurred_at;
  void *avro; /* avro_value_t * of the record */
  const void *value; /* the framed bytes decoded, as stored in Kafka */
  size_t value_len;
  /* where it came from, filled in by the engine (topic NULL otherwise) */
  const char *topic;
  int32_t partition;
  int64_t offset;
  /* the producer's CloudEvents id when it is not event_id (the record's
   * ce_id header), set by a reader that has the headers; NULL otherwise.
   * sb_codec_to_ce gives it as the event's id. */
  const char *ce_id;
} sb_event_t;

#define SB_CE_GENERATE_ID 0x1 /* a missing id gets a new ULID (import) */

#define SB_WIRE_HEADER 5 /* magic byte + schema id */

/* A CloudEvents id: any non-empty string of at most this many bytes of
 * UTF-8 without control characters (CloudEvents 1.0 bounds it nowhere). */
#define SB_CE_ID_MAX 256

/* The event id of a CloudEvent whose id is not a ULID: the first 128 bits
 * of SHA-256("sb-ce-id" NUL tenant NUL source NUL id) written as a ULID, so
 * the same source and id in a tenant is always the same event (CloudEvents:
 * source + id identify an event) and a retry meets the first attempt in the
 * idempotency store. The ULID's time part is hash bits, not a time: derived
 * ids do not sort by time. Writes out[27]; SB_ECRYPTO when SHA-256 fails. */
int sb_ce_event_id(const char *tenant, const char *source, const char *id,
                   char out[27], sb_err_t *err);
/* 0 when id is an acceptable CloudEvents id (above), else SB_EVALIDATE
 * "id: ..." saying why. */
int sb_ce_id_check(const char *id, size_t len, sb_err_t *err);
/* The producer's id of a record whose ce_id header is v (n bytes; v NULL:
 * none) and whose event id is event_id: the header, copied into out as a C
 * string, when it is an acceptable id (above) other than event_id; NULL
 * otherwise (the event is its event id). The one reading of the header:
 * the pipeline (sb_event_t.ce_id), the feed and audit verify agree. */
const char *sb_ce_producer_id(const void *v, size_t n, const char *event_id,
                              char out[SB_CE_ID_MAX + 1]);

int sb_codec_new(const sb_schemas_t *schemas, sb_codec_t **out, sb_err_t *err);
void sb_codec_free(sb_codec_t *c);

/* CloudEvent JSON -> record. On failure err says what and where
 * (SB_EVALIDATE), and out is left empty. */
int sb_codec_from_ce(sb_codec_t *c, const cJSON *ce, unsigned flags,
                     sb_record_t *out, sb_err_t *err);

/* Kafka value bytes -> event. SB_EDECODE for anything but a well-formed
 * value of a known schema id. */
int sb_codec_decode(sb_codec_t *c, const void *value, size_t len,
                    sb_event_t *ev, sb_err_t *err);

/* event -> CloudEvent JSON; *out is owned by the caller (cJSON_Delete). */
int sb_codec_to_ce(sb_codec_t *c, const sb_event_t *ev, cJSON **out,
                   sb_err_t *err);

/* A string field of a decoded event by dotted path ("correlation_id",
 * "actor.user_id"); NULL when absent, null, or not a string. Borrowed like
 * the event. Looks the path up by name on every call: a processor reads by
 * field handle (sb_event_str with an sb_field_t, below). */
const char *sb_event_str_path(const sb_event_t *ev, const char *path);

/* ---- typed field access ------------------------------------------------
 * A handle names one field of one event type, resolved once against the
 * schemas (not a codec: it works with every codec made from the same
 * sb_schemas_t) and read per event in O(1), without allocation or lookup by
 * name. Decoding reads every record as the newest schema of its type (a
 * record written with an older one is resolved: a field it lacks takes the
 * newest schema's default, or is null), so handles resolve against the
 * newest schema and read older records right.
 *
 * A handle used on an event of another type (or a zero sb_field_t, never
 * resolved) reads as absent: sb_event_has 0, and the getters below return
 * their "absent" value. So does a getter of the wrong kind (sb_event_i64 on
 * a string field). Strings are borrowed like the event. */

typedef enum {
  SB_FIELD_NONE = 0,
  SB_FIELD_STR,       /* string: sb_event_str */
  SB_FIELD_LONG,      /* long: sb_event_i64 */
  SB_FIELD_INT,       /* int (a date: days since 1970-01-01): sb_event_i64 */
  SB_FIELD_TIMESTAMP, /* long timestamp-micros: sb_event_i64, micros */
  SB_FIELD_DOUBLE,    /* double: sb_event_double */
  SB_FIELD_FLOAT,     /* float: sb_event_double */
  SB_FIELD_BOOL,      /* boolean: sb_event_bool */
  SB_FIELD_ENUM,      /* enum: sb_event_enum, sb_event_enum_name */
  SB_FIELD_STR_ARRAY, /* array of strings: sb_event_count, sb_event_str_at */
} sb_field_kind_t;

#define SB_FIELD_DEPTH 2 /* "field" or "record.field" ("actor.role") */

/* A field handle: a small value, copy it freely. Its members are the
 * codec's; a zero-initialised one reads as absent everywhere. */
typedef struct sb_field_s {
  const sb_evtype_t *type; /* the (newest) schema it was resolved for */
  uint16_t ix[SB_FIELD_DEPTH]; /* the field's index at each level */
  uint8_t depth;           /* levels used: 1 or 2 */
  uint8_t optional;        /* bit i: level i is a ["null", T] union */
  uint8_t kind;            /* an sb_field_kind_t */
} sb_field_t;

/* An event type, resolved once: compare events with sb_event_type_is. */
typedef struct sb_etype_ref_s {
  const sb_evtype_t *type; /* the newest schema of the type */
} sb_etype_ref_t;

/* The event type named type ("lead.created"): 0, or SB_ENOENT naming it. */
int sb_codec_type(const sb_schemas_t *s, const char *type, sb_etype_ref_t *out,
                  sb_err_t *err);
/* The field at path ("status", "actor.role", "address.city") of the event
 * type named type: 0, or SB_ENOENT (no such type or field) / SB_EINVAL (a
 * field no getter reads: a record, a map, an array of other than strings),
 * naming the type and the path. *out is zeroed on failure. */
int sb_codec_field(const sb_schemas_t *s, const char *type, const char *path,
                   sb_field_t *out, sb_err_t *err);

/* The same for the event type t itself (an event's ev->type, the newest
 * schema of its type): for code that holds events but not the schemas, such
 * as a global table's reducer, which runs with the state of whichever
 * processor lists the table. Resolving costs a lookup by name per level:
 * resolve once where the schemas are at hand. */
int sb_codec_field_of(const sb_evtype_t *t, const char *path, sb_field_t *out,
                      sb_err_t *err);

/* 1 when ev is of the type t (whichever schema version wrote it). */
int sb_event_type_is(const sb_event_t *ev, sb_etype_ref_t t);
/* 1 when the field is present and not null (an optional field may be
 * null; a record written before the field existed reads it as its default
 * or null), 0 otherwise. */
int sb_event_has(const sb_event_t *ev, sb_field_t f);
/* long, int, timestamp (micros), date (days); 0 when absent. */
int64_t sb_event_i64(const sb_event_t *ev, sb_field_t f);
/* double or float; 0.0 when absent. */
double sb_event_double(const sb_event_t *ev, sb_field_t f);
/* false when absent. */
bool sb_event_bool(const sb_event_t *ev, sb_field_t f);
/* An enum's symbol index in its schema; -1 when absent. */
int sb_event_enum(const sb_event_t *ev, sb_field_t f);
/* An enum's symbol; NULL when absent. Static: lives as long as the schemas. */
const char *sb_event_enum_name(const sb_event_t *ev, sb_field_t f);
/* A string; NULL when absent. */
const char *sb_event_str_field(const sb_event_t *ev, sb_field_t f);
/* An array of strings: its length (0 when absent) and item i (NULL past
 * the end). */
size_t sb_event_count(const sb_event_t *ev, sb_field_t f);
const char *sb_event_str_at(const sb_event_t *ev, sb_field_t f, size_t i);

/* sb_event_str(ev, handle) reads by handle; sb_event_str(ev, "path") is
 * still the by-path read (sb_event_str_path) for the callers written before
 * handles, until they move to handles. */
#define sb_event_str(ev, f)                                                   \
  _Generic((f), sb_field_t: sb_event_str_field, default: sb_event_str_path)( \
      (ev), (f))

/* ---- typed emit --------------------------------------------------------
 * A record of a type built from typed values, without JSON: the same bytes
 * and key as sb_codec_from_ce gives for the same event, after the same
 * checks (required fields, string lengths and UTF-8, enum symbols, integer
 * ranges, array items). Fields are set by handle (sb_codec_field for the
 * same type); the envelope (ids, tenant, source, time, actor) comes in
 * sb_codec_build_end.
 *
 *   sb_build_t *b = sb_codec_build_begin(codec, t_assigned);
 *   sb_build_str(b, f_lead_id, lead);
 *   sb_build_enum(b, f_strategy, "round_robin");
 *   rc = sb_codec_build_end(b, &env, &rec, err);
 *
 * Setters return 0 or SB_EVALIDATE and keep the first error, which end
 * reports: "lead.assigned: strategy: 'rr' is not one of ...". */
typedef struct sb_build_s sb_build_t;

typedef struct sb_actor_s {
  const char *user_id;  /* required when there is an actor */
  const char *role, *ip, *user_agent; /* NULL: none */
} sb_actor_t;

typedef struct sb_envelope_s {
  const char *event_id;  /* a ULID; NULL: a new one */
  const char *tenant_id;
  const char *source;    /* URI of the producer */
  int64_t occurred_at;   /* micros since 1970 */
  const char *correlation_id, *causation_id; /* NULL: none */
  const sb_actor_t *actor; /* NULL: none */
} sb_envelope_t;

/* Starts a record of type t in the codec's one builder (borrowed from the
 * codec; a build under way is abandoned). Never NULL. Until end, the codec
 * must not encode anything else (sb_codec_from_ce); decoded events stay
 * valid. */
sb_build_t *sb_codec_build_begin(sb_codec_t *c, sb_etype_ref_t t);
int sb_build_str(sb_build_t *b, sb_field_t f, const char *v);
/* long, int, timestamp (micros), date (days) */
int sb_build_i64(sb_build_t *b, sb_field_t f, int64_t v);
int sb_build_double(sb_build_t *b, sb_field_t f, double v);
int sb_build_bool(sb_build_t *b, sb_field_t f, bool v);
int sb_build_enum(sb_build_t *b, sb_field_t f, const char *symbol);
/* An optional field: null (as when never set). */
int sb_build_null(sb_build_t *b, sb_field_t f);
/* An array of strings: all its items at once (n may be 0). */
int sb_build_strs(sb_build_t *b, sb_field_t f, const char *const *v, size_t n);
/* Checks and encodes the record: 0 and *out filled (owned by the caller:
 * sb_record_clear), or the first error (SB_EVALIDATE naming the type and
 * the field) and *out empty. Ends the build either way. */
int sb_codec_build_end(sb_build_t *b, const sb_envelope_t *env,
                       sb_record_t *out, sb_err_t *err);

/* ---- counters ---------------------------------------------------------- */
typedef struct sb_codec_stats_s {
  uint64_t decoded;  /* records decoded (sb_codec_decode returning 0) */
  uint64_t resolved; /* of them, written with an older schema and resolved */
  uint64_t encoded;  /* records encoded (sb_codec_from_ce, build_end) */
} sb_codec_stats_t;

/* The codec's counters since sb_codec_new (same thread as the codec). */
void sb_codec_stats(const sb_codec_t *c, sb_codec_stats_t *out);

/* Parses JSON text from outside. cJSON turns the escape \u0000 into a NUL
 * that silently ends a string, so text holding one is refused; so is text
 * that is not JSON (the error says where). *out is owned by the caller. */
int sb_json_parse(const char *text, size_t len, cJSON **out, sb_err_t *err);

/* Bounds an event's time (micros) around now (micros): at most max_past_s
 * seconds before (a negative max_past_s: no bound) and max_future_s after.
 * 0, or SB_EVALIDATE "time: ... is more than N s (ingest.max_past_seconds)
 * before the server's clock ...", naming the configuration key. */
int sb_event_time_check(int64_t at, int64_t now, int64_t max_past_s,
                        int64_t max_future_s, sb_err_t *err);

/* Releases the key and value of a record; accepts an empty record. */
void sb_record_clear(sb_record_t *r);

/* The schema id of a framed value, or -1 when it is not framed. */
int sb_wire_schema_id(const void *value, size_t len);

#endif
