/* The schema registry: every event type's Avro schema, compiled in from
 * schemas/ with the manifest that fixes each schema's id (the id of the
 * Confluent wire format; it never changes once released).
 *
 * Schemas carry Switchboard's attributes, which Avro ignores: on the record
 * "sb.type", "sb.topic", "sb.subject" (the field holding the entity id); on
 * fields "sb.maxLength", "sb.maxItems", "sb.pii", "sb.match" (a PII field
 * matched by keyed HMAC: "phone", "email" or "address", with a sibling
 * nullable string field <name>_hmac that ingest fills; see sb_pii.h),
 * "sb.format" (what a
 * string must be, beyond its length: see sb_format_t), "sb.notClearable".
 * A record's "sb.changeList" names its array of changed field names
 * (tenant.settings_changed): at ingest each listed name must be a domain
 * field of the record, listed once; a given domain field must be listed;
 * a listed "sb.notClearable" field must be given. */
#ifndef SB_SCHEMA_H
#define SB_SCHEMA_H

#include "sb_err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sb_schemas_s sb_schemas_t;
typedef struct sb_evtype_s sb_evtype_t;

/* "sb.format" of a string field; the codec refuses, at ingest and at typed
 * emit, a value that is not one (a schema naming another format does not
 * load). */
typedef enum {
  SB_FORMAT_NONE = 0,
  SB_FORMAT_TIMEZONE, /* "timezone": an IANA zone sb_tz_load loads */
  SB_FORMAT_CURRENCY, /* "currency": ISO 4217 alphabetic, [A-Z]{3} */
  SB_FORMAT_LOCALE,   /* "locale": a BCP 47 tag's shape,
                         [A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})* */
  SB_FORMAT_ONE_OF,   /* "sb.oneOf": [names]: one of the names listed
                         (one_of), for a string that must stay a string
                         (an event's subject) */
} sb_format_t;

/* What Switchboard knows of one field, by its dotted path from the record
 * ("amount_cents", "actor.ip"). */
typedef struct sb_fieldattr_s {
  char *path;
  int max_length; /* strings: code points; 0 for none given */
  int max_items;  /* arrays; 0 for none given */
  bool pii;
  bool sealed; /* stored as an sbx1 envelope: sb.pii, or in an sb.pii record */
  int match;   /* an sb_pii_match_t: "sb.match"; 0 for none */
  /* "sb.matchBy": the sibling field (an enum of channels) whose value
   * chooses how an "address" is matched (sb_pii_match_for_channel): sms
   * and whatsapp a phone, email an e-mail address, slack a channel, push a
   * device token; NULL: by its form alone */
  char *match_by;
  bool is_hmac; /* the <name>_hmac beside a field with sb.match */
  bool timestamp_micros;
  bool not_clearable; /* listed in the change list: must not be null */
  sb_format_t format;
  char *default_json; /* the field's Avro default as JSON text, or NULL */
  char *one_of;       /* "sb.oneOf" joined by ", ", or NULL */
  /* "sb.minimum" / "sb.maximum" of an int or long (not a timestamp):
   * refused at ingest and typed emit outside them */
  bool has_min, has_max;
  int64_t min, max;
} sb_fieldattr_t;

/* Loads the compiled-in schemas. *out is owned by the caller. */
int sb_schemas_load(sb_schemas_t **out, sb_err_t *err);
/* Loads schemas from files (a manifest.tsv among them); the files must
 * outlive *out. For tests of schema evolution. */
struct sb_file_s;
int sb_schemas_load_files(const struct sb_file_s *files, size_t n,
                          sb_schemas_t **out, sb_err_t *err);
void sb_schemas_free(sb_schemas_t *s);

size_t sb_schemas_count(const sb_schemas_t *s);
const sb_evtype_t *sb_schemas_at(const sb_schemas_t *s, size_t i);
/* The newest schema of an event type, or NULL. */
const sb_evtype_t *sb_schemas_by_type(const sb_schemas_t *s, const char *type);
/* The schema with a wire id, or NULL. */
const sb_evtype_t *sb_schemas_by_id(const sb_schemas_t *s, int id);

int sb_evtype_id(const sb_evtype_t *t);
/* Its index in its registry: sb_schemas_at(s, sb_evtype_index(t)) == t. */
size_t sb_evtype_index(const sb_evtype_t *t);
const char *sb_evtype_name(const sb_evtype_t *t);    /* "lead.created" */
const char *sb_evtype_topic(const sb_evtype_t *t);   /* "sb.leads" */
const char *sb_evtype_subject(const sb_evtype_t *t); /* "lead_id" */
const char *sb_evtype_json(const sb_evtype_t *t);    /* the .avsc text */
/* The field its "sb.changeList" names ("changed_fields"), or NULL. */
const char *sb_evtype_change_list(const sb_evtype_t *t);
/* Its "sb.dataSubjectPrefix" ("provider:"), or NULL: an event of the type
 * that names no lead nor data subject has its PII sealed under the data
 * subject prefix + subject (sb_pii_seal_events), so a provider account's
 * credentials never share a key with a person whose id is the same. */
const char *sb_evtype_data_subject_prefix(const sb_evtype_t *t);
/* The attributes of a field path, or NULL. */
const sb_fieldattr_t *sb_evtype_attr(const sb_evtype_t *t, const char *path);
/* Every field's attributes, in schema order (records before their
 * fields): for i < sb_evtype_nattrs(t). */
size_t sb_evtype_nattrs(const sb_evtype_t *t);
const sb_fieldattr_t *sb_evtype_attr_at(const sb_evtype_t *t, size_t i);
/* 1 when some field of the type is sealed (sb.pii). */
int sb_evtype_has_pii(const sb_evtype_t *t);
/* The attributes PII handling looks at, in schema order: sealed fields,
 * sb.match fields and their _hmac siblings (*n of them; NULL when none). */
const sb_fieldattr_t *const *sb_evtype_pii_attrs(const sb_evtype_t *t,
                                                 size_t *n);
/* The avro_schema_t (as void *: only the codec includes avro.h). */
void *sb_evtype_avro(const sb_evtype_t *t);

#endif
