/* Gradient-boosted trees (src/engine/gbm.c), the report's strong-learner judge: what one split
 * cannot learn (XOR), native categorical splits, missing values routed by the split, regression
 * on a known function, several classes, early stopping, determinism, malformed input and every
 * allocation failing in turn. Data are generated with the engine's seeded generator. */
/* cmocka needs these first */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "co_gbm.h"

/* Up to 4 features, numeric or categorical, and both kinds of target. */
typedef struct set {
  size_t n;
  double num[4][20000];
  int32_t cat[4][20000];
  double y[20000];
  int32_t yc[20000];
  const double *nump[4];
  const int32_t *catp[4];
  co_gbm_data d;
} set;

static set train_set, test_set;

/* kinds: 'n' numeric, 'c' categorical, one letter per feature. */
static void layout(set *s, size_t n, const char *kinds) {
  s->n = n;
  size_t nf = strlen(kinds);
  for (size_t j = 0; j < nf; j++) {
    s->nump[j] = kinds[j] == 'n' ? s->num[j] : NULL;
    s->catp[j] = kinds[j] == 'c' ? s->cat[j] : NULL;
  }
  s->d = (co_gbm_data){.n = n, .nf = nf, .num = s->nump, .cat = s->catp};
}

static co_gbm *fit(const set *s, bool classify, uint64_t seed, size_t threads) {
  co_gbm *m = NULL;
  co_gbm_options o = {.seed = seed, .threads = threads};
  cohort_status st = co_gbm_fit(&s->d, classify ? NULL : s->y, classify ? s->yc : NULL, &o, &m);
  if (st != COHORT_OK)
    fail_msg("fit: %s", cohort_errmsg());
  return m;
}

static double accuracy(const co_gbm *m, const set *s) {
  static int32_t pred[20000];
  assert_int_equal(co_gbm_predict(m, &s->d, NULL, pred), COHORT_OK);
  size_t right = 0, n = 0;
  for (size_t i = 0; i < s->n; i++) {
    if (s->yc[i] < 0)
      continue;
    n++;
    right += pred[i] == s->yc[i];
  }
  return (double)right / (double)n;
}

static double r2(const co_gbm *m, const set *s) {
  static double pred[20000];
  assert_int_equal(co_gbm_predict(m, &s->d, pred, NULL), COHORT_OK);
  double mean = 0, res = 0, tot = 0;
  for (size_t i = 0; i < s->n; i++)
    mean += s->y[i];
  mean /= (double)s->n;
  for (size_t i = 0; i < s->n; i++) {
    res += (s->y[i] - pred[i]) * (s->y[i] - pred[i]);
    tot += (s->y[i] - mean) * (s->y[i] - mean);
  }
  return 1 - res / tot;
}

/* y = (x0 > 0) xor (x1 > 0), x2 noise: no single split helps, two levels of splits do. */
static void xor_set(set *s, size_t n, uint64_t seed) {
  co_rng r;
  co_rng_seed(&r, seed);
  layout(s, n, "nnn");
  for (size_t i = 0; i < n; i++) {
    for (size_t j = 0; j < 3; j++)
      s->num[j][i] = 2 * co_rng_uniform(&r) - 1;
    s->yc[i] = (s->num[0][i] > 0) != (s->num[1][i] > 0) ? 7 : 3; /* class codes need not be 0..K-1 */
  }
}

static void test_xor(void **state) {
  (void)state;
  xor_set(&train_set, 3000, 1);
  xor_set(&test_set, 2000, 2);
  co_gbm *m = fit(&train_set, true, 0, 1);
  double acc = accuracy(m, &test_set);
  printf("xor accuracy %.4f after %zu iterations\n", acc, co_gbm_iterations(m));
  assert_true(acc > 0.95);
  co_gbm_free(m);
  /* One iteration of one tree already separates the quadrants (31 leaves). */
  co_gbm_options o = {.seed = 0, .threads = 1, .max_iter = 1};
  assert_int_equal(co_gbm_fit(&train_set.d, NULL, train_set.yc, &o, &m), COHORT_OK);
  assert_int_equal(co_gbm_iterations(m), 1);
  int32_t pred[2000];
  assert_int_equal(co_gbm_predict(m, &test_set.d, NULL, pred), COHORT_OK);
  /* One step of 0.1 from the baseline still leans the right way in each quadrant. */
  size_t right = 0;
  for (size_t i = 0; i < 2000; i++)
    right += pred[i] == test_set.yc[i];
  assert_true(right > 1800);
  co_gbm_free(m);
}

/* 150 categories with codes scattered over a wide range; the class is a hashed fifth of them, so
 * the codes' order says nothing and isolating the fifth one by one takes ~60 splits, more than a
 * tree has. A native categorical split (sort by gradient / hessian, cut the order) finds it in
 * one; x1 is noise. */
static bool in_subset(int32_t c) {
  return ((uint32_t)c * 2654435761u >> 11) % 5 == 0;
}

static void cat_set(set *s, size_t n, uint64_t seed) {
  co_rng r;
  co_rng_seed(&r, seed);
  layout(s, n, "cn");
  for (size_t i = 0; i < n; i++) {
    int32_t c = (int32_t)(co_rng_below(&r, 150) * 7919 % 100003);
    s->cat[0][i] = c;
    s->num[1][i] = co_rng_uniform(&r);
    s->yc[i] = in_subset(c);
    s->y[i] = (double)(c % 13) + 0.1 * co_rng_normal(&r);
  }
}

static void test_categorical(void **state) {
  (void)state;
  cat_set(&train_set, 9000, 3);
  cat_set(&test_set, 3000, 4);
  size_t ones = 0;
  for (size_t i = 0; i < 3000; i++)
    ones += (size_t)test_set.yc[i];
  assert_true(ones > 300 && ones < 900);
  /* Four trees: each moves the subset's log odds by ~0.5, three of them flip it to class 1. */
  co_gbm_options o = {.seed = 0, .threads = 1, .max_iter = 4};
  co_gbm *m = NULL;
  assert_int_equal(co_gbm_fit(&train_set.d, NULL, train_set.yc, &o, &m), COHORT_OK);
  double acc = accuracy(m, &test_set);
  co_gbm_free(m);
  /* The same codes read as numbers: threshold splits cannot gather the fifth in four trees. */
  layout(&train_set, 9000, "nn");
  layout(&test_set, 3000, "nn");
  for (size_t i = 0; i < 9000; i++)
    train_set.num[0][i] = train_set.cat[0][i];
  for (size_t i = 0; i < 3000; i++)
    test_set.num[0][i] = test_set.cat[0][i];
  assert_int_equal(co_gbm_fit(&train_set.d, NULL, train_set.yc, &o, &m), COHORT_OK);
  double acc_ordinal = accuracy(m, &test_set);
  co_gbm_free(m);
  printf("categorical accuracy %.4f after 4 trees (codes as numbers: %.4f), %zu of 3000 in class 1\n", acc,
         acc_ordinal, ones);
  assert_true(acc > 0.99);
  assert_true(acc_ordinal < 0.95);
  layout(&train_set, 9000, "cn");
  layout(&test_set, 3000, "cn");
  m = fit(&train_set, false, 0, 1);
  double r = r2(m, &test_set);
  printf("categorical regression R2 %.4f\n", r);
  assert_true(r > 0.98);
  co_gbm_free(m);
  /* A category never seen in training is predicted like a missing value: a class, no crash. */
  for (size_t i = 0; i < 100; i++)
    test_set.cat[0][i] = 5 + (int32_t)i;
  test_set.n = test_set.d.n = 100;
  m = fit(&train_set, true, 0, 1);
  int32_t pred[100];
  assert_int_equal(co_gbm_predict(m, &test_set.d, NULL, pred), COHORT_OK);
  for (size_t i = 0; i < 100; i++)
    assert_true(pred[i] == 0 || pred[i] == 1);
  co_gbm_free(m);
}

/* y = 1 when x0 is missing (30% of rows), else x0 > 0.5: only a split that sends the missing
 * values to the side of their class gets the missing rows right. Categorical twin in x1. */
static void missing_set(set *s, size_t n, uint64_t seed, bool cat) {
  co_rng r;
  co_rng_seed(&r, seed);
  layout(s, n, cat ? "c" : "n");
  for (size_t i = 0; i < n; i++) {
    bool miss = co_rng_uniform(&r) < 0.3;
    double v = co_rng_uniform(&r);
    s->num[0][i] = miss ? NAN : v;
    s->cat[0][i] = miss ? -1 : (int32_t)(v * 10);
    s->yc[i] = miss || v > 0.5;
  }
  /* Missing values low in the numeric order and in the categories' gradient order alike. */
}

static void test_missing(void **state) {
  (void)state;
  for (int cat = 0; cat < 2; cat++) {
    missing_set(&train_set, 3000, 5, cat);
    missing_set(&test_set, 2000, 6, cat);
    co_gbm *m = fit(&train_set, true, 0, 1);
    int32_t pred[2000];
    assert_int_equal(co_gbm_predict(m, &test_set.d, NULL, pred), COHORT_OK);
    size_t miss = 0, miss_right = 0, right = 0;
    for (size_t i = 0; i < 2000; i++) {
      bool is_missing = cat ? test_set.cat[0][i] < 0 : isnan(test_set.num[0][i]);
      miss += is_missing;
      miss_right += is_missing && pred[i] == 1;
      right += pred[i] == test_set.yc[i];
    }
    printf("missing (%s): %zu of %zu missing rows right, accuracy %.4f\n", cat ? "categorical" : "numeric",
           miss_right, miss, (double)right / 2000);
    assert_true(miss > 400);
    assert_int_equal(miss_right, miss);
    assert_true(right > 1960);
    co_gbm_free(m);
  }
  /* Missing only at prediction: they follow the larger child, and nothing breaks. */
  missing_set(&train_set, 3000, 7, false);
  for (size_t i = 0; i < 3000; i++)
    if (isnan(train_set.num[0][i]))
      train_set.num[0][i] = 0.25, train_set.yc[i] = 0;
  co_gbm *m = fit(&train_set, true, 0, 1);
  double x = NAN;
  const double *col[1] = {&x};
  const int32_t *none[1] = {NULL};
  co_gbm_data one = {.n = 1, .nf = 1, .num = col, .cat = none};
  int32_t p = -5;
  assert_int_equal(co_gbm_predict(m, &one, NULL, &p), COHORT_OK);
  assert_true(p == 0 || p == 1);
  co_gbm_free(m);
}

/* y = sin(3 x0) + x1^2 + 0.1 noise, x2 noise; R^2 on fresh rows near the ceiling (noise ~1.4% of
 * the variance). */
static void reg_set(set *s, size_t n, uint64_t seed) {
  co_rng r;
  co_rng_seed(&r, seed);
  layout(s, n, "nnn");
  for (size_t i = 0; i < n; i++) {
    for (size_t j = 0; j < 3; j++)
      s->num[j][i] = 2 * co_rng_uniform(&r) - 1;
    s->y[i] = sin(3 * s->num[0][i]) + s->num[1][i] * s->num[1][i] + 0.1 * co_rng_normal(&r);
  }
}

static void test_regression(void **state) {
  (void)state;
  reg_set(&train_set, 5000, 8);
  reg_set(&test_set, 2000, 9);
  co_gbm *m = fit(&train_set, false, 0, 1);
  double r = r2(m, &test_set);
  printf("regression R2 %.4f after %zu iterations\n", r, co_gbm_iterations(m));
  assert_true(r > 0.95);
  assert_int_equal(co_gbm_iterations(m), 100);
  co_gbm_free(m);
  /* A missing target leaves its row out: the same fit with junk rows marked missing. */
  size_t n = train_set.n;
  for (size_t i = 0; i < 500; i++) {
    train_set.num[0][n + i] = 0.5;
    train_set.num[1][n + i] = 0.5;
    train_set.num[2][n + i] = 0.5;
    train_set.y[n + i] = NAN;
  }
  train_set.n = train_set.d.n = n + 500;
  m = fit(&train_set, false, 0, 1);
  assert_true(fabs(r2(m, &test_set) - r) < 1e-12);
  co_gbm_free(m);
}

/* Four classes by quadrant of the angle of (x0, x1), rotated; x2 noise. */
static void multi_set(set *s, size_t n, uint64_t seed) {
  co_rng r;
  co_rng_seed(&r, seed);
  layout(s, n, "nnn");
  for (size_t i = 0; i < n; i++) {
    for (size_t j = 0; j < 3; j++)
      s->num[j][i] = 2 * co_rng_uniform(&r) - 1;
    double a = atan2(s->num[1][i], s->num[0][i]) + 0.4 + M_PI;
    s->yc[i] = 10 + (int32_t)fmod(a / (M_PI / 2), 4.0);
  }
}

static void test_multiclass(void **state) {
  (void)state;
  multi_set(&train_set, 4000, 10);
  multi_set(&test_set, 2000, 11);
  co_gbm *m = fit(&train_set, true, 0, 1);
  double acc = accuracy(m, &test_set);
  printf("multiclass accuracy %.4f\n", acc);
  assert_true(acc > 0.93);
  co_gbm_free(m);
  /* One class: predicted everywhere. */
  for (size_t i = 0; i < train_set.n; i++)
    train_set.yc[i] = 42;
  m = fit(&train_set, true, 0, 1);
  assert_true(accuracy(m, &test_set) == 0.0);
  int32_t p[10];
  test_set.d.n = 10;
  assert_int_equal(co_gbm_predict(m, &test_set.d, NULL, p), COHORT_OK);
  for (size_t i = 0; i < 10; i++)
    assert_int_equal(p[i], 42);
  co_gbm_free(m);
}

/* Over 10,000 rows a noise target stops early; a learnable one keeps learning. Same seed, same
 * model, whatever the thread count; another seed, another validation split. */
static void test_early_stopping_and_determinism(void **state) {
  (void)state;
  co_rng r;
  co_rng_seed(&r, 12);
  layout(&train_set, 12000, "nn");
  for (size_t i = 0; i < 12000; i++) {
    train_set.num[0][i] = co_rng_uniform(&r);
    train_set.num[1][i] = co_rng_uniform(&r);
    train_set.y[i] = co_rng_normal(&r);
    train_set.yc[i] = (train_set.num[0][i] + train_set.num[1][i] > 1) ^ (co_rng_uniform(&r) < 0.05);
  }
  co_gbm *m = fit(&train_set, false, 3, 1);
  printf("noise target: %zu iterations\n", co_gbm_iterations(m));
  assert_true(co_gbm_iterations(m) < 40);
  co_gbm_free(m);

  /* 20,000 rows x 4 features: the root's histogram is built on two threads. */
  layout(&train_set, 20000, "nnnc");
  for (size_t i = 0; i < 20000; i++) {
    train_set.num[0][i] = co_rng_uniform(&r);
    train_set.num[1][i] = co_rng_uniform(&r);
    train_set.num[2][i] = co_rng_uniform(&r) < 0.1 ? NAN : co_rng_normal(&r);
    train_set.cat[3][i] = (int32_t)co_rng_below(&r, 12);
    train_set.yc[i] = (train_set.num[0][i] + train_set.num[1][i] > 1) ^ (co_rng_uniform(&r) < 0.05) ^
                      (train_set.cat[3][i] == 4);
  }
  co_gbm *a = fit(&train_set, true, 3, 1), *b = fit(&train_set, true, 3, 2), *c = fit(&train_set, true, 4, 2);
  printf("signal: %zu iterations (seed 3), %zu (seed 4)\n", co_gbm_iterations(a), co_gbm_iterations(c));
  assert_true(co_gbm_iterations(a) > 10);
  assert_int_equal(co_gbm_iterations(a), co_gbm_iterations(b));
  static int32_t pa[20000], pb[20000];
  assert_int_equal(co_gbm_predict(a, &train_set.d, NULL, pa), COHORT_OK);
  assert_int_equal(co_gbm_predict(b, &train_set.d, NULL, pb), COHORT_OK);
  assert_memory_equal(pa, pb, sizeof pa);
  co_gbm_free(a);
  co_gbm_free(b);
  co_gbm_free(c);

  reg_set(&train_set, 3000, 13);
  a = fit(&train_set, false, 1, 1);
  b = fit(&train_set, false, 1, 2);
  static double ya[3000], yb[3000];
  assert_int_equal(co_gbm_predict(a, &train_set.d, ya, NULL), COHORT_OK);
  assert_int_equal(co_gbm_predict(b, &train_set.d, yb, NULL), COHORT_OK);
  assert_memory_equal(ya, yb, sizeof ya);
  co_gbm_free(a);
  co_gbm_free(b);
}

static void test_malformed(void **state) {
  (void)state;
  co_gbm *m = NULL;
  xor_set(&train_set, 100, 14);
  co_gbm_data none = train_set.d;
  none.n = 0;
  assert_int_equal(co_gbm_fit(&none, NULL, train_set.yc, NULL, &m), COHORT_EINVAL);
  assert_non_null(strstr(cohort_errmsg(), "rows"));
  assert_string_equal(cohort_errfield(), "rows");
  assert_null(m);
  for (size_t i = 0; i < 100; i++) {
    train_set.yc[i] = -1;
    train_set.y[i] = NAN;
  }
  assert_int_equal(co_gbm_fit(&train_set.d, NULL, train_set.yc, NULL, &m), COHORT_EINVAL);
  assert_non_null(strstr(cohort_errmsg(), "every value is missing"));
  assert_string_equal(cohort_errfield(), "target");
  assert_int_equal(co_gbm_fit(&train_set.d, train_set.y, NULL, NULL, &m), COHORT_EINVAL);
  assert_string_equal(cohort_errfield(), "target");
  assert_int_equal(co_gbm_fit(&train_set.d, train_set.y, train_set.yc, NULL, &m), COHORT_EINVAL);
  assert_int_equal(co_gbm_fit(&train_set.d, NULL, NULL, NULL, &m), COHORT_EINVAL);
  assert_int_equal(co_gbm_fit(NULL, train_set.y, NULL, NULL, &m), COHORT_EINVAL);
  assert_int_equal(co_gbm_fit(&train_set.d, train_set.y, NULL, NULL, NULL), COHORT_EINVAL);
  /* A feature that is neither numeric nor categorical, or both. */
  xor_set(&train_set, 100, 14);
  train_set.nump[1] = NULL;
  assert_int_equal(co_gbm_fit(&train_set.d, NULL, train_set.yc, NULL, &m), COHORT_EINVAL);
  assert_non_null(strstr(cohort_errmsg(), "feature 1"));
  train_set.nump[1] = train_set.num[1];
  train_set.catp[1] = train_set.cat[1];
  assert_int_equal(co_gbm_fit(&train_set.d, NULL, train_set.yc, NULL, &m), COHORT_EINVAL);
  train_set.catp[1] = NULL;
  /* Predict: another layout, the wrong output, no model. */
  m = fit(&train_set, true, 0, 1);
  int32_t p[100];
  double y[100];
  co_gbm_data two = train_set.d;
  two.nf = 2;
  assert_int_equal(co_gbm_predict(m, &two, NULL, p), COHORT_EINVAL);
  assert_int_equal(co_gbm_predict(m, &train_set.d, y, NULL), COHORT_EINVAL);
  assert_int_equal(co_gbm_predict(NULL, &train_set.d, NULL, p), COHORT_EINVAL);
  train_set.catp[2] = train_set.cat[2];
  train_set.nump[2] = NULL;
  assert_int_equal(co_gbm_predict(m, &train_set.d, NULL, p), COHORT_EINVAL);
  assert_non_null(strstr(cohort_errmsg(), "feature 2"));
  co_gbm_free(m);
  co_gbm_free(NULL);
  /* More classes than the judge grows trees for. */
  xor_set(&train_set, 600, 16);
  for (size_t i = 0; i < 600; i++)
    train_set.yc[i] = (int32_t)(i % 300);
  assert_int_equal(co_gbm_fit(&train_set.d, NULL, train_set.yc, NULL, &m), COHORT_ELIMIT);
  assert_non_null(strstr(cohort_errmsg(), "300 classes"));
  assert_null(m);
  /* A few rows (fewer than two leaves' minimum): the baseline, no split. */
  xor_set(&train_set, 30, 15);
  m = fit(&train_set, true, 0, 1);
  assert_int_equal(co_gbm_predict(m, &train_set.d, NULL, p), COHORT_OK);
  co_gbm_free(m);
}

/* Every allocation failing in turn, fit and predict: ENOMEM, never a crash or a leak (ASan). */
static void test_alloc_failures(void **state) {
  (void)state;
  for (int kind = 0; kind < 3; kind++) {
    if (kind == 0)
      multi_set(&train_set, 300, 16);
    else if (kind == 1)
      cat_set(&train_set, 300, 17);
    else
      missing_set(&train_set, 300, 18, false);
    bool done = false;
    for (long n = 1; n < 5000 && !done; n++) {
      co_gbm *m = NULL;
      co_gbm_options o = {.seed = 1, .threads = 1, .max_iter = 5};
      co_alloc_fail_after(n);
      cohort_status st =
          co_gbm_fit(&train_set.d, kind == 1 ? train_set.y : NULL, kind == 1 ? NULL : train_set.yc, &o, &m);
      if (st == COHORT_OK) {
        static double y[300];
        static int32_t p[300];
        co_alloc_fail_after(1);
        st = co_gbm_predict(m, &train_set.d, y, p);
        done = true;
      }
      co_alloc_fail_after(0);
      if (!done)
        assert_null(m);
      assert_true(st == COHORT_OK || st == COHORT_ENOMEM);
      co_gbm_free(m);
    }
    assert_true(done);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_xor),        cmocka_unit_test(test_categorical),
      cmocka_unit_test(test_missing),    cmocka_unit_test(test_regression),
      cmocka_unit_test(test_multiclass), cmocka_unit_test(test_early_stopping_and_determinism),
      cmocka_unit_test(test_malformed),  cmocka_unit_test(test_alloc_failures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
