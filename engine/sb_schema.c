#include "sb_schema.h"

#include "sb_pii.h"
#include "sb_topics.h"
#include "sb_util.h"

#include <avro.h>
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

extern const sb_file_t sb_schema_files[];
extern const size_t sb_schema_files_n;

struct sb_evtype_s {
  int id;
  size_t ix; /* its index in the registry */
  char *type, *topic, *subject;
  char *change_list; /* "sb.changeList", or NULL */
  char *data_subject_prefix; /* "sb.dataSubjectPrefix", or NULL */
  const char *json; /* borrowed from the compiled-in file */
  avro_schema_t schema;
  sb_fieldattr_t *attrs;
  size_t nattrs;
  int has_pii; /* some field is sealed */
  const sb_fieldattr_t **pii; /* sealed, matched and _hmac attributes */
  size_t npii;
};

struct sb_schemas_s {
  sb_evtype_t *types;
  size_t n;
};

static const sb_file_t *find_file(const sb_file_t *files, size_t n,
                                  const char *name) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(files[i].name, name) == 0)
      return &files[i];
  return NULL;
}

static int add_attr(sb_evtype_t *t, const char *path, const cJSON *field,
                    bool ts, bool in_pii, sb_err_t *err) {
  sb_fieldattr_t *a = realloc(t->attrs, (t->nattrs + 1) * sizeof *a);
  if (a == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  t->attrs = a;
  a = &t->attrs[t->nattrs];
  memset(a, 0, sizeof *a);
  if ((a->path = strdup(path)) == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  t->nattrs++;
  const cJSON *v;
  if ((v = cJSON_GetObjectItemCaseSensitive(field, "sb.maxLength")) &&
      cJSON_IsNumber(v))
    a->max_length = v->valueint;
  if ((v = cJSON_GetObjectItemCaseSensitive(field, "sb.maxItems")) &&
      cJSON_IsNumber(v))
    a->max_items = v->valueint;
  a->pii = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(field, "sb.pii"));
  a->sealed = a->pii || in_pii;
  if ((v = cJSON_GetObjectItemCaseSensitive(field, "sb.match")) != NULL) {
    static const char *const kinds[] = {NULL, "phone", "email", "address"};
    for (size_t i = 1; cJSON_IsString(v) && i < SB_ARRAY_LEN(kinds); i++)
      if (strcmp(v->valuestring, kinds[i]) == 0)
        a->match = (int)i;
    if (a->match == 0 || !a->pii)
      return sb_err_set(err, SB_EINVAL, "schemas: %s: %s: sb.match must be "
                        "\"phone\", \"email\" or \"address\", on an sb.pii "
                        "field", t->type ? t->type : "?", path);
  }
  if ((v = cJSON_GetObjectItemCaseSensitive(field, "sb.matchBy")) != NULL) {
    if (!cJSON_IsString(v) || v->valuestring[0] == '\0' ||
        strchr(v->valuestring, '.') != NULL || a->match != SB_PII_MATCH_ADDRESS)
      return sb_err_set(err, SB_EINVAL, "schemas: %s: %s: sb.matchBy must "
                        "name a sibling field, on an sb.match \"address\" "
                        "field", t->type ? t->type : "?", path);
    if ((a->match_by = strdup(v->valuestring)) == NULL)
      return sb_err_set(err, SB_ENOMEM, "out of memory");
  }
  a->not_clearable =
      cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(field, "sb.notClearable"));
  if ((v = cJSON_GetObjectItemCaseSensitive(field, "sb.format")) != NULL) {
    static const char *const formats[] = {NULL, "timezone", "currency",
                                          "locale"};
    for (size_t i = 1; cJSON_IsString(v) && i < SB_ARRAY_LEN(formats); i++)
      if (strcmp(v->valuestring, formats[i]) == 0)
        a->format = (sb_format_t)i;
    if (a->format == SB_FORMAT_NONE)
      return sb_err_set(err, SB_EINVAL, "schemas: %s: %s: sb.format must be "
                        "\"timezone\", \"currency\" or \"locale\"",
                        t->type ? t->type : "?", path);
  }
  if ((v = cJSON_GetObjectItemCaseSensitive(field, "sb.oneOf")) != NULL) {
    size_t len = 1;
    const cJSON *it;
    int bad = !cJSON_IsArray(v) || cJSON_GetArraySize(v) == 0 || a->format;
    cJSON_ArrayForEach(it, v) {
      bad |= !cJSON_IsString(it) || it->valuestring[0] == '\0' ||
             strchr(it->valuestring, ',') != NULL;
      len += bad ? 0 : strlen(it->valuestring) + 2;
    }
    if (bad)
      return sb_err_set(err, SB_EINVAL,
                        "schemas: %s: %s: sb.oneOf must be a "
                        "non-empty array of names (without sb.format)",
                        t->type ? t->type : "?", path);
    if ((a->one_of = calloc(1, len)) == NULL)
      return sb_err_set(err, SB_ENOMEM, "out of memory");
    cJSON_ArrayForEach(it, v) {
      if (a->one_of[0])
        strcat(a->one_of, ", ");
      strcat(a->one_of, it->valuestring);
    }
    a->format = SB_FORMAT_ONE_OF;
  }
  if ((v = cJSON_GetObjectItemCaseSensitive(field, "sb.minimum")) != NULL) {
    if (!cJSON_IsNumber(v) || v->valuedouble != (double)(int64_t)v->valuedouble)
      return sb_err_set(err, SB_EINVAL,
                        "schemas: %s: %s: sb.minimum must be "
                        "an integer",
                        t->type ? t->type : "?", path);
    a->has_min = true;
    a->min = (int64_t)v->valuedouble;
  }
  if ((v = cJSON_GetObjectItemCaseSensitive(field, "sb.maximum")) != NULL) {
    if (!cJSON_IsNumber(v) || v->valuedouble != (double)(int64_t)v->valuedouble)
      return sb_err_set(err, SB_EINVAL,
                        "schemas: %s: %s: sb.maximum must be "
                        "an integer",
                        t->type ? t->type : "?", path);
    a->has_max = true;
    a->max = (int64_t)v->valuedouble;
  }
  const cJSON *def = cJSON_GetObjectItemCaseSensitive(field, "default");
  if (def != NULL && (a->default_json = cJSON_PrintUnformatted(def)) == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  a->timestamp_micros = ts;
  return 0;
}

/* Unwraps ["null", T] to T. */
static const cJSON *non_null(const cJSON *type) {
  if (!cJSON_IsArray(type))
    return type;
  const cJSON *b;
  cJSON_ArrayForEach(b, type) if (!(cJSON_IsString(b) &&
                                    strcmp(b->valuestring, "null") == 0)) return b;
  return type;
}

/* Records the attributes of every field of a record, recursing into nested
 * records. */
static int walk_fields(sb_evtype_t *t, const cJSON *record, const char *prefix,
                       bool in_pii, sb_err_t *err) {
  const cJSON *fields = cJSON_GetObjectItemCaseSensitive(record, "fields");
  const cJSON *f;
  cJSON_ArrayForEach(f, fields) {
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(f, "name");
    if (!cJSON_IsString(name))
      continue;
    char path[256];
    if (sb_fmt(path, sizeof path, err, "%s%s%s", prefix, *prefix ? "." : "",
               name->valuestring) != 0)
      return SB_EINVAL;
    const cJSON *type = non_null(cJSON_GetObjectItemCaseSensitive(f, "type"));
    const cJSON *logical = cJSON_IsObject(type)
                               ? cJSON_GetObjectItemCaseSensitive(type, "logicalType")
                               : NULL;
    bool ts = cJSON_IsString(logical) &&
              strcmp(logical->valuestring, "timestamp-micros") == 0;
    int rc = add_attr(t, path, f, ts, in_pii, err);
    if (rc != 0)
      return rc;
    const cJSON *kind = cJSON_IsObject(type)
                            ? cJSON_GetObjectItemCaseSensitive(type, "type")
                            : NULL;
    if (cJSON_IsString(kind) && strcmp(kind->valuestring, "record") == 0 &&
        walk_fields(t, type, path,
                    in_pii || t->attrs[t->nattrs - 1].pii, err) != 0)
      return SB_EINVAL;
  }
  return 0;
}

static const char *str_attr(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int load_type(const sb_file_t *files, size_t nfiles, sb_evtype_t *t,
                     int id, const char *type, const char *file,
                     sb_err_t *err) {
  const sb_file_t *f = find_file(files, nfiles, file);
  if (f == NULL)
    return sb_err_set(err, SB_ENOENT, "schemas: manifest names %s, which is "
                                      "missing", file);
  t->id = id;
  t->json = f->data;
  if (avro_schema_from_json_length(f->data, f->len, &t->schema) != 0)
    return sb_err_set(err, SB_EINVAL, "schemas: %s: %s", file, avro_strerror());
  cJSON *root = cJSON_ParseWithLength(f->data, f->len);
  if (root == NULL)
    return sb_err_set(err, SB_EINVAL, "schemas: %s is not JSON", file);
  int rc = 0;
  const char *sbtype = str_attr(root, "sb.type");
  const char *topic = str_attr(root, "sb.topic");
  const char *subject = str_attr(root, "sb.subject");
  if (sbtype == NULL || strcmp(sbtype, type) != 0) {
    rc = sb_err_set(err, SB_EINVAL, "schemas: %s: sb.type is not '%s'", file,
                    type);
    goto out;
  }
  int known_topic = 0;
  for (size_t i = 0; topic && i < sb_topics_n; i++)
    known_topic |= strcmp(topic, sb_topics[i]) == 0;
  if (!known_topic || subject == NULL) {
    rc = sb_err_set(err, SB_EINVAL, "schemas: %s: needs a known sb.topic and "
                                    "an sb.subject", file);
    goto out;
  }
  avro_schema_t sf = avro_schema_record_field_get(t->schema, subject);
  if (sf == NULL || !is_avro_string(sf)) {
    rc = sb_err_set(err, SB_EINVAL, "schemas: %s: sb.subject '%s' is not a "
                                    "required string field", file, subject);
    goto out;
  }
  t->type = strdup(type);
  t->topic = strdup(topic);
  t->subject = strdup(subject);
  if (!t->type || !t->topic || !t->subject) {
    rc = sb_err_set(err, SB_ENOMEM, "out of memory");
    goto out;
  }
  const char *cl = str_attr(root, "sb.changeList");
  if (cl != NULL) {
    avro_schema_t cf = avro_schema_record_field_get(t->schema, cl);
    if (cf == NULL || !is_avro_array(cf)) {
      rc = sb_err_set(err, SB_EINVAL, "schemas: %s: sb.changeList '%s' is "
                      "not a required array field", file, cl);
      goto out;
    }
    if ((t->change_list = strdup(cl)) == NULL) {
      rc = sb_err_set(err, SB_ENOMEM, "out of memory");
      goto out;
    }
  }
  const char *dsp = str_attr(root, "sb.dataSubjectPrefix");
  if (dsp != NULL) {
    if (dsp[0] == '\0' || strlen(dsp) > 32) {
      rc = sb_err_set(err, SB_EINVAL, "schemas: %s: sb.dataSubjectPrefix "
                      "must be 1 to 32 characters", file);
      goto out;
    }
    if ((t->data_subject_prefix = strdup(dsp)) == NULL) {
      rc = sb_err_set(err, SB_ENOMEM, "out of memory");
      goto out;
    }
  }
  if ((rc = walk_fields(t, root, "", false, err)) != 0)
    goto out;
  /* a matched field has its <name>_hmac beside it */
  for (size_t i = 0; i < t->nattrs; i++) {
    if (t->attrs[i].sealed)
      t->has_pii = 1;
    if (!t->attrs[i].match)
      continue;
    char sib[300];
    snprintf(sib, sizeof sib, "%s_hmac", t->attrs[i].path);
    sb_fieldattr_t *h = (sb_fieldattr_t *)sb_evtype_attr(t, sib);
    if (h == NULL || h->sealed) {
      rc = sb_err_set(err, SB_EINVAL, "schemas: %s: %s has sb.match but no "
                      "field %s (a nullable string, not sb.pii) beside it",
                      file, t->attrs[i].path, sib);
      goto out;
    }
    h->is_hmac = true;
    if (t->attrs[i].match_by != NULL &&
        strchr(t->attrs[i].path, '.') == NULL &&
        sb_evtype_attr(t, t->attrs[i].match_by) == NULL) {
      rc = sb_err_set(err, SB_EINVAL, "schemas: %s: %s: sb.matchBy names "
                      "no field %s of the record", file, t->attrs[i].path,
                      t->attrs[i].match_by);
      goto out;
    }
  }
  for (size_t i = 0; i < t->nattrs; i++) {
    const sb_fieldattr_t *a = &t->attrs[i];
    if (!a->sealed && !a->match && !a->is_hmac)
      continue;
    const sb_fieldattr_t **np = realloc(t->pii, (t->npii + 1) * sizeof *np);
    if (np == NULL) {
      rc = sb_err_set(err, SB_ENOMEM, "out of memory");
      goto out;
    }
    t->pii = np;
    t->pii[t->npii++] = a;
  }
out:
  cJSON_Delete(root);
  return rc;
}

int sb_schemas_load(sb_schemas_t **out, sb_err_t *err) {
  return sb_schemas_load_files(sb_schema_files, sb_schema_files_n, out, err);
}

int sb_schemas_load_files(const sb_file_t *files, size_t nfiles,
                          sb_schemas_t **out, sb_err_t *err) {
  *out = NULL;
  const sb_file_t *manifest = find_file(files, nfiles, "manifest.tsv");
  if (manifest == NULL)
    return sb_err_set(err, SB_ENOENT, "schemas: manifest.tsv is missing");
  sb_schemas_t *s = calloc(1, sizeof *s);
  char *text = strdup(manifest->data);
  int rc = 0;
  if (s == NULL || text == NULL) {
    rc = sb_err_set(err, SB_ENOMEM, "out of memory");
    goto fail;
  }
  char *save = NULL;
  int lineno = 0;
  for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
    lineno++;
    if (lineno == 1 || *sb_trim(l) == '\0')
      continue; /* header */
    char *idtxt = l, *type = strchr(l, '\t'), *file = NULL;
    if (type)
      *type++ = '\0', file = strchr(type, '\t');
    if (file)
      *file++ = '\0';
    long long id;
    if (!type || !file || sb_parse_ll(idtxt, &id) != 0 || id <= 0 ||
        id > 1000000) {
      rc = sb_err_set(err, SB_EINVAL, "schemas: manifest.tsv line %d: expected "
                                      "id<TAB>type<TAB>file", lineno);
      goto fail;
    }
    sb_evtype_t *nt = realloc(s->types, (s->n + 1) * sizeof *nt);
    if (nt == NULL) {
      rc = sb_err_set(err, SB_ENOMEM, "out of memory");
      goto fail;
    }
    s->types = nt;
    memset(&s->types[s->n], 0, sizeof s->types[0]);
    s->n++;
    s->types[s->n - 1].ix = s->n - 1;
    if ((rc = load_type(files, nfiles, &s->types[s->n - 1], (int)id, type,
                        sb_trim(file), err)) != 0)
      goto fail;
    for (size_t i = 0; i + 1 < s->n; i++)
      if (s->types[i].id == (int)id) {
        rc = sb_err_set(err, SB_EINVAL, "schemas: id %lld is used twice", id);
        goto fail;
      }
  }
  free(text);
  *out = s;
  return 0;
fail:
  free(text);
  sb_schemas_free(s);
  return rc;
}

void sb_schemas_free(sb_schemas_t *s) {
  if (s == NULL)
    return;
  for (size_t i = 0; i < s->n; i++) {
    sb_evtype_t *t = &s->types[i];
    if (t->schema)
      avro_schema_decref(t->schema);
    for (size_t k = 0; k < t->nattrs; k++) {
      free(t->attrs[k].path);
      cJSON_free(t->attrs[k].default_json);
      free(t->attrs[k].one_of);
      free(t->attrs[k].match_by);
    }
    free(t->attrs);
    free(t->pii);
    free(t->type);
    free(t->topic);
    free(t->subject);
    free(t->change_list);
    free(t->data_subject_prefix);
  }
  free(s->types);
  free(s);
}

size_t sb_schemas_count(const sb_schemas_t *s) { return s->n; }

const sb_evtype_t *sb_schemas_at(const sb_schemas_t *s, size_t i) {
  return i < s->n ? &s->types[i] : NULL;
}

const sb_evtype_t *sb_schemas_by_type(const sb_schemas_t *s, const char *type) {
  const sb_evtype_t *best = NULL;
  for (size_t i = 0; i < s->n; i++)
    if (strcmp(s->types[i].type, type) == 0 &&
        (best == NULL || s->types[i].id > best->id))
      best = &s->types[i];
  return best;
}

const sb_evtype_t *sb_schemas_by_id(const sb_schemas_t *s, int id) {
  for (size_t i = 0; i < s->n; i++)
    if (s->types[i].id == id)
      return &s->types[i];
  return NULL;
}

int sb_evtype_id(const sb_evtype_t *t) { return t->id; }
size_t sb_evtype_index(const sb_evtype_t *t) { return t->ix; }
const char *sb_evtype_name(const sb_evtype_t *t) { return t->type; }
const char *sb_evtype_topic(const sb_evtype_t *t) { return t->topic; }
const char *sb_evtype_subject(const sb_evtype_t *t) { return t->subject; }
const char *sb_evtype_change_list(const sb_evtype_t *t) {
  return t->change_list;
}
const char *sb_evtype_data_subject_prefix(const sb_evtype_t *t) {
  return t->data_subject_prefix;
}
const char *sb_evtype_json(const sb_evtype_t *t) { return t->json; }
void *sb_evtype_avro(const sb_evtype_t *t) { return t->schema; }

size_t sb_evtype_nattrs(const sb_evtype_t *t) { return t->nattrs; }

const sb_fieldattr_t *sb_evtype_attr_at(const sb_evtype_t *t, size_t i) {
  return i < t->nattrs ? &t->attrs[i] : NULL;
}

int sb_evtype_has_pii(const sb_evtype_t *t) { return t->has_pii; }

const sb_fieldattr_t *const *sb_evtype_pii_attrs(const sb_evtype_t *t,
                                                 size_t *n) {
  *n = t->npii;
  return t->pii;
}

const sb_fieldattr_t *sb_evtype_attr(const sb_evtype_t *t, const char *path) {
  for (size_t i = 0; i < t->nattrs; i++)
    if (strcmp(t->attrs[i].path, path) == 0)
      return &t->attrs[i];
  return NULL;
}
