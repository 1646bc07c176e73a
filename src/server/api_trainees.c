/* api_trainees.c: trainees. Changes (train, analyze, impute, synthesize) are jobs; questions
 * (predict, anomalies, impute rows, importance) are answered at once by the hosted trainee. */
#include "api.h"
#include "co_base.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int append_trainee(void *ctx, const co_trainee *t) {
  json_t *j = co_trainee_json(t);
  json_t *info = json_object_get(j, "info");
  if (json_is_object(info))
    json_object_del(info, "schema"); /* lists stay small */
  json_array_append_new(ctx, j);
  return 0;
}

void api_trainees_list(co_req *r) {
  json_t *a = json_array();
  cohort_status st = r->p->store->ops->trainee_list(r->p->store, r->workspace_id, append_trainee, a);
  if (st != COHORT_OK) {
    json_decref(a);
    co_reply_status(r, st, NULL);
    return;
  }
  co_reply_json(r, 200, json_pack("{s:o}", "trainees", a));
}

static void reply_trainee_job(co_req *r, int status, const co_trainee *t, const co_job *j) {
  co_reply_json(r, status, json_pack("{s:o, s:o}", "trainee", co_trainee_json(t), "job", co_job_json(j)));
}

/* POST /v1/trainees {"workspace","name","dataset","features"}: the trainee exists at once; a
 * train job fills it (ready when its version is 1). */
void api_trainees_create(co_req *r) {
  co_platform *p = r->p;
  const char *name = NULL, *dsid = NULL;
  co_dataset ds = {0};
  co_trainee t = {0};
  co_job job = {0};
  if (api_str(r, "name", 1, &name) || api_str(r, "dataset", 1, &dsid) || api_check_name(r, "name", name))
    return;
  json_t *features = json_object_get(r->json, "features");
  if (features && !json_is_object(features) && !json_is_null(features)) {
    co_reply_error(r, 400, "invalid", "features", "features: must be an object of column name to settings");
    return;
  }
  const char *key;
  json_t *v;
  json_object_foreach(r->json, key, v) {
    if (strcmp(key, "workspace") && strcmp(key, "name") && strcmp(key, "dataset") && strcmp(key, "features")) {
      co_reply_error(r, 400, "invalid", key, "%s: not a field of a new trainee (workspace, name, dataset, features)",
                     key);
      return;
    }
  }
  cohort_status st = p->store->ops->dataset_get(p->store, dsid, &ds);
  if (st != COHORT_OK || strcmp(ds.workspace_id, r->workspace_id) != 0) {
    co_reply_error(r, 400, "invalid", "dataset", "dataset: '%s' not found in workspace '%s'", dsid, r->workspace_id);
    goto out;
  }
  co_id_new("tr", t.id, sizeof t.id);
  co_strlcpy(t.workspace_id, r->workspace_id, sizeof t.workspace_id);
  co_strlcpy(t.name, name, sizeof t.name);
  co_strlcpy(t.dataset_id, dsid, sizeof t.dataset_id);
  t.created_ms = t.updated_ms = co_now_ms();
  if ((st = p->store->ops->trainee_create(p->store, &t)) != COHORT_OK) {
    co_reply_status(r, st, "name");
    goto out;
  }
  json_t *params = json_pack("{s:s}", "dataset", dsid);
  if (features && json_is_object(features))
    json_object_set(params, "features", features);
  st = co_job_submit(p, r->workspace_id, t.id, "train", params, &job);
  json_decref(params);
  if (st != COHORT_OK) {
    p->store->ops->trainee_delete(p->store, t.id);
    co_reply_status(r, st, NULL);
    goto out;
  }
  char loc[CO_ID_MAX + 16];
  snprintf(loc, sizeof loc, "/v1/jobs/%s", job.id);
  co_reply_header(r, "Location", loc);
  reply_trainee_job(r, 202, &t, &job);
out:
  co_job_clear(&job);
  co_trainee_clear(&t);
  co_dataset_clear(&ds);
}

/* POST /v1/trainees/import?workspace=&name= with a trainee file as the body. */
void api_trainees_import(co_req *r) {
  co_platform *p = r->p;
  const char *name = co_query(r, "name");
  cohort_trainee *tr = NULL;
  co_trainee t = {0};
  char key[CO_BLOB_MAX], *info = NULL;
  int created = 0;
  if (!name)
    name = "imported";
  if (api_check_name(r, "name", name))
    return;
  if (!r->upload_path[0]) {
    co_reply_error(r, 400, "invalid", "body", "body: empty; send a trainee file");
    return;
  }
  cohort_status st = cohort_trainee_load(&tr, r->upload_path);
  if (st != COHORT_OK) {
    api_reply_upload_error(r, st == COHORT_ENOMEM ? 503 : 422, "invalid_trainee", "not a valid trainee file: ");
    return;
  }
  json_t *ij = co_trainee_info(tr);
  info = json_dumps(ij, JSON_COMPACT);
  json_decref(ij);
  co_id_new("tr", t.id, sizeof t.id);
  co_strlcpy(t.workspace_id, r->workspace_id, sizeof t.workspace_id);
  co_strlcpy(t.name, name, sizeof t.name);
  t.created_ms = t.updated_ms = co_now_ms();
  snprintf(key, sizeof key, "trainees/%s/v1.cohort", t.id);
  if (!info)
    st = co_nomem();
  else if ((st = p->store->ops->trainee_create(p->store, &t)) == COHORT_OK) {
    created = 1;
    if ((st = p->blobs->ops->commit(p->blobs, r->upload_path, key)) == COHORT_OK) {
      r->upload_path[0] = '\0';
      st = p->store->ops->trainee_commit(p->store, t.id, 0, 1, key, info, co_now_ms());
    }
  }
  if (st == COHORT_OK)
    st = p->store->ops->trainee_get(p->store, t.id, &t);
  if (st != COHORT_OK) {
    co_reply_status(r, st, NULL);
    if (created) { /* no half-imported trainee is left behind */
      p->store->ops->trainee_delete(p->store, t.id);
      p->blobs->ops->remove(p->blobs, key);
    }
    goto out;
  }
  co_reply_json(r, 201, co_trainee_json(&t));
out:
  free(info);
  cohort_trainee_free(tr);
  co_trainee_clear(&t);
}

void api_trainee_get(co_req *r) { co_reply_json(r, 200, co_trainee_json(&r->trainee)); }

void api_trainee_delete(co_req *r) {
  co_platform *p = r->p;
  cohort_status st = p->store->ops->trainee_delete(p->store, r->trainee.id);
  if (st != COHORT_OK) {
    co_reply_status(r, st, NULL);
    return;
  }
  co_host_drop(p->host, r->trainee.id);
  char key[CO_BLOB_MAX];
  for (int64_t v = r->trainee.version; v >= 1 && v >= r->trainee.version - 1; v--) {
    snprintf(key, sizeof key, "trainees/%s/v%lld.cohort", r->trainee.id, (long long)v);
    p->blobs->ops->remove(p->blobs, key);
  }
  co_reply_json(r, 200, json_pack("{s:s}", "deleted", r->trainee.id));
}

void api_trainee_export(co_req *r) {
  char path[4096], name[CO_ID_MAX + 16];
  if (r->trainee.version <= 0) {
    co_reply_error(r, 409, "conflict", NULL, "trainee '%s' is not trained yet", r->trainee.id);
    return;
  }
  cohort_status st = r->p->blobs->ops->local_path(r->p->blobs, r->trainee.blob, path, sizeof path);
  if (st != COHORT_OK) {
    co_reply_status(r, st, NULL);
    return;
  }
  snprintf(name, sizeof name, "%s.cohort", r->trainee.id);
  co_reply_file(r, path, "application/octet-stream", name);
}

/* POST /v1/trainees/{id}/{train|analyze|impute|synthesize}: the body is the job's parameters. */
void api_trainee_job(co_req *r) {
  const char *kind = strrchr(r->path, '/') + 1;
  co_job job = {0};
  if (strcmp(kind, "train") == 0) {
    const char *dsid = NULL;
    co_dataset ds = {0};
    if (api_str(r, "dataset", 1, &dsid))
      return;
    if (json_object_get(r->json, "features")) {
      co_reply_error(r, 400, "invalid", "features", "features: set when the trainee is created, not when it trains more");
      return;
    }
    cohort_status st = r->p->store->ops->dataset_get(r->p->store, dsid, &ds);
    int ok = st == COHORT_OK && strcmp(ds.workspace_id, r->trainee.workspace_id) == 0;
    co_dataset_clear(&ds);
    if (!ok) {
      co_reply_error(r, 400, "invalid", "dataset", "dataset: '%s' not found in this workspace", dsid);
      return;
    }
  } else if (r->trainee.version <= 0) {
    co_reply_error(r, 409, "conflict", NULL, "trainee '%s' is not trained yet: wait for its train job", r->trainee.id);
    return;
  }
  const char *field;
  cohort_status st = co_job_params_check(kind, r->json, r->p->cfg.max_rows, &field);
  if (st != COHORT_OK) {
    co_reply_error(r, 400, "invalid", field, "%s", cohort_errmsg());
    return;
  }
  st = co_job_submit(r->p, r->trainee.workspace_id, r->trainee.id, kind, r->json, &job);
  if (st != COHORT_OK) {
    co_reply_status(r, st, NULL);
    return;
  }
  char loc[CO_ID_MAX + 16];
  snprintf(loc, sizeof loc, "/v1/jobs/%s", job.id);
  co_reply_header(r, "Location", loc);
  reply_trainee_job(r, 202, &r->trainee, &job);
  co_job_clear(&job);
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
static int rows_table(co_req *r, cohort_table **out, size_t *nrows) {
  json_t *rows = json_object_get(r->json, "rows");
  *out = NULL;
  if (!json_is_array(rows) || json_array_size(rows) == 0) {
    co_reply_error(r, 400, "invalid", "rows", "rows: required, an array of objects (column name to value)");
    return -1;
  }
  size_t n = json_array_size(rows);
  if ((int64_t)n > r->p->cfg.max_rows) {
    co_reply_error(r, 413, "too_large", "rows", "rows: %zu rows, more than max_rows (%lld)", n,
                   (long long)r->p->cfg.max_rows);
    return -1;
  }
  json_t *cols = json_object(); /* name -> index */
  const char **names = NULL;
  const char **cells = NULL;
  char(*bufs)[40] = NULL;
  size_t nc = 0;
  int rc = -1;
  for (size_t i = 0; i < n; i++) {
    json_t *row = json_array_get(rows, i);
    const char *key;
    json_t *v;
    if (!json_is_object(row)) {
      co_reply_error(r, 400, "invalid", "rows", "rows[%zu]: must be an object", i);
      goto out;
    }
    json_object_foreach(row, key, v) {
      if (!json_object_get(cols, key)) {
        json_object_set_new(cols, key, json_integer((json_int_t)nc++));
        if (nc > 10000) {
          co_reply_error(r, 400, "invalid", "rows", "rows: more than 10000 distinct columns");
          goto out;
        }
      }
    }
  }
  names = co_calloc(nc ? nc : 1, sizeof *names);
  cells = co_calloc(nc ? nc : 1, sizeof *cells);
  bufs = co_calloc(nc ? nc : 1, sizeof *bufs);
  if (!names || !cells || !bufs) {
    co_reply_status(r, co_nomem(), NULL);
    goto out;
  }
  {
    const char *key;
    json_t *v;
    json_object_foreach(cols, key, v) names[json_integer_value(v)] = key;
  }
  cohort_status st = cohort_table_create(out, nc, names);
  if (st != COHORT_OK) {
    co_reply_status(r, st, "rows");
    goto out;
  }
  for (size_t i = 0; i < n; i++) {
    json_t *row = json_array_get(rows, i);
    for (size_t c = 0; c < nc; c++) {
      json_t *v = json_object_get(row, names[c]);
      cells[c] = NULL;
      if (v && cell_text(v, bufs[c], sizeof bufs[c], &cells[c]) < 0) {
        co_reply_error(r, 400, "invalid", "rows", "rows[%zu].%s: must be a string, number, boolean or null", i,
                       names[c]);
        goto out;
      }
    }
    if ((st = cohort_table_append(*out, cells)) != COHORT_OK) {
      co_reply_status(r, st, "rows");
      goto out;
    }
  }
  *nrows = n;
  rc = 0;
out:
  if (rc < 0) {
    cohort_table_free(*out);
    *out = NULL;
  }
  co_free(names);
  co_free(cells);
  co_free(bufs);
  json_decref(cols);
  return rc;
}

static int name_list(co_req *r, const char *field, int required, const char ***out, size_t *n) {
  json_t *a = json_object_get(r->json, field);
  *out = NULL;
  *n = 0;
  if (!a || json_is_null(a)) {
    if (!required)
      return 0;
    co_reply_error(r, 400, "invalid", field, "%s: required, an array of feature names", field);
    return -1;
  }
  if (json_is_string(a)) { /* one name */
    *out = co_calloc(1, sizeof **out);
    if (!*out) {
      co_reply_status(r, co_nomem(), NULL);
      return -1;
    }
    (*out)[0] = json_string_value(a);
    *n = 1;
    return 0;
  }
  if (!json_is_array(a) || json_array_size(a) == 0 || json_array_size(a) > 10000) {
    co_reply_error(r, 400, "invalid", field, "%s: must be a non-empty array of feature names", field);
    return -1;
  }
  *n = json_array_size(a);
  *out = co_calloc(*n, sizeof **out);
  if (!*out) {
    co_reply_status(r, co_nomem(), NULL);
    return -1;
  }
  for (size_t i = 0; i < *n; i++)
    if (!((*out)[i] = json_string_value(json_array_get(a, i)))) {
      co_reply_error(r, 400, "invalid", field, "%s[%zu]: must be a string", field, i);
      co_free(*out);
      *out = NULL;
      return -1;
    }
  return 0;
}

static int acquire(co_req *r, co_hosted **h) {
  cohort_status st = co_host_acquire(r->p->host, &r->trainee, h);
  if (st != COHORT_OK) {
    co_reply_status(r, st, NULL);
    return -1;
  }
  return 0;
}

/* JSON has no NaN or infinity: they become null (json_real would refuse them). */
static json_t *num(double v) { return isfinite(v) ? json_real(v) : json_null(); }

/* POST /v1/trainees/{id}/predict {"targets": [...], "contexts": [...], "rows": [...],
 *   "details": ["cases", "contributions"]} */
void api_trainee_predict(co_req *r) {
  cohort_table *tab = NULL;
  cohort_reaction *re = NULL;
  co_hosted *h = NULL;
  const char **targets = NULL, **contexts = NULL, **details = NULL;
  size_t nt, nctx, nd, nrows;
  if (name_list(r, "targets", 1, &targets, &nt) || name_list(r, "contexts", 0, &contexts, &nctx) ||
      name_list(r, "details", 0, &details, &nd) || rows_table(r, &tab, &nrows) || acquire(r, &h))
    goto out;
  cohort_react_options ro = {0};
  ro.targets = targets;
  ro.n_targets = nt;
  ro.contexts = contexts;
  ro.n_contexts = nctx;
  ro.threads = nrows < 256 ? 1 : 0; /* one row is faster on the request's own thread */
  for (size_t i = 0; i < nd; i++) {
    if (strcmp(details[i], "cases") == 0)
      ro.details |= COHORT_DETAIL_CASES;
    else if (strcmp(details[i], "contributions") == 0)
      ro.details |= COHORT_DETAIL_CONTRIBUTIONS;
    else {
      co_reply_error(r, 400, "invalid", "details", "details[%zu]: must be cases or contributions", i);
      goto out;
    }
  }
  cohort_status st = cohort_react(co_hosted_trainee(h), tab, &ro, &re);
  if (st == COHORT_EFORMAT) {
    co_reply_error(r, 400, "invalid", "rows", "%s", cohort_errmsg());
    goto out;
  }
  if (st == COHORT_ENOTFOUND || st == COHORT_EINVAL) {
    /* A name in the request that the trainee lacks is the request's fault. */
    co_reply_error(r, 400, "invalid", nctx && strstr(cohort_errmsg(), "context") ? "contexts" : "targets", "%s",
                   cohort_errmsg());
    goto out;
  }
  if (st != COHORT_OK) {
    co_reply_status(r, st, NULL);
    goto out;
  }
  json_t *preds = json_array();
  size_t ntg = cohort_reaction_targets(re);
  for (size_t i = 0; i < cohort_reaction_rows(re); i++) {
    json_t *values = json_object(), *unc = json_object(), *probs = NULL, *row = json_object();
    for (size_t t = 0; t < ntg; t++) {
      const char *name = cohort_reaction_target(re, t);
      const char *v = cohort_reaction_value(re, i, t);
      json_object_set_new(values, name, v ? json_string(v) : json_null());
      json_object_set_new(unc, name, num(cohort_reaction_uncertainty(re, i, t)));
      size_t nc = cohort_reaction_classes(re, t);
      if (nc) {
        json_t *pc = json_object();
        for (size_t c = 0; c < nc; c++)
          json_object_set_new(pc, cohort_reaction_class(re, t, c), num(cohort_reaction_probability(re, i, t, c)));
        if (!probs)
          probs = json_object();
        json_object_set_new(probs, name, pc);
      }
    }
    json_object_set_new(row, "values", values);
    json_object_set_new(row, "uncertainty", unc);
    if (probs)
      json_object_set_new(row, "probabilities", probs);
    if (ro.details & COHORT_DETAIL_CASES) {
      json_t *cases = json_array();
      for (size_t k = 0; k < cohort_reaction_cases(re, i); k++) {
        size_t ci;
        double w;
        cohort_reaction_case(re, i, k, &ci, &w);
        json_array_append_new(cases, json_pack("{s:I, s:o}", "case", (json_int_t)ci, "weight", num(w)));
      }
      json_object_set_new(row, "cases", cases);
    }
    if (ro.details & COHORT_DETAIL_CONTRIBUTIONS) {
      json_t *contrib = json_object();
      for (size_t t = 0; t < ntg; t++) {
        json_t *ct = json_object();
        for (size_t c = 0; c < cohort_reaction_contexts(re); c++)
          json_object_set_new(ct, cohort_reaction_context(re, c), num(cohort_reaction_contribution(re, i, t, c)));
        json_object_set_new(contrib, cohort_reaction_target(re, t), ct);
      }
      json_object_set_new(row, "contributions", contrib);
    }
    json_array_append_new(preds, row);
  }
  co_reply_json(r, 200, json_pack("{s:I, s:o}", "version", (json_int_t)r->trainee.version, "predictions", preds));
out:
  cohort_reaction_free(re);
  cohort_table_free(tab);
  co_host_release(r->p->host, h);
  co_free(targets);
  co_free(contexts);
  co_free(details);
}

typedef struct scored {
  size_t i;
  double conviction;
} scored;

static int by_conviction(const void *a, const void *b) {
  double x = ((const scored *)a)->conviction, y = ((const scored *)b)->conviction;
  return (x > y) - (x < y);
}

/* POST /v1/trainees/{id}/anomalies {"rows": [...]} scores those rows; without rows, the
 * trainee's own cases, and returns the "top" (default 20) most surprising ones. */
void api_trainee_anomalies(co_req *r) {
  cohort_table *tab = NULL;
  co_hosted *h = NULL;
  double *dc = NULL, *conv = NULL;
  scored *order = NULL;
  size_t n = 0;
  int64_t top;
  if (api_int(r, "top", 20, 1, 10000, &top))
    return;
  int own = !json_object_get(r->json, "rows");
  if ((!own && rows_table(r, &tab, &n)) || acquire(r, &h))
    goto out;
  cohort_trainee *tr = co_hosted_trainee(h);
  if (own)
    n = cohort_trainee_cases(tr);
  dc = co_calloc(n ? n : 1, sizeof *dc);
  conv = co_calloc(n ? n : 1, sizeof *conv);
  if (!dc || !conv) {
    co_reply_status(r, co_nomem(), NULL);
    goto out;
  }
  cohort_status st = cohort_anomalies(tr, tab, dc, conv);
  if (st != COHORT_OK) {
    co_reply_status(r, st, "rows");
    goto out;
  }
  json_t *a = json_array();
  if (own) {
    if (!(order = co_calloc(n ? n : 1, sizeof *order))) {
      json_decref(a);
      co_reply_status(r, co_nomem(), NULL);
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
      json_array_append_new(a, json_pack("{s:I, s:o, s:o}", "row", (json_int_t)i, "distance_contribution", num(dc[i]),
                                         "conviction", num(conv[i])));
  }
  co_reply_json(r, 200, json_pack("{s:o, s:I}", own ? "cases" : "rows", a, "scored", (json_int_t)n));
out:
  co_free(order);
  co_free(dc);
  co_free(conv);
  cohort_table_free(tab);
  co_host_release(r->p->host, h);
}

/* POST /v1/trainees/{id}/impute-rows {"rows": [...]} -> the rows with missing cells filled. */
void api_trainee_impute_rows(co_req *r) {
  cohort_table *tab = NULL;
  co_hosted *h = NULL;
  size_t n, filled = 0;
  if (rows_table(r, &tab, &n) || acquire(r, &h))
    goto out;
  cohort_status st = cohort_impute(co_hosted_trainee(h), tab, &filled);
  if (st != COHORT_OK) {
    co_reply_status(r, st, "rows");
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
  co_reply_json(r, 200, json_pack("{s:o, s:I}", "rows", a, "filled", (json_int_t)filled));
out:
  cohort_table_free(tab);
  co_host_release(r->p->host, h);
}

/* GET /v1/trainees/{id}/importance?target=&sample= */
void api_trainee_importance(co_req *r) {
  const char *target = co_query(r, "target");
  int64_t sample;
  co_hosted *h = NULL;
  double *imp = NULL;
  if (!target) {
    co_reply_error(r, 400, "invalid", "target", "target: required query parameter");
    return;
  }
  if (api_query_int(r, "sample", 1000, 10, 100000, &sample) || acquire(r, &h))
    return;
  cohort_trainee *tr = co_hosted_trainee(h);
  const cohort_schema *s = cohort_trainee_schema(tr);
  size_t nf = cohort_schema_features(s);
  if (!(imp = co_calloc(nf ? nf : 1, sizeof *imp))) {
    co_reply_status(r, co_nomem(), NULL);
    goto out;
  }
  cohort_status st = cohort_feature_importance(tr, target, (size_t)sample, 1, imp);
  if (st == COHORT_ENOTFOUND || st == COHORT_EINVAL) {
    co_reply_error(r, 400, "invalid", "target", "%s", cohort_errmsg());
    goto out;
  }
  if (st != COHORT_OK) {
    co_reply_status(r, st, "target");
    goto out;
  }
  json_t *o = json_object();
  for (size_t f = 0; f < nf; f++)
    if (!cohort_schema_is_ignored(s, f) && strcmp(cohort_schema_name(s, f), target) != 0)
      json_object_set_new(o, cohort_schema_name(s, f), num(imp[f]));
  co_reply_json(r, 200, json_pack("{s:s, s:o}", "target", target, "importance", o));
out:
  co_free(imp);
  co_host_release(r->p->host, h);
}
