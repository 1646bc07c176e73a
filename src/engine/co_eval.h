/* The evaluation result, computed and written as JSON by evaluate.c (the platform draws the HTML
 * report from that JSON: src/platform/report_html.c). Nothing else includes this header but the
 * tests of the metric kernels. */
#ifndef COHORT_CO_EVAL_H
#define COHORT_CO_EVAL_H

#include "co_internal.h"

/* SDMetrics QualityReport defaults for the current pair rule: a pair contributes to Column Pair
 * Trends only if the real data shows a trend. */
#define CO_EVAL_CORR_THRESHOLD 0.5  /* |Pearson r| of the real pair must exceed this */
#define CO_EVAL_ASSOC_THRESHOLD 0.3 /* Cramer's V of the real contingency table must exceed this */
#define CO_EVAL_TOP_CATEGORIES 30   /* categories listed per column in the plots; the rest = other */

/* Per-column plot data: a histogram over shared bin edges (continuous/datetime) or category
 * frequencies (categorical). Missing values are counted apart. */
typedef struct co_eval_dist {
  size_t nbins;  /* histogram: bins (edges has nbins + 1); categories: entries in cats */
  double *edges; /* histogram only */
  char **cats;   /* categories only, most frequent in the real data first */
  double *real;  /* nbins: counts (histogram) or fractions of all rows (categories) */
  double *synth;
  bool has_other;                 /* categories beyond the top ones, aggregated */
  double other_real, other_synth; /* fractions of all rows */
  size_t real_missing, synth_missing;
  size_t real_rows, synth_rows;
  bool datetime; /* edges are epoch seconds */
} co_eval_dist;

typedef struct co_eval_col {
  char *name;
  cohort_ftype type;
  bool numeric;      /* continuous or datetime: KSComplement; else TVComplement */
  double score;      /* NaN where SDMetrics would report an error */
  const char *error; /* static text when score is NaN, else NULL */
  size_t invalid;    /* cells of a numeric column that did not parse (treated as missing) */
  co_eval_dist dist;
} co_eval_col;

typedef struct co_eval_pair {
  size_t a, b;        /* indexes into cols, a < b */
  bool correlation;   /* CorrelationSimilarity (both numeric) vs ContingencySimilarity */
  double score;       /* metric score, all-pairs rule; NaN = not computable */
  double real_value;  /* Pearson r (correlation) or Cramer's V (contingency), real data */
  double synth_value; /* the same on the synthetic data */
  bool kept;          /* meets the current rule's threshold (and score is a number) */
  const char *error;
} co_eval_pair;

struct cohort_eval {
  size_t real_rows, synth_rows, holdout_rows;
  bool has_holdout;

  size_t ncols;
  co_eval_col *cols;
  size_t npairs;
  co_eval_pair *pairs;

  double column_shapes;   /* mean of column scores */
  double pair_trends;     /* current rule */
  double pair_trends_all; /* older all-pairs rule */
  double quality;         /* nanmean(column_shapes, pair_trends) */
  double quality_all;     /* nanmean(column_shapes, pair_trends_all) */
  size_t pairs_kept;

  /* Privacy (DCR = distance to closest record, SDMetrics dcr_utils). */
  size_t dcr_synth_rows, dcr_real_rows, dcr_holdout_rows; /* after max_rows sampling */
  double median_dcr_synth;                                /* synthetic -> real */
  double median_dcr_random;                               /* random uniform baseline -> real */
  double dcr_baseline;                                    /* min(1, median synth / median random) */
  double closer_to_training; /* fraction of synthetic rows strictly closer to real than holdout */
  double median_dcr_holdout; /* synthetic -> holdout */
  double dcr_overfitting;    /* min(1, 2 * (1 - closer_to_training)) */
  size_t identical;          /* synthetic rows equal by value to some real row (rare + common) */
  size_t identical_rare;     /* ... to a row fewer than copy_k real rows share (privacy risk) */
  size_t identical_common;   /* ... to a row at least copy_k real rows share */
  size_t copy_k;
  double copy_tolerance; /* numbers match within this fraction of the synthetic value */

  /* Train on synthetic / train on real, tested on the holdout. */
  char *target;        /* NULL = not computed */
  bool target_numeric; /* R^2 (continuous/datetime) vs accuracy */
  size_t test_rows;    /* holdout rows with the target present */
  double tstr, trtr;
  char *tstr_note; /* why TSTR was not computed, or NULL */
  /* The same with gradient boosting (gbm.c, scikit-learn's HistGradientBoosting defaults) as the
   * learner: it uses the fine structure that the engine's k-NN judge cannot. */
  double tstr_gbm, trtr_gbm;
  char *gbm_note; /* why they were not computed, or NULL */
};

/* The metric kernels, exposed for unit tests (evaluate.c). */
/* Kolmogorov-Smirnov statistic of two ascending samples (scipy ks_2samp's D). */
double co_eval_ks_statistic(const double *a, size_t na, const double *b, size_t nb);
/* TVComplement from category counts (same categories, same order; missing values excluded). */
double co_eval_tv_complement(const double *real_counts, const double *synth_counts, size_t ncat);
/* Pearson r over rows where both are present; NaN if undefined. */
double co_eval_pearson(const double *a, const double *b, size_t n);

#endif
