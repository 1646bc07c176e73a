/* Exact k-nearest-neighbour search over a trainee's cases.
 *
 * Distance between a query q and a case c is (sum_f w_f * t_f^p)^(1/p) where the per-feature term
 *   numeric:      t = |q_f - c_f| / deviation_f
 *   categorical:  t = 0 if equal, else the feature's mismatch cost
 *   missing:      t = 0 if both are missing, else the feature's missing cost.
 * For 0 < p < 1 the sum of powers itself is a metric, for p >= 1 its p-th root is; ranking uses the
 * sum either way and only the reported distance takes the root.
 *
 * Search is blocked brute force over a column-major float copy of the cases: for a block of cases
 * each active feature adds its term to a block of partial sums in one tight loop the compiler
 * vectorizes; then a bounded max-heap keeps the k best. */
#include "co_trainee.h"

#include <float.h>
#include <stdlib.h>
#include <string.h>

#define CO_KNN_BLOCK 512

/* The kernels are inlined into one copy of the search built for AVX2 and one for the baseline;
 * co_knn picks by CPU at run time. No FMA, so both copies round identically. */
#if defined(__GNUC__)
#define CO_INLINE __attribute__((always_inline))
#else
#define CO_INLINE
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#define CO_HAVE_AVX2_PATH 1
#endif

static double mismatch_cost(const co_feature *f, double dev) {
  /* dev is the chance a leave-one-out prediction of the feature is wrong (or, before analyze, that
   * two random cases differ). The surprisal of a mismatch relative to a match, assuming errors
   * spread evenly over the other levels: log((1 - r)(K - 1) / r). */
  double r = dev < 0.005 ? 0.005 : dev > 0.995 ? 0.995 : dev;
  double kk = f->levels.n > 2 ? (double)f->levels.n - 1 : 1.0;
  double c = log((1.0 - r) * kk / r);
  return c < 0.25 ? 0.25 : c > 8.0 ? 8.0 : c;
}

void co_index_free(co_index *ix) {
  if (!ix)
    return;
  co_free(ix->col);
  co_free(ix->scale);
  co_free(ix->mcost);
  co_free(ix->cat);
  co_free(ix);
}

/* Mean absolute deviation from the mean of feature f over the cases (0 if none present). */
static double feature_mad(const cohort_trainee *t, size_t f) {
  double sum = 0, m = 0, mad = 0;
  for (size_t r = 0; r < t->n; r++) {
    double v = t->x[r * t->nf + f];
    if (!isnan(v)) {
      sum += v;
      m++;
    }
  }
  if (!m)
    return 0;
  double mean = sum / m;
  for (size_t r = 0; r < t->n; r++) {
    double v = t->x[r * t->nf + f];
    if (!isnan(v))
      mad += fabs(v - mean);
  }
  return mad / m;
}

static cohort_status index_build(const cohort_trainee *t, co_geometry geom, co_index **out) {
  size_t n = t->n, nf = t->nf;
  co_index *ix = co_calloc(1, sizeof *ix);
  if (!ix)
    return co_nomem();
  ix->n = n;
  ix->nf = nf;
  ix->generation = t->generation;
  ix->col = co_malloc((n ? n : 1) * nf * sizeof *ix->col);
  ix->scale = co_malloc(nf * sizeof *ix->scale);
  ix->mcost = co_malloc(nf * sizeof *ix->mcost);
  ix->cat = co_malloc(nf * sizeof *ix->cat);
  if (!ix->col || !ix->scale || !ix->mcost || !ix->cat) {
    co_index_free(ix);
    return co_nomem();
  }
  for (size_t f = 0; f < nf; f++) {
    const co_feature *fe = &t->schema.f[f];
    bool cat = co_is_categorical(fe->type) && fe->type != COHORT_ORDINAL;
    double dev = t->dev[f] > 0 ? t->dev[f] : 1.0;
    double range = fe->max - fe->min, mad = cat ? 0 : feature_mad(t, f);
    double scale = 1.0, mcost = 1.0;
    switch (geom) {
    case CO_GEOM_ENGINE:
      /* Missing vs present costs what a random pair differs by: ~ 2 mean absolute deviations. */
      scale = cat ? 1.0 : 1.0 / dev;
      mcost = cat ? mismatch_cost(fe, dev) : fmax(2.0 * mad * scale, 0.25);
      break;
    case CO_GEOM_DCR:
      scale = cat ? 1.0 : 1.0 / (range > 0 ? range : 1.0);
      break;
    case CO_GEOM_SPREAD:
      scale = cat ? 1.0 : 1.0 / (mad > 0 ? 2.0 * mad : range > 0 ? range : 1.0);
      break;
    }
    float *col = ix->col + f * n;
    for (size_t r = 0; r < n; r++)
      col[r] = (float)(t->x[r * nf + f] * scale);
    ix->cat[f] = cat;
    ix->scale[f] = (float)scale;
    ix->mcost[f] = (float)mcost;
  }
  *out = ix;
  return COHORT_OK;
}

cohort_status co_trainee_index(cohort_trainee *t, const co_index **out) {
  if (!t->index || t->index->generation != t->generation || t->index->n != t->n) {
    co_index *ix = NULL;
    cohort_status st = index_build(t, CO_GEOM_ENGINE, &ix);
    if (st != COHORT_OK)
      return st;
    co_index_free(t->index);
    t->index = ix;
  }
  *out = t->index;
  return COHORT_OK;
}

cohort_status co_index_build(const cohort_trainee *t, co_geometry geom, co_index **out) {
  return index_build(t, geom, out);
}

void co_index_scale(const co_index *ix, const double *row, float *out) {
  for (size_t f = 0; f < ix->nf; f++)
    out[f] = (float)(row[f] * ix->scale[f]);
}

/* ---------------------------------------------------------------- kernels */

enum pkind { P_ONE, P_TWO, P_HALF, P_ANY };

static inline CO_INLINE float powp(float d, enum pkind k, float p) {
  switch (k) {
  case P_ONE:
    return d;
  case P_TWO:
    return d * d;
  case P_HALF:
    return sqrtf(d);
  default:
    return powf(d, p);
  }
}

/* Adds one numeric feature's terms for cases [0, nb) of a block. Written per power so that each
 * loop is branch-free and vectorizes. */
#define NUMERIC_LOOP(EXPR)                                                     \
  for (size_t j = 0; j < nb; j++) {                                            \
    float d = fabsf(q - c[j]);                                                 \
    float t_ = (EXPR);                                                         \
    D[j] += d == d ? t_ : mp; /* NaN case value: missing */                   \
  }

static inline CO_INLINE void add_numeric(float *restrict D, const float *restrict c, size_t nb, float q, float w, float mp,
                        enum pkind k, float p) {
  switch (k) {
  case P_ONE:
    NUMERIC_LOOP(w * d)
    break;
  case P_TWO:
    NUMERIC_LOOP(w * d * d)
    break;
  case P_HALF:
    NUMERIC_LOOP(w * sqrtf(d))
    break;
  default:
    NUMERIC_LOOP(w * powf(d, p))
    break;
  }
}

/* Categorical term, or a missing query value (0 where the case is missing too, mp elsewhere). */
static inline CO_INLINE void add_categorical(float *restrict D, const float *restrict c, size_t nb, float q, float mp) {
  for (size_t j = 0; j < nb; j++)
    D[j] += c[j] == q ? 0.0f : mp;
}

static inline CO_INLINE void add_query_missing(float *restrict D, const float *restrict c, size_t nb, float mp) {
  for (size_t j = 0; j < nb; j++)
    D[j] += c[j] != c[j] ? 0.0f : mp;
}

/* ---------------------------------------------------------------- selection */

typedef struct cand {
  float d;
  uint32_t i;
  uint64_t key; /* tie-break: random draw, or the case index */
} cand;

static inline bool worse(const cand *a, const cand *b) { return a->d > b->d || (a->d == b->d && a->key > b->key); }

static void sift_down(cand *h, size_t n, size_t i) {
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < n && worse(&h[l], &h[m]))
      m = l;
    if (r < n && worse(&h[r], &h[m]))
      m = r;
    if (m == i)
      return;
    cand tmp = h[i];
    h[i] = h[m];
    h[m] = tmp;
    i = m;
  }
}

static void sift_up(cand *h, size_t i) {
  while (i) {
    size_t p = (i - 1) / 2;
    if (!worse(&h[i], &h[p]))
      return;
    cand tmp = h[i];
    h[i] = h[p];
    h[p] = tmp;
    i = p;
  }
}

static int cand_cmp(const void *a, const void *b) {
  const cand *x = a, *y = b;
  if (worse(x, y))
    return 1;
  if (worse(y, x))
    return -1;
  return 0;
}

typedef struct feat_spec {
  const float *col;
  float q, w, mp;
  int kind; /* 0 numeric, 1 categorical, 2 query missing */
} feat_spec;

static inline CO_INLINE size_t knn_body(const co_index *ix, const co_metric *m, const float *q, size_t k, long exclude, co_rng *rng, co_nb *out) {
  size_t n = ix->n, nf = ix->nf;
  if (k == 0 || n == 0)
    return 0;
  enum pkind pk = m->p == 1.0 ? P_ONE : m->p == 2.0 ? P_TWO : m->p == 0.5 ? P_HALF : P_ANY;
  float p = (float)m->p;

  feat_spec spec_stack[64];
  feat_spec *spec = nf <= 64 ? spec_stack : co_malloc(nf * sizeof *spec);
  cand heap_stack[64];
  cand *heap = k <= 64 ? heap_stack : co_malloc(k * sizeof *heap);
  if (!spec || !heap) {
    if (spec != spec_stack)
      co_free(spec);
    if (heap != heap_stack)
      co_free(heap);
    return 0;
  }
  size_t ns = 0;
  for (size_t f = 0; f < nf; f++) {
    if (!(m->w[f] > 0))
      continue;
    float w = (float)m->w[f];
    feat_spec s = {ix->col + f * n, q[f], w, w * powp(ix->mcost[f], pk, p), 0};
    s.kind = q[f] != q[f] ? 2 : ix->cat[f] ? 1 : 0;
    spec[ns++] = s;
  }
  const float *req = m->require >= 0 ? ix->col + (size_t)m->require * n : NULL;

  float D[CO_KNN_BLOCK];
  size_t hn = 0;
  for (size_t b0 = 0; b0 < n; b0 += CO_KNN_BLOCK) {
    size_t nb = n - b0 < CO_KNN_BLOCK ? n - b0 : CO_KNN_BLOCK;
    memset(D, 0, nb * sizeof *D);
    for (size_t s = 0; s < ns; s++) {
      const float *c = spec[s].col + b0;
      if (spec[s].kind == 0)
        add_numeric(D, c, nb, spec[s].q, spec[s].w, spec[s].mp, pk, p);
      else if (spec[s].kind == 1)
        add_categorical(D, c, nb, spec[s].q, spec[s].mp);
      else
        add_query_missing(D, c, nb, spec[s].mp);
    }
    if (req)
      for (size_t j = 0; j < nb; j++)
        if (req[b0 + j] != req[b0 + j])
          D[j] = FLT_MAX;
    if (exclude >= 0 && (size_t)exclude >= b0 && (size_t)exclude < b0 + nb)
      D[(size_t)exclude - b0] = FLT_MAX;

    for (size_t j = 0; j < nb; j++) {
      float d = D[j];
      if (d == FLT_MAX)
        continue;
      if (hn < k) {
        heap[hn] = (cand){d, (uint32_t)(b0 + j), rng ? co_rng_next(rng) : b0 + j};
        sift_up(heap, hn++);
      } else if (d <= heap[0].d) {
        cand c = {d, (uint32_t)(b0 + j), 0};
        if (d == heap[0].d) {
          if (!rng)
            continue; /* equal distance: the earlier case stays */
          c.key = co_rng_next(rng);
          if (c.key >= heap[0].key)
            continue;
        } else {
          c.key = rng ? co_rng_next(rng) : b0 + j;
        }
        heap[0] = c;
        sift_down(heap, k, 0);
      }
    }
  }
  qsort(heap, hn, sizeof *heap, cand_cmp);
  double invp = 1.0 / m->p;
  for (size_t i = 0; i < hn; i++) {
    double d = heap[i].d > 0 ? (double)heap[i].d : 0.0;
    out[i].d = pk == P_ONE ? d : pk == P_TWO ? sqrt(d) : pow(d, invp);
    out[i].i = heap[i].i;
  }
  if (spec != spec_stack)
    co_free(spec);
  if (heap != heap_stack)
    co_free(heap);
  return hn;
}

#ifdef CO_HAVE_AVX2_PATH
__attribute__((target("avx2"))) static size_t knn_avx2(const co_index *ix, const co_metric *m, const float *q, size_t k,
                                                     long exclude, co_rng *rng, co_nb *out) {
  return knn_body(ix, m, q, k, exclude, rng, out);
}
#endif

static size_t knn_base(const co_index *ix, const co_metric *m, const float *q, size_t k, long exclude, co_rng *rng,
                       co_nb *out) {
  return knn_body(ix, m, q, k, exclude, rng, out);
}

size_t co_knn(const co_index *ix, const co_metric *m, const float *q, size_t k, long exclude, co_rng *rng, co_nb *out) {
#ifdef CO_HAVE_AVX2_PATH
  if (__builtin_cpu_supports("avx2"))
    return knn_avx2(ix, m, q, k, exclude, rng, out);
#endif
  return knn_base(ix, m, q, k, exclude, rng, out);
}
