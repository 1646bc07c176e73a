/* React: predict any features from any others, with uncertainty and explanations; impute. */
#include "co_trainee.h"

#include <stdio.h>
#include <string.h>

static bool is_vote(const co_feature *f) {
  return co_is_categorical(f->type);
}

double co_predict_from(const cohort_trainee *t, size_t f, const co_nb *nb, size_t m, double *value,
                       double *probs) {
  const co_feature *fe = &t->schema.f[f];
  size_t nf = t->nf;
  if (is_vote(fe)) {
    size_t nl = fe->levels.n;
    double stack[64];
    double *p = probs ? probs : nl <= 64 ? stack : NULL;
    double total = 0, best = -1;
    size_t arg = 0;
    if (p)
      memset(p, 0, nl * sizeof *p);
    for (size_t i = 0; i < m; i++) {
      double v = t->x[(size_t)nb[i].i * nf + f];
      if (isnan(v) || (size_t)v >= nl)
        continue;
      double w = co_influence(t, &nb[i]);
      total += w;
      if (p)
        p[(size_t)v] += w;
    }
    if (!(total > 0)) {
      *value = NAN;
      return 1.0;
    }
    if (!p) { /* more than 64 levels and no caller buffer: find the mode without a table */
      for (size_t i = 0; i < m; i++) {
        double v = t->x[(size_t)nb[i].i * nf + f], s = 0;
        if (isnan(v))
          continue;
        for (size_t j = 0; j < m; j++)
          if (t->x[(size_t)nb[j].i * nf + f] == v)
            s += co_influence(t, &nb[j]);
        if (s > best) {
          best = s;
          arg = (size_t)v;
        }
      }
      *value = (double)arg;
      return 1.0 - best / total;
    }
    for (size_t l = 0; l < nl; l++) {
      p[l] /= total;
      if (p[l] > best) {
        best = p[l];
        arg = l;
      }
    }
    *value = (double)arg;
    return 1.0 - best;
  }
  double sw = 0, s = 0;
  for (size_t i = 0; i < m; i++) {
    double v = t->x[(size_t)nb[i].i * nf + f];
    if (isnan(v))
      continue;
    double w = co_influence(t, &nb[i]);
    sw += w;
    s += w * v;
  }
  if (!(sw > 0)) {
    *value = NAN;
    return NAN;
  }
  double pred = s / sw, mad = 0;
  for (size_t i = 0; i < m; i++) {
    double v = t->x[(size_t)nb[i].i * nf + f];
    if (!isnan(v))
      mad += co_influence(t, &nb[i]) * fabs(v - pred);
  }
  *value = pred;
  return mad / sw;
}

void co_predict_errors(const cohort_trainee *t, size_t f, const co_nb *nb, size_t got, const size_t *kv,
                       size_t nk, double actual, double *e) {
  const co_feature *fe = &t->schema.f[f];
  size_t nf = t->nf, nl = fe->levels.n, kmax = 0;
  bool vote = is_vote(fe);
  if (vote && nl > 64) { /* the hard error stands in for the Brier score, one k at a time */
    for (size_t ki = 0; ki < nk; ki++) {
      size_t k = kv[ki] < got ? kv[ki] : got;
      double value = NAN;
      if (got)
        co_predict_from(t, f, nb, k, &value, NULL);
      e[2 * ki] = e[2 * ki + 1] = !got ? NAN : isnan(value) ? 1.0 : value == actual ? 0.0 : 1.0;
    }
    return;
  }
  uint64_t at = 0; /* bit k: some kv[ki] reads the sums at k (from 64 on, every k is looked at) */
  for (size_t ki = 0; ki < nk; ki++) {
    size_t k = kv[ki] < got ? kv[ki] : got;
    kmax = k > kmax ? k : kmax;
    at |= k < 64 ? (uint64_t)1 << k : 0;
    if (!got)
      e[2 * ki] = e[2 * ki + 1] = NAN;
  }
  /* The sums of co_predict_from, in its order, read off at each k. */
  double p[64] = {0}, total = 0, s = 0;
  for (size_t i = 0; i < kmax; i++) {
    double v = t->x[(size_t)nb[i].i * nf + f];
    if (!isnan(v) && (!vote || (size_t)v < nl)) {
      double w = co_influence(t, &nb[i]);
      total += w;
      if (vote)
        p[(size_t)v] += w;
      else
        s += w * v;
    }
    if (i + 1 < 64 && i + 1 != kmax && !(at >> (i + 1) & 1))
      continue;
    for (size_t ki = 0; ki < nk; ki++) {
      if ((kv[ki] < got ? kv[ki] : got) != i + 1)
        continue;
      double *ek = e + 2 * ki;
      if (!vote) {
        ek[0] = ek[1] = total > 0 ? fabs(s / total - actual) : NAN;
      } else if (!(total > 0)) {
        ek[0] = 2.0;
        ek[1] = 1.0;
      } else {
        double brier = 0;
        for (size_t l = 0; l < nl; l++) {
          double y = (double)l == actual ? 1.0 : 0.0, q = p[l] / total;
          brier += (q - y) * (q - y);
        }
        ek[0] = brier;
        ek[1] = (size_t)actual < nl ? 1.0 - p[(size_t)actual] / total : 1.0;
      }
    }
  }
}

/* ---------------------------------------------------------------- reaction */

struct cohort_reaction {
  size_t nrows, nt, nctx;
  char **tname;     /* nt */
  size_t *tidx;     /* nt, feature index in the trainee */
  bool *tcat;       /* nt */
  double *num;      /* nrows * nt */
  double *unc;      /* nrows * nt */
  const char **val; /* nrows * nt, into arena or level copies */
  size_t *ncls;     /* nt */
  char ***cls;      /* nt arrays of level names (copies) */
  double **prob;    /* nt arrays of nrows * ncls */
  size_t kcases;    /* details: neighbours kept per row */
  size_t *ncase;    /* nrows */
  uint32_t *case_idx;
  double *case_w;  /* nrows * kcases, normalized influence */
  char **ctxname;  /* nctx */
  double *contrib; /* nrows * nt * nctx */
  size_t *unk_off; /* nrows + 1: row i's unseen categories are unk_name/unk_val[unk_off[i] .. [i+1]) */
  const char **unk_name, **unk_val; /* into arena */
  co_arena arena;
};

void cohort_reaction_free(cohort_reaction *r) {
  if (!r)
    return;
  for (size_t i = 0; i < r->nt; i++) {
    co_free(r->tname ? r->tname[i] : NULL);
    if (r->cls && r->cls[i]) {
      for (size_t c = 0; c < r->ncls[i]; c++)
        co_free(r->cls[i][c]);
      co_free(r->cls[i]);
    }
    if (r->prob)
      co_free(r->prob[i]);
  }
  for (size_t i = 0; r->ctxname && i < r->nctx; i++)
    co_free(r->ctxname[i]);
  co_free(r->tname);
  co_free(r->tidx);
  co_free(r->tcat);
  co_free(r->num);
  co_free(r->unc);
  co_free(r->val);
  co_free(r->ncls);
  co_free(r->cls);
  co_free(r->prob);
  co_free(r->ncase);
  co_free(r->case_idx);
  co_free(r->case_w);
  co_free(r->ctxname);
  co_free(r->contrib);
  co_free(r->unk_off);
  co_free(r->unk_name);
  co_free(r->unk_val);
  co_arena_free(&r->arena);
  co_free(r);
}

size_t cohort_reaction_rows(const cohort_reaction *r) {
  return r->nrows;
}
size_t cohort_reaction_targets(const cohort_reaction *r) {
  return r->nt;
}
const char *cohort_reaction_target(const cohort_reaction *r, size_t i) {
  return i < r->nt ? r->tname[i] : NULL;
}

const char *cohort_reaction_value(const cohort_reaction *r, size_t row, size_t i) {
  return row < r->nrows && i < r->nt ? r->val[row * r->nt + i] : NULL;
}
double cohort_reaction_number(const cohort_reaction *r, size_t row, size_t i) {
  return row < r->nrows && i < r->nt ? r->num[row * r->nt + i] : NAN;
}
double cohort_reaction_uncertainty(const cohort_reaction *r, size_t row, size_t i) {
  return row < r->nrows && i < r->nt ? r->unc[row * r->nt + i] : NAN;
}
size_t cohort_reaction_classes(const cohort_reaction *r, size_t i) {
  return i < r->nt ? r->ncls[i] : 0;
}
const char *cohort_reaction_class(const cohort_reaction *r, size_t i, size_t c) {
  return i < r->nt && c < r->ncls[i] ? r->cls[i][c] : NULL;
}
double cohort_reaction_probability(const cohort_reaction *r, size_t row, size_t i, size_t c) {
  if (row >= r->nrows || i >= r->nt || c >= r->ncls[i])
    return NAN;
  return r->prob[i][row * r->ncls[i] + c];
}
size_t cohort_reaction_cases(const cohort_reaction *r, size_t row) {
  return r->ncase && row < r->nrows ? r->ncase[row] : 0;
}
void cohort_reaction_case(const cohort_reaction *r, size_t row, size_t i, size_t *case_index,
                          double *weight) {
  bool ok = r->ncase && row < r->nrows && i < r->ncase[row];
  if (case_index)
    *case_index = ok ? r->case_idx[row * r->kcases + i] : 0;
  if (weight)
    *weight = ok ? r->case_w[row * r->kcases + i] : NAN;
}
size_t cohort_reaction_contexts(const cohort_reaction *r) {
  return r->contrib ? r->nctx : 0;
}
const char *cohort_reaction_context(const cohort_reaction *r, size_t c) {
  return r->contrib && c < r->nctx ? r->ctxname[c] : NULL;
}
double cohort_reaction_contribution(const cohort_reaction *r, size_t row, size_t i, size_t c) {
  if (!r->contrib || row >= r->nrows || i >= r->nt || c >= r->nctx)
    return NAN;
  return r->contrib[(row * r->nt + i) * r->nctx + c];
}

size_t cohort_reaction_unknowns(const cohort_reaction *r, size_t row) {
  return r->unk_off && row < r->nrows ? r->unk_off[row + 1] - r->unk_off[row] : 0;
}
void cohort_reaction_unknown(const cohort_reaction *r, size_t row, size_t k, const char **feature,
                             const char **value) {
  bool ok = k < cohort_reaction_unknowns(r, row);
  if (feature)
    *feature = ok ? r->unk_name[r->unk_off[row] + k] : NULL;
  if (value)
    *value = ok ? r->unk_val[r->unk_off[row] + k] : NULL;
}

/* ---------------------------------------------------------------- react */

typedef struct react_ctx {
  cohort_trainee *t;
  const co_index **tix;  /* nt: the index each target is predicted in (co_trainee_predict_geometry) */
  const co_params **tpr; /* nt: and its parameters */
  const double *x;       /* encoded rows, nrows * nf */
  const bool *is_ctx;    /* nf: feature may be used as context */
  const size_t *ctxidx;  /* nctx feature indices (for contributions) */
  unsigned details;
  cohort_reaction *r;
} react_ctx;

/* Neighbours and prediction of target ti for one row (q: scaled in the target's index) with a given
 * context mask. In a decorrelated geometry every slot of the block blends the block's features, so
 * it counts while any of them is in the context, and a dropped one is taken out of the query itself
 * (qbuf, rbuf: nf scratch). */
static void predict_one(const react_ctx *c, const float *q, const double *row, size_t ti, long drop,
                        double *wbuf, float *qbuf, double *rbuf, co_nb *nb, size_t *m, double *value,
                        double *unc, double *probs) {
  const cohort_trainee *t = c->t;
  size_t tf = c->r->tidx[ti];
  const co_params *pr = c->tpr[ti];
  const co_index *ix = c->tix[ti];
  for (size_t f = 0; f < t->nf; f++)
    wbuf[f] = c->is_ctx[f] && (long)f != drop && !isnan(row[f]) ? pr->w[f] : 0.0;
  if (ix->lin) {
    const co_lin *l = ix->lin;
    bool any = false, dropped = false;
    for (size_t j = 0; j < l->nq; j++) {
      size_t g = l->qidx[j];
      any |= c->is_ctx[g] && (long)g != drop && !isnan(row[g]);
      dropped |= (long)g == drop;
    }
    for (size_t j = 0; j < l->nq; j++)
      wbuf[l->qidx[j]] = any ? pr->w[l->qidx[j]] : 0.0;
    if (dropped) {
      memcpy(rbuf, row, t->nf * sizeof *rbuf);
      rbuf[drop] = NAN;
      co_index_scale(ix, rbuf, qbuf);
      q = qbuf;
    }
  }
  co_metric met = {wbuf, pr->p, (long)tf};
  size_t k = pr->k;
  *m = co_knn(ix, &met, q, k < CO_K_MAX ? k + 1 : k, -1, NULL, nb);
  if (*m > k) {
    size_t n = k;
    if (nb[k].d == nb[k - 1].d) {
      /* The k-th nearest ties with the next one (common with few or only nominal contexts):
       * which tied cases got in would follow case order, so every case at that distance (up to
       * CO_K_MAX) shares the weight instead. */
      *m = co_knn(ix, &met, q, CO_K_MAX, -1, NULL, nb);
      while (n < *m && nb[n].d == nb[k - 1].d)
        n++;
    }
    *m = n;
  }
  *unc = co_predict_from(t, tf, nb, *m, value, probs);
}

static cohort_status react_range(void *vctx, size_t begin, size_t end, size_t worker) {
  react_ctx *c = vctx;
  cohort_trainee *t = c->t;
  cohort_reaction *r = c->r;
  size_t nf = t->nf, nt = r->nt;
  size_t maxcls = 1;
  for (size_t i = 0; i < nt; i++)
    if (r->ncls[i] > maxcls)
      maxcls = r->ncls[i];
  float *q = co_malloc(nf * sizeof *q), *qbuf = co_malloc(nf * sizeof *qbuf);
  double *wbuf = co_malloc(nf * sizeof *wbuf), *rbuf = co_malloc(nf * sizeof *rbuf);
  co_nb *nb = co_malloc(CO_K_MAX * sizeof *nb);
  double *pbuf = co_malloc(maxcls * sizeof *pbuf);
  cohort_status st = COHORT_OK;
  if (!q || !qbuf || !wbuf || !rbuf || !nb || !pbuf) {
    st = co_nomem();
    goto out;
  }
  for (size_t row = begin; row < end; row++) {
    const double *x = c->x + row * nf;
    /* The query holds only context values; targets and non-context features are missing, so
     * their weight is 0 anyway. */
    const co_index *scaled = NULL;
    for (size_t i = 0; i < nt; i++) {
      size_t m;
      double value, unc;
      double *probs = r->tcat[i] ? r->prob[i] + row * r->ncls[i] : NULL;
      if (c->tix[i] != scaled)
        co_index_scale(scaled = c->tix[i], x, q);
      predict_one(c, q, x, i, -1, wbuf, qbuf, rbuf, nb, &m, &value, &unc, probs);
      r->num[row * nt + i] = value;
      r->unc[row * nt + i] = unc;
      if ((c->details & COHORT_DETAIL_CASES) && i == 0) {
        double tot = 0;
        for (size_t j = 0; j < m && j < r->kcases; j++)
          tot += co_influence(t, &nb[j]);
        r->ncase[row] = m < r->kcases ? m : r->kcases;
        for (size_t j = 0; j < r->ncase[row]; j++) {
          r->case_idx[row * r->kcases + j] = nb[j].i;
          r->case_w[row * r->kcases + j] = tot > 0 ? co_influence(t, &nb[j]) / tot : 0;
        }
      }
      if (c->details & COHORT_DETAIL_CONTRIBUTIONS) {
        /* Contribution of a context feature: how much the prediction moves without it
         * (numeric: absolute change; categorical: change in the predicted class's probability). */
        for (size_t k = 0; k < r->nctx; k++) {
          size_t cf = c->ctxidx[k];
          double v2, u2, delta = 0;
          if (!isnan(x[cf])) {
            predict_one(c, q, x, i, (long)cf, wbuf, qbuf, rbuf, nb, &m, &v2, &u2, r->tcat[i] ? pbuf : NULL);
            if (r->tcat[i] && !isnan(value))
              delta = fabs(probs[(size_t)value] - pbuf[(size_t)value]);
            else if (!isnan(value) && !isnan(v2))
              delta = fabs(value - v2);
          }
          r->contrib[(row * nt + i) * r->nctx + k] = delta;
        }
      }
    }
  }
out:
  co_free(q);
  co_free(qbuf);
  co_free(wbuf);
  co_free(rbuf);
  co_free(nb);
  co_free(pbuf);
  (void)worker;
  return st;
}

static cohort_status reaction_alloc(cohort_reaction *r, const cohort_trainee *t, const size_t *ctxidx,
                                    unsigned details) {
  size_t nt = r->nt, nrows = r->nrows;
  r->tname = co_calloc(nt, sizeof *r->tname);
  r->tcat = co_calloc(nt, sizeof *r->tcat);
  r->num = co_calloc(nrows * nt + 1, sizeof *r->num);
  r->unc = co_calloc(nrows * nt + 1, sizeof *r->unc);
  r->val = co_calloc(nrows * nt + 1, sizeof *r->val);
  r->ncls = co_calloc(nt, sizeof *r->ncls);
  r->cls = co_calloc(nt, sizeof *r->cls);
  r->prob = co_calloc(nt, sizeof *r->prob);
  if (!r->tname || !r->tcat || !r->num || !r->unc || !r->val || !r->ncls || !r->cls || !r->prob)
    return co_nomem();
  for (size_t i = 0; i < nt; i++) {
    const co_feature *f = &t->schema.f[r->tidx[i]];
    if (!(r->tname[i] = co_strdup(f->name)))
      return co_nomem();
    r->tcat[i] = is_vote(f);
    if (!r->tcat[i])
      continue;
    size_t nl = f->levels.n;
    r->cls[i] = co_calloc(nl + 1, sizeof **r->cls);
    r->prob[i] = co_calloc(nrows * nl + 1, sizeof **r->prob);
    if (!r->cls[i] || !r->prob[i])
      return co_nomem();
    r->ncls[i] = nl;
    for (size_t l = 0; l < nl; l++)
      if (!(r->cls[i][l] = co_strdup(f->levels.items[l])))
        return co_nomem();
  }
  if (details & COHORT_DETAIL_CASES) {
    size_t kmax = 1;
    for (size_t i = 0; i < nt; i++) {
      size_t k = co_trainee_react_params(t, (long)r->tidx[i])->k;
      kmax = k > kmax ? k : kmax;
    }
    r->kcases = kmax;
    r->ncase = co_calloc(nrows + 1, sizeof *r->ncase);
    r->case_idx = co_calloc(nrows * kmax + 1, sizeof *r->case_idx);
    r->case_w = co_calloc(nrows * kmax + 1, sizeof *r->case_w);
    if (!r->ncase || !r->case_idx || !r->case_w)
      return co_nomem();
  }
  if (details & COHORT_DETAIL_CONTRIBUTIONS) {
    r->ctxname = co_calloc(r->nctx + 1, sizeof *r->ctxname);
    r->contrib = co_calloc(nrows * nt * r->nctx + 1, sizeof *r->contrib);
    if (!r->ctxname || !r->contrib)
      return co_nomem();
    for (size_t k = 0; k < r->nctx; k++)
      if (!(r->ctxname[k] = co_strdup(t->schema.f[ctxidx[k]].name)))
        return co_nomem();
  }
  return COHORT_OK;
}

static cohort_status format_values(cohort_reaction *r, const cohort_trainee *t) {
  char buf[CO_CELL_MAX];
  for (size_t row = 0; row < r->nrows; row++) {
    for (size_t i = 0; i < r->nt; i++) {
      const co_feature *f = &t->schema.f[r->tidx[i]];
      const char *s = co_feature_format(f, r->num[row * r->nt + i], buf, sizeof buf);
      if (!s)
        continue;
      const char *copy = co_arena_strndup(&r->arena, s, strlen(s));
      if (!copy)
        return co_nomem();
      r->val[row * r->nt + i] = copy;
    }
  }
  return COHORT_OK;
}

/* The first column of rows that names no feature: an error naming the nearest feature. */
static cohort_status check_columns(const cohort_trainee *t, const cohort_table *rows) {
  for (size_t c = 0; c < rows->ncols; c++) {
    const char *name = rows->names[c];
    if (cohort_schema_find(&t->schema, name) >= 0)
      continue;
    const char *near = cohort_schema_nearest(&t->schema, name);
    return co_error_in("rows", co_error(COHORT_EINVAL, "rows: unknown column '%.128s' (%s%.128s%s)", name,
                                        near ? "did you mean '" : "not a feature of the trainee",
                                        near ? near : "", near ? "'?" : ""));
  }
  return COHORT_OK;
}

/* Records the context categories the trainee never saw, which co_trainee_encode coded as the
 * level count (equal to no case). */
static cohort_status note_unknowns(cohort_reaction *r, const cohort_trainee *t, const cohort_table *rows,
                                   const double *x, const bool *is_ctx) {
  size_t nf = t->nf, total = 0;
  for (size_t row = 0; row < r->nrows; row++)
    for (size_t f = 0; f < nf; f++)
      total += is_ctx[f] && co_is_categorical(t->schema.f[f].type) &&
               x[row * nf + f] == (double)t->schema.f[f].levels.n;
  if (!total)
    return COHORT_OK;
  r->unk_off = co_calloc(r->nrows + 1, sizeof *r->unk_off);
  r->unk_name = co_calloc(total, sizeof *r->unk_name);
  r->unk_val = co_calloc(total, sizeof *r->unk_val);
  if (!r->unk_off || !r->unk_name || !r->unk_val)
    return co_nomem();
  size_t k = 0;
  for (size_t row = 0; row < r->nrows; row++) {
    r->unk_off[row] = k;
    for (size_t f = 0; f < nf; f++) {
      const co_feature *fe = &t->schema.f[f];
      if (!is_ctx[f] || !co_is_categorical(fe->type) || x[row * nf + f] != (double)fe->levels.n)
        continue;
      const char *cell = rows->cells[row * rows->ncols + (size_t)cohort_table_find(rows, fe->name)];
      if (!(r->unk_name[k] = co_arena_strndup(&r->arena, fe->name, strlen(fe->name))) ||
          !(r->unk_val[k] = co_arena_strndup(&r->arena, cell, strlen(cell))))
        return co_nomem();
      k++;
    }
  }
  r->unk_off[r->nrows] = k;
  return COHORT_OK;
}

cohort_status cohort_react(cohort_trainee *t, const cohort_table *rows, const cohort_react_options *options,
                           cohort_reaction **out) {
  if (!t || !rows || !options || !out)
    return co_error(COHORT_EINVAL, "react: trainee, rows and options are required");
  cohort_react_options o;
  cohort_status rs = co_options_read(&o, sizeof o, options, "react");
  if (rs != COHORT_OK)
    return rs;
  const cohort_react_options *opt = &o;
  if (!opt->n_targets || !opt->targets)
    return co_error_in("targets", co_error(COHORT_EINVAL, "react: at least one target feature is required"));
  if (!t->n)
    return co_error(COHORT_ESTATE, "react: the trainee has no cases; train it first");
  if (opt->reject_unknown_columns && (rs = check_columns(t, rows)) != COHORT_OK)
    return rs;
  size_t nf = t->nf;
  cohort_status st = COHORT_OK;
  double *x = NULL;
  const co_index **tix = NULL;
  const co_params **tpr = NULL;
  bool *is_ctx = co_calloc(nf, sizeof *is_ctx);
  size_t *ctxidx = co_calloc(nf, sizeof *ctxidx);
  cohort_reaction *r = co_calloc(1, sizeof *r);
  if (!is_ctx || !ctxidx || !r) {
    st = co_nomem();
    goto fail;
  }
  r->nrows = rows->nrows;
  r->nt = opt->n_targets;
  r->tidx = co_calloc(r->nt, sizeof *r->tidx);
  if (!r->tidx) {
    st = co_nomem();
    goto fail;
  }
  for (size_t i = 0; i < r->nt; i++) {
    if ((st = co_trainee_feature(t, opt->targets[i], &r->tidx[i])) != COHORT_OK) {
      co_error_in("targets", st);
      goto fail;
    }
    for (size_t j = 0; j < i; j++)
      if (r->tidx[j] == r->tidx[i]) {
        st = co_error_in("targets",
                         co_error(COHORT_EINVAL, "react: target '%s' is given twice", opt->targets[i]));
        goto fail;
      }
  }
  if (opt->contexts) {
    for (size_t i = 0; i < opt->n_contexts; i++) {
      size_t f = 0;
      if ((st = co_trainee_feature(t, opt->contexts[i], &f)) != COHORT_OK) {
        co_error_in("contexts", st);
        goto fail;
      }
      if (cohort_table_find(rows, opt->contexts[i]) < 0) {
        st = co_error_in("contexts",
                         co_error(COHORT_EINVAL, "react: context feature '%s' is not a column of the rows",
                                  opt->contexts[i]));
        goto fail;
      }
      is_ctx[f] = true;
    }
  } else {
    for (size_t f = 0; f < nf; f++)
      is_ctx[f] = !(t->schema.f[f].flags & CO_F_IGNORED) && cohort_table_find(rows, t->schema.f[f].name) >= 0;
  }
  for (size_t i = 0; i < r->nt; i++)
    is_ctx[r->tidx[i]] = false;
  for (size_t f = 0; f < nf; f++)
    if (is_ctx[f])
      ctxidx[r->nctx++] = f;
  if ((st = reaction_alloc(r, t, ctxidx, opt->details)) != COHORT_OK)
    goto fail;
  if ((st = co_trainee_encode(t, rows, false, &x)) != COHORT_OK) {
    co_error_in("rows", st);
    goto fail;
  }
  if ((st = note_unknowns(r, t, rows, x, is_ctx)) != COHORT_OK)
    goto fail;
  if (!(tix = co_calloc(r->nt, sizeof *tix)) || !(tpr = co_calloc(r->nt, sizeof *tpr))) {
    st = co_nomem();
    goto fail;
  }
  for (size_t i = 0; i < r->nt; i++)
    if ((st = co_trainee_predict_geometry(t, r->tidx[i], &tpr[i], &tix[i])) != COHORT_OK)
      goto fail;
  react_ctx c = {t, tix, tpr, x, is_ctx, ctxidx, opt->details, r};
  if ((st = co_parallel(r->nrows, opt->threads, 16, react_range, &c)) != COHORT_OK)
    goto fail;
  if ((st = format_values(r, t)) != COHORT_OK)
    goto fail;
  co_free(x);
  co_free(is_ctx);
  co_free(ctxidx);
  co_free(tix);
  co_free(tpr);
  *out = r;
  return COHORT_OK;
fail:
  co_free(x);
  co_free(is_ctx);
  co_free(ctxidx);
  co_free(tix);
  co_free(tpr);
  cohort_reaction_free(r);
  return st;
}

/* ---------------------------------------------------------------- impute */

/* Predicts every missing, non-ignored feature of each row of x (nrows * nf) from the row's present
 * features into fill (same shape; NaN where nothing is predicted). exclude_self: rows are the
 * trainee's own cases (row i skips case i). */
typedef struct impute_ctx {
  cohort_trainee *t;
  const co_index *ix;
  const double *x;
  double *fill;
  bool self;
} impute_ctx;

static cohort_status impute_range(void *vctx, size_t begin, size_t end, size_t worker) {
  impute_ctx *c = vctx;
  cohort_trainee *t = c->t;
  size_t nf = t->nf;
  float *q = co_malloc(nf * sizeof *q);
  double *wbuf = co_malloc(nf * sizeof *wbuf);
  co_nb *nb = co_malloc(CO_K_MAX * sizeof *nb);
  if (!q || !wbuf || !nb) {
    co_free(q);
    co_free(wbuf);
    co_free(nb);
    return co_nomem();
  }
  for (size_t row = begin; row < end; row++) {
    const double *x = c->x + row * nf;
    co_index_scale(c->ix, x, q);
    for (size_t f = 0; f < nf; f++) {
      c->fill[row * nf + f] = NAN;
      if (!isnan(x[f]) || (t->schema.f[f].flags & CO_F_IGNORED))
        continue;
      const co_params *pr = co_trainee_params_for(t, (long)f);
      for (size_t g = 0; g < nf; g++)
        wbuf[g] = isnan(x[g]) ? 0.0 : pr->w[g];
      co_metric met = {wbuf, pr->p, (long)f};
      size_t m = co_knn(c->ix, &met, q, pr->k, c->self ? (long)row : -1, NULL, nb);
      double v;
      co_predict_from(t, f, nb, m, &v, NULL);
      c->fill[row * nf + f] = v;
    }
  }
  co_free(q);
  co_free(wbuf);
  co_free(nb);
  (void)worker;
  return COHORT_OK;
}

static cohort_status impute_matrix(cohort_trainee *t, const double *x, size_t nrows, bool self,
                                   double **fill) {
  if (!t->n)
    return co_error(COHORT_ESTATE, "impute: the trainee has no cases; train it first");
  const co_index *ix;
  cohort_status st = co_trainee_index(t, &ix);
  if (st != COHORT_OK)
    return st;
  double *f = co_malloc((nrows ? nrows : 1) * t->nf * sizeof *f);
  if (!f)
    return co_nomem();
  impute_ctx c = {t, ix, x, f, self};
  st = co_parallel(nrows, 0, 16, impute_range, &c);
  if (st != COHORT_OK) {
    co_free(f);
    return st;
  }
  *fill = f;
  return COHORT_OK;
}

cohort_status cohort_impute(cohort_trainee *t, cohort_table *rows, size_t *filled) {
  if (!t || !rows)
    return co_error(COHORT_EINVAL, "impute: trainee and rows are required");
  double *x = NULL, *fill = NULL;
  cohort_status st = co_trainee_encode(t, rows, false, &x);
  if (st != COHORT_OK)
    return st;
  if ((st = impute_matrix(t, x, rows->nrows, false, &fill)) != COHORT_OK)
    goto out;
  size_t count = 0;
  char buf[CO_CELL_MAX];
  for (size_t f = 0; f < t->nf; f++) {
    long col = cohort_table_find(rows, t->schema.f[f].name);
    if (col < 0)
      continue; /* only cells of columns the table has are filled */
    for (size_t r = 0; r < rows->nrows; r++) {
      const char *s = co_feature_format(&t->schema.f[f], fill[r * t->nf + f], buf, sizeof buf);
      if (!s)
        continue;
      if ((st = cohort_table_set(rows, r, (size_t)col, s)) != COHORT_OK)
        goto out;
      count++;
    }
  }
  if (filled)
    *filled = count;
out:
  co_free(x);
  co_free(fill);
  return st;
}

cohort_status cohort_trainee_impute(cohort_trainee *t, size_t *filled) {
  if (!t)
    return co_error(COHORT_EINVAL, "impute: trainee is required");
  double *fill = NULL;
  cohort_status st = impute_matrix(t, t->x, t->n, true, &fill);
  if (st != COHORT_OK)
    return st;
  size_t count = 0;
  for (size_t i = 0; i < t->n * t->nf; i++)
    if (!isnan(fill[i])) {
      /* Categorical predictions are codes; numeric ones stay exact (formatting rounds on output). */
      t->x[i] = fill[i];
      count++;
    }
  co_free(fill);
  if (count)
    co_trainee_invalidate(t);
  if (filled)
    *filled = count;
  return COHORT_OK;
}
