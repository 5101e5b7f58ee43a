/* The one converter between the outside form of an event (CloudEvents 1.0
 * JSON, structured mode) and the inside form (a Kafka record: key
 * "tenant_id:subject", value in the Confluent wire format: byte 0, the
 * schema id as 4 bytes big-endian, then the Avro binary of the event's
 * record). It is driven by the schemas; nothing here knows an event type.
 *
 * CloudEvents attribute   record field
 *   id                      event_id (a ULID)
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
#include <stddef.h>
#include <stdint.h>

typedef struct sb_codec_s sb_codec_t;

/* A Kafka record ready to produce. key and value are owned by the record. */
typedef struct sb_record_s {
  const sb_evtype_t *type;
  char event_id[27];
  char *key;
  size_t key_len;
  unsigned char *value;
  size_t value_len;
  int64_t occurred_at;
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
} sb_event_t;

#define SB_CE_GENERATE_ID 0x1 /* a missing id gets a new ULID (import) */

#define SB_WIRE_HEADER 5 /* magic byte + schema id */

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
 * the event. */
const char *sb_event_str(const sb_event_t *ev, const char *path);

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
