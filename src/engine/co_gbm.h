/* Gradient-boosted trees (gbm.c): the strong-learner judge of evaluate's train-on-synthetic /
 * train-on-real figures, modelled on scikit-learn's HistGradientBoosting with its defaults.
 * Internal to the engine; tests include it. */
#ifndef COHORT_CO_GBM_H
#define COHORT_CO_GBM_H

#include "co_internal.h"

/* Rows as columns: feature f is numeric (num[f] holds n values, NaN = missing) or categorical
 * (cat[f] holds n codes, < 0 = missing; codes are names, their order means nothing); exactly one
 * of num[f], cat[f] is set. The arrays belong to the caller. */
typedef struct co_gbm_data {
  size_t n, nf;
  const double *const *num;
  const int32_t *const *cat;
} co_gbm_data;

typedef struct co_gbm_options {
  uint64_t seed;   /* the early-stopping split (tables over 10,000 rows) and binning's sample */
  size_t threads;  /* 0 = co_threads' default */
  size_t max_iter; /* 0 = 100, scikit-learn's default */
} co_gbm_options;

typedef struct co_gbm co_gbm;

/* Fits on x with a numeric target (y, NaN = missing) or a categorical one (yc, < 0 = missing):
 * exactly one of them. Rows whose target is missing are left out. */
cohort_status co_gbm_fit(const co_gbm_data *x, const double *y, const int32_t *yc, const co_gbm_options *opt,
                         co_gbm **out);
/* Predicts every row of x (laid out as in fit: same features, same kinds): the value into y for a
 * numeric target, the most probable class's code into yc for a categorical one. */
cohort_status co_gbm_predict(const co_gbm *m, const co_gbm_data *x, double *y, int32_t *yc);
/* Boosting iterations kept (early stopping can end before max_iter). */
size_t co_gbm_iterations(const co_gbm *m);
void co_gbm_free(co_gbm *m);

#endif
