/* Exact k-nearest-neighbour search over a trainee's cases.
 *
 * Distance between a query q and a case c is (sum_f w_f * t_f^p)^(1/p) where the per-feature term
 *   numeric:      t = |q_f - c_f| / deviation_f
 *   categorical:  t = 0 if equal, else the feature's mismatch cost
 *   missing:      t = 0 if both are missing, else the feature's missing cost.
 * For 0 < p < 1 the sum of powers itself is a metric, for p >= 1 its p-th root is; ranking uses the
 * sum either way and only the reported distance takes the root.
 *
 * Layout: a column-major float copy of the cases, reordered so that cases close to each other sit in
 * the same leaf of CO_LEAF cases (leaves come from recursive median splits on the widest feature,
 * as in a k-d tree). Each leaf keeps per-feature bounds: numeric min/max, the set of categorical
 * codes present, and whether values are missing.
 *
 * Search: a lower bound of the distance from the query to every case of a leaf comes from those
 * bounds; leaves are visited nearest bound first and the search stops once the bound exceeds the
 * k-th best distance, so it is exact. Within a leaf each active feature adds its term to a block of
 * partial sums in one tight loop the compiler vectorizes; a bounded max-heap keeps the k best. */
#include "co_trainee.h"

#include <float.h>
#include <stdlib.h>
#include <string.h>

#define CO_LEAF 64
#define CO_GROUP 16 /* leaves per group: a second level of bounds */

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
  co_free(ix->ids);
  co_free(ix->leaf);
  co_free(ix->lo);
  co_free(ix->hi);
  co_free(ix->mask);
  co_free(ix->presence);
  co_free(ix);
}

/* ---------------------------------------------------------------- leaves */

static inline float key_of(const float *col, uint32_t c) {
  float v = col[c];
  return v == v ? v : INFINITY; /* missing values sort last */
}

/* Reorders ids[lo, hi) so that ids[mid] holds the element of rank mid by col (quickselect). */
static void select_nth(uint32_t *ids, size_t lo, size_t hi, size_t mid, const float *col) {
  while (hi - lo > 1) {
    float pivot = key_of(col, ids[lo + (hi - lo - 1) / 2]); /* never the last: Hoare then always shrinks */
    size_t i = lo, j = hi - 1;
    for (;;) {
      while (key_of(col, ids[i]) < pivot)
        i++;
      while (key_of(col, ids[j]) > pivot)
        j--;
      if (i >= j)
        break;
      uint32_t tmp = ids[i];
      ids[i++] = ids[j];
      ids[j--] = tmp;
    }
    /* ids[lo, j] <= pivot <= ids[j+1, hi) */
    if (mid <= j)
      hi = j + 1;
    else
      lo = j + 1;
  }
}

typedef struct leaf_builder {
  co_index *ix;
  const float *col; /* columns in case order */
  uint32_t nleaf;
} leaf_builder;

static void split(leaf_builder *b, size_t lo, size_t hi) {
  co_index *ix = b->ix;
  size_t n = ix->n;
  float best = 0;
  long bf = -1;
  if (hi - lo > CO_LEAF) {
    for (size_t f = 0; f < ix->nf; f++) {
      const float *c = b->col + f * n;
      float mn = INFINITY, mx = -INFINITY;
      for (size_t i = lo; i < hi; i++) {
        float v = c[ix->ids[i]];
        if (v == v) {
          mn = v < mn ? v : mn;
          mx = v > mx ? v : mx;
        }
      }
      /* Spread in distance units: a categorical split separates codes, worth one mismatch. */
      float spread = mx > mn ? (ix->cat[f] ? ix->mcost[f] : mx - mn) : 0;
      if (spread > best) {
        best = spread;
        bf = (long)f;
      }
    }
  }
  if (bf < 0) { /* small enough, or every case alike: cut into leaves as they are */
    for (size_t s = lo; s < hi; s += CO_LEAF)
      ix->leaf[b->nleaf++] = (uint32_t)s;
    return;
  }
  size_t mid = lo + (hi - lo) / 2;
  select_nth(ix->ids, lo, hi, mid, b->col + (size_t)bf * n);
  split(b, lo, mid);
  split(b, mid, hi);
}

/* Orders the cases into leaves and computes each leaf's bounds. */
static cohort_status build_leaves(co_index *ix) {
  size_t n = ix->n, nf = ix->nf;
  size_t maxleaves = n / CO_LEAF * 2 + 2;
  float *bycase = co_malloc((n ? n : 1) * nf * sizeof *bycase);
  ix->ids = co_malloc((n ? n : 1) * sizeof *ix->ids);
  ix->leaf = co_malloc((maxleaves + 1) * sizeof *ix->leaf);
  if (!bycase || !ix->ids || !ix->leaf) {
    co_free(bycase);
    return co_nomem();
  }
  memcpy(bycase, ix->col, n * nf * sizeof *bycase);
  for (size_t i = 0; i < n; i++)
    ix->ids[i] = (uint32_t)i;
  leaf_builder b = {ix, bycase, 0};
  split(&b, 0, n);
  ix->nleaves = b.nleaf;
  ix->leaf[b.nleaf] = (uint32_t)n;
  for (size_t f = 0; f < nf; f++)
    for (size_t r = 0; r < n; r++)
      ix->col[f * n + r] = bycase[f * n + ix->ids[r]];
  co_free(bycase);

  ix->ngroups = (ix->nleaves + CO_GROUP - 1) / CO_GROUP;
  size_t nb = ix->nleaves + ix->ngroups ? ix->nleaves + ix->ngroups : 1; /* boxes: leaves, then groups */
  ix->lo = co_malloc(nb * nf * sizeof *ix->lo);
  ix->hi = co_malloc(nb * nf * sizeof *ix->hi);
  ix->mask = co_calloc(nb * nf, sizeof *ix->mask);
  ix->presence = co_calloc(nb * nf, sizeof *ix->presence);
  if (!ix->lo || !ix->hi || !ix->mask || !ix->presence)
    return co_nomem();
  for (size_t l = 0; l < ix->nleaves; l++) {
    for (size_t f = 0; f < nf; f++) {
      const float *c = ix->col + f * n;
      float mn = INFINITY, mx = -INFINITY;
      uint64_t mask = 0;
      uint8_t pres = 0;
      for (size_t r = ix->leaf[l]; r < ix->leaf[l + 1]; r++) {
        float v = c[r];
        if (v != v) {
          pres |= CO_LEAF_MISSING;
          continue;
        }
        pres |= CO_LEAF_PRESENT;
        mn = v < mn ? v : mn;
        mx = v > mx ? v : mx;
        if (ix->cat[f])
          mask |= 1ull << (v < 63 ? (unsigned)v : 63u);
      }
      ix->lo[l * nf + f] = mn;
      ix->hi[l * nf + f] = mx;
      ix->mask[l * nf + f] = mask;
      ix->presence[l * nf + f] = pres;
    }
  }
  /* A group's box is the union of its leaves' boxes. */
  for (size_t g = 0; g < ix->ngroups; g++) {
    size_t gb = (ix->nleaves + g) * nf, l1 = (g + 1) * CO_GROUP;
    for (size_t f = 0; f < nf; f++) {
      ix->lo[gb + f] = INFINITY;
      ix->hi[gb + f] = -INFINITY;
    }
    for (size_t l = g * CO_GROUP; l < l1 && l < ix->nleaves; l++)
      for (size_t f = 0; f < nf; f++) {
        size_t i = l * nf + f;
        ix->lo[gb + f] = fminf(ix->lo[gb + f], ix->lo[i]);
        ix->hi[gb + f] = fmaxf(ix->hi[gb + f], ix->hi[i]);
        ix->mask[gb + f] |= ix->mask[i];
        ix->presence[gb + f] |= ix->presence[i];
      }
  }
  return COHORT_OK;
}

static cohort_status index_build(const cohort_trainee *t, co_geometry geom, const double *x, size_t n,
                                 co_index **out) {
  size_t nf = t->nf;
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
    double range = fe->max - fe->min;
    double scale = 1.0, mcost = 1.0;
    switch (geom) {
    case CO_GEOM_ENGINE:
      /* Missing vs present costs what a random pair differs by: ~ 2 mean absolute deviations. */
      scale = cat ? 1.0 : 1.0 / dev;
      mcost = cat ? mismatch_cost(fe, dev) : fmax(2.0 * co_feature_mad(t, f) * scale, 0.25);
      break;
    case CO_GEOM_DCR:
      scale = cat ? 1.0 : 1.0 / (range > 0 ? range : 1.0);
      break;
    }
    float *col = ix->col + f * n;
    for (size_t r = 0; r < n; r++)
      col[r] = (float)(x[r * nf + f] * scale);
    ix->cat[f] = cat;
    ix->scale[f] = (float)scale;
    ix->mcost[f] = (float)mcost;
  }
  cohort_status st = build_leaves(ix);
  if (st != COHORT_OK) {
    co_index_free(ix);
    return st;
  }
  *out = ix;
  return COHORT_OK;
}

cohort_status co_trainee_index(cohort_trainee *t, const co_index **out) {
  if (!t->index || t->index->generation != t->generation || t->index->n != t->n) {
    co_index *ix = NULL;
    cohort_status st = index_build(t, CO_GEOM_ENGINE, t->x, t->n, &ix);
    if (st != COHORT_OK)
      return st;
    co_index_free(t->index);
    t->index = ix;
  }
  *out = t->index;
  return COHORT_OK;
}

cohort_status cohort_trainee_prepare(cohort_trainee *t) {
  const co_index *ix;
  if (!t)
    return co_error(COHORT_EINVAL, "prepare: no trainee");
  return co_trainee_index(t, &ix);
}

cohort_status co_index_build(const cohort_trainee *t, co_geometry geom, co_index **out) {
  return index_build(t, geom, t->x, t->n, out);
}

cohort_status co_index_build_rows(const cohort_trainee *t, co_geometry geom, const double *x, size_t n,
                                  co_index **out) {
  return index_build(t, geom, x, n, out);
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
  size_t f;
  float q, w, mp;
  int kind; /* 0 numeric, 1 categorical, 2 query missing */
} feat_spec;

typedef struct leaf_bound {
  float lb;
  uint32_t leaf;
} leaf_bound;

/* Lower bound of the distance sum from the query to any case of box l, a leaf or (from nleaves on) a
 * group of leaves (FLT_MAX: no case there
 * has the required feature). Each term is a lower bound of the same term in the kernels, summed in
 * the same order, so rounding keeps it a lower bound. */
static inline CO_INLINE float leaf_lower_bound(const co_index *ix, size_t l, const feat_spec *spec, size_t ns,
                                              long require, enum pkind pk, float p) {
  size_t nf = ix->nf;
  if (require >= 0 && !(ix->presence[l * nf + (size_t)require] & CO_LEAF_PRESENT))
    return FLT_MAX;
  float lb = 0;
  for (size_t s = 0; s < ns; s++) {
    size_t i = l * nf + spec[s].f;
    uint8_t pres = ix->presence[i];
    float t;
    if (spec[s].kind == 2) {
      t = pres & CO_LEAF_MISSING ? 0.0f : spec[s].mp;
    } else if (!(pres & CO_LEAF_PRESENT)) {
      t = spec[s].mp;
    } else if (spec[s].kind == 1) {
      float q = spec[s].q;
      unsigned bit = q >= 0 && q < 63 ? (unsigned)q : 63u;
      t = (ix->mask[i] >> bit) & 1 ? 0.0f : spec[s].mp;
    } else {
      float q = spec[s].q, gap = 0;
      if (q < ix->lo[i])
        gap = ix->lo[i] - q;
      else if (q > ix->hi[i])
        gap = q - ix->hi[i];
      t = spec[s].w * powp(gap, pk, p);
      if (pres & CO_LEAF_MISSING && spec[s].mp < t)
        t = spec[s].mp;
    }
    lb += t;
  }
  return lb;
}

typedef struct knn_state {
  const co_index *ix;
  const feat_spec *spec;
  size_t ns;
  enum pkind pk;
  float p;
  long require;     /* feature a neighbour must have, or -1 */
  const float *req; /* its column, or NULL */
  long exclude;
  co_rng *rng;
  cand *heap;
  size_t k, hn;
} knn_state;

/* Distances to every case of leaf l; the k best so far stay in the heap. */
static inline CO_INLINE void scan_leaf(knn_state *st, size_t l) {
  const co_index *ix = st->ix;
  size_t n = ix->n, b0 = ix->leaf[l], nb = ix->leaf[l + 1] - b0;
  float D[CO_LEAF];
  memset(D, 0, nb * sizeof *D);
  for (size_t s = 0; s < st->ns; s++) {
    const feat_spec *sp = &st->spec[s];
    const float *c = ix->col + sp->f * n + b0;
    if (sp->kind == 0)
      add_numeric(D, c, nb, sp->q, sp->w, sp->mp, st->pk, st->p);
    else if (sp->kind == 1)
      add_categorical(D, c, nb, sp->q, sp->mp);
    else
      add_query_missing(D, c, nb, sp->mp);
  }
  if (st->req)
    for (size_t j = 0; j < nb; j++)
      if (st->req[b0 + j] != st->req[b0 + j])
        D[j] = FLT_MAX;
  cand *heap = st->heap;
  for (size_t j = 0; j < nb; j++) {
    float d = D[j];
    if (d == FLT_MAX || (st->hn == st->k && d > heap[0].d))
      continue;
    uint32_t id = ix->ids[b0 + j];
    if ((long)id == st->exclude)
      continue;
    cand c = {d, id, st->rng ? co_rng_next(st->rng) : id};
    if (st->hn < st->k) {
      heap[st->hn] = c;
      sift_up(heap, st->hn++);
    } else if (worse(&heap[0], &c)) {
      heap[0] = c;
      sift_down(heap, st->k, 0);
    }
  }
}

/* Searches the leaves of group g whose bound does not exceed the k-th best; sorted: nearest
 * bound first. */
static inline CO_INLINE void visit_group(knn_state *st, size_t g, bool sorted) {
  const co_index *ix = st->ix;
  leaf_bound lbs[CO_GROUP];
  size_t m = 0, l0 = g * CO_GROUP, l1 = l0 + CO_GROUP < ix->nleaves ? l0 + CO_GROUP : ix->nleaves;
  for (size_t l = l0; l < l1; l++) {
    float lb = leaf_lower_bound(ix, l, st->spec, st->ns, st->require, st->pk, st->p);
    if (lb == FLT_MAX)
      continue;
    size_t i = m++;
    for (; sorted && i > 0 && lbs[i - 1].lb > lb; i--)
      lbs[i] = lbs[i - 1];
    lbs[i] = (leaf_bound){lb, (uint32_t)l};
  }
  for (size_t i = 0; i < m; i++)
    if (!(st->hn == st->k && lbs[i].lb > st->heap[0].d))
      scan_leaf(st, lbs[i].leaf);
}

static inline CO_INLINE size_t knn_body(const co_index *ix, const co_metric *m, const float *q, size_t k,
                                        long exclude, co_rng *rng, co_nb *out) {
  size_t n = ix->n, nf = ix->nf;
  if (k == 0 || n == 0)
    return 0;
  enum pkind pk = m->p == 1.0 ? P_ONE : m->p == 2.0 ? P_TWO : m->p == 0.5 ? P_HALF : P_ANY;
  float p = (float)m->p;

  /* Scratch on the stack up to sizes that cover most tables (~40 KiB); beyond, from the heap. */
  feat_spec spec_stack[256];
  cand heap_stack[CO_K_MAX];
  leaf_bound order_stack[4096];
  feat_spec *spec = nf <= 256 ? spec_stack : co_malloc(nf * sizeof *spec);
  cand *heap = k <= CO_K_MAX ? heap_stack : co_malloc(k * sizeof *heap);
  leaf_bound *order = ix->ngroups <= 4096 ? order_stack : co_malloc(ix->ngroups * sizeof *order);
  size_t hn = 0;
  if (!spec || !heap || !order)
    goto out;
  size_t ns = 0;
  for (size_t f = 0; f < nf; f++) {
    if (!(m->w[f] > 0))
      continue;
    float w = (float)m->w[f];
    feat_spec sp = {f, q[f], w, w * powp(ix->mcost[f], pk, p), 0};
    sp.kind = q[f] != q[f] ? 2 : ix->cat[f] ? 1 : 0;
    spec[ns++] = sp;
  }
  /* Groups first: the one with the nearest bound is searched first, its leaves nearest bound
   * first, which sets a tight k-th distance early; then every other group in memory order, each
   * skipped whole when its bound exceeds the k-th best, and within it each leaf likewise. */
  knn_state st = {ix,   spec, ns,   pk, p, m->require, m->require >= 0 ? ix->col + (size_t)m->require * n : NULL,
                  exclude, rng, heap, k,  0};
  size_t best = SIZE_MAX;
  for (size_t g = 0; g < ix->ngroups; g++) {
    float lb = leaf_lower_bound(ix, ix->nleaves + g, spec, ns, m->require, pk, p);
    order[g] = (leaf_bound){lb, (uint32_t)g};
    if (lb != FLT_MAX && (best == SIZE_MAX || lb < order[best].lb))
      best = g;
  }
  if (best != SIZE_MAX) {
    visit_group(&st, best, true);
    for (size_t g = 0; g < ix->ngroups; g++)
      if (g != best && order[g].lb != FLT_MAX && !(st.hn == k && order[g].lb > heap[0].d))
        visit_group(&st, g, false);
  }
  hn = st.hn;
  qsort(heap, hn, sizeof *heap, cand_cmp);
  double invp = 1.0 / m->p;
  for (size_t i = 0; i < hn; i++) {
    double d = heap[i].d > 0 ? (double)heap[i].d : 0.0;
    out[i].d = pk == P_ONE ? d : pk == P_TWO ? sqrt(d) : pow(d, invp);
    out[i].i = heap[i].i;
  }
out:
  if (spec != spec_stack)
    co_free(spec);
  if (heap != heap_stack)
    co_free(heap);
  if (order != order_stack)
    co_free(order);
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
