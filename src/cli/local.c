/* `cohort local`: verb dispatch and the pieces the verbs share. */
#include "local.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---------------------------------------------------------------- dispatch */

static const cli_verb verbs[] = {
    {"train", local_train, "read a CSV, infer its schema, train a trainee and save it"},
    {"schema", local_schema, "show the schema inferred from a CSV"},
    {"analyze", local_analyze, "tune k, p and per-feature deviations/weights; save"},
    {"train-more", local_train_more, "add the rows of another CSV as cases"},
    {"remove", local_remove, "remove cases by number"},
    {"edit", local_edit, "change feature values of one case"},
    {"info", local_info, "cases, features and learned parameters of a trainee"},
    {"predict", local_predict, "predict target features for the rows of a CSV"},
    {"importance", local_importance, "feature importance for a target"},
    {"anomalies", local_anomalies, "most anomalous rows or training cases"},
    {"impute", local_impute, "fill missing values of a CSV or of the trainee's cases"},
    {"synthesize", local_synthesize, "generate privacy-safe synthetic rows"},
    {"evaluate", local_evaluate, "score synthetic data against real data; HTML/JSON report"},
    {NULL, NULL, NULL}};

int cli_local_main(int argc, char **argv) {
  static const cli_group group = {
      "local", "Runs the engine on local files: CSV tables in, trainee files (.cohort) and CSV out.",
      "\nEvery verb takes --help, --json, --quiet and --threads N. Exit codes: 0 ok, 1 error, 2 usage.\n"
      "Example:\n"
      "  cohort local train penguins.csv -o penguins.cohort --analyze --target species\n"
      "  cohort local predict penguins.cohort penguins.csv --target species -o predicted.csv\n",
      verbs};
  return cli_dispatch(&group, argc, argv);
}

/* ---------------------------------------------------------------- CSV input */

int local_take_delimiter(const cli_args *a, const char *val, void *delimiter) {
  if (strcmp(val, "\\t") == 0 || strcmp(val, "tab") == 0)
    val = "\t";
  if (strlen(val) != 1 || val[0] == '"' || val[0] == '\n' || val[0] == '\r')
    return cli_usage(a->cmd, "--delimiter: expected one character (or 'tab'), got '%s'", val), -1;
  *(char *)delimiter = val[0];
  return 0;
}

void local_csv_free(local_csv *c) {
  cli_list_free(&c->na);
}

/* "cohort: <verb> PATH: <msg>", without repeating the path when the message already names it. */
static int fail_path(cohort_status st, const char *verb, const char *path) {
  const char *msg = cohort_errmsg();
  size_t vl = strlen(verb);
  if (msg && strncmp(msg, verb, vl) == 0 && msg[vl] == ':' && strstr(msg, path))
    return cli_error("%s", msg); /* the engine already said "<verb>: ... <path> ..." */
  if (msg && *msg && strstr(msg, path))
    return cli_fail(st, "%s", verb);
  return cli_fail(st, "%s %s", verb, path);
}

int local_read(const local_csv *c, const char *path, cohort_table **out) {
  cohort_csv_options opt = COHORT_CSV_OPTIONS_INIT;
  const char **na = NULL;
  opt.delimiter = c ? c->delimiter : 0;
  if (c && c->na.n) {
    na = calloc(c->na.n + 1, sizeof *na);
    if (!na)
      return cli_error("out of memory");
    na[0] = ""; /* the empty cell stays missing */
    for (size_t i = 0; i < c->na.n; i++)
      na[i + 1] = c->na.v[i];
    opt.na_tokens = na;
    opt.n_na_tokens = c->na.n + 1;
  }
  cohort_status st = cohort_table_read_csv(out, path, &opt);
  free(na);
  if (st != COHORT_OK)
    return fail_path(st, "read", path);
  return CLI_OK;
}

int local_load(const char *path, cohort_trainee **out) {
  cohort_status st = cohort_trainee_load(out, path);
  if (st != COHORT_OK)
    return fail_path(st, "load", path);
  return CLI_OK;
}

int local_save(const cohort_trainee *t, const char *path) {
  cohort_status st = cohort_trainee_save(t, path);
  if (st != COHORT_OK)
    return fail_path(st, "save", path);
  return CLI_OK;
}

int local_write_table(const cohort_table *t, const char *path) {
  if (!cli_is_stdout(path)) {
    cohort_status st = cohort_table_write_csv(t, path);
    if (st != COHORT_OK)
      return fail_path(st, "write", path);
    return CLI_OK;
  }
  char *buf = NULL;
  size_t len = 0;
  cohort_status st = cohort_table_to_csv(t, &buf, &len);
  if (st != COHORT_OK)
    return cli_fail(st, "write CSV");
  int r = cli_write_file(NULL, buf, len);
  cohort_free(buf);
  if (r != 0)
    return cli_error("writing to stdout: %s", strerror(errno));
  return CLI_OK;
}

/* Rows of a table as a JSON array of objects (missing = null). */
json_t *local_table_json(const cohort_table *t) {
  json_t *arr = json_array();
  size_t rows = cohort_table_rows(t), cols = cohort_table_cols(t);
  for (size_t r = 0; r < rows; r++) {
    json_t *o = json_object();
    for (size_t c = 0; c < cols; c++)
      json_object_set_new(o, cohort_table_colname(t, c), cli_jstr(cohort_table_cell(t, r, c)));
    json_array_append_new(arr, o);
  }
  return arr;
}

/* ---------------------------------------------------------------- features */

int local_need_feature(const cohort_schema *s, const char *name, const char *role) {
  if (cohort_schema_find(s, name) >= 0)
    return CLI_OK;
  char list[512];
  size_t n = 0, nf = cohort_schema_features(s);
  list[0] = '\0';
  for (size_t i = 0; i < nf && n < sizeof list - 8; i++) {
    int w = snprintf(list + n, sizeof list - n, "%s%s", i ? ", " : "", cohort_schema_name(s, i));
    if (w < 0 || (size_t)w >= sizeof list - n) {
      snprintf(list + n, sizeof list - n, ", ...");
      break;
    }
    n += (size_t)w;
  }
  return cli_error("unknown %s feature '%s' (features: %s)", role, name, list);
}

int local_split_assign(const cohort_schema *s, const char *arg, const char *role, char **name,
                       const char **value) {
  /* Prefer the first '=' that leaves a known feature on its left, so values may hold '='
   * ("income=<=50K") and names too. */
  const char *eq = strchr(arg, '=');
  const char *first = eq;
  for (; eq; eq = strchr(eq + 1, '=')) {
    char *n = strndup(arg, (size_t)(eq - arg));
    if (!n)
      return cli_error("out of memory");
    if (cohort_schema_find(s, n) >= 0) {
      *name = n;
      *value = eq + 1;
      return CLI_OK;
    }
    free(n);
  }
  if (!first)
    return cli_error("%s '%s': expected NAME=VALUE", role, arg);
  char *n = strndup(arg, (size_t)(first - arg));
  if (!n)
    return cli_error("out of memory");
  int rc = local_need_feature(s, n, role);
  free(n);
  return rc;
}

/* ---------------------------------------------------------------- schema overrides */

int local_take_type(const cli_args *a, const char *val, void *types) {
  const char *eq = strrchr(val, '=');
  if (!eq || eq == val)
    return cli_usage(a->cmd, "--type: expected NAME=TYPE, got '%s'", val), -1;
  if (cohort_ftype_parse(eq + 1) < 0)
    return cli_usage(a->cmd, "--type: unknown type '%s' (nominal, continuous, ordinal, datetime, boolean)",
                     eq + 1),
           -1;
  return cli_list_add(types, val) == 0 ? 0 : (cli_error("out of memory"), -1);
}

int local_take_order(const cli_args *a, const char *val, void *orders) {
  if (!strchr(val, '=') || val[0] == '=')
    return cli_usage(a->cmd, "--order: expected NAME=LEVEL,LEVEL,..., got '%s'", val), -1;
  return cli_list_add(orders, val) == 0 ? 0 : (cli_error("out of memory"), -1);
}

int local_take_assign(const cli_args *a, const char *val, void *list) {
  if (!strchr(val, '='))
    return cli_usage(a->cmd, "%s: expected NAME=VALUE, got '%s'", a->opt_name, val), -1;
  return cli_list_add(list, val) == 0 ? 0 : (cli_error("out of memory"), -1);
}

void local_schema_opts_free(local_schema_opts *o) {
  cli_list_free(&o->types);
  cli_list_free(&o->orders);
  cli_list_free(&o->ignores);
}

int local_schema_apply(cohort_schema *s, const cohort_table *t, const local_schema_opts *o) {
  int rc = CLI_OK;
  char *name = NULL;
  cli_list levels = {0};
  cohort_status st;
  for (size_t i = 0; i < o->types.n; i++) {
    const char *eq = strrchr(o->types.v[i], '=');
    name = strndup(o->types.v[i], (size_t)(eq - o->types.v[i]));
    if (!name)
      return cli_error("out of memory");
    if ((rc = local_need_feature(s, name, "--type")) != CLI_OK)
      goto out;
    st = cohort_schema_set_type(s, t, name, (cohort_ftype)cohort_ftype_parse(eq + 1));
    if (st != COHORT_OK) {
      rc = cli_fail(st, "--type %s", o->types.v[i]);
      goto out;
    }
    free(name);
    name = NULL;
  }
  for (size_t i = 0; i < o->orders.n; i++) {
    const char *val;
    if ((rc = local_split_assign(s, o->orders.v[i], "--order", &name, &val)) != CLI_OK)
      goto out;
    long f = cohort_schema_find(s, name);
    if (cohort_schema_type(s, (size_t)f) != COHORT_ORDINAL) {
      st = cohort_schema_set_type(s, t, name, COHORT_ORDINAL);
      if (st != COHORT_OK) {
        rc = cli_fail(st, "--order %s: making '%s' ordinal", o->orders.v[i], name);
        goto out;
      }
    }
    if (cli_list_add_split(&levels, val) != 0) {
      rc = cli_error("out of memory");
      goto out;
    }
    st = cohort_schema_set_order(s, name, (const char *const *)levels.v, levels.n);
    if (st != COHORT_OK) {
      rc = cli_fail(st, "--order %s", name);
      goto out;
    }
    cli_list_free(&levels);
    free(name);
    name = NULL;
  }
  for (size_t i = 0; i < o->ignores.n; i++) {
    if ((rc = local_need_feature(s, o->ignores.v[i], "--ignore")) != CLI_OK)
      goto out;
    st = cohort_schema_set_ignored(s, o->ignores.v[i], 1);
    if (st != COHORT_OK) {
      rc = cli_fail(st, "--ignore %s", o->ignores.v[i]);
      goto out;
    }
  }
out:
  cli_list_free(&levels);
  free(name);
  return rc;
}

int local_infer_schema(const cohort_table *t, const char *path, const local_schema_opts *o,
                       cohort_schema **out) {
  cohort_status st = cohort_schema_infer(out, t);
  if (st != COHORT_OK)
    return cli_fail(st, "infer schema of %s", path);
  return local_schema_apply(*out, t, o);
}

/* ---------------------------------------------------------------- schema display */

typedef struct schema_levels {
  const cohort_schema *s;
  size_t i;
} schema_levels;

static const char *schema_level(const void *ctx, size_t l) {
  const schema_levels *f = ctx;
  return cohort_schema_level(f->s, f->i, l);
}

void local_feature_range(const cohort_schema *s, size_t i, char *buf, size_t cap) {
  cohort_ftype ty = cohort_schema_type(s, i);
  double lo = NAN, hi = NAN;
  if (ty == COHORT_NOMINAL || ty == COHORT_ORDINAL || ty == COHORT_BOOLEAN) {
    schema_levels f = {s, i};
    size_t n = cohort_schema_levels(s, i);
    cli_fmt_levels(buf, cap, n, n, ty == COHORT_ORDINAL, schema_level, &f);
    return;
  }
  cohort_schema_bounds(s, i, &lo, &hi);
  cli_fmt_bounds(buf, cap, lo, hi, ty == COHORT_DATETIME, cohort_schema_decimals(s, i));
}

static size_t count_missing(const cohort_table *t, const char *name) {
  long c = cohort_table_find(t, name);
  size_t n = 0, rows = cohort_table_rows(t);
  if (c < 0)
    return rows;
  for (size_t r = 0; r < rows; r++)
    if (!cohort_table_cell(t, r, (size_t)c))
      n++;
  return n;
}

void local_schema_print(const cohort_schema *s, const cohort_table *t, const cohort_trainee *tr) {
  int analyzed = tr && cohort_trainee_is_analyzed(tr);
  cli_schema_table tab;
  cli_schema_begin(&tab, t != NULL, analyzed);
  for (size_t i = 0; i < cohort_schema_features(s); i++) {
    char range[256], missing[32] = "", dev[32] = "";
    int ignored = cohort_schema_is_ignored(s, i);
    local_feature_range(s, i, range, sizeof range);
    if (t)
      snprintf(missing, sizeof missing, "%zu", count_missing(t, cohort_schema_name(s, i)));
    if (analyzed && !ignored)
      cli_fmt_num(dev, sizeof dev, cohort_trainee_deviation(tr, i), 4);
    cli_schema_row(&tab, cohort_schema_name(s, i), cohort_ftype_name(cohort_schema_type(s, i)), range,
                   missing, dev, cohort_schema_is_id(s, i), ignored);
  }
  cli_schema_end(&tab);
}

json_t *local_schema_json(const cohort_schema *s) {
  char *txt = NULL;
  cohort_status st = cohort_schema_to_json(s, &txt);
  if (st != COHORT_OK) {
    cli_fail(st, "schema to JSON");
    return NULL;
  }
  json_error_t err;
  json_t *j = json_loads(txt, 0, &err);
  cohort_free(txt);
  if (!j)
    cli_error("schema to JSON: engine produced invalid JSON: %s", err.text);
  return j;
}

/* ---------------------------------------------------------------- analyze */

void local_analyze_init(local_analyze_opts *o) {
  memset(o, 0, sizeof *o);
  o->seed = 1;
}

void local_analyze_free(local_analyze_opts *o) {
  cli_list_free(&o->targets);
  cli_sizes_free(&o->k);
  cli_doubles_free(&o->p);
}

int local_run_analyze(cohort_trainee *t, const local_analyze_opts *o) {
  const cohort_schema *s = cohort_trainee_schema(t);
  for (size_t i = 0; i < o->targets.n; i++)
    if (local_need_feature(s, o->targets.v[i], "target") != CLI_OK)
      return CLI_ERR;
  cli_progress pr;
  cli_progress_init(&pr);
  cohort_analyze_options ao = COHORT_ANALYZE_OPTIONS_INIT;
  ao.targets = (const char *const *)o->targets.v;
  ao.n_targets = o->targets.n;
  ao.k_values = o->k.v;
  ao.n_k = o->k.n;
  ao.p_values = o->p.v;
  ao.n_p = o->p.n;
  ao.sample = o->sample;
  ao.seed = o->seed;
  ao.threads = cli_g.threads;
  ao.progress = cli_progress_cb;
  ao.progress_user = &pr;
  cohort_status st = cohort_trainee_analyze(t, &ao);
  cli_progress_end(&pr);
  if (st != COHORT_OK)
    return cli_fail(st, "analyze");
  return CLI_OK;
}

void local_params_print(const cohort_trainee *t, const cli_list *targets) {
  const cohort_schema *s = cohort_trainee_schema(t);
  size_t nt = targets->n ? targets->n : 1;
  if (!cohort_trainee_is_analyzed(t)) {
    printf("not analyzed (defaults in use); run 'cohort local analyze'\n");
    return;
  }
  for (size_t j = 0; j < nt; j++) {
    const char *tg = targets->n ? targets->v[j] : NULL;
    size_t k = 0;
    double p = NAN;
    if (cohort_trainee_params(t, tg, &k, &p) == COHORT_OK)
      printf("%s: k=%zu p=%g\n", tg ? tg : "targetless", k, p);
  }
  const char *heads[3 + 8];
  char headbuf[8][64];
  size_t nw = nt > 8 ? 8 : nt, nc = 0;
  heads[nc++] = "feature";
  heads[nc++] = "type";
  heads[nc++] = ">deviation";
  for (size_t j = 0; j < nw; j++) {
    if (targets->n > 1)
      snprintf(headbuf[j], sizeof headbuf[j], ">weight(%s)", targets->v[j]);
    else
      snprintf(headbuf[j], sizeof headbuf[j], ">weight");
    heads[nc++] = headbuf[j];
  }
  cli_table tab;
  cli_table_init(&tab, nc, heads);
  for (size_t i = 0; i < cohort_schema_features(s); i++) {
    char num[32];
    if (cohort_schema_is_ignored(s, i))
      continue;
    cli_table_add(&tab, cohort_schema_name(s, i));
    cli_table_add(&tab, cohort_ftype_name(cohort_schema_type(s, i)));
    cli_table_add(&tab, cli_fmt_num(num, sizeof num, cohort_trainee_deviation(t, i), 4));
    for (size_t j = 0; j < nw; j++) {
      const char *tg = targets->n ? targets->v[j] : NULL;
      if (tg && strcmp(tg, cohort_schema_name(s, i)) == 0)
        cli_table_add(&tab, "(target)");
      else
        cli_table_add(&tab, cli_fmt_num(num, sizeof num, cohort_trainee_feature_weight(t, tg, i), 4));
    }
  }
  cli_table_print(&tab, stdout, "  ");
  cli_table_free(&tab);
}

json_t *local_params_json(const cohort_trainee *t, const cli_list *targets) {
  const cohort_schema *s = cohort_trainee_schema(t);
  int analyzed = cohort_trainee_is_analyzed(t);
  json_t *root = json_object(), *params = json_array(), *devs = json_object();
  size_t nt = targets->n ? targets->n : 1;
  for (size_t j = 0; j < nt; j++) {
    const char *tg = targets->n ? targets->v[j] : NULL;
    size_t k = 0;
    double p = NAN;
    json_t *w = json_object();
    for (size_t i = 0; i < cohort_schema_features(s); i++) {
      if (cohort_schema_is_ignored(s, i) || (tg && strcmp(tg, cohort_schema_name(s, i)) == 0))
        continue;
      json_object_set_new(w, cohort_schema_name(s, i), cli_jnum(cohort_trainee_feature_weight(t, tg, i)));
    }
    json_t *e = json_object();
    json_object_set_new(e, "target", cli_jstr(tg));
    if (cohort_trainee_params(t, tg, &k, &p) == COHORT_OK) {
      json_object_set_new(e, "k", json_integer((json_int_t)k));
      json_object_set_new(e, "p", cli_jnum(p));
    } else {
      json_object_set_new(e, "k", json_null());
      json_object_set_new(e, "p", json_null());
    }
    json_object_set_new(e, "weights", w);
    json_array_append_new(params, e);
  }
  for (size_t i = 0; i < cohort_schema_features(s); i++)
    if (!cohort_schema_is_ignored(s, i))
      json_object_set_new(devs, cohort_schema_name(s, i), cli_jnum(cohort_trainee_deviation(t, i)));
  json_object_set_new(root, "analyzed", json_boolean(analyzed));
  json_object_set_new(root, "params", params);
  json_object_set_new(root, "deviations", devs);
  return root;
}
