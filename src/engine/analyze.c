/* Analyze: learn k, p, per-feature deviations and feature weights by leave-one-out on a sample.
 *
 * Targetless: every feature is predicted from all the others; the mean absolute residual of each
 * feature becomes its deviation (categorical: mean probability of the wrong class), which scales
 * its differences in the distance. Deviations feed back into the distance, so this is iterated.
 * Targeted: the target is predicted from the others; k and p are chosen on its error, then feature
 * weights are tuned one at a time (coordinate search) on the same leave-one-out error.
 *
 * Results are deterministic for a seed: the sample is drawn with the seed and per-case errors are
 * summed in case order after the parallel part. */
#include "co_trainee.h"

#include <stdlib.h>
#include <string.h>

static int cmp_size(const void *a, const void *b) {
  size_t x = *(const size_t *)a, y = *(const size_t *)b;
  return (x > y) - (x < y);
}

static const size_t default_k[] = {3, 5, 8, 13, 20, 30, 50};
static const double default_p[] = {0.5, 1.0, 2.0};

typedef struct loo_job {
  cohort_trainee *t;
  const co_index *ix;
  const size_t *sample;
  size_t ns;
  const size_t *feats; /* features predicted */
  size_t nfe;
  const size_t *kv;
  size_t nk, kmax;
  const double *w; /* base weights */
  double p;
  double *err; /* ns * nfe * nk pairs (score, residual); NaN where the sample case lacks the feature */
} loo_job;

static cohort_status loo_range(void *vctx, size_t begin, size_t end, size_t worker) {
  loo_job *j = vctx;
  cohort_trainee *t = j->t;
  size_t nf = t->nf;
  float *q = co_malloc(nf * sizeof *q);
  double *w = co_malloc(nf * sizeof *w);
  co_nb *nb = co_malloc(j->kmax * sizeof *nb);
  if (!q || !w || !nb) {
    co_free(q);
    co_free(w);
    co_free(nb);
    return co_nomem();
  }
  for (size_t s = begin; s < end; s++) {
    size_t c = j->sample[s];
    const double *x = t->x + c * nf;
    co_index_scale(j->ix, x, q);
    for (size_t a = 0; a < j->nfe; a++) {
      size_t f = j->feats[a];
      double *e = j->err + (s * j->nfe + a) * j->nk * 2;
      if (isnan(x[f])) {
        for (size_t ki = 0; ki < 2 * j->nk; ki++)
          e[ki] = NAN;
        continue;
      }
      memcpy(w, j->w, nf * sizeof *w);
      w[f] = 0.0;
      co_metric m = {w, j->p, (long)f};
      size_t got = co_knn(j->ix, &m, q, j->kmax, (long)c, NULL, nb);
      for (size_t ki = 0; ki < j->nk; ki++) {
        size_t k = j->kv[ki] < got ? j->kv[ki] : got;
        e[2 * ki] = got ? co_predict_error(t, f, nb, k, x[f], &e[2 * ki + 1]) : NAN;
        if (!got)
          e[2 * ki + 1] = NAN;
      }
    }
  }
  co_free(q);
  co_free(w);
  co_free(nb);
  (void)worker;
  return COHORT_OK;
}

/* Means over the sample, in sample order: mean[a] = score and mean[N + a] = residual of
 * (feature, k) pair a, N = nfe * nk; mean[2N..3N) is scratch. */
static void mean_errors(const loo_job *j, double *mean) {
  size_t n = j->nfe * j->nk;
  double *cnt = mean + 2 * n;
  for (size_t a = 0; a < 3 * n; a++)
    mean[a] = 0;
  for (size_t s = 0; s < j->ns; s++)
    for (size_t a = 0; a < n; a++) {
      const double *e = j->err + (s * n + a) * 2;
      if (!isnan(e[0])) {
        mean[a] += e[0];
        mean[n + a] += e[1];
        cnt[a] += 1;
      }
    }
  for (size_t a = 0; a < n; a++) {
    mean[a] = cnt[a] > 0 ? mean[a] / cnt[a] : NAN;
    mean[n + a] = cnt[a] > 0 ? mean[n + a] / cnt[a] : NAN;
  }
}

typedef struct analyzer {
  cohort_trainee *t;
  const cohort_analyze_options *o;
  size_t *sample, ns;
  const size_t *kv;
  size_t nk, kmax;
  const double *pv;
  size_t np;
  double *err, *mean;
  size_t calls, total_calls; /* progress */
} analyzer;

/* Draws the leave-one-out sample without replacement (partial Fisher-Yates), sorted so searches
 * visit cases in memory order. */
static cohort_status draw_sample(analyzer *a, size_t want, uint64_t seed) {
  size_t n = a->t->n;
  want = want ? want : 1000;
  a->ns = want < n ? want : n;
  a->sample = co_malloc(n * sizeof *a->sample);
  if (!a->sample)
    return co_nomem();
  co_rng rng;
  co_rng_seed(&rng, seed);
  for (size_t i = 0; i < n; i++)
    a->sample[i] = i;
  for (size_t i = 0; i < a->ns; i++) {
    size_t j = i + co_rng_below(&rng, n - i);
    size_t tmp = a->sample[i];
    a->sample[i] = a->sample[j];
    a->sample[j] = tmp;
  }
  qsort(a->sample, a->ns, sizeof *a->sample, cmp_size);
  return COHORT_OK;
}

static cohort_status progress(analyzer *a, const char *stage) {
  a->calls++;
  if (a->o->progress && a->o->progress(a->o->progress_user, stage, (double)a->calls / (double)a->total_calls))
    return co_error(COHORT_ECANCELLED, "analyze: cancelled");
  return COHORT_OK;
}

/* Leave-one-out errors of feats at weights w and power p, for every k in the grid: mean[a*nk+ki]. */
static cohort_status run_loo(analyzer *a, const size_t *feats, size_t nfe, const double *w, double p,
                             const char *stage) {
  const co_index *ix;
  cohort_status st = co_trainee_index(a->t, &ix);
  if (st != COHORT_OK)
    return st;
  loo_job j = {a->t, ix, a->sample, a->ns, feats, nfe, a->kv, a->nk, a->kmax, w, p, a->err};
  if ((st = co_parallel(a->ns, a->o->threads, 8, loo_range, &j)) != COHORT_OK)
    return st;
  mean_errors(&j, a->mean);
  return progress(a, stage);
}

/* Normalizes a feature's score so features on different scales can be summed: numeric errors by
 * the feature's current deviation; categorical scores (Brier) are already on a unit scale. */
static double normalized(const cohort_trainee *t, size_t f, double e) {
  if (co_is_categorical(t->schema.f[f].type) && t->schema.f[f].type != COHORT_ORDINAL)
    return e;
  return e / (t->dev[f] > 0 ? t->dev[f] : 1.0);
}

static cohort_status analyze_targetless(analyzer *a, size_t *feats, size_t nfe) {
  cohort_trainee *t = a->t;
  size_t nf = t->nf;
  double *w = co_malloc(nf * sizeof *w);
  double *best_err = co_malloc(nfe * sizeof *best_err);
  cohort_status st = COHORT_OK;
  if (!w || !best_err) {
    st = co_nomem();
    goto out;
  }
  for (size_t f = 0; f < nf; f++)
    w[f] = (t->schema.f[f].flags & CO_F_IGNORED) ? 0.0 : 1.0;
  /* Two rounds: the first searches the whole grid on the default deviations, the second only
   * k at the chosen p on the learned ones (deviations move little after one round). */
  double bp = a->pv[0];
  for (int round = 0; round < 2; round++) {
    double best = INFINITY, round_p = bp;
    size_t bk = a->kv[0];
    for (size_t pi = 0; pi < a->np; pi++) {
      if (round == 1 && a->pv[pi] != round_p)
        continue;
      if ((st = run_loo(a, feats, nfe, w, a->pv[pi], "analyze")) != COHORT_OK)
        goto out;
      for (size_t ki = 0; ki < a->nk; ki++) {
        double s = 0;
        for (size_t i = 0; i < nfe; i++) {
          double e = a->mean[i * a->nk + ki];
          s += isnan(e) ? 0 : normalized(t, feats[i], e);
        }
        if (s < best) {
          best = s;
          bk = a->kv[ki];
          bp = a->pv[pi];
          for (size_t i = 0; i < nfe; i++)
            best_err[i] = a->mean[nfe * a->nk + i * a->nk + ki];
        }
      }
    }
    t->global.k = bk;
    t->global.p = bp;
    memcpy(t->global.w, w, nf * sizeof *w);
    for (size_t i = 0; i < nfe; i++) {
      size_t f = feats[i];
      double e = best_err[i];
      if (isnan(e))
        continue;
      const co_feature *fe = &t->schema.f[f];
      if (!(co_is_categorical(fe->type) && fe->type != COHORT_ORDINAL)) {
        /* Keep a numeric deviation above a small fraction of the range so exact matches on a
         * near-deterministic feature do not swamp every other feature. */
        double range = fe->max - fe->min;
        double floor = range > 0 ? range * 1e-3 : 1e-9;
        e = e > floor ? e : floor;
      }
      t->dev[f] = e;
    }
    co_trainee_invalidate(t);
  }
out:
  co_free(w);
  co_free(best_err);
  return st;
}

/* Sum of a single target's error at the best k for weights w, power p; sets *bk. */
static cohort_status target_error(analyzer *a, size_t target, const double *w, double p, double *err,
                                  size_t *bk) {
  cohort_status st = run_loo(a, &target, 1, w, p, "analyze target");
  if (st != COHORT_OK)
    return st;
  *err = INFINITY;
  for (size_t ki = 0; ki < a->nk; ki++) {
    double e = a->mean[ki];
    if (!isnan(e) && e < *err) {
      *err = e;
      *bk = a->kv[ki];
    }
  }
  return COHORT_OK;
}

static cohort_status analyze_target(analyzer *a, size_t target) {
  cohort_trainee *t = a->t;
  size_t nf = t->nf;
  co_target_params *tp = NULL;
  for (size_t i = 0; i < t->ntp; i++)
    if (t->tp[i].target == target)
      tp = &t->tp[i];
  if (!tp) {
    co_target_params *ntp = co_realloc(t->tp, (t->ntp + 1) * sizeof *ntp);
    if (!ntp)
      return co_nomem();
    t->tp = ntp;
    tp = &t->tp[t->ntp];
    memset(tp, 0, sizeof *tp);
    tp->target = target;
    if (co_params_init(&tp->params, nf) != 0)
      return co_nomem();
    t->ntp++;
  }
  double *w = tp->params.w;
  for (size_t f = 0; f < nf; f++)
    w[f] = (t->schema.f[f].flags & CO_F_IGNORED) || f == target ? 0.0 : 1.0;

  double best = INFINITY, bp = a->pv[0];
  size_t bk = a->kv[0];
  cohort_status st;
  for (size_t pi = 0; pi < a->np; pi++) {
    double e;
    size_t k = a->kv[0];
    if ((st = target_error(a, target, w, a->pv[pi], &e, &k)) != COHORT_OK)
      return st;
    if (e < best) {
      best = e;
      bk = k;
      bp = a->pv[pi];
    }
  }
  /* Coordinate search over feature weights: scale one feature at a time and keep a change only if
   * it lowers the error by a margin, which guards against fitting the sample's noise. */
  static const double factors[] = {0.0, 0.5, 2.0};
  for (int pass = 0; pass < 2; pass++) {
    bool changed = false;
    for (size_t f = 0; f < nf; f++) {
      if (f == target || (t->schema.f[f].flags & CO_F_IGNORED))
        continue;
      double orig = w[f], keep = orig;
      for (size_t fi = 0; fi < sizeof factors / sizeof *factors; fi++) {
        double nw = orig == 0.0 ? (fi == 0 ? 0.0 : factors[fi] * 0.5) : orig * factors[fi];
        if (nw == orig || (orig == 0.0 && fi == 0))
          continue;
        w[f] = nw;
        double e;
        size_t k = bk;
        if ((st = target_error(a, target, w, bp, &e, &k)) != COHORT_OK)
          return st;
        if (e < best * (1.0 - 2e-3)) {
          best = e;
          bk = k;
          keep = nw;
          changed = true;
        }
      }
      w[f] = keep;
    }
    if (!changed)
      break;
  }
  tp->params.k = bk;
  tp->params.p = bp;
  return COHORT_OK;
}

cohort_status cohort_trainee_analyze(cohort_trainee *t, const cohort_analyze_options *options) {
  if (!t)
    return co_error(COHORT_EINVAL, "analyze: trainee is required");
  cohort_analyze_options o;
  cohort_status rs = co_options_read(&o, sizeof o, options, "analyze");
  if (rs != COHORT_OK)
    return rs;
  const cohort_analyze_options *opt = &o;
  if (t->n < 3)
    return co_error(COHORT_ESTATE, "analyze: needs at least 3 cases (the trainee has %zu)", t->n);
  analyzer a = {.t = t, .o = opt};
  a.kv = opt->k_values ? opt->k_values : default_k;
  a.nk = opt->k_values ? opt->n_k : sizeof default_k / sizeof *default_k;
  a.pv = opt->p_values ? opt->p_values : default_p;
  a.np = opt->p_values ? opt->n_p : sizeof default_p / sizeof *default_p;
  if (!a.nk || !a.np || a.nk > COHORT_GRID_MAX || a.np > COHORT_GRID_MAX)
    return co_error(COHORT_EINVAL, "analyze: the k and p grids must hold 1 to %d values", COHORT_GRID_MAX);
  for (size_t i = 0; i < a.nk; i++) {
    if (a.kv[i] < 1 || a.kv[i] > CO_K_MAX)
      return co_error(COHORT_EINVAL, "analyze: k = %zu is out of range 1..%d", a.kv[i], CO_K_MAX);
    a.kmax = a.kv[i] > a.kmax ? a.kv[i] : a.kmax;
  }
  for (size_t i = 0; i < a.np; i++)
    if (!(a.pv[i] > 0) || !isfinite(a.pv[i]) || a.pv[i] > 16)
      return co_error(COHORT_EINVAL, "analyze: p = %g is out of range (0, 16]", a.pv[i]);

  size_t nf = t->nf, *feats = NULL, nfe = 0, *targets = NULL;
  cohort_status st = COHORT_OK;
  targets = co_calloc(opt->n_targets + 1, sizeof *targets);
  feats = co_calloc(nf, sizeof *feats);
  if (!targets || !feats) {
    st = co_nomem();
    goto out;
  }
  for (size_t i = 0; i < opt->n_targets; i++)
    if ((st = co_trainee_feature(t, opt->targets[i], &targets[i])) != COHORT_OK)
      goto out;
  for (size_t f = 0; f < nf; f++)
    if (!(t->schema.f[f].flags & CO_F_IGNORED))
      feats[nfe++] = f;

  if ((st = draw_sample(&a, opt->sample, opt->seed)) != COHORT_OK)
    goto out;
  a.err = co_malloc(a.ns * nfe * a.nk * 2 * sizeof *a.err);
  a.mean = co_malloc(3 * nfe * a.nk * sizeof *a.mean);
  if (!a.err || !a.mean) {
    st = co_nomem();
    goto out;
  }

  bool targetless = opt->n_targets == 0;
  a.total_calls = targetless ? a.np + 1 : 0;
  for (size_t i = 0; i < opt->n_targets; i++)
    a.total_calls += a.np + 2 * 3 * nfe;
  if (targetless || !t->analyzed) {
    if (!targetless)
      a.total_calls += a.np + 1;
    if ((st = co_trainee_default_devs(t)) != COHORT_OK ||
        (st = analyze_targetless(&a, feats, nfe)) != COHORT_OK)
      goto out;
    t->analyzed = true;
  }
  for (size_t i = 0; i < opt->n_targets; i++)
    if ((st = analyze_target(&a, targets[i])) != COHORT_OK)
      goto out;
  if (opt->progress)
    opt->progress(opt->progress_user, "analyze", 1.0);
out:
  co_free(targets);
  co_free(feats);
  co_free(a.sample);
  co_free(a.err);
  co_free(a.mean);
  return st;
}

cohort_status cohort_feature_importance(cohort_trainee *t, const char *target, size_t sample, uint64_t seed,
                                        double *out, size_t n) {
  if (!t || !out)
    return co_error(COHORT_EINVAL, "importance: trainee and output array are required");
  size_t tf = 0, nf = t->nf;
  if (n < nf)
    return co_error_in(
        "n", co_error(COHORT_EINVAL, "importance: n = %zu is shorter than the %zu features", n, nf));
  cohort_status st = co_trainee_feature(t, target, &tf);
  if (st != COHORT_OK)
    return st;
  if (t->n < 3)
    return co_error(COHORT_ESTATE, "importance: needs at least 3 cases (the trainee has %zu)", t->n);
  const co_params *pr = co_trainee_params_for(t, (long)tf);
  static const cohort_analyze_options defaults;
  analyzer a = {.t = t, .o = &defaults, .kv = &pr->k, .nk = 1, .kmax = pr->k};
  a.total_calls = nf + 1;
  double *w = co_malloc(nf * sizeof *w);
  a.err = NULL;
  if (!w || (st = draw_sample(&a, sample, seed)) != COHORT_OK ||
      !(a.err = co_malloc(a.ns * 2 * sizeof *a.err)) || !(a.mean = co_malloc(3 * sizeof *a.mean))) {
    st = st != COHORT_OK ? st : co_nomem();
    goto out;
  }
  memcpy(w, pr->w, nf * sizeof *w);
  w[tf] = 0;
  if ((st = run_loo(&a, &tf, 1, w, pr->p, "importance")) != COHORT_OK)
    goto out;
  double base = a.mean[0];
  for (size_t f = 0; f < nf; f++) {
    out[f] = 0;
    if (f == tf || !(w[f] > 0))
      continue;
    double keep = w[f];
    w[f] = 0;
    st = run_loo(&a, &tf, 1, w, pr->p, "importance");
    w[f] = keep;
    if (st != COHORT_OK)
      goto out;
    out[f] = a.mean[0] - base;
  }
out:
  co_free(w);
  co_free(a.sample);
  co_free(a.err);
  co_free(a.mean);
  return st;
}
