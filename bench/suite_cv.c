/* Cross-validation of the engine's prediction over the broad suite's smaller tables, so that a
 * change to analyze or react is judged on every row of a table rather than on one split that it may
 * win by luck. Public API only.
 *
 *   suite_cv DATASETS_DIR DATA_DIR [--only NAME] [--folds N] [--threads N]
 *
 * DATA_DIR holds the tables bench/suite_tables.py converts (wine.csv, diabetes.csv); a table whose
 * file is missing is skipped. Rows whose target is missing are dropped; row i of the rest is a test
 * row of fold i % N (default 5), so the last fold is the suite's own split (bench_suite: i % 5 == 4).
 * Per fold: infer the schema of the training rows, train, analyze for the target (seed 1), react on
 * the test rows and score as bench_suite does (accuracy, or R^2 for a numeric target). Prints per
 * table the mean over the folds, each fold's score, and analyze's CPU seconds over all folds. */
#include "bench_util.h"
#include "suite_split.h"

#include <stdlib.h>
#include <string.h>

typedef struct cv_table {
  const char *name, *file, *target;
  int converted; /* file is in DATA_DIR (suite_tables.py), else in DATASETS_DIR */
} cv_table;

static const cv_table tables[] = {
    {"abalone", "abalone.csv", "rings", 0},
    {"penguins", "penguins.csv", "species", 0},
    {"winequality", "winequality_red.csv", "quality", 0},
    {"soybean", "soybean.csv", "Class", 0},
    {"pima", "pima_diabetes.csv", "diabetes", 0},
    {"vehicle", "vehicle.csv", "Class", 0},
    {"boston", "boston_housing.csv", "cmedv", 0},
    {"breast_cancer", "breast_cancer.csv", "target", 0},
    {"digits", "digits.csv", "target", 0},
    {"wine", "wine.csv", "class", 1},
    {"diabetes", "diabetes.csv", "progression", 1},
};

#define MAX_FOLDS 20

static void run_table(const cv_table *d, const char *path, size_t folds, size_t threads) {
  cohort_table *all = bench_read_csv(path);
  long tcl = cohort_table_find(all, d->target);
  if (tcl < 0) {
    fprintf(stderr, "suite_cv: %s has no column %s\n", path, d->target);
    exit(1);
  }
  size_t tc = (size_t)tcl;
  double score[MAX_FOLDS], sum = 0, cpu = 0;
  size_t k = 0;
  double p = 0;
  for (size_t f = 0; f < folds; f++) {
    cohort_table *train = NULL, *test = NULL;
    bench_check(suite_fold(all, tc, folds, f, &train, &test), "split");
    cohort_schema *schema = NULL;
    bench_check(cohort_schema_infer(&schema, train), "schema_infer");
    cohort_trainee *t = NULL;
    bench_check(cohort_trainee_create(&t, schema), "trainee_create");
    bench_check(cohort_trainee_train(t, train, NULL), "trainee_train");
    const char *targets[1] = {d->target};
    cohort_analyze_options ao = COHORT_ANALYZE_OPTIONS_INIT;
    ao.targets = targets;
    ao.n_targets = 1;
    ao.seed = 1;
    ao.threads = threads;
    double c0 = bench_cpu_now();
    bench_check(cohort_trainee_analyze(t, &ao), "analyze");
    cpu += bench_cpu_now() - c0;
    cohort_ftype tt = cohort_schema_type(schema, (size_t)cohort_schema_find(schema, d->target));
    int r2 = tt == COHORT_CONTINUOUS || tt == COHORT_DATETIME;
    cohort_react_options ro = COHORT_REACT_OPTIONS_INIT;
    ro.targets = targets;
    ro.n_targets = 1;
    ro.threads = threads;
    cohort_reaction *r = NULL;
    bench_check(cohort_react(t, test, &ro, &r), "react");
    score[f] = suite_score(test, tc, r, r2);
    sum += score[f];
    if (f == folds - 1)
      cohort_trainee_params(t, d->target, &k, &p);
    cohort_reaction_free(r);
    cohort_trainee_free(t);
    cohort_schema_free(schema);
    cohort_table_free(train);
    cohort_table_free(test);
  }
  printf("%-14s cv %.4f [", d->name, sum / (double)folds);
  for (size_t f = 0; f < folds; f++)
    printf("%s%.4f", f ? " " : "", score[f]);
  printf("] last fold k %zu p %g; analyze CPU %.1fs\n", k, p, cpu);
  fflush(stdout);
  cohort_table_free(all);
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: suite_cv DATASETS_DIR DATA_DIR [--only NAME] [--folds N] [--threads N]\n");
    return 2;
  }
  const char *only = NULL;
  size_t folds = 5, threads = 2;
  for (int i = 3; i < argc; i++) {
    if (i + 1 < argc && strcmp(argv[i], "--only") == 0)
      only = argv[++i];
    else if (i + 1 < argc && strcmp(argv[i], "--folds") == 0)
      folds = (size_t)strtoul(argv[++i], NULL, 10);
    else if (i + 1 < argc && strcmp(argv[i], "--threads") == 0)
      threads = (size_t)strtoul(argv[++i], NULL, 10);
    else {
      fprintf(stderr, "suite_cv: unknown argument %s\n", argv[i]);
      return 2;
    }
  }
  if (folds < 2 || folds > MAX_FOLDS) {
    fprintf(stderr, "suite_cv: --folds takes 2 to %d\n", MAX_FOLDS);
    return 2;
  }
  for (size_t i = 0; i < sizeof tables / sizeof *tables; i++) {
    const cv_table *d = &tables[i];
    if (only && strcmp(only, d->name) != 0)
      continue;
    char *path = bench_path(d->converted ? argv[2] : argv[1], d->file);
    if (bench_file_size(path))
      run_table(d, path, folds, threads);
    else
      fprintf(stderr, "suite_cv: %s missing, %s skipped\n", path, d->name);
    free(path);
  }
  return 0;
}
