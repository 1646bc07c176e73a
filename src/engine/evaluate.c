/* Synthetic-data evaluation with SDMetrics' definitions (sdv-dev/SDMetrics):
 *
 *  Column Shapes (reports/single_table/_properties/column_shapes.py): KSComplement for
 *    continuous/datetime columns, TVComplement for nominal/ordinal/boolean; score = mean.
 *  Column Pair Trends (reports/single_table/_properties/column_pair_trends.py): both numeric =
 *    CorrelationSimilarity (Pearson); otherwise ContingencySimilarity, a numeric column being
 *    discretized with np.histogram_bin_edges(column.dropna()) (10 equal bins) + np.digitize, each
 *    table on its own edges. Current rule (QualityReport thresholds 0.5 / 0.3): a pair counts only
 *    if |r_real| > 0.5 (correlation) or the real Cramer's V > 0.3 (contingency); the older rule
 *    counts every pair. Quality = nanmean(column shapes, pair trends).
 *  Privacy (single_table/privacy/dcr_utils.py, dcr_baseline_protection.py,
 *    dcr_overfitting_protection.py): DCR distance = mean over columns of |x-y| / range(reference)
 *    capped at 1 (range 0: 0/1), categorical 0/1 mismatch, one side missing = 1, both = 0.
 *
 * The DCR search is exact brute force over packed rows: categorical columns first (most likely to
 * mismatch first), then numeric ones, with an early exit once the partial sum reaches the best
 * distance so far; synthetic rows are split across threads. */
#include "co_eval.h"
#include "co_gbm.h"

#include <float.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { T_REAL = 0, T_SYNTH = 1, T_HOLD = 2 };
static const char *const table_names[3] = {"real", "synthetic", "holdout"};

#define DCR_MISSING 1e300 /* numeric missing value in packed DCR rows */
#define DCR_CLAMP 1e250   /* numeric values are clamped to +-this so DCR_MISSING stays apart */

/* One evaluated column: its cells encoded for each table. */
typedef struct ecol {
  size_t feature;
  cohort_ftype type;
  bool numeric;
  long idx[3];       /* column index in each table */
  double *num[3];    /* numeric: value (epoch seconds for datetime), NaN = missing */
  int32_t *code[3];  /* categorical: code into dict, -1 = missing */
  co_dict dict;      /* categorical: raw strings of all tables */
  int32_t *group[3]; /* contingency groups: categorical code (missing = own group) or histogram bin */
  size_t ngroups;    /* categorical: dict.n + 1; numeric: 12 */
} ecol;

typedef struct ectx {
  const cohort_schema *schema;
  const cohort_table *t[3];
  size_t nrows[3];
  size_t ntables; /* 2, or 3 with a holdout */
  cohort_eval_options opt;
  size_t threads;
  size_t nc;
  ecol *c;
  cohort_eval *e;
} ectx;

static cohort_status progress(ectx *x, const char *stage, double f) {
  if (x->opt.progress && x->opt.progress(x->opt.progress_user, stage, f))
    return co_error(COHORT_ECANCELLED, "evaluation cancelled during %s", stage);
  return COHORT_OK;
}

static double nanmean2(double a, double b) {
  if (isnan(a))
    return b;
  if (isnan(b))
    return a;
  return (a + b) / 2;
}

static int cmp_u64(const void *pa, const void *pb) {
  uint64_t a = *(const uint64_t *)pa, b = *(const uint64_t *)pb;
  return (a > b) - (a < b);
}

static int cmp_size(const void *pa, const void *pb) {
  size_t a = *(const size_t *)pa, b = *(const size_t *)pb;
  return (a > b) - (a < b);
}

/* ---------------------------------------------------------------- encoding */

static cohort_status map_columns(ectx *x) {
  const cohort_schema *s = x->schema;
  size_t nf = cohort_schema_features(s), n = 0;
  for (size_t i = 0; i < nf; i++)
    n += !cohort_schema_is_ignored(s, i);
  if (n == 0)
    return co_error(COHORT_EINVAL, "evaluate: the schema has no feature that is not ignored");
  x->c = co_calloc(n, sizeof *x->c);
  if (!x->c)
    return co_nomem();
  for (size_t i = 0; i < nf; i++) {
    if (cohort_schema_is_ignored(s, i))
      continue;
    ecol *c = &x->c[x->nc++];
    c->feature = i;
    c->type = cohort_schema_type(s, i);
    c->numeric = c->type == COHORT_CONTINUOUS || c->type == COHORT_DATETIME;
    const char *name = cohort_schema_name(s, i);
    for (size_t k = 0; k < x->ntables; k++) {
      c->idx[k] = cohort_table_find(x->t[k], name);
      if (c->idx[k] < 0)
        return co_error(COHORT_EINVAL, "evaluate: the %s table has no column '%s' (a feature of the schema)",
                        table_names[k], name);
    }
  }
  return COHORT_OK;
}

static cohort_status encode_column(ectx *x, ecol *c, size_t *invalid) {
  for (size_t k = 0; k < x->ntables; k++) {
    size_t n = x->nrows[k];
    if (c->numeric) {
      double *v = co_malloc(n * sizeof *v);
      if (!v)
        return co_nomem();
      c->num[k] = v;
      for (size_t r = 0; r < n; r++) {
        const char *cell = cohort_table_cell(x->t[k], r, (size_t)c->idx[k]);
        double d = NAN;
        bool ok = true, has_time;
        if (cell) {
          ok =
              c->type == COHORT_DATETIME ? co_parse_datetime(cell, &d, &has_time) : co_parse_number(cell, &d);
          if (!ok || !isfinite(d)) {
            d = NAN;
            (*invalid)++;
          }
        }
        v[r] = d;
      }
    } else {
      int32_t *v = co_malloc(n * sizeof *v);
      if (!v)
        return co_nomem();
      c->code[k] = v;
      for (size_t r = 0; r < n; r++) {
        const char *cell = cohort_table_cell(x->t[k], r, (size_t)c->idx[k]);
        long code = -1;
        if (cell) {
          code = co_dict_add(&c->dict, cell);
          if (code < 0 || code >= INT32_MAX)
            return co_nomem();
        }
        v[r] = (int32_t)code;
      }
    }
  }
  return COHORT_OK;
}

/* np.histogram_bin_edges(values, bins=10) followed by np.digitize(values, edges): a bin is the
 * number of edges <= v (0..11); NaN sorts last and lands in 11, with the maximum. */
static cohort_status discretize(const double *v, size_t n, int32_t *out) {
  double lo = INFINITY, hi = -INFINITY;
  size_t m = 0;
  for (size_t i = 0; i < n; i++) {
    if (isnan(v[i]))
      continue;
    m++;
    if (v[i] < lo)
      lo = v[i];
    if (v[i] > hi)
      hi = v[i];
  }
  if (m == 0) {
    lo = 0;
    hi = 1;
  } else if (lo == hi) {
    lo -= 0.5;
    hi += 0.5;
  }
  double edges[11], step = (hi - lo) / 10; /* np.linspace: start + i * step, last = stop */
  for (int i = 0; i < 10; i++)
    edges[i] = lo + i * step;
  edges[10] = hi;
  for (size_t i = 0; i < n; i++) {
    if (isnan(v[i])) {
      out[i] = 11;
      continue;
    }
    int b = 0;
    while (b < 11 && edges[b] <= v[i])
      b++;
    out[i] = b;
  }
  return COHORT_OK;
}

static cohort_status build_groups(ectx *x, ecol *c) {
  c->ngroups = c->numeric ? 12 : c->dict.n + 1;
  for (size_t k = 0; k < 2; k++) {
    size_t n = x->nrows[k];
    int32_t *g = co_malloc(n * sizeof *g);
    if (!g)
      return co_nomem();
    c->group[k] = g;
    if (c->numeric) {
      discretize(c->num[k], n, g);
    } else {
      for (size_t r = 0; r < n; r++)
        g[r] = c->code[k][r] < 0 ? (int32_t)c->dict.n : c->code[k][r];
    }
  }
  return COHORT_OK;
}

/* ---------------------------------------------------------------- column shapes */

/* pandas .round(14) as in KSComplement (MAX_DECIMALS = sys.float_info.dig - 1). */
static double round14(double v) {
  double y = v * 1e14;
  if (!isfinite(y))
    return v;
  return nearbyint(y) / 1e14;
}

/* Two-sample Kolmogorov-Smirnov statistic of sorted samples: max |F_a - F_b| over all points. */
double co_eval_ks_statistic(const double *a, size_t na, const double *b, size_t nb) {
  size_t i = 0, j = 0;
  double d = 0;
  while (i < na && j < nb) {
    double v = a[i] < b[j] ? a[i] : b[j];
    while (i < na && a[i] == v)
      i++;
    while (j < nb && b[j] == v)
      j++;
    double diff = fabs((double)i / (double)na - (double)j / (double)nb);
    if (diff > d)
      d = diff;
  }
  return d;
}

static cohort_status ks_complement(ectx *x, const ecol *c, co_eval_col *out) {
  double *s[2] = {NULL, NULL};
  size_t m[2] = {0, 0};
  cohort_status st = COHORT_OK;
  for (size_t k = 0; k < 2; k++) {
    s[k] = co_malloc(x->nrows[k] * sizeof *s[k]);
    if (!s[k]) {
      st = co_nomem();
      goto out;
    }
    for (size_t r = 0; r < x->nrows[k]; r++)
      if (!isnan(c->num[k][r]))
        s[k][m[k]++] = round14(c->num[k][r]);
    qsort(s[k], m[k], sizeof *s[k], co_cmp_double);
  }
  if (m[0] == 0 || m[1] == 0) {
    out->score = NAN;
    out->error = "no non-missing values to compare";
  } else {
    out->score = 1.0 - co_eval_ks_statistic(s[0], m[0], s[1], m[1]);
  }
out:
  co_free(s[0]);
  co_free(s[1]);
  return st;
}

/* TVComplement: missing values dropped; sdmetrics.utils.get_frequencies adds 1e-6 to the real
 * count of every category seen only in the synthetic data (and so to the real total). */
double co_eval_tv_complement(const double *rc, const double *sc, size_t ncat) {
  double nr = 0, ns = 0, unseen = 0;
  for (size_t i = 0; i < ncat; i++) {
    nr += rc[i];
    ns += sc[i];
    if (sc[i] > 0 && rc[i] == 0)
      unseen += 1e-6;
  }
  if (nr == 0 || ns == 0)
    return NAN;
  double denom = nr + unseen, tv = 0;
  for (size_t i = 0; i < ncat; i++) {
    if (rc[i] == 0 && sc[i] == 0)
      continue;
    double r = rc[i] == 0 ? 1e-6 : rc[i];
    tv += fabs(sc[i] / ns - r / denom);
  }
  return 1.0 - 0.5 * tv;
}

static cohort_status tv_complement(ectx *x, const ecol *c, co_eval_col *out) {
  size_t L = c->dict.n;
  double *cnt = co_calloc(2 * (L ? L : 1), sizeof *cnt);
  if (!cnt)
    return co_nomem();
  for (size_t k = 0; k < 2; k++)
    for (size_t r = 0; r < x->nrows[k]; r++)
      if (c->code[k][r] >= 0)
        cnt[k * L + (size_t)c->code[k][r]] += 1;
  out->score = co_eval_tv_complement(cnt, cnt + L, L);
  if (isnan(out->score))
    out->error = "no non-missing values to compare";
  co_free(cnt);
  return COHORT_OK;
}

/* ---------------------------------------------------------------- plot data */

static cohort_status numeric_dist(ectx *x, const ecol *c, co_eval_dist *d) {
  double lo = INFINITY, hi = -INFINITY;
  bool integral = true;
  d->real_rows = x->nrows[T_REAL];
  d->synth_rows = x->nrows[T_SYNTH];
  for (size_t k = 0; k < 2; k++) {
    for (size_t r = 0; r < x->nrows[k]; r++) {
      double v = c->num[k][r];
      if (isnan(v)) {
        *(k == 0 ? &d->real_missing : &d->synth_missing) += 1;
        continue;
      }
      if (v < lo)
        lo = v;
      if (v > hi)
        hi = v;
      if (v != floor(v))
        integral = false;
    }
  }
  d->datetime = c->type == COHORT_DATETIME;
  if (lo > hi)
    return COHORT_OK; /* all missing: no bins */
  size_t nb;
  double e0, w;
  if (integral && hi - lo <= 30) {
    nb = (size_t)(hi - lo) + 1;
    e0 = lo - 0.5;
    w = 1;
  } else if (lo == hi) {
    nb = 1;
    e0 = lo - 0.5;
    w = 1;
  } else {
    nb = 20;
    e0 = lo;
    w = (hi - lo) / 20;
  }
  d->edges = co_malloc((nb + 1) * sizeof *d->edges);
  d->real = co_calloc(nb, sizeof *d->real);
  d->synth = co_calloc(nb, sizeof *d->synth);
  if (!d->edges || !d->real || !d->synth)
    return co_nomem();
  d->nbins = nb;
  for (size_t i = 0; i <= nb; i++)
    d->edges[i] = e0 + (double)i * w;
  if (nb == 20)
    d->edges[nb] = hi;
  for (size_t k = 0; k < 2; k++) {
    double *h = k == 0 ? d->real : d->synth;
    for (size_t r = 0; r < x->nrows[k]; r++) {
      double v = c->num[k][r];
      if (isnan(v))
        continue;
      double f = floor((v - e0) / w);
      size_t b = f <= 0 ? 0 : f >= (double)nb ? nb - 1 : (size_t)f;
      h[b] += 1;
    }
  }
  return COHORT_OK;
}

typedef struct catrank {
  size_t code;
  double real, synth;
} catrank;

static int cmp_catrank(const void *pa, const void *pb) {
  const catrank *a = pa, *b = pb;
  if (a->real != b->real)
    return a->real < b->real ? 1 : -1;
  if (a->synth != b->synth)
    return a->synth < b->synth ? 1 : -1;
  return (a->code > b->code) - (a->code < b->code);
}

static cohort_status categorical_dist(ectx *x, const ecol *c, co_eval_dist *d) {
  size_t L = c->dict.n;
  d->real_rows = x->nrows[T_REAL];
  d->synth_rows = x->nrows[T_SYNTH];
  catrank *cr = co_calloc(L ? L : 1, sizeof *cr);
  if (!cr)
    return co_nomem();
  for (size_t i = 0; i < L; i++)
    cr[i].code = i;
  for (size_t k = 0; k < 2; k++)
    for (size_t r = 0; r < x->nrows[k]; r++) {
      int32_t v = c->code[k][r];
      if (v < 0)
        *(k == 0 ? &d->real_missing : &d->synth_missing) += 1;
      else if (k == 0)
        cr[v].real += 1;
      else
        cr[v].synth += 1;
    }
  qsort(cr, L, sizeof *cr, cmp_catrank);
  size_t present = 0;
  while (present < L && (cr[present].real > 0 || cr[present].synth > 0))
    present++;
  size_t top = present < CO_EVAL_TOP_CATEGORIES ? present : CO_EVAL_TOP_CATEGORIES;
  cohort_status st = COHORT_OK;
  double nr = (double)x->nrows[T_REAL], ns = (double)x->nrows[T_SYNTH];
  d->cats = co_calloc(top ? top : 1, sizeof *d->cats);
  d->real = co_calloc(top ? top : 1, sizeof *d->real);
  d->synth = co_calloc(top ? top : 1, sizeof *d->synth);
  if (!d->cats || !d->real || !d->synth) {
    st = co_nomem();
    goto out;
  }
  for (size_t i = 0; i < top; i++) {
    d->cats[i] = co_strdup(c->dict.items[cr[i].code]);
    if (!d->cats[i]) {
      st = co_nomem();
      goto out;
    }
    d->nbins = i + 1;
    d->real[i] = cr[i].real / nr;
    d->synth[i] = cr[i].synth / ns;
  }
  for (size_t i = top; i < present; i++) {
    d->has_other = true;
    d->other_real += cr[i].real / nr;
    d->other_synth += cr[i].synth / ns;
  }
out:
  co_free(cr);
  return st;
}

/* ---------------------------------------------------------------- pair trends */

/* Pearson r over rows where both values are present (scipy.stats.pearsonr after dropna); NaN when
 * fewer than two rows or either side is constant (SDMetrics reports an error: score NaN). */
double co_eval_pearson(const double *a, const double *b, size_t n) {
  double sa = 0, sb = 0;
  size_t m = 0;
  for (size_t i = 0; i < n; i++) {
    if (isnan(a[i]) || isnan(b[i]))
      continue;
    sa += a[i];
    sb += b[i];
    m++;
  }
  if (m < 2)
    return NAN;
  double ma = sa / (double)m, mb = sb / (double)m, sab = 0, saa = 0, sbb = 0;
  double fa = NAN, fb = NAN;
  bool consta = true, constb = true;
  for (size_t i = 0; i < n; i++) {
    if (isnan(a[i]) || isnan(b[i]))
      continue;
    if (isnan(fa)) {
      fa = a[i];
      fb = b[i];
    }
    consta &= a[i] == fa;
    constb &= b[i] == fb;
    double da = a[i] - ma, db = b[i] - mb;
    sab += da * db;
    saa += da * da;
    sbb += db * db;
  }
  if (consta || constb || saa <= 0 || sbb <= 0)
    return NAN;
  double r = sab / (sqrt(saa) * sqrt(sbb));
  return r > 1 ? 1 : r < -1 ? -1 : r;
}

static bool column_constant(const double *v, size_t n) {
  double f = NAN;
  for (size_t i = 0; i < n; i++) {
    if (isnan(v[i]))
      continue;
    if (isnan(f))
      f = v[i];
    else if (v[i] != f)
      return false;
  }
  return true; /* pandas nunique() == 1 (or no value at all: pearsonr fails too) */
}

typedef struct pair_scratch {
  uint32_t *cnt; /* dense: 2 * ga * gb */
  size_t cnt_cap;
  uint64_t *keys; /* sparse: nreal + nsynth */
  size_t keys_cap;
  double *sums; /* row and column sums: 2 * (ga + gb) */
  size_t sums_cap;
} pair_scratch;

typedef struct pair_job {
  ectx *x;
  pair_scratch *scratch; /* one per worker */
  _Atomic size_t done;
  _Atomic int cancel;
} pair_job;

/* Cramer's V (scipy.stats.contingency.association, chi-squared without correction) of a table
 * given as its non-zero cells; rows/cols = marginal counts. NaN if fewer than 2 rows or columns. */
static double cramers_v(double n, double chi_sum, const double *rows, size_t nr, const double *cols,
                        size_t nc) {
  size_t r = 0, c = 0;
  for (size_t i = 0; i < nr; i++)
    r += rows[i] > 0;
  for (size_t j = 0; j < nc; j++)
    c += cols[j] > 0;
  if (n <= 0 || r < 2 || c < 2)
    return NAN;
  double chi2 = n * (chi_sum - 1.0); /* sum (O-E)^2/E = n * (sum O^2/(R C) - 1) */
  if (chi2 < 0)
    chi2 = 0;
  double k = (double)((r < c ? r : c) - 1);
  double v = sqrt(chi2 / n / k);
  return v > 1 ? 1 : v;
}

/* ContingencySimilarity of two group-coded columns plus the real and synthetic Cramer's V. */
static cohort_status contingency(ectx *x, pair_scratch *ps, const ecol *ca, const ecol *cb, co_eval_pair *p) {
  size_t ga = ca->ngroups, gb = cb->ngroups, n[2] = {x->nrows[T_REAL], x->nrows[T_SYNTH]};
  if (co_grow((void **)&ps->sums, &ps->sums_cap, 2 * (ga + gb), sizeof *ps->sums) != 0)
    return co_nomem();
  double chi[2] = {0, 0}, tvd = 0;
  double *rs[2] = {ps->sums, ps->sums + ga}, *cs[2] = {ps->sums + 2 * ga, ps->sums + 2 * ga + gb};
  memset(ps->sums, 0, 2 * (ga + gb) * sizeof *ps->sums);
  for (size_t k = 0; k < 2; k++)
    for (size_t r = 0; r < n[k]; r++) {
      rs[k][ca->group[k][r]] += 1;
      cs[k][cb->group[k][r]] += 1;
    }
  if (ga <= (SIZE_MAX / 2) / gb && ga * gb <= ((size_t)1 << 20)) {
    size_t cells = ga * gb;
    if (co_grow((void **)&ps->cnt, &ps->cnt_cap, 2 * cells, sizeof *ps->cnt) != 0)
      return co_nomem();
    memset(ps->cnt, 0, 2 * cells * sizeof *ps->cnt);
    for (size_t k = 0; k < 2; k++) {
      uint32_t *t = ps->cnt + k * cells;
      for (size_t r = 0; r < n[k]; r++)
        t[(size_t)ca->group[k][r] * gb + (size_t)cb->group[k][r]]++;
    }
    for (size_t i = 0; i < ga; i++)
      for (size_t j = 0; j < gb; j++) {
        double o[2] = {ps->cnt[i * gb + j], ps->cnt[cells + i * gb + j]};
        tvd += fabs(o[0] / (double)n[0] - o[1] / (double)n[1]);
        for (size_t k = 0; k < 2; k++)
          if (o[k] > 0)
            chi[k] += o[k] * o[k] / (rs[k][i] * cs[k][j]);
      }
  } else {
    /* Too many possible cells for a dense table: sort the cell keys of each table and merge. */
    if (co_grow((void **)&ps->keys, &ps->keys_cap, n[0] + n[1], sizeof *ps->keys) != 0)
      return co_nomem();
    uint64_t *key[2] = {ps->keys, ps->keys + n[0]};
    for (size_t k = 0; k < 2; k++) {
      for (size_t r = 0; r < n[k]; r++)
        key[k][r] = (uint64_t)ca->group[k][r] * gb + (uint64_t)cb->group[k][r];
      qsort(key[k], n[k], sizeof *key[k], cmp_u64);
    }
    size_t i[2] = {0, 0};
    while (i[0] < n[0] || i[1] < n[1]) {
      uint64_t kk = i[0] < n[0] ? key[0][i[0]] : UINT64_MAX;
      if (i[1] < n[1] && key[1][i[1]] < kk)
        kk = key[1][i[1]];
      double o[2] = {0, 0};
      for (size_t k = 0; k < 2; k++)
        while (i[k] < n[k] && key[k][i[k]] == kk) {
          o[k] += 1;
          i[k]++;
        }
      size_t a = (size_t)(kk / gb), b = (size_t)(kk % gb);
      tvd += fabs(o[0] / (double)n[0] - o[1] / (double)n[1]);
      for (size_t k = 0; k < 2; k++)
        if (o[k] > 0)
          chi[k] += o[k] * o[k] / (rs[k][a] * cs[k][b]);
    }
  }
  p->score = 1.0 - tvd / 2;
  p->real_value = cramers_v((double)n[0], chi[0], rs[0], ga, cs[0], gb);
  p->synth_value = cramers_v((double)n[1], chi[1], rs[1], ga, cs[1], gb);
  p->kept = !isnan(p->real_value) && p->real_value > CO_EVAL_ASSOC_THRESHOLD;
  return COHORT_OK;
}

static void correlation(ectx *x, const ecol *ca, const ecol *cb, co_eval_pair *p) {
  const double *a[2] = {ca->num[T_REAL], ca->num[T_SYNTH]}, *b[2] = {cb->num[T_REAL], cb->num[T_SYNTH]};
  size_t n[2] = {x->nrows[T_REAL], x->nrows[T_SYNTH]};
  for (size_t k = 0; k < 2; k++)
    if (column_constant(a[k], n[k]) || column_constant(b[k], n[k])) {
      p->score = p->real_value = p->synth_value = NAN;
      p->error = k == 0 ? "constant real data: correlation undefined"
                        : "constant synthetic data: correlation undefined";
      if (k == 1) /* the real correlation is still worth showing */
        p->real_value = co_eval_pearson(a[0], b[0], n[0]);
      return;
    }
  p->real_value = co_eval_pearson(a[0], b[0], n[0]);
  p->synth_value = co_eval_pearson(a[1], b[1], n[1]);
  if (isnan(p->real_value) || isnan(p->synth_value)) {
    p->score = NAN;
    p->error = "correlation undefined";
    return;
  }
  p->score = 1.0 - fabs(p->real_value - p->synth_value) / 2;
  p->kept = fabs(p->real_value) > CO_EVAL_CORR_THRESHOLD;
}

static cohort_status pair_chunk(void *ctx, size_t begin, size_t end, size_t worker) {
  pair_job *j = ctx;
  ectx *x = j->x;
  for (size_t i = begin; i < end; i++) {
    if (atomic_load(&j->cancel))
      return co_error(COHORT_ECANCELLED, "evaluation cancelled during pair trends");
    co_eval_pair *p = &x->e->pairs[i];
    const ecol *ca = &x->c[p->a], *cb = &x->c[p->b];
    p->correlation = ca->numeric && cb->numeric;
    if (p->correlation) {
      correlation(x, ca, cb, p);
    } else {
      cohort_status st = contingency(x, &j->scratch[worker], ca, cb, p);
      if (st != COHORT_OK)
        return st;
    }
    size_t done = atomic_fetch_add(&j->done, 1) + 1;
    if (worker == 0 && progress(x, "pair trends", (double)done / (double)x->e->npairs) != COHORT_OK) {
      atomic_store(&j->cancel, 1);
      return COHORT_ECANCELLED;
    }
  }
  return COHORT_OK;
}

static cohort_status pair_trends(ectx *x) {
  cohort_eval *e = x->e;
  size_t nc = x->nc;
  e->npairs = nc * (nc - 1) / 2;
  if (e->npairs) {
    e->pairs = co_calloc(e->npairs, sizeof *e->pairs);
    if (!e->pairs)
      return co_nomem();
  }
  size_t k = 0;
  for (size_t a = 0; a < nc; a++)
    for (size_t b = a + 1; b < nc; b++) {
      e->pairs[k].a = a;
      e->pairs[k].b = b;
      k++;
    }
  size_t nt = x->threads > 64 ? 64 : x->threads;
  pair_job j = {.x = x};
  atomic_init(&j.done, 0);
  atomic_init(&j.cancel, 0);
  j.scratch = co_calloc(nt, sizeof *j.scratch);
  if (!j.scratch)
    return co_nomem();
  cohort_status st = co_parallel(e->npairs, nt, 1, pair_chunk, &j);
  for (size_t i = 0; i < nt; i++) {
    co_free(j.scratch[i].cnt);
    co_free(j.scratch[i].keys);
    co_free(j.scratch[i].sums);
  }
  co_free(j.scratch);
  if (st != COHORT_OK)
    return st;

  double sum = 0, sum_all = 0;
  size_t n = 0, n_all = 0;
  for (size_t i = 0; i < e->npairs; i++) {
    co_eval_pair *p = &e->pairs[i];
    if (isnan(p->score)) {
      p->kept = false;
      continue;
    }
    sum_all += p->score;
    n_all++;
    if (p->kept) {
      sum += p->score;
      n++;
    }
  }
  e->pairs_kept = n;
  e->pair_trends = n ? sum / (double)n : NAN;
  e->pair_trends_all = n_all ? sum_all / (double)n_all : NAN;
  return progress(x, "pair trends", 1);
}

/* ---------------------------------------------------------------- identical rows */

/* Copies are counted by value, as SDMetrics' NewRowSynthesis matches rows (copies.c): a
 * categorical cell equals the same text, a missing cell only a missing cell, and a number any
 * number within tol * |synthetic value| (tol 0.01 by default, so "5", "5.0" and 5.00000001 are
 * one value). Each synthetic row that matches at least one training row is a copy; it is a rare
 * copy when fewer than k training rows match it (a privacy risk: the row may identify its case)
 * and a common copy otherwise (a row that k or more cases share, which says nothing about one of
 * them). */
/* Row r of table k as copies.c reads rows: numbers, categorical codes, NaN for missing. */
static void copy_row(const ectx *x, size_t k, size_t r, double *out) {
  for (size_t i = 0; i < x->nc; i++) {
    const ecol *c = &x->c[i];
    out[i] = c->numeric ? c->num[k][r] : c->code[k][r] < 0 ? NAN : (double)c->code[k][r];
  }
}

static cohort_status count_identical(ectx *x) {
  size_t n = x->nrows[T_REAL], nc = x->nc;
  double tol = x->opt.copy_tolerance > 0   ? x->opt.copy_tolerance
               : x->opt.copy_tolerance < 0 ? 0.0
                                           : CO_COPY_TOL;
  size_t kmin = x->opt.copy_k ? x->opt.copy_k : CO_COPY_K;
  double *real = co_malloc((n ? n : 1) * (nc ? nc : 1) * sizeof *real);
  double *row = co_malloc((nc ? nc : 1) * sizeof *row), *fw = co_malloc((nc ? nc : 1) * sizeof *fw);
  bool *numeric = co_malloc((nc ? nc : 1) * sizeof *numeric);
  co_copies *cp = NULL;
  cohort_status st = COHORT_OK;
  if (!real || !row || !fw || !numeric) {
    st = co_nomem();
    goto out;
  }
  for (size_t i = 0; i < nc; i++) {
    fw[i] = 1.0;
    numeric[i] = x->c[i].numeric;
  }
  for (size_t r = 0; r < n; r++)
    copy_row(x, T_REAL, r, real + r * nc);
  if ((st = co_copies_build(real, n, nc, numeric, fw, tol, &cp)) != COHORT_OK)
    goto out;
  size_t rare = 0, common = 0;
  for (size_t r = 0; r < x->nrows[T_SYNTH]; r++) {
    copy_row(x, T_SYNTH, r, row);
    size_t found = co_copies_count(cp, row, kmin);
    if (found >= kmin)
      common++;
    else if (found)
      rare++;
  }
  x->e->identical = rare + common;
  x->e->identical_rare = rare;
  x->e->identical_common = common;
  x->e->copy_k = kmin;
  x->e->copy_tolerance = tol;
out:
  co_copies_free(cp);
  co_free(real);
  co_free(row);
  co_free(fw);
  co_free(numeric);
  return st;
}

/* ---------------------------------------------------------------- DCR */

/* A set of rows to measure: one value array per evaluated column (numeric value or categorical
 * code as a double; NaN = missing). */
typedef struct dset {
  size_t n;
  double **v; /* nc arrays of n */
} dset;

static void dset_free(dset *d, size_t nc) {
  if (d->v)
    for (size_t i = 0; i < nc; i++)
      co_free(d->v[i]);
  co_free(d->v);
  memset(d, 0, sizeof *d);
}

static cohort_status dset_alloc(dset *d, size_t nc, size_t n) {
  d->n = n;
  d->v = co_calloc(nc, sizeof *d->v);
  if (!d->v)
    return co_nomem();
  for (size_t i = 0; i < nc; i++) {
    d->v[i] = co_malloc((n ? n : 1) * sizeof *d->v[i]);
    if (!d->v[i])
      return co_nomem();
  }
  return COHORT_OK;
}

static cohort_status dset_from_table(const ectx *x, size_t k, const size_t *idx, size_t n, dset *d) {
  cohort_status st = dset_alloc(d, x->nc, n);
  if (st != COHORT_OK)
    return st;
  for (size_t i = 0; i < x->nc; i++) {
    const ecol *c = &x->c[i];
    for (size_t r = 0; r < n; r++) {
      size_t src = idx ? idx[r] : r;
      d->v[i][r] = c->numeric ? c->num[k][src] : c->code[k][src] < 0 ? NAN : (double)c->code[k][src];
    }
  }
  return COHORT_OK;
}

/* Rows drawn without replacement (all of them when max is 0 or not smaller than n), sorted. */
static cohort_status sample_rows(co_rng *rng, size_t n, size_t max, size_t **out, size_t *m) {
  *out = NULL;
  *m = n;
  if (max == 0 || max >= n)
    return COHORT_OK;
  size_t *p = co_malloc(n * sizeof *p);
  if (!p)
    return co_nomem();
  for (size_t i = 0; i < n; i++)
    p[i] = i;
  for (size_t i = 0; i < max; i++) {
    size_t j = i + co_rng_below(rng, n - i);
    size_t t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  qsort(p, max, sizeof *p, cmp_size);
  *out = p;
  *m = max;
  return COHORT_OK;
}

/* DCRBaselineProtection._generate_random_data: per column of the real table, integers uniform in
 * [min, max] (integer column without missing values), floats/datetimes uniform in [min, max),
 * categories uniform over the distinct observed values; then missing at the real missing rate. */
static cohort_status random_dset(const ectx *x, co_rng *rng, size_t n, dset *d) {
  cohort_status st = dset_alloc(d, x->nc, n);
  if (st != COHORT_OK)
    return st;
  size_t nr = x->nrows[T_REAL];
  for (size_t i = 0; i < x->nc; i++) {
    const ecol *c = &x->c[i];
    double *out = d->v[i];
    size_t missing = 0;
    if (c->numeric) {
      double lo = INFINITY, hi = -INFINITY;
      bool integral = c->type == COHORT_CONTINUOUS;
      for (size_t r = 0; r < nr; r++) {
        double v = c->num[T_REAL][r];
        if (isnan(v)) {
          missing++;
          continue;
        }
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
        if (v != floor(v))
          integral = false;
      }
      integral = integral && missing == 0 && hi - lo < 9e15;
      for (size_t r = 0; r < n; r++) {
        if (lo > hi)
          out[r] = NAN;
        else if (integral)
          out[r] = lo + (double)co_rng_below(rng, (size_t)(hi - lo) + 1);
        else
          out[r] = lo + co_rng_uniform(rng) * (hi - lo);
      }
    } else {
      size_t L = c->dict.n, nseen = 0;
      size_t *seen = co_malloc((L ? L : 1) * sizeof *seen);
      unsigned char *mark = co_calloc(L ? L : 1, 1);
      if (!seen || !mark) {
        co_free(seen);
        co_free(mark);
        return co_nomem();
      }
      for (size_t r = 0; r < nr; r++) {
        int32_t v = c->code[T_REAL][r];
        if (v < 0) {
          missing++;
        } else if (!mark[v]) {
          mark[v] = 1;
          seen[nseen++] = (size_t)v;
        }
      }
      for (size_t r = 0; r < n; r++)
        out[r] = nseen ? (double)seen[co_rng_below(rng, nseen)] : NAN;
      co_free(seen);
      co_free(mark);
    }
    double rate = nr ? (double)missing / (double)nr : 0;
    for (size_t r = 0; r < n; r++)
      if (co_rng_uniform(rng) < rate)
        out[r] = NAN;
  }
  return COHORT_OK;
}

/* Column layout for one reference set. Exact-match columns (categorical, or numeric with a zero or
 * undefined range in the reference: distance 0/1) become small integer codes compared many at a
 * time: 0 = missing (so that missing matches missing), 1..m = the values the reference holds, m+1 =
 * any other value; a constant numeric column has 1 = the reference's value, 2 = any other. A
 * categorical column with too many reference values for 16-bit codes is "wide" and compared per
 * candidate instead. Numeric columns: |x - y| / range, capped at 1. */
typedef struct dcr_layout {
  size_t neq, nwide, nnum;
  int width;        /* bytes per exact-match code: 1 or 2 */
  size_t *eq;       /* neq evaluated columns, most often mismatching first */
  uint32_t **remap; /* categorical exact-match column: dict code -> code */
  uint32_t *other;  /* its code for values absent from the reference (m + 1) */
  double *eqval;    /* constant numeric column: the reference's value (NaN = all missing) */
  size_t *wide;     /* nwide evaluated columns compared exactly per candidate */
  size_t *num;      /* nnum evaluated numeric columns */
  double *inv;      /* 1 / range of each numeric column */
} dcr_layout;

static void layout_free(dcr_layout *l) {
  if (l->remap)
    for (size_t k = 0; k < l->neq; k++)
      co_free(l->remap[k]);
  co_free(l->remap);
  co_free(l->other);
  co_free(l->eq);
  co_free(l->eqval);
  co_free(l->wide);
  co_free(l->num);
  co_free(l->inv);
  memset(l, 0, sizeof *l);
}

typedef struct colorder {
  size_t col;
  double key, val;
  uint32_t *remap;
  uint32_t other;
} colorder;

static int cmp_colorder(const void *pa, const void *pb) {
  const colorder *a = pa, *b = pb;
  if (a->key != b->key)
    return a->key < b->key ? 1 : -1;
  return (a->col > b->col) - (a->col < b->col);
}

static cohort_status make_layout(const ectx *x, const dset *ref, dcr_layout *l) {
  size_t nc = x->nc, neq = 0;
  l->eq = co_malloc(nc * sizeof *l->eq);
  l->remap = co_calloc(nc, sizeof *l->remap);
  l->other = co_malloc(nc * sizeof *l->other);
  l->eqval = co_malloc(nc * sizeof *l->eqval);
  l->wide = co_malloc(nc * sizeof *l->wide);
  l->num = co_malloc(nc * sizeof *l->num);
  l->inv = co_malloc(nc * sizeof *l->inv);
  colorder *eq = co_calloc(nc, sizeof *eq);
  double *freq = NULL;
  cohort_status st = COHORT_OK;
  if (!l->eq || !l->remap || !l->other || !l->eqval || !l->wide || !l->num || !l->inv || !eq) {
    st = co_nomem();
    goto out;
  }
  for (size_t i = 0; i < nc; i++) {
    const ecol *c = &x->c[i];
    const double *v = ref->v[i];
    if (c->numeric) {
      double lo = INFINITY, hi = -INFINITY;
      for (size_t r = 0; r < ref->n; r++) {
        if (isnan(v[r]))
          continue;
        lo = v[r] < lo ? v[r] : lo;
        hi = v[r] > hi ? v[r] : hi;
      }
      double range = hi - lo;
      if (lo <= hi && range > 0 && isfinite(range) && isfinite(1.0 / range)) {
        l->num[l->nnum] = i;
        l->inv[l->nnum++] = 1.0 / range;
      } else {
        /* range 0: SDMetrics scores (diff > 0), i.e. an exact match on the single value */
        eq[neq++] = (colorder){.col = i, .key = 0, .val = lo <= hi ? lo : NAN, .other = 2};
      }
      continue;
    }
    /* Categorical: ordered by the chance that two reference rows differ (1 - sum p^2), so that
       a distant reference row is told apart after as few columns as possible. */
    size_t L = c->dict.n;
    freq = co_calloc(L + 1, sizeof *freq);
    uint32_t *map = co_calloc(L ? L : 1, sizeof *map);
    if (!freq || !map) {
      co_free(map);
      st = co_nomem();
      goto out;
    }
    uint32_t m = 0;
    for (size_t r = 0; r < ref->n; r++) {
      size_t code = isnan(v[r]) ? L : (size_t)v[r];
      freq[code] += 1;
      if (code < L && !map[code])
        map[code] = ++m;
    }
    double s2 = 0;
    for (size_t j = 0; j <= L; j++) {
      double p = ref->n ? freq[j] / (double)ref->n : 0;
      s2 += p * p;
    }
    co_free(freq);
    freq = NULL;
    if (m + 1 > UINT16_MAX) {
      co_free(map);
      l->wide[l->nwide++] = i;
      continue;
    }
    for (size_t j = 0; j < L; j++)
      if (!map[j])
        map[j] = m + 1;
    eq[neq++] = (colorder){.col = i, .key = 1.0 - s2, .val = NAN, .remap = map, .other = m + 1};
  }
  qsort(eq, neq, sizeof *eq, cmp_colorder);
  /* counts must stay below the lane maximum: past 65534 exact-match columns, the rest (all
     categorical, being the least likely to mismatch) are compared per candidate */
  while (neq >= UINT16_MAX) {
    neq--;
    l->wide[l->nwide++] = eq[neq].col;
  }
  l->neq = neq;
  l->width = neq < UINT8_MAX ? 1 : 2;
  for (size_t k = 0; k < neq; k++) {
    l->eq[k] = eq[k].col;
    l->remap[k] = eq[k].remap;
    eq[k].remap = NULL;
    l->other[k] = eq[k].other;
    l->eqval[k] = eq[k].val;
    if (eq[k].other > UINT8_MAX)
      l->width = 2;
  }
out:
  if (eq)
    for (size_t k = 0; k < nc; k++)
      co_free(eq[k].remap);
  co_free(eq);
  co_free(freq);
  return st;
}

/* A set packed for the search: exact-match codes (row-major for the rows searched for,
 * column-major for the reference), then row-major the wide columns' values (missing = -inf, equal
 * only to itself) and the numeric values, clamped, missing = DCR_MISSING, so that a missing side
 * differs by more than any range and two missing sides by nothing. */
typedef struct dcr_pack {
  size_t n;
  void *eq;
  double *wide, *num;
} dcr_pack;

static void pack_free(dcr_pack *p) {
  co_free(p->eq);
  co_free(p->wide);
  co_free(p->num);
  memset(p, 0, sizeof *p);
}

static uint32_t eq_code(const dcr_layout *l, size_t k, double v) {
  if (isnan(v))
    return 0;
  if (l->remap[k])
    return l->remap[k][(size_t)v];
  return v == l->eqval[k] ? 1 : 2;
}

static cohort_status pack(const dset *d, const dcr_layout *l, bool column_major, dcr_pack *p) {
  size_t n = d->n ? d->n : 1, neq = l->neq ? l->neq : 1, nwide = l->nwide ? l->nwide : 1;
  size_t nnum = l->nnum ? l->nnum : 1, w = (size_t)l->width;
  p->n = d->n;
  if (n > SIZE_MAX / sizeof(double) / (neq + nwide + nnum))
    return co_nomem();
  p->eq = co_malloc(neq * n * w);
  p->wide = co_malloc(nwide * n * sizeof *p->wide);
  p->num = co_malloc(nnum * n * sizeof *p->num);
  if (!p->eq || !p->wide || !p->num)
    return co_nomem();
  for (size_t k = 0; k < l->neq; k++) {
    const double *v = d->v[l->eq[k]];
    for (size_t r = 0; r < d->n; r++) {
      size_t at = column_major ? k * d->n + r : r * l->neq + k;
      uint32_t code = eq_code(l, k, v[r]);
      if (w == 1)
        ((uint8_t *)p->eq)[at] = (uint8_t)code;
      else
        ((uint16_t *)p->eq)[at] = (uint16_t)code;
    }
  }
  for (size_t k = 0; k < l->nwide; k++) {
    const double *v = d->v[l->wide[k]];
    for (size_t r = 0; r < d->n; r++)
      p->wide[r * l->nwide + k] = isnan(v[r]) ? -INFINITY : v[r];
  }
  for (size_t k = 0; k < l->nnum; k++) {
    const double *v = d->v[l->num[k]];
    for (size_t r = 0; r < d->n; r++) {
      double y = v[r];
      y = isnan(y) ? DCR_MISSING : y > DCR_CLAMP ? DCR_CLAMP : y < -DCR_CLAMP ? -DCR_CLAMP : y;
      p->num[r * l->nnum + k] = y;
    }
  }
  return COHORT_OK;
}

#define DCR_TILE 8    /* rows searched together, so that a reference block is reused from cache */
#define DCR_BLOCK 512 /* reference rows per block */

typedef struct dcr_job {
  ectx *x;
  const dcr_layout *l;
  const dcr_pack *data, *ref;
  double *out;
  double lo, hi; /* progress span of this pass */
  _Atomic size_t done;
  _Atomic int cancel;
} dcr_job;

/* Distance of one candidate beyond its exact-match mismatches: wide columns, then numeric ones,
 * stopping as soon as the sum reaches bt (the caller then ignores the result). */
static inline double dcr_rest(const dcr_job *j, size_t row, size_t refrow, double dist, double bt) {
  const dcr_layout *l = j->l;
  size_t nw = l->nwide, nn = l->nnum;
  const double *aw = j->data->wide + row * nw, *bw = j->ref->wide + refrow * nw;
  for (size_t k = 0; k < nw; k++) {
    dist += aw[k] != bw[k];
    if (dist >= bt)
      return dist;
  }
  const double *an = j->data->num + row * nn, *bn = j->ref->num + refrow * nn, *inv = l->inv;
  for (size_t k = 0; k < nn; k++) {
    double y = fabs(an[k] - bn[k]) * inv[k];
    dist += y < 1.0 ? y : 1.0;
    if (dist >= bt)
      return dist;
  }
  return dist;
}

/* For each row of a tile and each block of reference rows: the mismatch counts over exact-match
 * columns (loops compilers vectorize, on 8- or 16-bit lanes); a block whose smallest count already
 * reaches the best distance so far is skipped; otherwise the remaining columns are added for the
 * reference rows still below it. Sums are formed in the same column order for every pair. */
#define DCR_SEARCH(NAME, CT)                                                                                 \
  static void NAME(const dcr_job *j, size_t r0, size_t nt, double *best) {                                   \
    const dcr_layout *l = j->l;                                                                              \
    size_t neq = l->neq, nref = j->ref->n;                                                                   \
    const CT *deq = j->data->eq, *req = j->ref->eq;                                                          \
    CT ham[DCR_BLOCK];                                                                                       \
    for (size_t b0 = 0; b0 < nref; b0 += DCR_BLOCK) {                                                        \
      size_t bn = nref - b0 < DCR_BLOCK ? nref - b0 : DCR_BLOCK;                                             \
      for (size_t t = 0; t < nt; t++) {                                                                      \
        double bt = best[t];                                                                                 \
        if (bt == 0)                                                                                         \
          continue;                                                                                          \
        const CT *a = deq + (r0 + t) * neq;                                                                  \
        memset(ham, 0, bn * sizeof *ham);                                                                    \
        for (size_t k = 0; k < neq; k++) {                                                                   \
          const CT *col = req + k * nref + b0, v = a[k];                                                     \
          for (size_t i = 0; i < bn; i++)                                                                    \
            ham[i] += col[i] != v;                                                                           \
        }                                                                                                    \
        /* a count h is below bt exactly when h < ceil(bt) */                                                \
        double cb = ceil(bt);                                                                                \
        CT thr = cb > (double)neq ? (CT)(neq + 1) : (CT)cb, mn = thr;                                        \
        for (size_t i = 0; i < bn; i++)                                                                      \
          mn = ham[i] < mn ? ham[i] : mn;                                                                    \
        if (mn >= thr)                                                                                       \
          continue;                                                                                          \
        for (size_t i = 0; i < bn; i++) {                                                                    \
          if (ham[i] >= thr)                                                                                 \
            continue;                                                                                        \
          double dist = dcr_rest(j, r0 + t, b0 + i, (double)ham[i], bt);                                     \
          if (dist < bt) {                                                                                   \
            bt = dist;                                                                                       \
            if (bt == 0)                                                                                     \
              break;                                                                                         \
            cb = ceil(bt);                                                                                   \
            thr = cb > (double)neq ? (CT)(neq + 1) : (CT)cb;                                                 \
          }                                                                                                  \
        }                                                                                                    \
        best[t] = bt;                                                                                        \
      }                                                                                                      \
    }                                                                                                        \
  }

DCR_SEARCH(search_tile8, uint8_t)
DCR_SEARCH(search_tile16, uint16_t)

static cohort_status dcr_chunk(void *ctx, size_t begin, size_t end, size_t worker) {
  dcr_job *j = ctx;
  double ncols = (double)(j->l->neq + j->l->nwide + j->l->nnum);
  for (size_t r = begin; r < end; r += DCR_TILE) {
    if (atomic_load_explicit(&j->cancel, memory_order_relaxed))
      return co_error(COHORT_ECANCELLED, "evaluation cancelled during privacy");
    size_t nt = end - r < DCR_TILE ? end - r : DCR_TILE;
    double best[DCR_TILE];
    for (size_t t = 0; t < nt; t++)
      best[t] = INFINITY;
    if (j->l->width == 1)
      search_tile8(j, r, nt, best);
    else
      search_tile16(j, r, nt, best);
    for (size_t t = 0; t < nt; t++)
      j->out[r + t] = best[t] / ncols;
    size_t done = atomic_fetch_add_explicit(&j->done, nt, memory_order_relaxed) + nt;
    if (worker == 0 &&
        progress(j->x, "privacy", j->lo + (j->hi - j->lo) * (double)done / (double)j->data->n) != COHORT_OK) {
      atomic_store(&j->cancel, 1);
      return COHORT_ECANCELLED;
    }
  }
  return COHORT_OK;
}

/* calculate_dcr(dataset=data, reference_dataset=ref): out[i] = DCR of data row i. */
static cohort_status calculate_dcr(ectx *x, const dset *data, const dset *ref, double lo, double hi,
                                   double *out) {
  dcr_layout l = {0};
  dcr_pack pd = {0}, pr = {0};
  cohort_status st = make_layout(x, ref, &l);
  if (st == COHORT_OK)
    st = pack(data, &l, false, &pd);
  if (st == COHORT_OK)
    st = pack(ref, &l, true, &pr);
  if (st == COHORT_OK) {
    dcr_job j = {.x = x, .l = &l, .data = &pd, .ref = &pr, .out = out, .lo = lo, .hi = hi};
    atomic_init(&j.done, 0);
    atomic_init(&j.cancel, 0);
    st = co_parallel(data->n, x->threads, 4 * DCR_TILE, dcr_chunk, &j);
  }
  pack_free(&pd);
  pack_free(&pr);
  layout_free(&l);
  return st;
}

/* pandas Series.median: mean of the two middle values for an even count. Sorts v. */
static double median(double *v, size_t n) {
  if (n == 0)
    return NAN;
  qsort(v, n, sizeof *v, co_cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static cohort_status privacy(ectx *x) {
  cohort_eval *e = x->e;
  co_rng rng;
  co_rng_seed(&rng, x->opt.seed);
  size_t *idx[3] = {NULL, NULL, NULL}, m[3] = {0, 0, 0};
  dset ds[3] = {{0}}, rnd = {0};
  double *dcr_synth = NULL, *dcr_rand = NULL, *dcr_hold = NULL;
  cohort_status st = count_identical(x);
  if (st != COHORT_OK)
    goto out;
  size_t order[3] = {T_SYNTH, T_REAL, T_HOLD};
  for (size_t i = 0; i < x->ntables && st == COHORT_OK; i++) {
    size_t k = order[i];
    st = sample_rows(&rng, x->nrows[k], x->opt.max_rows, &idx[k], &m[k]);
    if (st == COHORT_OK)
      st = dset_from_table(x, k, idx[k], m[k], &ds[k]);
  }
  if (st == COHORT_OK)
    st = random_dset(x, &rng, m[T_SYNTH], &rnd);
  if (st != COHORT_OK)
    goto out;
  e->dcr_synth_rows = m[T_SYNTH];
  e->dcr_real_rows = m[T_REAL];
  e->dcr_holdout_rows = m[T_HOLD];

  size_t ns = m[T_SYNTH];
  dcr_synth = co_malloc(ns * sizeof *dcr_synth);
  dcr_rand = co_malloc(ns * sizeof *dcr_rand);
  if (!dcr_synth || !dcr_rand) {
    st = co_nomem();
    goto out;
  }
  double passes = x->ntables == 3 ? 3 : 2;
  st = calculate_dcr(x, &ds[T_SYNTH], &ds[T_REAL], 0, 1 / passes, dcr_synth);
  if (st == COHORT_OK)
    st = calculate_dcr(x, &rnd, &ds[T_REAL], 1 / passes, 2 / passes, dcr_rand);
  if (st == COHORT_OK && x->ntables == 3) {
    dcr_hold = co_malloc(ns * sizeof *dcr_hold);
    if (!dcr_hold)
      st = co_nomem();
    else
      st = calculate_dcr(x, &ds[T_SYNTH], &ds[T_HOLD], 2 / passes, 1, dcr_hold);
  }
  if (st != COHORT_OK)
    goto out;

  if (dcr_hold) {
    size_t closer = 0;
    for (size_t i = 0; i < ns; i++)
      closer += dcr_synth[i] < dcr_hold[i];
    e->closer_to_training = (double)closer / (double)ns;
    double score = (1.0 - e->closer_to_training) * 2;
    e->dcr_overfitting = score < 1 ? score : 1;
    e->median_dcr_holdout = median(dcr_hold, ns);
  }
  e->median_dcr_synth = median(dcr_synth, ns);
  e->median_dcr_random = median(dcr_rand, ns);
  if (e->median_dcr_random != 0 && !isnan(e->median_dcr_random)) {
    double score = e->median_dcr_synth / e->median_dcr_random;
    e->dcr_baseline = score < 1 ? score : 1;
  }
  st = progress(x, "privacy", 1);
out:
  for (size_t k = 0; k < 3; k++) {
    co_free(idx[k]);
    dset_free(&ds[k], x->nc);
  }
  dset_free(&rnd, x->nc);
  co_free(dcr_synth);
  co_free(dcr_rand);
  co_free(dcr_hold);
  return st;
}

/* ---------------------------------------------------------------- train on synthetic */

typedef struct fwd_progress {
  ectx *x;
  const char *stage;
} fwd_progress;

static int forward_progress(void *user, const char *stage, double fraction) {
  fwd_progress *f = user;
  (void)stage;
  return f->x->opt.progress(f->x->opt.progress_user, f->stage, 0.1 + 0.8 * fraction);
}

/* Trains a trainee on one table, predicts the target on the holdout and scores it: accuracy for a
 * categorical target, R^2 for a numeric one. */
/* R^2 of pred against truth over the rows whose truth is present (NaN if none); a row without a
 * prediction is scored as the mean, the baseline. */
static double r2_score(const double *truth, const double *pred, size_t n) {
  double sum = 0, ss_res = 0, ss_tot = 0;
  size_t m = 0;
  for (size_t r = 0; r < n; r++)
    if (!isnan(truth[r])) {
      sum += truth[r];
      m++;
    }
  double mean = m ? sum / (double)m : NAN;
  for (size_t r = 0; r < n; r++) {
    if (isnan(truth[r]))
      continue;
    double p = isfinite(pred[r]) ? pred[r] : mean;
    ss_res += (truth[r] - p) * (truth[r] - p);
    ss_tot += (truth[r] - mean) * (truth[r] - mean);
  }
  return m == 0 ? NAN : ss_tot > 0 ? 1.0 - ss_res / ss_tot : (ss_res == 0 ? 1.0 : 0.0);
}

static cohort_status train_and_score(ectx *x, const cohort_table *train, const char *stage, double *score) {
  cohort_eval *e = x->e;
  const char *target = e->target;
  cohort_trainee *t = NULL;
  cohort_reaction *rx = NULL;
  double *truth = NULL;
  cohort_status st = progress(x, stage, 0);
  if (st == COHORT_OK)
    st = cohort_trainee_create(&t, x->schema);
  if (st == COHORT_OK)
    st = cohort_trainee_train(t, train, NULL);
  if (st == COHORT_OK)
    st = progress(x, stage, 0.1);
  if (st != COHORT_OK)
    goto out;
  fwd_progress fp = {x, stage};
  cohort_analyze_options ao = {
      .size = sizeof ao, .targets = &target, .n_targets = 1, .seed = x->opt.seed, .threads = x->opt.threads};
  if (x->opt.progress) {
    ao.progress = forward_progress;
    ao.progress_user = &fp;
  }
  st = cohort_trainee_analyze(t, &ao);
  if (st != COHORT_OK)
    goto out;
  cohort_react_options ro = {
      .size = sizeof ro, .targets = &target, .n_targets = 1, .threads = x->opt.threads};
  st = cohort_react(t, x->t[T_HOLD], &ro, &rx);
  if (st != COHORT_OK)
    goto out;
  long hc = cohort_table_find(x->t[T_HOLD], target);
  size_t n = x->nrows[T_HOLD], m = 0;
  if (!e->target_numeric) {
    size_t right = 0;
    for (size_t r = 0; r < n; r++) {
      const char *truth_cell = cohort_table_cell(x->t[T_HOLD], r, (size_t)hc);
      if (!truth_cell)
        continue;
      const char *pred = cohort_reaction_value(rx, r, 0);
      m++;
      right += pred && strcmp(pred, truth_cell) == 0;
    }
    *score = m ? (double)right / (double)m : NAN;
  } else {
    truth = co_malloc((n ? 2 * n : 1) * sizeof *truth); /* the true values, then the predictions */
    if (!truth) {
      st = co_nomem();
      goto out;
    }
    bool dt = cohort_schema_type(x->schema, (size_t)cohort_schema_find(x->schema, target)) == COHORT_DATETIME;
    for (size_t r = 0; r < n; r++) {
      const char *cell = cohort_table_cell(x->t[T_HOLD], r, (size_t)hc);
      double v = NAN;
      bool has_time;
      if (cell && !(dt ? co_parse_datetime(cell, &v, &has_time) : co_parse_number(cell, &v)))
        v = NAN;
      truth[r] = v;
      m += !isnan(v);
    }
    double *pred = truth + n;
    for (size_t r = 0; r < n; r++)
      pred[r] = cohort_reaction_number(rx, r, 0);
    *score = r2_score(truth, pred, n);
  }
  e->test_rows = m;
  st = progress(x, stage, 1);
out:
  co_free(truth);
  cohort_reaction_free(rx);
  cohort_trainee_free(t);
  return st;
}

/* Gradient boosting on the columns evaluate encoded, every one but the target as a feature:
 * continuous and datetime as numbers, an ordinal whose levels all read as numbers as those numbers
 * (as the bench's scikit-learn side reads them), the other categorical ones as categories. Trained
 * on table k's rows, scored on the holdout's rows that have the target (accuracy or R^2, as
 * train_and_score). */
static cohort_status gbm_score(ectx *x, size_t k, const char *stage, double *score) {
  cohort_eval *e = x->e;
  size_t nc = x->nc, tc = SIZE_MAX, nf = 0, nt = x->nrows[k], nh = x->nrows[T_HOLD];
  const double **num[2] = {NULL, NULL};
  const int32_t **cat[2] = {NULL, NULL};
  double **owned = NULL; /* numbers of ordinal columns: 2 per column */
  double *pred = NULL;
  int32_t *predc = NULL;
  co_gbm *m = NULL;
  cohort_status st = progress(x, stage, 0);
  if (st != COHORT_OK)
    return st;
  for (size_t i = 0; i < nc; i++)
    if (strcmp(cohort_schema_name(x->schema, x->c[i].feature), e->target) == 0)
      tc = i;
  if (tc == SIZE_MAX) /* check_target found it in the schema, map_columns in every table */
    return co_error(COHORT_EINVAL, "evaluate: target '%s' is not an evaluated column", e->target);
  for (size_t t = 0; t < 2; t++) {
    num[t] = co_calloc(nc, sizeof *num[t]);
    cat[t] = co_calloc(nc, sizeof *cat[t]);
  }
  owned = co_calloc(2 * nc, sizeof *owned);
  if (!num[0] || !num[1] || !cat[0] || !cat[1] || !owned) {
    st = co_nomem();
    goto out;
  }
  for (size_t i = 0; i < nc; i++) {
    ecol *c = &x->c[i];
    if (i == tc)
      continue;
    size_t tabs[2] = {k, T_HOLD};
    bool numbers = c->numeric;
    double *val = NULL;
    if (!numbers && c->type == COHORT_ORDINAL && c->dict.n > 0) {
      val = co_malloc(c->dict.n * sizeof *val);
      if (!val) {
        st = co_nomem();
        goto out;
      }
      numbers = true;
      for (size_t d = 0; d < c->dict.n && numbers; d++)
        numbers = co_parse_number(c->dict.items[d], &val[d]);
    }
    for (size_t t = 0; t < 2 && st == COHORT_OK; t++) {
      if (c->numeric) {
        num[t][nf] = c->num[tabs[t]];
      } else if (numbers) {
        size_t n = x->nrows[tabs[t]];
        double *v = owned[2 * i + t] = co_malloc((n ? n : 1) * sizeof *v);
        if (!v) {
          st = co_nomem();
          break;
        }
        for (size_t r = 0; r < n; r++)
          v[r] = c->code[tabs[t]][r] < 0 ? NAN : val[c->code[tabs[t]][r]];
        num[t][nf] = v;
      } else {
        cat[t][nf] = c->code[tabs[t]];
      }
    }
    co_free(val);
    if (st != COHORT_OK)
      goto out;
    nf++;
  }
  const ecol *target = &x->c[tc];
  co_gbm_data train = {.n = nt, .nf = nf, .num = num[0], .cat = cat[0]};
  co_gbm_data hold = {.n = nh, .nf = nf, .num = num[1], .cat = cat[1]};
  co_gbm_options go = {.seed = x->opt.seed, .threads = x->opt.threads};
  st = co_gbm_fit(&train, target->numeric ? target->num[k] : NULL, target->numeric ? NULL : target->code[k],
                  &go, &m);
  if (st == COHORT_OK)
    st = progress(x, stage, 0.9);
  if (st != COHORT_OK)
    goto out;
  pred = co_malloc((nh ? nh : 1) * sizeof *pred);
  predc = co_malloc((nh ? nh : 1) * sizeof *predc);
  if (!pred || !predc) {
    st = co_nomem();
    goto out;
  }
  st = co_gbm_predict(m, &hold, pred, predc);
  if (st != COHORT_OK)
    goto out;
  if (!target->numeric) {
    size_t n = 0, right = 0;
    for (size_t r = 0; r < nh; r++) {
      int32_t truth = target->code[T_HOLD][r];
      if (truth < 0)
        continue;
      n++;
      right += predc[r] == truth;
    }
    *score = n ? (double)right / (double)n : NAN;
  } else {
    *score = r2_score(target->num[T_HOLD], pred, nh);
  }
  st = progress(x, stage, 1);
out:
  co_gbm_free(m);
  co_free(pred);
  co_free(predc);
  for (size_t i = 0; owned && i < 2 * nc; i++)
    co_free(owned[i]);
  co_free(owned);
  for (size_t t = 0; t < 2; t++) {
    co_free(num[t]);
    co_free(cat[t]);
  }
  return st;
}

static cohort_status check_target(ectx *x) {
  cohort_eval *e = x->e;
  const char *target = x->opt.target;
  if (!target)
    return COHORT_OK;
  long f = cohort_schema_find(x->schema, target);
  if (f < 0 || cohort_schema_is_ignored(x->schema, (size_t)f))
    return co_error(COHORT_EINVAL, "evaluate: target '%s' is not a feature of the schema", target);
  cohort_ftype ty = cohort_schema_type(x->schema, (size_t)f);
  e->target_numeric = ty == COHORT_CONTINUOUS || ty == COHORT_DATETIME;
  e->target = co_strdup(target);
  if (!e->target)
    return co_nomem();
  return COHORT_OK;
}

/* ---------------------------------------------------------------- public */

static void eval_init(cohort_eval *e) {
  e->column_shapes = e->pair_trends = e->pair_trends_all = e->quality = e->quality_all = NAN;
  e->median_dcr_synth = e->median_dcr_random = e->dcr_baseline = NAN;
  e->closer_to_training = e->median_dcr_holdout = e->dcr_overfitting = NAN;
  e->tstr = e->trtr = NAN;
  e->tstr_gbm = e->trtr_gbm = NAN;
}

static void ectx_free(ectx *x) {
  if (!x->c)
    return;
  for (size_t i = 0; i < x->nc; i++) {
    for (size_t k = 0; k < 3; k++) {
      co_free(x->c[i].num[k]);
      co_free(x->c[i].code[k]);
      co_free(x->c[i].group[k]);
    }
    co_dict_free(&x->c[i].dict);
  }
  co_free(x->c);
  x->c = NULL;
}

cohort_status cohort_evaluate(const cohort_schema *schema, const cohort_table *real,
                              const cohort_table *synthetic, const cohort_table *holdout,
                              const cohort_eval_options *opt, cohort_eval **out) {
  if (!schema || !real || !synthetic || !out)
    return co_error(COHORT_EINVAL, "evaluate: schema, real table, synthetic table and result are required");
  ectx x = {.schema = schema, .t = {real, synthetic, holdout}, .ntables = holdout ? 3 : 2};
  cohort_status rs = co_options_read(&x.opt, sizeof x.opt, opt, "evaluate");
  if (rs != COHORT_OK)
    return rs;
  x.threads = co_threads(x.opt.threads);
  for (size_t k = 0; k < x.ntables; k++) {
    x.nrows[k] = cohort_table_rows(x.t[k]);
    if (x.nrows[k] == 0)
      return co_error(COHORT_EINVAL, "evaluate: the %s table has no rows", table_names[k]);
    if (x.nrows[k] >= (size_t)INT32_MAX)
      return co_error(COHORT_ELIMIT, "evaluate: the %s table has too many rows", table_names[k]);
  }
  cohort_eval *e = co_calloc(1, sizeof *e);
  if (!e)
    return co_nomem();
  eval_init(e);
  x.e = e;
  e->real_rows = x.nrows[T_REAL];
  e->synth_rows = x.nrows[T_SYNTH];
  e->holdout_rows = x.nrows[T_HOLD];
  e->has_holdout = holdout != NULL;

  cohort_status st = map_columns(&x);
  if (st == COHORT_OK)
    st = check_target(&x);
  if (st != COHORT_OK)
    goto out;

  /* Column shapes (and the data every later stage uses). */
  e->ncols = x.nc;
  e->cols = co_calloc(x.nc, sizeof *e->cols);
  if (!e->cols) {
    st = co_nomem();
    goto out;
  }
  double sum = 0;
  size_t nsum = 0;
  for (size_t i = 0; i < x.nc && st == COHORT_OK; i++) {
    ecol *c = &x.c[i];
    co_eval_col *ec = &e->cols[i];
    ec->type = c->type;
    ec->numeric = c->numeric;
    ec->name = co_strdup(cohort_schema_name(schema, c->feature));
    if (!ec->name) {
      st = co_nomem();
      break;
    }
    st = encode_column(&x, c, &ec->invalid);
    if (st == COHORT_OK)
      st = c->numeric ? ks_complement(&x, c, ec) : tv_complement(&x, c, ec);
    if (st == COHORT_OK)
      st = c->numeric ? numeric_dist(&x, c, &ec->dist) : categorical_dist(&x, c, &ec->dist);
    if (st == COHORT_OK)
      st = build_groups(&x, c);
    if (st == COHORT_OK && !isnan(ec->score)) {
      sum += ec->score;
      nsum++;
    }
    if (st == COHORT_OK)
      st = progress(&x, "column shapes", (double)(i + 1) / (double)x.nc);
  }
  if (st != COHORT_OK)
    goto out;
  e->column_shapes = nsum ? sum / (double)nsum : NAN;

  st = pair_trends(&x);
  if (st != COHORT_OK)
    goto out;
  e->quality = nanmean2(e->column_shapes, e->pair_trends);
  e->quality_all = nanmean2(e->column_shapes, e->pair_trends_all);

  st = privacy(&x);
  if (st != COHORT_OK)
    goto out;

  if (e->target && holdout) {
    st = train_and_score(&x, synthetic, "train on synthetic", &e->tstr);
    if (st == COHORT_OK)
      st = train_and_score(&x, real, "train on real", &e->trtr);
    if (st != COHORT_OK && st != COHORT_ENOMEM && st != COHORT_ECANCELLED) {
      /* The other scores stand; the report says why this one is missing. */
      char note[600];
      snprintf(note, sizeof note, "training or prediction failed: %s", cohort_errmsg());
      e->tstr = e->trtr = NAN;
      e->tstr_note = co_strdup(note);
      st = e->tstr_note ? COHORT_OK : co_nomem();
    }
    if (st != COHORT_OK)
      goto out;
    /* A few seconds at most on the suite's tables (adult: about 1 s of 30); gbm.c refuses a table
     * whose work would be far more, and the note says so. */
    st = gbm_score(&x, T_SYNTH, "gradient boosting on synthetic", &e->tstr_gbm);
    if (st == COHORT_OK)
      st = gbm_score(&x, T_REAL, "gradient boosting on real", &e->trtr_gbm);
    if (st != COHORT_OK && st != COHORT_ENOMEM && st != COHORT_ECANCELLED) {
      char note[600];
      snprintf(note, sizeof note, "gradient boosting not computed: %s", cohort_errmsg());
      e->tstr_gbm = e->trtr_gbm = NAN;
      e->gbm_note = co_strdup(note);
      st = e->gbm_note ? COHORT_OK : co_nomem();
    }
    if (st != COHORT_OK)
      goto out;
  } else if (e->target) {
    e->tstr_note = co_strdup("no holdout table to test on");
    e->gbm_note = co_strdup("no holdout table to test on");
    if (!e->tstr_note || !e->gbm_note) {
      st = co_nomem();
      goto out;
    }
  }

out:
  ectx_free(&x);
  if (st != COHORT_OK) {
    cohort_eval_free(e);
    return st;
  }
  *out = e;
  return COHORT_OK;
}

void cohort_eval_free(cohort_eval *e) {
  if (!e)
    return;
  for (size_t i = 0; i < e->ncols && e->cols; i++) {
    co_eval_col *c = &e->cols[i];
    co_free(c->name);
    co_free(c->dist.edges);
    if (c->dist.cats)
      for (size_t j = 0; j < c->dist.nbins; j++)
        co_free(c->dist.cats[j]);
    co_free(c->dist.cats);
    co_free(c->dist.real);
    co_free(c->dist.synth);
  }
  co_free(e->cols);
  co_free(e->pairs);
  co_free(e->target);
  co_free(e->tstr_note);
  co_free(e->gbm_note);
  co_free(e);
}

double cohort_eval_quality(const cohort_eval *e) {
  return e ? e->quality : NAN;
}
double cohort_eval_quality_all_pairs(const cohort_eval *e) {
  return e ? e->quality_all : NAN;
}
double cohort_eval_column_shapes(const cohort_eval *e) {
  return e ? e->column_shapes : NAN;
}
double cohort_eval_pair_trends(const cohort_eval *e) {
  return e ? e->pair_trends : NAN;
}
double cohort_eval_dcr_baseline(const cohort_eval *e) {
  return e ? e->dcr_baseline : NAN;
}
double cohort_eval_dcr_overfitting(const cohort_eval *e) {
  return e ? e->dcr_overfitting : NAN;
}
size_t cohort_eval_identical(const cohort_eval *e) {
  return e ? e->identical : 0;
}

size_t cohort_eval_identical_rare(const cohort_eval *e) {
  return e ? e->identical_rare : 0;
}

size_t cohort_eval_identical_common(const cohort_eval *e) {
  return e ? e->identical_common : 0;
}
double cohort_eval_tstr(const cohort_eval *e) {
  return e ? e->tstr : NAN;
}
double cohort_eval_trtr(const cohort_eval *e) {
  return e ? e->trtr : NAN;
}
double cohort_eval_tstr_gbm(const cohort_eval *e) {
  return e ? e->tstr_gbm : NAN;
}
double cohort_eval_trtr_gbm(const cohort_eval *e) {
  return e ? e->trtr_gbm : NAN;
}

/* ---------------------------------------------------------------- JSON */

typedef struct jb {
  bool ok;
} jb;

static json_t *jnum(double v) {
  return isfinite(v) ? json_real(v) : json_null();
}

static void jset(jb *b, json_t *o, const char *key, json_t *v) {
  if (!o || !v || json_object_set_new(o, key, v) != 0)
    b->ok = false;
}

static void jpush(jb *b, json_t *a, json_t *v) {
  if (!a || !v || json_array_append_new(a, v) != 0)
    b->ok = false;
}

static json_t *jarray_d(jb *b, const double *v, size_t n) {
  json_t *a = json_array();
  for (size_t i = 0; i < n; i++)
    jpush(b, a, jnum(v[i]));
  return a;
}

static json_t *jdist(jb *b, const co_eval_col *c) {
  const co_eval_dist *d = &c->dist;
  json_t *o = json_object();
  jset(b, o, "column", json_string(c->name));
  jset(b, o, "real_rows", json_integer((json_int_t)d->real_rows));
  jset(b, o, "synthetic_rows", json_integer((json_int_t)d->synth_rows));
  jset(b, o, "real_missing", json_integer((json_int_t)d->real_missing));
  jset(b, o, "synthetic_missing", json_integer((json_int_t)d->synth_missing));
  if (c->numeric) {
    jset(b, o, "kind", json_string("histogram"));
    jset(b, o, "datetime", json_boolean(d->datetime));
    jset(b, o, "edges", jarray_d(b, d->edges, d->nbins ? d->nbins + 1 : 0));
    jset(b, o, "real", jarray_d(b, d->real, d->nbins));
    jset(b, o, "synthetic", jarray_d(b, d->synth, d->nbins));
  } else {
    jset(b, o, "kind", json_string("categories"));
    json_t *cats = json_array();
    for (size_t i = 0; i < d->nbins; i++)
      jpush(b, cats, json_string(d->cats[i]));
    jset(b, o, "categories", cats);
    jset(b, o, "real", jarray_d(b, d->real, d->nbins));
    jset(b, o, "synthetic", jarray_d(b, d->synth, d->nbins));
    if (d->has_other) {
      json_t *other = json_object();
      jset(b, other, "real", jnum(d->other_real));
      jset(b, other, "synthetic", jnum(d->other_synth));
      jset(b, o, "other", other);
    } else {
      jset(b, o, "other", json_null());
    }
  }
  return o;
}

cohort_status cohort_eval_to_json(const cohort_eval *e, char **out) {
  if (!e || !out)
    return co_error(COHORT_EINVAL, "eval_to_json: evaluation and output are required");
  jb b = {true};
  json_t *root = json_object();

  json_t *rows = json_object();
  jset(&b, rows, "real", json_integer((json_int_t)e->real_rows));
  jset(&b, rows, "synthetic", json_integer((json_int_t)e->synth_rows));
  jset(&b, rows, "holdout", e->has_holdout ? json_integer((json_int_t)e->holdout_rows) : json_null());
  jset(&b, root, "rows", rows);

  json_t *sc = json_object();
  jset(&b, sc, "quality", jnum(e->quality));
  jset(&b, sc, "quality_all_pairs", jnum(e->quality_all));
  jset(&b, sc, "column_shapes", jnum(e->column_shapes));
  jset(&b, sc, "column_pair_trends", jnum(e->pair_trends));
  jset(&b, sc, "column_pair_trends_all_pairs", jnum(e->pair_trends_all));
  jset(&b, sc, "dcr_baseline_protection", jnum(e->dcr_baseline));
  jset(&b, sc, "dcr_overfitting_protection", jnum(e->dcr_overfitting));
  jset(&b, sc, "identical_rows", json_integer((json_int_t)e->identical));
  jset(&b, sc, "identical_rare_rows", json_integer((json_int_t)e->identical_rare));
  jset(&b, sc, "identical_common_rows", json_integer((json_int_t)e->identical_common));
  jset(&b, sc, "tstr", jnum(e->tstr));
  jset(&b, sc, "trtr", jnum(e->trtr));
  jset(&b, sc, "tstr_gbm", jnum(e->tstr_gbm));
  jset(&b, sc, "trtr_gbm", jnum(e->trtr_gbm));
  jset(&b, root, "scores", sc);

  json_t *rules = json_object();
  jset(&b, rules, "real_correlation_threshold", json_real(CO_EVAL_CORR_THRESHOLD));
  jset(&b, rules, "real_association_threshold", json_real(CO_EVAL_ASSOC_THRESHOLD));
  jset(&b, rules, "pairs", json_integer((json_int_t)e->npairs));
  jset(&b, rules, "pairs_kept", json_integer((json_int_t)e->pairs_kept));
  jset(&b, root, "pair_rule", rules);

  json_t *shapes = json_array();
  for (size_t i = 0; i < e->ncols; i++) {
    const co_eval_col *c = &e->cols[i];
    json_t *o = json_object();
    jset(&b, o, "column", json_string(c->name));
    jset(&b, o, "type", json_string(cohort_ftype_name(c->type)));
    jset(&b, o, "metric", json_string(c->numeric ? "KSComplement" : "TVComplement"));
    jset(&b, o, "score", jnum(c->score));
    if (c->error)
      jset(&b, o, "error", json_string(c->error));
    if (c->invalid)
      jset(&b, o, "unparsed_cells", json_integer((json_int_t)c->invalid));
    jpush(&b, shapes, o);
  }
  jset(&b, root, "column_shapes", shapes);

  json_t *pairs = json_array();
  for (size_t i = 0; i < e->npairs; i++) {
    const co_eval_pair *p = &e->pairs[i];
    json_t *o = json_object(), *cols = json_array();
    jpush(&b, cols, json_string(e->cols[p->a].name));
    jpush(&b, cols, json_string(e->cols[p->b].name));
    jset(&b, o, "columns", cols);
    jset(&b, o, "metric", json_string(p->correlation ? "CorrelationSimilarity" : "ContingencySimilarity"));
    jset(&b, o, "score", jnum(p->score));
    jset(&b, o, "association", json_string(p->correlation ? "pearson" : "cramers_v"));
    jset(&b, o, "real", jnum(p->real_value));
    jset(&b, o, "synthetic", jnum(p->synth_value));
    jset(&b, o, "kept", json_boolean(p->kept));
    if (p->error)
      jset(&b, o, "error", json_string(p->error));
    jpush(&b, pairs, o);
  }
  jset(&b, root, "column_pair_trends", pairs);

  json_t *pv = json_object();
  jset(&b, pv, "identical_rows", json_integer((json_int_t)e->identical));
  jset(&b, pv, "identical_rare_rows", json_integer((json_int_t)e->identical_rare));
  jset(&b, pv, "identical_common_rows", json_integer((json_int_t)e->identical_common));
  jset(&b, pv, "copy_k", json_integer((json_int_t)e->copy_k));
  jset(&b, pv, "copy_tolerance", json_real(e->copy_tolerance));
  jset(&b, pv, "synthetic_rows_measured", json_integer((json_int_t)e->dcr_synth_rows));
  jset(&b, pv, "real_rows_measured", json_integer((json_int_t)e->dcr_real_rows));
  json_t *base = json_object();
  jset(&b, base, "score", jnum(e->dcr_baseline));
  jset(&b, base, "median_dcr_synthetic", jnum(e->median_dcr_synth));
  jset(&b, base, "median_dcr_random", jnum(e->median_dcr_random));
  jset(&b, pv, "dcr_baseline_protection", base);
  if (e->has_holdout) {
    json_t *of = json_object();
    jset(&b, of, "score", jnum(e->dcr_overfitting));
    jset(&b, of, "closer_to_training", jnum(e->closer_to_training));
    jset(&b, of, "closer_to_holdout", jnum(isnan(e->closer_to_training) ? NAN : 1 - e->closer_to_training));
    jset(&b, of, "median_dcr_holdout", jnum(e->median_dcr_holdout));
    jset(&b, of, "holdout_rows_measured", json_integer((json_int_t)e->dcr_holdout_rows));
    jset(&b, pv, "dcr_overfitting_protection", of);
  } else {
    jset(&b, pv, "dcr_overfitting_protection", json_null());
  }
  jset(&b, root, "privacy", pv);

  if (e->target) {
    json_t *t = json_object();
    jset(&b, t, "target", json_string(e->target));
    jset(&b, t, "metric", json_string(e->target_numeric ? "r2" : "accuracy"));
    jset(&b, t, "train_on_synthetic", jnum(e->tstr));
    jset(&b, t, "train_on_real", jnum(e->trtr));
    jset(&b, t, "test_rows", json_integer((json_int_t)e->test_rows));
    if (e->tstr_note)
      jset(&b, t, "note", json_string(e->tstr_note));
    json_t *g = json_object();
    jset(&b, g, "learner", json_string("gradient boosting (HistGradientBoosting defaults)"));
    jset(&b, g, "train_on_synthetic", jnum(e->tstr_gbm));
    jset(&b, g, "train_on_real", jnum(e->trtr_gbm));
    if (e->gbm_note)
      jset(&b, g, "note", json_string(e->gbm_note));
    jset(&b, t, "gradient_boosting", g);
    jset(&b, root, "tstr", t);
  } else {
    jset(&b, root, "tstr", json_null());
  }

  json_t *dists = json_array();
  for (size_t i = 0; i < e->ncols; i++)
    jpush(&b, dists, jdist(&b, &e->cols[i]));
  jset(&b, root, "distributions", dists);

  cohort_status st = COHORT_OK;
  size_t flags = JSON_INDENT(2) | JSON_REAL_PRECISION(12);
  size_t n = b.ok && root ? json_dumpb(root, NULL, 0, flags) : 0;
  char *buf = n ? co_malloc(n + 1) : NULL;
  if (!buf || json_dumpb(root, buf, n, flags) != n) {
    co_free(buf);
    st = co_nomem();
  } else {
    buf[n] = '\0';
    *out = buf;
  }
  json_decref(root);
  return st;
}
