/* How strongly each pair of features goes together, from the cases: Cramér's V between two
 * categorical features, |Pearson| between two numeric ones and the correlation ratio (eta) between
 * a categorical and a numeric one. All three lie in [0, 1] and are 1 when one feature fixes the
 * other. Missing values are skipped pair by pair. Synthesis uses them to weight the features a
 * neighbour search matches on by how much they say about the feature being drawn.
 *
 * Where levels are many for the cases, V and eta are bias-corrected rather than cut off (elsewhere,
 * adult's 20,000-case sample included, they are as before). They used to score 0 when a table had
 * more cells than cases or a level for fewer than 10 cases: boston's town (77 levels in 253 cases)
 * then went with nothing, was drawn from a random case, and the rest of the row never matched it
 * (town-level zn, indus, tax, ptratio from another town). Corrected, town goes with tax, ptratio,
 * zn and indus at 1.0. Boston, 8-seed means (test_quality_suite), quality 0.806 -> 0.815, DCR
 * overfitting protection 0.698 -> 0.719, engine train-on-synthetic 0.477 -> 0.544 (gradient
 * boosting 0.683 -> 0.700; 0.878 on the real rows); the other suite tables' figures are unchanged.
 * Correcting every pair (adult's weak pairs of many cells among them) also moved soybean's
 * train-on-synthetic 0.768 -> 0.776 but vehicle's 0.604 -> 0.590, penguins' 0.963 -> 0.948 and
 * adult's DCR overfitting protection to 0.970 at seed 7. */
#include "co_trainee.h"

#include <string.h>

/* Largest contingency table counted; pairs of categorical features with more cells score 0 (the
 * sample could not fill them). */
#define CO_ASSOC_CELLS (1u << 16)

typedef struct assoc_ctx {
  const cohort_trainee *t;
  size_t step, m; /* every step-th case, m of them */
  double *counts; /* a contingency table and its margins, or a categorical's counts and sums */
} assoc_ctx;

static double row_value(const assoc_ctx *c, size_t s, size_t f) {
  return c->t->x[s * c->step * c->t->nf + f];
}

static size_t levels(const cohort_trainee *t, size_t f) {
  return t->schema.f[f].levels.n;
}

static double cramers_v(const assoc_ctx *c, size_t a, size_t b) {
  size_t ra = levels(c->t, a), rb = levels(c->t, b);
  if (ra < 2 || rb < 2 || ra * rb > CO_ASSOC_CELLS)
    return 0;
  double *o = c->counts, *rs = o + ra * rb, *cs = rs + ra, n = 0;
  memset(o, 0, (ra * rb + ra + rb) * sizeof *o);
  for (size_t s = 0; s < c->m; s++) {
    double u = row_value(c, s, a), v = row_value(c, s, b);
    if (isnan(u) || isnan(v))
      continue;
    size_t i = (size_t)u, k = (size_t)v;
    o[i * rb + k] += 1;
    rs[i] += 1;
    cs[k] += 1;
    n += 1;
  }
  size_t nr = 0, nc = 0;
  for (size_t i = 0; i < ra; i++)
    nr += rs[i] > 0;
  for (size_t k = 0; k < rb; k++)
    nc += cs[k] > 0;
  if (n < 2 || nr < 2 || nc < 2)
    return 0;
  double sum = 0; /* chi^2 / n + 1 */
  for (size_t i = 0; i < ra; i++)
    for (size_t k = 0; k < rb; k++)
      if (o[i * rb + k] > 0)
        sum += o[i * rb + k] * o[i * rb + k] / (rs[i] * cs[k]);
  if (ra * rb <= c->m)
    return fmin(sqrt(fmax(sum - 1, 0) / (double)((nr < nc ? nr : nc) - 1)), 1.0);
  /* More cells than cases: bias-corrected (Bergsma 2013), phi^2 less what independent features score
   * on n cases and the level counts shrunk alike, so sparsity measures no association, not a spurious one. */
  double ka = (double)nr, kb = (double)nc;
  double phi2 = fmax(fmax(sum - 1, 0) - (ka - 1) * (kb - 1) / (n - 1), 0);
  ka -= (ka - 1) * (ka - 1) / (n - 1);
  kb -= (kb - 1) * (kb - 1) / (n - 1);
  double den = fmin(ka, kb) - 1;
  return den > 0 ? fmin(sqrt(phi2 / den), 1.0) : 0;
}

static double pearson(const assoc_ctx *c, size_t a, size_t b) {
  double n = 0, ma = 0, mb = 0, saa = 0, sbb = 0, sab = 0;
  for (size_t s = 0; s < c->m; s++) { /* Welford's update, one pass */
    double u = row_value(c, s, a), v = row_value(c, s, b);
    if (isnan(u) || isnan(v))
      continue;
    n += 1;
    double du = u - ma, dv = v - mb;
    ma += du / n;
    mb += dv / n;
    saa += du * (u - ma);
    sbb += dv * (v - mb);
    sab += du * (v - mb);
  }
  if (saa <= 0 || sbb <= 0)
    return 0;
  return fmin(fabs(sab) / sqrt(saa * sbb), 1.0);
}

/* eta: the share of the numeric feature's spread that the categorical one explains, square-rooted. */
static double correlation_ratio(const assoc_ctx *c, size_t cat, size_t num) {
  size_t r = levels(c->t, cat);
  if (r < 2)
    return 0;
  double *cnt = c->counts, *sum = cnt + r, n = 0, tot = 0, tot2 = 0;
  memset(cnt, 0, 2 * r * sizeof *cnt);
  for (size_t s = 0; s < c->m; s++) {
    double u = row_value(c, s, cat), v = row_value(c, s, num);
    if (isnan(u) || isnan(v))
      continue;
    cnt[(size_t)u] += 1;
    sum[(size_t)u] += v;
    n += 1;
    tot += v;
    tot2 += v * v;
  }
  double sst = tot2 - tot * tot / fmax(n, 1);
  if (n < 2 || sst <= 0)
    return 0;
  double ssb = 0, mean = tot / n, used = 0;
  for (size_t i = 0; i < r; i++)
    if (cnt[i] > 0) {
      ssb += cnt[i] * (sum[i] / cnt[i] - mean) * (sum[i] / cnt[i] - mean);
      used++;
    }
  if (10 * r <= c->m)
    return fmin(sqrt(ssb / sst), 1.0);
  /* A level for fewer than 10 cases: bias-corrected (epsilon^2, eta^2 adjusted for its degrees of
   * freedom like an adjusted R^2), as eta^2 alone is large there for any numeric feature. */
  if (used < 2 || n <= used)
    return 0;
  double e2 = 1 - (fmax(sst - ssb, 0) / (n - used)) / (sst / (n - 1));
  return e2 > 0 ? fmin(sqrt(e2), 1.0) : 0;
}

cohort_status co_assoc_matrix(const cohort_trainee *t, double **out) {
  size_t nf = t->nf;
  *out = NULL;
  double *a = co_calloc(nf ? nf * nf : 1, sizeof *a);
  assoc_ctx c = {t, co_sample_step(t->n), 0, NULL};
  c.m = t->n / c.step;
  size_t room = 1;
  for (size_t f = 0; f < nf; f++)
    for (size_t g = f; g < nf; g++) {
      size_t rf = co_is_categorical(t->schema.f[f].type) ? levels(t, f) : 0;
      size_t rg = co_is_categorical(t->schema.f[g].type) ? levels(t, g) : 0;
      size_t need = rf && rg ? (rf * rg <= CO_ASSOC_CELLS ? rf * rg + rf + rg : 0) : 2 * (rf + rg);
      room = need > room ? need : room;
    }
  c.counts = co_malloc(room * sizeof *c.counts);
  if (!a || !c.counts) {
    co_free(a);
    co_free(c.counts);
    return co_nomem();
  }
  for (size_t f = 0; f < nf; f++) {
    a[f * nf + f] = 1;
    for (size_t g = f + 1; g < nf; g++) {
      bool cf = co_is_categorical(t->schema.f[f].type), cg = co_is_categorical(t->schema.f[g].type);
      double v = cf && cg ? cramers_v(&c, f, g)
                 : cf     ? correlation_ratio(&c, f, g)
                 : cg     ? correlation_ratio(&c, g, f)
                          : pearson(&c, f, g);
      a[f * nf + g] = a[g * nf + f] = v;
    }
  }
  co_free(c.counts);
  *out = a;
  return COHORT_OK;
}
