/* The trainee: schema + cases + learned parameters. Create, add/remove/edit cases, accessors. */
#include "co_trainee.h"

#include <stdlib.h>
#include <string.h>

int co_params_init(co_params *p, size_t nf) {
  p->k = 8;
  p->p = 1.0;
  p->w = co_malloc(nf * sizeof *p->w);
  if (!p->w)
    return -1;
  for (size_t i = 0; i < nf; i++)
    p->w[i] = 1.0;
  return 0;
}

void co_params_free(co_params *p) {
  co_free(p->w);
  p->w = NULL;
}

int co_params_copy(co_params *dst, const co_params *src, size_t nf) {
  double *w = co_malloc(nf * sizeof *w);
  if (!w)
    return -1;
  memcpy(w, src->w, nf * sizeof *w);
  co_free(dst->w);
  dst->k = src->k;
  dst->p = src->p;
  dst->w = w;
  return 0;
}

void cohort_trainee_free(cohort_trainee *t) {
  if (!t)
    return;
  co_schema_destroy(&t->schema);
  co_free(t->x);
  co_free(t->cw);
  co_free(t->dev);
  co_params_free(&t->global);
  for (size_t i = 0; i < t->ntp; i++) {
    co_params_free(&t->tp[i].params);
    co_params_free(&t->tp[i].lparams);
    co_lin_free(t->tp[i].lin);
    co_index_free(t->tp[i].lix);
  }
  co_free(t->tp);
  co_index_free(t->index);
  co_free(t->fmtbuf);
  co_free(t);
}

cohort_status cohort_trainee_create(cohort_trainee **out, const cohort_schema *schema) {
  if (!out || !schema)
    return co_error(COHORT_EINVAL, "trainee: schema is required");
  size_t used = 0;
  for (size_t i = 0; i < schema->n; i++)
    used += !(schema->f[i].flags & CO_F_IGNORED);
  if (!used)
    return co_error(COHORT_EINVAL, "trainee: the schema has no usable feature (all are ignored)");
  cohort_trainee *t = co_calloc(1, sizeof *t);
  if (!t)
    return co_nomem();
  if (co_schema_copy_into(&t->schema, schema) != 0)
    goto nomem;
  t->nf = schema->n;
  t->dev = co_malloc(t->nf * sizeof *t->dev);
  if (!t->dev || co_params_init(&t->global, t->nf) != 0)
    goto nomem;
  for (size_t i = 0; i < t->nf; i++) {
    t->dev[i] = 1.0;
    if (t->schema.f[i].flags & CO_F_IGNORED)
      t->global.w[i] = 0.0;
  }
  *out = t;
  return COHORT_OK;
nomem:
  cohort_trainee_free(t);
  return co_nomem();
}

const cohort_schema *cohort_trainee_schema(const cohort_trainee *t) {
  return &t->schema;
}
size_t cohort_trainee_cases(const cohort_trainee *t) {
  return t->n;
}
int cohort_trainee_is_analyzed(const cohort_trainee *t) {
  return t->analyzed;
}

void co_trainee_invalidate(cohort_trainee *t) {
  t->generation++;
}

cohort_status co_trainee_feature(const cohort_trainee *t, const char *name, size_t *out) {
  long i = name ? cohort_schema_find(&t->schema, name) : -1;
  if (i < 0) {
    const char *near = cohort_schema_nearest(&t->schema, name);
    return co_error(COHORT_ENOTFOUND, "feature '%.128s' is not in the trainee%s%.128s%s",
                    name ? name : "(null)", near ? " (did you mean '" : "", near ? near : "",
                    near ? "'?)" : "");
  }
  if (t->schema.f[i].flags & CO_F_IGNORED)
    return co_error(COHORT_EINVAL, "feature '%s' is ignored by the trainee (id-like or excluded)", name);
  *out = (size_t)i;
  return COHORT_OK;
}

cohort_status co_trainee_encode(cohort_trainee *t, const cohort_table *rows, bool extend, double **out) {
  size_t nf = t->nf, nr = rows->nrows;
  long *map = co_malloc(nf * sizeof *map);
  double *x = co_malloc((nr ? nr : 1) * nf * sizeof *x);
  cohort_status st = COHORT_OK;
  if (!map || !x) {
    st = co_nomem();
    goto out;
  }
  for (size_t j = 0; j < nf; j++)
    map[j] = cohort_table_find(rows, t->schema.f[j].name);
  for (size_t r = 0; r < nr; r++) {
    for (size_t j = 0; j < nf; j++) {
      double *v = &x[r * nf + j];
      co_feature *f = &t->schema.f[j];
      if (map[j] < 0 || (f->flags & CO_F_IGNORED)) {
        *v = NAN;
        continue;
      }
      const char *cell = rows->cells[r * rows->ncols + (size_t)map[j]];
      st = co_feature_encode(f, cell, extend, v);
      if (st == COHORT_ENOTFOUND && !extend) {
        *v = (double)f->levels.n; /* an unseen category: equal to no case */
        st = COHORT_OK;
      } else if (st != COHORT_OK) {
        st = co_error(st, "row %zu, column '%s': %s", r + 1, f->name, cohort_errmsg());
        goto out;
      }
    }
  }
out:
  co_free(map);
  if (st != COHORT_OK) {
    co_free(x);
    return st;
  }
  *out = x;
  return COHORT_OK;
}

/* Case weights are held only once one differs from 1: allocates them (cap entries, all 1). */
static int materialize_weights(cohort_trainee *t) {
  if (t->cw)
    return 0;
  double *cw = co_malloc((t->cap ? t->cap : 1) * sizeof *cw);
  if (!cw)
    return -1;
  for (size_t i = 0; i < t->cap; i++)
    cw[i] = 1.0;
  t->cw = cw;
  return 0;
}

cohort_status cohort_trainee_train(cohort_trainee *t, const cohort_table *rows, const double *weights) {
  if (!t || !rows)
    return co_error(COHORT_EINVAL, "train: trainee and rows are required");
  size_t found = 0;
  for (size_t j = 0; j < t->nf; j++)
    found += !(t->schema.f[j].flags & CO_F_IGNORED) && cohort_table_find(rows, t->schema.f[j].name) >= 0;
  if (rows->nrows && !found)
    return co_error(COHORT_EINVAL, "train: the table has none of the trainee's features");
  if (t->n + rows->nrows > UINT32_MAX - 1)
    return co_error(COHORT_ELIMIT, "train: at most %u cases per trainee", UINT32_MAX - 1);
  for (size_t r = 0; weights && r < rows->nrows; r++)
    if (!(weights[r] >= 0) || !isfinite(weights[r]))
      return co_error(COHORT_EINVAL, "train: weight of row %zu must be a finite number >= 0", r + 1);

  double *x = NULL;
  cohort_status st = co_trainee_encode(t, rows, true, &x);
  if (st != COHORT_OK)
    return st;
  size_t need = t->n + rows->nrows;
  if (need > t->cap) {
    size_t cap = t->cap * 2 > need ? t->cap * 2 : need;
    double *nx = co_realloc(t->x, cap * t->nf * sizeof *nx);
    if (nx)
      t->x = nx;
    double *nw = nx && t->cw ? co_realloc(t->cw, cap * sizeof *nw) : NULL;
    if (!nx || (t->cw && !nw)) {
      co_free(x);
      return co_nomem();
    }
    if (nw)
      t->cw = nw;
    t->cap = cap;
  }
  memcpy(t->x + t->n * t->nf, x, rows->nrows * t->nf * sizeof *x);
  for (size_t j = 0; j < t->nf; j++) { /* bounds cover every case, for output clamping */
    co_feature *f = &t->schema.f[j];
    if (co_is_categorical(f->type))
      continue;
    for (size_t r = 0; r < rows->nrows; r++) {
      double v = x[r * t->nf + j];
      if (isnan(v))
        continue;
      if (t->n == 0 && r == 0 && !(f->min <= f->max))
        f->min = f->max = v;
      f->min = v < f->min ? v : f->min;
      f->max = v > f->max ? v : f->max;
    }
  }
  bool uniform = true;
  for (size_t r = 0; weights && r < rows->nrows; r++)
    uniform &= weights[r] == 1.0;
  if (!uniform && materialize_weights(t) != 0) {
    co_free(x);
    return co_nomem();
  }
  for (size_t r = 0; t->cw && r < rows->nrows; r++)
    t->cw[t->n + r] = weights ? weights[r] : 1.0;
  t->n = need;
  co_free(x);
  co_trainee_invalidate(t);
  if (!t->analyzed)
    return co_trainee_default_devs(t);
  return COHORT_OK;
}

cohort_status cohort_trainee_remove_cases(cohort_trainee *t, const size_t *cases, size_t n) {
  if (!t || (n && !cases))
    return co_error(COHORT_EINVAL, "remove: no cases given");
  bool *drop = co_calloc(t->n ? t->n : 1, sizeof *drop);
  if (!drop)
    return co_nomem();
  for (size_t i = 0; i < n; i++) {
    if (cases[i] >= t->n) {
      co_free(drop);
      return co_error(COHORT_ENOTFOUND, "remove: case %zu does not exist (the trainee has %zu)", cases[i],
                      t->n);
    }
    drop[cases[i]] = true;
  }
  size_t w = 0;
  for (size_t r = 0; r < t->n; r++) {
    if (drop[r])
      continue;
    if (w != r) {
      memmove(t->x + w * t->nf, t->x + r * t->nf, t->nf * sizeof *t->x);
      if (t->cw)
        t->cw[w] = t->cw[r];
    }
    w++;
  }
  t->n = w;
  co_free(drop);
  co_trainee_invalidate(t);
  return COHORT_OK;
}

cohort_status cohort_trainee_edit_case(cohort_trainee *t, size_t case_index, const char *feature,
                                       const char *value) {
  size_t j = 0;
  if (!t || case_index >= (t ? t->n : 0))
    return co_error(COHORT_ENOTFOUND, "edit: case %zu does not exist", case_index);
  cohort_status st = co_trainee_feature(t, feature, &j);
  if (st != COHORT_OK)
    return st;
  double v;
  st = co_feature_encode(&t->schema.f[j], value, true, &v);
  if (st != COHORT_OK)
    return co_error(st, "edit: feature '%s': %s", feature, cohort_errmsg());
  t->x[case_index * t->nf + j] = v;
  co_trainee_invalidate(t);
  return COHORT_OK;
}

cohort_status cohort_trainee_set_weight(cohort_trainee *t, size_t case_index, double weight) {
  if (!t || case_index >= t->n)
    return co_error(COHORT_ENOTFOUND, "weight: case %zu does not exist", case_index);
  if (!(weight >= 0) || !isfinite(weight))
    return co_error(COHORT_EINVAL, "weight: must be a finite number >= 0");
  if (!t->cw && weight != 1.0 && materialize_weights(t) != 0)
    return co_nomem();
  if (t->cw)
    t->cw[case_index] = weight;
  return COHORT_OK;
}

cohort_status cohort_trainee_case(cohort_trainee *t, size_t case_index, const char **cells) {
  if (!t || case_index >= t->n)
    return co_error(COHORT_ENOTFOUND, "case %zu does not exist", case_index);
  if (!t->fmtbuf && !(t->fmtbuf = co_malloc(t->nf * CO_CELL_MAX)))
    return co_nomem();
  for (size_t j = 0; j < t->nf; j++) {
    const co_feature *f = &t->schema.f[j];
    cells[j] = co_feature_format(f, t->x[case_index * t->nf + j], t->fmtbuf + j * CO_CELL_MAX, CO_CELL_MAX);
  }
  return COHORT_OK;
}

double co_feature_mad(const cohort_trainee *t, size_t f) {
  double sum = 0, m = 0, mad = 0;
  for (size_t r = 0; r < t->n; r++) {
    double v = t->x[r * t->nf + f];
    if (!isnan(v)) {
      sum += v;
      m++;
    }
  }
  if (!m)
    return NAN;
  double mean = sum / m;
  for (size_t r = 0; r < t->n; r++) {
    double v = t->x[r * t->nf + f];
    if (!isnan(v))
      mad += fabs(v - mean);
  }
  return mad / m;
}

/* Mean absolute deviation from the mean (numeric) or 1 - sum p^2 (categorical). */
cohort_status co_trainee_default_devs(cohort_trainee *t) {
  for (size_t j = 0; j < t->nf; j++) {
    const co_feature *f = &t->schema.f[j];
    double dev;
    if (co_is_categorical(f->type) && f->type != COHORT_ORDINAL) {
      size_t nl = f->levels.n ? f->levels.n : 1, m = 0;
      double *cnt = co_calloc(nl, sizeof *cnt);
      if (!cnt)
        return co_nomem();
      for (size_t r = 0; r < t->n; r++) {
        double v = t->x[r * t->nf + j];
        if (isnan(v))
          continue;
        m++;
        if ((size_t)v < nl)
          cnt[(size_t)v] += 1;
      }
      double s = 0;
      for (size_t l = 0; l < nl; l++)
        s += m ? (cnt[l] / m) * (cnt[l] / m) : 0;
      co_free(cnt);
      dev = m ? fmax(1.0 - s, 0.01) : 1.0;
    } else {
      double range = f->max - f->min;
      dev = co_feature_mad(t, j);
      if (isnan(dev))
        dev = 1.0; /* no value yet */
      else if (!(dev > 0))
        dev = range > 0 ? range / 100 : 1.0;
    }
    t->dev[j] = dev;
  }
  co_trainee_invalidate(t);
  return COHORT_OK;
}

const co_params *co_trainee_params_for(const cohort_trainee *t, long target) {
  for (size_t i = 0; target >= 0 && i < t->ntp; i++)
    if (t->tp[i].target == (size_t)target)
      return &t->tp[i].params;
  return &t->global;
}

const co_params *co_trainee_react_params(const cohort_trainee *t, long target) {
  for (size_t i = 0; target >= 0 && i < t->ntp; i++)
    if (t->tp[i].target == (size_t)target && t->tp[i].lin)
      return &t->tp[i].lparams;
  return co_trainee_params_for(t, target);
}

cohort_status cohort_trainee_params(const cohort_trainee *t, const char *target, size_t *k, double *p) {
  long ti = -1;
  if (target) {
    size_t j = 0;
    cohort_status st = co_trainee_feature(t, target, &j);
    if (st != COHORT_OK)
      return st;
    ti = (long)j;
  }
  const co_params *pr = co_trainee_react_params(t, ti);
  if (k)
    *k = pr->k;
  if (p)
    *p = pr->p;
  return COHORT_OK;
}

double cohort_trainee_deviation(const cohort_trainee *t, size_t feature) {
  return feature < t->nf ? t->dev[feature] : NAN;
}

double cohort_trainee_feature_weight(const cohort_trainee *t, const char *target, size_t feature) {
  long ti = target ? cohort_schema_find(&t->schema, target) : -1;
  return feature < t->nf ? co_trainee_params_for(t, ti)->w[feature] : NAN;
}
