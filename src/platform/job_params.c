/* job_params.c: the parameters each job kind accepts, checked when the job is queued so that a
 * typo or a wrong type is a 400 naming the field, not a job that fails later. tasks.c reads the
 * same names. */
#include "co_base.h"
#include "platform.h"

#include <string.h>

typedef enum { P_STR, P_INT, P_NUM, P_BOOL, P_STRS, P_INTS, P_NUMS, P_OBJ, P_STRMAP } ptype;

typedef struct param {
  const char *kind, *name;
  ptype type;
  double lo, hi; /* numbers: inclusive range (hi 0 = max_rows for "rows") */
  int required;
  const char *choices; /* strings: "a|b|c" */
} param;

#define SEED_MAX 9007199254740991.0 /* 2^53 - 1: exact in every JSON reader */

static const param params[] = {
    {"train", "dataset", P_STR, 0, 0, 1, NULL},
    {"train", "features", P_OBJ, 0, 0, 0, NULL},
    {"analyze", "targets", P_STRS, 0, 0, 0, NULL},
    {"analyze", "k_values", P_INTS, 1, COHORT_K_MAX, 0, NULL},
    {"analyze", "p_values", P_NUMS, 0.05, 16, 0, NULL},
    {"analyze", "sample", P_INT, 0, 10000000, 0, NULL},
    {"analyze", "seed", P_INT, 0, SEED_MAX, 0, NULL},
    {"synthesize", "rows", P_INT, 1, 0, 0, NULL},
    {"synthesize", "seed", P_INT, 0, SEED_MAX, 0, NULL},
    {"synthesize", "conviction", P_NUM, 0.01, 1e6, 0, NULL},
    {"synthesize", "k", P_INT, 0, COHORT_K_MAX, 0, NULL},
    {"synthesize", "privacy", P_STR, 0, 0, 0, "reference|local|off"},
    {"synthesize", "fixed", P_STRMAP, 0, 0, 0, NULL},
    {"synthesize", "evaluate", P_BOOL, 0, 0, 0, NULL},
    {"synthesize", "holdout", P_STR, 0, 0, 0, NULL},
    {"synthesize", "target", P_STR, 0, 0, 0, NULL},
    {"evaluate", "real", P_STR, 0, 0, 1, NULL},
    {"evaluate", "synthetic", P_STR, 0, 0, 1, NULL},
    {"evaluate", "holdout", P_STR, 0, 0, 0, NULL},
    {"evaluate", "target", P_STR, 0, 0, 0, NULL},
    {"evaluate", "seed", P_INT, 0, SEED_MAX, 0, NULL},
};

static int in_choices(const char *s, const char *choices) {
  size_t n = strlen(s);
  for (const char *c = choices; *c;) {
    const char *bar = strchr(c, '|');
    size_t m = bar ? (size_t)(bar - c) : strlen(c);
    if (m == n && strncmp(c, s, n) == 0)
      return 1;
    c += m + (bar != NULL);
  }
  return 0;
}

static cohort_status check_number(const param *p, json_t *v, double hi, const char *where) {
  int want_int = p->type == P_INT || p->type == P_INTS;
  if (want_int ? !json_is_integer(v) : !json_is_number(v))
    return co_error(COHORT_EINVAL, "%s: must be %s", where, want_int ? "an integer" : "a number");
  double x = json_number_value(v);
  if (x < p->lo || x > hi)
    return co_error(COHORT_EINVAL, "%s: must be from %g to %g", where, p->lo, hi);
  return COHORT_OK;
}

static cohort_status check_one(const param *p, json_t *v, int64_t max_rows) {
  char where[96];
  double hi = p->hi == 0 && (p->type == P_INT || p->type == P_NUM) ? (double)max_rows : p->hi;
  switch (p->type) {
  case P_STR:
    if (!json_is_string(v) || !json_string_length(v))
      return co_error(COHORT_EINVAL, "%s: must be a non-empty string", p->name);
    if (p->choices && !in_choices(json_string_value(v), p->choices))
      return co_error(COHORT_EINVAL, "%s: must be one of %s", p->name, p->choices);
    return COHORT_OK;
  case P_INT:
  case P_NUM:
    return check_number(p, v, hi, p->name);
  case P_BOOL:
    return json_is_boolean(v) ? COHORT_OK : co_error(COHORT_EINVAL, "%s: must be true or false", p->name);
  case P_OBJ:
    return json_is_object(v) ? COHORT_OK : co_error(COHORT_EINVAL, "%s: must be an object", p->name);
  case P_STRMAP: {
    const char *key;
    json_t *x;
    if (!json_is_object(v))
      return co_error(COHORT_EINVAL, "%s: must be an object of feature name to value", p->name);
    json_object_foreach(v, key, x) if (!json_is_string(x)) return co_error(
        COHORT_EINVAL, "%s.%s: must be a string", p->name, key);
    return COHORT_OK;
  }
  case P_STRS:
  case P_INTS:
  case P_NUMS:
    if (p->type == P_STRS && json_is_string(v))
      return COHORT_OK; /* one name */
    if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > 1000)
      return co_error(COHORT_EINVAL, "%s: must be an array of 1 to 1000 %s", p->name,
                      p->type == P_STRS ? "names" : "numbers");
    for (size_t i = 0; i < json_array_size(v); i++) {
      json_t *x = json_array_get(v, i);
      snprintf(where, sizeof where, "%s[%zu]", p->name, i);
      cohort_status st = p->type == P_STRS ? (json_is_string(x) ? COHORT_OK
                                                                 : co_error(COHORT_EINVAL, "%s: must be a string", where))
                                           : check_number(p, x, hi, where);
      if (st != COHORT_OK)
        return st;
    }
    return COHORT_OK;
  }
  return COHORT_OK;
}

cohort_status co_job_params_check(const char *kind, json_t *body, int64_t max_rows, const char **field) {
  const char *key;
  json_t *v;
  *field = NULL;
  if (!co_job_kind_known(kind))
    return co_error(COHORT_EINVAL, "unknown job kind '%s'", kind);
  if (body && !json_is_object(body))
    return co_error(COHORT_EINVAL, "parameters must be a JSON object");
  if (body)
    json_object_foreach(body, key, v) {
      if (strcmp(key, "workspace") == 0)
        continue; /* where the job goes, read by the API */
      const param *p = NULL;
      for (size_t i = 0; i < sizeof params / sizeof *params; i++)
        if (strcmp(params[i].kind, kind) == 0 && strcmp(params[i].name, key) == 0)
          p = &params[i];
      if (!p) {
        *field = key;
        return co_error(COHORT_EINVAL, "%s: not a parameter of %s jobs", key, kind);
      }
      if (json_is_null(v))
        continue;
      cohort_status st = check_one(p, v, max_rows);
      if (st != COHORT_OK) {
        *field = p->name;
        return st;
      }
    }
  for (size_t i = 0; i < sizeof params / sizeof *params; i++) {
    const param *p = &params[i];
    if (p->required && strcmp(p->kind, kind) == 0 && (!body || !json_object_get(body, p->name))) {
      *field = p->name;
      return co_error(COHORT_EINVAL, "%s: required", p->name);
    }
  }
  return COHORT_OK;
}
