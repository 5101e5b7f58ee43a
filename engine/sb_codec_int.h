/* The codec's insides, shared by its files and by nothing else (it includes
 * avro.h: only the engine's codec files may include this header).
 *
 *   sb_codec.c         set-up, the per-type slots, encoding, shared checks
 *   sb_codec_json.c    CloudEvent JSON -> Avro (sb_codec_from_ce), JSON text
 *   sb_codec_decode.c  framing, the raw-Avro check, decoding, evolution
 *   sb_codec_ce.c      Avro -> CloudEvent JSON (sb_codec_to_ce), by-path reads
 *   sb_codec_field.c   field handles and typed reads (sb_event_i64, ...)
 *   sb_codec_build.c   typed emit: a record built from typed values
 *   sb_ce.c            CloudEvents ids and the HTTP and Kafka bindings */
#ifndef SB_CODEC_INT_H
#define SB_CODEC_INT_H

#include "sb_codec.h"
#include "sb_pii.h"

#include <avro.h>
#include <stdint.h>

#define SB__MAX_STRING 4096 /* for a string field with no sb.maxLength */
/* The length bound of a string value of a field: its sb.maxLength (or
 * SB__MAX_STRING), or for an sbx1 envelope in a sealed (sb.pii) field the
 * envelope's bound for that many code points of plaintext (sb_pii.h): the
 * plaintext's bound is checked before sealing. */
#define SB__STR_MAX(fa, s)                                                   \
  ((fa) && (fa)->sealed && sb_pii_is_sealed(s)                              \
       ? sb_pii_sealed_max((fa)->max_length ? (fa)->max_length               \
                                            : SB__MAX_STRING)                \
       : ((fa) && (fa)->max_length ? (long)(fa)->max_length : SB__MAX_STRING))
#define SB__MAX_ITEMS 1000  /* for an array with no sb.maxItems */

/* What a record field of an event type is, worked out once: where its value
 * comes from in a CloudEvent and the paths errors name. */
enum { SB__F_DATA, SB__F_ENVELOPE, SB__F_ACTOR, SB__F_SUBJECT };

typedef struct {
  int kind;
  const char *attr;         /* SB__F_ENVELOPE: the CloudEvents attribute */
  int attr_ix;              /* its index in the known attributes */
  const char *name;         /* the record field */
  const sb_fieldattr_t *fa; /* its sb.* attributes, or NULL */
  char epath[80];           /* "data.lead_source", "subject", "time" */
} sb__finfo_t;

/* Per event type: the generic Avro class and two values, one to encode
 * into and one to decode into, so a decoded event survives encoding. */
typedef struct {
  avro_value_iface_t *iface;
  avro_value_t enc, dec;
  int have_enc, have_dec;
  int tenant_ix, event_ix, time_ix, subject_ix;
  sb__finfo_t *fi; /* per field of the record */
  size_t nfi;
  const sb_fieldattr_t *subject_fa;  /* the subject field's attributes */
  const sb_fieldattr_t *actor_fa[8]; /* of the actor's fields, by index */
} sb__slot_t;

#define SB__TYPE_SLOTS 256 /* open addressing over the newest schema per type */

/* The state of the one record being built (sb_codec_build_begin .. end). */
struct sb_build_s {
  sb_codec_t *codec;
  const sb_evtype_t *type; /* NULL: no build under way */
  sb__slot_t *slot;
  sb_err_t err;            /* the first error of a setter, reported by end */
  uint64_t set;            /* top-level fields given (bit per field index) */
  uint64_t sub[64];        /* of a top-level record field: its fields given */
};

struct sb_codec_s {
  const sb_schemas_t *schemas;
  sb__slot_t *slots; /* by index in the registry */
  size_t n;
  unsigned char *buf;
  size_t bufcap;
  const sb_evtype_t *by_type[SB__TYPE_SLOTS]; /* sb_schemas_by_type, hashed */
  sb_codec_stats_t stats;
  struct sb_build_s build;
};

/* The envelope: record fields filled from CloudEvents attributes. */
typedef struct {
  const char *field, *attr;
} sb__envelope_t;
#define SB__N_ENVELOPE 6
extern const sb__envelope_t sb__envelope[SB__N_ENVELOPE];

/* The CloudEvents attributes the codec knows, by index. */
enum { SB__A_SPECVERSION, SB__A_ID, SB__A_TYPE, SB__A_SOURCE, SB__A_SUBJECT,
       SB__A_TIME, SB__A_TENANTID, SB__A_DATACONTENTTYPE, SB__A_DATA,
       SB__A_CORRELATIONID, SB__A_CAUSATIONID, SB__A_SBEVENTID = 15,
       SB__N_ATTRS = 16 };

/* JSON -> Avro conversion state: where errors point. */
typedef struct {
  const sb_evtype_t *type;
  sb_err_t *err;
  char epath[512]; /* where, as the producer wrote it: "data.tags[2]" */
  char apath[256]; /* the schema path, for sb_evtype_attr: "tags" */
} sb__walk_t;

/* sb_codec.c */
const sb_evtype_t *sb__codec_type(const sb_codec_t *c, const char *type);
/* The slot of t, with the value asked for (dec: the decode value, else the
 * encode value) created; NULL with err set on failure. */
sb__slot_t *sb__slot_of(sb_codec_t *c, const sb_evtype_t *t, int dec,
                        sb_err_t *err);
int sb__attr_index(const char *a);
/* The CloudEvents attribute an envelope field comes from, or NULL. */
const char *sb__envelope_attr(const char *field);
/* Code points of valid UTF-8 (shortest forms, no surrogates, no NUL), or -1. */
long sb__utf8_len(const unsigned char *s, size_t n);
/* 0 when s is what fa's sb.format asks (or fa has none); otherwise -1 and
 * the reason in why (sb_codec_format.c). */
/* "sb.minimum" / "sb.maximum" of fa (NULL: none): 0 when x is within
 * them, else -1 with why filled. */
int sb__range_check(const sb_fieldattr_t *fa, int64_t x, char *why, size_t n);
int sb__format_check(const sb_fieldattr_t *fa, const char *s, char *why,
                     size_t n);
/* The rules of a type's sb.changeList (sb_schema.h) on a CloudEvent's
 * data; 0 or SB_EVALIDATE with the field in err. */
struct cJSON;
int sb__changes_check(const sb_evtype_t *t, const struct cJSON *data,
                      sb_err_t *err);
int sb__tenant_ok(const char *t);
int sb__null_branch(avro_schema_t u);
/* Frames and encodes v (of type t) into out->value. */
int sb__encode(const sb_evtype_t *t, avro_value_t *v, sb_record_t *out,
               sb_err_t *err);
/* out->key = "tenant:subject", with out->source and out->ce_id (NULL:
 * none) copied into the same allocation. */
int sb__record_key(sb_record_t *out, const char *tenant, const char *subject,
                   const char *source, const char *ce_id, sb_err_t *err);

/* sb_codec_json.c */
int sb__record_from_json(sb__walk_t *w, avro_value_t *v, avro_schema_t s,
                         const cJSON *j);

/* sb_codec_ce.c: a record as a JSON object (absent optional fields left
 * out); NULL when out of memory. */
cJSON *sb__record_to_json(const sb_evtype_t *t, avro_value_t *v,
                          const char *apath);

#endif
