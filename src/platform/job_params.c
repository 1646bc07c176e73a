/* job_params.c: one table says, for every job kind, which parameters it takes, of which type,
 * range and default, and where each goes in the kind's struct (job_params.h). */
#include "job_params.h"
#include "co_base.h"
#include "platform.h"

#include <stdio.h>
#include <string.h>

typedef enum { P_STR, P_INT, P_NUM, P_BOOL, P_CHOICE, P_STRS, P_INTS, P_NUMS, P_OBJ, P_STRMAP } ptype;

typedef struct param {
  const char *kind, *name;
  ptype type;
  size_t off;    /* into co_job_params */
  double lo, hi; /* numbers: inclusive range (hi 0 = max_rows) */
  double dflt;   /* numbers, booleans, choices (an index) */
  int required;
  const char *choices; /* P_CHOICE: "a|b|c", decoded to the index */
} param;

#define SEED_MAX 9007199254740991.0 /* 2^53 - 1: exact in every JSON reader */
#define AT(kind, member) offsetof(co_job_params, u.kind.member)

static const param params[] = {
    {"train", "dataset", P_STR, AT(train, dataset), 0, 0, 0, 1, NULL},
    {"train", "features", P_OBJ, AT(train, features), 0, 0, 0, 0, NULL},
    {"analyze", "targets", P_STRS, AT(analyze, targets), 0, 0, 0, 0, NULL},
    {"analyze", "k_values", P_INTS, AT(analyze, k_values), 1, COHORT_K_MAX, 0, 0, NULL},
    {"analyze", "p_values", P_NUMS, AT(analyze, p_values), 0.05, 16, 0, 0, NULL},
    {"analyze", "sample", P_INT, AT(analyze, sample), 0, 10000000, 0, 0, NULL},
    {"analyze", "seed", P_INT, AT(analyze, seed), 0, SEED_MAX, 1, 0, NULL},
    {"synthesize", "rows", P_INT, AT(synthesize, rows), 1, 0, 0, 0, NULL},
    {"synthesize", "seed", P_INT, AT(synthesize, seed), 0, SEED_MAX, 1, 0, NULL},
    {"synthesize", "conviction", P_NUM, AT(synthesize, conviction), 0.01, 1e6, 0, 0, NULL},
    {"synthesize", "k", P_INT, AT(synthesize, k), 0, COHORT_K_MAX, 0, 0, NULL},
    {"synthesize", "privacy", P_CHOICE, AT(synthesize, privacy), 0, 0, CO_PRIVACY_REFERENCE, 0,
     "reference|local|off"},
    {"synthesize", "fixed", P_STRMAP, AT(synthesize, fixed), 0, 0, 0, 0, NULL},
    {"synthesize", "evaluate", P_BOOL, AT(synthesize, evaluate), 0, 0, 1, 0, NULL},
    {"synthesize", "holdout", P_STR, AT(synthesize, holdout), 0, 0, 0, 0, NULL},
    {"synthesize", "target", P_STR, AT(synthesize, target), 0, 0, 0, 0, NULL},
    {"evaluate", "real", P_STR, AT(evaluate, real), 0, 0, 0, 1, NULL},
    {"evaluate", "synthetic", P_STR, AT(evaluate, synthetic), 0, 0, 0, 1, NULL},
    {"evaluate", "holdout", P_STR, AT(evaluate, holdout), 0, 0, 0, 0, NULL},
    {"evaluate", "target", P_STR, AT(evaluate, target), 0, 0, 0, 0, NULL},
    {"evaluate", "seed", P_INT, AT(evaluate, seed), 0, SEED_MAX, 1, 0, NULL},
};

static int choice_index(const char *s, const char *choices) {
  size_t n = strlen(s);
  int i = 0;
  for (const char *c = choices; *c; i++) {
    const char *bar = strchr(c, '|');
    size_t m = bar ? (size_t)(bar - c) : strlen(c);
    if (m == n && strncmp(c, s, n) == 0)
      return i;
    c += m + (bar != NULL);
  }
  return -1;
}

static cohort_status number(const param *p, json_t *v, double hi, const char *where, double *out) {
  int want_int = p->type == P_INT || p->type == P_INTS;
  if (want_int ? !json_is_integer(v) : !json_is_number(v))
    return co_error(COHORT_EINVAL, "%s: must be %s", where, want_int ? "an integer" : "a number");
  double x = json_number_value(v);
  if (x < p->lo || x > hi)
    return co_error(COHORT_EINVAL, "%s: must be from %g to %g", where, p->lo, hi);
  *out = x;
  return COHORT_OK;
}

static cohort_status list(const param *p, json_t *v, double hi, char *slot) {
  char where[96];
  size_t cap = p->type == P_STRS ? 1000 : COHORT_GRID_MAX;
  if (p->type == P_STRS && json_is_string(v)) { /* one name */
    co_strlist *l = (co_strlist *)(void *)slot;
    if (!(l->items = co_calloc(1, sizeof *l->items)))
      return co_nomem();
    l->items[0] = json_string_value(v);
    l->n = 1;
    return COHORT_OK;
  }
  if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > cap)
    return co_error(COHORT_EINVAL, "%s: must be an array of 1 to %zu %s", p->name, cap,
                    p->type == P_STRS ? "names" : "numbers");
  size_t n = json_array_size(v);
  co_strlist *l = (co_strlist *)(void *)slot;
  if (p->type == P_STRS && !(l->items = co_calloc(n, sizeof *l->items)))
    return co_nomem();
  for (size_t i = 0; i < n; i++) {
    json_t *x = json_array_get(v, i);
    double d;
    snprintf(where, sizeof where, "%s[%zu]", p->name, i);
    if (p->type == P_STRS) {
      if (!(l->items[i] = json_string_value(x)))
        return co_error(COHORT_EINVAL, "%s: must be a string", where);
      l->n = i + 1;
      continue;
    }
    cohort_status st = number(p, x, hi, where, &d);
    if (st != COHORT_OK)
      return st;
    if (p->type == P_INTS) {
      co_sizelist *s = (co_sizelist *)(void *)slot;
      s->v[s->n++] = (size_t)d;
    } else {
      co_numlist *s = (co_numlist *)(void *)slot;
      s->v[s->n++] = d;
    }
  }
  return COHORT_OK;
}

static cohort_status strmap(const param *p, json_t *v, co_strmap *m) {
  const char *key;
  json_t *x;
  size_t i = 0, n;
  if (!json_is_object(v))
    return co_error(COHORT_EINVAL, "%s: must be an object of feature name to value", p->name);
  if (!(n = json_object_size(v)))
    return COHORT_OK;
  m->names = co_calloc(n, sizeof *m->names);
  m->values = co_calloc(n, sizeof *m->values);
  if (!m->names || !m->values)
    return co_nomem();
  json_object_foreach(v, key, x) {
    if (!json_is_string(x))
      return co_error(COHORT_EINVAL, "%s.%s: must be a string", p->name, key);
    m->names[i] = key;
    m->values[i++] = json_string_value(x);
    m->n = i;
  }
  return COHORT_OK;
}

static cohort_status decode_one(const param *p, json_t *v, int64_t max_rows, co_job_params *out) {
  char *slot = (char *)out + p->off;
  double hi = p->hi == 0 && (p->type == P_INT || p->type == P_NUM) ? (double)max_rows : p->hi, d;
  cohort_status st;
  int idx;
  switch (p->type) {
  case P_STR:
    if (!json_is_string(v) || !json_string_length(v))
      return co_error(COHORT_EINVAL, "%s: must be a non-empty string", p->name);
    *(const char **)(void *)slot = json_string_value(v);
    return COHORT_OK;
  case P_CHOICE:
    if (!json_is_string(v) || (idx = choice_index(json_string_value(v), p->choices)) < 0)
      return co_error(COHORT_EINVAL, "%s: must be one of %s", p->name, p->choices);
    *(int *)(void *)slot = idx;
    return COHORT_OK;
  case P_INT:
  case P_NUM:
    if ((st = number(p, v, hi, p->name, &d)) != COHORT_OK)
      return st;
    if (p->type == P_INT)
      *(int64_t *)(void *)slot = (int64_t)d;
    else
      *(double *)(void *)slot = d;
    return COHORT_OK;
  case P_BOOL:
    if (!json_is_boolean(v))
      return co_error(COHORT_EINVAL, "%s: must be true or false", p->name);
    *(int *)(void *)slot = json_is_true(v);
    return COHORT_OK;
  case P_OBJ:
    if (!json_is_object(v))
      return co_error(COHORT_EINVAL, "%s: must be an object", p->name);
    *(json_t **)(void *)slot = v;
    return COHORT_OK;
  case P_STRMAP:
    return strmap(p, v, (co_strmap *)(void *)slot);
  case P_STRS:
  case P_INTS:
  case P_NUMS:
    return list(p, v, hi, slot);
  }
  return COHORT_OK;
}

static void set_default(const param *p, co_job_params *out) {
  char *slot = (char *)out + p->off;
  if (p->type == P_INT)
    *(int64_t *)(void *)slot = (int64_t)p->dflt;
  else if (p->type == P_NUM)
    *(double *)(void *)slot = p->dflt;
  else if (p->type == P_BOOL || p->type == P_CHOICE)
    *(int *)(void *)slot = (int)p->dflt;
}

cohort_status co_job_params_decode(const char *kind, json_t *body, int64_t max_rows, co_job_params *out,
                                   const char **field) {
  const char *key;
  json_t *v;
  cohort_status st = COHORT_OK;
  *field = NULL;
  memset(out, 0, sizeof *out);
  if (!co_job_kind_known(kind))
    return co_error(COHORT_EINVAL, "unknown job kind '%s'", kind);
  out->kind = kind;
  if (body && !json_is_object(body))
    return co_error(COHORT_EINVAL, "parameters must be a JSON object");
  for (size_t i = 0; i < sizeof params / sizeof *params; i++)
    if (strcmp(params[i].kind, kind) == 0)
      set_default(&params[i], out);
  if (body)
    json_object_foreach(body, key, v) {
      if (strcmp(key, "workspace") == 0)
        continue; /* where the job goes, read by the API */
      const param *p = NULL;
      for (size_t i = 0; i < sizeof params / sizeof *params && !p; i++)
        if (strcmp(params[i].kind, kind) == 0 && strcmp(params[i].name, key) == 0)
          p = &params[i];
      if (!p) {
        *field = key;
        st = co_error(COHORT_EINVAL, "%s: not a parameter of %s jobs", key, kind);
        goto fail;
      }
      if (json_is_null(v))
        continue;
      if ((st = decode_one(p, v, max_rows, out)) != COHORT_OK) {
        *field = p->name;
        goto fail;
      }
    }
  for (size_t i = 0; i < sizeof params / sizeof *params; i++) {
    const param *p = &params[i];
    json_t *given = body ? json_object_get(body, p->name) : NULL;
    if (p->required && strcmp(p->kind, kind) == 0 && (!given || json_is_null(given))) {
      *field = p->name;
      st = co_error(COHORT_EINVAL, "%s: required", p->name);
      goto fail;
    }
  }
  return COHORT_OK;
fail:
  co_job_params_clear(out);
  return st;
}

void co_job_params_clear(co_job_params *p) {
  if (!p->kind)
    return;
  if (strcmp(p->kind, "analyze") == 0)
    co_free(p->u.analyze.targets.items);
  else if (strcmp(p->kind, "synthesize") == 0) {
    co_free(p->u.synthesize.fixed.names);
    co_free(p->u.synthesize.fixed.values);
  }
  memset(p, 0, sizeof *p);
}
