/* Synthesize: new rows that follow the trainee's joint distribution without copying its cases.
 *
 * Each row is built one feature at a time in a random order. The first feature drawn is taken
 * from a random case; each later one from a neighbour of what the row holds so far: among the k nearest
 * cases on the generated features, weighted by how strongly each goes with the feature being drawn,
 * one is picked uniformly (on large tables, among the nearest of a random part of the cases:
 * CO_SYNTH_PART_K; mixing many neighbours is what keeps
 * later features from being copied off the one case that matches the first few), its value taken
 * and, for numeric features, perturbed by Laplace noise scaled by how far the neighbours' values
 * spread around it (the median absolute difference), never more than the feature's residual. Values
 * common enough to be no one's in particular (atoms: a 40-hour week, a capital gain of 0, a level
 * of a feature that takes few values) are kept as they are, which keeps the spikes of the data
 * sharp and its levels on their levels.
 *
 * Features analyzed as targets. A nominal target is drawn first (from a random case, or predicted
 * from the fixed features) and kept through all of the row's attempts, so the gate below selects
 * the other features given the target and never the target itself: the target keeps its
 * distribution. The other features are drawn from neighbours of the row's class (CO_SYNTH_STRATA). A
 * continuous target is left out of the gate's distance and drawn last, once the rest of the row has passed
 * the gate: from its own k nearest on the whole row, picked by influence. On diamonds (price; 15,000 rows)
 * that lifted train-on-synthetic R^2 from 0.917 to 0.963 (0.976 on the real rows); abalone (rings) was
 * unchanged (0.452 -> 0.457 over 5 seeds) and winequality (quality, which the features predict poorly: 0.415
 * on the real rows) fell from 0.288 to 0.241 over 16 seeds. Its value is the row's own prediction (the
 * influence-weighted mean of those neighbours) plus the residual of the one picked (its value less its
 * own leave-one-out prediction, scaled to the noise of the cases: residual_value), without noise: the row's
 * target then varies about the mean at the row's own features, where the neighbour's value varies about the
 * mean at the neighbour's, a smoothing that washes out what a model learns from the rows; and the value is
 * not taken from a case. Against the neighbour's value with noise, gradient boosting's train-on-synthetic R^2
 * over seeds 7, 3, 11, 1, 2, 4, 5, 6 (SUITE.md's halves; on the real rows in brackets): abalone 0.457 ->
 * 0.488 (0.506), boston 0.671 -> 0.736 (0.878), diabetes 0.254 -> 0.269 (0.423); seeds 7, 3, 11: diamonds
 * 0.9753 -> 0.9759 (0.9801). DCR overfitting protection: boston 0.694 -> 0.701, diabetes 0.980 -> 0.961,
 * abalone and diamonds 1.0; quality the same. With the noise kept as well (seeds 7, 3, 11): abalone 0.464
 * against 0.487 without, boston 0.732 against 0.755.
 *
 * Privacy gate, measured in SDMetrics' DCR geometry over every used feature (nominal targets
 * included). A row is regenerated when
 *   - it is an exact copy of a case, or a rare copy by value of one as cohort_evaluate counts
 *     copies (CO_COPY_TOL);
 *   - it is closer to its nearest case than that case is to its own nearest neighbour (local rule);
 *   - its nearest case is much closer than its third nearest (d1 < 0.6 d3): a row as far from
 *     several cases as from its nearest points at none of them, one near a single case singles it
 *     out (the nearest-neighbour distance ratio);
 *   - with COHORT_PRIVACY_REFERENCE (the default), it is closer to the cases than to a set of
 *     reference rows the model drew beforehand without the gate: a row the model could have made
 *     without having seen the cases is as near its own kind as it is to them. On many features the
 *     model's draws are farther from each other than from the cases (each carries its own noise in
 *     every feature, the cases none), so the rule is measured on the model's own scale there
 *     (CO_SYNTH_REF_PASS);
 *   - a nominal target's value holds less than 40% of the weight of that target's own nearest cases
 *     on the row's other features. The rules above favour rows whose target differs from their
 *     neighbours' (such a row is further from them); this one keeps the target plausible for the
 *     rest of the row, which is what a model trained on the rows learns.
 * These are the comparisons that distance-to-closest-record overfitting tests make against a
 * holdout (SDMetrics' DCROverfittingProtection), made with the cases alone: on real rows that were
 * not trained on (half of adult_test, against a random half of adult_train with the other half of
 * adult_test as holdout), the ratio rule alone lifts that score from 0.66 to 0.94 (ratio 0.7) or
 * 0.98 (0.8). When none of CO_SYNTH_ATTEMPTS passes, the least close attempt is kept.
 *
 * Row r is generated from its own random stream seeded by (seed, r), so the output depends on the
 * seed only, not on threads or scheduling. */
#include "co_trainee.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define CO_SYNTH_K 50
/* ... but never more than a tenth of the cases (at least CO_SYNTH_K_MIN): 50 of boston's 253 cases
 * is a fifth of the table, and a value drawn from so wide a neighbourhood has lost the structure a
 * model learns from the row (see CO_SYNTH_STRATA for the measure). */
#define CO_SYNTH_K_SHARE 10
/* The same share of the cases of the row's stratum (the level of a nominal target the row holds,
 * CO_SYNTH_STRATA) where that is fewer: neighbours then come from the row's class rather than
 * spilling into other classes (soybean's 19 classes hold 2-45 of its 342 cases; k was 34) and each
 * class keeps its own local structure. Means over seeds 7, 3, 11, 1, 2, 4, 5, 6 (SUITE.md's
 * halves), quality and gradient boosting's train-on-synthetic gap to train-on-real: soybean 0.921 /
 * 0.142 -> 0.947 / 0.052, vehicle 0.917 / 0.064 -> 0.943 / 0.048, breast_cancer 0.910 / 0.035 ->
 * 0.922 / 0.033, pima 0.910 / -0.017 -> 0.912 / -0.013; on the smallest tables it costs: wine (89
 * cases, k 8 -> 5) 0.868 / 0.025 -> 0.873 / 0.046, penguins (172) 0.878 / 0.007 -> 0.863 / 0.015. DCR
 * overfitting protection 1.0 on all but pima 0.968 -> 0.964, wine 1.0 -> 0.982, penguins 1.0 ->
 * 0.997. A fifth of the stratum instead: soybean 0.951 / 0.045, vehicle 0.935 / 0.041, breast_cancer
 * 0.915 / 0.034, wine 0.869 / 0.039, penguins 0.875 / 0.011, pima 0.906. Adult's classes (24,720 and
 * 7,841 cases) keep k = 50. A k the caller sets is used as it is. */
#define CO_SYNTH_K_MIN 5
/* A nominal target drawn for the row weighs this many times all the other features together in
 * the searches for the row's other features: their neighbours come from the cases of the row's
 * class first, so each class keeps its own joint distribution rather than only its pair trends
 * with the target. With CO_SYNTH_K_SHARE, train-on-synthetic accuracy of gradient boosting, seeds
 * 7 / 3 (half of each table; bench/SUITE.md's split): vehicle 0.560 / 0.598 -> 0.664 / 0.712,
 * soybean 0.774 / 0.669 -> 0.833 / 0.892, pima 0.766 / 0.766 -> 0.794 / 0.779, breast_cancer
 * 0.919 / 0.887 -> 0.954 / 0.905, penguins 0.878 / 0.907 -> 0.837 / 0.901 (172 rows: one row is
 * 0.006); the share alone did less (soybean 0.675 at seed 7), the strata alone too (vehicle 0.603,
 * penguins 0.767). On adult (32,561 rows; k stays 50) the gap to train-on-real went 0.0151 ->
 * 0.0119, quality 0.9706 -> 0.9715, DCR overfitting protection 1.0 -> 0.9995. Costs at seed 7:
 * quality on vehicle 0.915 -> 0.900 and boston 0.811 -> 0.796, breast_cancer's DCR overfitting
 * protection 0.870 -> 0.758 (at seed 3 it rose, 0.814 -> 0.863). Not for an ordinal target: its
 * neighbouring classes are alike (winequality's quality: 0.608 -> 0.583 with strata).
 * Those searches run on an index of the class's own cases (a draw group), which holds what the
 * weight selects without reading the other classes' rows, and fall back to the whole index where a
 * case of another class could still be among the nearest (as with p = 2 and an outlying row): the
 * same neighbours. Adult (6,000 rows, 1 thread, fastest of 3): 22.4 -> 17.7 CPU s with the
 * cache's slot for the first redrawn feature (CO_SYNTH_CACHE). */
#define CO_SYNTH_STRATA 100.0
/* A draw group (the cases of a class, or all of them) searched for k neighbours is split at random
 * into k / CO_SYNTH_PART_K parts of its own index each, and a search takes the CO_SYNTH_PART_K
 * nearest in one part drawn at random: the neighbour picked then is the r-th nearest of the whole
 * group with a chance that is 1/k up to rank 10 and falls off smoothly around rank k (k = 50: 0.95/k
 * at r = 30, 0.47/k at 50, 0.03/k at 80; mean rank 27.5, as for a uniform pick of the 50 nearest)
 * instead of 1/k up to rank k and none beyond: as wide a neighbourhood, at a fifth of the search
 * (in 37 dimensions the tree read 73% of wide's 5,000 cases for the 50 nearest).
 * Only for k >= CO_SYNTH_PART_MIN * CO_SYNTH_PART_K, and parts of at least CO_SYNTH_PART_CASES:
 * the 10 nearest of a small part are far (boston, k = 25 in two parts of 126: DCR overfitting
 * protection 0.70 -> 0.66 over 4 seeds; winequality, 5 parts of 160: gradient boosting's gap to
 * train-on-real 0.015 -> 0.030 over 3 seeds). Small tables are quick to search anyway.
 * SUITE.md's halves, 2 threads, before -> after, seconds of synthesis (3 seeds): wide 19.2 -> 5.8
 * (quality 0.9756 -> 0.9753, gradient boosting's train-on-synthetic 0.8008 -> 0.7983), diamonds
 * 17.0 -> 5.7 (quality 0.978 -> 0.964 over 8 seeds: depth's top bin, at 79, is reached less
 * often, and column pair trends bin each table on its own range); adult (seed 7) 40-46 -> 19-23. */
#define CO_SYNTH_PART_K 10
#define CO_SYNTH_PART_MIN 4
#define CO_SYNTH_PART_CASES 1000
/* Enough that on adult no row ends on its least close attempt (64 left 1.3% of rows there). */
#define CO_SYNTH_ATTEMPTS 256
/* Retries keep the first 3/4 of the features drawn; every 16th attempt starts over. On adult (6,000
 * rows) against full regeneration: 41 s -> 30 s, DCR overfitting protection 0.828 -> 0.856,
 * quality 0.953 -> 0.957, train-on-synthetic unchanged (with the gate then: local rule and
 * reference). With today's gate, starting over every 16th attempt rather than every 4th: fewer
 * costly first draws, quality 0.955 -> 0.959, DCR overfitting protection 0.961 -> 0.966 (6,000
 * rows, seed 7). */
#define CO_SYNTH_KEEP_NUM 3
#define CO_SYNTH_KEEP_DEN 4
#define CO_SYNTH_FRESH 16
/* Neighbour sets a row keeps for its retries (see synth_range). Within the retries since a fresh
 * attempt the features kept are the same, so a redrawn feature's search depends only on the values
 * redrawn before it; on adult (seed 7) 53% of the searches after a retry's first repeated one of
 * the same row (its values drawn again the same: categories, spikes, integers), with up to 64 kept.
 * The first redrawn feature's set serves every retry of the series and has a slot of its own: in
 * turn with the others, it was pushed out after a few retries and searched again in 20% of adult's
 * retries (131,000 searches of 32,561 rows). */
#define CO_SYNTH_CACHE 16
/* Default noise divisor: half the local spread measured best on adult (quality 0.957 -> 0.963 at
 * equal privacy); a neighbour's value is already a draw from the local distribution. */
#define CO_SYNTH_CONVICTION 2.0
/* Reference draws of the model for the privacy gate, as a share of the cases. Fewer draws make a
 * stricter gate. With the local rule only, on adult, a quarter gave DCR overfitting protection 0.92
 * at quality 0.96 (a half 0.88, an eighth 0.91 with quality 0.95). */
#define CO_SYNTH_REFERENCE 0.25
/* Least share of the model's own (reference) draws that the reference rule would let through; where
 * fewer pass, the reference distance is scaled down until this share does, and retries redraw the
 * features where the row matches its nearest case (order_away_from). Draws distributed as the cases
 * are would pass about nr / (n + nr) = 0.2 (the chance that the nearest of cases and draws is a
 * draw); adult's pass 0.17, the small suite tables 0.12 - 0.21, so none changes, but breast_cancer's
 * 30 numeric features 0.028 and the suite's wide 37-column table 0.034: there the gate rejected 96% of
 * attempts (81 a row, 304 of 5,000 rows ending on their least close attempt, 84 s). With the scale
 * and the targeted retries, seed 7 (SUITE.md's split): wide 5,000 x 37, 81 -> 12 attempts a row, CPU
 * 88 -> 18 s, quality 0.970 -> 0.977, DCR overfitting protection 1.0 -> 1.0, DCR baseline 0.177 ->
 * 0.206 (further from the cases), engine train-on-synthetic 0.794 -> 0.795; breast_cancer: DCR
 * overfitting protection 0.758 -> 0.856, quality 0.916 -> 0.917. 0.2 was faster (8 attempts) but
 * left breast_cancer at 0.758. The targeted retries alone (scale 1) cut attempts 4x too but where
 * the draws are not spread (pima, boston: quality -0.03 / -0.04) they thin the dense regions. */
#define CO_SYNTH_REF_PASS 0.1
/* The ratio rule: the nearest case at least this share of the distance to the CO_SYNTH_NNDR_K-th. On
 * adult (32,561 rows, seeds 1 / 7) before neighbour searches were weighted by association, 0.75
 * gave DCR overfitting protection 0.976 / 0.960 at quality 0.961 / 0.960 and 0.6 only 0.931. With
 * them (and spikes kept): 0.75 -> 1.0 / 1.0 at quality 0.971 / 0.969 in 51 / 52 s; 0.6 -> 1.0 /
 * 0.987 at quality 0.975 / 0.972 in 46 / 44 s (the gate's pull towards rare values is a little
 * weaker: capital_gain > 0 in 11.3% of rows, 11.9% at 0.75, 8.3% in the data); 0.5 -> 0.981
 * (seed 1). On abalone and winequality 0.6 and 0.75 score the same. */
#define CO_SYNTH_NNDR_K 3
/* A row is a copy by value of a case when every feature the gate measures is equal, numbers
 * (continuous, datetime) within CO_COPY_TOL of the row's value: the test of cohort_evaluate's
 * identical-row counts (copies.c), after SDMetrics' NewRowSynthesis. The
 * distance rules alone let such rows through on small tables with few features, where a case's
 * nearest neighbour is far: penguins (172 cases, seed 3, with branch synthspeed's search) made
 * Gentoo/Biscoe/45.9/14.6/214/4742/female from the case 45.5/14.5/212/4750 (DCR 0.011, each number
 * within 0.9%). A rare copy is one that fewer than CO_COPY_K cases match:
 * a row many cases share singles out none of them, and on a table with a spike (test_engine's
 * 40-hour week, 2 features) most rows on the spike copy several cases within 1%. Counted exactly
 * (copies.c): when copies were looked for only among the row's 3 nearest cases (and, where one was
 * a copy, its 20 nearest), the rule let up to 71 rare copies a synthesis through on diamonds (a row
 * within 1% of a case on every number can be further from it than from cases that differ more on
 * one feature). */
/* A continuous target is drawn after the gate (see the top of the file), so the gate cannot see a
 * row that copies a case only once its target is drawn: diamonds (27,000 cases, price drawn last)
 * made up to 77 such rare copies a synthesis, rows whose carat, cut, colour, clarity, depth, table
 * and x/y/z match a case shared by few others and whose price came within 1% of that case's. The
 * target is redrawn (a new neighbour and noise) up to this many times while the whole row is one,
 * and the attempt fails after that: four cases can share a diamond and its price, so that every
 * neighbour of the row offers the price they share. */
#define CO_SYNTH_TARGET_TRIES 16
#define CO_SYNTH_NNDR 0.6
/* Least weight a nominal target's value must hold among its nearest cases. On adult (32,561 rows)
 * train-on-synthetic accuracy fell short of train-on-real by 0.037 without this rule, 0.021 at
 * 0.15, 0.013 at 0.3, 0.007 at 0.4 and 0.002 at 0.5, where quality fell to 0.950 (income's pair
 * trends grow stronger than the data's). Rows of 6,000 do not show the gap: measure at full size. */
#define CO_SYNTH_PLAUSIBLE 0.4
/* A continuous value that at least this share of the cases hold is an atom if it is a spike (below):
 * drawn, it is kept without noise. On adult hours_per_week is 40 in 46.7% of the rows; with noise
 * on it 22.7% of the synthetic rows were, kept 41.3%. Seeds 1 / 7: column shapes 0.974 / 0.975 ->
 * 0.980 / 0.979, quality 0.967 / 0.968 -> 0.971 / 0.969, train-on-synthetic gap 0.003 / 0.004 ->
 * 0.004 / 0.007. A 1% share did less, 0.2% widened the gap to 0.008. */
#define CO_SYNTH_ATOM 0.005
/* ... and at least this many times as many as the values next to it (CO_SYNTH_SPIKE_SPAN on each
 * side) hold on average: a spike, not a value of a feature measured in coarse steps. */
#define CO_SYNTH_SPIKE 4.0
#define CO_SYNTH_SPIKE_SPAN 2
/* A feature of at most this many distinct values is a few levels (a pixel's intensity 0..16, a
 * count of pregnancies): each of its values that CO_COPY_K cases hold is an atom too. Noise there
 * only moves a value to a level beside it, or between levels (digits' pixels are written 5.0: noise
 * made 5.3), and the level drawn is one that many cases share. SUITE.md's halves, before -> after:
 * digits (53 pixels of 17 levels; seeds 7, 3, 11) quality 0.920 -> 0.944, gradient boosting's
 * train-on-synthetic 0.863 -> 0.878 (0.960 on the real rows), DCR overfitting protection 1.0 both;
 * pima (pregnancies, 14 levels; 6 seeds) 0.905 -> 0.915, 0.740 -> 0.744, 0.906 -> 0.931; vehicle
 * (8 features; 4 seeds) 0.942 -> 0.942, 0.706 -> 0.702; adult (education_num, 16 levels; seeds 7,
 * 3) 0.971 -> 0.971, 0.861 -> 0.859. */
#define CO_SYNTH_LEVELS 32

/* Cases split at random into parts, each indexed on its own (group_build). */
typedef struct draw_part {
  co_index *ix;
  uint32_t *ids; /* the index's case i is the trainee's case ids[i] */
} draw_part;

typedef struct draw_group {
  draw_part *part;
  size_t nparts; /* 0: no case */
} draw_group;

typedef struct synth_job {
  cohort_trainee *t;
  const cohort_synth_options *o;
  const co_index *ix;   /* engine geometry */
  const co_index *dcr;  /* DCR geometry */
  const float *min_dcr; /* per case: DCR distance to its nearest other case */
  const double *fixed;  /* nf: fixed value where fixed_mask is set */
  const bool *fixed_mask;
  const double *gate_w; /* nf: 1 for features the gate measures, 0 for ignored and continuous targets */
  const co_copies *gate_copies; /* copies by value on the gate's features */
  const co_copies *row_copies;  /* ... on every used feature, where continuous targets are drawn last */
  const size_t *free_feats;     /* drawn in a random order, all but the targets */
  size_t nfree;
  const size_t *first; /* free nominal targets, drawn first and kept for the row */
  size_t nfirst;
  const size_t *last; /* free continuous targets, drawn from the whole row once it passed the gate */
  size_t nlast;
  const double *loo;      /* nlast * n: each case's leave-one-out prediction of each of them, or NULL */
  const double *loo_conc; /* nlast * n: the weight concentration of each of those (concentration) */
  size_t k;
  const size_t *stratum_k; /* per level of each nominal target (stratum_off), or NULL */
  const size_t *stratum_off;
  const draw_group *strata; /* per level of first[0]: its cases, or NULL */
  const draw_group *all;    /* every case, or NULL: the whole index */
  double conviction;
  double *out; /* rows * nf */
  size_t rows;
  uint64_t seed;
  bool gate;
  const char *stage;       /* progress label */
  const co_index *dcr_ref; /* reference draws of the model (DCR geometry), or NULL */
  double ref_scale;        /* the reference distance's factor (ref_scale_for) */
  const double *assoc;     /* nf * nf association of each pair of features (assoc.c) */
  const double *atoms;     /* per continuous feature, sorted: its values common enough to keep */
  const size_t *atom_off;  /* nf + 1: feature f's atoms are atoms[atom_off[f] .. atom_off[f + 1]) */
  const int *places;       /* nf: the decimals a continuous feature's values are rounded to (round_places) */
  _Atomic size_t done;
  _Atomic int cancel;
} synth_job;

static double round_to(double v, int decimals) {
  double s = pow(10.0, decimals);
  return round(v * s) / s;
}

/* Median of |values[i] - v| over the non-missing values of feature f among the neighbours. */
static double neighbour_spread(const cohort_trainee *t, size_t f, const co_nb *nb, size_t got, double v) {
  double diffs[CO_K_MAX];
  size_t m = 0;
  for (size_t i = 0; i < got; i++) {
    double u = t->x[(size_t)nb[i].i * t->nf + f];
    if (!isnan(u))
      diffs[m++] = fabs(u - v);
  }
  if (!m)
    return 0;
  /* Quickselect for the middle element. */
  size_t lo = 0, hi = m - 1, mid = m / 2;
  while (lo < hi) {
    double pivot = diffs[(lo + hi) / 2];
    size_t i = lo, k = hi;
    while (i <= k) {
      while (diffs[i] < pivot)
        i++;
      while (diffs[k] > pivot)
        k--;
      if (i <= k) {
        double tmp = diffs[i];
        diffs[i++] = diffs[k];
        diffs[k] = tmp;
        if (k == 0)
          break;
        k--;
      }
    }
    if (mid <= k)
      hi = k;
    else if (mid >= i)
      lo = i;
    else
      break;
  }
  return diffs[mid];
}

static bool is_target(const cohort_trainee *t, size_t f) {
  for (size_t i = 0; i < t->ntp; i++)
    if (t->tp[i].target == f)
      return true;
  return false;
}

/* Nearest cases to the row on the features marked in have, in the geometry used to predict f: its
 * own analyzed parameters and k when f is a target, else the targetless ones and the synthesis k
 * with each feature's weight scaled by its association with f (assoc.c), so the neighbours match
 * the row on what goes with f rather than on everything drawn so far. On adult (32,561 rows, seeds
 * 1 / 7) that lifted pair trends 0.945 / 0.943 -> 0.959 / 0.961 (quality 0.961 / 0.960 -> 0.967 /
 * 0.968), DCR overfitting protection 0.976 / 0.974 -> 1.0 / 1.0, train-on-synthetic gap 0.009 /
 * 0.005 -> 0.003 / 0.004, in the same time; a floor of 0.1 added to each association, or squaring
 * it, did less. */
static size_t row_neighbours(const synth_job *j, co_rng *rng, const double *row, const bool *have, size_t f,
                             bool targeted, float *q, double *w, co_nb *nb) {
  const cohort_trainee *t = j->t;
  const co_params *pr = co_trainee_params_for(t, targeted ? (long)f : -1);
  const double *a = j->assoc + f * t->nf;
  double sum = 0;
  for (size_t g = 0; g < t->nf; g++) {
    w[g] = !have[g] ? 0.0 : targeted ? pr->w[g] : pr->w[g] * a[g];
    sum += w[g];
  }
  if (sum == 0)
    return 0; /* f goes with none of them: any case is as near, draw from a random one */
  size_t k = targeted ? pr->k : j->k;
  const draw_group *grp = targeted ? NULL : j->all;
  bool strat = false;
  if (!targeted)
    for (size_t i = 0; i < j->nfirst; i++) {
      size_t g = j->first[i];
      if (!have[g] || t->schema.f[g].type == COHORT_ORDINAL)
        continue;
      w[g] = CO_SYNTH_STRATA * sum;
      if (j->stratum_k && !isnan(row[g]) && j->stratum_k[j->stratum_off[i] + (size_t)row[g]] < k)
        k = j->stratum_k[j->stratum_off[i] + (size_t)row[g]];
      if (i == 0 && j->strata && !isnan(row[g]) && j->strata[(size_t)row[g]].nparts) {
        grp = &j->strata[(size_t)row[g]];
        strat = true;
        w[g] = 0; /* every case there holds it */
      }
    }
  co_metric m = {w, pr->p, -1};
  if (grp) {
    const draw_part *pt = &grp->part[grp->nparts > 1 ? co_rng_below(rng, grp->nparts) : 0];
    size_t kp = (k + grp->nparts - 1) / grp->nparts;
    size_t g = strat ? j->first[0] : 0;
    if (pt->ix->n >= kp) {
      /* A case of another class could be among the nearest where one of the class is as far as
       * the class feature's term, which the search here leaves out: then the whole index. */
      double other = strat ? CO_SYNTH_STRATA * sum * pow(j->ix->mcost[g], pr->p) : INFINITY;
      co_index_scale(pt->ix, row, q);
      size_t got = co_knn(pt->ix, &m, q, kp, -1, rng, nb);
      if (got == kp && (!strat || pow(nb[kp - 1].d, pr->p) < other * (1 - 1e-4))) {
        for (size_t i = 0; i < got; i++)
          nb[i].i = pt->ids[nb[i].i];
        return got;
      }
    }
    if (strat)
      w[g] = CO_SYNTH_STRATA * sum;
  }
  co_index_scale(j->ix, row, q);
  return co_knn(j->ix, &m, q, k, -1, rng, nb);
}

static bool is_atom(const synth_job *j, size_t f, double v) {
  const double *a = j->atoms + j->atom_off[f];
  size_t lo = 0, hi = j->atom_off[f + 1] - j->atom_off[f];
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (a[mid] < v)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < j->atom_off[f + 1] - j->atom_off[f] && a[lo] == v;
}

/* The concentration of the influence weights of a prediction of f from nb[0..got): sum w^2 / (sum w)^2
 * over the neighbours holding f, from 1/got (equal weights) to 1 (one neighbour); 1 where none does.
 * The noise of the cases' values reaches the prediction scaled by it: a mean of k values with
 * noise of variance s2 varies by s2 / k about the true mean. */
static double concentration(const cohort_trainee *t, size_t f, const co_nb *nb, size_t got) {
  double sum = 0, sq = 0;
  for (size_t i = 0; i < got; i++)
    if (!isnan(t->x[(size_t)nb[i].i * t->nf + f])) {
      double w = co_influence(t, &nb[i]);
      sum += w;
      sq += w * w;
    }
  return sum > 0 ? sq / (sum * sum) : 1.0;
}

/* A continuous target's value for a row: its prediction from the row's neighbours nb[0..got) plus
 * the residual of neighbour pick (see the top of the file), scaled so that the value varies about
 * the mean at the row's features as much as the cases' values do about theirs. With noise of
 * variance s2 in the cases' values, the row's prediction carries s2 * c_row of it (its weights'
 * concentration) and the picked residual s2 * (1 + c_pick), its own noise and its leave-one-out
 * prediction's; the residual is scaled by sqrt((1 - c_row) / (1 + c_pick)), which makes the sum
 * s2. Against the residual as it is, gradient boosting's train-on-synthetic R^2 (SUITE.md's halves;
 * on the real rows in brackets): diabetes 0.250 -> 0.272 (0.423, seeds 7, 3, 11, 1), abalone
 * 0.497 -> 0.502 (0.510, the same seeds), boston 0.734 -> 0.744 (0.879, seeds 7, 3, 11, 1, 2,
 * 4); quality and DCR overfitting protection the same within 0.01. Noise taken further out costs
 * the target's spread: with half the residual abalone's quality fell 0.961 -> 0.953, with none
 * 0.946, while its train-on-synthetic rose to 0.536, above train-on-real. NaN where f is not one,
 * or either is missing: the value is then drawn as any other feature's. */
static double residual_value(const synth_job *j, size_t f, const co_nb *nb, size_t got, size_t pick) {
  const cohort_trainee *t = j->t;
  if (!j->loo || !got)
    return NAN;
  for (size_t i = 0; i < j->nlast; i++) {
    if (j->last[i] != f)
      continue;
    double pred, c_row = concentration(t, f, nb, got), c_pick = j->loo_conc[i * t->n + pick];
    co_predict_from(t, f, nb, got, &pred, NULL);
    return pred + sqrt((1 - c_row) / (1 + c_pick)) * (t->x[pick * t->nf + f] - j->loo[i * t->n + pick]);
  }
  return NAN;
}

/* Draws feature f for a row whose generated features are marked in have (any: at least one). known:
 * nb already holds that many neighbours of this row for f, 0 = search. Returns how many nb holds. */
static size_t draw_feature(const synth_job *j, co_rng *rng, double *row, const bool *have, size_t f, float *q,
                           double *w, co_nb *nb, bool any, size_t known) {
  cohort_trainee *t = j->t;
  size_t nf = t->nf;
  const co_feature *fe = &t->schema.f[f];
  size_t pick, got = 0;
  if (!any) {
    pick = co_rng_below(rng, t->n);
  } else {
    bool targeted = is_target(t, f);
    got = known ? known : row_neighbours(j, rng, row, have, f, targeted, q, w, nb);
    if (!got) {
      pick = co_rng_below(rng, t->n);
    } else if (targeted) {
      double tot = 0;
      for (size_t i = 0; i < got; i++)
        tot += co_influence(t, &nb[i]);
      double u = co_rng_uniform(rng) * tot;
      size_t i = 0;
      for (; i + 1 < got; i++) {
        u -= co_influence(t, &nb[i]);
        if (u < 0)
          break;
      }
      pick = nb[i].i;
    } else {
      pick = nb[co_rng_below(rng, got)].i;
    }
  }
  double v = t->x[pick * nf + f], r = any ? residual_value(j, f, nb, got, pick) : NAN;
  if (!isnan(r)) {
    v = fmin(fmax(r, fe->min), fe->max);
    row[f] = fe->type == COHORT_CONTINUOUS ? round_to(v, j->places[f]) : round(v);
    return got;
  }
  if (!isnan(v) && !co_is_categorical(fe->type) && !is_atom(j, f, v)) {
    double spread = got > 1 ? neighbour_spread(t, f, nb, got, v) : t->dev[f];
    /* Never more than the feature's residual: with few features generated the neighbours are
     * still spread wide, and noise that wide would flatten the column. */
    double b = fmin(spread, t->dev[f]) / j->conviction;
    if (b > 0) {
      /* Redraw noise that leaves the bounds rather than clamping, which would pile values up
       * on the bounds. */
      for (int tries = 0; tries < 8; tries++) {
        double u = v + co_rng_laplace(rng, b);
        if (u >= fe->min && u <= fe->max) {
          v = u;
          break;
        }
      }
    }
    if (fe->type == COHORT_CONTINUOUS)
      v = round_to(v, j->places[f]);
    else if (fe->type == COHORT_DATETIME)
      v = round(v);
  }
  row[f] = v;
  return got;
}

/* Whether row copies by value a case that fewer than CO_COPY_K cases match (copies.c). */
static bool rare_copy(const co_copies *c, const double *row) {
  size_t m = co_copies_count(c, row, CO_COPY_K);
  return m > 0 && m < CO_COPY_K;
}

/* Draws the continuous targets once the rest of the row passed the gate, again while the whole
 * row copies a rare case by value (CO_SYNTH_TARGET_TRIES; the first target's neighbours, in
 * first_nb, are the same on every try). Returns false when every try made one. */
static bool draw_last(const synth_job *j, co_rng *rng, double *row, bool *have, float *q, double *w,
                      co_nb *nb, co_nb *first_nb) {
  size_t first_got = 0;
  for (int tries = 1;; tries++) {
    for (size_t i = 0; i < j->nlast; i++)
      have[j->last[i]] = false;
    for (size_t i = 0; i < j->nlast; i++) {
      if (i == 0)
        first_got = draw_feature(j, rng, row, have, j->last[0], q, w, first_nb, true, first_got);
      else
        draw_feature(j, rng, row, have, j->last[i], q, w, nb, true, 0);
      have[j->last[i]] = true;
    }
    if (!j->gate || !j->nlast || !rare_copy(j->row_copies, row))
      return true;
    if (tries == CO_SYNTH_TARGET_TRIES)
      return false;
  }
}

/* The distance rules of the privacy gate (see the top of the file). *margin: how far the row is from
 * failing, to keep the best attempt when none passes. */
static bool gate_passes(const synth_job *j, const double *row, float *q, double *margin, long *nearest) {
  co_metric m = {j->gate_w, 1.0, -1};
  co_nb near[CO_SYNTH_NNDR_K];
  co_index_scale(j->dcr, row, q);
  size_t got = co_knn(j->dcr, &m, q, CO_SYNTH_NNDR_K, -1, NULL, near);
  *nearest = got ? (long)near[0].i : -1;
  if (got == 0) {
    *margin = INFINITY;
    return true;
  }
  double d = near[0].d, bar = j->min_dcr[near[0].i];
  bool copy = d == 0 || rare_copy(j->gate_copies, row);
  if (got == CO_SYNTH_NNDR_K)
    bar = fmax(bar, CO_SYNTH_NNDR * near[got - 1].d);
  if (j->dcr_ref) {
    co_nb ref;
    co_index_scale(j->dcr_ref, row, q);
    if (co_knn(j->dcr_ref, &m, q, 1, -1, NULL, &ref))
      bar = fmax(bar, j->ref_scale * ref.d);
  }
  *margin = copy ? -1 : bar > 0 ? d / bar : INFINITY;
  return !copy && d >= bar;
}

/* Feature f's DCR term between two encoded rows: |a - b| over the feature's range, 0/1 for a
 * category, 1 for missing against present. */
static double dcr_term(const co_feature *fe, double a, double b) {
  if (isnan(a) || isnan(b))
    return isnan(a) != isnan(b);
  if (co_is_categorical(fe->type))
    return a != b;
  return fe->max > fe->min ? fabs(a - b) / (fe->max - fe->min) : 0.0;
}

/* A retry's order after an attempt row that came too close to case c: the free features where the
 * row differs most from c first (kept), those where it matches c last (redrawn); ties in a random
 * order. Keeping the first features of a random order instead kept, on the wide table, what made
 * the row close: retries passed the gate at a third of the rate of fresh attempts. */
static void order_away_from(const synth_job *j, co_rng *rng, const double *row, size_t c, size_t *order,
                            double *term) {
  const cohort_trainee *t = j->t;
  size_t n = j->nfree;
  memcpy(order, j->free_feats, n * sizeof *order);
  for (size_t i = n; i > 1; i--) {
    size_t s = co_rng_below(rng, i), tmp = order[i - 1];
    order[i - 1] = order[s];
    order[s] = tmp;
  }
  for (size_t i = 0; i < n; i++)
    term[order[i]] = dcr_term(&t->schema.f[order[i]], row[order[i]], t->x[c * t->nf + order[i]]);
  for (size_t i = 1; i < n; i++) { /* insertion sort, descending, stable */
    size_t f = order[i], k = i;
    for (; k > 0 && term[order[k - 1]] < term[f]; k--)
      order[k] = order[k - 1];
    order[k] = f;
  }
}

/* The target rule of the gate: each nominal target's value holds at least CO_SYNTH_PLAUSIBLE of the
 * influence of that target's nearest cases on the rest of the row. */
static bool targets_plausible(const synth_job *j, co_rng *rng, const double *row, bool *have, float *q,
                              double *w, co_nb *nb, double *margin) {
  const cohort_trainee *t = j->t;
  bool ok = true;
  for (size_t i = 0; i < j->nfirst; i++) {
    size_t f = j->first[i];
    have[f] = false;
    size_t got = row_neighbours(j, rng, row, have, f, true, q, w, nb);
    have[f] = true;
    double tot = 0, same = 0;
    for (size_t k = 0; k < got; k++) {
      double v = co_influence(t, &nb[k]);
      tot += v;
      if (t->x[(size_t)nb[k].i * t->nf + f] == row[f])
        same += v;
    }
    double share = tot > 0 ? same / tot : 1.0;
    if (share < CO_SYNTH_PLAUSIBLE) {
      *margin *= share / CO_SYNTH_PLAUSIBLE;
      ok = false;
    }
  }
  return ok;
}

/* A neighbour set of a retry series: for feature f after the nv values v redrawn before it. */
typedef struct nb_entry {
  size_t f, nv, got;
  double *v;
  co_nb *nb;
} nb_entry;

/* The neighbours of the row for order[i] (i > keep: values order[keep .. i) redrawn) from the
 * series' cache, or searched into an entry: the first redrawn feature's (nv = 0: the same for every
 * retry of the series) in slot 0, the others in turn in the rest. */
static size_t draw_cached(const synth_job *j, co_rng *rng, double *row, const bool *have, const size_t *order,
                          size_t keep, size_t i, float *q, double *w, nb_entry *cache, size_t *next) {
  size_t f = order[i], nv = i - keep;
  for (size_t e = 0; e < CO_SYNTH_CACHE; e++) {
    nb_entry *c = &cache[e];
    if (c->f != f || c->nv != nv || !c->got)
      continue;
    size_t u = 0;
    while (u < nv && c->v[u] == row[order[keep + u]])
      u++;
    if (u == nv)
      return draw_feature(j, rng, row, have, f, q, w, c->nb, true, c->got);
  }
  nb_entry *c = &cache[nv ? 1 + *next : 0];
  if (nv)
    *next = (*next + 1) % (CO_SYNTH_CACHE - 1);
  c->f = f;
  c->nv = nv;
  for (size_t u = 0; u < nv; u++)
    c->v[u] = row[order[keep + u]];
  c->got = draw_feature(j, rng, row, have, f, q, w, c->nb, true, 0);
  return c->got;
}

static cohort_status synth_range(void *vctx, size_t begin, size_t end, size_t worker) {
  synth_job *j = vctx;
  cohort_trainee *t = j->t;
  size_t nf = t->nf;
  float *q = co_malloc(nf * sizeof *q);
  double *w = co_malloc(nf * sizeof *w);
  double *best = co_malloc(nf * sizeof *best);
  double *prev = co_malloc(nf * sizeof *prev);
  double *start = co_malloc(nf * sizeof *start);
  double *term = co_malloc(nf * sizeof *term);
  bool *have = co_malloc(nf * sizeof *have);
  size_t *order = co_malloc((j->nfree ? j->nfree : 1) * sizeof *order);
  co_nb *nb = co_malloc(CO_K_MAX * sizeof *nb);
  co_nb *last_nb = co_malloc(CO_K_MAX * sizeof *last_nb);
  nb_entry *cache = co_calloc(CO_SYNTH_CACHE, sizeof *cache);
  size_t next = 0;
  cohort_status st = COHORT_OK;
  if (!q || !w || !best || !prev || !start || !term || !have || !order || !nb || !last_nb || !cache) {
    st = co_nomem();
    goto out;
  }
  for (size_t e = 0; e < CO_SYNTH_CACHE; e++) {
    cache[e].v = co_malloc((j->nfree ? j->nfree : 1) * sizeof *cache[e].v);
    cache[e].nb = co_malloc((j->k ? j->k : 1) * sizeof *cache[e].nb);
    if (!cache[e].v || !cache[e].nb) {
      st = co_nomem();
      goto out;
    }
  }
  for (size_t r = begin; r < end; r++) {
    if (atomic_load(&j->cancel)) {
      st = co_error(COHORT_ECANCELLED, "synthesize: cancelled");
      goto out;
    }
    co_rng rng;
    co_rng_seed(&rng, j->seed * 0x9e3779b97f4a7c15ull + r);
    double *row = j->out + r * nf;
    double best_margin = -INFINITY;
    /* Fixed features, then the nominal targets, kept for every attempt (see the top of the file). */
    bool any_kept = false;
    for (size_t f = 0; f < nf; f++) {
      start[f] = j->fixed_mask[f] ? j->fixed[f] : NAN;
      have[f] = j->fixed_mask[f];
      any_kept |= have[f];
    }
    for (size_t i = 0; i < j->nfirst; i++) {
      draw_feature(j, &rng, start, have, j->first[i], q, w, nb, any_kept, 0);
      have[j->first[i]] = true;
      any_kept = true;
    }
    /* A retry keeps the features drawn first and redraws the rest (every CO_SYNTH_FRESH-th attempt
     * starts over): cheaper, and on adult it also kept rows further from the cases. */
    long close_case = -1;
    bool finished = false; /* the row passed the gate with its continuous targets drawn */
    size_t keep_n = j->nfree * CO_SYNTH_KEEP_NUM / CO_SYNTH_KEEP_DEN;
    for (int attempt = 0; attempt < CO_SYNTH_ATTEMPTS; attempt++) {
      size_t keep = attempt % CO_SYNTH_FRESH != 0 ? keep_n : 0;
      bool any = any_kept;
      memcpy(row, start, nf * sizeof *row);
      for (size_t f = 0; f < nf; f++)
        have[f] = j->fixed_mask[f];
      for (size_t i = 0; i < j->nfirst; i++)
        have[j->first[i]] = true;
      bool target_retry = keep && close_case >= 0 && j->ref_scale < 1.0;
      if (target_retry)
        order_away_from(j, &rng, prev, (size_t)close_case, order, term);
      if (keep) {
        for (size_t i = 0; i < keep; i++) {
          row[order[i]] = prev[order[i]];
          have[order[i]] = true;
        }
        any = true;
      } else {
        memcpy(order, j->free_feats, j->nfree * sizeof *order);
        for (size_t i = j->nfree; i > 1; i--) {
          size_t s = co_rng_below(&rng, i);
          size_t tmp = order[i - 1];
          order[i - 1] = order[s];
          order[s] = tmp;
        }
      }
      /* Retries since the last fresh attempt keep the same features: a redrawn feature whose
       * values redrawn before it repeat (CO_SYNTH_CACHE) has the neighbours it had then. */
      if (!keep || target_retry) {
        for (size_t e = 0; e < CO_SYNTH_CACHE; e++)
          cache[e].got = 0;
        next = 0;
      }
      for (size_t i = keep; i < j->nfree; i++) {
        if (keep)
          draw_cached(j, &rng, row, have, order, keep, i, q, w, cache, &next);
        else
          draw_feature(j, &rng, row, have, order[i], q, w, nb, any, 0);
        have[order[i]] = true;
        any = true;
      }
      memcpy(prev, row, nf * sizeof *row);
      double margin;
      if (!j->gate || !j->nfree) /* no free feature: every attempt would be this one */
        break;
      long nearest = -1;
      bool passes = gate_passes(j, row, q, &margin, &nearest);
      close_case = passes ? -1 : nearest;
      if (passes && targets_plausible(j, &rng, row, have, q, w, nb, &margin)) {
        if ((finished = draw_last(j, &rng, row, have, q, w, nb, last_nb)))
          break;
        margin = -1; /* with its continuous targets, a rare copy */
      }
      if (margin > best_margin) { /* keep the least close attempt in case none passes */
        best_margin = margin;
        memcpy(best, row, nf * sizeof *row);
      }
      if (attempt == CO_SYNTH_ATTEMPTS - 1)
        memcpy(row, best, nf * sizeof *row);
    }
    if (!finished) /* no gate, or the least close attempt */
      draw_last(j, &rng, row, have, q, w, nb, last_nb);
    size_t done = atomic_fetch_add(&j->done, 1) + 1;
    if (worker == 0 && j->o->progress && (done % 256 == 0 || done == j->rows)) {
      if (j->o->progress(j->o->progress_user, j->stage, (double)done / (double)j->rows))
        atomic_store(&j->cancel, 1);
    }
  }
out:
  co_free(q);
  co_free(w);
  co_free(best);
  co_free(prev);
  co_free(start);
  co_free(term);
  co_free(have);
  co_free(order);
  co_free(nb);
  if (cache)
    for (size_t e = 0; e < CO_SYNTH_CACHE; e++) {
      co_free(cache[e].v);
      co_free(cache[e].nb);
    }
  co_free(cache);
  co_free(last_nb);
  return st;
}

typedef struct refratio_job {
  const cohort_trainee *t;
  const co_index *dcr, *ref;
  const double *w, *xr;
  double *ratio;
} refratio_job;

/* Per reference draw: its distance to the nearest case over that to the nearest other draw. */
static cohort_status refratio_range(void *vctx, size_t begin, size_t end, size_t worker) {
  refratio_job *j = vctx;
  size_t nf = j->t->nf;
  float *q = co_malloc(nf * sizeof *q);
  if (!q)
    return co_nomem();
  co_metric m = {j->w, 1.0, -1};
  for (size_t r = begin; r < end; r++) {
    co_nb a, b;
    co_index_scale(j->dcr, j->xr + r * nf, q);
    size_t got = co_knn(j->dcr, &m, q, 1, -1, NULL, &a);
    co_index_scale(j->ref, j->xr + r * nf, q);
    got = got ? co_knn(j->ref, &m, q, 1, (long)r, NULL, &b) : 0;
    j->ratio[r] = !got ? INFINITY : b.d > 0 ? a.d / b.d : a.d > 0 ? INFINITY : 1.0;
  }
  co_free(q);
  (void)worker;
  return COHORT_OK;
}

/* The reference rule's factor (see CO_SYNTH_REF_PASS): 1, or less where fewer than that share of
 * the nr reference draws xr would pass the rule at 1. */
static cohort_status ref_scale_for(const synth_job *j, const co_index *dcr, const co_index *ref,
                                   const double *xr, size_t nr, double *scale) {
  *scale = 1.0;
  if (nr < 2)
    return COHORT_OK;
  double *ratio = co_malloc(nr * sizeof *ratio);
  if (!ratio)
    return co_nomem();
  refratio_job rj = {j->t, dcr, ref, j->gate_w, xr, ratio};
  cohort_status st = co_parallel(nr, j->o->threads, 64, refratio_range, &rj);
  if (st == COHORT_OK) {
    qsort(ratio, nr, sizeof *ratio, co_cmp_double);
    *scale = fmin(1.0, ratio[(size_t)((1.0 - CO_SYNTH_REF_PASS) * (double)(nr - 1))]);
  }
  co_free(ratio);
  return st;
}

/* Each case's leave-one-out prediction of each continuous target drawn last, on the features the
 * row holds when it is drawn (the used ones but that target and those drawn after it). */
typedef struct loo_job {
  const synth_job *j;
  const double *used_w; /* nf: 1 for a used feature */
  double *loo;          /* nlast * n */
  double *conc;         /* nlast * n: the concentration of each prediction's weights */
} loo_job;

static cohort_status loo_range(void *vctx, size_t begin, size_t end, size_t worker) {
  const loo_job *lj = vctx;
  const synth_job *j = lj->j;
  const cohort_trainee *t = j->t;
  size_t nf = t->nf;
  float *q = co_malloc(nf * sizeof *q);
  double *w = co_malloc(nf * sizeof *w);
  co_nb *nb = co_malloc(CO_K_MAX * sizeof *nb);
  cohort_status st = COHORT_OK;
  if (!q || !w || !nb) {
    st = co_nomem();
    goto out;
  }
  for (size_t r = begin; r < end; r++) {
    co_index_scale(j->ix, t->x + r * nf, q);
    for (size_t i = 0; i < j->nlast; i++) {
      const co_params *pr = co_trainee_params_for(t, (long)j->last[i]);
      for (size_t g = 0; g < nf; g++)
        w[g] = lj->used_w[g] * pr->w[g];
      for (size_t later = i; later < j->nlast; later++)
        w[j->last[later]] = 0;
      co_metric m = {w, pr->p, -1};
      size_t got = co_knn(j->ix, &m, q, pr->k, (long)r, NULL, nb);
      double pred = NAN;
      if (got)
        co_predict_from(t, j->last[i], nb, got, &pred, NULL);
      lj->loo[i * t->n + r] = pred;
      lj->conc[i * t->n + r] = concentration(t, j->last[i], nb, got);
    }
  }
out:
  co_free(q);
  co_free(w);
  co_free(nb);
  (void)worker;
  return st;
}

typedef struct mindcr_job {
  const cohort_trainee *t;
  const co_index *dcr;
  const double *w;
  float *min_dcr;
} mindcr_job;

static cohort_status mindcr_range(void *vctx, size_t begin, size_t end, size_t worker) {
  mindcr_job *j = vctx;
  size_t nf = j->t->nf;
  float *q = co_malloc(nf * sizeof *q);
  if (!q)
    return co_nomem();
  co_metric m = {j->w, 1.0, -1};
  for (size_t r = begin; r < end; r++) {
    co_index_scale(j->dcr, j->t->x + r * nf, q);
    co_nb near;
    j->min_dcr[r] = co_knn(j->dcr, &m, q, 1, (long)r, NULL, &near) ? (float)near.d : 0.0f;
  }
  co_free(q);
  (void)worker;
  return COHORT_OK;
}

/* The default neighbour count for n cases (CO_SYNTH_K, CO_SYNTH_K_SHARE). */
static size_t synth_k(size_t n) {
  size_t k = n / CO_SYNTH_K_SHARE;
  return k < CO_SYNTH_K_MIN ? CO_SYNTH_K_MIN : k > CO_SYNTH_K ? CO_SYNTH_K : k;
}

/* The neighbour count of each stratum: synth_k of the cases holding each level of each nominal
 * target first[0..nfirst) (levels of target i at (*k)[(*off)[i] ..]). */
static cohort_status strata_k(const cohort_trainee *t, const size_t *first, size_t nfirst, size_t **k,
                              size_t **off) {
  size_t total = 0;
  *off = co_malloc(nfirst * sizeof **off);
  if (!*off)
    return co_nomem();
  for (size_t i = 0; i < nfirst; i++) {
    (*off)[i] = total;
    total += t->schema.f[first[i]].levels.n;
  }
  *k = co_calloc(total ? total : 1, sizeof **k);
  if (!*k)
    return co_nomem();
  for (size_t i = 0; i < nfirst; i++) {
    size_t nl = t->schema.f[first[i]].levels.n, *c = *k + (*off)[i];
    for (size_t r = 0; r < t->n; r++) {
      double v = t->x[r * t->nf + first[i]];
      if (!isnan(v) && (size_t)v < nl)
        c[(size_t)v]++;
    }
    for (size_t l = 0; l < nl; l++)
      c[l] = synth_k(c[l]);
  }
  return COHORT_OK;
}

static void group_free(draw_group *g) {
  for (size_t p = 0; g && p < g->nparts; p++) {
    co_index_free(g->part[p].ix);
    co_free(g->part[p].ids);
  }
  if (g)
    co_free(g->part);
}

static void groups_free(draw_group *g, size_t n) {
  for (size_t i = 0; g && i < n; i++)
    group_free(&g[i]);
  co_free(g);
}

/* How many parts a group of n cases searched for k neighbours is split into (CO_SYNTH_PART_K). */
static size_t parts_for(size_t k, size_t n) {
  size_t m = k >= CO_SYNTH_PART_MIN * CO_SYNTH_PART_K ? k / CO_SYNTH_PART_K : 1;
  if (m > n / CO_SYNTH_PART_CASES)
    m = n / CO_SYNTH_PART_CASES;
  return m ? m : 1;
}

/* Splits the cases rows[0..n) at random into nparts and indexes each. */
static cohort_status group_build(const cohort_trainee *t, uint32_t *rows, size_t n, size_t nparts,
                                 co_rng *rng, draw_group *g) {
  size_t nf = t->nf;
  if (!n)
    return COHORT_OK;
  if (!(g->part = co_calloc(nparts, sizeof *g->part)))
    return co_nomem();
  g->nparts = nparts;
  co_rng_shuffle(rng, rows, n);
  for (size_t p = 0; p < nparts; p++) {
    size_t lo = n * p / nparts, hi = n * (p + 1) / nparts;
    draw_part *pt = &g->part[p];
    double *xs = co_malloc((hi - lo) * nf * sizeof *xs); /* the part's rows, for its index */
    if (!xs || !(pt->ids = co_malloc((hi - lo) * sizeof *pt->ids))) {
      co_free(xs);
      return co_nomem();
    }
    for (size_t r = lo; r < hi; r++) {
      pt->ids[r - lo] = rows[r];
      memcpy(xs + (r - lo) * nf, t->x + (size_t)rows[r] * nf, nf * sizeof *xs);
    }
    cohort_status st = co_index_build_rows(t, CO_GEOM_ENGINE, xs, hi - lo, &pt->ix);
    co_free(xs);
    if (st != COHORT_OK)
      return st;
  }
  return COHORT_OK;
}

/* The draw groups of j: every case, where k asks for more than one part, and the cases of each
 * level of the nominal target drawn first (g, or none: nl = 0). */
static cohort_status groups_build(const synth_job *j, uint64_t seed, size_t g, size_t nl, draw_group **all,
                                  draw_group **strata) {
  const cohort_trainee *t = j->t;
  size_t n = t->n, nf = t->nf, nall = parts_for(j->k, n);
  cohort_status st = COHORT_OK;
  co_rng rng;
  co_rng_seed(&rng, seed ^ 0x7061727473ull);
  *all = *strata = NULL;
  if (!nl && nall == 1)
    return COHORT_OK; /* the whole index serves every search */
  uint32_t *rows = co_malloc(n * sizeof *rows);
  if (!rows)
    return co_nomem();
  if (nall > 1) {
    for (size_t r = 0; r < n; r++)
      rows[r] = (uint32_t)r;
    if (!(*all = co_calloc(1, sizeof **all)) || (st = group_build(t, rows, n, nall, &rng, *all)) != COHORT_OK)
      goto out;
  }
  if (nl) {
    if (!(*strata = co_calloc(nl, sizeof **strata))) {
      st = co_nomem();
      goto out;
    }
    for (size_t l = 0; l < nl; l++) {
      size_t m = 0;
      for (size_t r = 0; r < n; r++)
        if (t->x[r * nf + g] == (double)l)
          rows[m++] = (uint32_t)r;
      size_t k = j->stratum_k && j->stratum_k[l] < j->k ? j->stratum_k[l] : j->k;
      if ((st = group_build(t, rows, m, parts_for(k, m), &rng, &(*strata)[l])) != COHORT_OK)
        goto out;
    }
  }
out:
  co_free(rows);
  if (st != COHORT_OK) {
    groups_free(*all, 1);
    groups_free(*strata, nl);
    *all = *strata = NULL;
  }
  return st;
}

/* Rows of x (nrows * nf) as text, in a new table of the trainee's used features. */
static cohort_status to_table(const cohort_trainee *t, const double *x, size_t nrows, cohort_table **out) {
  size_t nf = t->nf, nc = 0;
  const char **names = co_malloc(nf * sizeof *names);
  const char **cells = co_malloc(nf * sizeof *cells);
  char *bufs = co_malloc(nf * CO_CELL_MAX);
  cohort_table *tab = NULL;
  cohort_status st = COHORT_OK;
  if (!names || !cells || !bufs) {
    st = co_nomem();
    goto out;
  }
  for (size_t f = 0; f < nf; f++)
    if (!(t->schema.f[f].flags & CO_F_IGNORED))
      names[nc++] = t->schema.f[f].name;
  if ((st = cohort_table_create(&tab, nc, names)) != COHORT_OK)
    goto out;
  for (size_t r = 0; r < nrows; r++) {
    size_t c = 0;
    for (size_t f = 0; f < nf; f++) {
      if (t->schema.f[f].flags & CO_F_IGNORED)
        continue;
      cells[c] = co_feature_format(&t->schema.f[f], x[r * nf + f], bufs + c * CO_CELL_MAX, CO_CELL_MAX);
      c++;
    }
    if ((st = cohort_table_append(tab, cells)) != COHORT_OK)
      goto out;
  }
  *out = tab;
  tab = NULL;
out:
  cohort_table_free(tab);
  co_free(names);
  co_free(cells);
  co_free(bufs);
  return st;
}

/* The atoms of each continuous feature, values that at least CO_SYNTH_ATOM of the cases (of a sample,
 * see co_sample_step) hold where they are spikes, and CO_COPY_K cases where the feature has at most
 * CO_SYNTH_LEVELS values, into *atoms / *off as synth_job keeps them. */
static cohort_status find_atoms(const cohort_trainee *t, double **atoms, size_t **off) {
  size_t nf = t->nf, step = co_sample_step(t->n), m = t->n / step;
  size_t most = (size_t)(1 / CO_SYNTH_ATOM) + 1, na = 0;
  double *v = co_malloc((m ? m : 1) * sizeof *v);
  size_t *cnt = co_malloc((m ? m : 1) * sizeof *cnt);
  *atoms = co_malloc((nf * most + 1) * sizeof **atoms);
  *off = co_malloc((nf + 1) * sizeof **off);
  if (!v || !cnt || !*atoms || !*off) {
    co_free(v);
    co_free(cnt);
    return co_nomem();
  }
  for (size_t f = 0; f < nf; f++) {
    (*off)[f] = na;
    if (t->schema.f[f].type != COHORT_CONTINUOUS)
      continue;
    size_t k = 0, nd = 0;
    for (size_t s = 0; s < m; s++)
      if (!isnan(t->x[s * step * nf + f]))
        v[k++] = t->x[s * step * nf + f];
    qsort(v, k, sizeof *v, co_cmp_double);
    for (size_t i = 0; i < k; nd++) { /* distinct values and their counts */
      size_t e = i;
      while (e < k && v[e] == v[i])
        e++;
      v[nd] = v[i];
      cnt[nd] = e - i;
      i = e;
    }
    for (size_t d = 0; d < nd; d++) {
      double around = 0, nearby = 0;
      for (size_t o = d >= CO_SYNTH_SPIKE_SPAN ? d - CO_SYNTH_SPIKE_SPAN : 0;
           o <= d + CO_SYNTH_SPIKE_SPAN && o < nd; o++)
        if (o != d) {
          around += (double)cnt[o];
          nearby++;
        }
      bool spike =
          (double)cnt[d] >= CO_SYNTH_ATOM * (double)k && (double)cnt[d] * nearby >= CO_SYNTH_SPIKE * around;
      if (spike || (nd <= CO_SYNTH_LEVELS && cnt[d] * step >= CO_COPY_K))
        (*atoms)[na++] = v[d];
    }
  }
  (*off)[nf] = na;
  co_free(v);
  co_free(cnt);
  return COHORT_OK;
}

/* The decimals each continuous feature's values are rounded to: those it is written with, or none
 * where every case's value is a whole number however written: digits' pixels are written 5.0, and
 * a value with noise came out 5.3 where every case's is a whole number. */
static void round_places(const cohort_trainee *t, int *places) {
  for (size_t f = 0; f < t->nf; f++) {
    const co_feature *fe = &t->schema.f[f];
    bool whole = true;
    for (size_t r = 0; whole && !fe->integer && r < t->n; r++) {
      double v = t->x[r * t->nf + f];
      whole = isnan(v) || v == floor(v);
    }
    places[f] = fe->integer || whole ? 0 : fe->decimals;
  }
}

cohort_status cohort_synthesize(cohort_trainee *t, const cohort_synth_options *options, cohort_table **out) {
  if (!t || !options || !out)
    return co_error(COHORT_EINVAL, "synthesize: trainee, options and output are required");
  cohort_synth_options o;
  cohort_status rs = co_options_read(&o, sizeof o, options, "synthesize");
  if (rs != COHORT_OK)
    return rs;
  const cohort_synth_options *opt = &o;
  if (t->n < 2)
    return co_error(COHORT_ESTATE, "synthesize: needs at least 2 cases (the trainee has %zu)", t->n);
  if (opt->k > CO_K_MAX)
    return co_error(COHORT_EINVAL, "synthesize: k = %zu is out of range 1..%d", opt->k, CO_K_MAX);
  if (opt->conviction < 0 || !isfinite(opt->conviction))
    return co_error(COHORT_EINVAL, "synthesize: conviction must be a positive number");
  if (opt->privacy != COHORT_PRIVACY_REFERENCE && opt->privacy != COHORT_PRIVACY_LOCAL &&
      opt->privacy != COHORT_PRIVACY_OFF)
    return co_error(COHORT_EINVAL, "synthesize: unknown privacy mode %d", (int)opt->privacy);
  if (opt->rows > 100000000)
    return co_error(COHORT_ELIMIT, "synthesize: at most 100000000 rows per call");
  size_t nf = t->nf, n = t->n;
  cohort_status st = COHORT_OK;
  co_index *dcr = NULL, *ref = NULL;
  co_copies *gate_copies = NULL, *row_copies = NULL;
  double *xr = NULL, *assoc = NULL, *atoms = NULL, *loo = NULL, *loo_conc = NULL;
  size_t *atom_off = NULL, *stratum_k = NULL, *stratum_off = NULL;
  draw_group *strata = NULL, *all = NULL;
  size_t nstrata = 0;
  double *fixed = co_malloc(nf * sizeof *fixed), *w = co_malloc(nf * sizeof *w);
  double *used_w = co_malloc(nf * sizeof *used_w);
  bool *numeric = co_malloc(nf * sizeof *numeric);
  bool *mask = co_calloc(nf, sizeof *mask);
  int *places = co_malloc(nf * sizeof *places);
  size_t *free_feats = co_malloc(nf * sizeof *free_feats), nfree = 0;
  size_t *first = co_malloc(nf * sizeof *first), nfirst = 0;
  size_t *last = co_malloc(nf * sizeof *last), nlast = 0;
  float *min_dcr = co_malloc(n * sizeof *min_dcr);
  double *x = co_malloc((opt->rows ? opt->rows : 1) * nf * sizeof *x);
  if (!fixed || !w || !used_w || !numeric || !mask || !places || !free_feats || !first || !last || !min_dcr ||
      !x) {
    st = co_nomem();
    goto out;
  }
  for (size_t i = 0; i < opt->n_fixed; i++) {
    size_t f = 0;
    if ((st = co_trainee_feature(t, opt->fixed_names[i], &f)) != COHORT_OK)
      goto out;
    st = co_feature_encode(&t->schema.f[f], opt->fixed_values[i], false, &fixed[f]);
    if (st != COHORT_OK) {
      st = co_error(st, "synthesize: condition %s=%s: %s", opt->fixed_names[i],
                    opt->fixed_values[i] ? opt->fixed_values[i] : "", cohort_errmsg());
      goto out;
    }
    mask[f] = true;
  }
  for (size_t f = 0; f < nf; f++) {
    bool used = !(t->schema.f[f].flags & CO_F_IGNORED), target = is_target(t, f);
    bool nominal = co_is_categorical(t->schema.f[f].type);
    /* A continuous target is left out of the gate's distance: rows regenerated for being too close
     * would favour unusual target values, and no plausibility rule holds them back. */
    w[f] = used && !(target && !nominal) ? 1.0 : 0.0;
    used_w[f] = used ? 1.0 : 0.0;
    numeric[f] = t->schema.f[f].type == COHORT_CONTINUOUS || t->schema.f[f].type == COHORT_DATETIME;
    if (!used || mask[f])
      continue;
    if (target && nominal)
      first[nfirst++] = f;
    else if (target)
      last[nlast++] = f;
    else
      free_feats[nfree++] = f;
  }

  const co_index *ix;
  if ((st = co_trainee_index(t, &ix)) != COHORT_OK ||
      (st = co_index_build(t, CO_GEOM_DCR, &dcr)) != COHORT_OK ||
      (st = co_assoc_matrix(t, &assoc)) != COHORT_OK || (st = find_atoms(t, &atoms, &atom_off)) != COHORT_OK)
    goto out;
  round_places(t, places);
  if (opt->privacy != COHORT_PRIVACY_OFF) {
    mindcr_job mj = {t, dcr, w, min_dcr};
    if ((st = co_parallel(n, opt->threads, 64, mindcr_range, &mj)) != COHORT_OK ||
        (st = co_copies_build(t->x, n, nf, numeric, w, CO_COPY_TOL, &gate_copies)) != COHORT_OK ||
        (nlast &&
         (st = co_copies_build(t->x, n, nf, numeric, used_w, CO_COPY_TOL, &row_copies)) != COHORT_OK))
      goto out;
  }
  synth_job j = {.t = t,
                 .o = opt,
                 .ix = ix,
                 .dcr = dcr,
                 .min_dcr = min_dcr,
                 .fixed = fixed,
                 .fixed_mask = mask,
                 .gate_w = w,
                 .gate_copies = gate_copies,
                 .row_copies = row_copies,
                 .free_feats = free_feats,
                 .nfree = nfree,
                 .first = first,
                 .nfirst = nfirst,
                 .last = last,
                 .nlast = nlast,
                 .k = opt->k ? opt->k : synth_k(n),
                 .conviction = opt->conviction > 0 ? opt->conviction : CO_SYNTH_CONVICTION,
                 .out = x,
                 .rows = opt->rows,
                 .seed = opt->seed,
                 .gate = opt->privacy != COHORT_PRIVACY_OFF,
                 .ref_scale = 1.0, /* no reference rule, or one whose draws pass it: as is */
                 .stage = "synthesize",
                 .assoc = assoc,
                 .atoms = atoms,
                 .atom_off = atom_off,
                 .places = places};
  atomic_init(&j.done, 0);
  atomic_init(&j.cancel, 0);
  if (nfirst && !opt->k) {
    if ((st = strata_k(t, first, nfirst, &stratum_k, &stratum_off)) != COHORT_OK)
      goto out;
    j.stratum_k = stratum_k;
    j.stratum_off = stratum_off;
  }
  nstrata = nfirst && t->schema.f[first[0]].type != COHORT_ORDINAL ? t->schema.f[first[0]].levels.n : 0;
  if ((st = groups_build(&j, opt->seed, nfirst ? first[0] : 0, nstrata, &all, &strata)) != COHORT_OK)
    goto out;
  j.strata = strata;
  j.all = all;
  if (nlast) {
    loo_job lj = {&j, used_w, loo = co_malloc(nlast * n * sizeof *loo),
                  loo_conc = co_malloc(nlast * n * sizeof *loo_conc)};
    if (!loo || !loo_conc) {
      st = co_nomem();
      goto out;
    }
    if ((st = co_parallel(n, opt->threads, 64, loo_range, &lj)) != COHORT_OK)
      goto out;
    j.loo = loo;
    j.loo_conc = loo_conc;
  }
  size_t nr = (size_t)((double)n * CO_SYNTH_REFERENCE);
  if (j.gate && opt->privacy == COHORT_PRIVACY_REFERENCE && nr >= 1) {
    /* The model's own draws, without the gate, from a stream of their own. */
    if (!(xr = co_malloc(nr * nf * sizeof *xr))) {
      st = co_nomem();
      goto out;
    }
    synth_job rj = j;
    rj.out = xr;
    rj.rows = nr;
    rj.seed = opt->seed ^ 0x7265666572656e63ull;
    rj.gate = false;
    rj.stage = "synthesize: reference draws";
    atomic_init(&rj.done, 0);
    atomic_init(&rj.cancel, 0);
    if ((st = co_parallel(nr, opt->threads, 16, synth_range, &rj)) != COHORT_OK ||
        (st = co_index_build_rows(t, CO_GEOM_DCR, xr, nr, &ref)) != COHORT_OK ||
        (st = ref_scale_for(&j, dcr, ref, xr, nr, &j.ref_scale)) != COHORT_OK)
      goto out;
    j.dcr_ref = ref;
  }
  if ((st = co_parallel(opt->rows, opt->threads, 16, synth_range, &j)) != COHORT_OK)
    goto out;
  st = to_table(t, x, opt->rows, out);
out:
  co_index_free(dcr);
  co_index_free(ref);
  co_copies_free(gate_copies);
  co_copies_free(row_copies);
  co_free(xr);
  co_free(loo);
  co_free(loo_conc);
  co_free(assoc);
  co_free(atoms);
  co_free(atom_off);
  co_free(stratum_k);
  co_free(stratum_off);
  groups_free(strata, nstrata);
  groups_free(all, 1);
  co_free(fixed);
  co_free(w);
  co_free(used_w);
  co_free(numeric);
  co_free(mask);
  co_free(places);
  co_free(free_feats);
  co_free(first);
  co_free(last);
  co_free(min_dcr);
  co_free(x);
  return st;
}
