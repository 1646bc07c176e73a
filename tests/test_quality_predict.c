/* Prediction quality on real tables, through the public API only: after analyze, the engine must
 * be at least as accurate as scikit-learn's KNeighbors tuned by grid search over k and weighting
 * on standardized / one-hot data (bench/sklearn_baseline.py), on the same rows.
 *
 * Per dataset: read the CSV(s), build the split, infer the schema from the training table, create a
 * trainee, train, analyze for the target (seed 1, default k and p grids), react on the test rows
 * (every other feature as context) and score: accuracy (exact string equality of predicted and
 * real cell) for a categorical target, R^2 (cells parsed with strtod) for a numeric one. This is
 * what bench/bench_quality.c does on the split files the script writes.
 *
 * Splits: adult = adult_train / adult_test. diamonds, abalone, penguins, vehicle, digits = a systematic
 * 1-in-5 split of the one CSV: rows whose target is missing are dropped first, then data row i (0-based, file
 * order) is a test row when i % 5 == 4 and a training row otherwise, exactly as sklearn_baseline.py does.
 * (The script treats "" and NA as missing, the CSV reader a few more tokens such as "?"; none of these target
 * columns holds any of them, and the row counts checked below are the script's.)
 *
 * A dataset whose CSV is missing (COHORT_DATASETS pointing at the small tests/data copies) is
 * skipped. Labelled "quality": not run under the sanitizers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cohort/cohort.h"
#include "suite_split.h"

#define CHECK_OK(expr)                                                                                       \
  do {                                                                                                       \
    cohort_status st_ = (expr);                                                                              \
    if (st_ != COHORT_OK)                                                                                    \
      fail_msg("%s -> %s: %s", #expr, cohort_strerror(st_), cohort_errmsg());                                \
  } while (0)

typedef struct qcase {
  const char *name;
  const char *file;      /* in COHORT_DATASETS */
  const char *test_file; /* NULL = systematic 1-in-5 split of file */
  const char *target;
  int r2;                       /* 1 = R^2 on a numeric target, 0 = accuracy */
  double floor;                 /* scikit-learn's score on the same rows */
  size_t train_rows, test_rows; /* as sklearn_baseline.py counted them */
  double engine;                /* the engine's own committed figure (0: none), see ENGINE_ADULT */
  int roundtrip;                /* 1 = also save and load the trainee and predict the same again */
} qcase;

/* Floors: scikit-learn's test scores from `/usr/bin/python3 bench/sklearn_baseline.py
 * /work/shared/datasets --out ... --splits ... --jobs 2` (default --search-rows 10000, search mode
 * auto) on 2026-11-22, with the i % 5 == 4 split. Best parameters of its 5-fold
 * GridSearchCV over n_neighbors {1,3,5,7,9,11,15,21,31,41} x weights {uniform, distance}, refit on
 * all training rows:
 *   adult    accuracy 0.8425 (n_neighbors 31, distance; search on 10,000 of 32,561 rows)
 *   diamonds R^2      0.9633 (n_neighbors 7, distance; search on 10,000 of 43,152 rows)
 *   abalone  R^2      0.5272 (n_neighbors 21, distance)
 *   penguins accuracy 1.0000 (n_neighbors 41, distance): nothing to gain; the engine must stay perfect
 * The engine's own figures at that date are in bench/RESULTS.md. Do not lower a floor below the
 * scikit-learn figure: that is the goal this test holds the engine to. */
#define FLOOR_ADULT 0.8425158159818193
#define FLOOR_DIAMONDS 0.9633249846093638
#define FLOOR_ABALONE 0.5271834464945838
#define FLOOR_PENGUINS 1.0
/* The engine's own figure on adult, less 0.005 for floating-point differences between compilers:
 * 0.8608 since analyze searches feature weights for each power p near the best (analyze.c,
 * CO_P_SEARCH_MARGIN; it chose p = 0.5 where the single search at the unit-weight leader p = 2
 * reached 0.8474). Gradient boosting scores 0.8716 on these rows (bench/SUITE.md). */
#define ENGINE_ADULT (0.8608 - 0.005)
/* Vehicle (UCI Statlog, 846 x 18 correlated shape measures, 4 classes; bench/SUITE.md's split):
 * tuned k-NN 0.6923, gradient boosting 0.7870. The engine scored 0.7456 in its own geometry, where
 * the correlated measures count several times each; 0.7811 since analyze keeps a decorrelated
 * geometry for the target when leave-one-out prefers it (analyze.c, lin_fit). The floor sits between
 * the two, so it fails without the decorrelation. */
#define FLOOR_VEHICLE 0.6923076923076923
#define ENGINE_VEHICLE 0.77
/* Digits (UCI optical digits, 1,797 x 64 pixels 0..16, 10 classes; bench/SUITE.md's split): tuned
 * k-NN 0.9833 (k = 3, distance; 353 of 359), gradient boosting 0.9694. The engine scored 0.9749 when
 * its weight search started only from the learned deviations, which count a rarely-inked border
 * pixel like many central ones; 0.9889 (355 of 359) since analyze also starts from each feature's
 * range and keeps that start where leave-one-out prefers it (analyze.c, range_start). */
#define FLOOR_DIGITS (353.0 / 359.0)
#define ENGINE_DIGITS (354.0 / 359.0)

static const qcase cases[] = {
    {"adult", "adult_train.csv", "adult_test.csv", "income", 0, FLOOR_ADULT, 32561, 16281, ENGINE_ADULT, 0},
    {"diamonds", "diamonds.csv", NULL, "price", 1, FLOOR_DIAMONDS, 43152, 10788, 0, 0},
    {"abalone", "abalone.csv", NULL, "rings", 1, FLOOR_ABALONE, 3342, 835, 0, 0},
    {"penguins", "penguins.csv", NULL, "species", 0, FLOOR_PENGUINS, 276, 68, 0, 0},
    {"vehicle", "vehicle.csv", NULL, "Class", 0, FLOOR_VEHICLE, 677, 169, ENGINE_VEHICLE, 1},
    {"digits", "digits.csv", NULL, "target", 0, FLOOR_DIGITS, 1438, 359, ENGINE_DIGITS, 1},
};

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static char *path_of(const char *file) {
  size_t n = strlen(COHORT_DATASETS) + strlen(file) + 2;
  char *p = malloc(n);
  assert_non_null(p);
  snprintf(p, n, "%s/%s", COHORT_DATASETS, file);
  return p;
}

static int exists(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return 0;
  fclose(f);
  return 1;
}

static cohort_table *read_csv(const char *path) {
  cohort_table *t = NULL;
  CHECK_OK(cohort_table_read_csv(&t, path, NULL));
  return t;
}

static cohort_table *empty_like(const cohort_table *t) {
  size_t nc = cohort_table_cols(t);
  const char **names = calloc(nc, sizeof *names);
  assert_non_null(names);
  for (size_t c = 0; c < nc; c++)
    names[c] = cohort_table_colname(t, c);
  cohort_table *out = NULL;
  CHECK_OK(cohort_table_create(&out, nc, names));
  free(names);
  return out;
}

/* The systematic split: rows without a target dropped, then kept row i goes to test when
 * i % 5 == 4. */
static void split(const cohort_table *all, long tc, cohort_table **train, cohort_table **test) {
  size_t nr = cohort_table_rows(all), nc = cohort_table_cols(all);
  const char **cells = calloc(nc, sizeof *cells);
  assert_non_null(cells);
  *train = empty_like(all);
  *test = empty_like(all);
  size_t i = 0;
  for (size_t r = 0; r < nr; r++) {
    if (!cohort_table_cell(all, r, (size_t)tc))
      continue;
    for (size_t c = 0; c < nc; c++)
      cells[c] = cohort_table_cell(all, r, c);
    CHECK_OK(cohort_table_append(i % 5 == 4 ? *test : *train, cells));
    i++;
  }
  free(cells);
}

/* Accuracy or R^2 of the reaction against the test table's target column (rows without a real
 * value are not scored; a row without a prediction is a miss, or scores as the test mean for R^2,
 * as in bench_quality). */
static double score(const cohort_table *test, long tc, const cohort_reaction *r, int r2, size_t *scored,
                    size_t *unpredicted) {
  size_t n = cohort_table_rows(test), m = 0, unpred = 0;
  double hit = 0, sy = 0, syy = 0, sse = 0;
  for (size_t i = 0; i < n; i++) {
    const char *truth = cohort_table_cell(test, i, (size_t)tc);
    double y;
    if (!truth || (r2 && !suite_parse_double(truth, &y)))
      continue;
    if (r2) {
      sy += y;
      syy += y * y;
    }
    m++;
  }
  double mean = m ? sy / (double)m : 0.0;
  for (size_t i = 0; i < n; i++) {
    const char *truth = cohort_table_cell(test, i, (size_t)tc);
    const char *pred = cohort_reaction_value(r, i, 0);
    double y, yhat;
    if (!truth || (r2 && !suite_parse_double(truth, &y)))
      continue;
    if (!r2) {
      if (!pred)
        unpred++;
      else if (strcmp(pred, truth) == 0)
        hit++;
      continue;
    }
    if (!suite_parse_double(pred, &yhat)) {
      unpred++;
      yhat = mean;
    }
    sse += (yhat - y) * (yhat - y);
  }
  *scored = m;
  *unpredicted = unpred;
  if (!m)
    return NAN;
  return r2 ? 1.0 - sse / (syy - (double)m * mean * mean) : hit / (double)m;
}

static void run_case(void **state) {
  const qcase *q = *state;
  char *path = path_of(q->file);
  char *test_path = q->test_file ? path_of(q->test_file) : NULL;
  if (!exists(path) || (test_path && !exists(test_path))) {
    print_message("%s: %s not found, skipped\n", q->name, test_path && exists(path) ? test_path : path);
    free(path);
    free(test_path);
    skip();
  }
  double t0 = now();
  cohort_table *train = NULL, *test = NULL;
  if (test_path) {
    train = read_csv(path);
    test = read_csv(test_path);
  } else {
    cohort_table *all = read_csv(path);
    long tc = cohort_table_find(all, q->target);
    assert_true(tc >= 0);
    split(all, tc, &train, &test);
    cohort_table_free(all);
  }
  long tc = cohort_table_find(test, q->target);
  assert_true(tc >= 0);
  assert_int_equal(cohort_table_rows(train), q->train_rows);
  assert_int_equal(cohort_table_rows(test), q->test_rows);

  cohort_schema *schema = NULL;
  cohort_trainee *t = NULL;
  CHECK_OK(cohort_schema_infer(&schema, train));
  CHECK_OK(cohort_trainee_create(&t, schema));
  CHECK_OK(cohort_trainee_train(t, train, NULL));
  double t1 = now();

  const char *targets[1] = {q->target};
  cohort_analyze_options ao = COHORT_ANALYZE_OPTIONS_INIT;
  ao.targets = targets;
  ao.n_targets = 1;
  ao.seed = 1;
  CHECK_OK(cohort_trainee_analyze(t, &ao));
  double t2 = now();
  size_t k = 0;
  double p = 0;
  CHECK_OK(cohort_trainee_params(t, q->target, &k, &p));

  cohort_react_options ro = COHORT_REACT_OPTIONS_INIT;
  ro.targets = targets;
  ro.n_targets = 1;
  cohort_reaction *r = NULL;
  CHECK_OK(cohort_react(t, test, &ro, &r));
  double t3 = now();
  assert_int_equal(cohort_reaction_rows(r), cohort_table_rows(test));

  size_t scored = 0, unpredicted = 0;
  double s = score(test, tc, r, q->r2, &scored, &unpredicted);
  print_message(
      "%s: %s %s = %.4f (sklearn floor %.4f, %+.4f) k=%zu p=%g; %zu train / %zu test rows, %zu scored, "
      "%zu unpredicted; train %.1fs analyze %.1fs react %.1fs\n",
      q->name, q->target, q->r2 ? "R^2" : "accuracy", s, q->floor, s - q->floor, k, p,
      cohort_table_rows(train), cohort_table_rows(test), scored, unpredicted, t1 - t0, t2 - t1, t3 - t2);
  assert_int_equal(scored, cohort_table_rows(test));
  if (!(s >= q->floor))
    fail_msg("%s: engine %s %.6f is below scikit-learn's %.6f on the same rows", q->name,
             q->r2 ? "R^2" : "accuracy", s, q->floor);
  if (!(s >= q->engine))
    fail_msg("%s: engine %s %.6f fell below its committed %.6f", q->name, q->r2 ? "R^2" : "accuracy", s,
             q->engine);
  if (q->roundtrip) {
    /* What analyze learned (a decorrelated geometry included) survives a save and a load. */
    void *buf = NULL;
    size_t len = 0;
    cohort_trainee *back = NULL;
    cohort_reaction *r2 = NULL;
    CHECK_OK(cohort_trainee_serialize(t, &buf, &len));
    CHECK_OK(cohort_trainee_deserialize(&back, buf, len));
    CHECK_OK(cohort_react(back, test, &ro, &r2));
    for (size_t i = 0; i < cohort_table_rows(test); i++) {
      const char *a = cohort_reaction_value(r, i, 0), *b = cohort_reaction_value(r2, i, 0);
      if (!a || !b || strcmp(a, b) != 0)
        fail_msg("%s: row %zu predicted %s before a save and load, %s after", q->name, i, a ? a : "-",
                 b ? b : "-");
    }
    cohort_reaction_free(r2);
    cohort_trainee_free(back);
    cohort_free(buf);
  }

  cohort_reaction_free(r);
  cohort_trainee_free(t);
  cohort_schema_free(schema);
  cohort_table_free(test);
  cohort_table_free(train);
  free(path);
  free(test_path);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      {"adult_income", run_case, NULL, NULL, (void *)&cases[0]},
      {"diamonds_price", run_case, NULL, NULL, (void *)&cases[1]},
      {"abalone_rings", run_case, NULL, NULL, (void *)&cases[2]},
      {"penguins_species", run_case, NULL, NULL, (void *)&cases[3]},
      {"vehicle_class", run_case, NULL, NULL, (void *)&cases[4]},
      {"digits_target", run_case, NULL, NULL, (void *)&cases[5]},
  };
  return cmocka_run_group_tests_name("quality_predict", tests, NULL, NULL);
}
