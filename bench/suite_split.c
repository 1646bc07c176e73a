/* suite_split.c: see suite_split.h. */
#include "suite_split.h"

#include <math.h>
#include <stdio.h>
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

/* suite_split and suite_fold: row i (over the rows with a target) to *test when i % mod == fold. */
static cohort_status split_rows(const cohort_table *all, size_t tc, size_t mod, size_t fold,
                                cohort_table **train, cohort_table **test) {
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
    st = cohort_table_append(mod && i % mod == fold ? *test : *train, cells);
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

cohort_status suite_split(const cohort_table *all, size_t tc, size_t mod, cohort_table **train,
                          cohort_table **test) {
  return split_rows(all, tc, mod, mod ? mod - 1 : 0, train, test);
}

cohort_status suite_fold(const cohort_table *all, size_t tc, size_t folds, size_t fold, cohort_table **train,
                         cohort_table **test) {
  if (folds < 2 || fold >= folds)
    return COHORT_EINVAL;
  return split_rows(all, tc, folds, fold, train, test);
}

/* splitmix64: a fixed, portable stream for the halving (rand() differs between C libraries). */
static uint64_t mix_next(uint64_t *state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

#define SUITE_HALVE_SEED 20261207u

cohort_status suite_halve(const cohort_table *all, size_t tc, cohort_table **train, cohort_table **test) {
  size_t nr = cohort_table_rows(all), nc = cohort_table_cols(all), n = 0;
  size_t *rows = calloc(nr ? nr : 1, sizeof *rows);
  unsigned char *to_train = calloc(nr ? nr : 1, 1);
  const char **cells = calloc(nc ? nc : 1, sizeof *cells);
  *train = *test = NULL;
  cohort_status st = rows && to_train && cells ? empty_like(all, train) : COHORT_ENOMEM;
  if (st == COHORT_OK)
    st = empty_like(all, test);
  if (st != COHORT_OK)
    goto out;
  for (size_t r = 0; r < nr; r++)
    if (cohort_table_cell(all, r, tc))
      rows[n++] = r;
  uint64_t state = SUITE_HALVE_SEED;
  for (size_t i = n; i > 1; i--) { /* Fisher-Yates; the modulo's bias is nil at these sizes */
    size_t s = (size_t)(mix_next(&state) % i), tmp = rows[i - 1];
    rows[i - 1] = rows[s];
    rows[s] = tmp;
  }
  for (size_t i = 0; i < (n + 1) / 2; i++)
    to_train[rows[i]] = 1;
  for (size_t r = 0; r < nr && st == COHORT_OK; r++) {
    if (!cohort_table_cell(all, r, tc))
      continue;
    for (size_t c = 0; c < nc; c++)
      cells[c] = cohort_table_cell(all, r, c);
    st = cohort_table_append(to_train[r] ? *train : *test, cells);
  }
out:
  free(rows);
  free(to_train);
  free(cells);
  if (st != COHORT_OK) {
    cohort_table_free(*train);
    cohort_table_free(*test);
    *train = *test = NULL;
  }
  return st;
}

int suite_parse_double(const char *s, double *out) {
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
    if (suite_parse_double(cohort_table_cell(test, i, tc), &y)) {
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
    if (!suite_parse_double(truth, &y))
      continue;
    if (!suite_parse_double(pred, &yhat))
      yhat = mean;
    sse += (yhat - y) * (yhat - y);
    m++;
  }
  if (!m)
    return NAN;
  return r2 ? 1.0 - sse / (syy - (double)m * mean * mean) : hit / (double)m;
}

/* splitmix64: the generator's own stream, so the table is the same on every platform. */
static uint64_t wide_next(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static double wide_uniform(uint64_t *s) {
  return (double)(wide_next(s) >> 11) * 0x1.0p-53;
}

static double wide_normal(uint64_t *s) {
  double u = wide_uniform(s), v = wide_uniform(s);
  return sqrt(-2.0 * log(u > 0 ? u : 0x1.0p-53)) * cos(6.283185307179586 * v);
}

#define WIDE_CLASSES 6
#define WIDE_BANDS 4
#define WIDE_PIXELS 9

cohort_status suite_wide_table(size_t rows, uint64_t seed, cohort_table **out) {
  /* Landsat's classes (red soil, cotton, grey soil, damp grey soil, soil with vegetation stubble,
   * very damp grey soil), their shares, mean of each band, and how far each band moves with the
   * brightness and the vegetation factors and on its own. */
  static const int label[WIDE_CLASSES] = {1, 2, 3, 4, 5, 7};
  static const double share[WIDE_CLASSES] = {0.238, 0.109, 0.211, 0.097, 0.110, 0.235};
  static const double mean[WIDE_CLASSES][WIDE_BANDS] = {{63, 96, 108, 86},  {48, 39, 114, 118},
                                                        {87, 106, 111, 87}, {77, 90, 94, 74},
                                                        {60, 63, 83, 68},   {69, 77, 82, 64}};
  static const double bright[WIDE_BANDS] = {6, 9, 7, 5}, veg[WIDE_BANDS] = {-2, -4, 6, 8},
                      own[WIDE_BANDS] = {2.5, 3, 3, 3};
  char names[WIDE_PIXELS * WIDE_BANDS + 1][8];
  const char *cols[WIDE_PIXELS * WIDE_BANDS + 1];
  char cells[WIDE_PIXELS * WIDE_BANDS + 1][8];
  const char *row[WIDE_PIXELS * WIDE_BANDS + 1];
  size_t nc = WIDE_PIXELS * WIDE_BANDS + 1;
  for (size_t p = 0; p < WIDE_PIXELS; p++)
    for (size_t b = 0; b < WIDE_BANDS; b++)
      snprintf(names[p * WIDE_BANDS + b], sizeof names[0], "p%zu_b%zu", p + 1, b + 1);
  snprintf(names[nc - 1], sizeof names[0], "class");
  for (size_t c = 0; c < nc; c++) {
    cols[c] = names[c];
    row[c] = cells[c];
  }
  cohort_status st = cohort_table_create(out, nc, cols);
  uint64_t s = seed * 0x2545f4914f6cdd1dull + 1;
  for (size_t r = 0; r < rows && st == COHORT_OK; r++) {
    size_t cls[2];
    double spec[2][WIDE_BANDS];
    for (int side = 0; side < 2; side++) {
      double u = wide_uniform(&s), acc = 0;
      size_t c = 0;
      while (c + 1 < WIDE_CLASSES && u >= (acc += share[c]))
        c++;
      cls[side] = c;
      double zb = wide_normal(&s), zv = wide_normal(&s);
      for (size_t b = 0; b < WIDE_BANDS; b++)
        spec[side][b] = mean[c][b] + bright[b] * zb + veg[b] * zv + own[b] * wide_normal(&s);
    }
    /* A border: the pixels on one side of a line through the neighbourhood see the second class. */
    int border = wide_uniform(&s) < 0.3;
    double ang = 6.283185307179586 * wide_uniform(&s), off = wide_uniform(&s) - 0.5;
    double gx = wide_normal(&s), gy = wide_normal(&s);
    for (size_t p = 0; p < WIDE_PIXELS; p++) {
      double x = (double)(p % 3) - 1, y = (double)(p / 3) - 1;
      int side = border && x * cos(ang) + y * sin(ang) > off + 0.5;
      for (size_t b = 0; b < WIDE_BANDS; b++) {
        double v = spec[side][b] + (gx * x + gy * y) * 0.4 * bright[b] + 2.0 * wide_normal(&s);
        v = round(v < 0 ? 0 : v > 255 ? 255 : v);
        snprintf(cells[p * WIDE_BANDS + b], sizeof cells[0], "%d", (int)v);
      }
    }
    /* The label is the centre pixel's class, as in Landsat's table (the line never crosses it). */
    snprintf(cells[nc - 1], sizeof cells[0], "%d", label[cls[0]]);
    st = cohort_table_append(*out, row);
  }
  if (st != COHORT_OK) {
    cohort_table_free(*out);
    *out = NULL;
  }
  return st;
}
