/* A read-only Confluent Schema Registry API over the compiled-in schemas
 * (schemas/manifest.tsv and its .avsc files), so that Confluent's
 * serializers and deserializers resolve the ids of our wire format, served
 * under /schema-registry/ (the base URL a client is given).
 *
 * Subjects follow RecordNameStrategy: one subject per event type, named by
 * its record's full name ("switchboard.events.LeadCreated"); its versions
 * are the type's schemas in the order of their ids (version 1 the lowest).
 * Compatibility is BACKWARD_TRANSITIVE: the newest schema of a type reads
 * every older one (the codec reads every record as the newest).
 *
 *   GET  schemas/types                     ["AVRO"]
 *   GET  schemas/ids/ID[/schema][?subject=S]
 *   GET  subjects[?subjectPrefix=P]
 *   GET  subjects/S/versions
 *   GET  subjects/S/versions/V|latest[/schema]
 *   POST subjects/S                         the version of a schema held
 *   POST subjects/                          the same, of any subject
 *   POST subjects/S/versions                registers nothing: the id of a
 *                                           schema held, else 42205
 *   POST compatibility/subjects/S/versions[/V|latest]
 *   GET  config, config/S, mode
 *
 * Answers are application/vnd.schemaregistry.v1+json; errors
 * {"error_code": 40403, "message": "..."} as Confluent's. */
#ifndef SB_API_REGISTRY_H
#define SB_API_REGISTRY_H

#include "sb_err.h"
#include "sb_http.h"
#include "sb_ingest.h"

#include <stddef.h>

#define SB_REGISTRY_PREFIX "/schema-registry/"
#define SB_REGISTRY_TYPE "application/vnd.schemaregistry.v1+json"

typedef struct sb_registry_s sb_registry_t;

/* Loads the compiled-in schemas and groups them into subjects. SB_EINVAL
 * when two event types share a record name, or one type's schemas name
 * two records. *out is owned by the caller. */
int sb_registry_new(sb_registry_t **out, sb_err_t *err);
/* The same over schemas (taken, freed with the registry or on failure). */
struct sb_schemas_s;
int sb_registry_new_from(struct sb_schemas_s *schemas, sb_registry_t **out,
                         sb_err_t *err);
void sb_registry_free(sb_registry_t *g);

/* One answer: status, body (malloc'd, the caller frees), content type. */
typedef struct sb_registry_answer_s {
  int status;
  char *body;
  size_t len;
  const char *type;
} sb_registry_answer_t;

/* Answers a request whose path is rel (after SB_REGISTRY_PREFIX, e.g.
 * "schemas/ids/1", not decoded), query (may be "") and body. Pure: no I/O.
 * 0, or SB_ENOMEM with nothing answered. */
int sb_registry_answer(const sb_registry_t *g, const char *method,
                       const char *rel, const char *query, const char *body,
                       size_t len, sb_registry_answer_t *out);

/* The route's handler: authenticates (a token as the password of Basic
 * auth, as Confluent's clients send basic.auth.user.info, or as a Bearer
 * token; any role of any tenant) through in, then answers. */
void sb_registry_handle(sb_http_req_t *r, const sb_registry_t *g,
                        sb_ingest_t *in);

#endif
