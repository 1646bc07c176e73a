/* suite_split.h: how the broad suite splits a table and scores a prediction, shared by bench_suite
 * (which writes bench/SUITE.md) and tests/test_quality_suite.c (whose floors come from SUITE.md),
 * so that both measure exactly the same thing. Public API only. */
#ifndef COHORT_SUITE_SPLIT_H
#define COHORT_SUITE_SPLIT_H

#include "cohort/cohort.h"

#include <stddef.h>

/* The rows of all that have a target (column tc). mod 0: all of them into a new *train; else a new
 * *train and *test, row i (counted over those rows) to *test when i % mod == mod - 1. On failure
 * nothing is left allocated. */
cohort_status suite_split(const cohort_table *all, size_t tc, size_t mod, cohort_table **train,
                          cohort_table **test);

/* Accuracy (exact text) when r2 is 0, else R^2 of the numeric target column tc of test against the
 * first target of r; a row without a prediction is a miss, or scores as the test mean. NAN when no
 * row could be scored. */
double suite_score(const cohort_table *test, size_t tc, const cohort_reaction *r, int r2);

#endif
