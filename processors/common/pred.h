/* The predicate language the processors' rules share (routing's scoring
 * rules, automation's conditions, gamification's point rules): JSON
 *
 *   {"field": F, OP: V}        OP one of eq, ne, in, gte, gt, lte, lt
 *   {"all": [P, ...]}  {"any": [P, ...]}  {"not": P}
 *
 * over fields of three kinds. Strings take eq, ne, in (a list of strings);
 * numbers all seven (in: a list of numbers); booleans eq and ne. A field
 * the input does not have matches ne alone (whatever the value), never eq,
 * in or an order.
 *
 * Each processor names its fields: pred_check asks the caller for a
 * field's kind (refusing unknown ones with its own words), pred_match for
 * a field's value. Checking happens once, when rules are published;
 * matching trusts what was checked. */
#ifndef SB_PRED_H
#define SB_PRED_H

#include "sb_processor.h"

#include <cjson/cJSON.h>

typedef enum { PRED_STR = 0, PRED_NUM = 1, PRED_BOOL = 2 } pred_kind_t;

typedef struct pred_rules_s {
  const char *what;  /* the error's prefix: "rules", "automation rules" */
  const char *noun;  /* "predicate", "condition" */
  int depth_max;     /* levels of all/any/not nesting, the top one 1 */
  int list_max;      /* members of all/any, values of in */
  /* field's kind (pred_kind_t), or -1 with err set saying why (an unknown
   * field, a field that cannot be matched) */
  int (*kind)(void *arg, const char *field, const char *where, sb_err_t *err);
  /* optional: each comparison value of a field, once checked */
  void (*seen)(void *arg, const char *field, const cJSON *value);
  void *arg;
} pred_rules_t;

/* 0 when p is a predicate by r's fields, else SB_EVALIDATE saying what is
 * wrong and where ("<what>: <where>: ..."). */
int pred_check(const pred_rules_t *r, const cJSON *p, const char *where,
               sb_err_t *err);

/* A field's value, as pred_match asks for it. */
typedef struct pred_value_s {
  int has;        /* 0: the input has no value for the field */
  const char *s;  /* PRED_STR */
  double n;       /* PRED_NUM */
  int b;          /* PRED_BOOL */
} pred_value_t;

/* The field's kind (pred_kind_t) and *v; called only for checked
 * fields. */
typedef int (*pred_get_fn)(void *arg, const char *field, pred_value_t *v);

/* 1 when the checked predicate p holds for the input get describes. */
int pred_match(const cJSON *p, pred_get_fn get, void *arg);

#endif
