/* predict: a C program that links libcohort the way a user does, through pkg-config.
 *
 *   cc -std=c11 predict.c $(pkg-config --cflags --libs cohort) -o predict
 *   ./predict penguins.csv species
 *
 * Reads a CSV, holds out every fifth row, trains a trainee on the others, analyzes it for the
 * target column, predicts that column for the held-out rows from their other columns, and prints
 * the accuracy (categorical target) or the mean absolute error (continuous target). */
#include <cohort/cohort.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *what, cohort_status st) {
  fprintf(stderr, "predict: %s: %s: %s\n", what, cohort_strerror(st), cohort_errmsg());
  return 1;
}

/* Splits rows into train (four in five) and test (every fifth). */
static cohort_status split(const cohort_table *all, cohort_table **train, cohort_table **test) {
  size_t ncols = cohort_table_cols(all);
  const char **names = calloc(ncols, sizeof *names), **cells = calloc(ncols, sizeof *cells);
  cohort_status st = COHORT_ENOMEM;
  *train = *test = NULL;
  if (!names || !cells)
    goto out;
  for (size_t c = 0; c < ncols; c++)
    names[c] = cohort_table_colname(all, c);
  if ((st = cohort_table_create(train, ncols, names)) != COHORT_OK ||
      (st = cohort_table_create(test, ncols, names)) != COHORT_OK)
    goto out;
  for (size_t r = 0; r < cohort_table_rows(all) && st == COHORT_OK; r++) {
    for (size_t c = 0; c < ncols; c++)
      cells[c] = cohort_table_cell(all, r, c);
    st = cohort_table_append(r % 5 == 4 ? *test : *train, cells);
  }
out:
  if (st != COHORT_OK) {
    cohort_table_free(*train);
    cohort_table_free(*test);
    *train = *test = NULL;
  }
  free(names);
  free(cells);
  return st;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: predict DATA.csv TARGET\n");
    return 2;
  }
  const char *path = argv[1], *target = argv[2];
  cohort_table *all = NULL, *train = NULL, *test = NULL;
  cohort_schema *schema = NULL;
  cohort_trainee *trainee = NULL;
  cohort_reaction *reaction = NULL;
  cohort_status st;
  int rc = 1;

  if ((st = cohort_table_read_csv(&all, path, NULL)) != COHORT_OK) {
    fail(path, st);
    goto out;
  }
  long col = cohort_table_find(all, target);
  if (col < 0) {
    fprintf(stderr, "predict: %s has no column '%s'\n", path, target);
    goto out;
  }
  if ((st = split(all, &train, &test)) != COHORT_OK) {
    fail("split", st);
    goto out;
  }
  if ((st = cohort_schema_infer(&schema, train)) != COHORT_OK ||
      (st = cohort_trainee_create(&trainee, schema)) != COHORT_OK ||
      (st = cohort_trainee_train(trainee, train, NULL)) != COHORT_OK) {
    fail("train", st);
    goto out;
  }

  /* Options structs start from their initialiser, which stamps their size (see cohort.h). */
  cohort_analyze_options ao = COHORT_ANALYZE_OPTIONS_INIT;
  ao.targets = &target;
  ao.n_targets = 1;
  ao.seed = 1;
  if ((st = cohort_trainee_analyze(trainee, &ao)) != COHORT_OK) {
    fail("analyze", st);
    goto out;
  }
  cohort_react_options ro = COHORT_REACT_OPTIONS_INIT;
  ro.targets = &target; /* the contexts: every other column of the test rows */
  ro.n_targets = 1;
  if ((st = cohort_react(trainee, test, &ro, &reaction)) != COHORT_OK) {
    fail("predict", st);
    goto out;
  }

  long f = cohort_schema_find(schema, target);
  int continuous = f >= 0 && cohort_schema_type(schema, (size_t)f) == COHORT_CONTINUOUS;
  size_t scored = 0, right = 0;
  double abs_err = 0;
  for (size_t r = 0; r < cohort_table_rows(test); r++) {
    const char *truth = cohort_table_cell(test, r, (size_t)col);
    if (!truth) /* a missing true value scores nothing */
      continue;
    scored++;
    if (continuous)
      abs_err += fabs(cohort_reaction_number(reaction, r, 0) - strtod(truth, NULL));
    else
      right += strcmp(cohort_reaction_value(reaction, r, 0), truth) == 0;
  }
  if (!scored) {
    fprintf(stderr, "predict: no held-out row has a value for '%s'\n", target);
    goto out;
  }
  size_t k;
  double p;
  if ((st = cohort_trainee_params(trainee, target, &k, &p)) != COHORT_OK) {
    fail("params", st);
    goto out;
  }
  if (continuous)
    printf("%s: mean absolute error %.4g", target, abs_err / (double)scored);
  else
    printf("%s: accuracy %.3f (%zu of %zu)", target, (double)right / (double)scored, right, scored);
  printf(" on held-out rows; trained on %zu cases, k = %zu, p = %g, libcohort %s\n",
         cohort_trainee_cases(trainee), k, p, cohort_version());
  rc = 0;
out:
  cohort_reaction_free(reaction);
  cohort_trainee_free(trainee);
  cohort_schema_free(schema);
  cohort_table_free(test);
  cohort_table_free(train);
  cohort_table_free(all);
  return rc;
}
