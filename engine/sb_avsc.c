/* Avro schema texts: Parsing Canonical Form and reader/writer resolution
 * (sb_avsc.h). Both work on a normalised copy of the schema's JSON: every
 * named type's name made full, references to it by that full name, a table
 * of the named types defined. The canonical form is that copy printed; the
 * resolution check keeps the defaults too. */
#include "sb_avsc.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NAMED 1024
#define MAX_DEPTH 64

typedef struct {
  const char *name[MAX_NAMED]; /* full names, borrowed from the tree */
  const cJSON *node[MAX_NAMED];
  size_t n;
  int keep_defaults;
  sb_err_t *err;
} norm_t;

static const char *const primitives[] = {"null",  "boolean", "int",   "long",
                                         "float", "double",  "bytes", "string"};

static int is_primitive(const char *s) {
  for (size_t i = 0; i < sizeof primitives / sizeof *primitives; i++)
    if (strcmp(s, primitives[i]) == 0)
      return 1;
  return 0;
}

static const cJSON *lookup(const norm_t *t, const char *full) {
  for (size_t i = 0; i < t->n; i++)
    if (strcmp(t->name[i], full) == 0)
      return t->node[i];
  return NULL;
}

/* "ns.name", or name when it has a dot already or ns is empty. */
static char *full_name(const char *name, const char *ns) {
  if (strchr(name, '.') != NULL || ns == NULL || *ns == '\0')
    return strdup(name);
  size_t n = strlen(ns) + strlen(name) + 2;
  char *s = malloc(n);
  if (s != NULL)
    snprintf(s, n, "%s.%s", ns, name);
  return s;
}

static cJSON *norm(norm_t *t, const cJSON *s, const char *ns, int depth);

/* [A-Za-z_][A-Za-z0-9_]*, or such names joined by dots when dotted. */
static int name_ok(const char *s, int dotted) {
  int start = 1;
  for (; *s; s++) {
    int alpha = (*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
                *s == '_';
    if (*s == '.' && dotted && !start)
      start = 1;
    else if (alpha || (!start && *s >= '0' && *s <= '9'))
      start = 0;
    else
      return 0;
  }
  return !start;
}

/* What Avro requires of a named type's definition beyond its name: a
 * record's fields (objects with distinct valid names and a type), an
 * enum's symbols (distinct valid names; a default among them), a fixed's
 * size. 0, or SB_EINVAL naming what is wrong. */
static int shape_check(norm_t *t, const cJSON *s, const char *kind,
                       const char *full) {
  const cJSON *a, *b;
  if (strcmp(kind, "fixed") == 0) {
    const cJSON *size = cJSON_GetObjectItemCaseSensitive(s, "size");
    if (!cJSON_IsNumber(size) || size->valuedouble < 0 ||
        size->valuedouble > 2147483647.0 ||
        size->valuedouble != (double)(long long)size->valuedouble)
      return sb_err_set(t->err, SB_EINVAL, "schema: fixed %.200s needs a "
                        "size, a whole number of bytes", full);
    return 0;
  }
  int rec = strcmp(kind, "enum") != 0;
  const cJSON *list = cJSON_GetObjectItemCaseSensitive(s, rec ? "fields"
                                                              : "symbols");
  if (!cJSON_IsArray(list))
    return sb_err_set(t->err, SB_EINVAL, "schema: %s %.200s needs %s, an "
                      "array", kind, full, rec ? "fields" : "symbols");
  cJSON_ArrayForEach(a, list) {
    const cJSON *n = rec ? cJSON_GetObjectItemCaseSensitive(a, "name") : a;
    if (!cJSON_IsString(n) || !name_ok(n->valuestring, 0) ||
        (rec && cJSON_GetObjectItemCaseSensitive(a, "type") == NULL))
      return sb_err_set(t->err, SB_EINVAL, "schema: %s %.200s: %s is not "
                        "%s", kind, full, cJSON_IsString(n) ? n->valuestring
                                                           : "an entry",
                        rec ? "a field with a valid name and a type"
                            : "a valid symbol name");
    for (b = list->child; b != a; b = b->next) {
      const cJSON *m = rec ? cJSON_GetObjectItemCaseSensitive(b, "name") : b;
      if (strcmp(m->valuestring, n->valuestring) == 0)
        return sb_err_set(t->err, SB_EINVAL, "schema: %s %.200s: %s is "
                          "given twice", kind, full, n->valuestring);
    }
  }
  const cJSON *def = cJSON_GetObjectItemCaseSensitive(s, "default");
  int in = 0;
  cJSON_ArrayForEach(a, list) in |= !rec && cJSON_IsString(def) &&
                                    strcmp(a->valuestring, def->valuestring) == 0;
  if (!rec && def != NULL && !in)
    return sb_err_set(t->err, SB_EINVAL, "schema: enum %.200s: its default "
                      "is not one of its symbols", full);
  return 0;
}

/* A reference to a named type: its full name, which must be defined. */
static cJSON *norm_ref(norm_t *t, const char *name, const char *ns) {
  if (is_primitive(name))
    return cJSON_CreateString(name);
  char *full = full_name(name, ns);
  if (full == NULL) {
    sb_err_set(t->err, SB_ENOMEM, "out of memory");
    return NULL;
  }
  const char *use = lookup(t, full) ? full : lookup(t, name) ? name : NULL;
  cJSON *out = use ? cJSON_CreateString(use) : NULL;
  if (use == NULL)
    sb_err_set(t->err, SB_EINVAL, "schema: type '%.200s' is not defined",
               name);
  else if (out == NULL)
    sb_err_set(t->err, SB_ENOMEM, "out of memory");
  free(full);
  return out;
}

static int add(cJSON *o, const char *k, cJSON *v, norm_t *t) {
  if (v == NULL || !cJSON_AddItemToObject(o, k, v)) {
    cJSON_Delete(v);
    if (t->err->code == 0)
      sb_err_set(t->err, SB_ENOMEM, "out of memory");
    return -1;
  }
  return 0;
}

static int add_copy(cJSON *o, const char *k, const cJSON *v, norm_t *t) {
  return add(o, k, cJSON_Duplicate(v, 1), t);
}

static cJSON *norm_named(norm_t *t, const cJSON *s, const char *kind,
                         const char *ns, int depth) {
  const cJSON *name = cJSON_GetObjectItemCaseSensitive(s, "name");
  const cJSON *own = cJSON_GetObjectItemCaseSensitive(s, "namespace");
  if (!cJSON_IsString(name) ||
      (own != NULL && !cJSON_IsNull(own) && !cJSON_IsString(own))) {
    sb_err_set(t->err, SB_EINVAL, "schema: a %s needs a name (and a "
               "namespace, if any, a string)", kind);
    return NULL;
  }
  char *full = full_name(name->valuestring,
                         cJSON_IsString(own) ? own->valuestring : ns);
  if (full != NULL && (!name_ok(full, 1) || is_primitive(full))) {
    sb_err_set(t->err, SB_EINVAL, "schema: '%.200s' is not a valid name",
               full);
    free(full);
    return NULL;
  }
  if (full != NULL && shape_check(t, s, kind, full) != 0) {
    free(full);
    return NULL;
  }
  cJSON *o = cJSON_CreateObject();
  if (full == NULL || o == NULL) {
    free(full);
    cJSON_Delete(o);
    sb_err_set(t->err, SB_ENOMEM, "out of memory");
    return NULL;
  }
  if (lookup(t, full) != NULL || t->n == MAX_NAMED) {
    sb_err_set(t->err, SB_EINVAL, "schema: type '%.200s' is defined twice "
               "(or more than %d named types)", full, MAX_NAMED);
    goto fail;
  }
  if (add(o, "name", cJSON_CreateString(full), t) != 0 ||
      add(o, "type", cJSON_CreateString(strcmp(kind, "error") == 0 ? "record"
                                                                   : kind),
          t) != 0)
    goto fail;
  /* registered before its fields, which may refer to it */
  t->name[t->n] = cJSON_GetObjectItemCaseSensitive(o, "name")->valuestring;
  t->node[t->n++] = o;
  char *dot = strrchr(full, '.');
  char *inner = dot ? strndup(full, (size_t)(dot - full)) : strdup("");
  if (inner == NULL) {
    sb_err_set(t->err, SB_ENOMEM, "out of memory");
    goto fail;
  }
  int rc = 0;
  if (strcmp(kind, "record") == 0 || strcmp(kind, "error") == 0) {
    cJSON *fields = cJSON_CreateArray();
    rc = add(o, "fields", fields, t);
    const cJSON *f;
    cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(s, "fields")) {
      if (rc != 0)
        break;
      const cJSON *fname = cJSON_GetObjectItemCaseSensitive(f, "name");
      cJSON *nf = cJSON_CreateObject();
      rc = add(nf, "name", cJSON_Duplicate(fname, 0), t);
      if (rc == 0)
        rc = add(nf, "type",
                 norm(t, cJSON_GetObjectItemCaseSensitive(f, "type"), inner,
                      depth + 1),
                 t);
      const cJSON *def = cJSON_GetObjectItemCaseSensitive(f, "default");
      if (rc == 0 && t->keep_defaults && def != NULL)
        rc = add_copy(nf, "default", def, t);
      if (rc == 0 && !cJSON_AddItemToArray(fields, nf))
        rc = sb_err_set(t->err, SB_ENOMEM, "out of memory");
      if (rc != 0)
        cJSON_Delete(nf);
    }
  } else if (strcmp(kind, "enum") == 0) {
    rc = add_copy(o, "symbols", cJSON_GetObjectItemCaseSensitive(s, "symbols"),
                  t);
    const cJSON *def = cJSON_GetObjectItemCaseSensitive(s, "default");
    if (rc == 0 && t->keep_defaults && def != NULL)
      rc = add_copy(o, "default", def, t);
  } else { /* fixed */
    rc = add_copy(o, "size", cJSON_GetObjectItemCaseSensitive(s, "size"), t);
  }
  free(inner);
  free(full);
  if (rc != 0) { /* the table is not used again: normalising stops */
    cJSON_Delete(o);
    return NULL;
  }
  return o;
fail:
  free(full);
  cJSON_Delete(o);
  return NULL;
}

/* "union", "record", "int", ...: what a (normalised) schema is. */
static const char *kind_of(const cJSON *s) {
  if (cJSON_IsString(s))
    return s->valuestring;
  if (cJSON_IsArray(s))
    return "union";
  const cJSON *k = cJSON_GetObjectItemCaseSensitive(s, "type");
  return cJSON_IsString(k) ? k->valuestring : "?";
}

/* What a union may hold once: a primitive or a named type by its name,
 * one array, one map. */
static const char *union_key(const cJSON *b) {
  const cJSON *n = cJSON_IsObject(b) ? cJSON_GetObjectItemCaseSensitive(b, "name")
                                     : NULL;
  return cJSON_IsString(n) ? n->valuestring : kind_of(b);
}

static cJSON *norm(norm_t *t, const cJSON *s, const char *ns, int depth) {
  if (depth > MAX_DEPTH) {
    sb_err_set(t->err, SB_EINVAL, "schema: nested more than %d deep",
               MAX_DEPTH);
    return NULL;
  }
  if (cJSON_IsString(s))
    return norm_ref(t, s->valuestring, ns);
  if (cJSON_IsArray(s)) {
    cJSON *u = cJSON_CreateArray();
    const cJSON *b;
    cJSON_ArrayForEach(b, s) {
      cJSON *nb = u ? norm(t, b, ns, depth + 1) : NULL;
      int dup = nb && strcmp(union_key(nb), "union") == 0;
      for (const cJSON *o = u ? u->child : NULL; nb && !dup && o; o = o->next)
        dup = strcmp(union_key(o), union_key(nb)) == 0;
      if (dup) {
        sb_err_set(t->err, SB_EINVAL, "schema: a union holds %.200s twice, "
                   "or a union", union_key(nb));
        cJSON_Delete(nb);
        nb = NULL;
      }
      if (nb == NULL || !cJSON_AddItemToArray(u, nb)) {
        cJSON_Delete(nb);
        cJSON_Delete(u);
        if (t->err->code == 0)
          sb_err_set(t->err, SB_ENOMEM, "out of memory");
        return NULL;
      }
    }
    return u;
  }
  const cJSON *type = cJSON_GetObjectItemCaseSensitive(s, "type");
  if (!cJSON_IsString(type)) {
    if (type != NULL)
      return norm(t, type, ns, depth + 1); /* {"type": {...}} */
    sb_err_set(t->err, SB_EINVAL, "schema: an object without a type");
    return NULL;
  }
  const char *k = type->valuestring;
  if (strcmp(k, "record") == 0 || strcmp(k, "error") == 0 ||
      strcmp(k, "enum") == 0 || strcmp(k, "fixed") == 0)
    return norm_named(t, s, k, ns, depth);
  if (strcmp(k, "array") == 0 || strcmp(k, "map") == 0) {
    int arr = strcmp(k, "array") == 0;
    cJSON *o = cJSON_CreateObject();
    if (o == NULL || add(o, "type", cJSON_CreateString(k), t) != 0 ||
        add(o, arr ? "items" : "values",
            norm(t, cJSON_GetObjectItemCaseSensitive(s, arr ? "items" : "values"),
                 ns, depth + 1),
            t) != 0) {
      cJSON_Delete(o);
      return NULL;
    }
    return o;
  }
  return norm_ref(t, k, ns); /* {"type":"long","logicalType":...} */
}

/* Validates text with avro-c, then normalises it into *out. */
static int normalise(const char *json, size_t len, int keep_defaults,
                     norm_t *t, cJSON **out, sb_err_t *err) {
  *out = NULL;
  memset(t, 0, sizeof *t);
  t->err = err;
  t->keep_defaults = keep_defaults;
  cJSON *root = cJSON_ParseWithLength(json, len);
  if (root == NULL)
    return sb_err_set(err, SB_EINVAL, "not an Avro schema: not JSON");
  *out = norm(t, root, "", 0);
  cJSON_Delete(root);
  return *out ? 0 : err->code ? err->code : sb_err_set(err, SB_ENOMEM,
                                                       "out of memory");
}

int sb_avsc_canonical(const char *json, size_t len, char **out,
                      sb_err_t *err) {
  *out = NULL;
  norm_t *t = calloc(1, sizeof *t);
  if (t == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  cJSON *n = NULL;
  int rc = normalise(json, len, 0, t, &n, err);
  if (rc == 0 && (*out = cJSON_PrintUnformatted(n)) == NULL)
    rc = sb_err_set(err, SB_ENOMEM, "out of memory");
  cJSON_Delete(n);
  free(t);
  return rc;
}

/* ---- resolution ----------------------------------------------------------- */

/* Pairs of records (writer, reader) being checked or found to resolve:
 * each pair is checked once, so a recursive type ends and a type referred
 * to many times costs once. A pair is assumed to resolve while it is being
 * checked (what a recursive reference needs); the pairs added under an
 * assumption that fails are dropped with it. */
#define MAX_PAIRS 4096
typedef struct {
  const cJSON *w[MAX_PAIRS], *r[MAX_PAIRS];
  size_t n;
} pairs_t;

typedef struct {
  const norm_t *w, *r;
  pairs_t *seen;
  char *why;
  size_t whysz;
} rs_t;

/* A named type's definition for a reference. */
static const cJSON *deref(const norm_t *t, const cJSON *s) {
  if (cJSON_IsString(s) && !is_primitive(s->valuestring)) {
    const cJSON *d = lookup(t, s->valuestring);
    return d ? d : s;
  }
  return s;
}

static const char *short_name(const cJSON *s) {
  const char *n = cJSON_GetObjectItemCaseSensitive(s, "name")->valuestring;
  const char *dot = strrchr(n, '.');
  return dot ? dot + 1 : n;
}

static int nope(rs_t *x, const char *path, const char *fmt, const char *a,
                const char *b) {
  if (x->whysz > 0) {
    int n = snprintf(x->why, x->whysz, "%s: ", *path ? path : "(the schema)");
    if (n >= 0 && (size_t)n < x->whysz)
      snprintf(x->why + n, x->whysz - (size_t)n, fmt, a, b);
  }
  return 0;
}

static int promotes(const char *w, const char *r) {
  static const char *const ok[][2] = {
      {"int", "long"},     {"int", "float"},   {"int", "double"},
      {"long", "float"},   {"long", "double"}, {"float", "double"},
      {"string", "bytes"}, {"bytes", "string"}};
  for (size_t i = 0; i < sizeof ok / sizeof *ok; i++)
    if (strcmp(w, ok[i][0]) == 0 && strcmp(r, ok[i][1]) == 0)
      return 1;
  return 0;
}

static int reads(rs_t *x, const cJSON *w, const cJSON *r, const char *path,
                 int depth);

static int reads_record(rs_t *x, const cJSON *w, const cJSON *r,
                        const char *path, int depth) {
  const cJSON *rf;
  cJSON_ArrayForEach(rf, cJSON_GetObjectItemCaseSensitive(r, "fields")) {
    const char *name = cJSON_GetObjectItemCaseSensitive(rf, "name")->valuestring;
    char sub[512];
    snprintf(sub, sizeof sub, "%s%s%s", path, *path ? "." : "", name);
    const cJSON *wf = NULL, *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(w, "fields")) {
      if (strcmp(cJSON_GetObjectItemCaseSensitive(it, "name")->valuestring,
                 name) == 0)
        wf = it;
    }
    if (wf == NULL) {
      if (cJSON_GetObjectItemCaseSensitive(rf, "default") == NULL)
        return nope(x, sub, "the reader's field has no default and the "
                    "writer has no such field%s%s", "", "");
      continue;
    }
    if (!reads(x, cJSON_GetObjectItemCaseSensitive(wf, "type"),
               cJSON_GetObjectItemCaseSensitive(rf, "type"), sub, depth + 1))
      return 0;
  }
  return 1;
}

static int reads(rs_t *x, const cJSON *w, const cJSON *r, const char *path,
                 int depth) {
  if (depth > 4 * MAX_DEPTH)
    return nope(x, path, "nested more than %s levels deep%s", "256", "");
  w = deref(x->w, w);
  r = deref(x->r, r);
  const char *wk = kind_of(w), *rk = kind_of(r);
  if (strcmp(wk, "union") == 0) {
    const cJSON *b;
    cJSON_ArrayForEach(b, w) if (!reads(x, b, r, path, depth + 1)) return 0;
    return 1;
  }
  if (strcmp(rk, "union") == 0) {
    const cJSON *b;
    cJSON_ArrayForEach(b, r) {
      rs_t quiet = {x->w, x->r, x->seen, NULL, 0};
      if (reads(&quiet, w, b, path, depth + 1))
        return 1;
    }
    return nope(x, path, "no branch of the reader's union reads the "
                "writer's %s%s", wk, "");
  }
  if (strcmp(wk, rk) != 0)
    return promotes(wk, rk) ? 1 : nope(x, path, "the writer's %s cannot be "
                                       "read as %s", wk, rk);
  if (strcmp(wk, "record") == 0 || strcmp(wk, "enum") == 0 ||
      strcmp(wk, "fixed") == 0) {
    if (strcmp(short_name(w), short_name(r)) != 0)
      return nope(x, path, "the writer's %s is named %s, the reader's is not",
                  wk, short_name(w));
  }
  if (strcmp(wk, "record") == 0) {
    pairs_t *p = x->seen;
    for (size_t i = 0; i < p->n; i++)
      if (p->w[i] == w && p->r[i] == r)
        return 1;
    if (p->n == MAX_PAIRS)
      return nope(x, path, "more than %s pairs of records to compare%s",
                  "4096", "");
    size_t mark = p->n;
    p->w[p->n] = w, p->r[p->n++] = r;
    int ok = reads_record(x, w, r, path, depth);
    if (!ok)
      p->n = mark;
    return ok;
  }
  if (strcmp(wk, "enum") == 0) {
    if (cJSON_GetObjectItemCaseSensitive(r, "default") != NULL)
      return 1;
    const cJSON *ws, *rsym;
    cJSON_ArrayForEach(ws, cJSON_GetObjectItemCaseSensitive(w, "symbols")) {
      int found = 0;
      cJSON_ArrayForEach(rsym, cJSON_GetObjectItemCaseSensitive(r, "symbols"))
          found |= cJSON_IsString(ws) && cJSON_IsString(rsym) &&
                   strcmp(ws->valuestring, rsym->valuestring) == 0;
      if (!found)
        return nope(x, path, "the writer's symbol %s is not the reader's "
                    "(which has no default)%s", ws->valuestring, "");
    }
    return 1;
  }
  if (strcmp(wk, "fixed") == 0) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(w, "size"),
                *b = cJSON_GetObjectItemCaseSensitive(r, "size");
    return cJSON_Compare(a, b, 1) ? 1 : nope(x, path, "fixed sizes differ%s%s",
                                             "", "");
  }
  if (strcmp(wk, "array") == 0 || strcmp(wk, "map") == 0) {
    const char *k = strcmp(wk, "array") == 0 ? "items" : "values";
    char sub[512];
    snprintf(sub, sizeof sub, "%s[]", path);
    return reads(x, cJSON_GetObjectItemCaseSensitive(w, k),
                 cJSON_GetObjectItemCaseSensitive(r, k), sub, depth + 1);
  }
  return 1; /* the same primitive */
}

int sb_avsc_can_read(const char *writer, size_t wlen, const char *reader,
                     size_t rlen, char *why, size_t whysz, sb_err_t *err) {
  if (whysz > 0)
    why[0] = '\0';
  norm_t *w = calloc(1, sizeof *w), *r = calloc(1, sizeof *r);
  pairs_t *seen = calloc(1, sizeof *seen);
  cJSON *wn = NULL, *rn = NULL;
  int rc = w && r && seen ? 0 : sb_err_set(err, SB_ENOMEM, "out of memory");
  if (rc == 0)
    rc = normalise(writer, wlen, 1, w, &wn, err);
  if (rc == 0)
    rc = normalise(reader, rlen, 1, r, &rn, err);
  if (rc == 0) {
    rs_t x = {w, r, seen, why, whysz};
    rc = reads(&x, wn, rn, "", 0);
  }
  cJSON_Delete(wn);
  cJSON_Delete(rn);
  free(w);
  free(r);
  free(seen);
  return rc;
}
