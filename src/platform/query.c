/* query.c: the interactive questions on a hosted trainee (see query.h), run in this process. */
#include "query.h"
#include "calls.h"
#include "co_base.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The request is at fault: EINVAL naming field. */
static cohort_status bad(const char **field_out, const char *field, const char *fmt, ...) CO_PRINTF(3, 4);
static cohort_status bad(const char **field_out, const char *field, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  *field_out = field;
  return co_error(COHORT_EINVAL, "%s", msg);
}

/* JSON has no NaN or infinity: they become null (json_real would refuse them). */
static json_t *num(double v) {
  return isfinite(v) ? json_real(v) : json_null();
}

static int64_t opt_int(json_t *req, const char *key, int64_t dflt, int64_t lo, int64_t hi, const char **field,
                       cohort_status *st) {
  json_t *v = json_object_get(req, key);
  if (!v || json_is_null(v))
    return dflt;
  if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
    *st = bad(field, key, "%s: must be an integer from %lld to %lld", key, (long long)lo, (long long)hi);
    return dflt;
  }
  return (int64_t)json_integer_value(v);
}

/* ---------------------------------------------------------------- rows in JSON */

static int cell_text(json_t *v, char *buf, size_t cap, const char **out) {
  if (json_is_null(v)) {
    *out = NULL;
    return 0;
  }
  if (json_is_string(v)) {
    *out = json_string_value(v);
    return 0;
  }
  if (json_is_integer(v))
    snprintf(buf, cap, "%lld", (long long)json_integer_value(v));
  else if (json_is_real(v))
    snprintf(buf, cap, "%.17g", json_real_value(v));
  else if (json_is_boolean(v))
    snprintf(buf, cap, "%s", json_is_true(v) ? "true" : "false");
  else
    return -1;
  *out = buf;
  return 0;
}

/* "rows": [{"col": value, ...}, ...] -> a table whose columns are every key seen. */
static cohort_status rows_table(co_platform *p, json_t *req, cohort_table **out, size_t *nrows,
                                const char **field) {
  json_t *rows = json_object_get(req, "rows");
  *out = NULL;
  if (!json_is_array(rows) || json_array_size(rows) == 0)
    return bad(field, "rows", "rows: required, an array of objects (column name to value)");
  size_t n = json_array_size(rows);
  if ((int64_t)n > p->cfg.max_rows) {
    *field = "rows";
    return co_error(COHORT_ELIMIT, "rows: %zu rows, more than max_rows (%lld)", n,
                    (long long)p->cfg.max_rows);
  }
  json_t *cols = json_object(); /* name -> index */
  const char **names = NULL;
  const char **cells = NULL;
  char(*bufs)[40] = NULL;
  size_t nc = 0;
  cohort_status st = COHORT_OK;
  for (size_t i = 0; i < n && st == COHORT_OK; i++) {
    json_t *row = json_array_get(rows, i);
    const char *key;
    json_t *v;
    if (!json_is_object(row)) {
      st = bad(field, "rows", "rows[%zu]: must be an object", i);
      break;
    }
    json_object_foreach(row, key, v) {
      if (!json_object_get(cols, key)) {
        json_object_set_new(cols, key, json_integer((json_int_t)nc++));
        if (nc > 10000) {
          st = bad(field, "rows", "rows: more than 10000 distinct columns");
          break;
        }
      }
    }
  }
  if (st != COHORT_OK)
    goto out;
  names = co_calloc(nc ? nc : 1, sizeof *names);
  cells = co_calloc(nc ? nc : 1, sizeof *cells);
  bufs = co_calloc(nc ? nc : 1, sizeof *bufs);
  if (!names || !cells || !bufs) {
    st = co_nomem();
    goto out;
  }
  {
    const char *key;
    json_t *v;
    json_object_foreach(cols, key, v) names[json_integer_value(v)] = key;
  }
  if ((st = cohort_table_create(out, nc, names)) != COHORT_OK) {
    *field = "rows";
    goto out;
  }
  for (size_t i = 0; i < n; i++) {
    json_t *row = json_array_get(rows, i);
    for (size_t c = 0; c < nc; c++) {
      json_t *v = json_object_get(row, names[c]);
      cells[c] = NULL;
      if (v && cell_text(v, bufs[c], sizeof bufs[c], &cells[c]) < 0) {
        st = bad(field, "rows", "rows[%zu].%s: must be a string, number, boolean or null", i, names[c]);
        goto out;
      }
    }
    if ((st = cohort_table_append(*out, cells)) != COHORT_OK) {
      *field = "rows";
      goto out;
    }
  }
  *nrows = n;
out:
  if (st != COHORT_OK) {
    cohort_table_free(*out);
    *out = NULL;
  }
  co_free(names);
  co_free(cells);
  co_free(bufs);
  json_decref(cols);
  return st;
}

/* A list of names (or one name as a string); borrowed from req. */
static cohort_status name_list(json_t *req, const char *key, int required, const char ***out, size_t *n,
                               const char **field) {
  json_t *a = json_object_get(req, key);
  *out = NULL;
  *n = 0;
  if (!a || json_is_null(a))
    return required ? bad(field, key, "%s: required, an array of feature names", key) : COHORT_OK;
  if (json_is_string(a)) { /* one name */
    if (!(*out = co_calloc(1, sizeof **out)))
      return co_nomem();
    (*out)[0] = json_string_value(a);
    *n = 1;
    return COHORT_OK;
  }
  if (!json_is_array(a) || json_array_size(a) == 0 || json_array_size(a) > 10000)
    return bad(field, key, "%s: must be a non-empty array of feature names", key);
  *n = json_array_size(a);
  if (!(*out = co_calloc(*n, sizeof **out)))
    return co_nomem();
  for (size_t i = 0; i < *n; i++)
    if (!((*out)[i] = json_string_value(json_array_get(a, i)))) {
      co_free(*out);
      *out = NULL;
      return bad(field, key, "%s[%zu]: must be a string", key, i);
    }
  return COHORT_OK;
}

/* ---------------------------------------------------------------- predict */

/* The row's context categories that the trainee never saw (they informed nothing), or NULL. */
static json_t *unknown_levels(const cohort_reaction *re, size_t i) {
  size_t n = cohort_reaction_unknowns(re, i);
  json_t *a = n ? json_array() : NULL;
  for (size_t k = 0; k < n; k++) {
    const char *col, *val;
    cohort_reaction_unknown(re, i, k, &col, &val);
    json_array_append_new(a, json_pack("{s:s, s:s}", "column", col, "value", val));
  }
  return a;
}

static json_t *prediction_row(const cohort_reaction *re, size_t i, unsigned details) {
  json_t *values = json_object(), *unc = json_object(), *probs = NULL, *row = json_object();
  size_t ntg = cohort_reaction_targets(re);
  for (size_t t = 0; t < ntg; t++) {
    const char *name = cohort_reaction_target(re, t);
    const char *v = cohort_reaction_value(re, i, t);
    json_object_set_new(values, name, v ? json_string(v) : json_null());
    json_object_set_new(unc, name, num(cohort_reaction_uncertainty(re, i, t)));
    size_t nc = cohort_reaction_classes(re, t);
    if (nc) {
      json_t *pc = json_object();
      for (size_t c = 0; c < nc; c++)
        json_object_set_new(pc, cohort_reaction_class(re, t, c),
                            num(cohort_reaction_probability(re, i, t, c)));
      if (!probs)
        probs = json_object();
      json_object_set_new(probs, name, pc);
    }
  }
  json_object_set_new(row, "values", values);
  json_object_set_new(row, "uncertainty", unc);
  if (probs)
    json_object_set_new(row, "probabilities", probs);
  json_t *unknown = unknown_levels(re, i);
  if (unknown)
    json_object_set_new(row, "unknown", unknown);
  if (details & COHORT_DETAIL_CASES) {
    json_t *cases = json_array();
    for (size_t k = 0; k < cohort_reaction_cases(re, i); k++) {
      size_t ci;
      double w;
      cohort_reaction_case(re, i, k, &ci, &w);
      json_array_append_new(cases, json_pack("{s:I, s:o}", "case", (json_int_t)ci, "weight", num(w)));
    }
    json_object_set_new(row, "cases", cases);
  }
  if (details & COHORT_DETAIL_CONTRIBUTIONS) {
    json_t *contrib = json_object();
    for (size_t t = 0; t < ntg; t++) {
      json_t *ct = json_object();
      for (size_t c = 0; c < cohort_reaction_contexts(re); c++)
        json_object_set_new(ct, cohort_reaction_context(re, c),
                            num(cohort_reaction_contribution(re, i, t, c)));
      json_object_set_new(contrib, cohort_reaction_target(re, t), ct);
    }
    json_object_set_new(row, "contributions", contrib);
  }
  return row;
}

static cohort_status q_predict(co_platform *p, const co_trainee *rec, json_t *req, json_t **reply,
                               const char **field) {
  cohort_table *tab = NULL;
  cohort_reaction *re = NULL;
  co_hosted *h = NULL;
  const char **targets = NULL, **contexts = NULL, **details = NULL;
  size_t nt, nctx, nd, nrows;
  cohort_status st;
  if ((st = name_list(req, "targets", 1, &targets, &nt, field)) != COHORT_OK ||
      (st = name_list(req, "contexts", 0, &contexts, &nctx, field)) != COHORT_OK ||
      (st = name_list(req, "details", 0, &details, &nd, field)) != COHORT_OK ||
      (st = rows_table(p, req, &tab, &nrows, field)) != COHORT_OK ||
      (st = co_host_acquire(p->host, rec, &h)) != COHORT_OK)
    goto out;
  cohort_react_options ro = COHORT_REACT_OPTIONS_INIT;
  ro.targets = targets;
  ro.n_targets = nt;
  ro.contexts = contexts;
  ro.n_contexts = nctx;
  ro.threads = nrows < 256 ? 1 : 0; /* one row is faster on the request's own thread */
  ro.reject_unknown_columns = 1;    /* a misspelt column would silently be no context */
  for (size_t i = 0; i < nd; i++) {
    if (strcmp(details[i], "cases") == 0)
      ro.details |= COHORT_DETAIL_CASES;
    else if (strcmp(details[i], "contributions") == 0)
      ro.details |= COHORT_DETAIL_CONTRIBUTIONS;
    else {
      st = bad(field, "details", "details[%zu]: must be cases or contributions", i);
      goto out;
    }
  }
  st = cohort_react(co_hosted_trainee(h), tab, &ro, &re);
  if (st == COHORT_EFORMAT) {
    *field = "rows";
    st = COHORT_EINVAL;
    goto out;
  }
  if (st == COHORT_ENOTFOUND || st == COHORT_EINVAL) {
    /* A name in the request that the trainee lacks is the request's fault; the engine says which. */
    *field = strcmp(cohort_errfield(), "contexts") == 0 ? "contexts"
             : strcmp(cohort_errfield(), "rows") == 0   ? "rows"
                                                        : "targets";
    st = COHORT_EINVAL;
    goto out;
  }
  if (st != COHORT_OK)
    goto out;
  json_t *preds = json_array();
  for (size_t i = 0; i < cohort_reaction_rows(re); i++)
    json_array_append_new(preds, prediction_row(re, i, ro.details));
  *reply = json_pack("{s:I, s:o}", "version", (json_int_t)rec->version, "predictions", preds);
out:
  cohort_reaction_free(re);
  cohort_table_free(tab);
  co_host_release(p->host, h);
  co_free(targets);
  co_free(contexts);
  co_free(details);
  return st;
}

/* ---------------------------------------------------------------- anomalies */

typedef struct scored {
  size_t i;
  double conviction;
} scored;

static int by_conviction(const void *a, const void *b) {
  double x = ((const scored *)a)->conviction, y = ((const scored *)b)->conviction;
  return (x > y) - (x < y);
}

static cohort_status q_anomalies(co_platform *p, const co_trainee *rec, json_t *req, json_t **reply,
                                 const char **field) {
  cohort_table *tab = NULL;
  co_hosted *h = NULL;
  double *dc = NULL, *conv = NULL;
  scored *order = NULL;
  size_t n = 0;
  cohort_status st = COHORT_OK;
  int64_t top = opt_int(req, "top", 20, 1, 10000, field, &st);
  if (st != COHORT_OK)
    return st;
  int own = !json_object_get(req, "rows");
  if ((!own && (st = rows_table(p, req, &tab, &n, field)) != COHORT_OK) ||
      (st = co_host_acquire(p->host, rec, &h)) != COHORT_OK)
    goto out;
  cohort_trainee *tr = co_hosted_trainee(h);
  if (own)
    n = cohort_trainee_cases(tr);
  dc = co_calloc(n ? n : 1, sizeof *dc);
  conv = co_calloc(n ? n : 1, sizeof *conv);
  if (!dc || !conv) {
    st = co_nomem();
    goto out;
  }
  if ((st = cohort_anomalies(tr, tab, dc, conv, n)) != COHORT_OK) {
    *field = "rows";
    goto out;
  }
  json_t *a = json_array();
  if (own) {
    if (!(order = co_calloc(n ? n : 1, sizeof *order))) {
      json_decref(a);
      st = co_nomem();
      goto out;
    }
    for (size_t i = 0; i < n; i++)
      order[i] = (scored){i, conv[i]};
    qsort(order, n, sizeof *order, by_conviction);
    for (size_t k = 0; k < n && k < (size_t)top; k++) {
      size_t i = order[k].i;
      json_array_append_new(a, json_pack("{s:I, s:o, s:o}", "case", (json_int_t)i, "distance_contribution",
                                         num(dc[i]), "conviction", num(conv[i])));
    }
  } else {
    for (size_t i = 0; i < n; i++)
      json_array_append_new(a, json_pack("{s:I, s:o, s:o}", "row", (json_int_t)i, "distance_contribution",
                                         num(dc[i]), "conviction", num(conv[i])));
  }
  *reply = json_pack("{s:o, s:I}", own ? "cases" : "rows", a, "scored", (json_int_t)n);
out:
  co_free(order);
  co_free(dc);
  co_free(conv);
  cohort_table_free(tab);
  co_host_release(p->host, h);
  return st;
}

/* ---------------------------------------------------------------- impute rows */

static cohort_status q_impute(co_platform *p, const co_trainee *rec, json_t *req, json_t **reply,
                              const char **field) {
  cohort_table *tab = NULL;
  co_hosted *h = NULL;
  size_t n, filled = 0;
  cohort_status st;
  if ((st = rows_table(p, req, &tab, &n, field)) != COHORT_OK ||
      (st = co_host_acquire(p->host, rec, &h)) != COHORT_OK)
    goto out;
  if ((st = cohort_impute(co_hosted_trainee(h), tab, &filled)) != COHORT_OK) {
    *field = "rows";
    goto out;
  }
  json_t *a = json_array();
  size_t nc = cohort_table_cols(tab);
  for (size_t i = 0; i < n; i++) {
    json_t *row = json_object();
    for (size_t c = 0; c < nc; c++) {
      const char *cell = cohort_table_cell(tab, i, c);
      json_object_set_new(row, cohort_table_colname(tab, c), cell ? json_string(cell) : json_null());
    }
    json_array_append_new(a, row);
  }
  *reply = json_pack("{s:o, s:I}", "rows", a, "filled", (json_int_t)filled);
out:
  cohort_table_free(tab);
  co_host_release(p->host, h);
  return st;
}

/* ---------------------------------------------------------------- importance */

static cohort_status q_importance(co_platform *p, const co_trainee *rec, json_t *req, json_t **reply,
                                  const char **field) {
  const char *target = json_string_value(json_object_get(req, "target"));
  co_hosted *h = NULL;
  double *imp = NULL;
  cohort_status st = COHORT_OK;
  if (!target)
    return bad(field, "target", "target: required query parameter");
  int64_t sample = opt_int(req, "sample", 1000, 10, 100000, field, &st);
  if (st != COHORT_OK || (st = co_host_acquire(p->host, rec, &h)) != COHORT_OK)
    return st;
  cohort_trainee *tr = co_hosted_trainee(h);
  const cohort_schema *s = cohort_trainee_schema(tr);
  size_t nf = cohort_schema_features(s);
  if (!(imp = co_calloc(nf ? nf : 1, sizeof *imp))) {
    st = co_nomem();
    goto out;
  }
  st = cohort_feature_importance(tr, target, (size_t)sample, 1, imp, nf);
  if (st != COHORT_OK) {
    *field = "target";
    if (st == COHORT_ENOTFOUND) /* the request named a feature the trainee lacks */
      st = COHORT_EINVAL;
    goto out;
  }
  json_t *o = json_object();
  for (size_t f = 0; f < nf; f++)
    if (!cohort_schema_is_ignored(s, f) && strcmp(cohort_schema_name(s, f), target) != 0)
      json_object_set_new(o, cohort_schema_name(s, f), num(imp[f]));
  *reply = json_pack("{s:s, s:o}", "target", target, "importance", o);
out:
  co_free(imp);
  co_host_release(p->host, h);
  return st;
}

/* ---------------------------------------------------------------- dispatch */

typedef cohort_status (*query_fn)(co_platform *p, const co_trainee *rec, json_t *req, json_t **reply,
                                  const char **field);

static const struct {
  const char *verb;
  query_fn fn;
} verbs[] = {
    {"predict", q_predict},
    {"anomalies", q_anomalies},
    {"impute", q_impute},
    {"importance", q_importance},
};

cohort_status co_query_trainee(co_platform *p, const co_trainee *rec, const char *verb, json_t *req,
                               json_t **reply, const char **field) {
  if (co_platform_remote_calls(p)) /* an API process on a shared bus hosts nothing */
    return co_calls_ask(p, rec, verb, req, reply, field);
  return co_query_local(p, rec, verb, req, reply, field);
}

cohort_status co_query_local(co_platform *p, const co_trainee *rec, const char *verb, json_t *req,
                             json_t **reply, const char **field) {
  *reply = NULL;
  *field = NULL;
  if (!json_is_object(req))
    return bad(field, "body", "the request must be a JSON object");
  for (size_t i = 0; i < sizeof verbs / sizeof *verbs; i++)
    if (strcmp(verbs[i].verb, verb) == 0)
      return verbs[i].fn(p, rec, req, reply, field);
  return co_error(COHORT_EINVAL, "no query '%s'", verb);
}
