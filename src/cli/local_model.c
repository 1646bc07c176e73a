/* Verbs that build and change trainees: train, schema, analyze, train-more, remove, edit, info. */
#include "local.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Reads the case weights of column `col` of t (one per row, finite, >= 0). */
static int read_weights(const cohort_table *t, const char *col, const char *path, double **out) {
  long c = cohort_table_find(t, col);
  if (c < 0)
    return cli_error("--weights-column: '%s' is not a column of %s", col, path);
  size_t rows = cohort_table_rows(t);
  double *w = calloc(rows ? rows : 1, sizeof *w);
  if (!w)
    return cli_error("out of memory");
  for (size_t r = 0; r < rows; r++) {
    const char *cell = cohort_table_cell(t, r, (size_t)c);
    char *end;
    errno = 0;
    w[r] = cell ? strtod(cell, &end) : NAN;
    if (!cell || errno || *end || !isfinite(w[r]) || w[r] < 0) {
      free(w);
      return cli_error("%s: data row %zu: weight '%s' in column '%s' is not a number >= 0", path, r + 1,
                       cell ? cell : "(missing)", col);
    }
  }
  *out = w;
  return CLI_OK;
}

static size_t active_features(const cohort_schema *s) {
  size_t n = 0;
  for (size_t i = 0; i < cohort_schema_features(s); i++)
    n += !cohort_schema_is_ignored(s, i);
  return n;
}

/* Merges local_params_json into obj. */
static void add_params(json_t *obj, const cohort_trainee *t, const cli_list *targets) {
  json_t *p = local_params_json(t, targets);
  if (p) {
    json_object_update(obj, p);
    json_decref(p);
  }
}

static void print_kp(const cohort_trainee *t, const cli_list *targets) {
  size_t nt = targets->n ? targets->n : 1;
  for (size_t j = 0; j < nt; j++) {
    const char *tg = targets->n ? targets->v[j] : NULL;
    size_t k;
    double p;
    if (cohort_trainee_params(t, tg, &k, &p) == COHORT_OK)
      printf("analyzed for %s: k=%zu p=%g\n", tg ? tg : "all features (targetless)", k, p);
  }
}

/* ---------------------------------------------------------------- train */

int local_train(int argc, char **argv) {
  local_csv csv = {0};
  local_schema_opts so = {0};
  local_analyze_opts ao;
  const char *in, *out = NULL, *wcol = NULL;
  int analyze = 0, rc = CLI_OK;
  cohort_table *tab = NULL;
  cohort_schema *schema = NULL;
  cohort_trainee *tr = NULL;
  double *weights = NULL;
  cohort_status st;
  local_analyze_init(&ao);
  const cli_opt opts[] = {
      CLI_OPT("output", 'o', "FILE", "trainee file to write (required)", CLI_STR, &out),
      LOCAL_SCHEMA_OPTS(&so),
      CLI_OPT("weights-column", 0, "NAME", "use this numeric column as case weights (not as a feature)",
              CLI_STR, &wcol),
      LOCAL_CSV_OPTS(&csv),
      CLI_OPT("analyze", 0, NULL, "analyze after training (tunes k, p, deviations and weights)", CLI_FLAG,
              &analyze),
      CLI_OPT("target", 0, "NAME", "analyze for predicting NAME (repeatable; implies --analyze)", CLI_LIST,
              &ao.targets, .seen = &analyze),
      LOCAL_ANALYZE_OPTS(&ao),
      CLI_OPTS_END};
  const cli_pos pos[] = {{&in, "missing the DATA.csv argument"}, {NULL, NULL}};
  const cli_cmd cmd = {
      "local train",
      "DATA.csv -o T.cohort [options]",
      "Reads a CSV table, infers its schema, applies the overrides, trains a trainee on every row and\n"
      "saves it. Prints the schema (feature, type, levels or bounds, missing cells, flags).",
      "Examples:\n"
      "  cohort local train penguins.csv -o penguins.cohort --analyze --target species\n"
      "  cohort local train adult_train.csv -o adult.cohort --order education_num=1,2,3 --ignore fnlwgt",
      opts,
      pos,
      NULL};

  if (!cli_parse(&cmd, argc, argv, &rc))
    goto out;
  if (!out) {
    rc = cli_usage(&cmd, "missing -o T.cohort (where to save the trainee)");
    goto out;
  }

  if ((rc = local_read(&csv, in, &tab)) != CLI_OK)
    goto out;
  if ((rc = local_infer_schema(tab, in, &so, &schema)) != CLI_OK)
    goto out;
  if (wcol) {
    if ((rc = read_weights(tab, wcol, in, &weights)) != CLI_OK)
      goto out;
    if (cohort_schema_find(schema, wcol) >= 0 &&
        (st = cohort_schema_set_ignored(schema, wcol, 1)) != COHORT_OK) {
      rc = cli_fail(st, "--weights-column %s", wcol);
      goto out;
    }
  }
  if ((st = cohort_trainee_create(&tr, schema)) != COHORT_OK) {
    rc = cli_fail(st, "create trainee");
    goto out;
  }
  if ((st = cohort_trainee_train(tr, tab, weights)) != COHORT_OK) {
    rc = cli_fail(st, "train on %s", in);
    goto out;
  }
  if (analyze && (rc = local_run_analyze(tr, &ao)) != CLI_OK)
    goto out;
  if ((rc = local_save(tr, out)) != CLI_OK)
    goto out;

  const cohort_schema *ts = cohort_trainee_schema(tr);
  if (cli_g.json) {
    json_t *j = json_object();
    json_object_set_new(j, "input", json_string(in));
    json_object_set_new(j, "output", json_string(out));
    json_object_set_new(j, "rows", json_integer((json_int_t)cohort_table_rows(tab)));
    json_object_set_new(j, "cases", json_integer((json_int_t)cohort_trainee_cases(tr)));
    json_object_set_new(j, "features", json_integer((json_int_t)active_features(ts)));
    json_object_set_new(j, "weights_column", cli_jstr(wcol));
    json_t *sj = local_schema_json(ts);
    json_object_set_new(j, "schema", sj ? sj : json_null());
    add_params(j, tr, &ao.targets);
    rc = cli_json_print(j);
  } else if (!cli_g.quiet) {
    printf("%s: %zu rows, %zu columns\n", in, cohort_table_rows(tab), cohort_table_cols(tab));
    local_schema_print(ts, tab, tr);
    printf("trained %zu cases on %zu features%s%s%s\n", cohort_trainee_cases(tr), active_features(ts),
           wcol ? " (weights from '" : "", wcol ? wcol : "", wcol ? "')" : "");
    if (analyze)
      print_kp(tr, &ao.targets);
    printf("saved %s\n", out);
  }
out:
  free(weights);
  cohort_trainee_free(tr);
  cohort_schema_free(schema);
  cohort_table_free(tab);
  local_analyze_free(&ao);
  local_schema_opts_free(&so);
  local_csv_free(&csv);
  return rc;
}

/* ---------------------------------------------------------------- schema */

int local_schema(int argc, char **argv) {
  local_csv csv = {0};
  local_schema_opts so = {0};
  const char *in;
  int rc = CLI_OK;
  cohort_table *tab = NULL;
  cohort_schema *schema = NULL;
  const cli_opt opts[] = {LOCAL_SCHEMA_OPTS(&so), LOCAL_CSV_OPTS(&csv), CLI_OPTS_END};
  const cli_pos pos[] = {{&in, "missing the DATA.csv argument"}, {NULL, NULL}};
  const cli_cmd cmd = {
      "local schema",
      "DATA.csv [options]",
      "Shows the schema inferred from a CSV table, with the overrides applied (a dry run of\n"
      "'cohort local train'). --json prints the engine's schema description.",
      NULL,
      opts,
      pos,
      NULL};

  if (!cli_parse(&cmd, argc, argv, &rc))
    goto out;
  if ((rc = local_read(&csv, in, &tab)) != CLI_OK)
    goto out;
  if ((rc = local_infer_schema(tab, in, &so, &schema)) != CLI_OK)
    goto out;
  if (cli_g.json) {
    json_t *j = local_schema_json(schema);
    rc = j ? cli_json_print(j) : CLI_ERR;
  } else {
    printf("%s: %zu rows, %zu columns\n", in, cohort_table_rows(tab), cohort_table_cols(tab));
    local_schema_print(schema, tab, NULL);
  }
out:
  cohort_schema_free(schema);
  cohort_table_free(tab);
  local_schema_opts_free(&so);
  local_csv_free(&csv);
  return rc;
}

/* ---------------------------------------------------------------- analyze */

int local_analyze(int argc, char **argv) {
  local_analyze_opts ao;
  const char *in, *out = NULL;
  int rc = CLI_OK;
  cohort_trainee *tr = NULL;
  local_analyze_init(&ao);
  const cli_opt opts[] = {
      CLI_OPT("output", 'o', "FILE", "save the analyzed trainee here (default: in place)", CLI_STR, &out),
      CLI_OPT("target", 0, "NAME", "tune for predicting NAME (repeatable; default: targetless)", CLI_LIST,
              &ao.targets),
      LOCAL_ANALYZE_OPTS(&ao), CLI_OPTS_END};
  const cli_pos pos[] = {{&in, "missing the T.cohort argument"}, {NULL, NULL}};
  const cli_cmd cmd = {
      "local analyze",
      "T.cohort [options]",
      "Tunes the trainee: picks k and p on a grid by leave-one-out on a sample, and learns per-feature\n"
      "deviations and weights. Targetless by default (every feature predicted from the others).\n"
      "Saves the trainee back in place, or to -o.",
      "Example:\n  cohort local analyze penguins.cohort --target species --k 3,5,8 --p 1,2",
      opts,
      pos,
      NULL};

  if (!cli_parse(&cmd, argc, argv, &rc))
    goto out;
  if (!out)
    out = in;
  if ((rc = local_load(in, &tr)) != CLI_OK || (rc = local_run_analyze(tr, &ao)) != CLI_OK ||
      (rc = local_save(tr, out)) != CLI_OK)
    goto out;
  if (cli_g.json) {
    json_t *j = json_object();
    json_object_set_new(j, "trainee", json_string(in));
    json_object_set_new(j, "output", json_string(out));
    json_object_set_new(j, "cases", json_integer((json_int_t)cohort_trainee_cases(tr)));
    add_params(j, tr, &ao.targets);
    rc = cli_json_print(j);
  } else if (!cli_g.quiet) {
    local_params_print(tr, &ao.targets);
    printf("saved %s\n", out);
  }
out:
  cohort_trainee_free(tr);
  local_analyze_free(&ao);
  return rc;
}

/* ---------------------------------------------------------------- train-more */

int local_train_more(int argc, char **argv) {
  local_csv csv = {0};
  const char *in, *more, *out = NULL, *wcol = NULL;
  int rc = CLI_OK;
  cohort_trainee *tr = NULL;
  cohort_table *tab = NULL;
  double *weights = NULL;
  cohort_status st;
  const cli_opt opts[] = {
      CLI_OPT("output", 'o', "FILE", "save the trainee here (default: in place)", CLI_STR, &out),
      CLI_OPT("weights-column", 0, "NAME", "use this numeric column as case weights", CLI_STR, &wcol),
      LOCAL_CSV_OPTS(&csv), CLI_OPTS_END};
  const cli_pos pos[] = {
      {&in, "missing the T.cohort argument"}, {&more, "missing the MORE.csv argument"}, {NULL, NULL}};
  const cli_cmd cmd = {
      "local train-more",
      "T.cohort MORE.csv [options]",
      "Adds the rows of MORE.csv as new cases (columns matched by name; absent columns are missing\n"
      "values, new categories extend the schema). Learned parameters are kept: run 'cohort local\n"
      "analyze' again after large additions.",
      NULL,
      opts,
      pos,
      NULL};

  if (!cli_parse(&cmd, argc, argv, &rc))
    goto out;
  if (!out)
    out = in;
  if ((rc = local_load(in, &tr)) != CLI_OK || (rc = local_read(&csv, more, &tab)) != CLI_OK)
    goto out;
  if (wcol && (rc = read_weights(tab, wcol, more, &weights)) != CLI_OK)
    goto out;
  const cohort_schema *s = cohort_trainee_schema(tr);
  size_t matched = 0;
  for (size_t c = 0; c < cohort_table_cols(tab); c++) {
    long f = cohort_schema_find(s, cohort_table_colname(tab, c));
    matched += f >= 0 && !cohort_schema_is_ignored(s, (size_t)f);
  }
  if (matched == 0) {
    rc = cli_error("train-more: no column of %s is a feature of %s", more, in);
    goto out;
  }
  size_t before = cohort_trainee_cases(tr);
  if ((st = cohort_trainee_train(tr, tab, weights)) != COHORT_OK) {
    rc = cli_fail(st, "train on %s", more);
    goto out;
  }
  if ((rc = local_save(tr, out)) != CLI_OK)
    goto out;
  size_t after = cohort_trainee_cases(tr);
  if (cli_g.json) {
    rc = cli_json_print(json_pack("{s:s, s:s, s:s, s:I, s:I}", "trainee", in, "input", more, "output", out,
                                  "added", (json_int_t)(after - before), "cases", (json_int_t)after));
  } else if (!cli_g.quiet) {
    printf("added %zu cases from %s: %zu -> %zu\nsaved %s\n", after - before, more, before, after, out);
  }
out:
  free(weights);
  cohort_table_free(tab);
  cohort_trainee_free(tr);
  local_csv_free(&csv);
  return rc;
}

/* ---------------------------------------------------------------- remove */

static int cmp_size(const void *x, const void *y) {
  size_t a = *(const size_t *)x, b = *(const size_t *)y;
  return a < b ? -1 : a > b;
}

int local_remove(int argc, char **argv) {
  const char *in, *out = NULL;
  int rc = CLI_OK;
  cli_sizes cases = {0};
  cohort_trainee *tr = NULL;
  cohort_status st;
  const cli_opt opts[] = {
      CLI_OPT("cases", 0, "LIST", "case numbers to remove, e.g. 1,5,9 or 10-20 (0-based, repeatable)",
              CLI_RANGES, &cases),
      CLI_OPT("output", 'o', "FILE", "save the trainee here (default: in place)", CLI_STR, &out),
      CLI_OPTS_END};
  const cli_pos pos[] = {{&in, "missing the T.cohort argument"}, {NULL, NULL}};
  const cli_cmd cmd = {
      "local remove",
      "T.cohort --cases LIST [options]",
      "Removes cases from a trainee. Case numbers are 0-based, as printed by 'anomalies' and by\n"
      "'predict --details cases'; the remaining cases are renumbered in order.",
      NULL,
      opts,
      pos,
      NULL};

  if (!cli_parse(&cmd, argc, argv, &rc))
    goto out;
  if (!cases.n) {
    rc = cli_usage(&cmd, "missing --cases LIST");
    goto out;
  }
  if (!out)
    out = in;
  if ((rc = local_load(in, &tr)) != CLI_OK)
    goto out;
  size_t *c = cases.v, n = 0;
  qsort(c, cases.n, sizeof *c, cmp_size);
  for (size_t i = 0; i < cases.n; i++)
    if (i == 0 || c[i] != c[n - 1])
      c[n++] = c[i];
  size_t before = cohort_trainee_cases(tr);
  if (c[n - 1] >= before) {
    rc = cli_error("remove: case %zu does not exist (%s has cases 0..%zu)", c[n - 1], in,
                   before ? before - 1 : 0);
    goto out;
  }
  if ((st = cohort_trainee_remove_cases(tr, c, n)) != COHORT_OK) {
    rc = cli_fail(st, "remove cases");
    goto out;
  }
  if ((rc = local_save(tr, out)) != CLI_OK)
    goto out;
  if (cli_g.json)
    rc = cli_json_print(json_pack("{s:s, s:s, s:I, s:I}", "trainee", in, "output", out, "removed",
                                  (json_int_t)n, "cases", (json_int_t)cohort_trainee_cases(tr)));
  else if (!cli_g.quiet)
    printf("removed %zu cases: %zu -> %zu\nsaved %s\n", n, before, cohort_trainee_cases(tr), out);
out:
  cli_sizes_free(&cases);
  cohort_trainee_free(tr);
  return rc;
}

/* ---------------------------------------------------------------- edit */

int local_edit(int argc, char **argv) {
  const char *in, *out = NULL;
  int rc = CLI_OK, have_case = 0, have_weight = 0;
  size_t cas = 0, nf = 0;
  double weight = 1;
  cli_list sets = {0}, unsets = {0};
  cohort_trainee *tr = NULL;
  char **before = NULL, *name = NULL;
  const char **cells = NULL;
  cohort_status st;
  const cli_opt opts[] = {
      CLI_OPT("case", 0, "N", "the case to edit (0-based)", CLI_SIZE, &cas, .seen = &have_case),
      CLI_OPT("set", 0, "NAME=VALUE", "set a feature of the case (repeatable)", CLI_CALL, &sets,
              .fn = local_take_assign),
      CLI_OPT("unset", 0, "NAME", "make a feature of the case missing (repeatable)", CLI_LIST, &unsets),
      CLI_OPT("weight", 0, "W", "set the case's weight", CLI_DOUBLE, &weight, .seen = &have_weight,
              CLI_NOT_BELOW(0, "must be >= 0")),
      CLI_OPT("output", 'o', "FILE", "save the trainee here (default: in place)", CLI_STR, &out),
      CLI_OPTS_END};
  const cli_pos pos[] = {{&in, "missing the T.cohort argument"}, {NULL, NULL}};
  const cli_cmd cmd = {
      "local edit",
      "T.cohort --case N --set NAME=VALUE [options]",
      "Changes feature values (or the weight) of one case and saves the trainee.",
      "Example:\n  cohort local edit penguins.cohort --case 3 --set sex=female --unset body_mass_g",
      opts,
      pos,
      NULL};

  if (!cli_parse(&cmd, argc, argv, &rc))
    goto out;
  if (!have_case || !(sets.n || unsets.n || have_weight)) {
    rc = cli_usage(&cmd,
                   !have_case ? "missing --case N" : "nothing to change: give --set, --unset or --weight");
    goto out;
  }
  if (!out)
    out = in;
  if ((rc = local_load(in, &tr)) != CLI_OK)
    goto out;
  const cohort_schema *s = cohort_trainee_schema(tr);
  nf = cohort_schema_features(s);
  if (cas >= cohort_trainee_cases(tr)) {
    rc = cli_error("edit: case %zu does not exist (%s has %zu cases, numbered from 0)", cas, in,
                   cohort_trainee_cases(tr));
    goto out;
  }
  before = calloc(nf ? nf : 1, sizeof *before);
  cells = calloc(nf ? nf : 1, sizeof *cells);
  if (!before || !cells) {
    rc = cli_error("out of memory");
    goto out;
  }
  if ((st = cohort_trainee_case(tr, cas, cells)) != COHORT_OK) {
    rc = cli_fail(st, "read case %zu", cas);
    goto out;
  }
  for (size_t i = 0; i < nf; i++)
    before[i] = cells[i] ? strdup(cells[i]) : NULL;
  for (size_t i = 0; i < sets.n; i++) {
    const char *v;
    if ((rc = local_split_assign(s, sets.v[i], "--set", &name, &v)) != CLI_OK)
      goto out;
    if ((st = cohort_trainee_edit_case(tr, cas, name, v)) != COHORT_OK) {
      rc = cli_fail(st, "edit case %zu: --set %s", cas, sets.v[i]);
      goto out;
    }
    free(name);
    name = NULL;
  }
  for (size_t i = 0; i < unsets.n; i++) {
    if ((rc = local_need_feature(s, unsets.v[i], "--unset")) != CLI_OK)
      goto out;
    if ((st = cohort_trainee_edit_case(tr, cas, unsets.v[i], NULL)) != COHORT_OK) {
      rc = cli_fail(st, "edit case %zu: --unset %s", cas, unsets.v[i]);
      goto out;
    }
  }
  if (have_weight && (st = cohort_trainee_set_weight(tr, cas, weight)) != COHORT_OK) {
    rc = cli_fail(st, "edit case %zu: --weight", cas);
    goto out;
  }
  if ((st = cohort_trainee_case(tr, cas, cells)) != COHORT_OK) {
    rc = cli_fail(st, "read case %zu", cas);
    goto out;
  }
  /* Show the case before and after; save last so the strings are still valid. */
  json_t *j = cli_g.json ? json_object() : NULL, *changes = cli_g.json ? json_array() : NULL;
  cli_table tab;
  static const char *heads[] = {"feature", "before", "after", ""};
  cli_table_init(&tab, 4, heads);
  for (size_t i = 0; i < nf; i++) {
    int changed =
        (before[i] == NULL) != (cells[i] == NULL) || (before[i] && strcmp(before[i], cells[i]) != 0);
    if (j && changed)
      json_array_append_new(changes, json_pack("{s:s, s:o, s:o}", "feature", cohort_schema_name(s, i),
                                               "before", cli_jstr(before[i]), "after", cli_jstr(cells[i])));
    cli_table_add(&tab, cohort_schema_name(s, i));
    cli_table_add(&tab, before[i] ? before[i] : "(missing)");
    cli_table_add(&tab, cells[i] ? cells[i] : "(missing)");
    cli_table_add(&tab, changed ? "*" : "");
  }
  if ((rc = local_save(tr, out)) != CLI_OK) {
    json_decref(j);
    json_decref(changes);
    cli_table_free(&tab);
    goto out;
  }
  if (j) {
    json_object_set_new(j, "trainee", json_string(in));
    json_object_set_new(j, "output", json_string(out));
    json_object_set_new(j, "case", json_integer((json_int_t)cas));
    json_object_set_new(j, "changes", changes);
    json_object_set_new(j, "weight", have_weight ? json_real(weight) : json_null());
    rc = cli_json_print(j);
  } else if (!cli_g.quiet) {
    printf("case %zu of %s:\n", cas, in);
    cli_table_print(&tab, stdout, "  ");
    if (have_weight)
      printf("weight set to %g\n", weight);
    printf("saved %s\n", out);
  }
  cli_table_free(&tab);
out:
  if (before)
    for (size_t i = 0; i < nf; i++)
      free(before[i]);
  free(before);
  free(cells);
  free(name);
  cli_list_free(&sets);
  cli_list_free(&unsets);
  cohort_trainee_free(tr);
  return rc;
}

/* ---------------------------------------------------------------- info */

int local_info(int argc, char **argv) {
  cli_list targets = {0};
  const char *in;
  int rc = CLI_OK;
  cohort_trainee *tr = NULL;
  const cli_opt opts[] = {CLI_OPT("target", 0, "NAME",
                                  "also show k, p and feature weights used to predict NAME (repeatable)",
                                  CLI_LIST, &targets),
                          CLI_OPTS_END};
  const cli_pos pos[] = {{&in, "missing the T.cohort argument"}, {NULL, NULL}};
  const cli_cmd cmd = {"local info",
                       "T.cohort [--target NAME]",
                       "Shows a trainee: cases, features with types and ranges, and the learned parameters.",
                       NULL,
                       opts,
                       pos,
                       NULL};

  if (!cli_parse(&cmd, argc, argv, &rc))
    goto out;
  if ((rc = local_load(in, &tr)) != CLI_OK)
    goto out;
  const cohort_schema *s = cohort_trainee_schema(tr);
  for (size_t i = 0; i < targets.n; i++)
    if ((rc = local_need_feature(s, targets.v[i], "target")) != CLI_OK)
      goto out;
  struct stat sb;
  long long bytes = stat(in, &sb) == 0 ? (long long)sb.st_size : -1;
  size_t nf = cohort_schema_features(s), active = active_features(s);
  if (cli_g.json) {
    json_t *j = json_object();
    json_object_set_new(j, "trainee", json_string(in));
    json_object_set_new(j, "file_bytes", json_integer(bytes));
    json_object_set_new(j, "cases", json_integer((json_int_t)cohort_trainee_cases(tr)));
    json_object_set_new(j, "features", json_integer((json_int_t)active));
    json_object_set_new(j, "ignored", json_integer((json_int_t)(nf - active)));
    json_t *sj = local_schema_json(s);
    json_object_set_new(j, "schema", sj ? sj : json_null());
    add_params(j, tr, &targets);
    rc = cli_json_print(j);
  } else {
    printf("trainee:   %s (%lld bytes)\ncases:     %zu\nfeatures:  %zu (%zu ignored)\nanalyzed:  %s\n", in,
           bytes, cohort_trainee_cases(tr), active, nf - active,
           cohort_trainee_is_analyzed(tr) ? "yes" : "no");
    local_schema_print(s, NULL, tr);
    size_t k;
    double p;
    if (targets.n)
      local_params_print(tr, &targets);
    else if (cohort_trainee_params(tr, NULL, &k, &p) == COHORT_OK)
      printf("targetless: k=%zu p=%g (--target NAME shows the parameters used to predict NAME)\n", k, p);
  }
out:
  cli_list_free(&targets);
  cohort_trainee_free(tr);
  return rc;
}
