/* suite_split.h: how the broad suite splits a table and scores a prediction, shared by bench_suite
 * (which writes bench/SUITE.md) and tests/test_quality_suite.c (whose floors come from SUITE.md),
 * so that both measure exactly the same thing. Public API only. */
#ifndef COHORT_SUITE_SPLIT_H
#define COHORT_SUITE_SPLIT_H

#include "cohort/cohort.h"

#include <stddef.h>
#include <stdint.h>

/* The rows of all that have a target (column tc). mod 0: all of them into a new *train; else a new
 * *train and *test, row i (counted over those rows) to *test when i % mod == mod - 1. On failure
 * nothing is left allocated. */
cohort_status suite_split(const cohort_table *all, size_t tc, size_t mod, cohort_table **train,
                          cohort_table **test);

/* As suite_split for k-fold cross-validation: row i to *test when i % folds == fold (folds >= 2,
 * fold < folds; else COHORT_EINVAL), so fold folds - 1 is suite_split's test set. */
cohort_status suite_fold(const cohort_table *all, size_t tc, size_t folds, size_t fold, cohort_table **train,
                         cohort_table **test);

/* The rows of all that have a target (column tc), halved at random into a new *train (the larger
 * half when the count is odd) and *test, each in the table's order. The draw is fixed (its own
 * seed), so every run and every tool gets the same halves. Random rather than systematic because
 * tables are stored in orders that a period of 2 meets: penguins.csv lists each male after a
 * female, so alternate rows put 141 of 166 sexed rows of one half in "female" and two real halves
 * scored 0.74 quality against each other; boston_housing.csv lists neighbouring tracts of a town
 * in turn, so alternate halves are matched pairs (0.93, 0.86 at random). On failure nothing is
 * left allocated. */
cohort_status suite_halve(const cohort_table *all, size_t tc, cohort_table **train, cohort_table **test);

/* A whole cell as a finite number: 1 and *out set, or 0 (empty, missing, text, inf, nan). */
int suite_parse_double(const char *s, double *out);

/* Accuracy (exact text) when r2 is 0, else R^2 of the numeric target column tc of test against the
 * first target of r; a row without a prediction is a miss, or scores as the test mean. NAN when no
 * row could be scored. */
double suite_score(const cohort_table *test, size_t tc, const cohort_reaction *r, int r2);

/* The suite's wide numeric table, generated (no public table of that shape installs here): rows x
 * 37, laid out as the UCI Statlog Landsat table is (a 3 x 3 pixel neighbourhood in 4 spectral bands,
 * p1_b1 .. p9_b4, integers 0..255, and "class": 1, 2, 3, 4, 5 or 7, with that table's class shares).
 * Each row's bands come from its class's mean, moved along two shared factors (brightness, vegetation),
 * the nine pixels from that spectrum plus a spatial gradient and sensor noise; 30% of the
 * neighbourhoods straddle a border with a second class. So the 36 features are strongly correlated
 * in groups, as an image's are, not 36 independent ones. Deterministic for (rows, seed). */
cohort_status suite_wide_table(size_t rows, uint64_t seed, cohort_table **out);

#endif
