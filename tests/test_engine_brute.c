/* Analyze's brute-force leave-one-out (analyze.c) against the search tree on the cases its bounds
 * and batched trials must get right: targets with missing values (a bound from neighbours that lack
 * the target must not be used), a k grid that reaches past the number of cases (fewer neighbours than
 * slots: no bound), and powers other than 1, 2 and 1/2 (terms from knn.c). Both paths must choose
 * the same k, p and weights (to float rounding, as their deviations agree). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "co_trainee.h"

#define CHECK_OK(expr)                                                                                       \
  do {                                                                                                       \
    cohort_status st_ = (expr);                                                                              \
    if (st_ != COHORT_OK)                                                                                    \
      fail_msg("%s -> %s: %s", #expr, cohort_strerror(st_), cohort_errmsg());                                \
  } while (0)

#define NF 7

/* x1..x4 numeric (x3 tracks x1, x4 is noise), c nominal, y = 2 x1 - x2 + noise, cls from x1 and c;
 * cells missing in a pattern that covers the target columns too. */
static cohort_table *make_table(size_t n, uint64_t seed) {
  const char *names[NF] = {"x1", "x2", "x3", "x4", "c", "y", "cls"};
  cohort_table *t;
  CHECK_OK(cohort_table_create(&t, NF, names));
  co_rng r;
  co_rng_seed(&r, seed);
  static const char *levels[] = {"a", "b", "c"};
  for (size_t i = 0; i < n; i++) {
    double x1 = co_rng_uniform(&r), x2 = co_rng_uniform(&r), x3 = x1 + 0.1 * co_rng_normal(&r);
    double x4 = co_rng_uniform(&r);
    size_t c = co_rng_below(&r, 3);
    char b[5][32];
    snprintf(b[0], sizeof b[0], "%.4f", x1);
    snprintf(b[1], sizeof b[1], "%.4f", x2);
    snprintf(b[2], sizeof b[2], "%.4f", x3);
    snprintf(b[3], sizeof b[3], "%.4f", x4);
    snprintf(b[4], sizeof b[4], "%.4f", 2 * x1 - x2 + 0.2 * co_rng_normal(&r));
    const char *cls = x1 + 0.3 * (double)c + 0.2 * co_rng_normal(&r) > 0.8 ? "hi" : "lo";
    const char *cells[NF] = {b[0], b[1], b[2], b[3], levels[c], b[4], cls};
    if (i % 13 == 2)
      cells[1] = NULL;
    if (i % 7 == 1)
      cells[4] = NULL;
    if (i % 11 == 4)
      cells[5] = NULL;
    if (i % 9 == 5)
      cells[6] = NULL;
    CHECK_OK(cohort_table_append(t, cells));
  }
  return t;
}

static cohort_trainee *make_trainee(const cohort_table *tab) {
  cohort_schema *s;
  cohort_trainee *t;
  CHECK_OK(cohort_schema_infer(&s, tab));
  CHECK_OK(cohort_trainee_create(&t, s));
  cohort_schema_free(s);
  CHECK_OK(cohort_trainee_train(t, tab, NULL));
  return t;
}

/* Analyzes two trainees of tab for both targets, one by brute force and one through the tree, with
 * the given grids, and asserts the same choices. */
static void compare(const cohort_table *tab, const size_t *kv, size_t nk, const double *pv, size_t np) {
  cohort_trainee *a = make_trainee(tab), *b = make_trainee(tab);
  const char *targets[] = {"cls", "y"};
  cohort_analyze_options ao = {.size = sizeof ao,
                               .targets = targets,
                               .n_targets = 2,
                               .seed = 5,
                               .threads = 2,
                               .k_values = kv,
                               .n_k = nk,
                               .p_values = pv,
                               .n_p = np};
  size_t keep = co_brute_rows, keep_f = co_brute_features;
  co_brute_features = 0; /* a: brute force */
  cohort_status st = cohort_trainee_analyze(a, &ao);
  co_brute_rows = 0; /* b: the tree */
  cohort_status st2 = cohort_trainee_analyze(b, &ao);
  co_brute_rows = keep;
  co_brute_features = keep_f;
  CHECK_OK(st);
  CHECK_OK(st2);
  for (size_t i = 0; i < 2; i++) {
    size_t ka, kb;
    double pa, pb;
    CHECK_OK(cohort_trainee_params(a, targets[i], &ka, &pa));
    CHECK_OK(cohort_trainee_params(b, targets[i], &kb, &pb));
    assert_int_equal(ka, kb);
    assert_true(pa == pb);
    for (size_t f = 0; f < NF; f++) {
      double wa = cohort_trainee_feature_weight(a, targets[i], f);
      double wb = cohort_trainee_feature_weight(b, targets[i], f);
      /* The range start's weights are powers of the learned deviations, which the two paths sum in
       * another order (so they agree to float rounding, as the deviations below do). */
      if (!(fabs(wa - wb) <= 1e-4 * fabs(wb)))
        fprintf(stderr, "target %s k %zu p %g feature %zu: weight %.9g by brute force, %.9g by the tree\n",
                targets[i], ka, pa, f, wa, wb);
      assert_true(fabs(wa - wb) <= 1e-4 * fabs(wb));
    }
  }
  for (size_t f = 0; f < NF; f++) {
    double da = cohort_trainee_deviation(a, f), db = cohort_trainee_deviation(b, f);
    assert_true(fabs(da - db) <= 1e-4 * fabs(db) + 1e-9);
  }
  cohort_trainee_free(a);
  cohort_trainee_free(b);
}

static void test_missing_targets(void **state) {
  (void)state;
  cohort_table *tab = make_table(500, 11);
  compare(tab, NULL, 0, NULL, 0);
  cohort_table_free(tab);
}

/* k up to more cases than the table has: selections come back short and no bound applies. */
static void test_k_past_cases(void **state) {
  (void)state;
  cohort_table *tab = make_table(120, 12);
  static const size_t kv[] = {1, 4, 60, 200};
  static const double pv[] = {1.0, 1.5};
  compare(tab, kv, 4, pv, 2);
  cohort_table_free(tab);
}

/* Targetless: each feature's search starts from a bound taken from the nearest by the whole sum,
 * some of which lack the feature; with k near the number of cases a bound from them would leave
 * fewer than k cases under it. */
static void test_targetless_bound(void **state) {
  (void)state;
  cohort_table *tab = make_table(120, 13);
  cohort_trainee *a = make_trainee(tab), *b = make_trainee(tab);
  static const size_t kv[] = {90};
  static const double pv[] = {1.0};
  cohort_analyze_options ao = {
      .size = sizeof ao, .seed = 5, .threads = 2, .k_values = kv, .n_k = 1, .p_values = pv, .n_p = 1};
  size_t keep = co_brute_rows, keep_f = co_brute_features;
  co_brute_features = 0;
  cohort_status st = cohort_trainee_analyze(a, &ao);
  co_brute_rows = 0;
  cohort_status st2 = cohort_trainee_analyze(b, &ao);
  co_brute_rows = keep;
  co_brute_features = keep_f;
  CHECK_OK(st);
  CHECK_OK(st2);
  for (size_t f = 0; f < NF; f++) {
    double da = cohort_trainee_deviation(a, f), db = cohort_trainee_deviation(b, f);
    if (!(fabs(da - db) <= 1e-4 * fabs(db) + 1e-9))
      fprintf(stderr, "feature %zu: deviation %.9g by brute force, %.9g by the tree\n", f, da, db);
    assert_true(fabs(da - db) <= 1e-4 * fabs(db) + 1e-9);
  }
  cohort_trainee_free(a);
  cohort_trainee_free(b);
  cohort_table_free(tab);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_missing_targets),
      cmocka_unit_test(test_k_past_cases),
      cmocka_unit_test(test_targetless_bound),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
