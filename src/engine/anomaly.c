/* Anomaly scores: distance contribution and similarity conviction.
 *
 * A row's distance contribution is its mean distance to its k nearest cases (targetless metric).
 * Conviction compares it with the trainee's expected distance contribution (the mean over its own
 * cases, each left out of its own search): above 1 = more typical than usual, below 1 = surprising. */
#include "co_trainee.h"

#include <string.h>

typedef struct dc_job {
  cohort_trainee *t;
  const co_index *ix;
  const double *x; /* rows, or NULL for the trainee's own cases */
  double *dc;
} dc_job;

static cohort_status dc_range(void *vctx, size_t begin, size_t end, size_t worker) {
  dc_job *j = vctx;
  cohort_trainee *t = j->t;
  size_t nf = t->nf;
  const co_params *pr = &t->global;
  float *q = co_malloc(nf * sizeof *q);
  double *w = co_malloc(nf * sizeof *w);
  co_nb *nb = co_malloc(pr->k * sizeof *nb);
  if (!q || !w || !nb) {
    co_free(q);
    co_free(w);
    co_free(nb);
    return co_nomem();
  }
  for (size_t r = begin; r < end; r++) {
    const double *x = j->x ? j->x + r * nf : t->x + r * nf;
    co_index_scale(j->ix, x, q);
    for (size_t f = 0; f < nf; f++)
      w[f] = isnan(x[f]) && j->x ? 0.0 : pr->w[f]; /* a new row's missing cells are unknown, not "missing" */
    co_metric m = {w, pr->p, -1};
    size_t got = co_knn(j->ix, &m, q, pr->k, j->x ? -1 : (long)r, NULL, nb);
    double s = 0;
    for (size_t i = 0; i < got; i++)
      s += nb[i].d;
    j->dc[r] = got ? s / (double)got : NAN;
  }
  co_free(q);
  co_free(w);
  co_free(nb);
  (void)worker;
  return COHORT_OK;
}

cohort_status cohort_anomalies(cohort_trainee *t, const cohort_table *rows, double *distance_contribution,
                               double *conviction, size_t n) {
  if (!t || !distance_contribution)
    return co_error(COHORT_EINVAL, "anomalies: trainee and output array are required");
  size_t need = rows ? rows->nrows : t->n;
  if (n < need)
    return co_error_in("n", co_error(COHORT_EINVAL, "anomalies: n = %zu is shorter than the %zu %s scored", n,
                                     need, rows ? "rows" : "cases"));
  if (t->n < 2)
    return co_error(COHORT_ESTATE, "anomalies: needs at least 2 cases (the trainee has %zu)", t->n);
  const co_index *ix;
  cohort_status st = co_trainee_index(t, &ix);
  if (st != COHORT_OK)
    return st;
  double *own = rows ? co_malloc(t->n * sizeof *own) : distance_contribution;
  double *x = NULL;
  if (!own)
    return co_nomem();
  dc_job j = {t, ix, NULL, own};
  if ((st = co_parallel(t->n, 0, 32, dc_range, &j)) != COHORT_OK)
    goto out;
  double expected = 0;
  size_t m = 0;
  for (size_t i = 0; i < t->n; i++)
    if (!isnan(own[i])) {
      expected += own[i];
      m++;
    }
  expected = m ? expected / (double)m : NAN;
  size_t nr = t->n;
  if (rows) {
    if ((st = co_trainee_encode(t, rows, false, &x)) != COHORT_OK)
      goto out;
    dc_job jr = {t, ix, x, distance_contribution};
    if ((st = co_parallel(rows->nrows, 0, 32, dc_range, &jr)) != COHORT_OK)
      goto out;
    nr = rows->nrows;
  }
  for (size_t i = 0; conviction && i < nr; i++) {
    double dc = distance_contribution[i];
    conviction[i] = dc > 0 ? expected / dc : isnan(dc) ? NAN : INFINITY;
  }
out:
  if (own != distance_contribution)
    co_free(own);
  co_free(x);
  return st;
}
