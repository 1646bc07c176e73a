/* Histogram-based gradient-boosted trees after scikit-learn's HistGradientBoosting (1.2, module
 * sklearn/ensemble/_hist_gradient_boosting) with its default settings, so that the report's
 * train-on-synthetic figure means what the bench's scikit-learn one means:
 *  - binning (binning.py): a numeric feature's non-missing values get at most 255 bins, cut at the
 *    midpoints between distinct values when there are at most 255 of them, else at the 'midpoint'
 *    percentiles 100 * i / 255; a categorical feature's most frequent 254 categories are bins of
 *    their own; missing values (and unseen categories) have one more bin;
 *  - splits (splitting.pyx): numeric features scan the bins both ways, missing values going right
 *    and then left (the "split on nan" too); categorical ones sort the categories with support of
 *    at least 10 by sum_g / (sum_h + 10) and try the first up to 32 from either end as the left
 *    side; gain G_L^2 / H_L + G_R^2 / H_R - G^2 / H (L2 regularization 0), at least 20 rows and a
 *    hessian of 1e-3 on each side; a feature that had no missing values sends them to the larger
 *    child;
 *  - growth (grower.py): leaf-wise, the leaf with the best gain splits next, up to 31 leaves; the
 *    smaller child's histogram is built, the larger one's is the parent's minus it;
 *  - boosting (gradient_boosting.py): least squares, binary log loss, or multinomial softmax with
 *    one tree per class per iteration; learning rate 0.1; 100 iterations; over 10,000 rows,
 *    early stopping on a seeded 10% validation split (stratified for classes) when the validation
 *    loss has not improved by 1e-7 on the best of the last 10 iterations.
 *
 * Why written here rather than linked: Debian bookworm packages XGBoost 1.7.4 (libxgboost-dev,
 * C API), but it would put a C++ runtime, libgomp and libdmlc under libcohort, its allocations
 * escape co_malloc (so the failure-injection tests and bounded buffers stop at its door), OpenMP's
 * uninstrumented threads are noise for the ThreadSanitizer build, and its defaults (depth-wise
 * trees, hessian-weighted minimum leaves, L2 = 1) are not the judge the bench compares with;
 * LightGBM has no Debian package. The learner the report needs is a few hundred lines.
 *
 * Memory: the binned rows (uint8, features x rows), gradients and hessians (float) and raw
 * predictions (double) per class, and at most one histogram (24 bytes per bin of every feature)
 * per leaf that may still split. Deterministic for a seed; the thread count changes nothing (each
 * thread owns whole features of a histogram). */
#include "co_gbm.h"

#include <float.h>
#include <stdlib.h>
#include <string.h>

#define GBM_MAX_BINS 255 /* non-missing bins of a numeric feature */
#define GBM_MAX_CATS 254 /* categories with a bin of their own (the bench's encoding keeps 254) */
#define GBM_MAX_LEAVES 31
#define GBM_MIN_LEAF 20
#define GBM_LEARNING_RATE 0.1
#define GBM_MAX_ITER 100
#define GBM_L2 0.0
#define GBM_MIN_HESSIAN 1e-3
#define GBM_CAT_SUPPORT 10.0 /* MIN_CAT_SUPPORT: smoothing and least support of a category */
#define GBM_MAX_CAT_THRESHOLD 32
#define GBM_ES_ROWS 10000 /* early stopping above this many rows ('auto') */
#define GBM_ES_FRACTION 0.1
#define GBM_ES_PATIENCE 10
#define GBM_ES_TOL 1e-7
#define GBM_BIN_SAMPLE 200000 /* thresholds come from at most this many rows */
#define GBM_MAX_CLASSES 256   /* one tree per class per iteration */
/* rows x features x trees per iteration: beyond this 100 iterations take minutes (about 3 ns per
 * row and feature of a histogram, ~2.5 histograms' worth of rows per tree); adult is 4e5. */
#define GBM_MAX_WORK 1e8
#define GBM_MAX_HIST_BYTES ((size_t)1 << 30)

typedef struct gfeat {
  bool cat;
  bool has_missing; /* in the training rows */
  uint16_t nbins;   /* non-missing bins; the missing bin is nbins */
  double *thr;      /* numeric: nbins - 1 ascending cut points; a value's bin = cut points below it */
  int32_t *codes;   /* categorical: nbins codes, ascending; a code's bin = its position */
} gfeat;

typedef struct gnode {
  double value;        /* leaf: raw-score step (learning rate applied) */
  int32_t left, right; /* children (indexes in the tree); left < 0 = leaf */
  uint32_t feature;
  uint8_t bin; /* numeric: bins <= bin go left */
  bool cat;    /* categorical: bins in bits go left */
  bool missing_left;
  uint64_t bits[4];
} gnode;

struct co_gbm {
  size_t nf;
  gfeat *f;
  bool classify;
  size_t nclass;    /* classify: classes in the training rows */
  int32_t *classes; /* their codes, ascending */
  size_t tpi;       /* trees per iteration: nclass > 2 ? nclass : 1 */
  double *base;     /* tpi: raw baseline */
  size_t iters;
  gnode *nodes; /* every tree's nodes, one after another */
  size_t nnodes, cap_nodes;
  size_t *roots; /* iters * tpi, iteration-major */
  size_t cap_roots;
};

typedef struct ghist {
  double g, h;
  uint32_t n;
} ghist;

/* ---------------------------------------------------------------- binning */

static int cmp_i32(const void *pa, const void *pb) {
  int32_t a = *(const int32_t *)pa, b = *(const int32_t *)pb;
  return (a > b) - (a < b);
}

/* numpy.percentile(v, q, method="midpoint") on ascending v. */
static double pct_midpoint(const double *v, size_t m, double q) {
  double at = q / 100.0 * (double)(m - 1);
  size_t lo = (size_t)floor(at), hi = (size_t)ceil(at);
  if (hi >= m)
    hi = m - 1;
  return (v[lo] + v[hi]) * 0.5;
}

/* Cut points of a numeric feature from its values on rows (scratch holds rows' worth). */
static cohort_status numeric_bins(gfeat *f, const double *col, const uint32_t *rows, size_t nrows,
                                  double *scratch) {
  size_t m = 0;
  for (size_t i = 0; i < nrows; i++) {
    double v = col[rows[i]];
    if (isnan(v))
      f->has_missing = true;
    else
      scratch[m++] = v;
  }
  f->nbins = 1;
  if (m == 0)
    return COHORT_OK;
  qsort(scratch, m, sizeof *scratch, co_cmp_double);
  size_t distinct = 1;
  for (size_t i = 1; i < m; i++)
    distinct += scratch[i] != scratch[i - 1];
  size_t nthr = distinct <= GBM_MAX_BINS ? distinct - 1 : GBM_MAX_BINS - 1;
  f->thr = co_malloc((nthr ? nthr : 1) * sizeof *f->thr);
  if (!f->thr)
    return co_nomem();
  size_t k = 0;
  if (distinct <= GBM_MAX_BINS) {
    for (size_t i = 1; i < m; i++)
      if (scratch[i] != scratch[i - 1])
        f->thr[k++] = (scratch[i - 1] + scratch[i]) * 0.5;
  } else {
    for (size_t i = 1; i <= nthr; i++) {
      double t = pct_midpoint(scratch, m, 100.0 * (double)i / GBM_MAX_BINS);
      if (k == 0 || t > f->thr[k - 1]) /* repeated cut points would make empty bins */
        f->thr[k++] = t;
    }
  }
  f->nbins = (uint16_t)(k + 1);
  return COHORT_OK;
}

typedef struct catcount {
  int32_t code;
  size_t n;
} catcount;

static int cmp_catcount(const void *pa, const void *pb) {
  const catcount *a = pa, *b = pb;
  if (a->n != b->n)
    return a->n > b->n ? -1 : 1;
  return (a->code > b->code) - (a->code < b->code);
}

/* The most frequent GBM_MAX_CATS categories of a categorical feature get bins (ascending code). */
static cohort_status category_bins(gfeat *f, const int32_t *col, const uint32_t *rows, size_t nrows,
                                   int32_t *scratch) {
  size_t m = 0;
  for (size_t i = 0; i < nrows; i++) {
    int32_t c = col[rows[i]];
    if (c < 0)
      f->has_missing = true;
    else
      scratch[m++] = c;
  }
  f->nbins = 0;
  if (m == 0)
    return COHORT_OK;
  qsort(scratch, m, sizeof *scratch, cmp_i32);
  size_t distinct = 1;
  for (size_t i = 1; i < m; i++)
    distinct += scratch[i] != scratch[i - 1];
  cohort_status st = COHORT_OK;
  catcount *cc = co_malloc(distinct * sizeof *cc);
  if (!cc)
    return co_nomem();
  size_t k = 0;
  for (size_t i = 0; i < m; i++) {
    if (i == 0 || scratch[i] != scratch[i - 1])
      cc[k++] = (catcount){scratch[i], 0};
    cc[k - 1].n++;
  }
  size_t keep = distinct < GBM_MAX_CATS ? distinct : GBM_MAX_CATS;
  if (keep < distinct)
    qsort(cc, distinct, sizeof *cc, cmp_catcount);
  f->codes = co_malloc(keep * sizeof *f->codes);
  if (!f->codes) {
    st = co_nomem();
    goto out;
  }
  for (size_t i = 0; i < keep; i++)
    f->codes[i] = cc[i].code;
  qsort(f->codes, keep, sizeof *f->codes, cmp_i32);
  f->nbins = (uint16_t)keep;
out:
  co_free(cc);
  return st;
}

static uint8_t bin_of_number(const gfeat *f, double v) {
  if (isnan(v))
    return (uint8_t)f->nbins;
  size_t lo = 0, hi = (size_t)f->nbins - 1; /* first cut point >= v = cut points below v */
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (f->thr[mid] < v)
      lo = mid + 1;
    else
      hi = mid;
  }
  return (uint8_t)lo;
}

static uint8_t bin_of_code(const gfeat *f, int32_t c) {
  if (c < 0 || f->nbins == 0)
    return (uint8_t)f->nbins;
  const int32_t *p = bsearch(&c, f->codes, f->nbins, sizeof c, cmp_i32);
  return (uint8_t)(p ? (size_t)(p - f->codes) : f->nbins);
}

/* bins[f * nrows + i] = the bin of x's row rows[i] (rows NULL: row i). */
static void bin_rows(const co_gbm *m, const co_gbm_data *x, const uint32_t *rows, size_t nrows,
                     uint8_t *bins) {
  for (size_t j = 0; j < m->nf; j++) {
    const gfeat *f = &m->f[j];
    uint8_t *out = bins + j * nrows;
    for (size_t i = 0; i < nrows; i++) {
      size_t r = rows ? rows[i] : i;
      out[i] = f->cat ? bin_of_code(f, x->cat[j][r]) : bin_of_number(f, x->num[j][r]);
    }
  }
}

/* ---------------------------------------------------------------- one tree */

typedef struct gsplit {
  double gain;
  uint32_t feature;
  uint8_t bin;
  bool cat, missing_left;
  uint64_t bits[4];
} gsplit;

typedef struct gleaf {
  uint32_t start, end; /* its rows: idx[start, end) */
  double g, h;
  int32_t node;
  ghist *hist; /* NULL once split or final */
  bool splittable;
  gsplit split;
} gleaf;

typedef struct grow {
  const co_gbm *m;
  size_t n;
  const uint8_t *bins; /* nf * n */
  const float *g, *h;  /* n */
  uint32_t *idx, *tmp; /* n: rows, partitioned by leaf; scratch */
  float *og, *oh;      /* n: gradients in a leaf's row order */
  size_t *hoff;        /* nf + 1: feature j's bins are hist[hoff[j] .. hoff[j+1]) (missing last) */
  size_t hsize;
  ghist **pool; /* free histograms */
  size_t npool;
  size_t threads;
  gnode *tree; /* up to 2 * GBM_MAX_LEAVES - 1 nodes */
  size_t ntree;
  gleaf leaves[2 * GBM_MAX_LEAVES];
  size_t nleaves;
} grow;

typedef struct hist_job {
  grow *gr;
  const gleaf *leaf;
  ghist *out;
} hist_job;

static cohort_status hist_chunk(void *ctx, size_t begin, size_t end, size_t worker) {
  hist_job *j = ctx;
  grow *gr = j->gr;
  const uint32_t *rows = gr->idx + j->leaf->start;
  size_t nr = j->leaf->end - j->leaf->start;
  for (size_t f = begin; f < end; f++) {
    ghist *hs = j->out + gr->hoff[f];
    memset(hs, 0, (gr->hoff[f + 1] - gr->hoff[f]) * sizeof *hs);
    const uint8_t *b = gr->bins + f * gr->n;
    for (size_t i = 0; i < nr; i++) {
      ghist *e = &hs[b[rows[i]]];
      e->g += gr->og[i];
      e->h += gr->oh[i];
      e->n++;
    }
  }
  return COHORT_OK;
}

static cohort_status build_hist(grow *gr, const gleaf *leaf, ghist *out) {
  const uint32_t *rows = gr->idx + leaf->start;
  size_t nr = leaf->end - leaf->start;
  for (size_t i = 0; i < nr; i++) {
    gr->og[i] = gr->g[rows[i]];
    gr->oh[i] = gr->h[rows[i]];
  }
  hist_job j = {gr, leaf, out};
  size_t threads = nr * gr->m->nf < 65536 ? 1 : gr->threads; /* below: a thread costs more than it saves */
  return co_parallel(gr->m->nf, threads, 1, hist_chunk, &j);
}

static double split_gain(double gl, double hl, double gr_, double hr, double g, double h) {
  return gl * gl / (hl + GBM_L2) + gr_ * gr_ / (hr + GBM_L2) - g * g / (h + GBM_L2);
}

static void set_bit(uint64_t *bits, size_t b) {
  bits[b >> 6] |= (uint64_t)1 << (b & 63);
}

static bool has_bit(const uint64_t *bits, size_t b) {
  return (bits[b >> 6] >> (b & 63)) & 1;
}

static void best_numeric(const gfeat *f, uint32_t fi, const ghist *hs, const gleaf *lf, uint32_t n,
                         gsplit *best) {
  size_t nb = f->nbins;
  double gl = 0, hl = 0;
  uint32_t nl = 0;
  /* Left to right, missing values right; with missing values the last bin too (split on nan). */
  size_t end = nb - 1 + (f->has_missing ? 1 : 0);
  for (size_t b = 0; b < end; b++) {
    gl += hs[b].g;
    hl += hs[b].h;
    nl += hs[b].n;
    if (nl < GBM_MIN_LEAF || hl < GBM_MIN_HESSIAN)
      continue;
    double hr = lf->h - hl;
    if (n - nl < GBM_MIN_LEAF || hr < GBM_MIN_HESSIAN)
      break;
    double gain = split_gain(gl, hl, lf->g - gl, hr, lf->g, lf->h);
    if (gain > best->gain) {
      *best = (gsplit){.gain = gain, .feature = fi, .bin = (uint8_t)b, .missing_left = false};
    }
  }
  if (!f->has_missing || nb < 2)
    return;
  /* Right to left, missing values left. */
  double gr_ = 0, hr = 0;
  uint32_t nr = 0;
  for (size_t b = nb - 1; b-- > 0;) {
    gr_ += hs[b + 1].g;
    hr += hs[b + 1].h;
    nr += hs[b + 1].n;
    if (nr < GBM_MIN_LEAF || hr < GBM_MIN_HESSIAN)
      continue;
    double hl2 = lf->h - hr;
    if (n - nr < GBM_MIN_LEAF || hl2 < GBM_MIN_HESSIAN)
      break;
    double gain = split_gain(lf->g - gr_, hl2, gr_, hr, lf->g, lf->h);
    if (gain > best->gain) {
      *best = (gsplit){.gain = gain, .feature = fi, .bin = (uint8_t)b, .missing_left = true};
    }
  }
}

typedef struct catinfo {
  double value;
  uint16_t bin;
} catinfo;

static int cmp_catinfo(const void *pa, const void *pb) {
  const catinfo *a = pa, *b = pb;
  if (a->value != b->value)
    return a->value < b->value ? -1 : 1;
  return (a->bin > b->bin) - (a->bin < b->bin);
}

static void best_category(const gfeat *f, uint32_t fi, const ghist *hs, const gleaf *lf, uint32_t n,
                          gsplit *best) {
  catinfo ci[GBM_MAX_CATS + 1];
  size_t used = 0;
  double support = lf->h > 0 ? (double)n / lf->h : 0; /* hessian -> rows */
  size_t last = f->nbins + (f->has_missing ? 1 : 0);  /* the missing bin is a category too */
  for (size_t b = 0; b < last; b++) {
    if (hs[b].h * support >= GBM_CAT_SUPPORT)
      ci[used++] = (catinfo){hs[b].g / (hs[b].h + GBM_CAT_SUPPORT), (uint16_t)b};
  }
  if (used <= 1)
    return;
  qsort(ci, used, sizeof *ci, cmp_catinfo);
  size_t most = (used + 1) / 2;
  if (most > GBM_MAX_CAT_THRESHOLD)
    most = GBM_MAX_CAT_THRESHOLD;
  long best_i = -1;
  int best_dir = 0;
  for (int dir = 0; dir < 2; dir++) {
    double gl = 0, hl = 0;
    uint32_t nl = 0;
    for (size_t i = 0; i < most; i++) {
      const ghist *e = &hs[ci[dir == 0 ? i : used - 1 - i].bin];
      gl += e->g;
      hl += e->h;
      nl += e->n;
      if (nl < GBM_MIN_LEAF || hl < GBM_MIN_HESSIAN)
        continue;
      double hr = lf->h - hl;
      if (n - nl < GBM_MIN_LEAF || hr < GBM_MIN_HESSIAN)
        break;
      double gain = split_gain(gl, hl, lf->g - gl, hr, lf->g, lf->h);
      if (gain > best->gain) {
        best->gain = gain;
        best_i = (long)i;
        best_dir = dir;
      }
    }
  }
  if (best_i < 0)
    return;
  gsplit s = {.gain = best->gain, .feature = fi, .cat = true};
  for (long i = 0; i <= best_i; i++)
    set_bit(s.bits, ci[best_dir == 0 ? (size_t)i : used - 1 - (size_t)i].bin);
  s.missing_left = has_bit(s.bits, f->nbins);
  *best = s;
}

/* The leaf's best split (gain > 0), from its histogram. */
static void find_split(grow *gr, gleaf *lf) {
  uint32_t n = lf->end - lf->start;
  gsplit best = {.gain = 0};
  bool any = false;
  for (size_t j = 0; j < gr->m->nf; j++) {
    const gfeat *f = &gr->m->f[j];
    gsplit cand = {.gain = best.gain};
    if (f->cat)
      best_category(f, (uint32_t)j, lf->hist + gr->hoff[j], lf, n, &cand);
    else
      best_numeric(f, (uint32_t)j, lf->hist + gr->hoff[j], lf, n, &cand);
    if (cand.gain > best.gain) {
      best = cand;
      any = true;
    }
  }
  lf->splittable = any;
  lf->split = best;
}

static bool goes_left(const gnode *nd, const gfeat *f, uint8_t b) {
  if (b == f->nbins)
    return nd->missing_left;
  return nd->cat ? has_bit(nd->bits, b) : b <= nd->bin;
}

static ghist *hist_take(grow *gr) {
  return gr->npool ? gr->pool[--gr->npool] : co_malloc(gr->hsize * sizeof(ghist));
}

static void hist_give(grow *gr, gleaf *lf) {
  if (lf->hist)
    gr->pool[gr->npool++] = lf->hist; /* the pool holds as many as can be out at once */
  lf->hist = NULL;
}

static double leaf_value(double g, double h) {
  if (!(h + GBM_L2 > 1e-300))
    return 0; /* every row already certain (log loss): nothing to step */
  return -g / (h + GBM_L2) * GBM_LEARNING_RATE;
}

/* A leaf with a histogram: its split, or final when too small. */
static void consider(grow *gr, gleaf *lf) {
  lf->splittable = false;
  if (lf->end - lf->start >= 2 * GBM_MIN_LEAF)
    find_split(gr, lf);
  if (!lf->splittable)
    hist_give(gr, lf);
}

static cohort_status split_leaf(grow *gr, size_t li) {
  gleaf *p = &gr->leaves[li];
  const gsplit *s = &p->split;
  const gfeat *f = &gr->m->f[s->feature];
  gnode *nd = &gr->tree[p->node];
  nd->feature = s->feature;
  nd->bin = s->bin;
  nd->cat = s->cat;
  nd->missing_left = s->missing_left;
  memcpy(nd->bits, s->bits, sizeof nd->bits);
  /* Stable partition of the leaf's rows. */
  const uint8_t *b = gr->bins + (size_t)s->feature * gr->n;
  uint32_t nl = 0, nr = 0;
  double gl = 0, hl = 0;
  for (uint32_t i = p->start; i < p->end; i++) {
    uint32_t r = gr->idx[i];
    if (goes_left(nd, f, b[r])) {
      gr->idx[p->start + nl++] = r;
      gl += gr->g[r];
      hl += gr->h[r];
    } else {
      gr->tmp[nr++] = r;
    }
  }
  memcpy(gr->idx + p->start + nl, gr->tmp, nr * sizeof *gr->tmp);
  if (!f->has_missing) /* missing values never seen here: they follow the majority */
    nd->missing_left = nl > nr;
  int32_t ln = (int32_t)gr->ntree++, rn = (int32_t)gr->ntree++;
  nd->left = ln;
  nd->right = rn;
  gr->tree[ln] = (gnode){.left = -1, .right = -1};
  gr->tree[rn] = (gnode){.left = -1, .right = -1};
  gleaf L = {.start = p->start, .end = p->start + nl, .g = gl, .h = hl, .node = ln};
  gleaf R = {.start = p->start + nl, .end = p->end, .g = p->g - gl, .h = p->h - hl, .node = rn};
  ghist *ph = p->hist;
  p->hist = NULL;
  cohort_status st = COHORT_OK;
  bool want = L.end - L.start >= 2 * GBM_MIN_LEAF || R.end - R.start >= 2 * GBM_MIN_LEAF;
  if (want) {
    gleaf *small = nl <= nr ? &L : &R, *large = nl <= nr ? &R : &L;
    small->hist = hist_take(gr);
    if (!small->hist) {
      st = co_nomem();
      goto out;
    }
    st = build_hist(gr, small, small->hist);
    if (st != COHORT_OK)
      goto out;
    for (size_t k = 0; k < gr->hsize; k++) {
      ph[k].g -= small->hist[k].g;
      ph[k].h -= small->hist[k].h;
      ph[k].n -= small->hist[k].n;
    }
    large->hist = ph;
    ph = NULL;
    consider(gr, &L);
    consider(gr, &R);
  }
  gr->leaves[li] = L;
  gr->leaves[gr->nleaves++] = R;
out:
  if (ph)
    gr->pool[gr->npool++] = ph;
  if (st != COHORT_OK) {
    gleaf *ls[2] = {&L, &R};
    for (size_t k = 0; k < 2; k++)
      if (ls[k]->hist)
        gr->pool[gr->npool++] = ls[k]->hist;
  }
  return st;
}

/* Grows one tree on gr->g, gr->h into gr->tree; then adds its leaves' values to raw (n). */
static cohort_status grow_tree(grow *gr, double *raw) {
  gr->ntree = 1;
  gr->tree[0] = (gnode){.left = -1, .right = -1};
  gr->nleaves = 1;
  gleaf *root = &gr->leaves[0];
  *root = (gleaf){.start = 0, .end = (uint32_t)gr->n, .node = 0};
  for (size_t i = 0; i < gr->n; i++) {
    root->g += gr->g[i];
    root->h += gr->h[i];
    gr->idx[i] = (uint32_t)i;
  }
  cohort_status st = COHORT_OK;
  if (gr->n >= 2 * GBM_MIN_LEAF) {
    root->hist = hist_take(gr);
    if (!root->hist)
      return co_nomem();
    st = build_hist(gr, root, root->hist);
    if (st != COHORT_OK)
      goto out;
    consider(gr, root);
  }
  while (gr->nleaves < GBM_MAX_LEAVES) {
    size_t pick = SIZE_MAX;
    for (size_t i = 0; i < gr->nleaves; i++)
      if (gr->leaves[i].splittable &&
          (pick == SIZE_MAX || gr->leaves[i].split.gain > gr->leaves[pick].split.gain))
        pick = i;
    if (pick == SIZE_MAX)
      break;
    st = split_leaf(gr, pick);
    if (st != COHORT_OK)
      goto out;
  }
  for (size_t i = 0; i < gr->nleaves; i++) {
    gleaf *lf = &gr->leaves[i];
    double v = leaf_value(lf->g, lf->h);
    gr->tree[lf->node].value = v;
    for (uint32_t k = lf->start; k < lf->end; k++)
      raw[gr->idx[k]] += v;
  }
out:
  for (size_t i = 0; i < gr->nleaves; i++)
    hist_give(gr, &gr->leaves[i]);
  return st;
}

/* ---------------------------------------------------------------- the model */

static double tree_value(const co_gbm *m, const gnode *t, const uint8_t *bins, size_t stride, size_t row) {
  const gnode *nd = t;
  while (nd->left >= 0) {
    const gfeat *f = &m->f[nd->feature];
    nd = t + (goes_left(nd, f, bins[(size_t)nd->feature * stride + row]) ? nd->left : nd->right);
  }
  return nd->value;
}

static cohort_status keep_tree(co_gbm *m, const gnode *tree, size_t n) {
  if (co_grow((void **)&m->nodes, &m->cap_nodes, m->nnodes + n, sizeof *m->nodes) != 0 ||
      co_grow((void **)&m->roots, &m->cap_roots, (m->iters + 1) * m->tpi, sizeof *m->roots) != 0)
    return co_nomem();
  memcpy(m->nodes + m->nnodes, tree, n * sizeof *tree);
  m->nnodes += n;
  return COHORT_OK;
}

/* Softmax of the tpi raw scores of a row (stride n) into p (nclass). */
static void probabilities(const co_gbm *m, const double *raw, size_t n, size_t r, double *p) {
  if (m->tpi == 1) {
    double z = raw[r];
    p[1] = 1.0 / (1.0 + exp(-z));
    p[0] = 1.0 - p[1];
    return;
  }
  double mx = -DBL_MAX, s = 0;
  for (size_t k = 0; k < m->tpi; k++)
    if (raw[k * n + r] > mx)
      mx = raw[k * n + r];
  for (size_t k = 0; k < m->tpi; k++)
    s += p[k] = exp(raw[k * n + r] - mx);
  for (size_t k = 0; k < m->tpi; k++)
    p[k] /= s;
}

/* Mean loss of raw (tpi x n) against targets: half squared error, or cross entropy. */
static double mean_loss(const co_gbm *m, const double *raw, size_t n, const double *y, const uint32_t *yk,
                        double *p) {
  double s = 0;
  for (size_t r = 0; r < n; r++) {
    if (!m->classify) {
      double d = raw[r] - y[r];
      s += 0.5 * d * d;
    } else {
      probabilities(m, raw, n, r, p);
      double q = p[yk[r]];
      s -= log(q > 1e-300 ? q : 1e-300);
    }
  }
  return n ? s / (double)n : 0;
}

/* Gradients and hessians of every tree of an iteration (tpi x n) at raw. */
static void gradients(const co_gbm *m, const double *raw, size_t n, const double *y, const uint32_t *yk,
                      float *g, float *h, double *p) {
  for (size_t r = 0; r < n; r++) {
    if (!m->classify) {
      g[r] = (float)(raw[r] - y[r]);
      h[r] = 1.0f;
      continue;
    }
    probabilities(m, raw, n, r, p);
    if (m->tpi == 1) {
      g[r] = (float)(p[1] - (yk[r] == 1));
      h[r] = (float)(p[1] * p[0]);
    } else {
      for (size_t k = 0; k < m->tpi; k++) {
        g[k * n + r] = (float)(p[k] - (yk[r] == k));
        h[k * n + r] = (float)(p[k] * (1.0 - p[k]));
      }
    }
  }
}

void co_gbm_free(co_gbm *m) {
  if (!m)
    return;
  for (size_t j = 0; j < m->nf && m->f; j++) {
    co_free(m->f[j].thr);
    co_free(m->f[j].codes);
  }
  co_free(m->f);
  co_free(m->classes);
  co_free(m->base);
  co_free(m->nodes);
  co_free(m->roots);
  co_free(m);
}

size_t co_gbm_iterations(const co_gbm *m) {
  return m ? m->iters : 0;
}

static cohort_status check_data(const co_gbm_data *x, const char *what) {
  if (!x || (x->nf && (!x->num || !x->cat)))
    return co_error(COHORT_EINVAL, "gbm: %s: the features are required", what);
  for (size_t j = 0; j < x->nf; j++)
    if ((x->num[j] != NULL) == (x->cat[j] != NULL))
      return co_error(COHORT_EINVAL, "gbm: %s: feature %zu must be numeric or categorical, one of the two",
                      what, j);
  return COHORT_OK;
}

typedef struct fit_ctx {
  uint32_t *rows; /* training rows of x, then validation rows */
  size_t ntrain, nval;
  double *ytr, *yval;
  uint32_t *ktr, *kval;
  uint8_t *btr, *bval;
  double *raw, *rawval;
  float *g, *h;
  double *p;
  grow gr;
} fit_ctx;

static void fit_ctx_free(fit_ctx *c) {
  co_free(c->rows);
  co_free(c->ytr);
  co_free(c->yval);
  co_free(c->ktr);
  co_free(c->kval);
  co_free(c->btr);
  co_free(c->bval);
  co_free(c->raw);
  co_free(c->rawval);
  co_free(c->g);
  co_free(c->h);
  co_free(c->p);
  co_free(c->gr.idx);
  co_free(c->gr.tmp);
  co_free(c->gr.og);
  co_free(c->gr.oh);
  co_free(c->gr.hoff);
  co_free(c->gr.tree);
  for (size_t i = 0; c->gr.pool && i < c->gr.npool; i++)
    co_free(c->gr.pool[i]);
  co_free(c->gr.pool);
}

static size_t class_index(const co_gbm *m, int32_t code) {
  const int32_t *p = bsearch(&code, m->classes, m->nclass, sizeof code, cmp_i32);
  return (size_t)(p - m->classes);
}

/* Picks the training and validation rows (c->rows: train first), the classes, the targets. */
static cohort_status prepare_rows(co_gbm *m, fit_ctx *c, const co_gbm_data *x, const double *y,
                                  const int32_t *yc, co_rng *rng) {
  size_t n = 0;
  c->rows = co_malloc((x->n ? x->n : 1) * sizeof *c->rows);
  if (!c->rows)
    return co_nomem();
  for (size_t r = 0; r < x->n; r++)
    if (yc ? yc[r] >= 0 : !isnan(y[r]))
      c->rows[n++] = (uint32_t)r;
  if (n == 0)
    return co_error_in("target", co_error(COHORT_EINVAL, "gbm: target: every value is missing"));
  if (m->classify) {
    int32_t *cl = co_malloc(n * sizeof *cl);
    if (!cl)
      return co_nomem();
    for (size_t i = 0; i < n; i++)
      cl[i] = yc[c->rows[i]];
    qsort(cl, n, sizeof *cl, cmp_i32);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
      if (k == 0 || cl[i] != cl[k - 1])
        cl[k++] = cl[i];
    m->classes = cl;
    m->nclass = k;
    if (k > GBM_MAX_CLASSES)
      return co_error_in("target",
                         co_error(COHORT_ELIMIT, "gbm: target: %zu classes, at most %d", k, GBM_MAX_CLASSES));
    m->tpi = k > 2 ? k : 1;
  }
  c->ntrain = n;
  c->nval = 0;
  if (n > GBM_ES_ROWS) {
    /* Validation rows: a seeded 10%, per class for a categorical target (stratified). */
    co_rng_shuffle(rng, c->rows, n);
    size_t want = (size_t)ceil(GBM_ES_FRACTION * (double)n);
    if (m->classify) {
      /* Rows grouped by class, each group in shuffled order (a counting sort); each class gives its
       * share to the validation rows, rounded so that the shares add up to the 10%. */
      size_t K = m->nclass;
      size_t *end = co_calloc(K + 1, sizeof *end);
      uint32_t *sorted = co_malloc(n * sizeof *sorted);
      if (!end || !sorted) {
        co_free(end);
        co_free(sorted);
        return co_nomem();
      }
      for (size_t i = 0; i < n; i++)
        end[class_index(m, yc[c->rows[i]]) + 1]++;
      for (size_t k = 0; k < K; k++)
        end[k + 1] += end[k];
      for (size_t i = 0; i < n; i++) /* end[k] moves from class k's start to its end */
        sorted[end[class_index(m, yc[c->rows[i]])]++] = c->rows[i];
      size_t nv = 0, nt = 0;
      double owed = 0;
      for (size_t k = 0; k < K; k++) {
        size_t from = k ? end[k - 1] : 0, cnt = end[k] - from;
        owed += GBM_ES_FRACTION * (double)cnt;
        size_t take = (size_t)floor(owed + 0.5);
        if (take > cnt)
          take = cnt;
        if (nv + take > want)
          take = want - nv;
        owed -= (double)take;
        for (size_t i = 0; i < cnt; i++) /* validation rows into sorted's front (already read) */
          if (i < take)
            sorted[nv++] = sorted[from + i];
          else
            c->rows[nt++] = sorted[from + i];
      }
      memcpy(c->rows + nt, sorted, nv * sizeof *sorted);
      co_free(end);
      co_free(sorted);
      c->ntrain = nt;
      c->nval = nv;
    } else {
      c->ntrain = n - want;
      c->nval = want;
    }
  }
  size_t sets[2] = {c->ntrain, c->nval};
  for (int s = 0; s < 2; s++) {
    size_t k = sets[s] ? sets[s] : 1;
    const uint32_t *rows = c->rows + (s ? c->ntrain : 0);
    if (m->classify) {
      uint32_t *t = co_malloc(k * sizeof *t);
      if (!t)
        return co_nomem();
      *(s ? &c->kval : &c->ktr) = t;
      for (size_t i = 0; i < sets[s]; i++)
        t[i] = (uint32_t)class_index(m, yc[rows[i]]);
    } else {
      double *t = co_malloc(k * sizeof *t);
      if (!t)
        return co_nomem();
      *(s ? &c->yval : &c->ytr) = t;
      for (size_t i = 0; i < sets[s]; i++)
        t[i] = y[rows[i]];
    }
  }
  return COHORT_OK;
}

/* Bins of every feature from the training rows (at most GBM_BIN_SAMPLE of them, seeded). */
static cohort_status make_bins(co_gbm *m, fit_ctx *c, const co_gbm_data *x, co_rng *rng) {
  size_t ns = c->ntrain < GBM_BIN_SAMPLE ? c->ntrain : GBM_BIN_SAMPLE;
  uint32_t *sample = co_malloc((ns ? ns : 1) * sizeof *sample);
  double *scratch = co_malloc((ns ? ns : 1) * sizeof *scratch);
  cohort_status st = COHORT_OK;
  if (!sample || !scratch) {
    st = co_nomem();
    goto out;
  }
  if (ns < c->ntrain) { /* a seeded sample without repeats: a partial shuffle of a copy */
    uint32_t *all = co_malloc(c->ntrain * sizeof *all);
    if (!all) {
      st = co_nomem();
      goto out;
    }
    memcpy(all, c->rows, c->ntrain * sizeof *all);
    for (size_t i = 0; i < ns; i++) {
      size_t j = i + co_rng_below(rng, c->ntrain - i);
      uint32_t t = all[i];
      all[i] = all[j];
      all[j] = t;
    }
    memcpy(sample, all, ns * sizeof *sample);
    co_free(all);
  } else {
    memcpy(sample, c->rows, ns * sizeof *sample);
  }
  for (size_t j = 0; j < m->nf && st == COHORT_OK; j++) {
    gfeat *f = &m->f[j];
    f->cat = x->cat[j] != NULL;
    st = f->cat ? category_bins(f, x->cat[j], sample, ns, (int32_t *)scratch)
                : numeric_bins(f, x->num[j], sample, ns, scratch);
  }
out:
  co_free(sample);
  co_free(scratch);
  return st;
}

cohort_status co_gbm_fit(const co_gbm_data *x, const double *y, const int32_t *yc, const co_gbm_options *opt,
                         co_gbm **out) {
  if (!out)
    return co_error(COHORT_EINVAL, "gbm: the result is required");
  *out = NULL;
  cohort_status st = check_data(x, "fit");
  if (st != COHORT_OK)
    return st;
  if ((y != NULL) == (yc != NULL))
    return co_error_in(
        "target", co_error(COHORT_EINVAL, "gbm: target: one numeric or one categorical target is required"));
  if (x->n == 0)
    return co_error_in("rows", co_error(COHORT_EINVAL, "gbm: rows: there are no training rows"));
  if (x->n >= UINT32_MAX)
    return co_error(COHORT_ELIMIT, "gbm: rows: %zu training rows, at most %u", x->n, UINT32_MAX - 1);
  co_gbm_options o = opt ? *opt : (co_gbm_options){0};
  size_t max_iter = o.max_iter ? o.max_iter : GBM_MAX_ITER;
  co_rng rng;
  co_rng_seed(&rng, o.seed);
  fit_ctx c = {0};
  co_gbm *m = co_calloc(1, sizeof *m);
  if (!m)
    return co_nomem();
  m->nf = x->nf;
  m->classify = yc != NULL;
  m->tpi = 1;
  m->f = co_calloc(x->nf ? x->nf : 1, sizeof *m->f);
  if (!m->f) {
    st = co_nomem();
    goto out;
  }
  st = prepare_rows(m, &c, x, y, yc, &rng);
  if (st == COHORT_OK)
    st = make_bins(m, &c, x, &rng);
  if (st != COHORT_OK)
    goto out;
  size_t n = c.ntrain, nv = c.nval, tpi = m->tpi;
  if ((double)n * (double)(x->nf ? x->nf : 1) * (double)tpi > GBM_MAX_WORK) {
    st = co_error_in("rows",
                     co_error(COHORT_ELIMIT,
                              "gbm: rows: %zu rows x %zu features x %zu trees per iteration is more work "
                              "than the judge takes (%.0e)",
                              n, x->nf, tpi, GBM_MAX_WORK));
    goto out;
  }
  grow *gr = &c.gr;
  gr->m = m;
  gr->n = n;
  gr->threads = co_threads(o.threads);
  gr->hoff = co_malloc((x->nf + 1) * sizeof *gr->hoff);
  if (!gr->hoff) {
    st = co_nomem();
    goto out;
  }
  gr->hoff[0] = 0;
  for (size_t j = 0; j < x->nf; j++)
    gr->hoff[j + 1] = gr->hoff[j] + m->f[j].nbins + 1u;
  gr->hsize = gr->hoff[x->nf] ? gr->hoff[x->nf] : 1;
  if (gr->hsize > GBM_MAX_HIST_BYTES / sizeof(ghist) / (GBM_MAX_LEAVES + 2)) {
    st = co_error(COHORT_ELIMIT, "gbm: features: %zu bins in all is too many for the histograms", gr->hsize);
    goto out;
  }
  m->base = co_calloc(tpi, sizeof *m->base);
  c.btr = co_malloc((x->nf ? x->nf : 1) * n);
  c.bval = co_malloc((x->nf ? x->nf : 1) * (nv ? nv : 1));
  c.raw = co_malloc(tpi * n * sizeof *c.raw);
  c.rawval = co_malloc(tpi * (nv ? nv : 1) * sizeof *c.rawval);
  c.g = co_malloc(tpi * n * sizeof *c.g);
  c.h = co_malloc(tpi * n * sizeof *c.h);
  c.p = co_malloc((m->nclass > 2 ? m->nclass : 2) * sizeof *c.p);
  gr->idx = co_malloc(n * sizeof *gr->idx);
  gr->tmp = co_malloc(n * sizeof *gr->tmp);
  gr->og = co_malloc(n * sizeof *gr->og);
  gr->oh = co_malloc(n * sizeof *gr->oh);
  gr->tree = co_malloc((2 * GBM_MAX_LEAVES) * sizeof *gr->tree);
  gr->pool = co_calloc(2 * GBM_MAX_LEAVES + 2, sizeof *gr->pool);
  if (!m->base || !c.btr || !c.bval || !c.raw || !c.rawval || !c.g || !c.h || !c.p || !gr->idx || !gr->tmp ||
      !gr->og || !gr->oh || !gr->tree || !gr->pool) {
    st = co_nomem();
    goto out;
  }
  bin_rows(m, x, c.rows, n, c.btr);
  bin_rows(m, x, c.rows + n, nv, c.bval);

  /* Baseline: the mean, the log odds, or each class's log share (scikit-learn's). */
  if (!m->classify) {
    double s = 0;
    for (size_t i = 0; i < n; i++)
      s += c.ytr[i];
    m->base[0] = s / (double)n;
  } else {
    for (size_t i = 0; i < n; i++)
      m->base[tpi == 1 ? 0 : c.ktr[i]] += tpi == 1 ? (c.ktr[i] == 1) : 1.0;
    for (size_t k = 0; k < tpi; k++) {
      double p = m->base[k] / (double)n;
      p = p < 1e-15 ? 1e-15 : p > 1 - 1e-15 ? 1 - 1e-15 : p;
      m->base[k] = tpi == 1 ? log(p / (1 - p)) : log(p);
    }
  }
  for (size_t k = 0; k < tpi; k++) {
    for (size_t i = 0; i < n; i++)
      c.raw[k * n + i] = m->base[k];
    for (size_t i = 0; i < nv; i++)
      c.rawval[k * nv + i] = m->base[k];
  }
  if (m->classify && m->nclass < 2)
    goto done; /* one class: the baseline says it */

  double *scores = co_malloc((max_iter + 1) * sizeof *scores); /* validation losses, lower is better */
  if (!scores) {
    st = co_nomem();
    goto out;
  }
  if (nv)
    scores[0] = mean_loss(m, c.rawval, nv, c.yval, c.kval, c.p);
  gr->bins = c.btr;
  for (size_t it = 0; it < max_iter; it++) {
    gradients(m, c.raw, n, c.ytr, c.ktr, c.g, c.h, c.p);
    bool all_single = true;
    for (size_t k = 0; k < tpi && st == COHORT_OK; k++) {
      gr->g = c.g + k * n;
      gr->h = c.h + k * n;
      st = grow_tree(gr, c.raw + k * n);
      if (st == COHORT_OK)
        st = keep_tree(m, gr->tree, gr->ntree);
      if (st != COHORT_OK)
        break;
      m->roots[it * tpi + k] = m->nnodes - gr->ntree;
      all_single &= gr->ntree == 1;
      const gnode *t = m->nodes + m->roots[it * tpi + k];
      for (size_t i = 0; i < nv; i++)
        c.rawval[k * nv + i] += tree_value(m, t, c.bval, nv, i);
    }
    if (st != COHORT_OK)
      break;
    m->iters = it + 1;
    if (all_single)
      break; /* no split anywhere: later iterations would add nothing */
    if (nv) {
      scores[it + 1] = mean_loss(m, c.rawval, nv, c.yval, c.kval, c.p);
      if (it + 1 >= GBM_ES_PATIENCE) {
        /* scikit-learn's _should_stop on -loss: stop unless a recent one beat the reference by tol. */
        double ref = scores[it + 1 - GBM_ES_PATIENCE];
        bool better = false;
        for (size_t k = it + 2 - GBM_ES_PATIENCE; k <= it + 1; k++)
          better |= scores[k] < ref - GBM_ES_TOL;
        if (!better)
          break;
      }
    }
  }
  co_free(scores);
  if (st != COHORT_OK)
    goto out;
done:
  *out = m;
  m = NULL;
out:
  fit_ctx_free(&c);
  co_gbm_free(m);
  return st;
}

cohort_status co_gbm_predict(const co_gbm *m, const co_gbm_data *x, double *y, int32_t *yc) {
  if (!m)
    return co_error(COHORT_EINVAL, "gbm: predict: the model is required");
  cohort_status st = check_data(x, "predict");
  if (st != COHORT_OK)
    return st;
  if (x->nf != m->nf)
    return co_error(COHORT_EINVAL, "gbm: predict: %zu features, the model has %zu", x->nf, m->nf);
  for (size_t j = 0; j < m->nf; j++)
    if ((x->cat[j] != NULL) != m->f[j].cat)
      return co_error(COHORT_EINVAL, "gbm: predict: feature %zu is %s, the model's is %s", j,
                      x->cat[j] ? "categorical" : "numeric", m->f[j].cat ? "categorical" : "numeric");
  if (m->classify ? !yc : !y)
    return co_error(COHORT_EINVAL, "gbm: predict: the output for a %s target is required",
                    m->classify ? "categorical" : "numeric");
  if (x->n == 0)
    return COHORT_OK;
  /* Rows in blocks: the bins of a block, then every tree on them. */
  enum { BLOCK = 1024 };
  uint8_t *bins = co_malloc((m->nf ? m->nf : 1) * BLOCK);
  double *raw = co_malloc(m->tpi * BLOCK * sizeof *raw);
  uint32_t *rows = co_malloc(BLOCK * sizeof *rows);
  if (!bins || !raw || !rows) {
    st = co_nomem();
    goto out;
  }
  for (size_t b0 = 0; b0 < x->n; b0 += BLOCK) {
    size_t nb = x->n - b0 < BLOCK ? x->n - b0 : BLOCK;
    for (size_t i = 0; i < nb; i++)
      rows[i] = (uint32_t)(b0 + i);
    bin_rows(m, x, rows, nb, bins);
    for (size_t k = 0; k < m->tpi; k++)
      for (size_t i = 0; i < nb; i++)
        raw[k * nb + i] = m->base[k];
    for (size_t it = 0; it < m->iters; it++)
      for (size_t k = 0; k < m->tpi; k++) {
        const gnode *t = m->nodes + m->roots[it * m->tpi + k];
        for (size_t i = 0; i < nb; i++)
          raw[k * nb + i] += tree_value(m, t, bins, nb, i);
      }
    for (size_t i = 0; i < nb; i++) {
      if (!m->classify) {
        y[b0 + i] = raw[i];
        continue;
      }
      size_t best = 0;
      if (m->nclass < 2) {
        best = 0;
      } else if (m->tpi == 1) {
        best = raw[i] > 0;
      } else {
        for (size_t k = 1; k < m->tpi; k++)
          if (raw[k * nb + i] > raw[best * nb + i])
            best = k;
      }
      yc[b0 + i] = m->classes[best];
    }
  }
out:
  co_free(bins);
  co_free(raw);
  co_free(rows);
  return st;
}
