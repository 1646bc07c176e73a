/* job_params.h: the parameters of each job kind, decoded once from JSON into a typed struct by
 * one table (job_params.c). The same decoder checks a job when it is submitted (a bad parameter is
 * a 400 naming it) and reads it when it runs, so the two can never disagree. Strings are borrowed
 * from the JSON they were decoded from: keep it alive while the struct is used. */
#ifndef COHORT_JOB_PARAMS_H
#define COHORT_JOB_PARAMS_H

#include "cohort/cohort.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct co_strlist {
  const char **items; /* owned array, borrowed strings */
  size_t n;
} co_strlist;

typedef struct co_strmap {
  const char **names, **values; /* owned arrays, borrowed strings */
  size_t n;
} co_strmap;

typedef struct co_sizelist {
  size_t v[COHORT_GRID_MAX];
  size_t n;
} co_sizelist;

typedef struct co_numlist {
  double v[COHORT_GRID_MAX];
  size_t n;
} co_numlist;

typedef struct co_train_params {
  const char *dataset; /* required */
  json_t *features;    /* borrowed; overrides applied when the trainee is created */
} co_train_params;

typedef struct co_analyze_params {
  co_strlist targets;   /* none = targetless */
  co_sizelist k_values; /* none = the engine's grid */
  co_numlist p_values;
  int64_t sample; /* 0 = the engine's default */
  int64_t seed;
} co_analyze_params;

typedef enum co_privacy_param {
  CO_PRIVACY_REFERENCE = 0,
  CO_PRIVACY_LOCAL = 1,
  CO_PRIVACY_OFF = 2
} co_privacy_param;

typedef struct co_synthesize_params {
  int64_t rows; /* 0 = as many as the trainee has cases */
  int64_t seed;
  double conviction; /* 0 = the engine's default */
  int64_t k;         /* 0 = the trainee's own */
  int privacy;       /* co_privacy_param */
  co_strmap fixed;
  int evaluate; /* default true */
  const char *holdout, *target;
} co_synthesize_params;

typedef struct co_evaluate_params {
  const char *real, *synthetic; /* required */
  const char *holdout, *target;
  int64_t seed;
} co_evaluate_params;

typedef struct co_job_params {
  const char *kind;
  union {
    co_train_params train;
    co_analyze_params analyze;
    co_synthesize_params synthesize;
    co_evaluate_params evaluate;
  } u;
} co_job_params;

/* Decodes params (an object, NULL = {}) of kind into out, checking every name, type and range
 * ("rows" up to max_rows) and filling defaults. EINVAL naming the field (also in *field)
 * otherwise; out is then cleared. Unknown kinds are EINVAL. */
cohort_status co_job_params_decode(const char *kind, json_t *params, int64_t max_rows, co_job_params *out,
                                   const char **field);
void co_job_params_clear(co_job_params *p);

#endif
