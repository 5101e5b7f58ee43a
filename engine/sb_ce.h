/* The CloudEvents protocol bindings around the codec: a binary-mode event
 * (attributes in headers, the data as the body) turned into the structured
 * form sb_codec_from_ce reads, for HTTP (ce-* headers, percent-encoded
 * values, CloudEvents HTTP binding 1.0 section 3.1.3) and for Kafka (ce_*
 * headers, UTF-8 values, Kafka binding 1.0 section 3.2.3); and the
 * Kafka-binding headers of a record we write (sb_producer.c). The ids
 * (SB_CE_ID_MAX, sb_ce_event_id) are in sb_codec.h. */
#ifndef SB_CE_H
#define SB_CE_H

#include "sb_err.h"

#include <cjson/cJSON.h>
#include <stddef.h>

/* A header as the binding hands it: name NUL-terminated, value len bytes. */
typedef struct sb_ce_header_s {
  const char *name;
  const char *value;
  size_t len;
} sb_ce_header_t;

typedef enum {
  SB_CE_HTTP,  /* "ce-" prefix, case-insensitive names, percent-decoding */
  SB_CE_KAFKA, /* "ce_" prefix, names as written, values as UTF-8 */
} sb_ce_binding_t;

#define SB_CE_ATTR_MAX 4096 /* bytes of one attribute value, decoded */

/* 1 when the headers carry a binary-mode event (a specversion header). */
int sb_ce_is_binary(sb_ce_binding_t b, const sb_ce_header_t *h, size_t n);

/* The event of a binary-mode message as a structured CloudEvent: every
 * prefixed header an attribute (the name lowercased for HTTP; the value
 * percent-decoded for HTTP, which must then be UTF-8), content_type its
 * datacontenttype and body, parsed as JSON, its data. The data must be a
 * JSON object under a JSON media type (application/json or a "+json"
 * suffix); an empty body is no data. Refused (SB_EVALIDATE naming the
 * header): a missing specversion, id, source or type; a repeated
 * attribute; a value past SB_CE_ATTR_MAX; a bad %-escape; ce-data or
 * ce-datacontenttype (the body and Content-Type carry those). A body that
 * is not JSON is SB_EVALIDATE too, another media type SB_EINVAL.
 * Unknown extension attributes are handed on: sb_codec_from_ce says which
 * it keeps. *out is owned by the caller (cJSON_Delete). */
int sb_ce_from_binary(sb_ce_binding_t b, const sb_ce_header_t *h, size_t n,
                      const char *content_type, const char *body,
                      size_t body_len, cJSON **out, sb_err_t *err);

/* Percent-decodes in[0..len) into out (at least len + 1 bytes), NUL
 * terminated: 0 and *out_len, or -1 on a '%' not followed by two hex
 * digits, a decoded NUL or control character, or bytes that are not
 * UTF-8. */
int sb_ce_percent_decode(const char *in, size_t len, char *out,
                         size_t *out_len);

#endif
