/* The predict verb: reactions of a trainee to the rows of a CSV, as CSV or JSON. */
#include "local.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- predict */

enum { DET_CASES = COHORT_DETAIL_CASES, DET_CONTRIB = COHORT_DETAIL_CONTRIBUTIONS };

static int take_details(const cli_args *a, const char *val, void *dst) {
  unsigned *out = dst;
  cli_list l = {0};
  int rc = 0;
  cli_list_add_split(&l, val);
  for (size_t i = 0; i < l.n && rc == 0; i++) {
    if (strcmp(l.v[i], "cases") == 0)
      *out |= DET_CASES;
    else if (strcmp(l.v[i], "contributions") == 0)
      *out |= DET_CONTRIB;
    else if (strcmp(l.v[i], "all") == 0)
      *out |= DET_CASES | DET_CONTRIB;
    else
      rc = (cli_usage(a->cmd, "--details: unknown detail '%s' (cases, contributions, all)", l.v[i]), -1);
  }
  cli_list_free(&l);
  return rc;
}

/* Index of the predicted class among the target's classes, or -1. */
static long predicted_class(const cohort_reaction *r, size_t row, size_t t) {
  const char *v = cohort_reaction_value(r, row, t);
  size_t nc = cohort_reaction_classes(r, t);
  for (size_t c = 0; v && c < nc; c++)
    if (strcmp(cohort_reaction_class(r, t, c), v) == 0)
      return (long)c;
  return -1;
}

static double predicted_probability(const cohort_reaction *r, size_t row, size_t t) {
  long c = predicted_class(r, row, t);
  return c >= 0 ? cohort_reaction_probability(r, row, t, (size_t)c)
                : 1.0 - cohort_reaction_uncertainty(r, row, t);
}

/* Compares predictions with the actual values when the input holds the target column: accuracy
 * for categorical targets, mean absolute error otherwise. */
typedef struct score {
  const char *metric;
  double value;
  size_t n;
} score;

static score score_target(const cohort_reaction *r, size_t t, const cohort_table *rows) {
  score sc = {NULL, NAN, 0};
  long col = cohort_table_find(rows, cohort_reaction_target(r, t));
  if (col < 0)
    return sc;
  int cat = cohort_reaction_classes(r, t) > 0;
  double sum = 0;
  for (size_t i = 0; i < cohort_reaction_rows(r); i++) {
    const char *actual = cohort_table_cell(rows, i, (size_t)col), *pred = cohort_reaction_value(r, i, t);
    if (!actual || !pred)
      continue;
    if (cat) {
      sum += strcmp(actual, pred) == 0;
    } else {
      char *end;
      errno = 0;
      double x = strtod(actual, &end);
      if (errno || *end || !isfinite(x))
        continue;
      sum += fabs(x - cohort_reaction_number(r, i, t));
    }
    sc.n++;
  }
  if (sc.n) {
    sc.metric = cat ? "accuracy" : "mean_absolute_error";
    sc.value = sum / (double)sc.n;
  }
  return sc;
}

static json_t *reaction_json(const cohort_reaction *r, unsigned details) {
  json_t *arr = json_array();
  size_t nt = cohort_reaction_targets(r), nctx = cohort_reaction_contexts(r);
  for (size_t i = 0; i < cohort_reaction_rows(r); i++) {
    json_t *row = json_object(), *preds = json_object();
    json_object_set_new(row, "row", json_integer((json_int_t)i));
    for (size_t t = 0; t < nt; t++) {
      json_t *p = json_object();
      size_t nc = cohort_reaction_classes(r, t);
      json_object_set_new(p, "value", cli_jstr(cohort_reaction_value(r, i, t)));
      if (!nc)
        json_object_set_new(p, "number", cli_jnum(cohort_reaction_number(r, i, t)));
      json_object_set_new(p, "uncertainty", cli_jnum(cohort_reaction_uncertainty(r, i, t)));
      if (nc) {
        json_t *probs = json_object();
        json_object_set_new(p, "probability", cli_jnum(predicted_probability(r, i, t)));
        for (size_t c = 0; c < nc; c++)
          json_object_set_new(probs, cohort_reaction_class(r, t, c),
                              cli_jnum(cohort_reaction_probability(r, i, t, c)));
        json_object_set_new(p, "probabilities", probs);
      }
      if (details & DET_CONTRIB) {
        json_t *co = json_object();
        for (size_t c = 0; c < nctx; c++)
          json_object_set_new(co, cohort_reaction_context(r, c),
                              cli_jnum(cohort_reaction_contribution(r, i, t, c)));
        json_object_set_new(p, "contributions", co);
      }
      json_object_set_new(preds, cohort_reaction_target(r, t), p);
    }
    json_object_set_new(row, "predictions", preds);
    if (cohort_reaction_unknowns(r, i)) { /* as the server's reply has it */
      json_t *unk = json_array();
      for (size_t k = 0; k < cohort_reaction_unknowns(r, i); k++) {
        const char *col, *val;
        cohort_reaction_unknown(r, i, k, &col, &val);
        json_array_append_new(unk, json_pack("{s:s, s:s}", "column", col, "value", val));
      }
      json_object_set_new(row, "unknown", unk);
    }
    if (details & DET_CASES) {
      json_t *cases = json_array();
      for (size_t k = 0; k < cohort_reaction_cases(r, i); k++) {
        size_t ci;
        double w;
        cohort_reaction_case(r, i, k, &ci, &w);
        json_array_append_new(cases, json_pack("{s:I, s:o}", "case", (json_int_t)ci, "weight", cli_jnum(w)));
      }
      json_object_set_new(row, "influential_cases", cases);
    }
    json_array_append_new(arr, row);
  }
  return arr;
}

/* Input columns followed by, per target, <t>_predicted, <t>_uncertainty, <t>_probability
 * (categorical), <t>_contribution_<ctx> (details), and influential_cases (details). */
static int reaction_table(const cohort_reaction *r, const cohort_table *in, unsigned details,
                          cohort_table **out) {
  size_t nin = cohort_table_cols(in), nt = cohort_reaction_targets(r), nctx = cohort_reaction_contexts(r);
  size_t ncols = nin + (details & DET_CASES ? 1 : 0);
  for (size_t t = 0; t < nt; t++)
    ncols += 2 + (cohort_reaction_classes(r, t) > 0) + (details & DET_CONTRIB ? nctx : 0);
  char **names = calloc(ncols, sizeof *names);
  const char **cells = calloc(ncols, sizeof *cells);
  char *buf = NULL, *cases = NULL;
  size_t bufcap = 0;
  int rc = CLI_ERR;
  cohort_status st;
  if (!names || !cells)
    goto oom;
  size_t c = 0;
  for (; c < nin; c++)
    if (!(names[c] = strdup(cohort_table_colname(in, c))))
      goto oom;
  for (size_t t = 0; t < nt; t++) {
    const char *tn = cohort_reaction_target(r, t);
    if (!(names[c++] = cli_join(tn, "_predicted")) || !(names[c++] = cli_join(tn, "_uncertainty")))
      goto oom;
    if (cohort_reaction_classes(r, t) > 0 && !(names[c++] = cli_join(tn, "_probability")))
      goto oom;
    if (details & DET_CONTRIB) {
      char *prefix = cli_join(tn, "_contribution_");
      if (!prefix)
        goto oom;
      for (size_t x = 0; x < nctx; x++)
        if (!(names[c++] = cli_join(prefix, cohort_reaction_context(r, x)))) {
          free(prefix);
          goto oom;
        }
      free(prefix);
    }
  }
  if (details & DET_CASES && !(names[c++] = strdup("influential_cases")))
    goto oom;
  if ((st = cohort_table_create(out, ncols, (const char *const *)names)) != COHORT_OK) {
    rc = cli_fail(st, "build output table");
    goto done;
  }
  /* Numbers are formatted into one buffer of fixed slots (32 bytes each). */
  bufcap = ncols * 32;
  if (!(buf = malloc(bufcap)))
    goto oom;
  for (size_t i = 0; i < cohort_reaction_rows(r); i++) {
    size_t slot = 0;
    c = 0;
    for (; c < nin; c++)
      cells[c] = cohort_table_cell(in, i, c);
    for (size_t t = 0; t < nt; t++) {
      cells[c++] = cohort_reaction_value(r, i, t);
      snprintf(buf + 32 * slot, 32, "%.6g", cohort_reaction_uncertainty(r, i, t));
      cells[c++] = buf + 32 * slot++;
      if (cohort_reaction_classes(r, t) > 0) {
        snprintf(buf + 32 * slot, 32, "%.6g", predicted_probability(r, i, t));
        cells[c++] = buf + 32 * slot++;
      }
      if (details & DET_CONTRIB)
        for (size_t x = 0; x < nctx; x++) {
          snprintf(buf + 32 * slot, 32, "%.6g", cohort_reaction_contribution(r, i, t, x));
          cells[c++] = buf + 32 * slot++;
        }
    }
    if (details & DET_CASES) {
      size_t n = cohort_reaction_cases(r, i), len = 0;
      free(cases);
      if (!(cases = malloc(n * 40 + 1)))
        goto oom;
      cases[0] = '\0';
      for (size_t k = 0; k < n; k++) {
        size_t ci;
        double w;
        cohort_reaction_case(r, i, k, &ci, &w);
        len += (size_t)snprintf(cases + len, 40, "%s%zu:%.4g", k ? ";" : "", ci, w);
      }
      cells[c++] = cases;
    }
    if ((st = cohort_table_append(*out, cells)) != COHORT_OK) {
      rc = cli_fail(st, "build output table");
      goto done;
    }
  }
  rc = CLI_OK;
  goto done;
oom:
  rc = cli_error("out of memory");
done:
  if (rc != CLI_OK && *out) {
    cohort_table_free(*out);
    *out = NULL;
  }
  if (names)
    for (size_t i = 0; i < ncols; i++)
      free(names[i]);
  free(names);
  free(cells);
  free(buf);
  free(cases);
  return rc;
}

int local_predict(int argc, char **argv) {
  local_csv csv = {0};
  cli_list targets = {0}, contexts = {0};
  const char *tfile, *rfile, *out = NULL;
  unsigned details = 0;
  int rc = CLI_OK;
  cohort_trainee *tr = NULL;
  cohort_table *rows = NULL, *result = NULL;
  cohort_reaction *re = NULL;
  cohort_status st;
  const cli_opt opts[] = {
      CLI_OPT("target", 0, "NAME", "feature to predict (repeatable, required)", CLI_LIST, &targets),
      CLI_OPT("context", 0, "A,B,..", "features to predict from (default: every trainee feature in ROWS.csv)",
              CLI_LIST, &contexts),
      CLI_OPT("details", 0, "LIST", "add explanations: cases, contributions (or all)", CLI_CALL, &details,
              .fn = take_details),
      CLI_OPT("output", 'o', "FILE", "write the result here (default: stdout)", CLI_STR, &out),
      LOCAL_CSV_OPTS(&csv),
      CLI_OPTS_END};
  const cli_pos pos[] = {
      {&tfile, "missing the T.cohort argument"}, {&rfile, "missing the ROWS.csv argument"}, {NULL, NULL}};
  const cli_cmd cmd = {
      "local predict",
      "T.cohort ROWS.csv --target NAME [options]",
      "Predicts target features for every row of ROWS.csv. The output is the input columns plus, per\n"
      "target: <target>_predicted, <target>_uncertainty (expected absolute error, or 1 - probability)\n"
      "and for categorical targets <target>_probability. --details adds <target>_contribution_<feature>\n"
      "columns and influential_cases (\"case:weight;...\"). With --json the result is a JSON array of\n"
      "per-row objects with class probabilities and details. When ROWS.csv holds the target column,\n"
      "accuracy (or mean absolute error) is reported on stderr.",
      "Example:\n  cohort local predict penguins.cohort penguins.csv --target species --details cases -o "
      "out.csv",
      opts,
      pos,
      NULL};

  if (!cli_parse(&cmd, argc, argv, &rc))
    goto out;
  if (!targets.n) {
    rc = cli_usage(&cmd, "missing --target NAME (the feature to predict)");
    goto out;
  }
  if ((rc = local_load(tfile, &tr)) != CLI_OK)
    goto out;
  const cohort_schema *s = cohort_trainee_schema(tr);
  for (size_t i = 0; i < targets.n; i++)
    if ((rc = local_need_feature(s, targets.v[i], "target")) != CLI_OK)
      goto out;
  for (size_t i = 0; i < contexts.n; i++)
    if ((rc = local_need_feature(s, contexts.v[i], "context")) != CLI_OK)
      goto out;
  if ((rc = local_read(&csv, rfile, &rows)) != CLI_OK)
    goto out;
  cohort_react_options ro = COHORT_REACT_OPTIONS_INIT;
  ro.targets = (const char *const *)targets.v;
  ro.n_targets = targets.n;
  ro.contexts = contexts.n ? (const char *const *)contexts.v : NULL;
  ro.n_contexts = contexts.n;
  ro.details = details;
  ro.threads = cli_g.threads;
  ro.reject_unknown_columns = 1; /* a misspelt column would silently be no context */
  if ((st = cohort_react(tr, rows, &ro, &re)) != COHORT_OK) {
    rc = cli_fail(st, "predict %s", targets.v[0]);
    goto out;
  }
  size_t n = cohort_reaction_rows(re), unseen = 0;
  for (size_t i = 0; i < n; i++)
    for (size_t k = 0; k < cohort_reaction_unknowns(re, i); k++) {
      const char *col, *val;
      cohort_reaction_unknown(re, i, k, &col, &val);
      if (unseen++ < 10)
        cli_note("row %zu: %s '%s' was never seen in training, so it did not inform the prediction", i, col,
                 val);
    }
  if (unseen > 10)
    cli_note("%zu unseen values in all", unseen);
  if (cli_g.json) {
    json_t *arr = reaction_json(re, details);
    if (cli_is_stdout(out)) {
      rc = cli_json_print(arr);
      goto out;
    }
    if (cli_json_write(arr, out) != 0) {
      json_decref(arr);
      rc = cli_error("write %s: %s", out, strerror(errno));
      goto out;
    }
    json_decref(arr);
  } else {
    if ((rc = reaction_table(re, rows, details, &result)) != CLI_OK ||
        (rc = local_write_table(result, out)) != CLI_OK)
      goto out;
  }
  /* Summary: stdout when the data went to a file, stderr otherwise. */
  json_t *sum = cli_g.json ? json_pack("{s:s, s:s, s:s, s:I}", "trainee", tfile, "input", rfile, "output",
                                       out ? out : "-", "rows", (json_int_t)n)
                           : NULL;
  json_t *scores = sum ? json_object() : NULL;
  for (size_t t = 0; t < cohort_reaction_targets(re); t++) {
    score sc = score_target(re, t, rows);
    if (scores)
      json_object_set_new(scores, cohort_reaction_target(re, t),
                          sc.metric ? json_pack("{s:s, s:o, s:I}", "metric", sc.metric, "value",
                                                cli_jnum(sc.value), "rows", (json_int_t)sc.n)
                                    : json_null());
    else if (sc.metric)
      cli_note("%s: %s %.4g over %zu rows with a known value", cohort_reaction_target(re, t),
               strcmp(sc.metric, "accuracy") == 0 ? "accuracy" : "mean absolute error", sc.value, sc.n);
  }
  if (sum) {
    json_object_set_new(sum, "scores", scores);
    rc = cli_json_print(sum);
  } else {
    cli_note("predicted %zu rows%s%s", n, out ? " -> " : "", out ? out : "");
  }
out:
  cohort_table_free(result);
  cohort_reaction_free(re);
  cohort_table_free(rows);
  cohort_trainee_free(tr);
  cli_list_free(&targets);
  cli_list_free(&contexts);
  local_csv_free(&csv);
  return rc;
}
