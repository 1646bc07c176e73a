/* suite_split.c: see suite_split.h. */
#include "suite_split.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static cohort_status empty_like(const cohort_table *t, cohort_table **out) {
  size_t nc = cohort_table_cols(t);
  const char **names = calloc(nc, sizeof *names);
  *out = NULL;
  if (!names)
    return COHORT_ENOMEM;
  for (size_t c = 0; c < nc; c++)
    names[c] = cohort_table_colname(t, c);
  cohort_status st = cohort_table_create(out, nc, names);
  free(names);
  return st;
}

cohort_status suite_split(const cohort_table *all, size_t tc, size_t mod, cohort_table **train,
                          cohort_table **test) {
  size_t nr = cohort_table_rows(all), nc = cohort_table_cols(all), i = 0;
  const char **cells = calloc(nc, sizeof *cells);
  cohort_status st = cells ? empty_like(all, train) : COHORT_ENOMEM;
  if (st == COHORT_OK && mod)
    st = empty_like(all, test);
  for (size_t r = 0; r < nr && st == COHORT_OK; r++) {
    if (!cohort_table_cell(all, r, tc))
      continue;
    for (size_t c = 0; c < nc; c++)
      cells[c] = cohort_table_cell(all, r, c);
    st = cohort_table_append(mod && i % mod == mod - 1 ? *test : *train, cells);
    i++;
  }
  free(cells);
  if (st != COHORT_OK) {
    cohort_table_free(*train);
    *train = NULL;
    if (mod) {
      cohort_table_free(*test);
      *test = NULL;
    }
  }
  return st;
}

static int parse_double(const char *s, double *out) {
  if (!s || !*s)
    return 0;
  char *end = NULL;
  double v = strtod(s, &end);
  if (end == s || *end != '\0' || !isfinite(v))
    return 0;
  *out = v;
  return 1;
}

double suite_score(const cohort_table *test, size_t tc, const cohort_reaction *r, int r2) {
  size_t n = cohort_table_rows(test), m = 0;
  double hit = 0, sy = 0, syy = 0, sse = 0;
  for (size_t i = 0; i < n; i++) {
    double y;
    if (parse_double(cohort_table_cell(test, i, tc), &y)) {
      sy += y;
      syy += y * y;
    }
  }
  double mean = n ? sy / (double)n : 0;
  for (size_t i = 0; i < n; i++) {
    const char *truth = cohort_table_cell(test, i, tc), *pred = cohort_reaction_value(r, i, 0);
    double y, yhat;
    if (!r2) {
      hit += pred && truth && strcmp(pred, truth) == 0;
      m++;
      continue;
    }
    if (!parse_double(truth, &y))
      continue;
    if (!parse_double(pred, &yhat))
      yhat = mean;
    sse += (yhat - y) * (yhat - y);
    m++;
  }
  if (!m)
    return NAN;
  return r2 ? 1.0 - sse / (syy - (double)m * mean * mean) : hit / (double)m;
}
