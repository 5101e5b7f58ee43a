/* The Schema Registry API (sb_api_registry.h): subjects built once from the
 * compiled-in schemas, answers computed from them without I/O. */
#include "sb_api_registry.h"

#include "sb_api_read.h"
#include "sb_api_read_int.h"
#include "sb_avsc.h"
#include "sb_schema.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_LEN 255 /* a subject's name, decoded */

typedef struct {
  char *name;                 /* the record's full name: the subject */
  const sb_evtype_t **vers;   /* by id, ascending: version i + 1 */
  char **canon;               /* their Parsing Canonical Forms */
  size_t n;
} subject_t;

struct sb_registry_s {
  sb_schemas_t *schemas;
  subject_t *subs; /* sorted by name */
  size_t n;
};

/* ---- building ------------------------------------------------------------ */

/* The full name of the record of a schema text, malloc'd; NULL when it has
 * none. */
static char *record_name(const char *json) {
  cJSON *root = cJSON_Parse(json);
  const cJSON *name = cJSON_GetObjectItemCaseSensitive(root, "name");
  const cJSON *ns = cJSON_GetObjectItemCaseSensitive(root, "namespace");
  char *out = NULL;
  if (cJSON_IsString(name)) {
    size_t n = strlen(name->valuestring) + 2 +
               (cJSON_IsString(ns) ? strlen(ns->valuestring) : 0);
    if ((out = malloc(n)) != NULL) {
      if (strchr(name->valuestring, '.') || !cJSON_IsString(ns) ||
          !*ns->valuestring)
        snprintf(out, n, "%s", name->valuestring);
      else
        snprintf(out, n, "%s.%s", ns->valuestring, name->valuestring);
    }
  }
  cJSON_Delete(root);
  return out;
}

static int by_name(const void *a, const void *b) {
  return strcmp(((const subject_t *)a)->name, ((const subject_t *)b)->name);
}

static int by_id(const void *a, const void *b) {
  int x = sb_evtype_id(*(const sb_evtype_t *const *)a),
      y = sb_evtype_id(*(const sb_evtype_t *const *)b);
  return (x > y) - (x < y);
}

static subject_t *find_subject(const sb_registry_t *g, const char *name) {
  subject_t key = {.name = (char *)name};
  return bsearch(&key, g->subs, g->n, sizeof *g->subs, by_name);
}

/* Adds schema t to its subject (name: its record's). */
static int add_version(sb_registry_t *g, const sb_evtype_t *t, char *name,
                       sb_err_t *err) {
  subject_t *s = NULL;
  for (size_t i = 0; i < g->n; i++)
    if (strcmp(g->subs[i].name, name) == 0)
      s = &g->subs[i];
  if (s != NULL) {
    free(name);
    if (strcmp(sb_evtype_name(s->vers[0]), sb_evtype_name(t)) != 0)
      return sb_err_set(err, SB_EINVAL, "schema registry: %s and %s share "
                        "the record name %s (a subject is one event type)",
                        sb_evtype_name(s->vers[0]), sb_evtype_name(t), s->name);
  } else {
    for (size_t i = 0; i < g->n; i++)
      if (strcmp(sb_evtype_name(g->subs[i].vers[0]), sb_evtype_name(t)) == 0) {
        sb_err_set(err, SB_EINVAL, "schema registry: the schemas of %s name "
                   "two records, %s and %s", sb_evtype_name(t),
                   g->subs[i].name, name);
        free(name);
        return SB_EINVAL;
      }
    subject_t *ns = realloc(g->subs, (g->n + 1) * sizeof *ns);
    if (ns == NULL) {
      free(name);
      return sb_err_set(err, SB_ENOMEM, "out of memory");
    }
    g->subs = ns;
    s = &g->subs[g->n++];
    memset(s, 0, sizeof *s);
    s->name = name;
  }
  const sb_evtype_t **nv = realloc(s->vers, (s->n + 1) * sizeof *nv);
  if (nv == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  s->vers = nv;
  s->vers[s->n++] = t;
  return 0;
}

int sb_registry_new(sb_registry_t **out, sb_err_t *err) {
  sb_schemas_t *s = NULL;
  *out = NULL;
  int rc = sb_schemas_load(&s, err);
  return rc == 0 ? sb_registry_new_from(s, out, err) : rc;
}

int sb_registry_new_from(sb_schemas_t *schemas, sb_registry_t **out,
                         sb_err_t *err) {
  *out = NULL;
  sb_registry_t *g = calloc(1, sizeof *g);
  if (g == NULL) {
    sb_schemas_free(schemas);
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  }
  g->schemas = schemas; /* ownership moved */
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < sb_schemas_count(g->schemas); i++) {
    const sb_evtype_t *t = sb_schemas_at(g->schemas, i);
    char *name = record_name(sb_evtype_json(t));
    rc = name ? add_version(g, t, name, err)
              : sb_err_set(err, SB_EINVAL, "schema registry: schema %d has "
                           "no record name", sb_evtype_id(t));
  }
  for (size_t i = 0; rc == 0 && i < g->n; i++) {
    subject_t *s = &g->subs[i];
    qsort(s->vers, s->n, sizeof *s->vers, by_id);
    if ((s->canon = calloc(s->n, sizeof *s->canon)) == NULL)
      rc = sb_err_set(err, SB_ENOMEM, "out of memory");
    for (size_t v = 0; rc == 0 && v < s->n; v++) {
      const char *j = sb_evtype_json(s->vers[v]);
      rc = sb_avsc_canonical(j, strlen(j), &s->canon[v], err);
    }
  }
  if (rc == 0)
    qsort(g->subs, g->n, sizeof *g->subs, by_name);
  if (rc != 0) {
    sb_registry_free(g);
    return rc;
  }
  *out = g;
  return 0;
}

void sb_registry_free(sb_registry_t *g) {
  if (g == NULL)
    return;
  for (size_t i = 0; i < g->n; i++) {
    for (size_t v = 0; g->subs[i].canon && v < g->subs[i].n; v++)
      free(g->subs[i].canon[v]);
    free(g->subs[i].canon);
    free(g->subs[i].vers);
    free(g->subs[i].name);
  }
  free(g->subs);
  sb_schemas_free(g->schemas);
  free(g);
}

/* ---- answers ------------------------------------------------------------- */

static int answer_json(sb_registry_answer_t *a, int status, cJSON *o) {
  a->status = status;
  a->type = SB_REGISTRY_TYPE;
  a->body = o ? cJSON_PrintUnformatted(o) : NULL;
  cJSON_Delete(o);
  if (a->body == NULL)
    return SB_ENOMEM;
  a->len = strlen(a->body);
  return 0;
}

static int fail(sb_registry_answer_t *a, int status, int code, const char *fmt,
                const char *arg) {
  char msg[600];
  snprintf(msg, sizeof msg, fmt, arg);
  cJSON *o = cJSON_CreateObject();
  if (o == NULL || !cJSON_AddNumberToObject(o, "error_code", code) ||
      !cJSON_AddStringToObject(o, "message", msg)) {
    cJSON_Delete(o);
    return SB_ENOMEM;
  }
  return answer_json(a, status, o);
}

/* The schema text itself (GET .../schema). */
static int answer_raw(sb_registry_answer_t *a, const sb_evtype_t *t) {
  a->status = 200;
  a->type = SB_REGISTRY_TYPE;
  if ((a->body = strdup(sb_evtype_json(t))) == NULL)
    return SB_ENOMEM;
  a->len = strlen(a->body);
  return 0;
}

/* {"subject", "version", "id", "schema"} */
static int answer_version(sb_registry_answer_t *a, const subject_t *s,
                          size_t v) {
  cJSON *o = cJSON_CreateObject();
  if (o == NULL || !cJSON_AddStringToObject(o, "subject", s->name) ||
      !cJSON_AddNumberToObject(o, "version", (double)(v + 1)) ||
      !cJSON_AddNumberToObject(o, "id", sb_evtype_id(s->vers[v])) ||
      !cJSON_AddStringToObject(o, "schema", sb_evtype_json(s->vers[v]))) {
    cJSON_Delete(o);
    return SB_ENOMEM;
  }
  return answer_json(a, 200, o);
}

/* The next path segment of *p, percent-decoded into out: its length, -1
 * when bad or too long, 0 at the end. */
static int segment(const char **p, char *out, size_t cap) {
  while (**p == '/')
    (*p)++;
  const char *end = strchr(*p, '/');
  size_t n = end ? (size_t)(end - *p) : strlen(*p);
  if (n == 0)
    return 0;
  int len = sb_rdq_url_decode(*p, n, out, cap);
  *p += n;
  return len <= 0 ? -1 : len;
}

/* "latest" or -1 -> the newest; 1..n. *v the index; -1 invalid, -2 not
 * found. */
static int parse_version(const subject_t *s, const char *txt, size_t *v) {
  if (strcmp(txt, "latest") == 0 || strcmp(txt, "-1") == 0) {
    *v = s->n - 1;
    return 0;
  }
  char *end = NULL;
  long long n = txt[0] >= '0' && txt[0] <= '9' ? strtoll(txt, &end, 10) : -1;
  if (end == NULL || *end != '\0' || n < 1 || n > 2147483647LL)
    return -1;
  if ((size_t)n > s->n)
    return -2;
  *v = (size_t)n - 1;
  return 0;
}

static int version_error(sb_registry_answer_t *a, int why, const char *txt) {
  return why == -1 ? fail(a, 422, 42202, "The specified version '%.200s' is "
                          "not a valid version id. Allowed values are between "
                          "[1, 2^31-1] and the string \"latest\"", txt)
                   : fail(a, 404, 40402, "Version %.200s not found.", txt);
}

/* The schema text of a request body ({"schema": "...", "schemaType",
 * "references"}), malloc'd; NULL when answered 400 / 422 (*rc 0) or out
 * of memory (*rc SB_ENOMEM). */
static char *body_schema(sb_registry_answer_t *a, const char *body, size_t len,
                         int *rc) {
  cJSON *doc = body && len ? cJSON_ParseWithLength(body, len) : NULL;
  const cJSON *s = cJSON_GetObjectItemCaseSensitive(doc, "schema");
  const cJSON *ty = cJSON_GetObjectItemCaseSensitive(doc, "schemaType");
  const cJSON *refs = cJSON_GetObjectItemCaseSensitive(doc, "references");
  char *text = NULL;
  if (!cJSON_IsObject(doc))
    *rc = fail(a, 400, 400, "the body must be a JSON object with \"schema\": "
               "the schema's text%s", "");
  else if (!cJSON_IsString(s))
    *rc = fail(a, 422, 42201, "Invalid schema: \"schema\" must be the "
               "schema's text, a string%s", "");
  else if (ty != NULL && !cJSON_IsNull(ty) &&
           !(cJSON_IsString(ty) && strcmp(ty->valuestring, "AVRO") == 0))
    *rc = fail(a, 422, 42201, "Invalid schema: schemaType %.100s: this "
               "registry holds AVRO schemas only",
               cJSON_IsString(ty) ? ty->valuestring : "(not a string)");
  else if (refs != NULL && !cJSON_IsNull(refs) &&
           !(cJSON_IsArray(refs) && cJSON_GetArraySize(refs) == 0))
    *rc = fail(a, 422, 42201, "Invalid schema: references are not supported "
               "(every schema here stands alone)%s", "");
  else if ((text = strdup(s->valuestring)) == NULL)
    *rc = SB_ENOMEM;
  cJSON_Delete(doc);
  return text;
}

/* POST subjects/S and subjects/S/versions: the newest version whose
 * canonical form is the held schema's; s NULL (POST subjects/, as
 * Confluent's serializer asks with RecordNameStrategy and no schema of
 * its own): of any subject. */
static int lookup(sb_registry_answer_t *a, const sb_registry_t *g,
                  const subject_t *s, int register_, const char *body,
                  size_t len) {
  int rc = 0;
  char *text = body_schema(a, body, len, &rc);
  if (text == NULL)
    return rc;
  sb_err_t err = SB_ERR_INIT;
  char *canon = NULL;
  rc = sb_avsc_canonical(text, strlen(text), &canon, &err);
  free(text);
  if (rc != 0)
    return rc == SB_ENOMEM ? SB_ENOMEM
                           : fail(a, 422, 42201, "Invalid schema: %s", err.msg);
  const subject_t *hit = NULL;
  size_t hv = 0;
  for (size_t i = 0; i < (s ? 1 : g->n); i++) {
    const subject_t *t = s ? s : &g->subs[i];
    for (size_t v = t->n; v-- > 0;)
      if (strcmp(t->canon[v], canon) == 0) {
        if (hit == NULL || sb_evtype_id(t->vers[v]) > sb_evtype_id(hit->vers[hv]))
          hit = t, hv = v;
        break;
      }
  }
  free(canon);
  if (hit == NULL)
    return register_ ? fail(a, 422, 42205, "Subject %.200s is in read-only "
                            "mode: Switchboard's schemas come with its "
                            "release (schemas/manifest.tsv)",
                            s ? s->name : "(none)")
                     : fail(a, 404, 40403, "Schema not found%s", "");
  if (!register_)
    return answer_version(a, hit, hv);
  cJSON *o = cJSON_CreateObject();
  if (o == NULL ||
      !cJSON_AddNumberToObject(o, "id", sb_evtype_id(hit->vers[hv]))) {
    cJSON_Delete(o);
    return SB_ENOMEM;
  }
  return answer_json(a, 200, o);
}

/* POST compatibility/subjects/S/versions[/V]: can the posted schema read
 * what version V (or every version) wrote? */
static int compatibility(sb_registry_answer_t *a, const subject_t *s,
                         const char *vtxt, const char *body, size_t len) {
  size_t from = 0, to = s->n, v;
  if (vtxt != NULL) {
    int why = parse_version(s, vtxt, &v);
    if (why != 0)
      return version_error(a, why, vtxt);
    from = v, to = v + 1;
  }
  int rc = 0;
  char *text = body_schema(a, body, len, &rc);
  if (text == NULL)
    return rc;
  cJSON *o = cJSON_CreateObject();
  cJSON *msgs = cJSON_CreateArray();
  int ok = 1;
  for (size_t i = from; rc == 0 && i < to; i++) {
    sb_err_t err = SB_ERR_INIT;
    char why[400], line[512];
    const char *w = sb_evtype_json(s->vers[i]);
    int r = sb_avsc_can_read(w, strlen(w), text, strlen(text), why,
                             sizeof why, &err);
    if (r < 0) {
      rc = err.code == SB_ENOMEM ? SB_ENOMEM
                                 : fail(a, 422, 42201, "Invalid schema: %s",
                                        err.msg);
      free(text);
      cJSON_Delete(o);
      cJSON_Delete(msgs);
      return rc;
    }
    if (r == 0) {
      ok = 0;
      snprintf(line, sizeof line, "cannot read version %zu (id %d): %s", i + 1,
               sb_evtype_id(s->vers[i]), why);
      cJSON_AddItemToArray(msgs, cJSON_CreateString(line));
    }
  }
  free(text);
  if (o == NULL || msgs == NULL ||
      !cJSON_AddBoolToObject(o, "is_compatible", ok) ||
      !cJSON_AddItemToObject(o, "messages", msgs)) {
    cJSON_Delete(o);
    cJSON_Delete(msgs);
    return SB_ENOMEM;
  }
  return answer_json(a, 200, o);
}

static int subjects_list(sb_registry_answer_t *a, const sb_registry_t *g,
                         const char *query) {
  char prefix[NAME_MAX_LEN + 1] = "";
  if (sb_api_query_param(query, "subjectPrefix", prefix, sizeof prefix) < 0)
    return fail(a, 400, 400, "subjectPrefix: a bad escape or longer than "
                "255 bytes%s", "");
  cJSON *arr = cJSON_CreateArray();
  for (size_t i = 0; arr && i < g->n; i++)
    if (strncmp(g->subs[i].name, prefix, strlen(prefix)) == 0 &&
        !cJSON_AddItemToArray(arr, cJSON_CreateString(g->subs[i].name))) {
      cJSON_Delete(arr);
      return SB_ENOMEM;
    }
  return arr ? answer_json(a, 200, arr) : SB_ENOMEM;
}

static int one_string(sb_registry_answer_t *a, const char *key,
                      const char *value) {
  cJSON *o = cJSON_CreateObject();
  if (o == NULL || !cJSON_AddStringToObject(o, key, value)) {
    cJSON_Delete(o);
    return SB_ENOMEM;
  }
  return answer_json(a, 200, o);
}

static int by_id_answer(sb_registry_answer_t *a, const sb_registry_t *g,
                        const char *idtxt, const char *rest) {
  char *end = NULL;
  long long id = idtxt[0] >= '0' && idtxt[0] <= '9' ? strtoll(idtxt, &end, 10)
                                                    : -1;
  const sb_evtype_t *t = end && *end == '\0' && id <= 2147483647LL
                             ? sb_schemas_by_id(g->schemas, (int)id)
                             : NULL;
  if (t == NULL)
    return fail(a, 404, 40403, "Schema %.100s not found", idtxt);
  if (strcmp(rest, "schema") == 0)
    return answer_raw(a, t);
  return one_string(a, "schema", sb_evtype_json(t));
}

static int not_found(sb_registry_answer_t *a, const char *rel) {
  return fail(a, 404, 404, "HTTP 404 Not Found: no such registry endpoint "
              "'%.200s' (see GET /v1/openapi.json)", rel);
}

int sb_registry_answer(const sb_registry_t *g, const char *method,
                       const char *rel, const char *query, const char *body,
                       size_t len, sb_registry_answer_t *out) {
  memset(out, 0, sizeof *out);
  int get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
  char seg[6][NAME_MAX_LEN + 1];
  int n = 0;
  const char *p = rel;
  for (int l; n < 6 && (l = segment(&p, seg[n], sizeof seg[n])) != 0; n++)
    if (l < 0)
      return fail(out, 404, 404, "a path segment has a bad escape, a "
                  "control character or more than 255 bytes%s", "");
  if (*p && strspn(p, "/") != strlen(p))
    return not_found(out, rel);
  if (!get && !post)
    return fail(out, 405, 405, "HTTP 405 Method Not Allowed: %.20s (this "
                "registry is read-only)", method);

  if (get && n == 2 && strcmp(seg[0], "schemas") == 0 &&
      strcmp(seg[1], "types") == 0) {
    cJSON *arr = cJSON_CreateArray();
    if (arr == NULL || !cJSON_AddItemToArray(arr, cJSON_CreateString("AVRO"))) {
      cJSON_Delete(arr);
      return SB_ENOMEM;
    }
    return answer_json(out, 200, arr);
  }
  if (get && (n == 3 || (n == 4 && strcmp(seg[3], "schema") == 0)) &&
      strcmp(seg[0], "schemas") == 0 && strcmp(seg[1], "ids") == 0)
    return by_id_answer(out, g, seg[2], n == 4 ? seg[3] : "");
  if (get && n == 1 && strcmp(seg[0], "subjects") == 0)
    return subjects_list(out, g, query);
  if (post && n == 1 && strcmp(seg[0], "subjects") == 0)
    return lookup(out, g, NULL, 0, body, len);
  if (get && n == 1 && strcmp(seg[0], "config") == 0)
    return one_string(out, "compatibilityLevel", "BACKWARD_TRANSITIVE");
  if (get && n == 1 && strcmp(seg[0], "mode") == 0)
    return one_string(out, "mode", "READONLY");

  const subject_t *s = NULL;
  int at = n >= 2 && strcmp(seg[0], "subjects") == 0   ? 1
           : n >= 2 && strcmp(seg[0], "config") == 0   ? 1
           : n >= 3 && strcmp(seg[0], "compatibility") == 0 &&
                   strcmp(seg[1], "subjects") == 0
               ? 2
               : -1;
  if (at < 0)
    return not_found(out, rel);
  if ((s = find_subject(g, seg[at])) == NULL)
    return fail(out, 404, 40401, "Subject '%.255s' not found.", seg[at]);
  if (strcmp(seg[0], "config") == 0 && get && n == 2)
    return one_string(out, "compatibilityLevel", "BACKWARD_TRANSITIVE");
  if (strcmp(seg[0], "compatibility") == 0) {
    if (post && n >= 4 && n <= 5 && strcmp(seg[3], "versions") == 0)
      return compatibility(out, s, n == 5 ? seg[4] : NULL, body, len);
    return not_found(out, rel);
  }
  if (strcmp(seg[0], "subjects") != 0)
    return not_found(out, rel);
  if (post && n == 2)
    return lookup(out, g, s, 0, body, len);
  if (post && n == 3 && strcmp(seg[2], "versions") == 0)
    return lookup(out, g, s, 1, body, len);
  if (!get || n < 3 || strcmp(seg[2], "versions") != 0)
    return not_found(out, rel);
  if (n == 3) {
    cJSON *arr = cJSON_CreateArray();
    for (size_t v = 0; arr && v < s->n; v++)
      if (!cJSON_AddItemToArray(arr, cJSON_CreateNumber((double)(v + 1)))) {
        cJSON_Delete(arr);
        return SB_ENOMEM;
      }
    return arr ? answer_json(out, 200, arr) : SB_ENOMEM;
  }
  if (n > 5 || (n == 5 && strcmp(seg[4], "schema") != 0))
    return not_found(out, rel);
  size_t v;
  int why = parse_version(s, seg[3], &v);
  if (why != 0)
    return version_error(out, why, seg[3]);
  return n == 5 ? answer_raw(out, s->vers[v]) : answer_version(out, s, v);
}
