/* Analyze: learn k, p, per-feature deviations and feature weights by leave-one-out on a sample.
 *
 * Targetless: every feature is predicted from all the others; the mean absolute residual of each
 * feature becomes its deviation (categorical: mean probability of the wrong class), which scales
 * its differences in the distance. Deviations feed back into the distance, so this is iterated.
 * Targeted: the target is predicted from the others; for each power p near the best at unit weights,
 * feature weights are tuned one at a time (coordinate search) on the same leave-one-out error, and
 * the power, weights and k with the lowest error are kept. The search runs from two starts (the
 * learned deviations, and each numeric feature's range: see range_start) where the second leads.
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
  /* Brute force (see loo_brute_range): base = ns * n cached distance sums, or NULL to sum afresh. */
  float *base;
  uint32_t *nbr;          /* with base: per sample case the kmax nearest at the kept sums (sel_bound) */
  int mode;               /* BRUTE_FRESH, BRUTE_BUILD, BRUTE_TRIAL or BRUTE_APPLY */
  size_t trial_f;         /* BRUTE_TRIAL / BRUTE_APPLY: the feature whose weight moves ... */
  const double *trial_dw; /* ... by each of these (APPLY: the first) */
  size_t ntrial;          /* BRUTE_TRIAL: how many; err then holds ns * ntrial * nk pairs */
} loo_job;

/* Leave-one-out on a small table by brute force: from each sample case the distance sums to every
 * case are formed once, and each feature's search takes its own term back out of them
 * (sum - w_f * term_f) and selects its k nearest, rather than searching once per feature. A search
 * tree prunes little among few cases in many dimensions, so on digits (899 x 65) targetless
 * leave-one-out was 65 near-exhaustive searches per case. For a target's weight search the sums are
 * kept (base), and the trials that move one weight (to 0, half, double) add that feature's terms
 * alone, all three in one scan. Each scan starts from a bound on the k-th distance (sel_bound), so
 * only the few rows under it are inserted: on a 5,000 x 37 table analyze took 16.2 CPU s with a heap
 * filled from every row and a trial per scan, 6.3 s with both (same neighbours, same result). */
enum { BRUTE_FRESH, BRUTE_BUILD, BRUTE_TRIAL, BRUTE_APPLY };
/* Cases at most and features at least: on fewer features or more cases the tree prunes enough to
 * win (abalone, 3,342 x 8: 0.7 s by the tree, 1.3 s by brute force; vehicle, 677 x 18: 0.8 / 1.0 s;
 * digits, 1,438 x 64: 12.7 / 6.2 s; a 5,148 x 37 numeric table: 10.6 / 4.9 s on 2 threads). Sample
 * cases x cases at most for the kept sums (floats: 64 MiB). */
size_t co_brute_rows = 8192, co_brute_features = 32;
#define CO_BRUTE_CELLS (16u << 20)

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
      co_predict_errors(t, f, nb, got, j->kv, j->nk, x[f], e);
    }
  }
  co_free(q);
  co_free(w);
  co_free(nb);
  (void)worker;
  return COHORT_OK;
}

typedef struct bcand {
  float d;
  uint32_t i;
} bcand;

static inline bool bworse(const bcand *a, const bcand *b) {
  return a->d > b->d || (a->d == b->d && a->i > b->i);
}

/* Puts the k smallest of c[0..n) (k < n) in c[0..k), in no order: quickselect, median of three. */
static void bselect(bcand *c, size_t n, size_t k) {
  size_t lo = 0, hi = n - 1;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (bworse(&c[lo], &c[mid])) {
      bcand x = c[lo];
      c[lo] = c[mid], c[mid] = x;
    }
    if (bworse(&c[mid], &c[hi])) {
      bcand x = c[mid];
      c[mid] = c[hi], c[hi] = x;
      if (bworse(&c[lo], &c[mid])) {
        x = c[lo];
        c[lo] = c[mid], c[mid] = x;
      }
    }
    bcand pv = c[mid];
    size_t i = lo, j = hi;
    while (i <= j) {
      while (bworse(&pv, &c[i]))
        i++;
      while (bworse(&c[j], &pv))
        j--;
      if (i <= j) {
        bcand x = c[i];
        c[i] = c[j], c[j] = x;
        i++;
        if (j == 0)
          break;
        j--;
      }
    }
    if (k <= j)
      hi = j;
    else if (k >= i)
      lo = i;
    else
      return;
  }
}

static int cmp_bcand(const void *a, const void *b) {
  return bworse(a, b) ? 1 : bworse(b, a) ? -1 : 0;
}

/* The k nearest rows found so far (ties by case index, as co_knn breaks them without a generator):
 * rows at most thr away are appended to a buffer of 2k, which is cut back to its k nearest when it
 * fills (thr then the k-th distance), so each candidate costs O(1) on average; a heap's sifts were
 * a quarter of analyze's time on a 5,000 x 37 table. */
typedef struct selheap {
  bcand *h; /* 2k */
  size_t hn, k;
  float thr;
} selheap;

static inline void sel_offer(selheap *sh, float d, uint32_t id) {
  float v = d > 0 ? d : 0.0f;
  if (!(v <= sh->thr))
    return;
  sh->h[sh->hn++] = (bcand){v, id};
  if (sh->hn == 2 * sh->k) {
    bselect(sh->h, sh->hn, sh->k);
    sh->hn = sh->k;
    float m = 0;
    for (size_t i = 0; i < sh->k; i++)
      m = sh->h[i].d > m ? sh->h[i].d : m;
    sh->thr = m;
  }
}

/* The k nearest into nb, nearest first, with the p-th root taken; returns how many. */
static size_t sel_finish(selheap *sh, double p, co_nb *nb) {
  if (sh->hn > sh->k) {
    bselect(sh->h, sh->hn, sh->k);
    sh->hn = sh->k;
  }
  bcand *h = sh->h;
  if (sh->hn > 64)
    qsort(h, sh->hn, sizeof *h, cmp_bcand);
  else /* insertion sort: qsort's call per comparison cost more (a shell sort did too) */
    for (size_t i = 1; i < sh->hn; i++) {
      bcand c = h[i];
      size_t j = i;
      for (; j > 0 && bworse(&h[j - 1], &c); j--)
        h[j] = h[j - 1];
      h[j] = c;
    }
  double invp = 1.0 / p;
  for (size_t a = 0; a < sh->hn; a++) {
    double d = sh->h[a].d;
    nb[a].d = p == 1.0 ? d : p == 2.0 ? sqrt(d) : p == 0.5 ? d * d : pow(d, invp);
    nb[a].i = sh->h[a].i;
  }
  return sh->hn;
}

/* Rows are scanned in blocks: a block none of whose sums can enter the heap (the common case once
 * it is full) costs one vectorized comparison per row rather than a branch. */
#define SEL_BLOCK 16

/* The scan starts near row start (the query's own row: the tree keeps near cases in near rows),
 * which fills the heap with near cases first; from row 0 the heap's sifts took most of the time.
 * The order changes only the time: ties go by case index. Segment s of the two: rows [*r0, *r1). */
static void sel_segment(size_t n, size_t start, size_t k, int s, size_t *r0, size_t *r1) {
  start = start > k ? start - k : 0;
  *r0 = s == 0 ? start : 0;
  *r1 = s == 0 ? n : start;
}

/* The k nearest rows by sum D, skipping case exclude and rows whose req value is missing (req NULL:
 * none); into nb nearest first. A negative sum (float cancellation) counts as 0. thr: a distance the
 * k-th nearest is known not to exceed (sel_bound), or INFINITY. */
static size_t brute_select(const co_index *ix, const float *D, const float *req, size_t exclude, size_t start,
                           size_t k, double p, float thr0, bcand *h, co_nb *nb) {
  selheap sh = {h, 0, k, thr0};
  for (int sg = 0; sg < 2; sg++) {
    size_t r0, r1;
    sel_segment(ix->n, start, k, sg, &r0, &r1);
    for (size_t r = r0; r < r1; r += SEL_BLOCK) {
      size_t m = r1 - r < SEL_BLOCK ? r1 - r : SEL_BLOCK;
      float thr = sh.thr;
      int any = 0;
      for (size_t i = 0; i < m; i++)
        any |= !(D[r + i] > thr);
      if (!any)
        continue;
      for (size_t i = 0; i < m; i++)
        if ((!req || req[r + i] == req[r + i]) && ix->ids[r + i] != exclude)
          sel_offer(&sh, D[r + i], ix->ids[r + i]);
    }
  }
  return sel_finish(&sh, p, nb);
}

/* Neighbours found in one geometry bound the k-th distance in a nearby one: any k qualifying rows
 * are at most their largest distance away. So a weight's trial starts from the distance, under the
 * trial's weights, of the k nearest at the kept sums' weights (and a feature's leave-one-out
 * search from the k nearest by the whole sum), and its scan inserts the few rows under it instead
 * of every row that beats a heap still filling up. nbr: k case ids (UINT32_MAX where fewer were
 * found); the distance of row r is D[r] + dw * u[r] (u NULL: D[r]); INFINITY when nbr is NULL, a
 * slot is empty or a row lacks req. The small margin covers a sum rounded differently here than in
 * the scan (a contracted multiply-add). */
static float sel_bound(const float *D, const float *u, float dw, const uint32_t *nbr, size_t k,
                       const uint32_t *pos, const float *req) {
  if (!nbr)
    return INFINITY;
  float m = 0;
  for (size_t i = 0; i < k; i++) {
    if (nbr[i] == UINT32_MAX)
      return INFINITY;
    size_t r = pos[nbr[i]];
    float v = u ? D[r] + dw * u[r] : D[r];
    if (v != v || (req && req[r] != req[r]))
      return INFINITY;
    m = v > m ? v : m;
  }
  return m + m * 1e-5f + 1e-30f;
}

/* The ids of nb[0..got) into nbr (k slots, UINT32_MAX past got). */
static void keep_nbr(uint32_t *nbr, const co_nb *nb, size_t got, size_t k) {
  for (size_t i = 0; i < k; i++)
    nbr[i] = i < got ? nb[i].i : UINT32_MAX;
}

/* Trials of one weight: the k nearest rows by base + dw[t] * u for each of nt trials at once (one
 * scan of the kept sums and of the feature's terms for all of them), as brute_select selects. */
#define CO_TRIALS_MAX 3
static void trial_select(const co_index *ix, const float *base, const float *u, const float *dw, size_t nt,
                         const float *req, size_t exclude, size_t start, size_t k, selheap *sh) {
  float v[CO_TRIALS_MAX][SEL_BLOCK];
  for (int sg = 0; sg < 2; sg++) {
    size_t r0, r1;
    sel_segment(ix->n, start, k, sg, &r0, &r1);
    for (size_t r = r0; r < r1; r += SEL_BLOCK) {
      size_t m = r1 - r < SEL_BLOCK ? r1 - r : SEL_BLOCK;
      for (size_t t = 0; t < nt; t++) {
        float thr = sh[t].thr, w = dw[t];
        int any = 0;
        for (size_t i = 0; i < m; i++) {
          v[t][i] = base[r + i] + w * u[r + i];
          any |= !(v[t][i] > thr);
        }
        if (!any)
          continue;
        for (size_t i = 0; i < m; i++)
          if (req[r + i] == req[r + i] && ix->ids[r + i] != exclude)
            sel_offer(&sh[t], v[t][i], ix->ids[r + i]);
      }
    }
  }
}

static cohort_status loo_brute_range(void *vctx, size_t begin, size_t end, size_t worker) {
  loo_job *j = vctx;
  cohort_trainee *t = j->t;
  const co_index *ix = j->ix;
  size_t nf = t->nf, n = ix->n;
  float *q = co_malloc(nf * sizeof *q);
  float *u = co_malloc(n * sizeof *u);
  float *d = co_malloc(n * sizeof *d);
  double *sum = co_malloc(n * sizeof *sum);
  bcand *h = co_malloc(CO_TRIALS_MAX * 2 * j->kmax * sizeof *h);
  co_nb *nb = co_malloc(j->kmax * sizeof *nb);
  uint32_t *pos = co_malloc(n * sizeof *pos); /* case -> row */
  uint32_t *whole = co_malloc(j->kmax * sizeof *whole);
  cohort_status st = COHORT_OK;
  if (!q || !u || !d || !sum || !h || !nb || !pos || !whole) {
    st = co_nomem();
    goto out;
  }
  for (size_t r = 0; r < n; r++)
    pos[ix->ids[r]] = (uint32_t)r;
  for (size_t s = begin; s < end; s++) {
    size_t c = j->sample[s];
    const double *x = t->x + c * nf;
    float *base = j->base ? j->base + s * n : NULL;
    co_index_scale(ix, x, q);
    if (j->mode == BRUTE_TRIAL || j->mode == BRUTE_APPLY) {
      co_index_terms(ix, q, j->trial_f, j->p, u);
      size_t f = j->feats[0], nt = j->ntrial, kmax = j->kmax;
      const float *req = ix->col + f * n;
      uint32_t *nbr = j->nbr ? j->nbr + s * kmax : NULL;
      if (j->mode == BRUTE_APPLY) {
        float dw = (float)j->trial_dw[0];
        for (size_t r = 0; r < n; r++)
          base[r] += dw * u[r];
        if (nbr && !isnan(x[f])) { /* the neighbours at the new weights, for the next trials' bounds */
          float thr = sel_bound(base, NULL, 0, nbr, kmax, pos, req);
          keep_nbr(nbr, nb, brute_select(ix, base, req, c, pos[c], kmax, j->p, thr, h, nb), kmax);
        }
        continue;
      }
      double *e = j->err + s * nt * j->nk * 2;
      if (isnan(x[f])) {
        for (size_t ki = 0; ki < 2 * nt * j->nk; ki++)
          e[ki] = NAN;
        continue;
      }
      float dw[CO_TRIALS_MAX];
      selheap sh[CO_TRIALS_MAX];
      for (size_t tr = 0; tr < nt; tr++) {
        dw[tr] = (float)j->trial_dw[tr];
        sh[tr] = (selheap){h + tr * 2 * kmax, 0, kmax, sel_bound(base, u, dw[tr], nbr, kmax, pos, req)};
      }
      trial_select(ix, base, u, dw, nt, req, c, pos[c], kmax, sh);
      for (size_t tr = 0; tr < nt; tr++, e += 2 * j->nk) {
        size_t got = sel_finish(&sh[tr], j->p, nb);
        co_predict_errors(t, f, nb, got, j->kv, j->nk, x[f], e);
      }
      continue;
    } else {
      for (size_t r = 0; r < n; r++)
        sum[r] = 0;
      for (size_t g = 0; g < nf; g++) {
        if (!(j->w[g] > 0))
          continue;
        co_index_terms(ix, q, g, j->p, u);
        double wg = j->w[g];
        for (size_t r = 0; r < n; r++)
          sum[r] += wg * u[r];
      }
      if (j->mode == BRUTE_BUILD)
        for (size_t r = 0; r < n; r++)
          base[r] = (float)sum[r];
      if (j->nfe > 1) { /* the k nearest by the whole sum, to bound each feature's search */
        for (size_t r = 0; r < n; r++)
          d[r] = (float)sum[r];
        keep_nbr(whole, nb, brute_select(ix, d, NULL, c, pos[c], j->kmax, j->p, INFINITY, h, nb), j->kmax);
      }
    }
    for (size_t a = 0; a < j->nfe; a++) {
      size_t f = j->feats[a];
      double *e = j->err + (s * j->nfe + a) * j->nk * 2;
      if (isnan(x[f])) {
        for (size_t ki = 0; ki < 2 * j->nk; ki++)
          e[ki] = NAN;
        continue;
      }
      /* The feature predicted leaves the distance: its own term out of the sum. */
      double wf = j->w[f] > 0 ? j->w[f] : 0.0;
      if (wf > 0) {
        co_index_terms(ix, q, f, j->p, u);
        for (size_t r = 0; r < n; r++)
          d[r] = (float)(sum[r] - wf * u[r]);
      } else {
        for (size_t r = 0; r < n; r++)
          d[r] = (float)sum[r];
      }
      const float *req = ix->col + f * n;
      /* A build's bound: the neighbours kept from the last sums (other weights or power). */
      const uint32_t *prior = j->nfe > 1                         ? whole
                              : j->mode == BRUTE_BUILD && j->nbr ? j->nbr + s * j->kmax
                                                                 : NULL;
      float thr = sel_bound(d, NULL, 0, prior, j->kmax, pos, req);
      size_t got = brute_select(ix, d, req, c, pos[c], j->kmax, j->p, thr, h, nb);
      if (j->mode == BRUTE_BUILD && j->nbr)
        keep_nbr(j->nbr + s * j->kmax, nb, got, j->kmax);
      co_predict_errors(t, f, nb, got, j->kv, j->nk, x[f], e);
    }
  }
out:
  co_free(q);
  co_free(u);
  co_free(d);
  co_free(sum);
  co_free(h);
  co_free(nb);
  co_free(pos);
  co_free(whole);
  (void)worker;
  return st;
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
  bool brute;                /* small enough for loo_brute_range */
  float *base;               /* analyze_target's kept sums (ns * n), or NULL */
  uint32_t *nbr;             /* with base: ns * kmax neighbour ids (loo_job) */
  const co_index *ix;        /* the geometry searched: NULL = the trainee's own index */
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

/* run_loo with a mode of the brute-force path (ignored on the search tree's path). */
static cohort_status run_loo_mode(analyzer *a, const size_t *feats, size_t nfe, const double *w, double p,
                                  const char *stage, int mode, size_t trial_f, const double *trial_dw,
                                  size_t ntrial) {
  const co_index *ix = a->ix;
  cohort_status st = ix ? COHORT_OK : co_trainee_index(a->t, &ix);
  if (st != COHORT_OK)
    return st;
  loo_job j = {a->t,    ix,       a->sample, a->ns,   feats,
               nfe,     a->kv,    a->nk,     a->kmax, w,
               p,       a->err,   a->base,   a->nbr,  a->base ? mode : BRUTE_FRESH,
               trial_f, trial_dw, ntrial};
  if (!a->brute)
    st = co_parallel(a->ns, a->o->threads, 8, loo_range, &j);
  else
    st = co_parallel(a->ns, a->o->threads, 8, loo_brute_range, &j);
  if (st != COHORT_OK)
    return st;
  if (mode == BRUTE_APPLY)
    return COHORT_OK;
  if (j.mode == BRUTE_TRIAL)
    j.nfe = ntrial; /* the errors are laid out per trial, as per feature */
  mean_errors(&j, a->mean);
  return progress(a, stage);
}

/* Leave-one-out errors of feats at weights w and power p, for every k in the grid: mean[a*nk+ki]. */
static cohort_status run_loo(analyzer *a, const size_t *feats, size_t nfe, const double *w, double p,
                             const char *stage) {
  return run_loo_mode(a, feats, nfe, w, p, stage, BRUTE_FRESH, 0, NULL, 0);
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

/* A single target's error at the best k for weights w, power p; sets *bk. With kept sums (a->base),
 * mode BRUTE_BUILD forms them at w. */
static cohort_status target_error(analyzer *a, size_t target, const double *w, double p, double *err,
                                  size_t *bk, int mode) {
  cohort_status st =
      run_loo_mode(a, &target, 1, w, p, "analyze target", a->base ? mode : BRUTE_FRESH, 0, NULL, 0);
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

/* The errors (and their best k) of target with feature f's weight at each of nws[0..nt) in place of
 * w[f]. With kept sums (a->base, which hold w) one pass scores them all, sharing the scan and the
 * feature's terms; else one pass each. */
static cohort_status trial_errors(analyzer *a, size_t target, double *w, double p, size_t f,
                                  const double *nws, size_t nt, double *errs, size_t *ks) {
  cohort_status st;
  if (!a->base) {
    double orig = w[f];
    for (size_t t = 0; t < nt; t++) {
      w[f] = nws[t];
      st = target_error(a, target, w, p, &errs[t], &ks[t], BRUTE_FRESH);
      w[f] = orig;
      if (st != COHORT_OK)
        return st;
    }
    return COHORT_OK;
  }
  double dw[CO_TRIALS_MAX] = {0};
  for (size_t t = 0; t < nt; t++)
    dw[t] = nws[t] - w[f];
  if ((st = run_loo_mode(a, &target, 1, w, p, "analyze target", BRUTE_TRIAL, f, dw, nt)) != COHORT_OK)
    return st;
  for (size_t t = 0; t < nt; t++) {
    errs[t] = INFINITY;
    for (size_t ki = 0; ki < a->nk; ki++) {
      double e = a->mean[t * a->nk + ki];
      if (!isnan(e) && e < errs[t]) {
        errs[t] = e;
        ks[t] = a->kv[ki];
      }
    }
  }
  return COHORT_OK;
}

/* Coordinate search over the feature weights w of target at power p, from *best (the error at w,
 * *bk its k): scale one feature at a time and keep a change only if it lowers the error by a
 * margin, which guards against fitting the sample's noise. Up to passes passes over the features,
 * fewer once one changes nothing; *moved is set if any weight changed. With kept sums (a->base)
 * they must hold w at p on entry, and hold the new w on return. A feature's trials are scored
 * together (trial_errors) and then taken in order, each against the best so far. */
static cohort_status weight_search(analyzer *a, size_t target, double *w, double p, int passes, double *best,
                                   size_t *bk, bool *moved) {
  cohort_trainee *t = a->t;
  static const double factors[CO_TRIALS_MAX] = {0.0, 0.5, 2.0};
  cohort_status st;
  for (int pass = 0; pass < passes; pass++) {
    bool changed = false;
    for (size_t f = 0; f < t->nf; f++) {
      if (f == target || (t->schema.f[f].flags & CO_F_IGNORED))
        continue;
      double orig = w[f], keep = orig, nws[CO_TRIALS_MAX], errs[CO_TRIALS_MAX];
      size_t nt = 0, ks[CO_TRIALS_MAX];
      for (size_t fi = 0; fi < CO_TRIALS_MAX; fi++) {
        double nw = orig == 0.0 ? (fi == 0 ? 0.0 : factors[fi] * 0.5) : orig * factors[fi];
        if (nw == orig || (orig == 0.0 && fi == 0))
          continue;
        nws[nt] = nw;
        ks[nt++] = *bk;
      }
      if ((st = trial_errors(a, target, w, p, f, nws, nt, errs, ks)) != COHORT_OK)
        return st;
      for (size_t i = 0; i < nt; i++)
        if (errs[i] < *best * (1.0 - 2e-3)) {
          *best = errs[i];
          *bk = ks[i];
          keep = nws[i];
          changed = true;
        }
      w[f] = keep;
      double dw = keep - orig;
      if (a->base && keep != orig &&
          (st = run_loo_mode(a, &target, 1, w, p, NULL, BRUTE_APPLY, f, &dw, 1)) != COHORT_OK)
        return st;
    }
    *moved |= changed;
    if (!changed)
      break;
  }
  return COHORT_OK;
}

/* Powers whose error at unit weights is within this share of the best get a weight search of their
 * own. The weights move the error far more than p does at unit weights, and differently per p: on
 * adult p = 2 led at unit weights (Brier 0.1992 against 0.2082 at p = 0.5) but p = 0.5 with its own
 * weights reached 0.1706 against 0.1905 (test accuracy 0.8474 -> 0.8608), and a search that only
 * tried the other powers once weights for p = 2 were found stayed at p = 2. A power far behind
 * (digits: p = 0.5 11% behind p = 1) is left out, which keeps the time on wide tables. */
#define CO_P_SEARCH_MARGIN 0.10
#define CO_P_SEARCH_CASES 1000

/* The search for one target in the geometry a->ix: k, p and weights into out (whose w holds nf
 * weights), the leave-one-out error they reach into *err, the best at unit weights into *lead_err.
 * probe: stop after the unit weights (out then holds them, with their best k and p). */
/* The starting weights at power p: scale[f]^p (1 where scale is NULL), 0 for the target and ignored
 * features. */
static void start_weights(const cohort_trainee *t, size_t target, const double *scale, double p, double *w) {
  for (size_t f = 0; f < t->nf; f++)
    w[f] = (t->schema.f[f].flags & CO_F_IGNORED) || f == target ? 0.0 : scale ? pow(scale[f], p) : 1.0;
}

static cohort_status search_target(analyzer *a, size_t target, const double *scale, bool probe, bool multi_p,
                                   co_params *out, double *err, double *lead_err) {
  cohort_trainee *t = a->t;
  size_t nf = t->nf;
  double *w = out->w;
  double *unit = co_malloc(nf * sizeof *unit), *trial = co_malloc(nf * sizeof *trial);
  double perr[COHORT_GRID_MAX];
  size_t pk[COHORT_GRID_MAX];
  cohort_status st = COHORT_OK;
  if (!unit || !trial) {
    st = co_nomem();
    goto out;
  }
  double lead = INFINITY, best = INFINITY, bp = a->pv[0];
  size_t bk = a->kv[0];
  for (size_t pi = 0; pi < a->np; pi++) {
    pk[pi] = a->kv[0];
    start_weights(t, target, scale, a->pv[pi], unit);
    if ((st = target_error(a, target, unit, a->pv[pi], &perr[pi], &pk[pi], BRUTE_BUILD)) != COHORT_OK)
      goto out;
    if (perr[pi] < lead) {
      lead = perr[pi];
      bk = pk[pi];
      bp = a->pv[pi];
    }
  }
  start_weights(t, target, scale, bp, w);
  *lead_err = best = lead;
  if (probe)
    goto done;
  /* The lead searches weights from unit weights first; then each power near it does, and wins only
   * by a margin of the lead's error at unit weights (the coordinate search's 0.2%, taken of the
   * error before the weights drove it near 0 on a near-deterministic target, where float sums in
   * another order moved it by more than 0.2% of itself). The kept sums hold unit weights at
   * pv[held]. */
  size_t held = a->np - 1, last = a->np, lead_i = 0;
  for (size_t pi = 0; pi < a->np; pi++)
    if (a->pv[pi] == bp)
      lead_i = pi;
  bool moved = false;
  for (size_t o = 0; o < a->np; o++) {
    size_t pi = o == 0 ? lead_i : o <= lead_i ? o - 1 : o;
    if (o > 0 && (!multi_p || a->ns < CO_P_SEARCH_CASES || !(perr[pi] <= lead * (1.0 + CO_P_SEARCH_MARGIN))))
      continue;
    double e = perr[pi];
    size_t k = pk[pi];
    bool mv = false;
    start_weights(t, target, scale, a->pv[pi], trial);
    if (a->base && pi != held &&
        (st = target_error(a, target, trial, a->pv[pi], &e, &k, BRUTE_BUILD)) != COHORT_OK)
      goto out;
    held = a->np; /* the search leaves its own weights in the kept sums */
    if ((st = weight_search(a, target, trial, a->pv[pi], 1, &e, &k, &mv)) != COHORT_OK)
      goto out;
    if (o == 0 || e < best - 2e-3 * lead) {
      best = e;
      bk = k;
      bp = a->pv[pi];
      moved = mv;
      memcpy(w, trial, nf * sizeof *w);
    }
    last = pi;
  }
  /* A second pass for the winner only, where the first moved a weight (the kept sums must hold the
   * winner's weights: they hold the last search's). */
  if (moved) {
    if (a->base && a->pv[last] != bp &&
        (st = target_error(a, target, w, bp, &best, &bk, BRUTE_BUILD)) != COHORT_OK)
      goto out;
    if ((st = weight_search(a, target, w, bp, 1, &best, &bk, &moved)) != COHORT_OK)
      goto out;
  }
done:
  out->k = bk;
  out->p = bp;
  *err = best;
out:
  co_free(unit);
  co_free(trial);
  return st;
}

/* ---------------------------------------------------------------- decorrelation */

/* Eigen decomposition of the symmetric n x n matrix A (destroyed: its diagonal ends as the
 * eigenvalues) by cyclic Jacobi rotations; V gets the eigenvectors as columns. n <= CO_LIN_MAX,
 * so the cubic cost per sweep is small next to one leave-one-out pass. */
static void jacobi_eigen(double *A, double *V, size_t n) {
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < n; j++)
      V[i * n + j] = i == j;
  for (int sweep = 0; sweep < 50; sweep++) {
    double off = 0, diag = 0;
    for (size_t i = 0; i < n; i++) {
      diag += A[i * n + i] * A[i * n + i];
      for (size_t j = i + 1; j < n; j++)
        off += A[i * n + j] * A[i * n + j];
    }
    if (off <= 1e-22 * diag)
      break;
    for (size_t p = 0; p < n; p++)
      for (size_t q = p + 1; q < n; q++) {
        double apq = A[p * n + q];
        if (fabs(apq) < 1e-300)
          continue;
        double theta = (A[q * n + q] - A[p * n + p]) / (2 * apq);
        double tn = (theta >= 0 ? 1.0 : -1.0) / (fabs(theta) + sqrt(theta * theta + 1));
        double c = 1 / sqrt(tn * tn + 1), sn = tn * c;
        for (size_t k = 0; k < n; k++) { /* columns p, q */
          double akp = A[k * n + p], akq = A[k * n + q];
          A[k * n + p] = c * akp - sn * akq;
          A[k * n + q] = sn * akp + c * akq;
        }
        for (size_t k = 0; k < n; k++) { /* rows p, q */
          double apk = A[p * n + k], aqk = A[q * n + k];
          A[p * n + k] = c * apk - sn * aqk;
          A[q * n + k] = sn * apk + c * aqk;
        }
        for (size_t k = 0; k < n; k++) {
          double vkp = V[k * n + p], vkq = V[k * n + q];
          V[k * n + p] = c * vkp - sn * vkq;
          V[k * n + q] = sn * vkp + c * vkq;
        }
      }
  }
}

/* Classes of the target for the within-class spread: a categorical target's codes, a numeric one's
 * quintile over the sample (so cases alike in the target form a group, as classes do). */
#define CO_LIN_BINS 5

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Fits the decorrelation of target's numeric block on the sample: the pooled within-class
 * covariance C of the scaled features, as correlations R shrunk towards the identity by lambda,
 * gives m = D^1/2 R^-1/2 D^-1/2 (D = diag C), the symmetric ("ZCA") whitening put back on each
 * feature's own scale: a feature uncorrelated with the rest keeps its slot unchanged, and
 * correlated ones stop counting once each. *out stays NULL when the block has fewer than two
 * features with spread, or more than CO_LIN_MAX. */
static cohort_status lin_fit(analyzer *a, size_t target, double lambda, co_lin **out) {
  cohort_trainee *t = a->t;
  size_t nf = t->nf, ns = a->ns, nq = 0, ng = 0;
  const co_feature *tf = &t->schema.f[target];
  bool cat_target = co_is_categorical(tf->type);
  size_t *qidx = co_malloc(nf * sizeof *qidx), *grp = co_malloc((ns + 1) * sizeof *grp);
  double *z = NULL, *C = NULL, *V = NULL, *gm = NULL, *gn = NULL, *cut = NULL, *mu = NULL;
  co_lin *l = NULL;
  cohort_status st = COHORT_OK;
  *out = NULL;
  if (!qidx || !grp)
    goto nomem;
  for (size_t f = 0; f < nf; f++) {
    const co_feature *fe = &t->schema.f[f];
    if (f != target && !(fe->flags & CO_F_IGNORED) &&
        !(co_is_categorical(fe->type) && fe->type != COHORT_ORDINAL))
      qidx[nq++] = f;
  }
  if (nq < 2 || nq > CO_LIN_MAX)
    goto out;
  /* Groups of the sample cases that have the target. */
  size_t nused = 0;
  if (cat_target) {
    ng = tf->levels.n + 1;
    for (size_t s = 0; s < ns; s++) {
      double y = t->x[a->sample[s] * nf + target];
      grp[s] = isnan(y) || y >= (double)tf->levels.n ? SIZE_MAX : (size_t)y;
      nused += grp[s] != SIZE_MAX;
    }
  } else {
    ng = CO_LIN_BINS;
    if (!(cut = co_malloc((ns + 1) * sizeof *cut)))
      goto nomem;
    size_t m = 0;
    for (size_t s = 0; s < ns; s++) {
      double y = t->x[a->sample[s] * nf + target];
      if (!isnan(y))
        cut[m++] = y;
    }
    qsort(cut, m, sizeof *cut, cmp_double);
    for (size_t s = 0; s < ns; s++) {
      double y = t->x[a->sample[s] * nf + target];
      grp[s] = SIZE_MAX;
      if (isnan(y))
        continue;
      size_t b = 0;
      while (b + 1 < CO_LIN_BINS && y > cut[(b + 1) * m / CO_LIN_BINS])
        b++;
      grp[s] = b;
      nused++;
    }
  }
  if (nused < 3)
    goto out;
  z = co_malloc(ns * nq * sizeof *z);
  mu = co_calloc(nq, sizeof *mu);
  C = co_calloc(nq * nq, sizeof *C);
  V = co_malloc(nq * nq * sizeof *V);
  gm = co_calloc(ng * nq, sizeof *gm);
  gn = co_calloc(ng, sizeof *gn);
  if (!z || !mu || !C || !V || !gm || !gn)
    goto nomem;
  for (size_t j = 0; j < nq; j++) { /* centres: the mean of the present values */
    double sum = 0, cnt = 0;
    for (size_t s = 0; s < ns; s++) {
      double v = t->x[a->sample[s] * nf + qidx[j]];
      if (!isnan(v) && grp[s] != SIZE_MAX)
        sum += v, cnt++;
    }
    mu[j] = cnt > 0 ? sum / cnt : 0;
  }
  for (size_t s = 0; s < ns; s++) {
    if (grp[s] == SIZE_MAX)
      continue;
    gn[grp[s]]++;
    for (size_t j = 0; j < nq; j++) {
      size_t f = qidx[j];
      double v = t->x[a->sample[s] * nf + f], sc = t->dev[f] > 0 ? 1.0 / t->dev[f] : 1.0;
      z[s * nq + j] = isnan(v) ? 0.0 : (v - mu[j]) * sc;
      gm[grp[s] * nq + j] += z[s * nq + j];
    }
  }
  for (size_t g = 0; g < ng; g++)
    for (size_t j = 0; j < nq && gn[g] > 0; j++)
      gm[g * nq + j] /= gn[g];
  for (size_t s = 0; s < ns; s++) {
    if (grp[s] == SIZE_MAX)
      continue;
    const double *zs = z + s * nq, *m = gm + grp[s] * nq;
    for (size_t i = 0; i < nq; i++)
      for (size_t j = i; j < nq; j++)
        C[i * nq + j] += (zs[i] - m[i]) * (zs[j] - m[j]);
  }
  /* Drop features without spread within the classes (constant, or fixed by the target). */
  size_t kept = 0;
  for (size_t i = 0; i < nq; i++)
    if (C[i * nq + i] > 1e-12 * (double)nused)
      kept++;
  if (kept != nq) {
    size_t *map = grp; /* reuse: grp is no longer needed */
    size_t k2 = 0;
    for (size_t i = 0; i < nq; i++)
      if (C[i * nq + i] > 1e-12 * (double)nused)
        map[k2++] = i;
    for (size_t i = 0; i < kept; i++)
      for (size_t j = i; j < kept; j++)
        C[i * kept + j] = C[map[i] * nq + map[j]];
    for (size_t i = 0; i < kept; i++) {
      qidx[i] = qidx[map[i]];
      mu[i] = mu[map[i]];
    }
    nq = kept;
  }
  if (nq < 2)
    goto out;
  double *d = gm; /* reuse: sqrt of the diagonal */
  for (size_t i = 0; i < nq; i++)
    d[i] = sqrt(C[i * nq + i]);
  for (size_t i = 0; i < nq; i++)
    for (size_t j = i; j < nq; j++) {
      double r = i == j ? 1.0 : C[i * nq + j] / (d[i] * d[j]);
      C[i * nq + j] = C[j * nq + i] = (1.0 - lambda) * r + (i == j ? lambda : 0.0);
    }
  jacobi_eigen(C, V, nq);
  if (!(l = co_lin_new(nq)))
    goto nomem;
  for (size_t i = 0; i < nq; i++) {
    l->qidx[i] = qidx[i];
    l->mu[i] = mu[i];
  }
  for (size_t i = 0; i < nq; i++)
    for (size_t j = 0; j < nq; j++) {
      double s = 0;
      for (size_t e = 0; e < nq; e++) {
        double ev = C[e * nq + e];
        s += V[i * nq + e] * V[j * nq + e] / sqrt(ev > 1e-9 ? ev : 1e-9);
      }
      l->m[i * nq + j] = d[i] * s / d[j];
    }
  *out = l;
  goto out;
nomem:
  st = co_nomem();
out:
  co_free(qidx);
  co_free(grp);
  co_free(z);
  co_free(C);
  co_free(V);
  co_free(gm);
  co_free(gn);
  co_free(cut);
  co_free(mu);
  return st;
}

/* A decorrelated geometry is kept when its leave-one-out error beats the trainee's own by this share
 * and, on a numeric target, its squared error is not worse by more than the same share (the error is
 * absolute; the suite scores R^2). Measured with 5-fold cross-validation over the suite's tables
 * (bench/SUITE.md): vehicle 0.7245 -> 0.7884, boston R^2 0.787 -> 0.825, wine 0.949 -> 0.978, none
 * worse; on diamonds the absolute error fell 2.7% but the squared error rose 1.8% (test R^2 0.9793 ->
 * 0.9760 when it was kept on the first). */
#define CO_LIN_MARGIN 0.01
/* The shrinkage of the within-class correlations towards the identity: caps how far a direction of
 * little spread is stretched (by 1/sqrt(lambda) at most). */
#define CO_LIN_LAMBDA 0.1

/* Per-case leave-one-out errors of target at params pr in index ix (NULL: the trainee's) into e. */
static cohort_status case_errors(analyzer *a, size_t target, const co_index *ix, const co_params *pr,
                                 double *e) {
  const size_t *kv = a->kv;
  size_t nk = a->nk;
  a->kv = &pr->k;
  a->nk = 1;
  a->ix = ix;
  cohort_status st = run_loo_mode(a, &target, 1, pr->w, pr->p, NULL, BRUTE_FRESH, 0, NULL, 0);
  a->kv = kv;
  a->nk = nk;
  for (size_t s = 0; s < a->ns; s++)
    e[s] = a->err[2 * s];
  return st;
}

/* Mean squared leave-one-out residual of target in the decorrelated geometry over the trainee's own,
 * each at its chosen parameters, into *ratio. */
static cohort_status squared_ratio(analyzer *a, size_t target, const co_params *pr, const co_index *lix,
                                   const co_params *lpr, double *ratio) {
  double *e0 = co_malloc(a->ns * sizeof *e0), *e1 = co_malloc(a->ns * sizeof *e1);
  cohort_status st = COHORT_OK;
  if (!e0 || !e1) {
    st = co_nomem();
    goto out;
  }
  if ((st = case_errors(a, target, NULL, pr, e0)) != COHORT_OK ||
      (st = case_errors(a, target, lix, lpr, e1)) != COHORT_OK)
    goto out;
  double s0 = 0, s1 = 0;
  for (size_t i = 0; i < a->ns; i++)
    if (!isnan(e0[i]) && !isnan(e1[i])) {
      s0 += e0[i] * e0[i];
      s1 += e1[i] * e1[i];
    }
  *ratio = s0 > 0 ? s1 / s0 : 1.0;
out:
  co_free(e0);
  co_free(e1);
  return st;
}

/* A second start for the weight search: every numeric feature's differences in units of its range
 * (as Gower's distance and SDMetrics' DCR measure them) rather than of its learned deviation. The
 * deviation is how well the other features predict a feature, which says little about how much its
 * differences matter for the target: on digits, pixels that are almost always blank are predicted
 * almost exactly, so a stroke through one counted like a stroke through 20 central pixels (as a
 * StandardScaler's does, which is why scikit-learn's k-NN scores 0.983 there and unscaled pixels
 * 0.989). Only a start that leads at unit weights gets a weight search of its own, and its result is
 * kept when its leave-one-out error beats the deviation start's by CO_LIN_MARGIN (numeric targets:
 * the squared error too). 5-fold cross-validation over the suite's small tables (bench/SUITE.md):
 * digits 0.9789 -> 0.9839 (leave-one-out Brier 0.0176 -> 0.0131), boston R^2 0.825 -> 0.864,
 * diabetes R^2 0.434 -> 0.446; penguins and breast_cancer one row worse of 344 / 569; the others
 * unchanged (the range start did not lead, or did not win by the margin). */
static cohort_status range_start(analyzer *a, size_t target, co_target_params *tp, double *err,
                                 double *lead) {
  cohort_trainee *t = a->t;
  size_t nf = t->nf;
  double *scale = co_malloc(nf * sizeof *scale);
  co_params rp = {0};
  cohort_status st = COHORT_OK;
  if (!scale || co_params_init(&rp, nf) != 0) {
    st = co_nomem();
    goto out;
  }
  for (size_t f = 0; f < nf; f++) {
    const co_feature *fe = &t->schema.f[f];
    double range = fe->max - fe->min;
    bool cat = co_is_categorical(fe->type) && fe->type != COHORT_ORDINAL;
    scale[f] = !cat && range > 0 && isfinite(range) && t->dev[f] > 0 ? t->dev[f] / range : 1.0;
  }
  double rerr = INFINITY, rlead = INFINITY, sq = NAN;
  if ((st = search_target(a, target, scale, true, false, &rp, &rerr, &rlead)) != COHORT_OK ||
      !(rlead < *lead))
    goto out;
  if ((st = search_target(a, target, scale, false, true, &rp, &rerr, &rlead)) != COHORT_OK ||
      !(rerr < *err * (1.0 - CO_LIN_MARGIN)))
    goto out;
  if (!co_is_categorical(t->schema.f[target].type) &&
      ((st = squared_ratio(a, target, &tp->params, NULL, &rp, &sq)) != COHORT_OK ||
       !(sq < 1.0 + CO_LIN_MARGIN)))
    goto out;
  co_params kept = tp->params;
  tp->params = rp;
  rp = kept;
  *err = rerr;
  *lead = rlead;
out:
  co_params_free(&rp);
  co_free(scale);
  return st;
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
  co_lin_free(tp->lin);
  tp->lin = NULL;
  co_params_free(&tp->lparams);
  co_index_free(tp->lix);
  tp->lix = NULL;
  double err = INFINITY, lerr = INFINITY, lead = INFINITY, llead = INFINITY;
  co_lin *lin = NULL;
  co_index *lix = NULL;
  co_params lp = {0};
  cohort_status st = search_target(a, target, NULL, false, true, &tp->params, &err, &lead);
  if (st != COHORT_OK)
    return st;
  if ((st = range_start(a, target, tp, &err, &lead)) != COHORT_OK)
    return st;
  if ((st = lin_fit(a, target, CO_LIN_LAMBDA, &lin)) != COHORT_OK || !lin)
    goto out;
  if (co_params_init(&lp, nf) != 0) {
    st = co_nomem();
    goto out;
  }
  if ((st = co_index_build_lin(t, lin, &lix)) != COHORT_OK)
    goto out;
  /* At unit weights first (one pass per p): only a geometry that leads there gets a weight search of
   * its own, at its best p alone, which keeps the cost near one more search where it wins. */
  a->ix = lix;
  st = search_target(a, target, NULL, true, false, &lp, &lerr, &llead);
  if (st == COHORT_OK && llead < lead)
    st = search_target(a, target, NULL, false, false, &lp, &lerr, &llead);
  double sq = NAN;
  if (st == COHORT_OK && llead < lead && !co_is_categorical(t->schema.f[target].type) && lerr < err)
    st = squared_ratio(a, target, &tp->params, lix, &lp, &sq);
  a->ix = NULL;
  if (st != COHORT_OK || !(llead < lead) || !(lerr < err * (1.0 - CO_LIN_MARGIN)) ||
      (!isnan(sq) && !(sq < 1.0 + CO_LIN_MARGIN)))
    goto out;
  tp->lin = lin;
  tp->lparams = lp;
  tp->lix = lix;
  return COHORT_OK;
out:
  co_lin_free(lin);
  co_params_free(&lp);
  co_index_free(lix);
  return st;
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
  /* Per feature predicted, or per trial of one weight (CO_TRIALS_MAX). */
  a.err = co_malloc(a.ns * (nfe > CO_TRIALS_MAX ? nfe : CO_TRIALS_MAX) * a.nk * 2 * sizeof *a.err);
  a.mean = co_malloc(3 * nfe * a.nk * sizeof *a.mean);
  a.brute = t->n <= co_brute_rows && nfe >= co_brute_features;
  if (a.brute && opt->n_targets && a.ns * t->n <= CO_BRUTE_CELLS) {
    a.base = co_malloc(a.ns * t->n * sizeof *a.base); /* NULL: sums formed afresh on each trial */
    a.nbr = co_malloc(a.ns * a.kmax * sizeof *a.nbr);
    if (!a.nbr) {
      co_free(a.base);
      a.base = NULL;
    }
    for (size_t i = 0; a.nbr && i < a.ns * a.kmax; i++)
      a.nbr[i] = UINT32_MAX;
  }
  if (!a.err || !a.mean) {
    st = co_nomem();
    goto out;
  }

  bool targetless = opt->n_targets == 0;
  a.total_calls = targetless ? a.np + 1 : 0;
  for (size_t i = 0; i < opt->n_targets; i++)
    a.total_calls +=
        2 * (a.np + a.np * (1 + 2 * 3 * nfe)); /* at most, in two geometries: see analyze_target */
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
  co_free(a.base);
  co_free(a.nbr);
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
  a.brute = t->n <= co_brute_rows && nf >= co_brute_features;
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
