/* Verbs that ask a trainee about its cases: importance, anomalies, impute. */
#include "local.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- importance */

static const double *sort_key;
static int cmp_desc(const void *x, const void *y) {
  double a = sort_key[*(const size_t *)x], b = sort_key[*(const size_t *)y];
  if (isnan(a) || isnan(b))
    return isnan(a) - isnan(b);
  return a > b ? -1 : a < b;
}

int local_importance(int argc, char **argv) {
  const char *in, *target = NULL;
  size_t sample = 0, *order = NULL;
  uint64_t seed = 1;
  int rc = CLI_OK;
  cohort_trainee *tr = NULL;
  double *imp = NULL;
  cohort_status st;
  const cli_opt opts[] = {
      CLI_OPT("target", 0, "NAME", "the feature whose prediction is explained (required)", CLI_STR, &target),
      CLI_OPT("sample", 0, "N", "cases used (default: engine's choice)", CLI_SIZE, &sample),
      CLI_OPT("seed", 0, "N", "random seed (default 1)", CLI_U64, &seed), CLI_OPTS_END};
  const cli_pos pos[] = {{&in, "missing the T.cohort argument"}, {NULL, NULL}};
  const cli_cmd cmd = {
      "local importance",
      "T.cohort --target NAME [options]",
      "Feature importance for predicting a target: the mean increase in leave-one-out error when a\n"
      "feature is dropped from the context. Sorted most important first; share is of the positive total.",
      NULL,
      opts,
      pos,
      NULL};

  if (!cli_parse(&cmd, argc, argv, &rc))
    goto out;
  if (!target) {
    rc = cli_usage(&cmd, "missing --target NAME");
    goto out;
  }
  if ((rc = local_load(in, &tr)) != CLI_OK)
    goto out;
  const cohort_schema *s = cohort_trainee_schema(tr);
  if ((rc = local_need_feature(s, target, "target")) != CLI_OK)
    goto out;
  size_t nf = cohort_schema_features(s), n = 0;
  imp = calloc(nf ? nf : 1, sizeof *imp);
  order = calloc(nf ? nf : 1, sizeof *order);
  if (!imp || !order) {
    rc = cli_error("out of memory");
    goto out;
  }
  if ((st = cohort_feature_importance(tr, target, sample, seed, imp, nf)) != COHORT_OK) {
    rc = cli_fail(st, "importance for %s", target);
    goto out;
  }
  double total = 0, top = 0;
  for (size_t i = 0; i < nf; i++) {
    if (cohort_schema_is_ignored(s, i) || strcmp(cohort_schema_name(s, i), target) == 0)
      continue;
    order[n++] = i;
    if (imp[i] > 0)
      total += imp[i];
    if (imp[i] > top)
      top = imp[i];
  }
  sort_key = imp;
  qsort(order, n, sizeof *order, cmp_desc);
  if (cli_g.json) {
    json_t *arr = json_array();
    for (size_t k = 0; k < n; k++) {
      size_t i = order[k];
      json_array_append_new(arr, json_pack("{s:s, s:o, s:o}", "feature", cohort_schema_name(s, i),
                                           "importance", cli_jnum(imp[i]), "share",
                                           cli_jnum(total > 0 && imp[i] > 0 ? imp[i] / total : 0)));
    }
    rc = cli_json_print(json_pack("{s:s, s:s, s:o}", "trainee", in, "target", target, "features", arr));
  } else {
    static const char *heads[] = {"feature", ">importance", ">share", ""};
    cli_table tab;
    cli_table_init(&tab, 4, heads);
    for (size_t k = 0; k < n; k++) {
      size_t i = order[k];
      char num[32], bar[32];
      int len = top > 0 && imp[i] > 0 ? (int)(imp[i] / top * 30 + 0.5) : 0;
      memset(bar, '#', (size_t)len);
      bar[len] = '\0';
      cli_table_add(&tab, cohort_schema_name(s, i));
      cli_table_add(&tab, cli_fmt_num(num, sizeof num, imp[i], 4));
      cli_table_addf(&tab, "%.1f%%", total > 0 && imp[i] > 0 ? 100.0 * imp[i] / total : 0.0);
      cli_table_add(&tab, bar);
    }
    printf("importance of features for predicting %s:\n", target);
    cli_table_print(&tab, stdout, "  ");
    cli_table_free(&tab);
  }
out:
  free(imp);
  free(order);
  cohort_trainee_free(tr);
  return rc;
}

/* ---------------------------------------------------------------- anomalies */

static const double *anom_conv, *anom_dc;
static int cmp_anomaly(const void *x, const void *y) {
  size_t i = *(const size_t *)x, j = *(const size_t *)y;
  double a = anom_conv[i], b = anom_conv[j];
  if (isnan(a) != isnan(b))
    return isnan(a) - isnan(b);
  if (a != b && !isnan(a))
    return a < b ? -1 : 1;
  a = anom_dc[i];
  b = anom_dc[j];
  if (a != b && !isnan(a) && !isnan(b))
    return a > b ? -1 : 1;
  return i < j ? -1 : i > j;
}

int local_anomalies(int argc, char **argv) {
  local_csv csv = {0};
  const char *tfile, *rfile, *out = NULL;
  size_t top = 10, *order = NULL, nf = 0;
  int rc = CLI_OK;
  cohort_trainee *tr = NULL;
  cohort_table *rows = NULL, *result = NULL;
  double *dc = NULL, *conv = NULL;
  const char **cells = NULL, **outcells = NULL;
  char **names = NULL;
  cohort_status st;
  const cli_opt opts[] = {
      CLI_OPT("top", 0, "N", "how many to show, most anomalous first (default 10; 0 = all)", CLI_SIZE, &top),
      CLI_OPT("output", 'o', "FILE", "write them as CSV (index, conviction, distance_contribution, values)",
              CLI_STR, &out),
      LOCAL_CSV_OPTS(&csv), CLI_OPTS_END};
  const cli_pos pos[] = {{&tfile, "missing the T.cohort argument"}, {&rfile, NULL}, {NULL, NULL}};
  const cli_cmd cmd = {
      "local anomalies",
      "T.cohort [ROWS.csv] [options]",
      "Scores the rows of ROWS.csv, or the trainee's own cases when no file is given, and lists the\n"
      "most anomalous first: lowest similarity conviction (below 1 = more surprising than usual), then\n"
      "largest distance contribution (mean distance to the nearest cases). Indices are 0-based.",
      NULL,
      opts,
      pos,
      NULL};

  if (!cli_parse(&cmd, argc, argv, &rc))
    goto out;
  if ((rc = local_load(tfile, &tr)) != CLI_OK || (rfile && (rc = local_read(&csv, rfile, &rows)) != CLI_OK))
    goto out;
  const cohort_schema *s = cohort_trainee_schema(tr);
  size_t n = rows ? cohort_table_rows(rows) : cohort_trainee_cases(tr);
  nf = rows ? cohort_table_cols(rows) : cohort_schema_features(s);
  dc = calloc(n ? n : 1, sizeof *dc);
  conv = calloc(n ? n : 1, sizeof *conv);
  order = calloc(n ? n : 1, sizeof *order);
  cells = calloc(nf + 1, sizeof *cells);
  if (!dc || !conv || !order || !cells) {
    rc = cli_error("out of memory");
    goto out;
  }
  if ((st = cohort_anomalies(tr, rows, dc, conv, n)) != COHORT_OK) {
    rc = cli_fail(st, "anomalies");
    goto out;
  }
  for (size_t i = 0; i < n; i++)
    order[i] = i;
  anom_conv = conv;
  anom_dc = dc;
  qsort(order, n, sizeof *order, cmp_anomaly);
  size_t shown = top && top < n ? top : n;
  const char *src = rows ? "rows" : "cases";

  /* Column names of the values. */
  names = calloc(nf + 3, sizeof *names);
  if (!names) {
    rc = cli_error("out of memory");
    goto out;
  }
  names[0] = strdup(rows ? "row" : "case");
  names[1] = strdup("conviction");
  names[2] = strdup("distance_contribution");
  for (size_t c = 0; c < nf; c++)
    names[c + 3] = strdup(rows ? cohort_table_colname(rows, c) : cohort_schema_name(s, c));
  for (size_t c = 0; c < nf + 3; c++)
    if (!names[c]) {
      rc = cli_error("out of memory");
      goto out;
    }

  json_t *list = cli_g.json ? json_array() : NULL;
  cli_table tab;
  const char **heads = (const char **)calloc(nf + 3, sizeof *heads);
  if (!heads) {
    json_decref(list);
    rc = cli_error("out of memory");
    goto out;
  }
  heads[0] = rows ? ">row" : ">case";
  heads[1] = ">conviction";
  heads[2] = ">distance";
  for (size_t c = 0; c < nf; c++)
    heads[c + 3] = names[c + 3];
  cli_table_init(&tab, nf + 3, heads);
  tab.max_width = 16;
  if (out) {
    outcells = calloc(nf + 3, sizeof *outcells);
    if (!outcells || (st = cohort_table_create(&result, nf + 3, (const char *const *)names)) != COHORT_OK) {
      rc = outcells ? cli_fail(st, "build output table") : cli_error("out of memory");
      free(heads);
      json_decref(list);
      cli_table_free(&tab);
      goto out;
    }
  }
  for (size_t k = 0; k < shown; k++) {
    size_t i = order[k];
    char idx[32], cv[32], d[32];
    if (rows) {
      for (size_t c = 0; c < nf; c++)
        cells[c] = cohort_table_cell(rows, i, c);
    } else if ((st = cohort_trainee_case(tr, i, cells)) != COHORT_OK) {
      rc = cli_fail(st, "read case %zu", i);
      break;
    }
    snprintf(idx, sizeof idx, "%zu", i);
    cli_fmt_num(cv, sizeof cv, conv[i], 4);
    cli_fmt_num(d, sizeof d, dc[i], 4);
    if (list) {
      json_t *vals = json_object();
      for (size_t c = 0; c < nf; c++)
        json_object_set_new(vals, names[c + 3], cli_jstr(cells[c]));
      json_array_append_new(list, json_pack("{s:I, s:o, s:o, s:o}", "index", (json_int_t)i, "conviction",
                                            cli_jnum(conv[i]), "distance_contribution", cli_jnum(dc[i]),
                                            "values", vals));
    } else if (!out) {
      cli_table_add(&tab, idx);
      cli_table_add(&tab, cv);
      cli_table_add(&tab, d);
      for (size_t c = 0; c < nf; c++)
        cli_table_add(&tab, cells[c] ? cells[c] : "");
    }
    if (result) {
      snprintf(cv, sizeof cv, "%.6g", conv[i]);
      snprintf(d, sizeof d, "%.6g", dc[i]);
      outcells[0] = idx;
      outcells[1] = cv;
      outcells[2] = d;
      for (size_t c = 0; c < nf; c++)
        outcells[c + 3] = cells[c];
      if ((st = cohort_table_append(result, outcells)) != COHORT_OK) {
        rc = cli_fail(st, "build output table");
        break;
      }
    }
  }
  if (rc == CLI_OK && result)
    rc = local_write_table(result, out);
  if (rc == CLI_OK) {
    if (list) {
      rc = cli_json_print(json_pack("{s:s, s:s, s:I, s:I, s:o}", "trainee", tfile, "source", src, "count",
                                    (json_int_t)n, "shown", (json_int_t)shown, "anomalies", list));
      list = NULL;
    } else if (out) {
      cli_note("wrote the %zu most anomalous of %zu %s to %s", shown, n, src, out);
    } else {
      printf("the %zu most anomalous of %zu %s (conviction < 1: more surprising than usual):\n", shown, n,
             src);
      cli_table_print(&tab, stdout, "  ");
    }
  }
  json_decref(list);
  free(heads);
  cli_table_free(&tab);
out:
  if (names)
    for (size_t c = 0; c < nf + 3; c++)
      free(names[c]);
  free(names);
  free(outcells);
  free(cells);
  free(order);
  free(dc);
  free(conv);
  cohort_table_free(result);
  cohort_table_free(rows);
  cohort_trainee_free(tr);
  local_csv_free(&csv);
  return rc;
}

/* ---------------------------------------------------------------- impute */

int local_impute(int argc, char **argv) {
  local_csv csv = {0};
  const char *tfile, *rfile, *out = NULL;
  int rc = CLI_OK, cases = 0;
  cohort_trainee *tr = NULL;
  cohort_table *rows = NULL;
  size_t filled = 0;
  cohort_status st;
  const cli_opt opts[] = {
      CLI_OPT("output", 'o', "FILE",
              "CSV to write (default: stdout); with --cases, the trainee file (default: in place)", CLI_STR,
              &out),
      CLI_OPT("cases", 0, NULL, "impute the trainee's own missing values and save it", CLI_FLAG, &cases),
      LOCAL_CSV_OPTS(&csv), CLI_OPTS_END};
  const cli_pos pos[] = {{&tfile, "missing the T.cohort argument"}, {&rfile, NULL}, {NULL, NULL}};
  const cli_cmd cmd = {
      "local impute",
      "T.cohort ROWS.csv [-o out.csv] | T.cohort --cases [-o T2.cohort]",
      "Fills the missing cells of ROWS.csv from the other features of each row, or with --cases the\n"
      "missing values of the trainee's own cases (then saves the trainee).",
      NULL,
      opts,
      pos,
      NULL};

  if (!cli_parse(&cmd, argc, argv, &rc))
    goto out;
  if (!rfile == !cases) {
    rc = cli_usage(&cmd, cases ? "give either ROWS.csv or --cases, not both"
                               : "missing ROWS.csv (or --cases to impute the trainee's own cases)");
    goto out;
  }
  if ((rc = local_load(tfile, &tr)) != CLI_OK)
    goto out;
  if (cases) {
    if (!out)
      out = tfile;
    if ((st = cohort_trainee_impute(tr, &filled)) != COHORT_OK) {
      rc = cli_fail(st, "impute cases of %s", tfile);
      goto out;
    }
    if ((rc = local_save(tr, out)) != CLI_OK)
      goto out;
    if (cli_g.json)
      rc = cli_json_print(json_pack("{s:s, s:s, s:I, s:I}", "trainee", tfile, "output", out, "cases",
                                    (json_int_t)cohort_trainee_cases(tr), "filled", (json_int_t)filled));
    else if (!cli_g.quiet)
      printf("filled %zu missing values in the cases of %s\nsaved %s\n", filled, tfile, out);
    goto out;
  }
  if ((rc = local_read(&csv, rfile, &rows)) != CLI_OK)
    goto out;
  if ((st = cohort_impute(tr, rows, &filled)) != COHORT_OK) {
    rc = cli_fail(st, "impute %s", rfile);
    goto out;
  }
  if (cli_g.json) {
    json_t *j =
        json_pack("{s:s, s:s, s:o, s:I, s:I}", "trainee", tfile, "input", rfile, "output", cli_jstr(out),
                  "rows", (json_int_t)cohort_table_rows(rows), "filled", (json_int_t)filled);
    if (cli_is_stdout(out))
      json_object_set_new(j, "data", local_table_json(rows));
    else if ((rc = local_write_table(rows, out)) != CLI_OK) {
      json_decref(j);
      goto out;
    }
    rc = cli_json_print(j);
  } else {
    if ((rc = local_write_table(rows, out)) != CLI_OK)
      goto out;
    cli_note("filled %zu missing cells in %zu rows%s%s", filled, cohort_table_rows(rows), out ? " -> " : "",
             out ? out : "");
  }
out:
  cohort_table_free(rows);
  cohort_trainee_free(tr);
  local_csv_free(&csv);
  return rc;
}
