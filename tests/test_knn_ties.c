/* Random tie-breaking of the neighbour search (co_knn with a random stream), which synthesis draws
 * its neighbours with: the k nearest come out exact, and cases tied at the k-th distance are kept
 * uniformly at random, whether the search reads them (the tree walk), passes over them in geometric
 * skips (take_equal, tie_enters) or draws them at random (sample_equal). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "co_trainee.h"

#define CHECK_OK(expr)                                                                                       \
  do {                                                                                                       \
    cohort_status st_ = (expr);                                                                              \
    if (st_ != COHORT_OK)                                                                                    \
      fail_msg("%s -> %s: %s", #expr, cohort_strerror(st_), cohort_errmsg());                                \
  } while (0)

/* n cases: a (4 levels), b (3 levels), c (2 levels) and a number on a coarse grid, so that many
 * cases tie at distance 0 and at each mismatch cost. */
static cohort_trainee *make_tied(size_t n, uint64_t seed) {
  const char *names[] = {"a", "b", "c", "x"};
  cohort_table *tab;
  CHECK_OK(cohort_table_create(&tab, 4, names));
  co_rng r;
  co_rng_seed(&r, seed);
  static const char *la[] = {"a0", "a1", "a2", "a3"}, *lb[] = {"b0", "b1", "b2"}, *lc[] = {"c0", "c1"};
  for (size_t i = 0; i < n; i++) {
    char x[16];
    snprintf(x, sizeof x, "%d", (int)co_rng_below(&r, 5));
    const char *cells[4] = {la[co_rng_below(&r, 4)], lb[co_rng_below(&r, 3)], lc[co_rng_below(&r, 2)], x};
    CHECK_OK(cohort_table_append(tab, cells));
  }
  cohort_schema *s;
  cohort_trainee *t;
  CHECK_OK(cohort_schema_infer(&s, tab));
  CHECK_OK(cohort_trainee_create(&t, s));
  cohort_schema_free(s);
  CHECK_OK(cohort_trainee_train(t, tab, NULL));
  cohort_table_free(tab);
  return t;
}

/* Sum of powered terms as knn.c defines them (p = 1). */
static double naive(const co_index *ix, const double *w, const float *q, size_t row) {
  double s = 0;
  for (size_t f = 0; f < ix->nf; f++) {
    if (!(w[f] > 0))
      continue;
    float v = ix->col[f * ix->n + row];
    double t = ix->cat[f] ? (v == q[f] ? 0 : ix->mcost[f]) : fabs((double)q[f] - v);
    s += w[f] * t;
  }
  return s;
}

/* For each weighting (few features: thousands of exact ties; more: ties at a mismatch cost), the
 * returned distances are the k smallest, and every case at the k-th distance is kept about as
 * often as the others (chi-square over the tied cases, far above its 99.9% point would fail). */
static void test_ties_uniform(void **state) {
  (void)state;
  cohort_trainee *t = make_tied(3000, 3);
  const co_index *ix;
  CHECK_OK(co_trainee_index(t, &ix));
  size_t n = ix->n, nf = ix->nf;
  const double weights[][4] = {{1, 0, 0, 0}, {1, 1, 0, 0}, {1, 1, 1, 0}, {1, 1, 1, 0.05}, {0.3, 1, 2, 1}};
  const size_t ks[] = {5, 20, 50};
  double *d = malloc(n * sizeof *d), *sorted = malloc(n * sizeof *sorted);
  unsigned *seen = calloc(n, sizeof *seen);
  co_nb nb[64];
  co_rng rng;
  co_rng_seed(&rng, 11);
  for (size_t wi = 0; wi < sizeof weights / sizeof *weights; wi++) {
    for (size_t ki = 0; ki < 3; ki++) {
      size_t k = ks[ki];
      float q[4];
      co_index_scale(ix, t->x + (wi * 31 + ki) * nf, q);
      co_metric m = {weights[wi], 1.0, -1};
      for (size_t r = 0; r < n; r++)
        sorted[r] = d[r] = naive(ix, weights[wi], q, r);
      qsort(sorted, n, sizeof *sorted, co_cmp_double);
      double kth = sorted[k - 1];
      size_t below = 0, tied = 0;
      for (size_t r = 0; r < n; r++) {
        below += d[r] < kth - 1e-6;
        tied += fabs(d[r] - kth) <= 1e-6;
      }
      memset(seen, 0, n * sizeof *seen);
      size_t reps = 4000;
      for (size_t it = 0; it < reps; it++) {
        assert_int_equal(co_knn(ix, &m, q, k, -1, &rng, nb), k);
        for (size_t i = 0; i < k; i++) {
          /* rows of the index are in tree order: find the row of case nb[i].i */
          size_t row = 0;
          while (ix->ids[row] != nb[i].i)
            row++;
          assert_true(fabs(d[row] - nb[i].d) < 1e-4);
          assert_true(d[row] <= kth + 1e-6);
          if (i)
            assert_true(nb[i].d >= nb[i - 1].d - 1e-9);
          seen[row]++;
        }
      }
      /* Cases below the k-th distance are always kept; the k - below others spread over the ties. */
      double expect = (double)reps * (double)(k - below) / (double)tied, chi = 0;
      for (size_t r = 0; r < n; r++) {
        if (d[r] < kth - 1e-6)
          assert_int_equal(seen[r], reps);
        else if (fabs(d[r] - kth) <= 1e-6)
          chi += ((double)seen[r] - expect) * ((double)seen[r] - expect) / expect;
        else
          assert_int_equal(seen[r], 0);
      }
      /* chi-square with tied - 1 degrees of freedom: mean tied - 1, sd sqrt(2 (tied - 1)) */
      double dfree = (double)tied - 1;
      if (tied > 1)
        assert_true(chi < dfree + 5 * sqrt(2 * dfree) + 10);
    }
  }
  free(d);
  free(sorted);
  free(seen);
  cohort_trainee_free(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ties_uniform),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
