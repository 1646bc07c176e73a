/* The trainee's internal layout, shared by trainee.c, knn.c, analyze.c, react.c, anomaly.c,
 * synth.c and persist.c. */
#ifndef COHORT_CO_TRAINEE_H
#define COHORT_CO_TRAINEE_H

#include "co_internal.h"

/* Longest formatted numeric/datetime cell. */
#define CO_CELL_MAX 48

/* Hyperparameters for predicting one target (or every feature, targetless). */
typedef struct co_params {
  size_t k;
  double p;
  double *w; /* nf feature weights; 0 = feature not used */
} co_params;

/* A decorrelation of the numeric features for predicting one target (analyze.c, co_lin_fit): in
 * the index's scaled units, z_j = (x_j - mu_j) * scale_j over the block's features (0 where
 * missing), and the slot of feature qidx[i] holds sum_j m[i * nq + j] * z_j instead of z_i (NaN
 * when every feature of the block is missing). Correlated features then count once in the
 * distance rather than once each. */
#define CO_LIN_MAX 32 /* features in a block at most (see analyze.c) */
typedef struct co_lin {
  size_t nq;
  size_t *qidx; /* nq feature indices, ascending */
  double *mu;   /* nq: centres in the features' units, the stand-ins for missing values */
  double *m;    /* nq * nq */
} co_lin;

co_lin *co_lin_new(size_t nq);
void co_lin_free(co_lin *l);

typedef struct co_target_params {
  size_t target;        /* feature index */
  co_params params;     /* in the trainee's own geometry: what synthesis and importance use */
  co_lin *lin;          /* NULL, or a decorrelated geometry that predicted target better, used by react: */
  co_params lparams;    /* its k, p and weights (slot by slot) */
  struct co_index *lix; /* its index, built on first use (never persisted) */
} co_target_params;

struct cohort_trainee {
  cohort_schema schema; /* owned copy; categorical levels grow as cases arrive */
  size_t nf;            /* == schema.n */

  size_t n, cap;
  double *x;  /* n * nf, row-major; NaN = missing */
  double *cw; /* case weights (cap of them), or NULL while every weight is 1 */

  /* Learned by analyze; defaults (from the data's spread) until then. */
  bool analyzed;
  double *dev;      /* nf: continuous/datetime/ordinal: scale of a difference (mean abs LOO residual);
                       categorical: probability a leave-one-out prediction is wrong */
  co_params global; /* targetless */
  size_t ntp;
  co_target_params *tp; /* targeted analyses, one per target feature */

  /* Derived, rebuilt lazily when cases or deviations change (never persisted). */
  struct co_index *index;
  uint64_t generation; /* bumped on every change that invalidates index */
  char *fmtbuf;        /* nf * CO_CELL_MAX, for cohort_trainee_case; allocated on first use */
};

static inline double co_weight(const cohort_trainee *t, size_t i) {
  return t->cw ? t->cw[i] : 1.0;
}

/* Default deviations from the data (used until analyze): continuous = mean absolute deviation
 * from the mean; categorical = 1 - sum p^2 (chance a random pair mismatches). */
cohort_status co_trainee_default_devs(cohort_trainee *t);
/* Mean absolute deviation from the mean of feature f over the cases (NaN if none is present). */
double co_feature_mad(const cohort_trainee *t, size_t f);
/* Params in force for a target feature (targeted if analyzed for it, else targetless). */
const co_params *co_trainee_params_for(const cohort_trainee *t, long target);
/* Params react predicts a target with: the decorrelated geometry's where analyze chose one. */
const co_params *co_trainee_react_params(const cohort_trainee *t, long target);
int co_params_init(co_params *p, size_t nf);
void co_params_free(co_params *p);
int co_params_copy(co_params *dst, const co_params *src, size_t nf);
void co_trainee_invalidate(cohort_trainee *t);
/* Finds a feature by name; error message names it when absent or ignored. */
cohort_status co_trainee_feature(const cohort_trainee *t, const char *name, size_t *out);
/* Encodes a table's rows into an n * nf matrix in the trainee's feature order (NaN for features
 * the table lacks). extend = add unseen categories (training) or fail on them (queries: an
 * unseen category becomes a value that matches no case). */
cohort_status co_trainee_encode(cohort_trainee *t, const cohort_table *rows, bool extend, double **out);

/* ---------------------------------------------------------------- neighbour search (knn.c) */

/* Cases in search layout: column-major floats, continuous scaled by 1/deviation, categorical as
 * codes, NaN missing; rows ordered by a tree of nearby cases whose nodes carry bounding boxes (see
 * knn.c). Rebuilt when t->generation changes. */
enum { CO_LEAF_MISSING = 1, CO_LEAF_PRESENT = 2 };

/* One feature's extent within a node. */
typedef union co_range {
  struct {
    float lo, hi; /* numeric: bounds of the present values */
  } r;
  uint64_t mask; /* categorical: codes present (bit code % 64) */
} co_range;

typedef struct co_node {
  uint32_t r0, r1; /* rows [r0, r1) */
  uint32_t right;  /* index of the right child (the left child is the next node); 0 for a leaf */
} co_node;

typedef struct co_index {
  size_t n, nf;
  uint64_t generation;
  float *col;           /* nf * n and a little padding (see knn.c), rows in tree order */
  float *scale;         /* nf: 1/deviation for numeric features, 1 for categorical */
  float *mcost;         /* nf: categorical mismatch cost / numeric missing cost (in scaled units) */
  bool *cat;            /* nf */
  bool *exact_mask;     /* nf: categorical with every code in [0, 64), so a node's mask names its codes */
  uint32_t *ids;        /* n: case index of each row */
  size_t nnodes, depth; /* depth: nodes on the longest root-to-leaf path */
  co_node *node;        /* nnodes in preorder, root first */
  co_range *box;        /* nnodes * nf */
  uint8_t *presence;    /* nnodes * nf: CO_LEAF_MISSING | CO_LEAF_PRESENT */
  co_lin *lin;          /* owned copy, or NULL: applied to the cases and by co_index_scale */
} co_index;

/* How to measure: per-feature weights (0 = ignore), power p, and which target must be present. */
typedef struct co_metric {
  const double *w; /* nf */
  double p;
  long require; /* feature that must be non-missing in a neighbour, or -1 */
} co_metric;

typedef struct co_nb {
  double d;   /* distance (p-th root taken) */
  uint32_t i; /* case index */
} co_nb;

/* Influence of a neighbour: its case weight over its distance. The floor keeps exact matches
 * finite while letting them dominate. */
static inline double co_influence(const cohort_trainee *t, const co_nb *nb) {
  return co_weight(t, nb->i) / (nb->d + 1e-6);
}

cohort_status co_trainee_index(cohort_trainee *t, const co_index **out);
void co_index_free(co_index *ix);
typedef enum co_geometry {
  CO_GEOM_ENGINE, /* the trainee's learned deviations and mismatch costs (t->index) */
  CO_GEOM_DCR     /* SDMetrics' DCR: numeric |x - y| / range, categorical 0/1, missing vs present 1;
                     with p = 1 and unit weights, distance / features is SDMetrics' DCR */
} co_geometry;
/* A separate index of the trainee's cases in another geometry; the caller frees it. */
cohort_status co_index_build(const cohort_trainee *t, co_geometry geom, co_index **out);
/* The same for other rows (n * nf, encoded like the cases), scaled as the trainee's cases are. */
cohort_status co_index_build_rows(const cohort_trainee *t, co_geometry geom, const double *x, size_t n,
                                  co_index **out);
/* The trainee's cases in its own geometry decorrelated by lin (copied into the index). */
cohort_status co_index_build_lin(const cohort_trainee *t, const co_lin *lin, co_index **out);
/* The geometry react predicts target in: the target's decorrelated one where analyze chose it, else
 * params_for and the trainee's index. */
cohort_status co_trainee_predict_geometry(cohort_trainee *t, size_t target, const co_params **pr,
                                          const co_index **ix);
/* Scales an encoded row (nf doubles) into the index's float layout (decorrelated where it is). */
void co_index_scale(const co_index *ix, const double *row, float *out);
/* k nearest cases to a scaled query. exclude = case to skip (-1 none). rng != NULL breaks
 * ties at random (uniform among equal distances), else by case order. Returns the number found
 * (< k when fewer cases qualify), sorted nearest first. */
size_t co_knn(const co_index *ix, const co_metric *m, const float *q, size_t k, long exclude, co_rng *rng,
              co_nb *out);

/* Feature f's term, before its weight, between a scaled query and each row of the index in tree order
 * (ix->ids[j] is row j's case; n of them into out): what co_knn sums for a distance at power p. */
void co_index_terms(const co_index *ix, const float *q, size_t f, double p, float *out);

/* analyze.c: trainees of at most co_brute_rows cases and at least co_brute_features used features run
 * leave-one-out by brute force rather than through the search tree (the same neighbours; tests move
 * the bounds to compare the two). */
extern size_t co_brute_rows, co_brute_features;

#define CO_K_MAX COHORT_K_MAX

/* ---------------------------------------------------------------- statistics of the cases */

/* Statistics that synthesis takes of the cases read every co_sample_step(n)-th one: a fixed
 * stride, at most CO_STATS_SAMPLE cases, keeps them linear in the features only. */
#define CO_STATS_SAMPLE 20000
static inline size_t co_sample_step(size_t n) {
  return n > CO_STATS_SAMPLE ? n / CO_STATS_SAMPLE : 1;
}

/* assoc.c: nf * nf, symmetric, in [0, 1]: Cramér's V, |Pearson| or the correlation ratio of each pair of
 * features over (a sample of) the cases; 1 on the diagonal. The caller frees it. */
cohort_status co_assoc_matrix(const cohort_trainee *t, double **out);

/* ---------------------------------------------------------------- prediction (react.c) */

/* Predicts feature f of the trainee from neighbours nb[0..m) weighted by case weight / distance.
 * Numeric: weighted mean; categorical: weighted vote with probabilities into probs (levels.n
 * entries, may be NULL). Returns the uncertainty: numeric = weighted mean absolute deviation of
 * the neighbours' values from the prediction; categorical = 1 - probability of the prediction.
 * *value is NaN when no neighbour has the feature. */
double co_predict_from(const cohort_trainee *t, size_t f, const co_nb *nb, size_t m, double *value,
                       double *probs);
/* Scores of a prediction for analyze (lower is better) at each of kv[0..nk) neighbours (each capped
 * at got), in one pass over nb[0..got): pairs (score, residual) into e[2 * ki], both NaN when got is
 * 0. Score: numeric |pred - actual|; categorical the Brier score (a proper score: it does not reward
 * overconfidence), or the hard error over 64 levels. The residual becomes the feature's deviation:
 * numeric |pred - actual|, categorical 1 - P(actual). */
void co_predict_errors(const cohort_trainee *t, size_t f, const co_nb *nb, size_t got, const size_t *kv,
                       size_t nk, double actual, double *e);

#endif
