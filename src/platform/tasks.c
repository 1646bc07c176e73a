/* tasks.c: the job kinds. Each reads its parameters as job_params.c decoded them (at submit and
 * again now: a job may have been queued by an older version), works on private copies, and
 * publishes its output only at the end: a new trainee version is saved to a new blob and committed with a
 * compare-and-swap, so a crash or a cancel mid-job leaves the committed trainee as it was. */
#include "co_base.h"
#include "integrity.h"
#include "log.h"
#include "report.h"
#include "task.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- helpers */

static cohort_status read_dataset(co_task *t, const char *id, cohort_table **out, co_dataset *rec) {
  co_store *s = t->p->store;
  char path[4096];
  cohort_status st = s->ops->dataset_get(s, id, rec);
  if (st != COHORT_OK)
    return st;
  if (strcmp(rec->workspace_id, t->job->workspace_id) != 0) {
    co_dataset_clear(rec);
    return co_error(COHORT_ENOTFOUND, "dataset '%s' not found", id);
  }
  st = co_blob_check(t->p->blobs, rec->blob, rec->sha256, rec->bytes, path, sizeof path);
  if (st == COHORT_ECORRUPT || (st == COHORT_OK && rec->corrupt[0])) {
    char why[CO_CORRUPT_MAX];
    co_strlcpy(why, st == COHORT_OK ? "" : cohort_errmsg(), sizeof why);
    co_corrupt_report(t->p, "dataset", rec->id, rec->blob, why);
    if (st != COHORT_OK)
      co_error(st, "dataset '%s': %s", rec->id, why);
  }
  if (st == COHORT_OK)
    st = cohort_table_read_csv(out, path, NULL);
  if (st != COHORT_OK)
    co_dataset_clear(rec);
  return st;
}

static int64_t dataset_bytes(co_task *t, const char *id) {
  co_dataset d = {0};
  int64_t n = id && t->p->store->ops->dataset_get(t->p->store, id, &d) == COHORT_OK ? d.bytes : 0;
  co_dataset_clear(&d);
  return n;
}

int64_t co_task_memory(co_task *t) {
  const co_job_params *a = &t->args;
  const char *kind = t->job->kind;
  int64_t read = 0, made = 0;
  if (strcmp(kind, "train") == 0) {
    read = dataset_bytes(t, a->u.train.dataset);
    made = read;
  } else if (strcmp(kind, "evaluate") == 0) {
    read = dataset_bytes(t, a->u.evaluate.real) + dataset_bytes(t, a->u.evaluate.synthetic) +
           dataset_bytes(t, a->u.evaluate.holdout);
  } else {
    co_trainee tr = {0};
    if (t->p->store->ops->trainee_get(t->p->store, t->job->trainee_id, &tr) == COHORT_OK)
      read = tr.blob_bytes;
    co_trainee_clear(&tr);
    if (strcmp(kind, "synthesize") == 0) {
      read += dataset_bytes(t, a->u.synthesize.holdout);
      made = 64 * a->u.synthesize.rows; /* x4 below: 256 bytes a row */
    }
  }
  return CO_BUDGET_CSV(read) + 4 * made;
}

static cohort_status get_trainee(co_task *t, co_trainee *rec) {
  co_store *s = t->p->store;
  return s->ops->trainee_get(s, t->job->trainee_id, rec);
}

/* A private, writable copy of the committed version. */
static cohort_status load_private(co_task *t, const co_trainee *rec, cohort_trainee **out) {
  char path[4096];
  if (rec->version <= 0)
    return co_error(COHORT_ESTATE, "trainee '%s' is not trained yet", rec->id);
  cohort_status st =
      co_blob_check(t->p->blobs, rec->blob, rec->blob_sha256, rec->blob_bytes, path, sizeof path);
  if (st == COHORT_OK && (st = cohort_trainee_load(out, path)) == COHORT_ECORRUPT)
    st = co_error(COHORT_ECORRUPT, "object '%s' is corrupt: %s", rec->blob, cohort_errmsg());
  if (st == COHORT_ECORRUPT || (st == COHORT_OK && rec->corrupt[0])) {
    char why[CO_CORRUPT_MAX];
    co_strlcpy(why, st == COHORT_OK ? "" : cohort_errmsg(), sizeof why);
    co_corrupt_report(t->p, "trainee", rec->id, rec->blob, why);
    if (st != COHORT_OK)
      co_error(st, "trainee '%s': %s; create a new trainee from its dataset or restore the object", rec->id,
               why);
  }
  return st;
}

json_t *co_trainee_info(const cohort_trainee *tr) {
  const cohort_schema *s = cohort_trainee_schema(tr);
  char *schema = NULL;
  json_t *o = json_object();
  json_object_set_new(o, "cases", json_integer((json_int_t)cohort_trainee_cases(tr)));
  json_object_set_new(o, "analyzed", json_boolean(cohort_trainee_is_analyzed(tr)));
  if (cohort_schema_to_json(s, &schema) == COHORT_OK) {
    json_t *sj = json_loads(schema, 0, NULL);
    json_object_set_new(o, "schema", sj ? sj : json_null());
    cohort_free(schema);
  }
  size_t k;
  double pp;
  if (cohort_trainee_is_analyzed(tr) && cohort_trainee_params(tr, NULL, &k, &pp) == COHORT_OK) {
    json_object_set_new(o, "k", json_integer((json_int_t)k));
    json_object_set_new(o, "p", json_real(pp));
  }
  return o;
}

/* Saves tr as version rec->version + 1 and commits it if nobody committed since rec was read and
 * this attempt still holds the job. Each attempt writes its own key (version, job, attempt), so a
 * superseded attempt never overwrites or removes the object of the one that took over. The info
 * stored with the version names the previous version's object; the one before that is removed
 * once the new version is committed (readers may still hold the previous one). */
static cohort_status commit_version(co_task *t, const co_trainee *rec, const cohort_trainee *tr) {
  co_platform *p = t->p;
  char staging[4096], key[CO_BLOB_MAX], sha[CO_SHA256_HEX];
  int64_t version = rec->version + 1, bytes = 0;
  cohort_status st = p->blobs->ops->stage(p->blobs, staging, sizeof staging);
  if (st != COHORT_OK)
    return st;
  co_task_progress(t, "saving", 1);
  if ((st = cohort_trainee_save(tr, staging)) != COHORT_OK) {
    p->blobs->ops->discard(p->blobs, staging);
    return st;
  }
  snprintf(key, sizeof key, "trainees/%s/v%lld-%s-%d.cohort", rec->id, (long long)version, t->job->id,
           t->job->attempts);
  if ((st = co_blob_commit_sum(p->blobs, staging, key, sha, &bytes)) != COHORT_OK) {
    p->blobs->ops->discard(p->blobs, staging);
    return st;
  }
  json_t *info = co_trainee_info(tr);
  if (rec->blob[0]) { /* with its checksum, so that `cohort admin check` can check it too */
    json_object_set_new(info, CO_INFO_PREVIOUS_BLOB, json_string(rec->blob));
    if (rec->blob_sha256[0]) {
      json_object_set_new(info, CO_INFO_PREVIOUS_SHA256, json_string(rec->blob_sha256));
      json_object_set_new(info, CO_INFO_PREVIOUS_BYTES, json_integer((json_int_t)rec->blob_bytes));
    }
  }
  char *info_text = json_dumps(info, JSON_COMPACT);
  json_decref(info);
  co_fence fence = {t->job->id, p->instance, t->job->attempts};
  st = p->store->ops->trainee_commit(p->store, rec->id, rec->version, version, key, sha, bytes, info_text,
                                     &fence, co_now_ms());
  free(info_text);
  if (st != COHORT_OK) {
    p->blobs->ops->remove(p->blobs, key);
    return st;
  }
  co_platform_trainee_changed(p, rec->id); /* questions here go to the new version at once */
  json_t *old = rec->info_json ? json_loads(rec->info_json, 0, NULL) : NULL;
  const char *before_previous = json_string_value(json_object_get(old, CO_INFO_PREVIOUS_BLOB));
  if (before_previous) /* the backend checks the key */
    p->blobs->ops->remove(p->blobs, before_previous);
  json_decref(old);
  t->result = json_pack("{s:s, s:I}", "trainee", rec->id, "version", (json_int_t)version);
  return COHORT_OK;
}

/* Applies {"name": {"type": "nominal", "ignored": true, "order": ["low","high"]}} overrides. */
static cohort_status apply_overrides(cohort_schema *schema, const cohort_table *tab, json_t *features) {
  const char *name;
  json_t *spec;
  cohort_status st = COHORT_OK;
  if (!features || json_is_null(features))
    return COHORT_OK;
  if (!json_is_object(features))
    return co_error(COHORT_EINVAL, "features: must be an object of feature name to settings");
  json_object_foreach(features, name, spec) {
    if (cohort_schema_find(schema, name) < 0)
      return co_error(COHORT_EINVAL, "features.%s: no such column in the dataset", name);
    if (!json_is_object(spec))
      return co_error(COHORT_EINVAL, "features.%s: must be an object", name);
    json_t *type = json_object_get(spec, "type"), *ign = json_object_get(spec, "ignored"),
           *order = json_object_get(spec, "order");
    if (type) {
      int ft = json_is_string(type) ? cohort_ftype_parse(json_string_value(type)) : -1;
      if (ft < 0)
        return co_error(COHORT_EINVAL, "features.%s.type: unknown type", name);
      if ((st = cohort_schema_set_type(schema, tab, name, (cohort_ftype)ft)) != COHORT_OK)
        return co_error(st, "features.%s.type: %s", name, cohort_errmsg());
    }
    if (ign) {
      if (!json_is_boolean(ign))
        return co_error(COHORT_EINVAL, "features.%s.ignored: must be true or false", name);
      if ((st = cohort_schema_set_ignored(schema, name, json_is_true(ign))) != COHORT_OK)
        return co_error(st, "features.%s.ignored: %s", name, cohort_errmsg());
    }
    if (order) {
      size_t n = json_is_array(order) ? json_array_size(order) : 0;
      if (!n)
        return co_error(COHORT_EINVAL, "features.%s.order: must be a non-empty array of levels", name);
      const char **levels = co_calloc(n, sizeof *levels);
      if (!levels)
        return co_nomem();
      for (size_t i = 0; i < n; i++)
        if (!(levels[i] = json_string_value(json_array_get(order, i)))) {
          co_free(levels);
          return co_error(COHORT_EINVAL, "features.%s.order[%zu]: must be a string", name, i);
        }
      st = cohort_schema_set_order(schema, name, levels, n);
      co_free(levels);
      if (st != COHORT_OK)
        return co_error(st, "features.%s.order: %s", name, cohort_errmsg());
    }
  }
  return COHORT_OK;
}

/* ---------------------------------------------------------------- train */

/* {"dataset": id, "features": {...}}: the first train creates the trainee from the dataset's
 * inferred schema and the overrides; later ones add the dataset's rows as new cases. */
static cohort_status task_train(co_task *t) {
  co_trainee rec = {0};
  co_dataset ds = {0};
  cohort_table *tab = NULL;
  cohort_schema *schema = NULL;
  cohort_trainee *tr = NULL;
  const co_train_params *a = &t->args.u.train;
  cohort_status st;
  if ((st = get_trainee(t, &rec)) != COHORT_OK)
    return st;
  co_task_progress(t, "reading dataset", 0);
  if ((st = read_dataset(t, a->dataset, &tab, &ds)) != COHORT_OK)
    goto out;
  if (cohort_table_rows(tab) > (size_t)t->p->cfg.max_rows) {
    st = co_error(COHORT_ELIMIT, "dataset: %zu rows, more than max_rows %lld", cohort_table_rows(tab),
                  (long long)t->p->cfg.max_rows);
    goto out;
  }
  co_task_progress(t, "training", 0.3);
  if (rec.version == 0) {
    if ((st = cohort_schema_infer(&schema, tab)) != COHORT_OK ||
        (st = apply_overrides(schema, tab, a->features)) != COHORT_OK ||
        (st = cohort_trainee_create(&tr, schema)) != COHORT_OK)
      goto out;
  } else if ((st = load_private(t, &rec, &tr)) != COHORT_OK)
    goto out;
  if ((st = cohort_trainee_train(tr, tab, NULL)) != COHORT_OK)
    goto out;
  if (co_task_progress(t, "training", 0.8)) {
    st = COHORT_ECANCELLED;
    goto out;
  }
  st = commit_version(t, &rec, tr);
  if (st == COHORT_OK)
    json_object_set_new(t->result, "cases", json_integer((json_int_t)cohort_trainee_cases(tr)));
out:
  cohort_trainee_free(tr);
  cohort_schema_free(schema);
  cohort_table_free(tab);
  co_dataset_clear(&ds);
  co_trainee_clear(&rec);
  return st;
}

/* ---------------------------------------------------------------- analyze */

/* {"targets": [...], "k_values": [...], "p_values": [...], "sample": n, "seed": n} */
static cohort_status task_analyze(co_task *t) {
  const co_analyze_params *a = &t->args.u.analyze;
  co_trainee rec = {0};
  cohort_trainee *tr = NULL;
  cohort_status st;
  if ((st = get_trainee(t, &rec)) != COHORT_OK)
    return st;
  co_task_progress(t, "loading", 0);
  if ((st = load_private(t, &rec, &tr)) != COHORT_OK)
    goto out;
  cohort_analyze_options ao = COHORT_ANALYZE_OPTIONS_INIT;
  ao.targets = a->targets.items;
  ao.n_targets = a->targets.n;
  ao.k_values = a->k_values.n ? a->k_values.v : NULL;
  ao.n_k = a->k_values.n;
  ao.p_values = a->p_values.n ? a->p_values.v : NULL;
  ao.n_p = a->p_values.n;
  ao.sample = (size_t)a->sample;
  ao.seed = (uint64_t)a->seed;
  ao.progress = co_task_progress;
  ao.progress_user = t;
  co_task_window(t, 0.02, 0.93);
  if ((st = cohort_trainee_analyze(tr, &ao)) != COHORT_OK)
    goto out;
  co_task_window(t, 0, 1);
  st = commit_version(t, &rec, tr);
out:
  cohort_trainee_free(tr);
  co_trainee_clear(&rec);
  return st;
}

/* ---------------------------------------------------------------- impute (the trainee's own cases) */

static cohort_status task_impute(co_task *t) {
  co_trainee rec = {0};
  cohort_trainee *tr = NULL;
  size_t filled = 0;
  cohort_status st = get_trainee(t, &rec);
  if (st != COHORT_OK)
    return st;
  co_task_progress(t, "loading", 0);
  if ((st = load_private(t, &rec, &tr)) != COHORT_OK)
    goto out;
  co_task_progress(t, "imputing", 0.1);
  if ((st = cohort_trainee_impute(tr, &filled)) != COHORT_OK)
    goto out;
  if ((st = commit_version(t, &rec, tr)) == COHORT_OK)
    json_object_set_new(t->result, "filled", json_integer((json_int_t)filled));
out:
  cohort_trainee_free(tr);
  co_trainee_clear(&rec);
  return st;
}

/* ---------------------------------------------------------------- outputs: datasets and reports */

static cohort_status store_table(co_task *t, const cohort_table *tab, const char *name,
                                 const cohort_schema *schema, co_dataset *out) {
  co_platform *p = t->p;
  char staging[4096];
  char *schema_text = NULL;
  memset(out, 0, sizeof *out);
  cohort_status st = p->blobs->ops->stage(p->blobs, staging, sizeof staging);
  if (st != COHORT_OK)
    return st;
  if ((st = cohort_table_write_csv(tab, staging)) != COHORT_OK) {
    p->blobs->ops->discard(p->blobs, staging);
    return st;
  }
  co_id_new("ds", out->id, sizeof out->id);
  co_strlcpy(out->workspace_id, t->job->workspace_id, sizeof out->workspace_id);
  co_strlcpy(out->name, name, sizeof out->name);
  snprintf(out->blob, sizeof out->blob, "datasets/%s.csv", out->id);
  if ((st = co_blob_commit_sum(p->blobs, staging, out->blob, out->sha256, &out->bytes)) != COHORT_OK) {
    p->blobs->ops->discard(p->blobs, staging);
    return st;
  }
  out->rows = (int64_t)cohort_table_rows(tab);
  out->columns = (int64_t)cohort_table_cols(tab);
  out->created_ms = co_now_ms();
  if (cohort_schema_to_json(schema, &schema_text) == COHORT_OK) {
    out->schema_json = co_strdup(schema_text);
    cohort_free(schema_text);
  }
  st = p->store->ops->dataset_create(p->store, out);
  if (st != COHORT_OK)
    p->blobs->ops->remove(p->blobs, out->blob);
  return st;
}

/* Writes text as the object key; *sha256 and *bytes describe it (integrity.h). */
static cohort_status put_text(co_platform *p, const char *key, const char *text, char sha256[CO_SHA256_HEX],
                              int64_t *bytes) {
  char staging[4096];
  cohort_status st = p->blobs->ops->stage(p->blobs, staging, sizeof staging);
  if (st != COHORT_OK)
    return st;
  FILE *f = fopen(staging, "wb");
  size_t n = strlen(text);
  if (!f || fwrite(text, 1, n, f) != n || fclose(f) != 0) {
    if (f)
      fclose(f);
    p->blobs->ops->discard(p->blobs, staging);
    return co_error(COHORT_EIO, "cannot write %s", staging);
  }
  st = co_blob_commit_sum(p->blobs, staging, key, sha256, bytes);
  if (st != COHORT_OK)
    p->blobs->ops->discard(p->blobs, staging);
  return st;
}

static json_t *num_or_null(double v) {
  return isfinite(v) ? json_real(v) : json_null();
}

/* Evaluates synth against real (and holdout) and stores the report; *report_id names it. */
static cohort_status make_report(co_task *t, const cohort_schema *schema, const cohort_table *real,
                                 const cohort_table *synth, const cohort_table *holdout, const char *target,
                                 uint64_t seed, json_t *extra, char report_id[CO_ID_MAX]) {
  co_platform *p = t->p;
  cohort_eval *ev = NULL;
  char *json_doc = NULL, *html_doc = NULL;
  co_report r = {0};
  cohort_eval_options eo = COHORT_EVAL_OPTIONS_INIT;
  eo.target = target;
  eo.seed = seed;
  eo.progress = co_task_progress;
  eo.progress_user = t;
  cohort_status st = cohort_evaluate(schema, real, synth, holdout, &eo, &ev);
  if (st != COHORT_OK)
    goto out;
  if ((st = cohort_eval_to_json(ev, &json_doc)) != COHORT_OK ||
      (st = co_report_html(ev, &html_doc)) != COHORT_OK)
    goto out;
  co_id_new("rep", r.id, sizeof r.id);
  co_strlcpy(r.workspace_id, t->job->workspace_id, sizeof r.workspace_id);
  co_strlcpy(r.trainee_id, t->job->trainee_id, sizeof r.trainee_id);
  co_strlcpy(r.job_id, t->job->id, sizeof r.job_id);
  snprintf(r.json_blob, sizeof r.json_blob, "reports/%s.json", r.id);
  snprintf(r.html_blob, sizeof r.html_blob, "reports/%s.html", r.id);
  if (co_task_progress(t, "saving report", 1)) { /* as in task_synthesize: nothing after a cancel */
    st = co_error(COHORT_ECANCELLED, "cancelled");
    goto out;
  }
  if ((st = put_text(p, r.json_blob, json_doc, r.json_sha256, &r.json_bytes)) != COHORT_OK ||
      (st = put_text(p, r.html_blob, html_doc, r.html_sha256, &r.html_bytes)) != COHORT_OK)
    goto out;
  json_t *sum = extra ? json_deep_copy(extra) : json_object();
  json_object_set_new(sum, "quality", num_or_null(cohort_eval_quality(ev)));
  json_object_set_new(sum, "quality_all_pairs", num_or_null(cohort_eval_quality_all_pairs(ev)));
  json_object_set_new(sum, "column_shapes", num_or_null(cohort_eval_column_shapes(ev)));
  json_object_set_new(sum, "pair_trends", num_or_null(cohort_eval_pair_trends(ev)));
  json_object_set_new(sum, "dcr_baseline_protection", num_or_null(cohort_eval_dcr_baseline(ev)));
  json_object_set_new(sum, "dcr_overfitting_protection", num_or_null(cohort_eval_dcr_overfitting(ev)));
  json_object_set_new(sum, "identical_rows", json_integer((json_int_t)cohort_eval_identical(ev)));
  json_object_set_new(sum, "tstr", num_or_null(cohort_eval_tstr(ev)));
  json_object_set_new(sum, "trtr", num_or_null(cohort_eval_trtr(ev)));
  json_object_set_new(sum, "tstr_gbm", num_or_null(cohort_eval_tstr_gbm(ev)));
  json_object_set_new(sum, "trtr_gbm", num_or_null(cohort_eval_trtr_gbm(ev)));
  char *sum_text = json_dumps(sum, JSON_COMPACT);
  json_decref(sum);
  r.summary_json = sum_text ? co_strdup(sum_text) : NULL;
  free(sum_text);
  r.created_ms = co_now_ms();
  if ((st = p->store->ops->report_create(p->store, &r)) != COHORT_OK)
    goto out;
  co_strlcpy(report_id, r.id, CO_ID_MAX);
out:
  if (st != COHORT_OK && r.id[0]) {
    p->blobs->ops->remove(p->blobs, r.json_blob);
    p->blobs->ops->remove(p->blobs, r.html_blob);
  }
  co_report_clear(&r);
  cohort_free(json_doc);
  co_free(html_doc);
  cohort_eval_free(ev);
  return st;
}

/* ---------------------------------------------------------------- synthesize */

/* {"rows": n, "seed": n, "conviction": x, "k": n, "privacy": "reference"|"local"|"off",
 *  "fixed": {"feature": "value"}, "evaluate": true, "holdout": dataset id, "target": feature}
 * Writes the rows as a new dataset and, unless evaluate is false, a quality and privacy report
 * against the trainee's training dataset. */
static cohort_status task_synthesize(co_task *t) {
  co_platform *p = t->p;
  co_trainee rec = {0};
  co_dataset out_ds = {0}, real_ds = {0}, hold_ds = {0};
  co_hosted *h = NULL;
  cohort_table *synth = NULL, *real = NULL, *hold = NULL;
  char report_id[CO_ID_MAX] = "";
  cohort_status st = get_trainee(t, &rec);
  if (st != COHORT_OK)
    return st;
  const co_synthesize_params *a = &t->args.u.synthesize;
  cohort_synth_options so = COHORT_SYNTH_OPTIONS_INIT;
  co_task_progress(t, "loading", 0);
  if ((st = co_host_acquire(p->host, &rec, &h)) != COHORT_OK)
    goto out;
  cohort_trainee *tr = co_hosted_trainee(h);
  int64_t rows = a->rows ? a->rows : (int64_t)cohort_trainee_cases(tr);
  if (rows <= 0 || rows > p->cfg.max_rows) {
    st = co_error(COHORT_EINVAL, "rows: must be from 1 to %lld", (long long)p->cfg.max_rows);
    goto out;
  }
  so.rows = (size_t)rows;
  so.seed = (uint64_t)a->seed;
  so.k = (size_t)a->k;
  so.conviction = a->conviction;
  so.privacy = a->privacy == CO_PRIVACY_LOCAL ? COHORT_PRIVACY_LOCAL
               : a->privacy == CO_PRIVACY_OFF ? COHORT_PRIVACY_OFF
                                              : COHORT_PRIVACY_REFERENCE;
  so.fixed_names = a->fixed.names;
  so.fixed_values = a->fixed.values;
  so.n_fixed = a->fixed.n;
  so.progress = co_task_progress;
  so.progress_user = t;
  int do_eval = a->evaluate && rec.dataset_id[0];
  co_task_window(t, 0.02, do_eval ? 0.68 : 0.93);
  if ((st = cohort_synthesize(tr, &so, &synth)) != COHORT_OK)
    goto out;
  char name[CO_NAME_MAX];
  snprintf(name, sizeof name, "%.100s (synthetic)", rec.name);
  co_task_window(t, 0, 1);
  /* A new stage reads the job's row: a cancel (its trainee being deleted) stops it before it
   * publishes anything. */
  if (co_task_progress(t, "saving", do_eval ? 0.71 : 0.96)) {
    st = co_error(COHORT_ECANCELLED, "cancelled");
    goto out;
  }
  if ((st = store_table(t, synth, name, cohort_trainee_schema(tr), &out_ds)) != COHORT_OK)
    goto out;
  t->result = json_pack("{s:s, s:I}", "dataset", out_ds.id, "rows", (json_int_t)cohort_table_rows(synth));
  if (do_eval) {
    co_task_progress(t, "reading real data", 0.72);
    if ((st = read_dataset(t, rec.dataset_id, &real, &real_ds)) != COHORT_OK)
      goto out;
    if (a->holdout && (st = read_dataset(t, a->holdout, &hold, &hold_ds)) != COHORT_OK)
      goto out;
    co_task_window(t, 0.74, 0.25);
    json_t *extra = json_pack("{s:s, s:s}", "synthetic_dataset", out_ds.id, "real_dataset", rec.dataset_id);
    st = make_report(t, cohort_trainee_schema(tr), real, synth, hold, a->target, (uint64_t)a->seed, extra,
                     report_id);
    json_decref(extra);
    if (st != COHORT_OK)
      goto out;
    json_object_set_new(t->result, "report", json_string(report_id));
  }
out:
  if (st == COHORT_ECANCELLED && out_ds.id[0]) { /* cancelled while evaluating: nothing is left */
    p->store->ops->dataset_delete(p->store, out_ds.id);
    p->blobs->ops->remove(p->blobs, out_ds.blob);
  }
  co_host_release(p->host, h);
  cohort_table_free(synth);
  cohort_table_free(real);
  cohort_table_free(hold);
  co_dataset_clear(&out_ds);
  co_dataset_clear(&real_ds);
  co_dataset_clear(&hold_ds);
  co_trainee_clear(&rec);
  return st;
}

/* ---------------------------------------------------------------- evaluate two datasets */

/* {"real": id, "synthetic": id, "holdout": id, "target": feature} */
static cohort_status task_evaluate(co_task *t) {
  co_dataset real_ds = {0}, syn_ds = {0}, hold_ds = {0};
  cohort_table *real = NULL, *syn = NULL, *hold = NULL;
  cohort_schema *schema = NULL;
  char report_id[CO_ID_MAX] = "";
  const co_evaluate_params *a = &t->args.u.evaluate;
  const char *rid = a->real, *sid = a->synthetic, *hid = a->holdout;
  cohort_status st;
  co_task_progress(t, "reading datasets", 0);
  if ((st = read_dataset(t, rid, &real, &real_ds)) != COHORT_OK ||
      (st = read_dataset(t, sid, &syn, &syn_ds)) != COHORT_OK ||
      (hid && (st = read_dataset(t, hid, &hold, &hold_ds)) != COHORT_OK))
    goto out;
  if ((st = cohort_schema_infer(&schema, real)) != COHORT_OK)
    goto out;
  co_task_window(t, 0.05, 0.9);
  json_t *extra = json_pack("{s:s, s:s}", "synthetic_dataset", sid, "real_dataset", rid);
  st = make_report(t, schema, real, syn, hold, a->target, (uint64_t)a->seed, extra, report_id);
  json_decref(extra);
  if (st == COHORT_OK)
    t->result = json_pack("{s:s}", "report", report_id);
out:
  cohort_schema_free(schema);
  cohort_table_free(real);
  cohort_table_free(syn);
  cohort_table_free(hold);
  co_dataset_clear(&real_ds);
  co_dataset_clear(&syn_ds);
  co_dataset_clear(&hold_ds);
  return st;
}

const co_task_kind co_task_kinds[] = {{"train", task_train},       {"analyze", task_analyze},
                                      {"impute", task_impute},     {"synthesize", task_synthesize},
                                      {"evaluate", task_evaluate}, {NULL, NULL}};
