/* Trainee core: exact neighbour search, train/remove/edit, analyze, react with details,
 * anomalies, impute, synthesize, and failure paths (bad arguments, injected out-of-memory). */
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

/* A mixed table: x1, x2 numeric, color nominal, y = 3*x1 - x2 + noise, cls = x1 > 0.5. Some cells
 * missing. */
static cohort_table *make_table(size_t n, uint64_t seed, bool with_missing) {
  const char *names[] = {"x1", "x2", "color", "y", "cls"};
  cohort_table *t;
  CHECK_OK(cohort_table_create(&t, 5, names));
  co_rng r;
  co_rng_seed(&r, seed);
  static const char *colors[] = {"red", "green", "blue"};
  for (size_t i = 0; i < n; i++) {
    double x1 = co_rng_uniform(&r), x2 = co_rng_uniform(&r);
    char b1[32], b2[32], b3[32];
    snprintf(b1, sizeof b1, "%.4f", x1);
    snprintf(b2, sizeof b2, "%.4f", x2);
    snprintf(b3, sizeof b3, "%.4f", 3 * x1 - x2 + 0.01 * co_rng_normal(&r));
    const char *cells[5] = {b1, b2, colors[(size_t)(x2 * 2.999)], b3, x1 > 0.5 ? "hi" : "lo"};
    if (with_missing && i % 17 == 3)
      cells[1] = NULL;
    if (with_missing && i % 23 == 5)
      cells[2] = NULL;
    CHECK_OK(cohort_table_append(t, cells));
  }
  return t;
}

static cohort_trainee *make_trainee(cohort_table *tab) {
  cohort_schema *s;
  cohort_trainee *t;
  CHECK_OK(cohort_schema_infer(&s, tab));
  CHECK_OK(cohort_trainee_create(&t, s));
  cohort_schema_free(s);
  CHECK_OK(cohort_trainee_train(t, tab, NULL));
  return t;
}

/* Reference distance straight from the definition in knn.c. */
static double naive_dist(const co_index *ix, const co_metric *m, const float *q, size_t row) {
  double s = 0;
  for (size_t f = 0; f < ix->nf; f++) {
    if (!(m->w[f] > 0))
      continue;
    float v = ix->col[f * ix->n + row];
    double term;
    if (isnan(q[f]))
      term = isnan(v) ? 0 : ix->mcost[f];
    else if (isnan(v))
      term = ix->mcost[f];
    else if (ix->cat[f])
      term = v == q[f] ? 0 : ix->mcost[f];
    else
      term = fabs((double)q[f] - v);
    s += m->w[f] * pow(term, m->p);
  }
  return pow(s, 1.0 / m->p);
}

static void test_knn_exact(void **state) {
  (void)state;
  cohort_table *tab = make_table(3000, 1, true);
  cohort_trainee *t = make_trainee(tab);
  const co_index *ix;
  CHECK_OK(co_trainee_index(t, &ix));
  double w[5] = {1, 0.5, 2, 1, 0};
  const double ps[] = {0.5, 1, 2, 1.5};
  float q[5];
  co_nb nb[10];
  double *d = malloc(t->n * sizeof *d);
  for (size_t pi = 0; pi < 4; pi++) {
    co_metric m = {w, ps[pi], -1};
    for (size_t qi = 0; qi < 40; qi++) {
      co_index_scale(ix, t->x + qi * 7 * t->nf, q);
      size_t got = co_knn(ix, &m, q, 10, (long)(qi * 7), NULL, nb);
      assert_int_equal(got, 10);
      for (size_t row = 0; row < t->n; row++) {
        size_t c = ix->ids[row];
        d[c] = c == qi * 7 ? INFINITY : naive_dist(ix, &m, q, row);
      }
      /* the k-th engine distance must equal the k-th smallest true distance */
      for (size_t i = 0; i < got; i++) {
        assert_true(fabs(d[nb[i].i] - nb[i].d) < 1e-3 * (1 + nb[i].d));
        if (i)
          assert_true(nb[i].d >= nb[i - 1].d);
        size_t smaller = 0;
        for (size_t c = 0; c < t->n; c++)
          smaller += d[c] < nb[i].d - 1e-4 * (1 + nb[i].d);
        assert_true(smaller <= i);
      }
    }
  }
  free(d);
  cohort_trainee_free(t);
  cohort_table_free(tab);
}

static void test_knn_random_ties(void **state) {
  (void)state;
  /* All cases equidistant: with a random stream, picks must spread over all of them. */
  const char *names[] = {"a", "b"};
  cohort_table *tab;
  CHECK_OK(cohort_table_create(&tab, 2, names));
  for (int i = 0; i < 200; i++) {
    char b[16];
    snprintf(b, sizeof b, "%d", i);
    const char *cells[2] = {"same", b};
    CHECK_OK(cohort_table_append(tab, cells));
  }
  cohort_trainee *t = make_trainee(tab);
  const co_index *ix;
  CHECK_OK(co_trainee_index(t, &ix));
  double w[2] = {1, 0};
  co_metric m = {w, 1, -1};
  float q[2];
  co_index_scale(ix, t->x, q);
  co_rng rng;
  co_rng_seed(&rng, 7);
  int seen[200] = {0};
  co_nb nb[5];
  for (int it = 0; it < 400; it++) {
    assert_int_equal(co_knn(ix, &m, q, 5, -1, &rng, nb), 5);
    for (int i = 0; i < 5; i++)
      seen[nb[i].i]++;
  }
  int distinct = 0;
  for (int i = 0; i < 200; i++)
    distinct += seen[i] > 0;
  assert_true(distinct > 190);
  cohort_trainee_free(t);
  cohort_table_free(tab);
}

static void test_predict_and_details(void **state) {
  (void)state;
  cohort_table *train = make_table(2000, 2, true), *test = make_table(300, 3, false);
  cohort_trainee *t = make_trainee(train);
  const char *targets[] = {"y", "cls"};
  cohort_analyze_options ao = {.size = sizeof ao, .targets = targets, .n_targets = 2, .seed = 5};
  CHECK_OK(cohort_trainee_analyze(t, &ao));
  assert_true(cohort_trainee_is_analyzed(t));
  const char *ctx[] = {"x1", "x2"};
  cohort_react_options ro = {.size = sizeof ro,
                             .targets = targets,
                             .n_targets = 2,
                             .contexts = ctx,
                             .n_contexts = 2,
                             .details = COHORT_DETAIL_CASES | COHORT_DETAIL_CONTRIBUTIONS};
  cohort_reaction *r;
  CHECK_OK(cohort_react(t, test, &ro, &r));
  assert_int_equal(cohort_reaction_rows(r), 300);
  double sse = 0, sst = 0, mean = 0;
  size_t correct = 0;
  for (size_t i = 0; i < 300; i++)
    mean += atof(cohort_table_cell(test, i, 3)) / 300;
  for (size_t i = 0; i < 300; i++) {
    double y = atof(cohort_table_cell(test, i, 3));
    double p = atof(cohort_reaction_value(r, i, 0));
    sse += (y - p) * (y - p);
    sst += (y - mean) * (y - mean);
    correct += strcmp(cohort_reaction_value(r, i, 1), cohort_table_cell(test, i, 4)) == 0;
    assert_true(cohort_reaction_uncertainty(r, i, 0) >= 0);
    double ps = 0;
    for (size_t c = 0; c < cohort_reaction_classes(r, 1); c++)
      ps += cohort_reaction_probability(r, i, 1, c);
    assert_true(fabs(ps - 1) < 1e-9);
    /* details */
    size_t nc = cohort_reaction_cases(r, i);
    assert_true(nc >= 1);
    double wsum = 0;
    for (size_t j = 0; j < nc; j++) {
      size_t ci;
      double wj;
      cohort_reaction_case(r, i, j, &ci, &wj);
      assert_true(ci < cohort_trainee_cases(t));
      wsum += wj;
    }
    assert_true(fabs(wsum - 1) < 1e-9);
    assert_int_equal(cohort_reaction_contexts(r), 2);
  }
  double r2 = 1 - sse / sst;
  assert_true(r2 > 0.95);
  assert_true(correct > 285);
  /* x1 decides cls: its contribution dominates x2's on average */
  double c1 = 0, c2 = 0;
  for (size_t i = 0; i < 300; i++) {
    c1 += cohort_reaction_contribution(r, i, 1, 0);
    c2 += cohort_reaction_contribution(r, i, 1, 1);
  }
  assert_string_equal(cohort_reaction_context(r, 0), "x1");
  assert_true(c1 > c2);
  cohort_reaction_free(r);

  double imp[5];
  CHECK_OK(cohort_feature_importance(t, "y", 300, 1, imp, 5));
  assert_true(imp[0] > 0 && imp[0] > imp[4]);
  assert_true(imp[3] == 0);

  cohort_trainee_free(t);
  cohort_table_free(train);
  cohort_table_free(test);
}

static void test_analyze_deterministic(void **state) {
  (void)state;
  cohort_table *tab = make_table(1500, 4, true);
  cohort_trainee *a = make_trainee(tab), *b = make_trainee(tab);
  const char *targets[] = {"cls"};
  cohort_analyze_options ao = {
      .size = sizeof ao, .targets = targets, .n_targets = 1, .seed = 99, .threads = 1};
  CHECK_OK(cohort_trainee_analyze(a, &ao));
  ao.threads = 2;
  CHECK_OK(cohort_trainee_analyze(b, &ao));
  size_t ka, kb;
  double pa, pb;
  CHECK_OK(cohort_trainee_params(a, "cls", &ka, &pa));
  CHECK_OK(cohort_trainee_params(b, "cls", &kb, &pb));
  assert_int_equal(ka, kb);
  assert_true(pa == pb);
  for (size_t f = 0; f < 5; f++) {
    assert_true(cohort_trainee_deviation(a, f) == cohort_trainee_deviation(b, f));
    assert_true(cohort_trainee_feature_weight(a, "cls", f) == cohort_trainee_feature_weight(b, "cls", f));
  }
  cohort_trainee_free(a);
  cohort_trainee_free(b);
  cohort_table_free(tab);
}

/* Leave-one-out by brute force (small trainees) finds the neighbours the search tree finds: the
 * same k, p and weights, deviations equal but for float rounding (the sums are formed in another
 * order). */
static void test_analyze_brute_matches_tree(void **state) {
  (void)state;
  cohort_table *tab = make_table(1500, 4, true);
  cohort_trainee *a = make_trainee(tab), *b = make_trainee(tab);
  const char *targets[] = {"cls", "y"};
  cohort_analyze_options ao = {
      .size = sizeof ao, .targets = targets, .n_targets = 2, .seed = 3, .threads = 2};
  size_t keep = co_brute_rows, keep_f = co_brute_features;
  co_brute_features = 0; /* a: brute force on 5 features; b: the tree */
  CHECK_OK(cohort_trainee_analyze(a, &ao));
  co_brute_rows = 0;
  cohort_status st = cohort_trainee_analyze(b, &ao);
  co_brute_rows = keep;
  CHECK_OK(st);
  for (size_t i = 0; i < 2; i++) {
    size_t ka, kb;
    double pa, pb;
    CHECK_OK(cohort_trainee_params(a, targets[i], &ka, &pa));
    CHECK_OK(cohort_trainee_params(b, targets[i], &kb, &pb));
    assert_int_equal(ka, kb);
    assert_true(pa == pb);
    for (size_t f = 0; f < 5; f++)
      assert_true(cohort_trainee_feature_weight(a, targets[i], f) ==
                  cohort_trainee_feature_weight(b, targets[i], f));
  }
  for (size_t f = 0; f < 5; f++) {
    double da = cohort_trainee_deviation(a, f), db = cohort_trainee_deviation(b, f);
    assert_true(fabs(da - db) <= 1e-4 * fabs(db) + 1e-9);
  }
  double ia[5], ib[5];
  CHECK_OK(cohort_feature_importance(a, "y", 300, 1, ia, 5));
  co_brute_rows = 0;
  st = cohort_feature_importance(a, "y", 300, 1, ib, 5);
  co_brute_rows = keep;
  CHECK_OK(st);
  co_brute_features = keep_f;
  for (size_t f = 0; f < 5; f++)
    assert_true(fabs(ia[f] - ib[f]) <= 1e-4 * fabs(ib[f]) + 1e-6);
  cohort_trainee_free(a);
  cohort_trainee_free(b);
  cohort_table_free(tab);
}

static void test_anomalies(void **state) {
  (void)state;
  cohort_table *tab = make_table(800, 5, false);
  const char *odd[] = {"0.5", "0.5", "blue", "40", "lo"}; /* y far off its trend */
  CHECK_OK(cohort_table_append(tab, odd));
  cohort_trainee *t = make_trainee(tab);
  CHECK_OK(cohort_trainee_analyze(t, NULL));
  size_t n = cohort_trainee_cases(t);
  double *dc = malloc(n * sizeof *dc), *cv = malloc(n * sizeof *cv);
  CHECK_OK(cohort_anomalies(t, NULL, dc, cv, n));
  size_t argmin = 0;
  for (size_t i = 1; i < n; i++)
    if (cv[i] < cv[argmin])
      argmin = i;
  assert_int_equal(argmin, n - 1);
  assert_true(cv[n - 1] < 0.5);
  /* new rows: a typical one scores near 1, the odd one low */
  cohort_table *rows = make_table(2, 6, false);
  CHECK_OK(cohort_table_append(rows, odd));
  double dc2[3], cv2[3];
  CHECK_OK(cohort_anomalies(t, rows, dc2, cv2, 3));
  assert_true(cv2[2] < cv2[0] && cv2[2] < cv2[1]);
  free(dc);
  free(cv);
  cohort_table_free(rows);
  cohort_trainee_free(t);
  cohort_table_free(tab);
}

static void test_impute(void **state) {
  (void)state;
  cohort_table *tab = make_table(1500, 7, false);
  cohort_trainee *t = make_trainee(tab);
  CHECK_OK(cohort_trainee_analyze(t, NULL));
  cohort_table *rows = make_table(50, 8, false);
  double truth[50];
  for (size_t i = 0; i < 50; i++) {
    truth[i] = atof(cohort_table_cell(rows, i, 3));
    CHECK_OK(cohort_table_set(rows, i, 3, NULL));
  }
  size_t filled = 0;
  CHECK_OK(cohort_impute(t, rows, &filled));
  assert_int_equal(filled, 50);
  double err = 0;
  for (size_t i = 0; i < 50; i++)
    err += fabs(atof(cohort_table_cell(rows, i, 3)) - truth[i]) / 50;
  assert_true(err < 0.15);

  /* the trainee's own missing cells */
  cohort_table *holes = make_table(600, 9, true);
  cohort_trainee *h = make_trainee(holes);
  CHECK_OK(cohort_trainee_impute(h, &filled));
  assert_true(filled > 40);
  const char *cells[5];
  for (size_t i = 0; i < cohort_trainee_cases(h); i++) {
    CHECK_OK(cohort_trainee_case(h, i, cells));
    for (int f = 0; f < 5; f++)
      assert_non_null(cells[f]);
  }
  cohort_trainee_free(h);
  cohort_table_free(holes);
  cohort_table_free(rows);
  cohort_trainee_free(t);
  cohort_table_free(tab);
}

static char *synth_csv(cohort_trainee *t, const cohort_synth_options *o) {
  cohort_table *out;
  CHECK_OK(cohort_synthesize(t, o, &out));
  char *csv;
  size_t len;
  CHECK_OK(cohort_table_to_csv(out, &csv, &len));
  cohort_table_free(out);
  return csv;
}

static void test_synthesize(void **state) {
  (void)state;
  cohort_table *tab = make_table(2000, 10, true);
  cohort_trainee *t = make_trainee(tab);
  CHECK_OK(cohort_trainee_analyze(t, NULL));
  cohort_synth_options o = {.size = sizeof o, .rows = 500, .seed = 42, .threads = 1};
  char *a = synth_csv(t, &o);
  o.threads = 2;
  char *b = synth_csv(t, &o);
  assert_string_equal(a, b); /* same seed, any thread count: same rows */
  o.seed = 43;
  char *c = synth_csv(t, &o);
  assert_true(strcmp(a, c) != 0);
  cohort_free(a);
  cohort_free(b);
  cohort_free(c);

  const char *fn[] = {"color"}, *fv[] = {"green"};
  o = (cohort_synth_options){
      .size = sizeof o, .rows = 300, .seed = 1, .fixed_names = fn, .fixed_values = fv, .n_fixed = 1};
  cohort_table *out;
  CHECK_OK(cohort_synthesize(t, &o, &out));
  assert_int_equal(cohort_table_rows(out), 300);
  long ci = cohort_table_find(out, "color"), xi = cohort_table_find(out, "x1"),
       yi = cohort_table_find(out, "y");
  size_t good = 0;
  for (size_t i = 0; i < 300; i++) {
    assert_string_equal(cohort_table_cell(out, i, (size_t)ci), "green");
    const char *x = cohort_table_cell(out, i, (size_t)xi);
    if (x) {
      double v = atof(x);
      assert_true(v >= 0 && v <= 1);
    }
    const char *y = cohort_table_cell(out, i, (size_t)yi);
    if (x && y)
      good += fabs(atof(y) - 3 * atof(x) +
                   atof(cohort_table_cell(out, i, 1) ? cohort_table_cell(out, i, 1) : "0.5")) < 0.6;
    /* no row is a copy of a training row */
    for (size_t r = 0; r < cohort_table_rows(tab); r++) {
      bool same = true;
      for (size_t f = 0; f < 5 && same; f++) {
        const char *s1 = cohort_table_cell(out, i, f), *s2 = cohort_table_cell(tab, r, f);
        same = (!s1 && !s2) || (s1 && s2 && strcmp(s1, s2) == 0);
      }
      assert_false(same);
    }
  }
  assert_true(good > 240); /* the trend y = 3 x1 - x2 survives */
  cohort_table_free(out);

  fv[0] = "purple";
  assert_int_equal(cohort_synthesize(t, &o, &out), COHORT_ENOTFOUND);
  assert_non_null(strstr(cohort_errmsg(), "color"));
  cohort_trainee_free(t);
  cohort_table_free(tab);
}

/* Associations that synthesis weights its neighbour searches by, against their values on
 * make_table's construction (missing cells skipped pair by pair). */
static void test_assoc(void **state) {
  (void)state;
  cohort_table *tab = make_table(3000, 5, true);
  cohort_trainee *t = make_trainee(tab);
  double *a;
  CHECK_OK(co_assoc_matrix(t, &a));
  size_t nf = t->nf, x1 = 0, x2 = 1, color = 2, y = 3, cls = 4;
  for (size_t f = 0; f < nf; f++)
    for (size_t g = 0; g < nf; g++) {
      assert_true(a[f * nf + g] >= 0 && a[f * nf + g] <= 1);
      assert_true(a[f * nf + g] == a[g * nf + f]);
    }
  assert_true(a[x1 * nf + x1] == 1);
  assert_true(fabs(a[x1 * nf + y] - 3 / sqrt(10)) < 0.02);      /* |Pearson| of y = 3 x1 - x2 */
  assert_true(a[x1 * nf + x2] < 0.08);                          /* independent numbers */
  assert_true(fabs(a[color * nf + x2] - sqrt(8.0 / 9)) < 0.02); /* eta: color is x2's third */
  assert_true(fabs(a[cls * nf + x1] - sqrt(0.75)) < 0.02);      /* eta: cls is x1 > 0.5 */
  assert_true(a[cls * nf + color] < 0.08);                      /* Cramér's V of independent levels */
  co_free(a);
  cohort_trainee_free(t);
  cohort_table_free(tab);
}

/* A value half the cases hold (a 40-hour week) stays a spike: drawn, it is kept without noise. */
static void test_synthesize_atoms(void **state) {
  (void)state;
  const char *names[] = {"x", "hours"};
  cohort_table *tab;
  CHECK_OK(cohort_table_create(&tab, 2, names));
  co_rng r;
  co_rng_seed(&r, 9);
  for (size_t i = 0; i < 2000; i++) {
    double x = co_rng_uniform(&r);
    char b1[32], b2[32];
    snprintf(b1, sizeof b1, "%.3f", x);
    snprintf(b2, sizeof b2, "%.1f", co_rng_uniform(&r) < 0.5 ? 40.0 : 20 + 40 * x + co_rng_normal(&r));
    const char *cells[2] = {b1, b2};
    CHECK_OK(cohort_table_append(tab, cells));
  }
  cohort_trainee *t = make_trainee(tab);
  CHECK_OK(cohort_trainee_analyze(t, NULL));
  for (int gate = 0; gate < 2; gate++) {
    cohort_synth_options o = {.size = sizeof o,
                              .rows = 1000,
                              .seed = 3,
                              .privacy = gate ? COHORT_PRIVACY_REFERENCE : COHORT_PRIVACY_OFF};
    cohort_table *out;
    CHECK_OK(cohort_synthesize(t, &o, &out));
    size_t forty = 0;
    for (size_t i = 0; i < 1000; i++)
      forty += strtod(cohort_table_cell(out, i, 1), NULL) == 40.0;
    /* With noise on every value: 6 of 1,000 behind the gate. With two features the gate turns down
     * more rows on the spike (a case close by on both) than off it: 272. */
    if (gate)
      assert_in_range(forty, 200, 600);
    else
      assert_in_range(forty, 430, 570);
    cohort_table_free(out);
  }
  cohort_trainee_free(t);
  cohort_table_free(tab);
}

/* A continuous target is drawn last, from its nearest cases on the whole row: the synthetic rows
 * keep y = 3 x1 - x2 (noise 0.01) tightly. */
/* Copies by value (copies.c), the rule cohort_evaluate counts by: numbers within the tolerance of the
 * row's value, categories and missing cells exactly, counting capped. */
static void test_copies(void **state) {
  (void)state;
  const char *names[] = {"a", "b", "c"};
  const char *rows[][3] = {{"100", "x", "1"}, {"100.5", "x", "2"}, {"102", "x", "3"},
                           {"100", "y", "4"}, {"100", "x", NULL},  {"100", "x", "1.005"}};
  cohort_table *tab;
  CHECK_OK(cohort_table_create(&tab, 3, names));
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
    CHECK_OK(cohort_table_append(tab, rows[i]));
  cohort_trainee *t = make_trainee(tab);
  size_t fa = 0, fb = 0, fc = 0;
  CHECK_OK(co_trainee_feature(t, "a", &fa));
  CHECK_OK(co_trainee_feature(t, "b", &fb));
  CHECK_OK(co_trainee_feature(t, "c", &fc));
  double code_x = t->x[fb], code_y = t->x[3 * t->nf + fb];
  double all[3] = {1, 1, 1}, no_c[3] = {1, 1, 1};
  no_c[fc] = 0;
  bool numeric[3] = {true, true, true};
  numeric[fb] = false;
  co_copies *every = NULL, *part = NULL;
  CHECK_OK(co_copies_build(t->x, t->n, t->nf, numeric, all, 0.01, &every));
  CHECK_OK(co_copies_build(t->x, t->n, t->nf, numeric, no_c, 0.01, &part));
  double q[3];
  q[fa] = 100.2, q[fb] = code_x, q[fc] = 1.0; /* rows 0 and 5 (1.005 is within 1% of 1.0) */
  assert_int_equal(co_copies_count(every, q, 10), 2);
  assert_int_equal(co_copies_count(every, q, 1), 1);
  q[fc] = NAN; /* only row 4 has c missing */
  assert_int_equal(co_copies_count(every, q, 10), 1);
  assert_int_equal(co_copies_count(part, q, 10), 4); /* 100, 100.5, 100, 100 of x; 102 is 1.8% off */
  q[fb] = code_y;
  assert_int_equal(co_copies_count(part, q, 10), 1);
  q[fa] = 98.0;
  assert_int_equal(co_copies_count(part, q, 10), 0);
  co_copies_free(every);
  co_copies_free(part);
  cohort_trainee_free(t);
  cohort_table_free(tab);
}

/* A continuous target is drawn after the privacy gate: a row can pass the gate as one that many
 * cases share on the other features and copy a few of them once its target is drawn (diamonds:
 * four stones alike in everything, price included, and two more at another price). Here every
 * (a, kind) is 6 cases, 4 at one price and 2 at another: no synthetic row may copy one of those
 * groups of 4 by value. */
static void test_synthesize_no_rare_copy_by_target(void **state) {
  (void)state;
  const char *names[] = {"a", "kind", "price"};
  static const char *kinds[] = {"p", "q", "r"};
  cohort_table *tab;
  CHECK_OK(cohort_table_create(&tab, 3, names));
  for (int a = 1; a <= 40; a++)
    for (int k = 0; k < 3; k++)
      for (int c = 0; c < 6; c++) {
        char ba[32], bp[32];
        snprintf(ba, sizeof ba, "%d", 100 + 10 * a);
        snprintf(bp, sizeof bp, "%d", 1000 + 100 * a + 40 * k + (c < 4 ? 0 : 500));
        const char *cells[3] = {ba, kinds[k], bp};
        CHECK_OK(cohort_table_append(tab, cells));
      }
  cohort_trainee *t = make_trainee(tab);
  const char *target = "price";
  cohort_analyze_options ao = {.size = sizeof ao, .targets = &target, .n_targets = 1, .seed = 1};
  CHECK_OK(cohort_trainee_analyze(t, &ao));
  cohort_synth_options o = {.size = sizeof o, .rows = 720, .seed = 3};
  cohort_table *out;
  CHECK_OK(cohort_synthesize(t, &o, &out));
  cohort_eval_options eo = COHORT_EVAL_OPTIONS_INIT;
  cohort_eval *e = NULL;
  CHECK_OK(cohort_evaluate(cohort_trainee_schema(t), tab, out, NULL, &eo, &e));
  print_message("rare copies %zu, common copies %zu of 720\n", cohort_eval_identical_rare(e),
                cohort_eval_identical_common(e));
  assert_int_equal(cohort_eval_identical_rare(e), 0);
  cohort_eval_free(e);
  cohort_table_free(out);
  cohort_trainee_free(t);
  cohort_table_free(tab);
}

static void test_synthesize_continuous_target(void **state) {
  (void)state;
  cohort_table *tab = make_table(2000, 13, false);
  cohort_trainee *t = make_trainee(tab);
  CHECK_OK(cohort_trainee_analyze(t, NULL));
  const char *target = "y";
  cohort_analyze_options ao = {.size = sizeof ao, .targets = &target, .n_targets = 1, .seed = 1};
  CHECK_OK(cohort_trainee_analyze(t, &ao));
  cohort_synth_options o = {.size = sizeof o, .rows = 500, .seed = 5};
  cohort_table *out;
  CHECK_OK(cohort_synthesize(t, &o, &out));
  size_t close = 0;
  for (size_t i = 0; i < 500; i++) {
    double x1 = strtod(cohort_table_cell(out, i, 0), NULL), x2 = strtod(cohort_table_cell(out, i, 1), NULL);
    close += fabs(strtod(cohort_table_cell(out, i, 3), NULL) - (3 * x1 - x2)) < 0.1;
  }
  print_message("continuous target: %zu of 500 rows within 0.1 of 3 x1 - x2\n", close);
  assert_true(close >= 450);
  cohort_table_free(out);
  cohort_trainee_free(t);
  cohort_table_free(tab);
}

/* A continuous target is the row's own prediction plus a neighbour's residual, scaled to the data's
 * noise: it varies about the mean at the row's features by about the data's own noise, where a
 * neighbour's value (with noise) varied about the mean at the neighbour's features, by more.
 * y = x1 + x2 + x3 + noise of sd 5; analyzed over the k values kv[0..nk) (NULL: the default grid).
 * Returns the sd of 1,000 synthetic rows' y about x1 + x2 + x3. */
static double target_residual_sd(const size_t *kv, size_t nk) {
  const char *names[] = {"x1", "x2", "x3", "y"};
  cohort_table *tab;
  CHECK_OK(cohort_table_create(&tab, 4, names));
  uint64_t s = 88172645463325252ull;
  for (int r = 0; r < 1500; r++) {
    double x[3], noise = 0;
    for (int i = 0; i < 3; i++) {
      s ^= s << 13, s ^= s >> 7, s ^= s << 17;
      x[i] = (double)(s % 1000) / 10.0;
    }
    for (int i = 0; i < 12; i++) { /* about normal, sd 5 */
      s ^= s << 13, s ^= s >> 7, s ^= s << 17;
      noise += (double)(s % 10000) / 10000.0 - 0.5;
    }
    char b[4][32];
    const char *cells[4];
    for (int i = 0; i < 3; i++)
      snprintf(b[i], sizeof b[i], "%.1f", x[i]);
    snprintf(b[3], sizeof b[3], "%.1f", x[0] + x[1] + x[2] + 5 * noise);
    for (int i = 0; i < 4; i++)
      cells[i] = b[i];
    CHECK_OK(cohort_table_append(tab, cells));
  }
  cohort_trainee *t = make_trainee(tab);
  const char *target = "y";
  cohort_analyze_options ao = {
      .size = sizeof ao, .targets = &target, .n_targets = 1, .k_values = kv, .n_k = nk, .seed = 1};
  CHECK_OK(cohort_trainee_analyze(t, &ao));
  cohort_synth_options o = {.size = sizeof o, .rows = 1000, .seed = 3};
  cohort_table *out;
  CHECK_OK(cohort_synthesize(t, &o, &out));
  double ss = 0;
  for (size_t i = 0; i < 1000; i++) {
    double d = strtod(cohort_table_cell(out, i, 3), NULL);
    for (size_t c = 0; c < 3; c++)
      d -= strtod(cohort_table_cell(out, i, c), NULL);
    ss += d * d;
  }
  size_t k = 0;
  double p = 0;
  CHECK_OK(cohort_trainee_params(t, target, &k, &p));
  cohort_table_free(out);
  cohort_trainee_free(t);
  cohort_table_free(tab);
  print_message("target about the mean at the row, k %zu: sd %.2f (the data's 5)\n", k, sqrt(ss / 1000));
  return sqrt(ss / 1000);
}

static void test_synthesize_target_residual(void **state) {
  (void)state;
  static const size_t k3 = 3;
  /* 6.51; 7.12 with the residual unscaled, 11.0 with the neighbour's value and noise */
  assert_true(target_residual_sd(NULL, 0) < 6.9);
  /* 7.31; 8.74 unscaled: three neighbours' mean keeps a third of their noise */
  assert_true(target_residual_sd(&k3, 1) < 8.0);
}

/* A feature of few levels (16 of them, 0.5 .. 15.5) keeps its levels: each is held by many cases,
 * and noise would move a value between them. A feature of whole
 * numbers written with a decimal (0.0 .. 199.0, too many values to be levels) takes noise, and stays
 * a whole number as every case's value is. */
static void test_synthesize_levels(void **state) {
  (void)state;
  const char *names[] = {"lvl", "whole", "x"};
  cohort_table *tab;
  CHECK_OK(cohort_table_create(&tab, 3, names));
  uint64_t s = 977447289ull;
  for (int r = 0; r < 1000; r++) {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    int lvl = (int)(s % 16), whole = (int)(s / 16 % 200);
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    char bl[32], bw[32], bx[32];
    snprintf(bl, sizeof bl, "%d.5", lvl);
    snprintf(bw, sizeof bw, "%d.0", whole);
    snprintf(bx, sizeof bx, "%.2f", 3.0 * lvl + whole / 10.0 + (double)(s % 1000) / 100.0);
    const char *cells[3] = {bl, bw, bx};
    CHECK_OK(cohort_table_append(tab, cells));
  }
  cohort_trainee *t = make_trainee(tab);
  CHECK_OK(cohort_trainee_analyze(t, NULL));
  cohort_synth_options o = {.size = sizeof o, .rows = 500, .seed = 7};
  cohort_table *out;
  CHECK_OK(cohort_synthesize(t, &o, &out));
  size_t between[2] = {0, 0};
  for (size_t i = 0; i < 500; i++)
    for (size_t c = 0; c < 2; c++) {
      double v = strtod(cohort_table_cell(out, i, c), NULL);
      between[c] += v - floor(v) != (c == 0 ? 0.5 : 0.0);
    }
  print_message("off their grid: %zu of 500 values of the levels, %zu of the whole numbers\n", between[0],
                between[1]);
  assert_int_equal(between[0], 0); /* 455 before the levels were atoms */
  assert_int_equal(between[1], 0); /* 442 before whole numbers were kept whole */
  cohort_table_free(out);
  cohort_trainee_free(t);
  cohort_table_free(tab);
}

/* Neighbours for a row's other features come from its own class, at most a tenth of the class's
 * cases: a class of 30 among 600 cases (k 50) keeps its own values rather than its neighbours'
 * from the other classes. */
static void test_synthesize_small_class(void **state) {
  (void)state;
  const char *names[] = {"cls", "x", "z"};
  cohort_table *tab;
  CHECK_OK(cohort_table_create(&tab, 3, names));
  uint64_t s = 2463534242ull;
  for (int r = 0; r < 600; r++) {
    char bx[32], bz[32];
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    double u = (double)(s % 10000) / 10000.0;
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    double v = (double)(s % 10000) / 10000.0;
    bool small = r % 20 == 0;
    snprintf(bx, sizeof bx, "%.2f", small ? 40 + 20 * u : 100 * u);
    snprintf(bz, sizeof bz, "%.2f", small ? 100 * u + 10 * v : 100 * v);
    const char *cells[3] = {small ? "rare" : r % 2 ? "b" : "c", bx, bz};
    CHECK_OK(cohort_table_append(tab, cells));
  }
  cohort_trainee *t = make_trainee(tab);
  const char *target = "cls";
  cohort_analyze_options ao = {.size = sizeof ao, .targets = &target, .n_targets = 1, .seed = 1};
  CHECK_OK(cohort_trainee_analyze(t, &ao));
  cohort_synth_options o = {.size = sizeof o, .rows = 1200, .seed = 3};
  cohort_table *out;
  CHECK_OK(cohort_synthesize(t, &o, &out));
  size_t rare = 0, off = 0;
  for (size_t i = 0; i < 1200; i++) {
    if (strcmp(cohort_table_cell(out, i, 0), "rare") != 0)
      continue;
    rare++;
    double x = strtod(cohort_table_cell(out, i, 1), NULL), z = strtod(cohort_table_cell(out, i, 2), NULL);
    off += x < 40 || x > 60 || fabs(z - 5 * (x - 40) - 5) > 20;
  }
  print_message("small class: %zu of its %zu synthetic rows off its pattern\n", off, rare);
  assert_true(rare > 20);
  assert_true(off * 10 < rare);
  cohort_table_free(out);
  cohort_trainee_free(t);
  cohort_table_free(tab);
}

/* A trainee analyzed for a nominal target: the target is drawn first and kept, so its distribution
 * survives the privacy gate, and the gate's target rule keeps it plausible for the rest of the row. */
static void test_synthesize_target(void **state) {
  (void)state;
  cohort_table *tab = make_table(2000, 11, false);
  cohort_trainee *t = make_trainee(tab);
  CHECK_OK(cohort_trainee_analyze(t, NULL));
  const char *target = "cls";
  cohort_analyze_options ao = {.size = sizeof ao, .targets = &target, .n_targets = 1, .seed = 1};
  CHECK_OK(cohort_trainee_analyze(t, &ao));
  cohort_synth_options o = {.size = sizeof o, .rows = 1000, .seed = 7, .threads = 1};
  char *a = synth_csv(t, &o);
  o.threads = 2;
  char *b = synth_csv(t, &o);
  assert_string_equal(a, b);
  cohort_free(a);
  cohort_free(b);

  cohort_table *out;
  CHECK_OK(cohort_synthesize(t, &o, &out));
  long ci = cohort_table_find(out, "cls"), xi = cohort_table_find(out, "x1");
  size_t hi = 0, real_hi = 0, consistent = 0;
  for (size_t i = 0; i < 1000; i++) {
    const char *c = cohort_table_cell(out, i, (size_t)ci), *x = cohort_table_cell(out, i, (size_t)xi);
    assert_non_null(c);
    hi += strcmp(c, "hi") == 0;
    consistent += x && (atof(x) > 0.5) == (strcmp(c, "hi") == 0);
  }
  for (size_t i = 0; i < cohort_table_rows(tab); i++)
    real_hi += strcmp(cohort_table_cell(tab, i, 4), "hi") == 0;
  double share = (double)hi / 1000, real_share = (double)real_hi / (double)cohort_table_rows(tab);
  print_message("target share %.3f (training %.3f), plausible %zu of 1000\n", share, real_share, consistent);
  if (fabs(share - real_share) > 0.05)
    fail_msg("target share %.3f, training %.3f", share, real_share);
  if (consistent < 990) /* 999 measured; 980 without the target rule */
    fail_msg("only %zu of 1000 rows have a target plausible for x1", consistent);
  cohort_table_free(out);

  /* Every feature fixed: nothing to redraw, the rows are the condition. */
  const char *fn[] = {"x1", "x2", "color", "y", "cls"}, *fv[] = {"0.2500", "0.5000", "green", "0.2500", "lo"};
  o = (cohort_synth_options){
      .size = sizeof o, .rows = 3, .seed = 1, .fixed_names = fn, .fixed_values = fv, .n_fixed = 5};
  CHECK_OK(cohort_synthesize(t, &o, &out));
  for (size_t i = 0; i < 3; i++)
    for (size_t f = 0; f < 5; f++)
      assert_string_equal(cohort_table_cell(out, i, f), fv[f]);
  cohort_table_free(out);
  cohort_trainee_free(t);
  cohort_table_free(tab);
}

static void test_edit_remove_weights(void **state) {
  (void)state;
  cohort_table *tab = make_table(100, 11, false);
  cohort_trainee *t = make_trainee(tab);
  size_t drop[] = {0, 5, 99};
  CHECK_OK(cohort_trainee_remove_cases(t, drop, 3));
  assert_int_equal(cohort_trainee_cases(t), 97);
  size_t bad[] = {97};
  assert_int_equal(cohort_trainee_remove_cases(t, bad, 1), COHORT_ENOTFOUND);
  CHECK_OK(cohort_trainee_edit_case(t, 0, "color", "magenta")); /* new category extends the schema */
  const char *cells[5];
  CHECK_OK(cohort_trainee_case(t, 0, cells));
  assert_string_equal(cells[2], "magenta");
  assert_int_equal(cohort_trainee_edit_case(t, 0, "x1", "abc"), COHORT_EFORMAT);
  assert_int_equal(cohort_trainee_edit_case(t, 0, "nope", "1"), COHORT_ENOTFOUND);
  assert_non_null(strstr(cohort_errmsg(), "nope"));
  assert_int_equal(cohort_trainee_set_weight(t, 0, -1), COHORT_EINVAL);
  CHECK_OK(cohort_trainee_set_weight(t, 0, 3));
  /* incremental training adds cases */
  cohort_table *more = make_table(10, 12, false);
  CHECK_OK(cohort_trainee_train(t, more, NULL));
  assert_int_equal(cohort_trainee_cases(t), 107);
  cohort_table_free(more);
  cohort_trainee_free(t);
  cohort_table_free(tab);
}

static void test_bad_arguments(void **state) {
  (void)state;
  cohort_table *tab = make_table(50, 13, false);
  cohort_trainee *t = make_trainee(tab);
  cohort_reaction *r = NULL;
  const char *bad[] = {"nope"};
  cohort_react_options ro = {.size = sizeof ro, .targets = bad, .n_targets = 1};
  assert_int_equal(cohort_react(t, tab, &ro, &r), COHORT_ENOTFOUND);
  assert_non_null(strstr(cohort_errmsg(), "nope"));
  assert_null(r);
  ro.n_targets = 0;
  assert_int_equal(cohort_react(t, tab, &ro, &r), COHORT_EINVAL);
  size_t ks[] = {0};
  cohort_analyze_options ao = {.size = sizeof ao, .k_values = ks, .n_k = 1};
  assert_int_equal(cohort_trainee_analyze(t, &ao), COHORT_EINVAL);
  double ps[] = {-1};
  cohort_analyze_options ap = {.size = sizeof ap, .p_values = ps, .n_p = 1};
  assert_int_equal(cohort_trainee_analyze(t, &ap), COHORT_EINVAL);
  cohort_synth_options so = {.size = sizeof so, .rows = 5, .conviction = -2};
  cohort_table *out = NULL;
  assert_int_equal(cohort_synthesize(t, &so, &out), COHORT_EINVAL);
  so = (cohort_synth_options){.size = sizeof so, .rows = 5, .privacy = (cohort_privacy)7};
  assert_int_equal(cohort_synthesize(t, &so, &out), COHORT_EINVAL);
  assert_non_null(strstr(cohort_errmsg(), "privacy"));
  /* an empty trainee refuses questions it cannot answer */
  cohort_schema *s;
  CHECK_OK(cohort_schema_infer(&s, tab));
  cohort_trainee *e;
  CHECK_OK(cohort_trainee_create(&e, s));
  const char *y[] = {"y"};
  ro = (cohort_react_options){.size = sizeof ro, .targets = y, .n_targets = 1};
  assert_int_equal(cohort_react(e, tab, &ro, &r), COHORT_ESTATE);
  assert_int_equal(cohort_trainee_analyze(e, NULL), COHORT_ESTATE);
  cohort_trainee_free(e);
  cohort_schema_free(s);
  cohort_trainee_free(t);
  cohort_table_free(tab);
}

/* The same for synthesis alone on a table large enough for its class indexes (2 classes of about
 * 1,000 cases) and for parts of all cases (k = 50, 2 parts; CO_SYNTH_PART_K in synth.c). */
static void test_synthesize_out_of_memory(void **state) {
  (void)state;
  cohort_table *tab = make_table(2000, 21, true);
  cohort_trainee *t = make_trainee(tab);
  const char *target = "cls";
  cohort_analyze_options ao = {.size = sizeof ao, .targets = &target, .n_targets = 1, .threads = 1};
  CHECK_OK(cohort_trainee_analyze(t, &ao));
  /* Without the gate: its own allocations are test_out_of_memory's, and each try here is quick. */
  cohort_synth_options so = {
      .size = sizeof so, .rows = 2, .seed = 3, .threads = 1, .privacy = COHORT_PRIVACY_OFF};
  long failed = 0, ok_in_a_row = 0;
  for (long n = 1; ok_in_a_row < 64 && n < 20000; n++) { /* past the last allocation: all OK */
    cohort_table *out = NULL;
    co_alloc_fail_after(n);
    cohort_status st = cohort_synthesize(t, &so, &out);
    co_alloc_fail_after(0);
    assert_true(st == COHORT_OK || st == COHORT_ENOMEM);
    failed += st == COHORT_ENOMEM;
    ok_in_a_row = st == COHORT_OK ? ok_in_a_row + 1 : 0;
    cohort_table_free(out);
  }
  assert_int_equal(ok_in_a_row, 64);
  assert_true(failed > 100); /* the indexes' allocations were among those failed */
  cohort_trainee_free(t);
  cohort_table_free(tab);
}

/* Every allocation on the train/analyze/react/synthesize path fails in turn: each call returns
 * ENOMEM or succeeds, never crashes or leaks (ASan checks the leaks). */
static void test_out_of_memory(void **state) {
  (void)state;
  cohort_table *tab = make_table(60, 14, true);
  cohort_schema *s;
  CHECK_OK(cohort_schema_infer(&s, tab));
  const char *y[] = {"y"};
  for (long n = 1; n < 400; n++) {
    co_alloc_fail_after(n);
    cohort_trainee *t = NULL;
    cohort_reaction *r = NULL;
    cohort_table *out = NULL;
    cohort_analyze_options ao = {.size = sizeof ao, .targets = y, .n_targets = 1, .threads = 1};
    cohort_react_options ro = {.size = sizeof ro, .targets = y, .n_targets = 1, .threads = 1, .details = 3};
    cohort_synth_options so = {.size = sizeof so, .rows = 5, .threads = 1};
    cohort_status st = cohort_trainee_create(&t, s);
    if (st == COHORT_OK)
      st = cohort_trainee_train(t, tab, NULL);
    if (st == COHORT_OK)
      st = cohort_trainee_analyze(t, &ao);
    if (st == COHORT_OK)
      st = cohort_react(t, tab, &ro, &r);
    if (st == COHORT_OK)
      st = cohort_synthesize(t, &so, &out);
    assert_true(st == COHORT_OK || st == COHORT_ENOMEM);
    co_alloc_fail_after(0);
    cohort_table_free(out);
    cohort_reaction_free(r);
    cohort_trainee_free(t);
  }
  cohort_schema_free(s);
  cohort_table_free(tab);
}

static void test_penguins(void **state) {
  (void)state;
  cohort_table *tab;
  CHECK_OK(cohort_table_read_csv(&tab, COHORT_TESTDATA "/penguins.csv", NULL));
  /* even rows train, odd rows test */
  const char *names[7];
  for (size_t c = 0; c < 7; c++)
    names[c] = cohort_table_colname(tab, c);
  cohort_table *train, *test;
  CHECK_OK(cohort_table_create(&train, 7, names));
  CHECK_OK(cohort_table_create(&test, 7, names));
  for (size_t r = 0; r < cohort_table_rows(tab); r++) {
    const char *cells[7];
    for (size_t c = 0; c < 7; c++)
      cells[c] = cohort_table_cell(tab, r, c);
    CHECK_OK(cohort_table_append(r % 2 ? test : train, cells));
  }
  cohort_trainee *t = make_trainee(train);
  const char *targets[] = {"species"};
  cohort_analyze_options ao = {.size = sizeof ao, .targets = targets, .n_targets = 1, .seed = 1};
  CHECK_OK(cohort_trainee_analyze(t, &ao));
  cohort_react_options ro = {.size = sizeof ro, .targets = targets, .n_targets = 1};
  cohort_reaction *r;
  CHECK_OK(cohort_react(t, test, &ro, &r));
  size_t ok = 0;
  for (size_t i = 0; i < cohort_table_rows(test); i++)
    ok += strcmp(cohort_reaction_value(r, i, 0), cohort_table_cell(test, i, 0)) == 0;
  assert_true((double)ok / cohort_table_rows(test) > 0.95);
  cohort_reaction_free(r);
  cohort_trainee_free(t);
  cohort_table_free(train);
  cohort_table_free(test);
  cohort_table_free(tab);
}

/* When more cases tie at the k-th distance than k holds (here: only a nominal context), every
 * tied case shares the weight: the class probabilities are the tied cases' proportions, not
 * those of the first k cases in file order. */
static void test_predict_ties(void **state) {
  (void)state;
  cohort_table *tab, *q;
  CHECK_OK(cohort_table_read_csv(&tab, COHORT_TESTDATA "/penguins.csv", NULL));
  cohort_trainee *t = make_trainee(tab);
  const char *names[] = {"island"}, *row[1];
  CHECK_OK(cohort_table_create(&q, 1, names));
  const char *islands[] = {"Biscoe", "Dream", "Nowhere"};
  for (size_t i = 0; i < 3; i++) {
    row[0] = islands[i];
    CHECK_OK(cohort_table_append(q, row));
  }
  const char *targets[] = {"species"};
  cohort_react_options ro = {.size = sizeof ro, .targets = targets, .n_targets = 1};
  cohort_reaction *r;
  CHECK_OK(cohort_react(t, q, &ro, &r));
  /* Biscoe: 124 Gentoo, 44 Adelie; Dream: 68 Chinstrap, 56 Adelie. */
  double expect[][2] = {{124.0 / 168, 0}, {68.0 / 124, 0}};
  const char *cls[] = {"Gentoo", "Chinstrap"};
  for (size_t i = 0; i < 2; i++) {
    assert_string_equal(cohort_reaction_value(r, i, 0), cls[i]);
    size_t found = 0;
    for (size_t c = 0; c < cohort_reaction_classes(r, 0); c++)
      if (strcmp(cohort_reaction_class(r, 0, c), cls[i]) == 0) {
        assert_float_equal(cohort_reaction_probability(r, i, 0, c), expect[i][0], 1e-6);
        found++;
      }
    assert_int_equal(found, 1); /* the class is listed once, and its probability was checked */
  }
  /* An island never seen is equally far from every case: the answer follows the whole table. */
  assert_string_equal(cohort_reaction_value(r, 2, 0), "Adelie");
  cohort_reaction_free(r);
  cohort_table_free(q);
  cohort_trainee_free(t);
  cohort_table_free(tab);
}

/* A misspelt context column is refused, naming the nearest feature, when the caller asks for it;
 * a category the trainee never saw is accepted and reported per row. */
static void test_unknown_context(void **state) {
  (void)state;
  cohort_table *tab, *q;
  CHECK_OK(cohort_table_read_csv(&tab, COHORT_TESTDATA "/penguins.csv", NULL));
  cohort_trainee *t = make_trainee(tab);
  const cohort_schema *s = cohort_trainee_schema(t);
  assert_string_equal(cohort_schema_nearest(s, "flipper_lenght_mm"), "flipper_length_mm");
  assert_string_equal(cohort_schema_nearest(s, "ISLAND"), "island");
  assert_string_equal(cohort_schema_nearest(s, "Islnd"), "island");
  assert_null(cohort_schema_nearest(s, "zzzzzz"));
  assert_null(cohort_schema_nearest(s, "island")); /* an exact name is no typo */
  const char *names[] = {"island", "flipper_lenght_mm"}, *row[2];
  CHECK_OK(cohort_table_create(&q, 2, names));
  const char *islands[] = {"Biscoe", "Mars", NULL};
  for (size_t i = 0; i < 3; i++) {
    row[0] = islands[i];
    row[1] = "200";
    CHECK_OK(cohort_table_append(q, row));
  }
  const char *targets[] = {"species"};
  cohort_react_options ro = {
      .size = sizeof ro, .targets = targets, .n_targets = 1, .reject_unknown_columns = 1};
  cohort_reaction *r = NULL;
  assert_int_equal(cohort_react(t, q, &ro, &r), COHORT_EINVAL);
  assert_null(r);
  assert_string_equal(cohort_errfield(), "rows");
  assert_non_null(
      strstr(cohort_errmsg(), "unknown column 'flipper_lenght_mm' (did you mean 'flipper_length_mm'?)"));
  /* Named as a target or a context, the same typo is a suggestion too. */
  const char *typo[] = {"flipper_lenght_mm"};
  cohort_react_options bad = {.size = sizeof bad, .targets = typo, .n_targets = 1};
  assert_int_equal(cohort_react(t, q, &bad, &r), COHORT_ENOTFOUND);
  assert_non_null(strstr(cohort_errmsg(), "did you mean 'flipper_length_mm'?"));
  ro.reject_unknown_columns = 0; /* the default: unknown columns unused */
  CHECK_OK(cohort_react(t, q, &ro, &r));
  assert_int_equal(cohort_reaction_unknowns(r, 0), 0);
  assert_int_equal(cohort_reaction_unknowns(r, 1), 1);
  assert_int_equal(cohort_reaction_unknowns(r, 2), 0); /* missing is not unknown */
  assert_int_equal(cohort_reaction_unknowns(r, 3), 0); /* out of range */
  const char *f, *v;
  cohort_reaction_unknown(r, 1, 0, &f, &v);
  assert_string_equal(f, "island");
  assert_string_equal(v, "Mars");
  cohort_reaction_unknown(r, 1, 1, &f, &v);
  assert_null(f);
  assert_null(v);
  cohort_reaction_free(r);
  cohort_table_free(q);
  cohort_trainee_free(t);
  cohort_table_free(tab);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_knn_exact),
      cmocka_unit_test(test_knn_random_ties),
      cmocka_unit_test(test_predict_and_details),
      cmocka_unit_test(test_analyze_deterministic),
      cmocka_unit_test(test_analyze_brute_matches_tree),
      cmocka_unit_test(test_anomalies),
      cmocka_unit_test(test_impute),
      cmocka_unit_test(test_assoc),
      cmocka_unit_test(test_synthesize),
      cmocka_unit_test(test_synthesize_atoms),
      cmocka_unit_test(test_synthesize_target),
      cmocka_unit_test(test_synthesize_continuous_target),
      cmocka_unit_test(test_copies),
      cmocka_unit_test(test_synthesize_no_rare_copy_by_target),
      cmocka_unit_test(test_synthesize_target_residual),
      cmocka_unit_test(test_synthesize_levels),
      cmocka_unit_test(test_synthesize_small_class),
      cmocka_unit_test(test_edit_remove_weights),
      cmocka_unit_test(test_bad_arguments),
      cmocka_unit_test(test_out_of_memory),
      cmocka_unit_test(test_synthesize_out_of_memory),
      cmocka_unit_test(test_penguins),
      cmocka_unit_test(test_predict_ties),
      cmocka_unit_test(test_unknown_context),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
