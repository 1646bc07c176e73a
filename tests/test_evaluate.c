/* Evaluation: SDMetrics-defined quality and privacy scores on tables small enough to work out by
 * hand, malformed input, the JSON and HTML reports. */
/* cmocka needs these first */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "co_eval.h"
#include "report.h" /* the HTML report, drawn by the platform from the evaluation */

#define EPS 1e-12

/* cmocka's float compare works in single precision: compare doubles here, printing both sides. */
#define assert_close(a, b, eps)                                                                              \
  do {                                                                                                       \
    double a_ = (a), b_ = (b);                                                                               \
    if (!(fabs(a_ - b_) <= (eps)))                                                                           \
      fail_msg("%s = %.17g, expected %.17g (within %g)", #a, a_, b_, (double)(eps));                         \
  } while (0)

/* A table from nrows * ncols cells, row-major; NULL = missing. */
static cohort_table *mk(size_t ncols, const char *const *names, size_t nrows, const char *const *cells) {
  cohort_table *t = NULL;
  assert_int_equal(cohort_table_create(&t, ncols, names), COHORT_OK);
  for (size_t r = 0; r < nrows; r++)
    assert_int_equal(cohort_table_append(t, cells + r * ncols), COHORT_OK);
  return t;
}

static cohort_schema *infer(const cohort_table *t) {
  cohort_schema *s = NULL;
  assert_int_equal(cohort_schema_infer(&s, t), COHORT_OK);
  return s;
}

static cohort_eval *run(const cohort_schema *s, const cohort_table *real, const cohort_table *synth,
                        const cohort_table *hold) {
  cohort_eval_options opt = {.size = sizeof opt, .seed = 7, .threads = 2};
  cohort_eval *e = NULL;
  cohort_status st = cohort_evaluate(s, real, synth, hold, &opt, &e);
  if (st != COHORT_OK)
    fail_msg("cohort_evaluate: %s: %s", cohort_strerror(st), cohort_errmsg());
  return e;
}

/* A mixed table: x continuous, y = 2x + small noise, c categorical following x, b boolean. */
static cohort_table *mixed_table(size_t n, unsigned seed, bool shuffle_y) {
  static const char *const names[] = {"x", "y", "c", "b"};
  cohort_table *t = NULL;
  assert_int_equal(cohort_table_create(&t, 4, names), COHORT_OK);
  co_rng rng;
  co_rng_seed(&rng, seed);
  double *y = malloc(n * sizeof *y);
  double *x = malloc(n * sizeof *x);
  for (size_t i = 0; i < n; i++) {
    x[i] = (double)co_rng_below(&rng, 1000) / 10.0;
    y[i] = 2 * x[i] + co_rng_normal(&rng) * 5;
  }
  if (shuffle_y)
    for (size_t i = n - 1; i > 0; i--) {
      size_t j = co_rng_below(&rng, i + 1);
      double tmp = y[i];
      y[i] = y[j];
      y[j] = tmp;
    }
  for (size_t i = 0; i < n; i++) {
    char xs[32], ys[32];
    snprintf(xs, sizeof xs, "%.1f", x[i]);
    snprintf(ys, sizeof ys, "%.3f", y[i]);
    const char *c = x[i] < 30 ? "low" : x[i] < 70 ? "mid" : "high";
    const char *b = co_rng_uniform(&rng) < 0.3 ? "yes" : "no";
    const char *row[] = {xs, ys, c, b};
    assert_int_equal(cohort_table_append(t, row), COHORT_OK);
  }
  free(x);
  free(y);
  return t;
}

/* ---------------------------------------------------------------- kernels */

static void test_ks_statistic(void **state) {
  (void)state;
  /* real 1 2 3 4, synthetic 2 3 4 5: F_real - F_synth is .25 at 1, 2, 3 and 4, 0 at 5: D = .25 */
  double a[] = {1, 2, 3, 4}, b[] = {2, 3, 4, 5};
  assert_close(co_eval_ks_statistic(a, 4, b, 4), 0.25, EPS);
  /* real 1 1 2, synthetic 1 2 2: at 1: 2/3 - 1/3 = 1/3; at 2: 1 - 1 = 0: D = 1/3 */
  double c[] = {1, 1, 2}, d[] = {1, 2, 2};
  assert_close(co_eval_ks_statistic(c, 3, d, 3), 1.0 / 3, EPS);
  /* disjoint samples: D = 1 */
  double e[] = {1, 2}, f[] = {3, 4, 5};
  assert_close(co_eval_ks_statistic(e, 2, f, 3), 1.0, EPS);
}

static void test_tv_complement(void **state) {
  (void)state;
  /* real a a b c, synthetic a b b d. get_frequencies: d is unseen in real, so real[d] = 1e-6 and
   * the real total is 4.000001. f_exp = 2, 1, 1, 1e-6 over 4.000001; f_obs = .25 .5 0 .25.
   * TV = .249999875 + .2500000625 + .2499999375 + .24999975 = .999999625 -> 1 - TV/2 = .5000001875 */
  double real[] = {2, 1, 1, 0}, synth[] = {1, 2, 0, 1};
  assert_close(co_eval_tv_complement(real, synth, 4), 0.5000001875, 1e-12);
  /* identical frequencies: 1; nothing to compare: NaN */
  double p[] = {3, 1}, q[] = {6, 2}, z[] = {0, 0};
  assert_close(co_eval_tv_complement(p, q, 2), 1.0, EPS);
  assert_true(isnan(co_eval_tv_complement(p, z, 2)));
}

static void test_pearson(void **state) {
  (void)state;
  /* x 1 2 3, y 1 3 2: deviations (-1 0 1), (-1 1 0): r = 1 / sqrt(2 * 2) = .5 */
  double x[] = {1, 2, 3}, y[] = {1, 3, 2};
  assert_close(co_eval_pearson(x, y, 3), 0.5, EPS);
  /* a missing value drops its row; a constant side is undefined */
  double x2[] = {1, NAN, 2, 3}, y2[] = {1, 5, 3, 2}, k[] = {4, 4, 4, 4};
  assert_close(co_eval_pearson(x2, y2, 4), 0.5, EPS);
  assert_true(isnan(co_eval_pearson(x2, k, 4)));
}

/* ---------------------------------------------------------------- column shapes */

static void test_column_shapes_by_hand(void **state) {
  (void)state;
  static const char *const names[] = {"x", "c"};
  /* x: KS of 1 2 3 4 vs 2 3 4 5 = .25 -> .75. c: real a a b a = (3/4, 1/4); synthetic a b and
   * two missing values, which TVComplement drops: (1/2, 1/2). TV = 1/4 + 1/4 = 1/2 -> .75. */
  static const char *const rc[] = {"1", "a", "2", "a", "3", "b", "4", "a"};
  static const char *const sc[] = {"2", "a", "3", "b", "4", NULL, "5", NULL};
  cohort_table *real = mk(2, names, 4, rc), *synth = mk(2, names, 4, sc);
  cohort_schema *s = infer(real);
  cohort_eval *e = run(s, real, synth, NULL);
  assert_int_equal(e->ncols, 2);
  assert_close(e->cols[0].score, 0.75, EPS);
  assert_close(e->cols[1].score, 0.75, EPS);
  assert_close(cohort_eval_column_shapes(e), 0.75, EPS);
  cohort_eval_free(e);
  cohort_schema_free(s);
  cohort_table_free(real);
  cohort_table_free(synth);
}

/* ---------------------------------------------------------------- pair trends */

static void test_correlation_similarity(void **state) {
  (void)state;
  static const char *const names[] = {"col1", "col2"};
  /* SDMetrics' own unit test: real r = .498212, synthetic r = .3 -> 1 - |.498212 - .3|/2 =
   * .9008941765855183; |r_real| is not above .5, so the current rule leaves the pair out. */
  static const char *const rc[] = {"1.0", "0.2", "2.0", "-1.0895", "3.0", "-0.6425", "4.0", "1.5365"};
  static const char *const sc[] = {"1.0", "0.616536",  "2.0", "-1.216536",
                                   "3.0", "-0.916536", "4.0", "1.516536"};
  cohort_table *real = mk(2, names, 4, rc), *synth = mk(2, names, 4, sc);
  cohort_schema *s = infer(real);
  cohort_eval *e = run(s, real, synth, NULL);
  assert_int_equal(e->npairs, 1);
  assert_true(e->pairs[0].correlation);
  assert_close(e->pairs[0].real_value, 0.498212, 1e-6);
  assert_close(e->pairs[0].synth_value, 0.3, 1e-6);
  assert_close(e->pairs[0].score, 0.9008941765855183, 1e-9);
  assert_false(e->pairs[0].kept);
  assert_true(isnan(cohort_eval_pair_trends(e)));
  /* Quality = nanmean(shapes, NaN) = shapes under the current rule; mean of both under the old. */
  assert_close(cohort_eval_quality(e), cohort_eval_column_shapes(e), EPS);
  assert_close(cohort_eval_quality_all_pairs(e), (cohort_eval_column_shapes(e) + 0.9008941765855183) / 2,
               1e-9);
  cohort_eval_free(e);
  cohort_schema_free(s);
  cohort_table_free(real);
  cohort_table_free(synth);

  /* x 1 2 3 with y 1 3 2 (r = .5, not above the threshold) vs y 1 2 3 (r = 1): 1 - .5/2 = .75 */
  static const char *const rc2[] = {"1", "1", "2", "3", "3", "2"};
  static const char *const sc2[] = {"1", "1", "2", "2", "3", "3"};
  real = mk(2, names, 3, rc2);
  synth = mk(2, names, 3, sc2);
  s = infer(real);
  e = run(s, real, synth, NULL);
  assert_close(e->pairs[0].score, 0.75, EPS);
  assert_false(e->pairs[0].kept);
  cohort_eval_free(e);
  cohort_table_free(synth);
  /* a perfect negative synthetic correlation against a perfect positive real one: 1 - 2/2 = 0 */
  static const char *const rc3[] = {"1", "2", "2", "4", "3", "6"};
  static const char *const sc3[] = {"1", "6", "2", "4", "3", "2"};
  cohort_table_free(real);
  cohort_schema_free(s);
  real = mk(2, names, 3, rc3);
  synth = mk(2, names, 3, sc3);
  s = infer(real);
  e = run(s, real, synth, NULL);
  assert_close(e->pairs[0].score, 0.0, EPS);
  assert_true(e->pairs[0].kept);
  assert_close(cohort_eval_pair_trends(e), 0.0, EPS);
  cohort_eval_free(e);
  cohort_schema_free(s);
  cohort_table_free(real);
  cohort_table_free(synth);
}

static void test_contingency_similarity(void **state) {
  (void)state;
  static const char *const names[] = {"p", "q"};
  /* real (a,x) (a,x) (b,y) (b,y): cells ax .5, by .5; synthetic one row per cell, .25 each.
   * TVD = (|.5-.25| + .25 + .25 + |.5-.25|) / 2 = .5 -> score .5. Real Cramer's V: table
   * [[2,0],[0,2]], chi2 = 4 * (4/4 + 4/4 - 1) = 4, V = sqrt(4/4/1) = 1 > .3: kept. Synthetic V = 0.
   * Column shapes are 1 (a/b and x/y are half and half in both), so quality = (1 + .5)/2 = .75. */
  static const char *const rc[] = {"a", "x", "a", "x", "b", "y", "b", "y"};
  static const char *const sc[] = {"a", "x", "a", "y", "b", "x", "b", "y"};
  cohort_table *real = mk(2, names, 4, rc), *synth = mk(2, names, 4, sc);
  cohort_schema *s = infer(real);
  cohort_eval *e = run(s, real, synth, NULL);
  assert_int_equal(e->npairs, 1);
  assert_false(e->pairs[0].correlation);
  assert_close(e->pairs[0].score, 0.5, EPS);
  assert_close(e->pairs[0].real_value, 1.0, EPS);
  assert_close(e->pairs[0].synth_value, 0.0, EPS);
  assert_true(e->pairs[0].kept);
  assert_close(cohort_eval_column_shapes(e), 1.0, EPS);
  assert_close(cohort_eval_quality(e), 0.75, EPS);
  assert_close(cohort_eval_quality_all_pairs(e), 0.75, EPS);
  cohort_eval_free(e);
  cohort_schema_free(s);
  cohort_table_free(real);
  cohort_table_free(synth);
}

static void test_contingency_discretizes_each_table(void **state) {
  (void)state;
  static const char *const names[] = {"n", "k"};
  /* A numeric column against a categorical one is binned with np.histogram_bin_edges(10 bins)
   * computed on each table's own values (as SDMetrics' ColumnPairTrends does). real n = 0..9,
   * synthetic n = 0,10..90: each value lands in the same bin of its own table's edges, so the
   * contingency tables match exactly (score 1) even though the shapes differ (KS: only 0 is shared:
   * F_real(9) = 1 vs F_synth(9) = .1 -> D = .9, score .1). */
  const char *rc[20], *sc[20];
  char rv[10][8], sv[10][8];
  static const char *const ks[] = {"u", "v"};
  for (int i = 0; i < 10; i++) {
    snprintf(rv[i], sizeof rv[i], "%d", i);
    snprintf(sv[i], sizeof sv[i], "%d", i * 10);
    rc[2 * i] = rv[i];
    sc[2 * i] = sv[i];
    rc[2 * i + 1] = sc[2 * i + 1] = ks[i < 5 ? 0 : 1];
  }
  cohort_table *real = mk(2, names, 10, rc), *synth = mk(2, names, 10, sc);
  cohort_schema *s = infer(real);
  assert_int_equal(cohort_schema_type(s, 0), COHORT_CONTINUOUS);
  cohort_eval *e = run(s, real, synth, NULL);
  assert_close(e->cols[0].score, 0.1, EPS);
  assert_false(e->pairs[0].correlation);
  assert_close(e->pairs[0].score, 1.0, EPS);
  cohort_eval_free(e);
  cohort_schema_free(s);
  cohort_table_free(real);
  cohort_table_free(synth);
}

/* ---------------------------------------------------------------- whole tables */

static void test_identical_tables(void **state) {
  (void)state;
  cohort_table *real = mixed_table(300, 1, false);
  cohort_schema *s = infer(real);
  cohort_eval *e = run(s, real, real, NULL);
  assert_close(cohort_eval_quality(e), 1.0, EPS);
  assert_close(cohort_eval_quality_all_pairs(e), 1.0, EPS);
  assert_close(cohort_eval_column_shapes(e), 1.0, EPS);
  assert_close(cohort_eval_pair_trends(e), 1.0, EPS);
  assert_int_equal(cohort_eval_identical(e), 300);
  /* every synthetic row is its own closest record: median DCR 0, baseline protection 0 */
  assert_close(cohort_eval_dcr_baseline(e), 0.0, EPS);
  assert_true(isnan(cohort_eval_dcr_overfitting(e))); /* no holdout */
  assert_true(isnan(cohort_eval_tstr(e)));
  cohort_eval_free(e);
  cohort_schema_free(s);
  cohort_table_free(real);
}

static void test_shuffled_column_lowers_pair_trends(void **state) {
  (void)state;
  cohort_table *real = mixed_table(400, 2, false), *synth = mixed_table(400, 2, true);
  cohort_schema *s = infer(real);
  cohort_eval *e = run(s, real, synth, NULL);
  /* same marginals: shapes stay perfect */
  assert_close(cohort_eval_column_shapes(e), 1.0, EPS);
  /* x-y correlation (r ~ .98) is lost: that pair scores about .5 */
  assert_true(cohort_eval_pair_trends(e) < 0.9);
  assert_true(cohort_eval_quality(e) < 0.95);
  bool found = false;
  for (size_t i = 0; i < e->npairs; i++) {
    const co_eval_pair *p = &e->pairs[i];
    if (strcmp(e->cols[p->a].name, "x") == 0 && strcmp(e->cols[p->b].name, "y") == 0) {
      found = true;
      assert_true(p->correlation && p->kept);
      assert_true(p->real_value > 0.9);
      assert_true(p->score < 0.6);
    }
  }
  assert_true(found);
  cohort_eval_free(e);
  cohort_schema_free(s);
  cohort_table_free(real);
  cohort_table_free(synth);
}

/* ---------------------------------------------------------------- privacy */

static void test_dcr_by_hand(void **state) {
  (void)state;
  static const char *const names[] = {"x", "c"};
  /* real (0,a) (10,a): range of x = 10. DCR = mean over the 2 columns of the per-column distance.
   *  (5,a):  to (0,a) 5/10 + 0 = .5 -> .25; to (10,a) the same              -> .25
   *  (0,b):  to (0,a) 0 + 1 -> .5; to (10,a) 1 + 1 -> 1                      -> .5
   *  (20,a): to (10,a) min(10/10,1) + 0 -> .5; to (0,a) min(2,1) -> .5      -> .5
   *  (-,a):  one side missing counts 1: (1 + 0)/2                            -> .5
   *  (10,-): to (10,a): 0 + 1 -> .5                                          -> .5
   * sorted .25 .5 .5 .5 .5: median .5. */
  static const char *const rc[] = {"0", "a", "10", "a"};
  static const char *const sc[] = {"5", "a", "0", "b", "20", "a", NULL, "a", "10", NULL};
  cohort_table *real = mk(2, names, 2, rc), *synth = mk(2, names, 5, sc);
  cohort_schema *s = infer(real);
  cohort_eval *e = run(s, real, synth, NULL);
  assert_close(e->median_dcr_synth, 0.5, EPS);
  assert_int_equal(cohort_eval_identical(e), 0);
  assert_true(e->median_dcr_random >= 0 && e->median_dcr_random <= 1);
  cohort_eval_free(e);
  cohort_table_free(synth);

  /* Both sides missing count 0: real (-,-) is at distance 0 from synthetic (-,-), which is also
   * an identical row (missing == missing). */
  static const char *const rc2[] = {"0", "a", "10", "a", NULL, NULL};
  static const char *const sc2[] = {NULL, NULL};
  cohort_table_free(real);
  real = mk(2, names, 3, rc2);
  synth = mk(2, names, 1, sc2);
  e = run(s, real, synth, NULL);
  assert_close(e->median_dcr_synth, 0.0, EPS);
  assert_int_equal(cohort_eval_identical(e), 1);
  cohort_eval_free(e);
  cohort_schema_free(s);
  cohort_table_free(real);
  cohort_table_free(synth);
}

/* Copies by value: numbers within 1% of the synthetic value (SDMetrics' NewRowSynthesis), text as
 * text, missing as missing; split into copies of rows fewer than k training rows share and of rows
 * k or more share. */
static void test_identical_by_value(void **state) {
  (void)state;
  static const char *const names[] = {"x", "c"};
  /* training: A (0.12345678,a) once, B (2,b) 6 times, C (3,b) 4 times, D (-,a) once */
  static const char *const rc[] = {"0.12345678", "a", "2", "b", "2", "b", "2", "b", "2", "b", "2",  "b",
                                   "2",          "b", "3", "b", "3", "b", "3", "b", "3", "b", NULL, "a"};
  static const char *const sc[] = {
      "0.1234567800",
      "a", /* A written with more decimals: a rare copy */
      "0.1235",
      "a", /* A within 1%: a rare copy (not exactly) */
      "2.0",
      "b", /* B: a common copy (6 >= 5) */
      "3",
      "b", /* C: a rare copy (4 < 5); common with k = 4 */
      NULL,
      "a", /* D, missing == missing: a rare copy */
      NULL,
      "b", /* no row has missing x with b */
      "2.5",
      "b", /* between B and C, further than 1% from both */
      "0.13",
      "a", /* 5% from A */
  };
  cohort_table *real = mk(2, names, 12, rc), *synth = mk(2, names, 8, sc);
  cohort_schema *s = infer(real);
  assert_int_equal(cohort_schema_set_type(s, real, "x", COHORT_CONTINUOUS), COHORT_OK);
  cohort_eval_options opt = {.size = sizeof opt, .seed = 7, .threads = 2};
  cohort_eval *e = NULL;
  assert_int_equal(cohort_evaluate(s, real, synth, NULL, &opt, &e), COHORT_OK);
  assert_int_equal(cohort_eval_identical(e), 5);
  assert_int_equal(cohort_eval_identical_rare(e), 4);
  assert_int_equal(cohort_eval_identical_common(e), 1);
  char *text = NULL;
  assert_int_equal(cohort_eval_to_json(e, &text), COHORT_OK);
  json_t *root = json_loads(text, 0, NULL);
  cohort_free(text);
  json_t *pv = json_object_get(root, "privacy");
  assert_int_equal(json_integer_value(json_object_get(pv, "identical_rare_rows")), 4);
  assert_int_equal(json_integer_value(json_object_get(pv, "identical_common_rows")), 1);
  assert_int_equal(json_integer_value(json_object_get(pv, "copy_k")), 5);
  json_decref(root);
  cohort_eval_free(e);

  opt.copy_tolerance = -1; /* exact numbers: 0.1235 is new */
  assert_int_equal(cohort_evaluate(s, real, synth, NULL, &opt, &e), COHORT_OK);
  assert_int_equal(cohort_eval_identical_rare(e), 3);
  assert_int_equal(cohort_eval_identical_common(e), 1);
  cohort_eval_free(e);

  opt.copy_tolerance = 0;
  opt.copy_k = 4; /* C is now shared by enough rows */
  assert_int_equal(cohort_evaluate(s, real, synth, NULL, &opt, &e), COHORT_OK);
  assert_int_equal(cohort_eval_identical_rare(e), 3);
  assert_int_equal(cohort_eval_identical_common(e), 2);
  cohort_eval_free(e);
  cohort_schema_free(s);
  cohort_table_free(real);
  cohort_table_free(synth);
}

static void test_dcr_overfitting_by_hand(void **state) {
  (void)state;
  static const char *const names[] = {"x", "c"};
  /* training (0,a) (10,a) (range 10); holdout (5,a) (100,b) (its own range: 95).
   * synthetic  DCR to training        DCR to holdout                 closer to training?
   *  (0,a)     0                       (5/95 + 0)/2 = .0263          yes
   *  (10,a)    0                       .0263                         yes
   *  (0,a)     0                       .0263                         yes
   *  (5,a)     .25                     0                             no
   * 3 of 4 closer: score = min(1, 2 * (1 - .75)) = .5. Three synthetic rows copy a training row;
   * the median DCR to training is 0, so baseline protection is 0. */
  static const char *const rc[] = {"0", "a", "10", "a"};
  static const char *const hc[] = {"5", "a", "100", "b"};
  static const char *const sc[] = {"0", "a", "10", "a", "0", "a", "5", "a"};
  cohort_table *real = mk(2, names, 2, rc), *hold = mk(2, names, 2, hc), *synth = mk(2, names, 4, sc);
  cohort_schema *s = infer(real);
  cohort_eval *e = run(s, real, synth, hold);
  assert_close(e->closer_to_training, 0.75, EPS);
  assert_close(cohort_eval_dcr_overfitting(e), 0.5, EPS);
  assert_close(e->median_dcr_holdout, 5.0 / 95 / 2, EPS);
  assert_int_equal(cohort_eval_identical(e), 3);
  assert_close(cohort_eval_dcr_baseline(e), 0.0, EPS);
  cohort_eval_free(e);
  cohort_schema_free(s);
  cohort_table_free(real);
  cohort_table_free(hold);
  cohort_table_free(synth);
}

static void test_seed_and_max_rows(void **state) {
  (void)state;
  cohort_table *real = mixed_table(500, 3, false), *synth = mixed_table(400, 4, false),
               *hold = mixed_table(300, 5, false);
  cohort_schema *s = infer(real);
  cohort_eval_options opt = {.size = sizeof opt, .seed = 11, .max_rows = 100, .threads = 3};
  cohort_eval *a = NULL, *b = NULL;
  assert_int_equal(cohort_evaluate(s, real, synth, hold, &opt, &a), COHORT_OK);
  assert_int_equal(cohort_evaluate(s, real, synth, hold, &opt, &b), COHORT_OK);
  assert_int_equal(a->dcr_synth_rows, 100);
  assert_int_equal(a->dcr_real_rows, 100);
  assert_int_equal(a->dcr_holdout_rows, 100);
  assert_true(cohort_eval_dcr_baseline(a) == cohort_eval_dcr_baseline(b));
  assert_true(cohort_eval_dcr_overfitting(a) == cohort_eval_dcr_overfitting(b));
  assert_true(cohort_eval_dcr_baseline(a) > 0 && cohort_eval_dcr_baseline(a) <= 1);
  /* an independent sample of the same process is about as far from training as from holdout */
  assert_true(cohort_eval_dcr_overfitting(a) > 0.6);
  cohort_eval_free(a);
  cohort_eval_free(b);
  cohort_schema_free(s);
  cohort_table_free(real);
  cohort_table_free(synth);
  cohort_table_free(hold);
}

/* ---------------------------------------------------------------- errors */

static int cancel_at_pairs(void *user, const char *stage, double fraction) {
  (void)fraction;
  int *calls = user;
  (*calls)++;
  return strcmp(stage, "pair trends") == 0;
}

static void test_malformed_input(void **state) {
  (void)state;
  static const char *const names[] = {"x", "c"}, *const other[] = {"x", "d"};
  static const char *const cells[] = {"1", "a", "2", "b", "3", "a"};
  cohort_table *real = mk(2, names, 3, cells), *bad = mk(2, other, 3, cells), *empty = mk(2, names, 0, cells);
  cohort_schema *s = infer(real);
  cohort_eval *e = NULL;
  assert_int_equal(cohort_evaluate(s, real, bad, NULL, NULL, &e), COHORT_EINVAL);
  assert_non_null(strstr(cohort_errmsg(), "'c'"));
  assert_int_equal(cohort_evaluate(s, real, real, bad, NULL, &e), COHORT_EINVAL);
  assert_int_equal(cohort_evaluate(s, empty, real, NULL, NULL, &e), COHORT_EINVAL);
  assert_int_equal(cohort_evaluate(s, real, empty, NULL, NULL, &e), COHORT_EINVAL);
  assert_int_equal(cohort_evaluate(s, real, real, empty, NULL, &e), COHORT_EINVAL);
  assert_int_equal(cohort_evaluate(NULL, real, real, NULL, NULL, &e), COHORT_EINVAL);
  assert_int_equal(cohort_evaluate(s, real, NULL, NULL, NULL, &e), COHORT_EINVAL);
  assert_int_equal(cohort_evaluate(s, real, real, NULL, NULL, NULL), COHORT_EINVAL);
  cohort_eval_options opt = {.size = sizeof opt, .target = "nope"};
  assert_int_equal(cohort_evaluate(s, real, real, real, &opt, &e), COHORT_EINVAL);
  assert_null(e);
  /* all features ignored */
  assert_int_equal(cohort_schema_set_ignored(s, "x", 1), COHORT_OK);
  assert_int_equal(cohort_schema_set_ignored(s, "c", 1), COHORT_OK);
  assert_int_equal(cohort_evaluate(s, real, real, NULL, NULL, &e), COHORT_EINVAL);
  assert_int_equal(cohort_schema_set_ignored(s, "x", 0), COHORT_OK);
  /* ignored columns need not exist in the tables: only x is evaluated */
  static const char *const xonly[] = {"x"};
  static const char *const xcells[] = {"1", "2"};
  cohort_table *x = mk(1, xonly, 2, xcells);
  assert_int_equal(cohort_evaluate(s, real, x, NULL, NULL, &e), COHORT_OK);
  assert_int_equal(e->ncols, 1);
  cohort_eval_free(e);
  e = NULL;
  /* NULL-safe accessors and free */
  cohort_eval_free(NULL);
  assert_true(isnan(cohort_eval_quality(NULL)));
  char *txt = NULL;
  assert_int_equal(cohort_eval_to_json(NULL, &txt), COHORT_EINVAL);
  assert_int_equal(co_report_html(NULL, &txt), COHORT_EINVAL);
  /* cancellation from the progress callback */
  assert_int_equal(cohort_schema_set_ignored(s, "c", 0), COHORT_OK);
  int calls = 0;
  cohort_eval_options copt = {.size = sizeof copt, .progress = cancel_at_pairs, .progress_user = &calls};
  assert_int_equal(cohort_evaluate(s, real, real, NULL, &copt, &e), COHORT_ECANCELLED);
  assert_null(e);
  assert_true(calls > 0);
  cohort_schema_free(s);
  cohort_table_free(real);
  cohort_table_free(bad);
  cohort_table_free(empty);
  cohort_table_free(x);
}

static void test_unparsable_numbers_are_missing(void **state) {
  (void)state;
  static const char *const names[] = {"x"};
  static const char *const rc[] = {"1", "2", "3"};
  static const char *const sc[] = {"1", "two", "3"};
  cohort_table *real = mk(1, names, 3, rc), *synth = mk(1, names, 3, sc);
  cohort_schema *s = infer(real);
  cohort_eval *e = run(s, real, synth, NULL);
  assert_int_equal(e->cols[0].invalid, 1);
  /* 1 2 3 vs 1 3: at 1: 1/3 vs 1/2; at 2: 2/3 vs 1/2; D = 1/6 */
  assert_close(e->cols[0].score, 1 - 1.0 / 6, EPS);
  cohort_eval_free(e);
  cohort_schema_free(s);
  cohort_table_free(real);
  cohort_table_free(synth);
}

static void test_allocation_failures(void **state) {
  (void)state;
  cohort_table *real = mixed_table(60, 8, false), *synth = mixed_table(50, 9, false),
               *hold = mixed_table(40, 10, false);
  cohort_schema *s = infer(real);
  cohort_eval_options opt = {.size = sizeof opt, .seed = 3, .threads = 1};
  bool done = false;
  for (long n = 1; n < 100000 && !done; n++) {
    cohort_eval *e = NULL;
    co_alloc_fail_after(n);
    cohort_status st = cohort_evaluate(s, real, synth, hold, &opt, &e);
    char *json = NULL, *html = NULL;
    if (st == COHORT_OK)
      st = cohort_eval_to_json(e, &json);
    if (st == COHORT_OK)
      st = co_report_html(e, &html);
    co_alloc_fail_after(0);
    if (st == COHORT_OK)
      done = true;
    else
      assert_int_equal(st, COHORT_ENOMEM);
    cohort_free(json);
    co_free(html);
    cohort_eval_free(e);
  }
  assert_true(done);
  cohort_schema_free(s);
  cohort_table_free(real);
  cohort_table_free(synth);
  cohort_table_free(hold);
}

/* ---------------------------------------------------------------- reports */

static void test_json_report(void **state) {
  (void)state;
  cohort_table *real = mixed_table(200, 5, false), *synth = mixed_table(200, 6, false),
               *hold = mixed_table(100, 7, false);
  cohort_schema *s = infer(real);
  cohort_eval *e = run(s, real, synth, hold);
  char *txt = NULL;
  assert_int_equal(cohort_eval_to_json(e, &txt), COHORT_OK);
  json_error_t err;
  json_t *j = json_loads(txt, 0, &err);
  if (!j)
    fail_msg("JSON does not parse: %s (line %d)", err.text, err.line);
  json_t *scores = json_object_get(j, "scores");
  assert_non_null(scores);
  assert_true(json_is_real(json_object_get(scores, "quality")));
  assert_close(json_real_value(json_object_get(scores, "quality")), cohort_eval_quality(e), 1e-9);
  assert_true(json_is_real(json_object_get(scores, "quality_all_pairs")));
  assert_true(json_is_real(json_object_get(scores, "dcr_overfitting_protection")));
  assert_true(json_is_integer(json_object_get(scores, "identical_rows")));
  assert_true(json_is_null(json_object_get(j, "tstr")));
  json_t *shapes = json_object_get(j, "column_shapes");
  assert_int_equal(json_array_size(shapes), 4);
  json_t *c0 = json_array_get(shapes, 0);
  assert_string_equal(json_string_value(json_object_get(c0, "column")), "x");
  assert_string_equal(json_string_value(json_object_get(c0, "metric")), "KSComplement");
  json_t *pairs = json_object_get(j, "column_pair_trends");
  assert_int_equal(json_array_size(pairs), 6);
  json_t *p0 = json_array_get(pairs, 0);
  assert_int_equal(json_array_size(json_object_get(p0, "columns")), 2);
  assert_true(json_is_boolean(json_object_get(p0, "kept")));
  assert_non_null(json_object_get(p0, "real"));
  json_t *priv = json_object_get(j, "privacy");
  assert_true(json_is_object(json_object_get(priv, "dcr_baseline_protection")));
  assert_true(json_is_object(json_object_get(priv, "dcr_overfitting_protection")));
  json_t *dists = json_object_get(j, "distributions");
  assert_int_equal(json_array_size(dists), 4);
  json_t *d0 = json_array_get(dists, 0), *d2 = json_array_get(dists, 2);
  assert_string_equal(json_string_value(json_object_get(d0, "kind")), "histogram");
  assert_int_equal(json_array_size(json_object_get(d0, "edges")),
                   json_array_size(json_object_get(d0, "real")) + 1);
  assert_string_equal(json_string_value(json_object_get(d2, "kind")), "categories");
  assert_int_equal(json_array_size(json_object_get(d2, "categories")), 3);
  json_decref(j);
  cohort_free(txt);
  cohort_eval_free(e);
  cohort_schema_free(s);
  cohort_table_free(real);
  cohort_table_free(synth);
  cohort_table_free(hold);
}

static void test_html_report_escapes(void **state) {
  (void)state;
  static const char *const names[] = {"<script>", "n&m", "cat\"q"};
  static const char *const cells[] = {"1", "2", "<b>x</b>", "2", "4", "y'",
                                      "3", "5", "<b>x</b>", "4", "9", "z"};
  cohort_table *real = mk(3, names, 4, cells);
  cohort_schema *s = infer(real);
  cohort_eval *e = run(s, real, real, real);
  char *html = NULL;
  assert_int_equal(co_report_html(e, &html), COHORT_OK);
  assert_non_null(strstr(html, "<svg"));
  assert_non_null(strstr(html, "&lt;script&gt;"));
  assert_null(strstr(html, "<script"));
  assert_null(strstr(html, "<b>"));
  assert_non_null(strstr(html, "&lt;b&gt;x&lt;/b&gt;"));
  assert_non_null(strstr(html, "n&amp;m"));
  assert_non_null(strstr(html, "cat&quot;q"));
  assert_null(strstr(html, "http://"));
  assert_null(strstr(html, "https://"));
  assert_non_null(strstr(html, "</html>"));
  co_free(html);
  cohort_eval_free(e);
  cohort_schema_free(s);
  cohort_table_free(real);
}

/* ---------------------------------------------------------------- train on synthetic */

static void test_tstr(void **state) {
  (void)state;
  cohort_table *real = mixed_table(300, 21, false), *synth = mixed_table(300, 22, false),
               *hold = mixed_table(150, 23, false);
  cohort_schema *s = infer(real);
  cohort_eval_options opt = {.size = sizeof opt, .seed = 5, .threads = 2, .target = "c"};
  cohort_eval *e = NULL;
  cohort_status st = cohort_evaluate(s, real, synth, hold, &opt, &e);
  if (st != COHORT_OK)
    fail_msg("cohort_evaluate with a target: %s: %s", cohort_strerror(st), cohort_errmsg());
  /* c is a function of x: both models should predict it well */
  assert_true(cohort_eval_tstr(e) > 0.8 && cohort_eval_tstr(e) <= 1);
  assert_true(cohort_eval_trtr(e) > 0.8 && cohort_eval_trtr(e) <= 1);
  assert_int_equal(e->test_rows, 150);
  /* Gradient boosting beside them: c's cut points on x are exact splits for trees. */
  print_message("c: TSTR %.4f / TRTR %.4f (k-NN), %.4f / %.4f (gradient boosting)\n", cohort_eval_tstr(e),
                cohort_eval_trtr(e), cohort_eval_tstr_gbm(e), cohort_eval_trtr_gbm(e));
  assert_true(cohort_eval_tstr_gbm(e) > 0.95 && cohort_eval_tstr_gbm(e) <= 1);
  assert_true(cohort_eval_trtr_gbm(e) > 0.95 && cohort_eval_trtr_gbm(e) <= 1);
  assert_null(e->gbm_note);
  char *txt = NULL;
  assert_int_equal(cohort_eval_to_json(e, &txt), COHORT_OK);
  json_t *j = json_loads(txt, 0, NULL);
  assert_non_null(j);
  assert_close(json_real_value(json_object_get(json_object_get(j, "scores"), "tstr_gbm")),
               cohort_eval_tstr_gbm(e), 1e-9);
  json_t *g = json_object_get(json_object_get(j, "tstr"), "gradient_boosting");
  assert_close(json_real_value(json_object_get(g, "train_on_real")), cohort_eval_trtr_gbm(e), 1e-9);
  assert_close(json_real_value(json_object_get(g, "train_on_synthetic")), cohort_eval_tstr_gbm(e), 1e-9);
  assert_null(json_object_get(g, "note"));
  json_decref(j);
  co_free(txt);
  char *html = NULL;
  assert_int_equal(co_report_html(e, &html), COHORT_OK);
  assert_non_null(strstr(html, "gradient boosting"));
  assert_non_null(strstr(html, "Train on synthetic (GBM)"));
  co_free(html);
  cohort_eval_free(e);
  /* Synthetic rows whose y lost its tie to x: gradient boosting trained on them cannot predict y
   * (R^2 near 0 or below), trained on the real rows it can. */
  cohort_table *broken = mixed_table(300, 22, true);
  opt.target = "y";
  st = cohort_evaluate(s, real, broken, hold, &opt, &e);
  if (st != COHORT_OK)
    fail_msg("cohort_evaluate on broken rows: %s: %s", cohort_strerror(st), cohort_errmsg());
  print_message("y on broken synthetic rows: TSTR %.4f / TRTR %.4f (gradient boosting)\n",
                cohort_eval_tstr_gbm(e), cohort_eval_trtr_gbm(e));
  assert_true(cohort_eval_tstr_gbm(e) < 0.2);
  assert_true(cohort_eval_trtr_gbm(e) > 0.95);
  cohort_eval_free(e);
  cohort_table_free(broken);
  /* a numeric target is scored with R^2; y = 2x + noise(sd 5) over x in [0,100): R^2 ~ .98 */
  opt.target = "y";
  st = cohort_evaluate(s, real, synth, hold, &opt, &e);
  if (st != COHORT_OK)
    fail_msg("cohort_evaluate with a numeric target: %s: %s", cohort_strerror(st), cohort_errmsg());
  assert_true(e->target_numeric);
  assert_true(cohort_eval_tstr(e) > 0.8);
  assert_true(cohort_eval_trtr(e) > 0.8);
  print_message("y: TSTR %.4f / TRTR %.4f (gradient boosting)\n", cohort_eval_tstr_gbm(e),
                cohort_eval_trtr_gbm(e));
  assert_true(cohort_eval_tstr_gbm(e) > 0.95 && cohort_eval_tstr_gbm(e) <= 1);
  assert_true(cohort_eval_trtr_gbm(e) > 0.95 && cohort_eval_trtr_gbm(e) <= 1);
  cohort_eval_free(e);
  /* without a holdout it is skipped, not an error */
  opt.target = "c";
  assert_int_equal(cohort_evaluate(s, real, synth, NULL, &opt, &e), COHORT_OK);
  assert_true(isnan(cohort_eval_tstr(e)));
  assert_non_null(e->tstr_note);
  assert_true(isnan(cohort_eval_tstr_gbm(e)));
  assert_non_null(e->gbm_note);
  cohort_eval_free(e);
  cohort_schema_free(s);
  cohort_table_free(real);
  cohort_table_free(synth);
  cohort_table_free(hold);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ks_statistic),
      cmocka_unit_test(test_tv_complement),
      cmocka_unit_test(test_pearson),
      cmocka_unit_test(test_column_shapes_by_hand),
      cmocka_unit_test(test_correlation_similarity),
      cmocka_unit_test(test_contingency_similarity),
      cmocka_unit_test(test_contingency_discretizes_each_table),
      cmocka_unit_test(test_identical_tables),
      cmocka_unit_test(test_identical_by_value),
      cmocka_unit_test(test_shuffled_column_lowers_pair_trends),
      cmocka_unit_test(test_dcr_by_hand),
      cmocka_unit_test(test_dcr_overfitting_by_hand),
      cmocka_unit_test(test_seed_and_max_rows),
      cmocka_unit_test(test_malformed_input),
      cmocka_unit_test(test_unparsable_numbers_are_missing),
      cmocka_unit_test(test_allocation_failures),
      cmocka_unit_test(test_json_report),
      cmocka_unit_test(test_html_report_escapes),
      cmocka_unit_test(test_tstr),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
