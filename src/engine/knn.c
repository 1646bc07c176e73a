/* Exact k-nearest-neighbour search over a trainee's cases.
 *
 * Distance between a query q and a case c is (sum_f w_f * t_f^p)^(1/p) where the per-feature term
 *   numeric:      t = |q_f - c_f| / deviation_f
 *   categorical:  t = 0 if equal, else the feature's mismatch cost
 *   missing:      t = 0 if both are missing, else the feature's missing cost.
 * For 0 < p < 1 the sum of powers itself is a metric, for p >= 1 its p-th root is; ranking uses the
 * sum either way and only the reported distance takes the root.
 *
 * Layout: a column-major float copy of the cases, reordered by a binary tree so that cases close to
 * each other sit in the same leaf of at most CO_LEAF cases. Every node keeps per-feature bounds of
 * its cases (its box): numeric min/max, the set of categorical codes present, and whether values
 * are missing. A node is split on the feature, and at the point near its median, that adds the
 * most to the lower bound between the two sides for queries drawn from the node, weighted by the
 * trainee's feature weights and mismatch costs (see score_feature); categorical features split by
 * code, so a level lies on one side only where that is possible, which is what makes the boxes
 * tight on tables of mostly categorical features such as adult.
 *
 * Search: a lower bound of the distance from the query to every case of a node comes from its box.
 * The tree is walked depth first, the child with the nearer bound first, skipping nodes whose bound
 * exceeds the k-th best distance, so it is exact. Within a leaf each active feature adds its term
 * to a block of partial sums in one tight loop the compiler vectorizes, and the leaf is left early
 * once every partial sum exceeds the k-th best; a bounded max-heap keeps the k best.
 *
 * Random ties (synthesis): cases at the k-th distance are kept uniformly at random. Where at least k
 * cases match the query exactly they are found by drawing random cases (sample_equal), not by the
 * walk; in the walk, ties beyond a full heap are passed over in geometric skips (tie_enters) and
 * nodes whose cases all match are skipped the same way without being read (take_equal).
 * tests/test_knn_ties.c checks that the kept ties are uniform. */
#include "co_trainee.h"

#include <float.h>
#include <stdlib.h>
#include <string.h>

/* Cases per leaf at most. Against 64: as fast on adult and diamonds, 8% fewer instructions per
 * query on 50,000 x 10 uniform, and half the nodes (the boxes' memory). */
#define CO_LEAF 128
/* The kernels run over whole blocks of CO_PAD rows, reading up to CO_PAD - 1 rows past a leaf: into
 * the next leaf, or past the last column into padding. */
#define CO_PAD 8
/* Rows scored per node and feature when choosing a split: against scoring every row, searches as
 * fast (adult, diamonds, random) and builds in a third of the instructions. */
#define CO_SCORE_SAMPLE 256
#define CO_MIN_SHARE 16 /* a split leaves at least 1/CO_MIN_SHARE of a node's rows on each side */

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
  co_free(ix->exact_mask);
  co_free(ix->ids);
  co_free(ix->node);
  co_free(ix->box);
  co_free(ix->presence);
  co_lin_free(ix->lin);
  co_free(ix);
}

co_lin *co_lin_new(size_t nq) {
  co_lin *l = co_calloc(1, sizeof *l);
  if (!l)
    return NULL;
  l->nq = nq;
  l->qidx = co_calloc(nq + 1, sizeof *l->qidx);
  l->mu = co_calloc(nq + 1, sizeof *l->mu);
  l->m = co_calloc(nq * nq + 1, sizeof *l->m);
  if (!l->qidx || !l->mu || !l->m) {
    co_lin_free(l);
    return NULL;
  }
  return l;
}

void co_lin_free(co_lin *l) {
  if (!l)
    return;
  co_free(l->qidx);
  co_free(l->mu);
  co_free(l->m);
  co_free(l);
}

/* The decorrelated block of one row: row holds the raw values, scale the index's scales; out gets
 * the nq slot values (NaN for all when every block value is missing). */
static void lin_apply(const co_lin *l, const float *scale, const double *row, float *out) {
  double z[CO_LIN_MAX];
  size_t nq = l->nq, present = 0;
  for (size_t j = 0; j < nq; j++) {
    double v = row[l->qidx[j]];
    present += !isnan(v);
    z[j] = isnan(v) ? 0.0 : (v - l->mu[j]) * scale[l->qidx[j]];
  }
  for (size_t i = 0; i < nq; i++) {
    double s = 0;
    for (size_t j = 0; j < nq; j++)
      s += l->m[i * nq + j] * z[j];
    out[i] = present ? (float)s : NAN;
  }
}

/* ---------------------------------------------------------------- tree */

static inline float key_of(const float *col, uint32_t c) {
  float v = col[c];
  return v == v ? v : INFINITY; /* missing values sort last */
}

/* The value of rank mid among v[0, n) (quickselect; reorders v). */
static float select_nth(float *v, size_t n, size_t mid) {
  size_t lo = 0, hi = n;
  while (hi - lo > 1) {
    float pivot = v[lo + (hi - lo - 1) / 2]; /* never the last: Hoare then always shrinks */
    size_t i = lo, j = hi - 1;
    for (;;) {
      while (v[i] < pivot)
        i++;
      while (v[j] > pivot)
        j--;
      if (i >= j)
        break;
      float tmp = v[i];
      v[i++] = v[j];
      v[j--] = tmp;
    }
    /* v[lo, j] <= pivot <= v[j+1, hi) */
    if (mid <= j)
      hi = j + 1;
    else
      lo = j + 1;
  }
  return v[mid];
}

typedef struct tree_builder {
  co_index *ix;
  const float *col; /* columns in case order */
  const double *w;  /* nf weights of the split score */
  float *vals;      /* scratch: one node's values of one feature */
  size_t cap;       /* nodes allocated */
} tree_builder;

/* A split of a node's rows by feature f around its median m: rows below m go left, above m right,
 * and rows equal to m left (at = 1), right (at = 0), or both ways so the halves balance (at = 2). */
typedef struct split_choice {
  double score;
  size_t f;
  float m;
  int at;
} split_choice;

/* A side's term for a gap to the other side's box: linear in the gap, and the missing cost where
 * that is cheaper and the other side holds missing values (an infinite gap: only missing there). */
static inline double gap_term(float gap, float w, float cost, bool capped) {
  float t = gap == INFINITY ? cost : w * gap;
  return capped && t > cost ? cost : t;
}

/* Scores the three splits of feature f over the node's rows ids[lo, hi) by the lower bound they
 * add: a query from one side gets, for the other side's box, this feature's term of the bound;
 * weighted by the other side's share (the work that bound may save) and averaged over the rows as
 * queries. Terms are in linear units (w * gap, w * cost) whatever the metric's power. Large nodes
 * are scored on an evenly spaced sample of CO_SCORE_SAMPLE rows. */
static void score_feature(tree_builder *b, size_t f, size_t lo, size_t hi, split_choice *best) {
  co_index *ix = b->ix;
  size_t step = (hi - lo + CO_SCORE_SAMPLE - 1) / CO_SCORE_SAMPLE, s = (hi - lo + step - 1) / step;
  const float *c = b->col + f * ix->n;
  float *v = b->vals;
  for (size_t i = 0; i < s; i++)
    v[i] = key_of(c, ix->ids[lo + i * step]);
  float m = select_nth(v, s, s / 2);
  size_t lt = 0, eq = 0, miss = 0;
  float below = -INFINITY, above = INFINITY; /* nearest values either side of m */
  for (size_t i = 0; i < s; i++) {
    float x = v[i];
    miss += x == INFINITY;
    if (x < m) {
      lt++;
      below = x > below ? x : below;
    } else if (x == m) {
      eq++;
    } else {
      above = x < above ? x : above;
    }
  }
  float w = b->w ? (float)b->w[f] : 1.0f, cost = w * ix->mcost[f];
  bool cat = ix->cat[f], rmiss = miss > 0;
  /* Sums of the terms of rows on the left (sl) and right (sr) of each split; missing values sort
   * last, so the right side holds them all (when m is missing, rows equal to m are those). */
  double sl[3] = {0, 0, 0}, sr[3] = {0, 0, 0};
  for (size_t i = 0; i < s; i++) {
    float x = v[i];
    if (x == INFINITY) {
      sr[0] += cost;
      if (m != INFINITY) {
        sr[1] += cost;
        sr[2] += cost;
      }
    } else if (x < m) {
      double t = cat ? cost : gap_term(m - x, w, cost, rmiss);
      sl[0] += t;
      sl[2] += t;
      sl[1] += cat ? cost : gap_term(above - x, w, cost, rmiss);
    } else if (x == m) { /* left or right; on both sides (at = 2) it adds no bound */
      sr[0] += cat ? cost : gap_term(m - below, w, cost, false);
      sl[1] += cat ? cost : gap_term(above - m, w, cost, rmiss);
    } else {
      double t = cat ? cost : gap_term(x - m, w, cost, false);
      sr[0] += cat ? cost : gap_term(x - below, w, cost, false);
      sr[1] += t;
      sr[2] += t;
    }
  }
  for (int at = 0; at < 3; at++) {
    size_t nl = at == 0 ? lt : at == 1 ? lt + eq : s / 2, nr = s - nl;
    if (nl == 0 || nr == 0)
      continue;
    double score = (sl[at] * (double)nr + sr[at] * (double)nl) / ((double)s * (double)s);
    if (score > best->score)
      *best = (split_choice){score, f, m, at};
  }
}

/* Moves the rows of ids[lo, hi) below m to the front and those above to the back; returns the
 * start of the rows equal to m in *eq0 and of those above in *gt0. */
static void partition3(uint32_t *ids, const float *c, size_t lo, size_t hi, float m, size_t *eq0,
                       size_t *gt0) {
  size_t i = lo, lt = lo, gt = hi;
  while (i < gt) {
    float x = key_of(c, ids[i]);
    if (x < m) {
      uint32_t tmp = ids[lt];
      ids[lt++] = ids[i];
      ids[i++] = tmp;
    } else if (x > m) {
      uint32_t tmp = ids[--gt];
      ids[gt] = ids[i];
      ids[i] = tmp;
    } else {
      i++;
    }
  }
  *eq0 = lt;
  *gt0 = gt;
}

/* Builds the subtree of rows [lo, hi) in preorder, its root the next node. */
static cohort_status build_node(tree_builder *b, size_t lo, size_t hi, size_t depth) {
  co_index *ix = b->ix;
  if (co_grow((void **)&ix->node, &b->cap, ix->nnodes + 1, sizeof *ix->node) != 0)
    return co_nomem();
  uint32_t me = (uint32_t)ix->nnodes++;
  ix->node[me] = (co_node){(uint32_t)lo, (uint32_t)hi, 0};
  if (depth > ix->depth)
    ix->depth = depth;
  size_t s = hi - lo;
  if (s <= CO_LEAF)
    return COHORT_OK;
  split_choice best = {0, 0, 0, 0};
  for (size_t f = 0; f < ix->nf; f++)
    if (!b->w || b->w[f] > 0)
      score_feature(b, f, lo, hi, &best);
  size_t mid;
  if (best.score > 0) {
    size_t eq0, gt0;
    partition3(ix->ids, b->col + best.f * ix->n, lo, hi, best.m, &eq0, &gt0);
    /* The sample's median may not be the rows' median: the balanced split stays within the rows
     * equal to m. */
    mid = lo + s / 2;
    mid = best.at == 0 ? eq0 : best.at == 1 ? gt0 : mid < eq0 ? eq0 : mid > gt0 ? gt0 : mid;
    /* Each side keeps a share of the rows, which bounds the depth (the recursion here, the stack
     * of the search) by a multiple of log n whatever the data. */
    size_t least = s / CO_MIN_SHARE;
    mid = mid < lo + least ? lo + least : mid > hi - least ? hi - least : mid;
  } else { /* every case alike: leaves of CO_LEAF rows as they are */
    mid = lo + (s + 2 * CO_LEAF - 1) / (2 * CO_LEAF) * CO_LEAF;
  }
  cohort_status st = build_node(b, lo, mid, depth + 1);
  if (st != COHORT_OK)
    return st;
  ix->node[me].right = (uint32_t)ix->nnodes;
  return build_node(b, mid, hi, depth + 1);
}

/* A categorical code's bit in a node's mask: code % 64, so the few codes of a node (neighbouring
 * ones, as splits go by code) seldom share a bit. Equal values get equal bits, so a query whose
 * bit is clear matches no case of the node. */
static inline unsigned code_bit(float v) {
  return v >= 0 && v < 4294967296.0f ? (unsigned)((uint32_t)v & 63u) : 63u;
}

/* Orders the cases into a tree and computes each node's box. The tree is built on the columns in
 * case order, which are then reordered one column at a time (no second copy of the cases: that
 * copy was most of the memory a trainee's load takes beyond what it keeps). */
static cohort_status build_tree(co_index *ix, const double *w) {
  size_t n = ix->n, nf = ix->nf;
  float *vals = co_malloc((n ? n : 1) * sizeof *vals);
  ix->ids = co_malloc((n ? n : 1) * sizeof *ix->ids);
  cohort_status st = COHORT_OK;
  if (!vals || !ix->ids) {
    st = co_nomem();
    goto out;
  }
  for (size_t i = 0; i < n; i++)
    ix->ids[i] = (uint32_t)i;
  tree_builder b = {ix, ix->col, w, vals, 0};
  if ((st = build_node(&b, 0, n, 1)) != COHORT_OK)
    goto out;
  co_node *shrunk = co_realloc(ix->node, ix->nnodes * sizeof *ix->node);
  if (shrunk)
    ix->node = shrunk;
  for (size_t f = 0; f < nf; f++) {
    float *c = ix->col + f * n;
    for (size_t r = 0; r < n; r++)
      vals[r] = c[ix->ids[r]];
    memcpy(c, vals, n * sizeof *c);
  }

  size_t nb = ix->nnodes * nf;
  ix->box = co_malloc((nb ? nb : 1) * sizeof *ix->box);
  ix->presence = co_calloc(nb ? nb : 1, sizeof *ix->presence);
  if (!ix->box || !ix->presence) {
    st = co_nomem();
    goto out;
  }
  /* Children follow their parent, so in reverse order every child is done before its parent:
   * a leaf's box from its rows, a parent's as the union of its children's. */
  for (size_t k = ix->nnodes; k-- > 0;) {
    const co_node *nd = &ix->node[k];
    co_range *bx = ix->box + k * nf;
    uint8_t *pr = ix->presence + k * nf;
    if (nd->right) {
      const co_range *l = ix->box + (k + 1) * nf, *r = ix->box + (size_t)nd->right * nf;
      const uint8_t *pl = ix->presence + (k + 1) * nf, *prr = ix->presence + (size_t)nd->right * nf;
      for (size_t f = 0; f < nf; f++) {
        pr[f] = pl[f] | prr[f];
        if (ix->cat[f])
          bx[f].mask = l[f].mask | r[f].mask;
        else {
          bx[f].r.lo = fminf(l[f].r.lo, r[f].r.lo);
          bx[f].r.hi = fmaxf(l[f].r.hi, r[f].r.hi);
        }
      }
      continue;
    }
    for (size_t f = 0; f < nf; f++) {
      const float *c = ix->col + f * n;
      float mn = INFINITY, mx = -INFINITY;
      uint64_t mask = 0;
      uint8_t pres = 0;
      for (size_t r = nd->r0; r < nd->r1; r++) {
        float v = c[r];
        if (v != v) {
          pres |= CO_LEAF_MISSING;
          continue;
        }
        pres |= CO_LEAF_PRESENT;
        mn = v < mn ? v : mn;
        mx = v > mx ? v : mx;
        mask |= 1ull << code_bit(v);
      }
      pr[f] = pres;
      if (ix->cat[f])
        bx[f].mask = mask;
      else {
        bx[f].r.lo = mn;
        bx[f].r.hi = mx;
      }
    }
  }
out:
  co_free(vals);
  return st;
}

static cohort_status index_build(const cohort_trainee *t, co_geometry geom, const double *x, size_t n,
                                 const co_lin *lin, co_index **out) {
  size_t nf = t->nf;
  co_index *ix = co_calloc(1, sizeof *ix);
  if (!ix)
    return co_nomem();
  ix->n = n;
  ix->nf = nf;
  ix->generation = t->generation;
  ix->col = co_calloc(n * nf + CO_PAD, sizeof *ix->col);
  ix->scale = co_malloc(nf * sizeof *ix->scale);
  ix->mcost = co_malloc(nf * sizeof *ix->mcost);
  ix->cat = co_malloc(nf * sizeof *ix->cat);
  ix->exact_mask = co_malloc(nf * sizeof *ix->exact_mask);
  if (!ix->col || !ix->scale || !ix->mcost || !ix->cat || !ix->exact_mask) {
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
    bool exact = cat;
    for (size_t r = 0; r < n; r++) {
      col[r] = (float)(x[r * nf + f] * scale);
      exact &= col[r] != col[r] || (col[r] >= 0 && col[r] < 64 && col[r] == floorf(col[r]));
    }
    ix->cat[f] = cat;
    ix->exact_mask[f] = exact;
    ix->scale[f] = (float)scale;
    ix->mcost[f] = (float)mcost;
  }
  if (lin) {
    float v[CO_LIN_MAX];
    if (!(ix->lin = co_lin_new(lin->nq))) {
      co_index_free(ix);
      return co_nomem();
    }
    memcpy(ix->lin->qidx, lin->qidx, lin->nq * sizeof *lin->qidx);
    memcpy(ix->lin->mu, lin->mu, lin->nq * sizeof *lin->mu);
    memcpy(ix->lin->m, lin->m, lin->nq * lin->nq * sizeof *lin->m);
    for (size_t r = 0; r < n; r++) {
      lin_apply(lin, ix->scale, x + r * nf, v);
      for (size_t i = 0; i < lin->nq; i++)
        ix->col[lin->qidx[i] * n + r] = v[i];
    }
  }
  /* Splits favour what the trainee's own searches weigh; DCR searches weigh every feature alike. */
  cohort_status st = build_tree(ix, geom == CO_GEOM_ENGINE ? t->global.w : NULL);
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
    cohort_status st = index_build(t, CO_GEOM_ENGINE, t->x, t->n, NULL, &ix);
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
  cohort_status st = co_trainee_index(t, &ix);
  for (size_t i = 0; i < t->ntp && st == COHORT_OK; i++) {
    const co_params *pr;
    if (t->tp[i].lin) /* a target's decorrelated index too */
      st = co_trainee_predict_geometry(t, t->tp[i].target, &pr, &ix);
  }
  return st;
}

cohort_status co_index_build(const cohort_trainee *t, co_geometry geom, co_index **out) {
  return index_build(t, geom, t->x, t->n, NULL, out);
}

cohort_status co_index_build_lin(const cohort_trainee *t, const co_lin *lin, co_index **out) {
  if (lin->nq > CO_LIN_MAX)
    return co_error(COHORT_ELIMIT, "index: %zu decorrelated features (at most %d)", lin->nq, CO_LIN_MAX);
  return index_build(t, CO_GEOM_ENGINE, t->x, t->n, lin, out);
}

cohort_status co_trainee_predict_geometry(cohort_trainee *t, size_t target, const co_params **pr,
                                          const co_index **ix) {
  for (size_t i = 0; i < t->ntp; i++) {
    co_target_params *tp = &t->tp[i];
    if (tp->target != target || !tp->lin)
      continue;
    if (!tp->lix || tp->lix->generation != t->generation || tp->lix->n != t->n) {
      co_index *nix = NULL;
      cohort_status st = co_index_build_lin(t, tp->lin, &nix);
      if (st != COHORT_OK)
        return st;
      co_index_free(tp->lix);
      tp->lix = nix;
    }
    *pr = &tp->lparams;
    *ix = tp->lix;
    return COHORT_OK;
  }
  *pr = co_trainee_params_for(t, (long)target);
  return co_trainee_index(t, ix);
}

cohort_status co_index_build_rows(const cohort_trainee *t, co_geometry geom, const double *x, size_t n,
                                  co_index **out) {
  return index_build(t, geom, x, n, NULL, out);
}

void co_index_scale(const co_index *ix, const double *row, float *out) {
  for (size_t f = 0; f < ix->nf; f++)
    out[f] = (float)(row[f] * ix->scale[f]);
  if (ix->lin) {
    float v[CO_LIN_MAX];
    lin_apply(ix->lin, ix->scale, row, v);
    for (size_t i = 0; i < ix->lin->nq; i++)
      out[ix->lin->qidx[i]] = v[i];
  }
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

/* A numeric feature's term for a difference d; the kernels and the bounds both use this
 * expression so that they round alike and a bound never exceeds a term it bounds. */
static inline CO_INLINE float numeric_term(float d, float w, enum pkind k, float p) {
  switch (k) {
  case P_ONE:
    return w * d;
  case P_TWO:
    return w * d * d;
  case P_HALF:
    return w * sqrtf(d);
  default:
    return w * powf(d, p);
  }
}

/* Adds one numeric feature's terms for rows [0, nb) of a leaf. Written per power so that each
 * loop is branch-free and vectorizes. */
#define NUMERIC_LOOP(K)                                                                                      \
  for (size_t j = 0; j < nb; j++) {                                                                          \
    float d = fabsf(q - c[j]);                                                                               \
    float t_ = numeric_term(d, w, K, p);                                                                     \
    D[j] += d == d ? t_ : mp; /* NaN case value: missing */                                                  \
  }

static inline CO_INLINE void add_numeric(float *restrict D, const float *restrict c, size_t nb, float q,
                                         float w, float mp, enum pkind k, float p) {
  switch (k) {
  case P_ONE:
    NUMERIC_LOOP(P_ONE)
    break;
  case P_TWO:
    NUMERIC_LOOP(P_TWO)
    break;
  case P_HALF:
    NUMERIC_LOOP(P_HALF)
    break;
  default:
    NUMERIC_LOOP(P_ANY)
    break;
  }
}

/* Categorical term, or a missing query value (0 where the case is missing too, mp elsewhere). */
static inline CO_INLINE void add_categorical(float *restrict D, const float *restrict c, size_t nb, float q,
                                             float mp) {
  for (size_t j = 0; j < nb; j++)
    D[j] += c[j] == q ? 0.0f : mp;
}

static inline CO_INLINE void add_query_missing(float *restrict D, const float *restrict c, size_t nb,
                                               float mp) {
  for (size_t j = 0; j < nb; j++)
    D[j] += c[j] != c[j] ? 0.0f : mp;
}

/* Whether some row's partial sum is still within thr (NaN rows never are). */
static inline CO_INLINE bool any_within(const float *D, size_t nb, float thr) {
  unsigned within = 0;
  for (size_t j = 0; j < nb; j++)
    within += D[j] <= thr;
  return within != 0;
}

/* One feature's unweighted terms against every row (tree order), as the kernels form them: a
 * numeric |q - c|^p, a categorical 0 or mismatch cost^p, missing against present the missing cost^p. */
void co_index_terms(const co_index *ix, const float *q, size_t f, double p, float *out) {
  size_t n = ix->n;
  const float *c = ix->col + f * n;
  enum pkind pk = p == 1.0 ? P_ONE : p == 2.0 ? P_TWO : p == 0.5 ? P_HALF : P_ANY;
  float pf = (float)p, mp = powp(ix->mcost[f], pk, pf), qf = q[f];
  if (qf != qf) {
    for (size_t j = 0; j < n; j++)
      out[j] = c[j] != c[j] ? 0.0f : mp;
  } else if (ix->cat[f]) {
    for (size_t j = 0; j < n; j++)
      out[j] = c[j] == qf ? 0.0f : mp;
  } else {
    /* One loop per power, so that each is branch-free and vectorizes (analyze's brute-force
     * leave-one-out spent 40% of its time here on a 5,000 x 37 table with the choice inside). */
#define TERMS_LOOP(K)                                                                                        \
  for (size_t j = 0; j < n; j++) {                                                                           \
    float d = fabsf(qf - c[j]);                                                                              \
    out[j] = d == d ? powp(d, K, pf) : mp;                                                                   \
  }
    switch (pk) {
    case P_ONE:
      TERMS_LOOP(P_ONE);
      break;
    case P_TWO:
      TERMS_LOOP(P_TWO);
      break;
    case P_HALF:
      TERMS_LOOP(P_HALF);
      break;
    default:
      TERMS_LOOP(P_ANY);
      break;
    }
#undef TERMS_LOOP
  }
}

/* ---------------------------------------------------------------- selection */

/* A candidate orders by distance, then by its tie-break key (a random draw, or the case index), in
 * one integer: a non-negative float's bits order as the float does. */
typedef struct cand {
  uint64_t dk; /* distance bits << 32 | key */
  uint32_t i;
} cand;

static inline cand make_cand(float d, uint32_t i, uint32_t key) {
  uint32_t bits;
  d = d > 0 ? d : 0.0f; /* -0 has the sign bit */
  memcpy(&bits, &d, sizeof bits);
  return (cand){(uint64_t)bits << 32 | key, i};
}

static inline float cand_d(const cand *c) {
  uint32_t bits = (uint32_t)(c->dk >> 32);
  float d;
  memcpy(&d, &bits, sizeof d);
  return d;
}

static inline bool worse(const cand *a, const cand *b) {
  return a->dk > b->dk;
}

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

/* The query's side of one active feature. Features are grouped by kind (segments), in the same
 * order in the bounds and the kernels. */
typedef struct feat_spec {
  size_t f;
  float q, w, mp;
  unsigned bit; /* categorical: code_bit(q) */
} feat_spec;

enum { K_NUMERIC, K_CATEGORICAL, K_QUERY_MISSING, K_KINDS };

static inline int kind_of(const co_index *ix, const float *q, size_t f) {
  return q[f] != q[f] ? K_QUERY_MISSING : ix->cat[f] ? K_CATEGORICAL : K_NUMERIC;
}

typedef struct segment {
  int kind;
  size_t begin, end; /* specs */
} segment;

/* Random cases drawn per neighbour wanted by sample_equal, at most. */
#define CO_EQUAL_TRIES 16

/* Random ties (rng set): when at least k cases are at distance 0 from the query, the search returns
 * a uniform random k of them, and so does drawing random cases until k distinct ones match the query
 * on every active feature, without visiting the others. On adult's synthesis the first features of
 * a row are drawn from neighbours on one to four others, which thousands of cases match: those
 * searches read most of the tree. Returns k, or 0 (search instead) when CO_EQUAL_TRIES * k draws
 * did not find k, or the first eighth of them found none, or the first quarter fewer than k / 8:
 * a miss costs a few hundred reads. Either way the neighbours come out as the tree search draws
 * them. */
static size_t sample_equal(const co_index *ix, const feat_spec *spec, size_t ns, size_t k, long exclude,
                           long require, co_rng *rng, co_nb *out) {
  size_t n = ix->n, got = 0, tries = CO_EQUAL_TRIES * k;
  if (k > n)
    return 0;
  const float *req = require >= 0 ? ix->col + (size_t)require * n : NULL;
  for (size_t i = 0; i < tries && got < k; i++) {
    if ((i == tries / 8 && got == 0) || (i == tries / 4 && got < k / 8))
      return 0;
    size_t r = co_rng_below(rng, n);
    if (req && req[r] != req[r])
      continue;
    size_t s = 0;
    for (; s < ns; s++) {
      float c = ix->col[spec[s].f * n + r], q = spec[s].q;
      if (!(c == q || (c != c && q != q)))
        break;
    }
    if (s < ns)
      continue;
    uint32_t id = ix->ids[r];
    if ((long)id == exclude)
      continue;
    size_t d = 0;
    while (d < got && out[d].i != id)
      d++;
    if (d == got)
      out[got++] = (co_nb){0.0, id};
  }
  return got == k ? k : 0;
}

typedef struct node_bound {
  float lb;
  uint32_t node;
} node_bound;

/* Lower bound of the distance sum from the query to any case of node k (FLT_MAX: no case there
 * has the required feature). Each term is a lower bound of the same term in the kernels, summed in
 * the same order, so rounding keeps it a lower bound. A numeric box with no present value is
 * [inf, -inf]: its gap is infinite and the missing cost applies. */
static inline CO_INLINE float node_lower_bound(const co_index *ix, size_t k, const feat_spec *spec,
                                               const segment *seg, long require, enum pkind pk, float p) {
  size_t nf = ix->nf;
  const co_range *bx = ix->box + k * nf;
  const uint8_t *pr = ix->presence + k * nf;
  if (require >= 0 && !(pr[require] & CO_LEAF_PRESENT))
    return FLT_MAX;
  float lb = 0;
  for (int g = 0; g < K_KINDS; g++) {
    const feat_spec *s0 = spec + seg[g].begin, *s1 = spec + seg[g].end;
    switch (seg[g].kind) {
    case K_NUMERIC:
      for (const feat_spec *s = s0; s < s1; s++) {
        float below = bx[s->f].r.lo - s->q, above = s->q - bx[s->f].r.hi;
        float gap = below > above ? below : above;
        gap = gap > 0 ? gap : 0.0f;
        float t = numeric_term(gap, s->w, pk, p);
        lb += pr[s->f] & CO_LEAF_MISSING && s->mp < t ? s->mp : t;
      }
      break;
    case K_CATEGORICAL: /* a box with no present value has an empty mask */
      for (const feat_spec *s = s0; s < s1; s++)
        lb += (bx[s->f].mask >> s->bit) & 1 ? 0.0f : s->mp;
      break;
    default:
      for (const feat_spec *s = s0; s < s1; s++)
        lb += pr[s->f] & CO_LEAF_MISSING ? 0.0f : s->mp;
      break;
    }
  }
  return lb;
}

typedef struct knn_state {
  const co_index *ix;
  const feat_spec *spec;
  const segment *seg;
  enum pkind pk;
  float p;
  const float *req; /* column of the feature a neighbour must have, or NULL */
  long exclude;
  co_rng *rng;
  cand *heap;
  size_t k, hn;
  int64_t skip; /* ties to pass over before the next enters (see tie_enters); -1: not drawn */
} knn_state;

/* The distance a case must not exceed to enter the heap. */
static inline float threshold(const knn_state *st) {
  return st->hn == st->k ? cand_d(&st->heap[0]) : INFINITY;
}

/* Random tie-breaking (rng set) with a full heap: a case at the k-th best distance enters when its
 * random key is below the worst kept one's, a chance of p = that key / 2^32. Instead of a key for
 * every tie, the number of ties passed over before the next one enters is drawn at once (geometric
 * with p) and the entrant's key uniform below the worst: the kept set has the same distribution.
 * On adult's synthesis, thousands of cases match a row exactly on its first few features, and every
 * one of them went through the heap with a key of its own: 2.2e9 of the 2.9e9 candidates of its
 * 3.4e6 searches (seed 7). */
static inline void draw_skip(knn_state *st) {
  uint32_t top = (uint32_t)st->heap[0].dk;
  double u = (double)((co_rng_next(st->rng) >> 11) + 1) * 0x1.0p-53; /* (0, 1] */
  double s = top ? floor(log(u) / log1p(-(double)top * 0x1.0p-32)) : INFINITY;
  st->skip = s < 0x1.0p62 ? (int64_t)s : INT64_MAX;
}

static inline bool tie_enters(knn_state *st) {
  if (st->skip < 0)
    draw_skip(st);
  if (st->skip > 0) {
    st->skip--;
    return false;
  }
  st->skip = -1;
  return true;
}

/* Offers case id at distance d to the heap of the k best. */
static inline CO_INLINE void offer(knn_state *st, float d, uint32_t id) {
  cand *heap = st->heap;
  uint32_t key = id;
  if (st->rng) {
    if (st->hn == st->k && d == cand_d(&heap[0])) {
      if (!tie_enters(st))
        return;
      key = (uint32_t)co_rng_below(st->rng, (uint32_t)heap[0].dk);
    } else {
      key = (uint32_t)(co_rng_next(st->rng) >> 32);
    }
  }
  cand c = make_cand(d, id, key);
  if (st->hn < st->k) {
    heap[st->hn] = c;
    sift_up(heap, st->hn++);
  } else if (worse(&heap[0], &c)) {
    heap[0] = c;
    sift_down(heap, st->k, 0);
  } else {
    return;
  }
  st->skip = -1; /* the worst kept changed */
}

/* Whether every case of node k is at distance 0 from the query: on each active feature the box
 * holds the query's value alone (a categorical mask names its codes only below 64), and neither
 * side is missing where the other is not. */
static inline CO_INLINE bool node_equal(const co_index *ix, size_t k, const feat_spec *spec, size_t ns,
                                        long require) {
  size_t nf = ix->nf;
  const co_range *bx = ix->box + k * nf;
  const uint8_t *pr = ix->presence + k * nf;
  if (require >= 0 && pr[require] != CO_LEAF_PRESENT)
    return false;
  for (const feat_spec *s = spec; s < spec + ns; s++) {
    size_t f = s->f;
    float q = s->q;
    if (q != q) {
      if (pr[f] != CO_LEAF_MISSING)
        return false;
    } else if (pr[f] != CO_LEAF_PRESENT) {
      return false;
    } else if (ix->cat[f]) {
      if (!ix->exact_mask[f] || !(q >= 0 && q < 64 && q == floorf(q)) || bx[f].mask != 1ull << s->bit)
        return false;
    } else if (!(bx[f].r.lo == q && bx[f].r.hi == q)) {
      return false;
    }
  }
  return true;
}

/* Offers the rows [r0, r1) of a node whose cases are all at distance 0 (node_equal): once the heap
 * holds k such cases, the rest are ties, passed over in geometric skips without being read. */
static void take_equal(knn_state *st, size_t r0, size_t r1) {
  const uint32_t *ids = st->ix->ids;
  size_t pos = r0;
  while (pos < r1 && !(st->hn == st->k && cand_d(&st->heap[0]) == 0))
    offer(st, 0.0f, ids[pos++]);
  while (pos < r1) {
    if (st->skip < 0)
      draw_skip(st);
    if ((uint64_t)st->skip >= r1 - pos) {
      st->skip -= (int64_t)(r1 - pos);
      return;
    }
    pos += (size_t)st->skip;
    st->skip = 0;
    offer(st, 0.0f, ids[pos++]);
  }
}

/* Distances to every case of leaf node l; the k best so far stay in the heap. Features are added
 * a few at a time, and the leaf is left as soon as every partial sum exceeds the k-th best: terms
 * are never negative, so those cases could not enter the heap. */
static inline CO_INLINE void scan_leaf(knn_state *st, size_t l) {
  const co_index *ix = st->ix;
  size_t n = ix->n, b0 = ix->node[l].r0, nb = ix->node[l].r1 - b0;
  size_t nbp = (nb + CO_PAD - 1) / CO_PAD * CO_PAD;
  float D[CO_LEAF];
  if (st->req)
    for (size_t j = 0; j < nb; j++)
      D[j] = st->req[b0 + j] == st->req[b0 + j] ? 0.0f : NAN; /* NaN: never a candidate */
  else
    memset(D, 0, nb * sizeof *D);
  for (size_t j = nb; j < nbp; j++)
    D[j] = NAN; /* rows past the leaf */
  float thr = threshold(st);
  size_t added = 0;
  for (int g = 0; g < K_KINDS; g++) {
    for (size_t s = st->seg[g].begin; s < st->seg[g].end; s++) {
      const feat_spec *sp = &st->spec[s];
      const float *c = ix->col + sp->f * n + b0;
      switch (st->seg[g].kind) {
      case K_NUMERIC:
        add_numeric(D, c, nbp, sp->q, sp->w, sp->mp, st->pk, st->p);
        break;
      case K_CATEGORICAL:
        add_categorical(D, c, nbp, sp->q, sp->mp);
        break;
      default:
        add_query_missing(D, c, nbp, sp->mp);
        break;
      }
      if (++added % 4 == 0 && !any_within(D, nbp, thr))
        return;
    }
  }
  for (size_t j = 0; j < nb; j++) {
    float d = D[j];
    if (!(d <= thr))
      continue;
    uint32_t id = ix->ids[b0 + j];
    if ((long)id == st->exclude)
      continue;
    offer(st, d, id);
    thr = threshold(st);
  }
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
  node_bound todo_stack[256];
  feat_spec *spec = nf <= 256 ? spec_stack : co_malloc(nf * sizeof *spec);
  cand *heap = k <= CO_K_MAX ? heap_stack : co_malloc(k * sizeof *heap);
  node_bound *todo = ix->depth < 256 ? todo_stack : co_malloc((ix->depth + 1) * sizeof *todo);
  size_t hn = 0;
  if (!spec || !heap || !todo)
    goto out;
  /* Segments by kind, the kind with the larger total cost first and within a kind the costlier
   * feature first, so a leaf's partial sums pass the k-th best distance early. */
  double total[K_KINDS] = {0};
  for (size_t f = 0; f < nf; f++)
    if (m->w[f] > 0)
      total[kind_of(ix, q, f)] += m->w[f] * powp(ix->mcost[f], pk, p);
  segment seg[K_KINDS];
  for (int g = 0; g < K_KINDS; g++) {
    int i = g;
    for (; i > 0 && total[seg[i - 1].kind] < total[g]; i--)
      seg[i] = seg[i - 1];
    seg[i].kind = g;
  }
  size_t ns = 0;
  for (int g = 0; g < K_KINDS; g++) {
    seg[g].begin = ns;
    for (size_t f = 0; f < nf; f++) {
      if (!(m->w[f] > 0))
        continue;
      int kind = kind_of(ix, q, f);
      if (kind != seg[g].kind)
        continue;
      float w = (float)m->w[f];
      feat_spec sp = {f, q[f], w, w * powp(ix->mcost[f], pk, p), kind == K_CATEGORICAL ? code_bit(q[f]) : 0};
      size_t i = ns++;
      for (; i > seg[g].begin && spec[i - 1].mp < sp.mp; i--)
        spec[i] = spec[i - 1];
      spec[i] = sp;
    }
    seg[g].end = ns;
  }
  /* Depth first, the child with the nearer bound first, which sets a tight k-th distance early;
   * a node is skipped when its bound exceeds the k-th best (not when it equals it: a case there
   * may win the tie). The stack holds at most one pending sibling per level. */
  if (rng && (hn = sample_equal(ix, spec, ns, k, exclude, m->require, rng, out)) == k)
    goto out;
  knn_state st = {ix,      spec, seg,  pk, p, m->require >= 0 ? ix->col + (size_t)m->require * n : NULL,
                  exclude, rng,  heap, k,  0, -1};
  size_t top = 0;
  float root = node_lower_bound(ix, 0, spec, seg, m->require, pk, p);
  if (root != FLT_MAX)
    todo[top++] = (node_bound){root, 0};
  while (top) {
    node_bound nb = todo[--top];
    if (nb.lb > threshold(&st))
      continue;
    const co_node *nd = &ix->node[nb.node];
    if (rng && nb.lb == 0 && exclude < 0 && node_equal(ix, nb.node, spec, ns, m->require)) {
      take_equal(&st, nd->r0, nd->r1);
      continue;
    }
    if (!nd->right) {
      scan_leaf(&st, nb.node);
      continue;
    }
    uint32_t a = nb.node + 1, b = nd->right;
    float la = node_lower_bound(ix, a, spec, seg, m->require, pk, p);
    float lb = node_lower_bound(ix, b, spec, seg, m->require, pk, p);
    if (la > lb) {
      uint32_t ti = a;
      a = b;
      b = ti;
      float tl = la;
      la = lb;
      lb = tl;
    }
    if (lb != FLT_MAX)
      todo[top++] = (node_bound){lb, b};
    if (la != FLT_MAX)
      todo[top++] = (node_bound){la, a};
  }
  /* Nearest first: the heap yields the worst remaining candidate. */
  hn = st.hn;
  double invp = 1.0 / m->p;
  for (size_t i = hn; i-- > 0;) {
    double d = cand_d(&heap[0]);
    out[i].d = pk == P_ONE ? d : pk == P_TWO ? sqrt(d) : pow(d, invp);
    out[i].i = heap[0].i;
    heap[0] = heap[i];
    sift_down(heap, i, 0);
  }
out:
  if (spec != spec_stack)
    co_free(spec);
  if (heap != heap_stack)
    co_free(heap);
  if (todo != todo_stack)
    co_free(todo);
  return hn;
}

#ifdef CO_HAVE_AVX2_PATH
__attribute__((target("avx2"))) static size_t knn_avx2(const co_index *ix, const co_metric *m, const float *q,
                                                       size_t k, long exclude, co_rng *rng, co_nb *out) {
  return knn_body(ix, m, q, k, exclude, rng, out);
}
#endif

static size_t knn_base(const co_index *ix, const co_metric *m, const float *q, size_t k, long exclude,
                       co_rng *rng, co_nb *out) {
  return knn_body(ix, m, q, k, exclude, rng, out);
}

size_t co_knn(const co_index *ix, const co_metric *m, const float *q, size_t k, long exclude, co_rng *rng,
              co_nb *out) {
#ifdef CO_HAVE_AVX2_PATH
  if (__builtin_cpu_supports("avx2"))
    return knn_avx2(ix, m, q, k, exclude, rng, out);
#endif
  return knn_base(ix, m, q, k, exclude, rng, out);
}
