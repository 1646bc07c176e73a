/* Prediction quality of the engine on the benchmark datasets, through the public API only.
 *
 *   bench_quality DATASETS_DIR SPLITS_DIR [--threads N] [--out FILE] [--only NAME]
 *
 * For each dataset: read the train CSV, infer the schema, create a trainee, train, analyze for
 * the target, react on the test CSV's rows (every other feature as context) and score the
 * predictions: accuracy (string equality) for a categorical target, R^2 for a numeric one.
 * adult uses adult_train/adult_test from DATASETS_DIR; diamonds, abalone and penguins use the
 * fixed 80/20 splits sklearn_baseline.py wrote to SPLITS_DIR, so both sides see identical rows:
 * a systematic 1-in-5 split, data row i (0-based, after dropping rows without a target) is a test
 * row when i % 5 == 4 (tests/test_quality_predict.c rebuilds it from the original CSV).
 * Prints JSON {dataset: {metric, cohort_score, seconds, ...}} and writes it to --out. */
#include "bench_util.h"
#include "suite_split.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct dataset {
  const char *name;
  const char *train; /* file name */
  const char *test;
  int in_splits; /* 1 = file in SPLITS_DIR, 0 = in DATASETS_DIR */
  const char *target;
  const char *metric; /* "accuracy" or "r2" */
} dataset;

static const dataset datasets[] = {
    {"adult", "adult_train.csv", "adult_test.csv", 0, "income", "accuracy"},
    {"diamonds", "diamonds_train.csv", "diamonds_test.csv", 1, "price", "r2"},
    {"abalone", "abalone_train.csv", "abalone_test.csv", 1, "rings", "r2"},
    {"penguins", "penguins_train.csv", "penguins_test.csv", 1, "species", "accuracy"},
};

typedef struct result {
  double score, seconds, t_train, t_analyze, t_react;
  size_t n_train, n_test, n_scored, n_unpredicted, k;
  double p;
} result;

static void run_one(const dataset *d, const char *data_dir, const char *split_dir, size_t threads,
                    result *res) {
  memset(res, 0, sizeof *res);
  char *train_path = bench_path(d->in_splits ? split_dir : data_dir, d->train);
  char *test_path = bench_path(d->in_splits ? split_dir : data_dir, d->test);
  double t0 = bench_now();
  cohort_table *train = bench_read_csv(train_path);
  cohort_table *test = bench_read_csv(test_path);
  cohort_schema *schema = NULL;
  bench_check(cohort_schema_infer(&schema, train), "schema_infer");
  cohort_trainee *t = NULL;
  bench_check(cohort_trainee_create(&t, schema), "trainee_create");
  bench_check(cohort_trainee_train(t, train, NULL), "trainee_train");
  double t1 = bench_now();

  const char *targets[1] = {d->target};
  cohort_analyze_options ao = COHORT_ANALYZE_OPTIONS_INIT;
  ao.targets = targets;
  ao.n_targets = 1;
  ao.seed = 1;
  ao.threads = threads;
  bench_check(cohort_trainee_analyze(t, &ao), "trainee_analyze");
  double t2 = bench_now();
  bench_check(cohort_trainee_params(t, d->target, &res->k, &res->p), "trainee_params");

  cohort_react_options ro = COHORT_REACT_OPTIONS_INIT;
  ro.targets = targets;
  ro.n_targets = 1;
  ro.threads = threads;
  cohort_reaction *r = NULL;
  bench_check(cohort_react(t, test, &ro, &r), "react");
  double t3 = bench_now();

  long tc = cohort_table_find(test, d->target);
  if (tc < 0) {
    fprintf(stderr, "bench: %s has no column %s\n", test_path, d->target);
    exit(1);
  }
  size_t n = cohort_table_rows(test);
  int accuracy = strcmp(d->metric, "accuracy") == 0;
  double hit = 0, sy = 0, syy = 0, sse = 0;
  size_t m = 0, unpred = 0;
  /* R^2 needs the test mean first: two passes. */
  for (size_t i = 0; i < n; i++) {
    const char *truth = cohort_table_cell(test, i, (size_t)tc);
    if (!truth)
      continue;
    double y;
    if (!accuracy) {
      if (!suite_parse_double(truth, &y))
        continue;
      sy += y;
      syy += y * y;
    }
    m++;
  }
  double mean = m ? sy / (double)m : 0.0;
  for (size_t i = 0; i < n; i++) {
    const char *truth = cohort_table_cell(test, i, (size_t)tc);
    if (!truth)
      continue;
    const char *pred = cohort_reaction_value(r, i, 0);
    if (accuracy) {
      if (!pred)
        unpred++;
      else if (strcmp(pred, truth) == 0)
        hit++;
      continue;
    }
    double y, yhat;
    if (!suite_parse_double(truth, &y))
      continue;
    if (!suite_parse_double(pred, &yhat)) {
      unpred++;
      yhat = mean; /* no prediction: score it as the constant model would */
    }
    sse += (yhat - y) * (yhat - y);
  }
  double sst = syy - (double)m * mean * mean;
  res->score = m == 0 ? NAN : accuracy ? hit / (double)m : 1.0 - sse / sst;
  res->n_train = cohort_table_rows(train);
  res->n_test = n;
  res->n_scored = m;
  res->n_unpredicted = unpred;
  res->t_train = t1 - t0;
  res->t_analyze = t2 - t1;
  res->t_react = t3 - t2;
  res->seconds = t3 - t0;

  cohort_reaction_free(r);
  cohort_trainee_free(t);
  cohort_schema_free(schema);
  cohort_table_free(test);
  cohort_table_free(train);
  free(train_path);
  free(test_path);
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr,
            "usage: bench_quality DATASETS_DIR SPLITS_DIR [--threads N] [--out FILE] [--only NAME]\n");
    return 2;
  }
  const char *data_dir = argv[1], *split_dir = argv[2], *out_path = NULL, *only = NULL;
  size_t threads = 2;
  for (int i = 3; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--threads") == 0)
      threads = (size_t)strtoul(argv[i + 1], NULL, 10);
    else if (strcmp(argv[i], "--out") == 0)
      out_path = argv[i + 1];
    else if (strcmp(argv[i], "--only") == 0)
      only = argv[i + 1];
  }
  FILE *out = out_path ? fopen(out_path, "w") : NULL;
  if (out_path && !out) {
    perror(out_path);
    return 1;
  }
  FILE *sinks[2] = {stdout, out};
  size_t nd = sizeof datasets / sizeof datasets[0];
  for (int s = 0; s < 2; s++)
    if (sinks[s])
      fprintf(sinks[s], "{");
  int first = 1;
  for (size_t i = 0; i < nd; i++) {
    const dataset *d = &datasets[i];
    if (only && strcmp(only, d->name) != 0)
      continue;
    result r;
    fprintf(stderr, "bench_quality: %s (target %s)...\n", d->name, d->target);
    run_one(d, data_dir, split_dir, threads, &r);
    fprintf(stderr, "bench_quality: %s %s = %.4f in %.2fs\n", d->name, d->metric, r.score, r.seconds);
    for (int s = 0; s < 2; s++) {
      FILE *f = sinks[s];
      if (!f)
        continue;
      fprintf(f,
              "%s\n  \"%s\": {\"metric\": \"%s\", \"target\": \"%s\", \"cohort_score\": ", first ? "" : ",",
              d->name, d->metric, d->target);
      bench_json_num(f, r.score);
      fprintf(
          f,
          ", \"seconds\": %.3f, \"train_seconds\": %.3f, \"analyze_seconds\": %.3f, \"react_seconds\": %.3f",
          r.seconds, r.t_train, r.t_analyze, r.t_react);
      fprintf(f, ", \"k\": %zu, \"p\": ", r.k);
      bench_json_num(f, r.p);
      fprintf(f,
              ", \"train_rows\": %zu, \"test_rows\": %zu, \"scored_rows\": %zu, \"unpredicted\": %zu, "
              "\"threads\": %zu}",
              r.n_train, r.n_test, r.n_scored, r.n_unpredicted, threads);
    }
    first = 0;
  }
  for (int s = 0; s < 2; s++)
    if (sinks[s])
      fprintf(sinks[s], "\n}\n");
  if (out && fclose(out) != 0) {
    perror(out_path);
    return 1;
  }
  return 0;
}
