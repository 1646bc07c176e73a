/* Client verbs for trainees: list, create, show, delete, train, analyze, predict, anomalies,
 * importance, synthesize, export, import. Changes run as jobs on the server (--wait follows them);
 * questions are answered at once. Rows for predict and anomalies come from a CSV file read with the
 * engine's reader and are sent as JSON in batches. */
#include "client.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define WAIT_OPT(p)                                                                                          \
  CLI_OPT("wait", 0, NULL, "wait for the job to end, with a progress bar (Ctrl-C stops waiting)", CLI_FLAG,  \
          (p))

/* After a POST that started a job ({"trainee":..., "job":...}): either report it, or wait. */
static int follow_job(cli_client *c, json_t *reply, int wait, json_t **final) {
  json_t *job = json_object_get(reply, "job");
  const char *job_id = cli_jstr_of(job, "id");
  int rc = CLI_OK;
  if (final)
    *final = NULL;
  if (!wait) {
    if (!cli_json_out(reply, &rc))
      printf("Started %s job %s for trainee %s ('cohort job wait %s' follows it)\n", cli_jstr_of(job, "kind"),
             job_id, cli_jstr_of(json_object_get(reply, "trainee"), "id"), job_id);
    return rc;
  }
  json_t *done = NULL;
  rc = cli_wait_job(c, job_id, &done);
  if (done && cli_g.json) { /* the final job, also when it failed */
    int jr = cli_json_print(json_incref(done));
    if (rc == CLI_OK)
      rc = jr;
  }
  if (final)
    *final = done;
  else
    json_decref(done);
  return rc;
}

/* ---------------------------------------------------------------- list, show, delete */

static int print_list(const cli_reply *r) {
  static const char *heads[] = {"id",     "name",     "ready",   ">version",
                                ">cases", "analyzed", "dataset", "updated"};
  cli_table tab;
  json_t *t;
  size_t i;
  cli_table_init(&tab, 8, heads);
  json_array_foreach(json_object_get(r->doc, "trainees"), i, t) {
    json_t *info = json_object_get(t, "info");
    char tm[32];
    cli_table_add(&tab, cli_jstr_of(t, "id"));
    cli_table_add(&tab, cli_jstr_of(t, "name"));
    cli_table_add(&tab, json_is_true(json_object_get(t, "ready")) ? "yes" : "no");
    cli_table_addf(&tab, "%lld", (long long)cli_jint_of(t, "version"));
    if (json_is_object(info))
      cli_table_addf(&tab, "%lld", (long long)cli_jint_of(info, "cases"));
    else
      cli_table_add(&tab, "");
    cli_table_add(&tab, json_is_true(json_object_get(info, "analyzed")) ? "yes" : "no");
    cli_table_add(&tab, cli_jstr_of(t, "dataset"));
    cli_table_add(&tab, cli_fmt_ms(tm, sizeof tm, cli_jint_of(t, "updated_ms")));
  }
  cli_table_print(&tab, stdout, "");
  cli_table_free(&tab);
  return CLI_OK;
}

static int trainee_list(int argc, char **argv) {
  static const cli_cmd cmd = {
      "trainee list", "[--workspace ID]", "Lists the trainees of a workspace.", NULL, NULL, NULL, NULL};
  return cli_simple_verb(&cmd, 1, argc, argv, "GET", "/v1/trainees", print_list, NULL);
}

static int print_show(const cli_reply *r) {
  json_t *t = r->doc, *info = json_object_get(t, "info");
  char tm[32], num[32];
  cli_kv("id:", "%s", cli_jstr_of(t, "id"));
  cli_kv("name:", "%s", cli_jstr_of(t, "name"));
  cli_kv("workspace:", "%s", cli_jstr_of(t, "workspace"));
  cli_kv("dataset:", "%s", *cli_jstr_of(t, "dataset") ? cli_jstr_of(t, "dataset") : "(imported)");
  cli_kv("ready:", "%s",
         json_is_true(json_object_get(t, "ready")) ? "yes" : "no (its train job has not finished)");
  cli_kv("version:", "%lld", (long long)cli_jint_of(t, "version"));
  if (json_is_object(info)) {
    cli_kv("cases:", "%lld", (long long)cli_jint_of(info, "cases"));
    cli_kv("analyzed:", "%s", json_is_true(json_object_get(info, "analyzed")) ? "yes" : "no");
    if (json_object_get(info, "k"))
      cli_kv("k, p:", "%lld, %s", (long long)cli_jint_of(info, "k"),
             cli_fmt_num(num, sizeof num, cli_jnum_of(info, "p"), 4));
  }
  cli_kv("created:", "%s", cli_fmt_ms(tm, sizeof tm, cli_jint_of(t, "created_ms")));
  cli_kv("updated:", "%s", cli_fmt_ms(tm, sizeof tm, cli_jint_of(t, "updated_ms")));
  if (json_is_array(json_object_get(info, "schema"))) {
    printf("\nFeatures:\n");
    cli_schema_print(json_object_get(info, "schema"));
  }
  return CLI_OK;
}

static int trainee_show(int argc, char **argv) {
  static const cli_cmd cmd = {
      "trainee show", "ID", "Shows a trainee: state, cases, learned parameters, features.", NULL, NULL,
      NULL,           NULL};
  return cli_simple_verb(&cmd, 0, argc, argv, "GET", "/v1/trainees/%s", print_show, NULL);
}

static int trainee_delete(int argc, char **argv) {
  static const cli_cmd cmd = {"trainee delete", "ID", "Deletes a trainee.", NULL, NULL, NULL, NULL};
  return cli_delete_verb(&cmd, argc, argv, "/v1/trainees/%s", "trainee");
}

static int trainee_export(int argc, char **argv) {
  static const cli_cmd cmd = {"trainee export",
                              "ID -o FILE.cohort",
                              "Downloads the trainee file (for 'cohort local' verbs, or import elsewhere).",
                              NULL,
                              NULL,
                              NULL,
                              NULL};
  return cli_download_verb(&cmd, argc, argv, "/v1/trainees/%s/export");
}

/* ---------------------------------------------------------------- create, train */

typedef struct create_opts {
  const char *dataset, *name;
  int wait;
  cli_list ignore, types;
} create_opts;

/* --type COL=TYPE, checked by the server but for its shape. */
static int take_type(const cli_args *a, const char *val, void *types) {
  if (!strchr(val, '=') || val[0] == '=')
    return cli_usage(a->cmd, "--type: expected NAME=TYPE, got '%s'", val), -1;
  return cli_list_add(types, val) == 0 ? 0 : (cli_error("out of memory"), -1);
}

/* {"col": {"ignored": true, "type": "nominal"}} from --ignore and --type. */
static json_t *features_json(const create_opts *o) {
  json_t *f = json_object();
  for (size_t i = 0; f && i < o->ignore.n; i++) {
    json_t *spec = json_object_get(f, o->ignore.v[i]);
    if (!spec)
      json_object_set_new(f, o->ignore.v[i], spec = json_object());
    json_object_set_new(spec, "ignored", json_true());
  }
  for (size_t i = 0; f && i < o->types.n; i++) {
    char *eq = strchr(o->types.v[i], '=');
    *eq = '\0';
    json_t *spec = json_object_get(f, o->types.v[i]);
    if (!spec)
      json_object_set_new(f, o->types.v[i], spec = json_object());
    json_object_set_new(spec, "type", json_string(eq + 1));
    *eq = '=';
  }
  return f;
}

static int trainee_create(int argc, char **argv) {
  cli_conn conn = {0};
  cli_client c;
  cli_url u;
  create_opts o;
  json_t *body = NULL, *reply = NULL, *final = NULL;
  int rc = CLI_USAGE, opened = 0;
  memset(&o, 0, sizeof o);
  const cli_opt opts[] = {
      CLI_OPT("dataset", 'd', "ID", "the dataset to train on (required)", CLI_STR, &o.dataset),
      CLI_OPT("name", 'n', "NAME", "the trainee's name (required)", CLI_STR, &o.name),
      CLI_OPT("ignore", 0, "COL[,COL]", "do not use these columns as features (repeatable)", CLI_LIST,
              &o.ignore),
      CLI_OPT("type", 0, "COL=TYPE", "set a feature's type: nominal, continuous, ordinal, datetime, boolean",
              CLI_CALL, &o.types, .fn = take_type),
      WAIT_OPT(&o.wait),
      CLI_WS_OPT(&conn),
      CLI_CONN_OPTS(&conn),
      CLI_OPTS_END};
  const cli_cmd cmd = {
      "trainee create",
      "--dataset ID --name NAME [--wait]",
      "Creates a trainee from a dataset; a train job fills it (ready when the job succeeds).",
      "Example:\n  cohort trainee create --dataset ds_... --name penguins --wait",
      opts,
      NULL,
      NULL};
  if (!cli_parse(&cmd, argc, argv, &rc))
    goto out;
  if (!o.dataset || !o.name) {
    rc = cli_usage(&cmd, "%s is required", !o.dataset ? "--dataset ID" : "--name NAME");
    goto out;
  }
  if ((rc = cli_client_open(&c, &cmd, &conn)) != CLI_OK)
    goto out;
  opened = 1;
  body = json_pack("{s:s, s:s}", "name", o.name, "dataset", o.dataset);
  if (body && (o.ignore.n || o.types.n))
    json_object_set_new(body, "features", features_json(&o));
  if (!body) {
    rc = cli_error("trainee create: arguments that are not UTF-8");
    goto out;
  }
  cli_url_init(&u, "/v1/trainees");
  cli_url_ws(&u, &conn);
  if ((rc = cli_call(&c, "POST", cli_url_get(&u, &c), body, &reply)) != CLI_OK)
    goto out;
  json_t *tr = json_object_get(reply, "trainee");
  if (!o.wait) {
    if (!cli_json_out(reply, &rc))
      printf("Created trainee %s (%s); training in job %s ('cohort job wait %s' follows it)\n",
             cli_jstr_of(tr, "id"), cli_jstr_of(tr, "name"), cli_jstr_of(json_object_get(reply, "job"), "id"),
             cli_jstr_of(json_object_get(reply, "job"), "id"));
    goto out;
  }
  if ((rc = follow_job(&c, reply, 1, &final)) == CLI_OK && !cli_g.json) {
    json_t *result = json_object_get(final, "result");
    printf("Trainee %s (%s) is ready: version %lld, %lld cases\n", cli_jstr_of(tr, "id"),
           cli_jstr_of(tr, "name"), (long long)cli_jint_of(result, "version"),
           (long long)cli_jint_of(result, "cases"));
  }
out:
  cli_list_free(&o.ignore);
  cli_list_free(&o.types);
  json_decref(body);
  json_decref(reply);
  json_decref(final);
  if (opened)
    cli_client_close(&c);
  return rc;
}

/* POST /v1/trainees/{id}/<kind> with body; then follow the job. */
static int start_job(const cli_cmd *cmd, const cli_conn *conn, const char *trainee, const char *kind,
                     json_t *body, int wait, json_t **final) {
  cli_client c;
  cli_url u;
  json_t *reply = NULL;
  int rc;
  if (final)
    *final = NULL;
  if (!body)
    return cli_error("%s: arguments that are not UTF-8 (or out of memory)", cmd->name);
  if ((rc = cli_client_open(&c, cmd, conn)) != CLI_OK)
    return rc;
  cli_url_init(&u, "/v1/trainees/%s/%s", trainee, kind);
  if ((rc = cli_call(&c, "POST", cli_url_get(&u, &c), body, &reply)) == CLI_OK)
    rc = follow_job(&c, reply, wait, final);
  if (rc == CLI_OK && final && !*final && reply)
    *final = json_incref(json_object_get(reply, "job")); /* not waited for: the queued job */
  json_decref(reply);
  cli_client_close(&c);
  return rc;
}

static int trainee_train(int argc, char **argv) {
  cli_conn conn = {0};
  create_opts o;
  const char *tr;
  json_t *final = NULL;
  int rc;
  memset(&o, 0, sizeof o);
  const cli_opt opts[] = {
      CLI_OPT("dataset", 'd', "ID", "the dataset whose rows to add (required)", CLI_STR, &o.dataset),
      WAIT_OPT(&o.wait), CLI_CONN_OPTS(&conn), CLI_OPTS_END};
  const cli_pos pos[] = {{&tr, CLI_REQUIRED}, {NULL, NULL}};
  const cli_cmd cmd = {"trainee train",
                       "ID --dataset ID [--wait]",
                       "Adds the rows of a dataset as new cases (a train job).",
                       NULL,
                       opts,
                       pos,
                       NULL};
  if (!cli_parse(&cmd, argc, argv, &rc))
    goto out;
  if (!o.dataset) {
    rc = cli_usage(&cmd, "--dataset ID is required");
    goto out;
  }
  json_t *body = json_pack("{s:s}", "dataset", o.dataset);
  rc = start_job(&cmd, &conn, tr, "train", body, o.wait, &final);
  json_decref(body);
  if (rc == CLI_OK && o.wait && !cli_g.json) {
    json_t *res = json_object_get(final, "result");
    printf("Trained trainee %s: version %lld, %lld cases\n", tr, (long long)cli_jint_of(res, "version"),
           (long long)cli_jint_of(res, "cases"));
  }
out:
  json_decref(final);
  cli_list_free(&o.ignore);
  cli_list_free(&o.types);
  return rc;
}

/* ---------------------------------------------------------------- analyze */

static int trainee_analyze(int argc, char **argv) {
  cli_conn conn = {0};
  cli_list targets = {0};
  cli_sizes k = {0};
  cli_doubles p = {0};
  size_t sample = 0;
  uint64_t seed = 0;
  int have_seed = 0, have_sample = 0, wait = 0;
  const char *tr;
  json_t *body = NULL, *final = NULL;
  int rc;
  const cli_opt opts[] = {
      CLI_OPT("target", 't', "NAME", "a feature to tune for (repeatable; default: all features)", CLI_LIST,
              &targets),
      CLI_OPT("k", 0, "K,K,..", "neighbour counts to try", CLI_SIZES, &k),
      CLI_OPT("p", 0, "P,P,..", "Minkowski exponents to try", CLI_DOUBLES, &p),
      CLI_OPT("sample", 0, "N", "cases used for leave-one-out", CLI_SIZE, &sample, .seen = &have_sample),
      CLI_OPT("seed", 0, "N", "random seed", CLI_U64, &seed, .seen = &have_seed),
      WAIT_OPT(&wait),
      CLI_CONN_OPTS(&conn),
      CLI_OPTS_END};
  const cli_pos pos[] = {{&tr, CLI_REQUIRED}, {NULL, NULL}};
  const cli_cmd cmd = {"trainee analyze",
                       "ID [--target NAME ...] [--wait]",
                       "Tunes k, p and per-feature deviations and weights (an analyze job).",
                       NULL,
                       opts,
                       pos,
                       NULL};
  if (!cli_parse(&cmd, argc, argv, &rc))
    goto out;
  body = json_object();
  if (targets.n) {
    json_t *t = json_array();
    for (size_t i = 0; i < targets.n; i++)
      json_array_append_new(t, cli_jstr(targets.v[i]));
    json_object_set_new(body, "targets", t);
  }
  if (k.n) {
    json_t *ks = json_array();
    for (size_t i = 0; i < k.n; i++)
      json_array_append_new(ks, json_integer((json_int_t)k.v[i]));
    json_object_set_new(body, "k_values", ks);
  }
  if (p.n) {
    json_t *ps = json_array();
    for (size_t i = 0; i < p.n; i++)
      json_array_append_new(ps, json_real(p.v[i]));
    json_object_set_new(body, "p_values", ps);
  }
  if (have_sample)
    json_object_set_new(body, "sample", json_integer((json_int_t)sample));
  if (have_seed)
    json_object_set_new(body, "seed", json_integer((json_int_t)(seed & INT64_MAX)));
  rc = start_job(&cmd, &conn, tr, "analyze", body, wait, &final);
  if (rc == CLI_OK && wait && !cli_g.json)
    printf("Analyzed trainee %s: version %lld\n", tr,
           (long long)cli_jint_of(json_object_get(final, "result"), "version"));
out:
  json_decref(body);
  json_decref(final);
  cli_list_free(&targets);
  cli_sizes_free(&k);
  cli_doubles_free(&p);
  return rc;
}

/* ---------------------------------------------------------------- rows from CSV */

static int read_rows(const cli_cmd *cmd, const char *file, cohort_table **out) {
  cohort_status st = cohort_table_read_csv(out, file, NULL);
  if (st != COHORT_OK) {
    const char *msg = cohort_errmsg();
    fprintf(stderr, "cohort %s: read %s: %s\n", cmd->name, file, msg && *msg ? msg : cohort_strerror(st));
    return CLI_ERR;
  }
  if (cohort_table_rows(*out) == 0) {
    cohort_table_free(*out);
    *out = NULL;
    fprintf(stderr, "cohort %s: %s has no rows\n", cmd->name, file);
    return CLI_ERR;
  }
  return CLI_OK;
}

/* Rows [from, to) as JSON objects: cells as strings, missing cells as null. */
static json_t *rows_json(const cohort_table *t, size_t from, size_t to) {
  json_t *rows = json_array();
  size_t nc = cohort_table_cols(t);
  for (size_t i = from; rows && i < to; i++) {
    json_t *row = json_object();
    if (!row || json_array_append_new(rows, row) != 0) {
      json_decref(rows);
      return NULL;
    }
    for (size_t c = 0; c < nc; c++)
      if (json_object_set_new(row, cohort_table_colname(t, c), cli_jstr(cohort_table_cell(t, i, c))) != 0) {
        json_decref(rows);
        return NULL;
      }
  }
  return rows;
}

/* POSTs body + "rows" in batches of `batch` rows and appends every batch's reply[key] items to
 * *acc (created). Items with a "row" member get it offset to count from the first row. */
static int post_rows(cli_client *c, const char *path, json_t *body, const cohort_table *t, size_t batch,
                     const char *key, json_t **acc, json_t **last) {
  size_t n = cohort_table_rows(t);
  int rc = CLI_OK;
  cli_progress p;
  cli_progress_init(&p);
  *acc = json_array();
  *last = NULL;
  for (size_t from = 0; from < n && rc == CLI_OK; from += batch) {
    size_t to = from + batch < n ? from + batch : n;
    json_t *rows = rows_json(t, from, to), *reply = NULL, *item;
    size_t i;
    if (!rows || !*acc) {
      json_decref(rows);
      rc = cli_error("out of memory");
      break;
    }
    json_object_set_new(body, "rows", rows);
    if ((rc = cli_call(c, "POST", path, body, &reply)) == CLI_OK) {
      json_array_foreach(json_object_get(reply, key), i, item) {
        json_t *row = json_object_get(item, "row");
        if (json_is_integer(row))
          json_object_set_new(item, "row", json_integer(json_integer_value(row) + (json_int_t)from));
        json_array_append(*acc, item);
      }
      json_decref(*last);
      *last = reply;
    }
    json_object_del(body, "rows");
    if (n > batch && rc == CLI_OK)
      cli_progress_cb(&p, "rows", (double)to / (double)n);
  }
  cli_progress_end(&p);
  return rc;
}

/* ---------------------------------------------------------------- predict */

static json_t *names_json(const cli_list *l) {
  json_t *a = json_array();
  for (size_t i = 0; a && i < l->n; i++)
    json_array_append_new(a, cli_jstr(l->v[i]));
  return a;
}

/* The predicted class's probability, or NaN for a continuous target. */
static double pred_prob(json_t *pred, const char *target) {
  json_t *probs = json_object_get(json_object_get(pred, "probabilities"), target);
  const char *v = json_string_value(json_object_get(json_object_get(pred, "values"), target));
  json_t *pv = v ? json_object_get(probs, v) : NULL;
  return json_is_number(pv) ? json_number_value(pv) : NAN;
}

static int has_probs(json_t *preds, const char *target) {
  json_t *pred;
  size_t i;
  json_array_foreach(preds, i, pred) {
    if (json_object_get(json_object_get(pred, "probabilities"), target))
      return 1;
  }
  return 0;
}

/* Input columns + <t>_predicted, <t>_uncertainty (+ <t>_probability) per target, as CSV. */
static int write_predictions(const cli_cmd *cmd, const cohort_table *in, const cli_list *targets,
                             json_t *preds, const char *path) {
  size_t nin = cohort_table_cols(in), nt = targets->n, ncols = nin;
  int *probs = calloc(nt ? nt : 1, sizeof *probs);
  cli_list names = {0};
  const char **cells = NULL;
  char(*nums)[32] = NULL;
  cohort_table *out = NULL;
  char *csv = NULL;
  size_t len = 0;
  int rc = CLI_ERR;
  cohort_status st;
  if (!probs)
    goto oom;
  for (size_t c = 0; c < nin; c++)
    if (cli_list_add(&names, cohort_table_colname(in, c)) != 0)
      goto oom;
  for (size_t t = 0; t < nt; t++) {
    const char *suffix[] = {"_predicted", "_uncertainty", "_probability"};
    probs[t] = has_probs(preds, targets->v[t]);
    for (int s = 0; s < 2 + probs[t]; s++) {
      char *n = cli_join(targets->v[t], suffix[s]);
      if (!n || cli_list_add(&names, n) != 0) {
        free(n);
        goto oom;
      }
      free(n);
      ncols++;
    }
  }
  if (!(cells = calloc(ncols, sizeof *cells)) || !(nums = calloc(ncols, sizeof *nums)))
    goto oom;
  if ((st = cohort_table_create(&out, ncols, (const char *const *)names.v)) != COHORT_OK) {
    rc = cli_fail(st, "%s: build the output", cmd->name);
    goto done;
  }
  for (size_t i = 0; i < cohort_table_rows(in); i++) {
    json_t *pred = json_array_get(preds, i);
    size_t c = 0;
    for (; c < nin; c++)
      cells[c] = cohort_table_cell(in, i, c);
    for (size_t t = 0; t < nt; t++) {
      const char *tn = targets->v[t];
      json_t *v = json_object_get(json_object_get(pred, "values"), tn);
      cells[c] = json_is_string(v) ? json_string_value(v) : NULL;
      c++;
      double u = cli_jnum_of(json_object_get(pred, "uncertainty"), tn);
      snprintf(nums[c], sizeof nums[c], "%.6g", u);
      cells[c] = isfinite(u) ? nums[c] : NULL;
      c++;
      if (probs[t]) {
        double pr = pred_prob(pred, tn);
        snprintf(nums[c], sizeof nums[c], "%.6g", pr);
        cells[c] = isfinite(pr) ? nums[c] : NULL;
        c++;
      }
    }
    if ((st = cohort_table_append(out, cells)) != COHORT_OK) {
      rc = cli_fail(st, "%s: build the output", cmd->name);
      goto done;
    }
  }
  if (cli_is_stdout(path)) {
    if ((st = cohort_table_to_csv(out, &csv, &len)) != COHORT_OK) {
      rc = cli_fail(st, "%s: write CSV", cmd->name);
      goto done;
    }
    if (fwrite(csv, 1, len, stdout) != len || fflush(stdout) != 0) {
      rc = cli_error("%s: writing to stdout: %s", cmd->name, strerror(errno));
      goto done;
    }
  } else if ((st = cohort_table_write_csv(out, path)) != COHORT_OK) {
    rc = cli_fail(st, "%s: write %s", cmd->name, path);
    goto done;
  }
  rc = CLI_OK;
  goto done;
oom:
  rc = cli_error("out of memory");
done:
  cohort_free(csv);
  cohort_table_free(out);
  free(nums);
  free(cells);
  free(probs);
  cli_list_free(&names);
  return rc;
}

static void print_predictions(const cli_list *targets, json_t *preds) {
  size_t nt = targets->n, ncols = 1;
  cli_list heads = {0};
  const char **hv = NULL;
  int *probs = calloc(nt ? nt : 1, sizeof *probs);
  if (!probs || cli_list_add(&heads, ">#") != 0)
    goto out;
  for (size_t t = 0; t < nt; t++) {
    probs[t] = has_probs(preds, targets->v[t]);
    if (cli_list_add(&heads, targets->v[t]) != 0)
      goto out;
    if (cli_list_add(&heads, ">uncertainty") != 0 || (probs[t] && cli_list_add(&heads, ">probability") != 0))
      goto out;
    ncols += 2 + (size_t)probs[t];
  }
  if (!(hv = calloc(ncols, sizeof *hv)))
    goto out;
  for (size_t i = 0; i < ncols; i++)
    hv[i] = heads.v[i];
  cli_table tab;
  cli_table_init(&tab, ncols, hv);
  json_t *pred;
  size_t i;
  json_array_foreach(preds, i, pred) {
    char num[32], buf[64];
    cli_table_addf(&tab, "%zu", i);
    for (size_t t = 0; t < nt; t++) {
      const char *tn = targets->v[t];
      cli_table_add(&tab, cli_jtext(json_object_get(json_object_get(pred, "values"), tn), buf, sizeof buf));
      cli_table_add(&tab,
                    cli_fmt_num(num, sizeof num, cli_jnum_of(json_object_get(pred, "uncertainty"), tn), 4));
      if (probs[t])
        cli_table_add(&tab, cli_fmt_num(num, sizeof num, pred_prob(pred, tn), 4));
    }
  }
  cli_table_print(&tab, stdout, "");
  cli_table_free(&tab);
out:
  free(hv);
  free(probs);
  cli_list_free(&heads);
}

/* When the input holds a target's column: accuracy (categorical) or mean absolute error. */
static void note_scores(const cohort_table *in, const cli_list *targets, json_t *preds) {
  for (size_t t = 0; t < targets->n; t++) {
    const char *tn = targets->v[t];
    long col = cohort_table_find(in, tn);
    int cat = has_probs(preds, tn);
    double sum = 0;
    size_t n = 0;
    if (col < 0)
      continue;
    for (size_t i = 0; i < cohort_table_rows(in); i++) {
      const char *actual = cohort_table_cell(in, i, (size_t)col);
      const char *pv =
          json_string_value(json_object_get(json_object_get(json_array_get(preds, i), "values"), tn));
      if (!actual || !pv)
        continue;
      if (cat) {
        sum += strcmp(actual, pv) == 0;
      } else {
        char *e1, *e2;
        double x = strtod(actual, &e1), y = strtod(pv, &e2);
        if (*e1 || *e2 || !isfinite(x) || !isfinite(y))
          continue;
        sum += fabs(x - y);
      }
      n++;
    }
    if (n)
      cli_note("%s: %s %.4g on the %zu rows that have it", tn, cat ? "accuracy" : "mean absolute error",
               sum / (double)n, n);
  }
}

/* Context categories the trainee never saw inform nothing: say so, for the first few rows. */
static void note_unknown(json_t *preds) {
  size_t rows = 0, shown = 0, i;
  json_t *pred;
  json_array_foreach(preds, i, pred) {
    json_t *unk = json_object_get(pred, "unknown"), *u;
    size_t k;
    rows += json_array_size(unk) > 0;
    json_array_foreach(unk, k, u) {
      if (shown++ < 10)
        cli_note("row %zu: %s '%s' was never seen in training, so it did not inform the prediction", i,
                 cli_jstr_of(u, "column"), cli_jstr_of(u, "value"));
    }
  }
  if (shown > 10)
    cli_note("%zu unseen values in all, in %zu rows (see --json)", shown, rows);
}

static int trainee_predict(int argc, char **argv) {
  cli_conn conn = {0};
  cli_client c;
  cli_url u;
  cli_list targets = {0}, contexts = {0};
  const char *tr, *file, *out = NULL, *path;
  size_t batch = 5000;
  cohort_table *in = NULL;
  json_t *body = NULL, *preds = NULL, *last = NULL;
  int rc, opened = 0;
  const cli_opt opts[] = {
      CLI_OPT("target", 't', "NAME", "feature to predict (repeatable, required)", CLI_LIST, &targets),
      CLI_OPT("context", 'c', "NAME", "feature to predict from (repeatable; default: all others)", CLI_LIST,
              &contexts),
      CLI_OUT_OPT(&out),
      CLI_OPT("batch", 0, "N", "rows per request (default 5000)", CLI_SIZE, &batch,
              CLI_NOT_BELOW(1, "must be at least 1")),
      CLI_CONN_OPTS(&conn),
      CLI_OPTS_END};
  const cli_pos pos[] = {{&tr, CLI_REQUIRED}, {&file, NULL}, {NULL, NULL}};
  const cli_cmd cmd = {
      "trainee predict",
      "ID --target NAME [--context NAME ...] ROWS.csv [-o OUT.csv]",
      "Predicts target features for the rows of a CSV file with a trainee on the server.",
      "Prints a table of the predictions and their uncertainty (and the predicted class's probability),\n"
      "or with -o writes CSV: the input columns, then <target>_predicted, <target>_uncertainty and\n"
      "<target>_probability. When the input has the target's column, the accuracy is noted on stderr.",
      opts,
      pos,
      NULL};
  if (!cli_parse(&cmd, argc, argv, &rc))
    goto out;
  if (!file || !targets.n) {
    rc = cli_usage(&cmd, "%s", !targets.n ? "--target NAME is required" : "missing the ROWS.csv file");
    goto out;
  }
  if ((rc = read_rows(&cmd, file, &in)) != CLI_OK)
    goto out;
  if ((rc = cli_client_open(&c, &cmd, &conn)) != CLI_OK)
    goto out;
  opened = 1;
  body = json_object();
  json_object_set_new(body, "targets", names_json(&targets));
  if (contexts.n)
    json_object_set_new(body, "contexts", names_json(&contexts));
  cli_url_init(&u, "/v1/trainees/%s/predict", tr);
  if (!(path = cli_url_get(&u, &c))) {
    rc = CLI_ERR;
    goto out;
  }
  if ((rc = post_rows(&c, path, body, in, batch, "predictions", &preds, &last)) != CLI_OK)
    goto out;
  if (json_array_size(preds) != cohort_table_rows(in)) {
    rc = cli_error("%s: the server answered %zu predictions for %zu rows", cmd.name, json_array_size(preds),
                   cohort_table_rows(in));
    goto out;
  }
  note_scores(in, &targets, preds);
  note_unknown(preds);
  if (out) {
    if ((rc = write_predictions(&cmd, in, &targets, preds, out)) == CLI_OK && !cli_is_stdout(out))
      cli_note("Wrote %zu predictions to %s", json_array_size(preds), out);
  } else if (cli_g.json) {
    rc = cli_json_print(
        json_pack("{s:O, s:O}", "version", json_object_get(last, "version"), "predictions", preds));
  } else {
    print_predictions(&targets, preds);
  }
out:
  json_decref(body);
  json_decref(preds);
  json_decref(last);
  cohort_table_free(in);
  cli_list_free(&targets);
  cli_list_free(&contexts);
  if (opened)
    cli_client_close(&c);
  return rc;
}

/* ---------------------------------------------------------------- anomalies, importance */

static int trainee_anomalies(int argc, char **argv) {
  cli_conn conn = {0};
  cli_client c;
  cli_url u;
  size_t top = 20;
  const char *tr, *file, *path;
  cohort_table *in = NULL;
  json_t *body = NULL, *doc = NULL, *items = NULL, *last = NULL, *it;
  size_t i;
  int rc, opened = 0;
  const cli_opt opts[] = {CLI_OPT("top", 'n', "N", "how many of the trainee's cases to list (default 20)",
                                  CLI_SIZE, &top, .bad = "must be from 1 to 10000", .lo = 1, .hi = 10000),
                          CLI_CONN_OPTS(&conn), CLI_OPTS_END};
  const cli_pos pos[] = {{&tr, CLI_REQUIRED}, {&file, NULL}, {NULL, NULL}};
  const cli_cmd cmd = {"trainee anomalies",
                       "ID [--top N] [ROWS.csv]",
                       "Lists the trainee's most anomalous cases, or scores the rows of a CSV file.",
                       "Lower conviction is more surprising.",
                       opts,
                       pos,
                       NULL};
  if (!cli_parse(&cmd, argc, argv, &rc))
    goto out;
  if (file && (rc = read_rows(&cmd, file, &in)) != CLI_OK)
    goto out;
  if ((rc = cli_client_open(&c, &cmd, &conn)) != CLI_OK)
    goto out;
  opened = 1;
  cli_url_init(&u, "/v1/trainees/%s/anomalies", tr);
  if (!(path = cli_url_get(&u, &c))) {
    rc = CLI_ERR;
    goto out;
  }
  body = json_pack("{s:I}", "top", (json_int_t)top);
  if (in) {
    if ((rc = post_rows(&c, path, body, in, 5000, "rows", &items, &last)) != CLI_OK)
      goto out;
    doc = json_pack("{s:O, s:I}", "rows", items, "scored", (json_int_t)json_array_size(items));
  } else {
    if ((rc = cli_call(&c, "POST", path, body, &doc)) != CLI_OK)
      goto out;
  }
  if (cli_json_out(doc, &rc))
    goto out;
  const char *key = in ? "row" : "case";
  static const char *heads_case[] = {">case", ">conviction", ">distance contribution"};
  static const char *heads_row[] = {">row", ">conviction", ">distance contribution"};
  cli_table t;
  cli_table_init(&t, 3, in ? heads_row : heads_case);
  json_array_foreach(json_object_get(doc, in ? "rows" : "cases"), i, it) {
    char a[32], b[32];
    cli_table_addf(&t, "%lld", (long long)cli_jint_of(it, key));
    cli_table_add(&t, cli_fmt_num(a, sizeof a, cli_jnum_of(it, "conviction"), 4));
    cli_table_add(&t, cli_fmt_num(b, sizeof b, cli_jnum_of(it, "distance_contribution"), 4));
  }
  cli_table_print(&t, stdout, "");
  cli_table_free(&t);
  if (!in)
    cli_note("%zu of %lld cases, most surprising first", json_array_size(json_object_get(doc, "cases")),
             (long long)cli_jint_of(doc, "scored"));
out:
  json_decref(body);
  json_decref(doc);
  json_decref(items);
  json_decref(last);
  cohort_table_free(in);
  if (opened)
    cli_client_close(&c);
  return rc;
}

typedef struct imp_pair {
  const char *name;
  double v;
} imp_pair;

static int by_importance(const void *a, const void *b) {
  double x = ((const imp_pair *)a)->v, y = ((const imp_pair *)b)->v;
  return (x < y) - (x > y);
}

static int print_importance(const cli_reply *r) {
  static const char *heads[] = {"feature", ">importance"};
  json_t *imp = json_object_get(r->doc, "importance"), *v;
  const char *key;
  size_t n = json_object_size(imp), i = 0;
  imp_pair *pairs = calloc(n ? n : 1, sizeof *pairs);
  if (!pairs)
    return cli_error("out of memory");
  json_object_foreach(imp, key, v) {
    pairs[i].name = key;
    pairs[i++].v = json_is_number(v) ? json_number_value(v) : NAN;
  }
  qsort(pairs, n, sizeof *pairs, by_importance);
  cli_table t;
  cli_table_init(&t, 2, heads);
  for (i = 0; i < n; i++) {
    char num[32];
    cli_table_add(&t, pairs[i].name);
    cli_table_add(&t, cli_fmt_num(num, sizeof num, pairs[i].v, 4));
  }
  cli_table_print(&t, stdout, "");
  cli_table_free(&t);
  free(pairs);
  return CLI_OK;
}

static int trainee_importance(int argc, char **argv) {
  cli_conn conn = {0};
  cli_url u;
  const char *tr, *target = NULL;
  int rc;
  const cli_opt opts[] = {
      CLI_OPT("target", 't', "NAME", "the feature to explain (required)", CLI_STR, &target),
      CLI_CONN_OPTS(&conn), CLI_OPTS_END};
  const cli_pos pos[] = {{&tr, CLI_REQUIRED}, {NULL, NULL}};
  const cli_cmd cmd = {
      "trainee importance", "ID --target NAME", "Feature importance for a target.", NULL, opts, pos, NULL};
  if (!cli_parse(&cmd, argc, argv, &rc))
    return rc;
  if (!target)
    return cli_usage(&cmd, "--target NAME is required");
  cli_url_init(&u, "/v1/trainees/%s/importance", tr);
  cli_url_q(&u, "target", target);
  return cli_fetch(&cmd, &conn, "GET", &u, print_importance, NULL, NULL);
}

/* ---------------------------------------------------------------- synthesize */

typedef struct synth_opts {
  size_t rows;
  const char *privacy, *target, *out;
  uint64_t seed;
  int have_rows, have_seed, wait, no_report;
} synth_opts;

static int take_gate(const cli_args *a, const char *val, void *dst) {
  if (strcmp(val, "reference") && strcmp(val, "local") && strcmp(val, "off"))
    return cli_usage(a->cmd, "--privacy: must be reference, local or off"), -1;
  *(const char **)dst = val;
  return 0;
}

static int trainee_synthesize(int argc, char **argv) {
  cli_conn conn = {0};
  synth_opts o;
  const char *tr;
  json_t *body = NULL, *final = NULL;
  int rc;
  memset(&o, 0, sizeof o);
  const cli_opt opts[] = {
      CLI_OPT("rows", 'n', "N", "rows to generate (default: as many as the trainee's cases)", CLI_SIZE,
              &o.rows, .seen = &o.have_rows, CLI_NOT_BELOW(1, "must be at least 1")),
      CLI_OPT("privacy", 0, "GATE", "privacy gate: reference (default), local or off", CLI_CALL, &o.privacy,
              .fn = take_gate),
      CLI_OPT("seed", 0, "N", "random seed (default 1)", CLI_U64, &o.seed, .seen = &o.have_seed),
      CLI_OPT("target", 't', "NAME", "target feature for the report's train-synthetic-test-real score",
              CLI_STR, &o.target),
      CLI_OPT("no-report", 0, NULL, "skip the quality and privacy report", CLI_FLAG, &o.no_report),
      WAIT_OPT(&o.wait),
      CLI_OPT("output", 'o', "FILE", "wait, then download the synthetic rows as CSV ('-' = stdout)", CLI_STR,
              &o.out),
      CLI_CONN_OPTS(&conn),
      CLI_OPTS_END};
  const cli_pos pos[] = {{&tr, CLI_REQUIRED}, {NULL, NULL}};
  const cli_cmd cmd = {
      "trainee synthesize",
      "ID --rows N [--privacy reference|local] [--seed S] [--wait] [-o synth.csv]",
      "Generates privacy-safe synthetic rows as a new dataset, with a quality and privacy report (a job).",
      "Example:\n  cohort trainee synthesize tr_... --rows 1000 --privacy local -o synthetic.csv",
      opts,
      pos,
      NULL};
  if (!cli_parse(&cmd, argc, argv, &rc))
    return rc;
  if (o.out)
    o.wait = 1;
  body = json_object();
  if (o.have_rows)
    json_object_set_new(body, "rows", json_integer((json_int_t)(o.rows > INT64_MAX ? INT64_MAX : o.rows)));
  if (o.privacy)
    json_object_set_new(body, "privacy", json_string(o.privacy));
  if (o.have_seed)
    json_object_set_new(body, "seed", json_integer((json_int_t)(o.seed & INT64_MAX)));
  if (o.target)
    json_object_set_new(body, "target", cli_jstr(o.target));
  if (o.no_report)
    json_object_set_new(body, "evaluate", json_false());
  /* With -o - the CSV is stdout: no JSON there, and the messages go to stderr. */
  int to_stdout = o.out && cli_is_stdout(o.out), json = cli_g.json;
  if (to_stdout)
    cli_g.json = 0;
  rc = start_job(&cmd, &conn, tr, "synthesize", body, o.wait, &final);
  if (rc == CLI_OK && o.wait) {
    json_t *res = json_object_get(final, "result");
    const char *rep = cli_jstr_of(res, "report");
    char line[256];
    snprintf(line, sizeof line, "Synthesized %lld rows: dataset %s%s%s", (long long)cli_jint_of(res, "rows"),
             cli_jstr_of(res, "dataset"), *rep ? ", report " : "", rep);
    if (to_stdout)
      cli_note("%s", line);
    else if (!cli_g.json)
      printf("%s\n", line);
  }
  cli_g.json = json;
  if (rc != CLI_OK || !o.out)
    goto out;
  cli_client c;
  cli_url u;
  if ((rc = cli_client_open(&c, &cmd, &conn)) != CLI_OK)
    goto out;
  cli_url_init(&u, "/v1/datasets/%s/download", cli_jstr_of(json_object_get(final, "result"), "dataset"));
  if ((rc = cli_download(&c, cli_url_get(&u, &c), o.out)) == CLI_OK && !to_stdout && !cli_g.json)
    printf("Saved the synthetic rows to %s\n", o.out);
  cli_client_close(&c);
out:
  json_decref(body);
  json_decref(final);
  return rc;
}

/* ---------------------------------------------------------------- import */

static int print_imported(const cli_reply *r) {
  printf("Imported trainee %s (%s): %lld cases\n", cli_jstr_of(r->doc, "id"), cli_jstr_of(r->doc, "name"),
         (long long)cli_jint_of(json_object_get(r->doc, "info"), "cases"));
  return CLI_OK;
}

static int trainee_import(int argc, char **argv) {
  static const cli_cmd cmd = {"trainee import",
                              "FILE.cohort [--name NAME] [--workspace ID]",
                              "Uploads a trainee file (from 'cohort local train' or an export).",
                              NULL,
                              NULL,
                              NULL,
                              NULL};
  return cli_upload_verb(&cmd, argc, argv, "/v1/trainees/import", "application/octet-stream",
                         "the trainee's name (default: the file's name)", "missing the trainee FILE",
                         print_imported);
}

int cli_trainee_main(int argc, char **argv) {
  static const cli_verb verbs[] = {
      {"list", trainee_list, "trainees of a workspace"},
      {"create", trainee_create, "a trainee from a dataset (train job)"},
      {"show", trainee_show, "a trainee: state, parameters, features"},
      {"delete", trainee_delete, "delete a trainee"},
      {"train", trainee_train, "add a dataset's rows as cases (job)"},
      {"analyze", trainee_analyze, "tune k, p, deviations and weights (job)"},
      {"predict", trainee_predict, "predict targets for the rows of a CSV"},
      {"anomalies", trainee_anomalies, "most anomalous cases, or scores of rows"},
      {"importance", trainee_importance, "feature importance for a target"},
      {"synthesize", trainee_synthesize, "synthetic rows and a report (job)"},
      {"export", trainee_export, "download the trainee file"},
      {"import", trainee_import, "upload a trainee file"},
      {NULL, NULL, NULL}};
  static const cli_group group = {"trainee", "Trainees: instance-based models on the server.",
                                  CLI_CLIENT_FOOTER, verbs};
  return cli_dispatch(&group, argc, argv);
}
