/* The processors' predicate language (pred.h). */
#include "pred.h"

#include <string.h>

static const char *const ops[] = {"eq", "ne", "in", "gte", "gt", "lte", "lt"};
enum { OP_EQ, OP_NE, OP_IN, OP_ORDER0 };

static const char *kind_name(int kind) {
  return kind == PRED_STR ? "string" : kind == PRED_NUM ? "number" : "boolean";
}

static int is_kind(const cJSON *v, int kind) {
  return kind == PRED_STR   ? cJSON_IsString(v)
         : kind == PRED_NUM ? cJSON_IsNumber(v)
                            : cJSON_IsBool(v);
}

static int check(const pred_rules_t *r, const cJSON *p, const char *where,
                 int depth, sb_err_t *err) {
  if (!cJSON_IsObject(p))
    return sb_err_set(err, SB_EVALIDATE, "%s: %s: a %s is an object", r->what,
                      where, r->noun);
  if (depth > r->depth_max)
    return sb_err_set(err, SB_EVALIDATE, "%s: %s: %ss nested deeper than %d",
                      r->what, where, r->noun, r->depth_max);
  const cJSON *c;
  if ((c = cJSON_GetObjectItemCaseSensitive(p, "all")) != NULL ||
      (c = cJSON_GetObjectItemCaseSensitive(p, "any")) != NULL) {
    if (!cJSON_IsArray(c) || cJSON_GetArraySize(c) == 0 ||
        cJSON_GetArraySize(c) > r->list_max)
      return sb_err_set(err, SB_EVALIDATE, "%s: %s: %s takes 1 to %d %ss",
                        r->what, where, c->string, r->list_max, r->noun);
    const cJSON *i;
    cJSON_ArrayForEach(i, c) {
      if (check(r, i, where, depth + 1, err) != 0)
        return err->code;
    }
    return 0;
  }
  if ((c = cJSON_GetObjectItemCaseSensitive(p, "not")) != NULL)
    return check(r, c, where, depth + 1, err);
  const cJSON *f = cJSON_GetObjectItemCaseSensitive(p, "field");
  if (!cJSON_IsString(f))
    return sb_err_set(err, SB_EVALIDATE,
                      "%s: %s: a %s needs \"field\" (or all, any, not)",
                      r->what, where, r->noun);
  int kind = r->kind(r->arg, f->valuestring, where, err);
  if (kind < 0)
    return err->code;
  int nops = 0;
  for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(p, ops[o]);
    if (v == NULL)
      continue;
    nops++;
    int ok;
    if (o == OP_IN) {
      ok = kind != PRED_BOOL && cJSON_IsArray(v) &&
           cJSON_GetArraySize(v) > 0 && cJSON_GetArraySize(v) <= r->list_max;
      const cJSON *i;
      cJSON_ArrayForEach(i, v) ok &= is_kind(i, kind);
    } else if (o >= OP_ORDER0) {
      ok = kind == PRED_NUM && cJSON_IsNumber(v);
    } else {
      ok = is_kind(v, kind);
    }
    if (!ok)
      return sb_err_set(err, SB_EVALIDATE,
                        "%s: %s: %s of %s: not a value of the field's kind "
                        "(%s)",
                        r->what, where, ops[o], f->valuestring,
                        kind_name(kind));
    if (r->seen)
      r->seen(r->arg, f->valuestring, v);
  }
  if (nops != 1)
    return sb_err_set(err, SB_EVALIDATE,
                      "%s: %s: a %s on %s has one of eq, ne, in, gte, gt, "
                      "lte, lt",
                      r->what, where, r->noun, f->valuestring);
  return 0;
}

int pred_check(const pred_rules_t *r, const cJSON *p, const char *where,
               sb_err_t *err) {
  return check(r, p, where, 1, err); /* the top is level 1 */
}

static int equal(int kind, const pred_value_t *v, const cJSON *c) {
  return kind == PRED_STR   ? strcmp(v->s, c->valuestring) == 0
         : kind == PRED_NUM ? v->n == c->valuedouble
                            : v->b == cJSON_IsTrue(c);
}

int pred_match(const cJSON *p, pred_get_fn get, void *arg) {
  const cJSON *x;
  if ((x = cJSON_GetObjectItemCaseSensitive(p, "all")) != NULL) {
    const cJSON *i;
    cJSON_ArrayForEach(i, x) if (!pred_match(i, get, arg)) return 0;
    return 1;
  }
  if ((x = cJSON_GetObjectItemCaseSensitive(p, "any")) != NULL) {
    const cJSON *i;
    cJSON_ArrayForEach(i, x) if (pred_match(i, get, arg)) return 1;
    return 0;
  }
  if ((x = cJSON_GetObjectItemCaseSensitive(p, "not")) != NULL)
    return !pred_match(x, get, arg);
  pred_value_t v = {0};
  int kind = get(arg, cJSON_GetObjectItemCaseSensitive(p, "field")->valuestring,
                 &v);
  if (kind == PRED_STR && v.s == NULL)
    v.has = 0;
  if ((x = cJSON_GetObjectItemCaseSensitive(p, "ne")) != NULL)
    return !v.has || !equal(kind, &v, x);
  if (!v.has)
    return 0;
  if ((x = cJSON_GetObjectItemCaseSensitive(p, "eq")) != NULL)
    return equal(kind, &v, x);
  if ((x = cJSON_GetObjectItemCaseSensitive(p, "in")) != NULL) {
    const cJSON *i;
    cJSON_ArrayForEach(i, x) if (equal(kind, &v, i)) return 1;
    return 0;
  }
  if ((x = cJSON_GetObjectItemCaseSensitive(p, "gte")) != NULL)
    return v.n >= x->valuedouble;
  if ((x = cJSON_GetObjectItemCaseSensitive(p, "gt")) != NULL)
    return v.n > x->valuedouble;
  if ((x = cJSON_GetObjectItemCaseSensitive(p, "lte")) != NULL)
    return v.n <= x->valuedouble;
  if ((x = cJSON_GetObjectItemCaseSensitive(p, "lt")) != NULL)
    return v.n < x->valuedouble;
  return 0;
}
