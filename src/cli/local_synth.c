/* Verbs about synthetic data: synthesize and evaluate. */
#include "local.h"
#include "report.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---------------------------------------------------------------- synthesize */

/* -n/--rows N: at least 1, named as it was spelled. */
static int take_rows(const cli_args *a, const char *val, void *rows) {
  if (cli_parse_size(a, val, rows) != 0)
    return -1;
  if (*(size_t *)rows == 0)
    return cli_usage(a->cmd, "%s: must be at least 1", a->opt_name), -1;
  return 0;
}

static int take_privacy(const cli_args *a, const char *val, void *privacy) {
  if (strcmp(val, "reference") == 0)
    *(cohort_privacy *)privacy = COHORT_PRIVACY_REFERENCE;
  else if (strcmp(val, "local") == 0)
    *(cohort_privacy *)privacy = COHORT_PRIVACY_LOCAL;
  else
    return cli_usage(a->cmd, "--privacy: expected 'reference' or 'local', got '%s'", val), -1;
  return 0;
}

int local_synthesize(int argc, char **argv) {
  const char *in, *out = NULL;
  size_t rows = 0, k = 0;
  uint64_t seed = 1;
  double conviction = 0;
  int rc = CLI_OK, nogate = 0, have_rows = 0;
  cohort_privacy privacy = COHORT_PRIVACY_REFERENCE;
  cli_list fixes = {0}, fnames = {0};
  const char **fvalues = NULL;
  cohort_trainee *tr = NULL;
  cohort_table *result = NULL;
  cohort_status st;
  const cli_opt opts[] = {
      CLI_OPT("rows", 'n', "N", "rows to generate (default: as many as the trainee has cases)", CLI_CALL,
              &rows, .fn = take_rows, .seen = &have_rows),
      CLI_OPT("output", 'o', "FILE", "CSV to write (default: stdout)", CLI_STR, &out),
      CLI_OPT("seed", 0, "N", "random seed (default 1; the same seed gives the same rows)", CLI_U64, &seed),
      CLI_OPT("conviction", 0, "X", "noise divisor: larger = closer to the data (default 2)", CLI_DOUBLE,
              &conviction, CLI_ABOVE(0, "must be greater than 0")),
      CLI_OPT("k", 0, "K", "neighbours mixed per feature (default: engine's choice)", CLI_SIZE, &k,
              CLI_NOT_BELOW(1, "must be at least 1")),
      CLI_OPT("fix", 0, "NAME=VALUE", "conditional generation: every row gets this value (repeatable)",
              CLI_CALL, &fixes, .fn = local_take_assign),
      CLI_OPT("privacy", 0, "MODE", "privacy gate: reference (default, strictest) or local (faster)",
              CLI_CALL, &privacy, .fn = take_privacy),
      CLI_OPT("no-privacy-gate", 0, NULL, "no gate at all: rows may copy training rows", CLI_FLAG, &nogate),
      CLI_OPTS_END};
  const cli_pos pos[] = {{&in, "missing the T.cohort argument"}, {NULL, NULL}};
  const cli_cmd cmd = {
      "local synthesize",
      "T.cohort -n N [-o synth.csv] [options]",
      "Generates synthetic rows that follow the trainee's data: features are generated one at a time\n"
      "from the neighbours of what was generated so far, matched on the features that go with the one\n"
      "being generated. A privacy gate regenerates any row that copies\n"
      "a training row, is closer to a training row than that row's own nearest neighbour is, is much\n"
      "closer to one training row than to the next ones, or (by default) is closer to the training\n"
      "rows than to rows the model drew without seeing them. A target the trainee was analyzed for\n"
      "keeps its distribution and a value plausible for the rest of its row.",
      "Example:\n  cohort local synthesize adult.cohort -n 2000 -o synth.csv --fix income='>50K'",
      opts,
      pos,
      NULL};

  if (!cli_parse(&cmd, argc, argv, &rc))
    goto out;
  if ((rc = local_load(in, &tr)) != CLI_OK)
    goto out;
  const cohort_schema *s = cohort_trainee_schema(tr);
  if (!have_rows)
    rows = cohort_trainee_cases(tr);
  fvalues = calloc(fixes.n + 1, sizeof *fvalues);
  if (!fvalues) {
    rc = cli_error("out of memory");
    goto out;
  }
  for (size_t i = 0; i < fixes.n; i++) {
    char *name;
    if ((rc = local_split_assign(s, fixes.v[i], "--fix", &name, &fvalues[i])) != CLI_OK)
      goto out;
    int r = cli_list_add(&fnames, name);
    free(name);
    if (r != 0) {
      rc = cli_error("out of memory");
      goto out;
    }
  }
  cli_progress pr;
  cli_progress_init(&pr);
  cohort_synth_options so = COHORT_SYNTH_OPTIONS_INIT;
  so.rows = rows;
  so.seed = seed;
  so.conviction = conviction;
  so.k = k;
  so.privacy = nogate ? COHORT_PRIVACY_OFF : privacy;
  so.fixed_names = (const char *const *)fnames.v;
  so.fixed_values = fvalues;
  so.n_fixed = fnames.n;
  so.threads = cli_g.threads;
  so.progress = cli_progress_cb;
  so.progress_user = &pr;
  double t0 = now_s();
  st = cohort_synthesize(tr, &so, &result);
  cli_progress_end(&pr);
  if (st != COHORT_OK) {
    rc = cli_fail(st, "synthesize");
    goto out;
  }
  double secs = now_s() - t0;
  if (cli_g.json) {
    json_t *j = json_pack("{s:s, s:o, s:I, s:I, s:b, s:f}", "trainee", in, "output", cli_jstr(out), "rows",
                          (json_int_t)cohort_table_rows(result), "seed", (json_int_t)seed, "privacy_gate",
                          !nogate, "seconds", secs);
    if (cli_is_stdout(out))
      json_object_set_new(j, "data", local_table_json(result));
    else if ((rc = local_write_table(result, out)) != CLI_OK) {
      json_decref(j);
      goto out;
    }
    rc = cli_json_print(j);
  } else {
    if ((rc = local_write_table(result, out)) != CLI_OK)
      goto out;
    cli_note("synthesized %zu rows in %.1f s%s%s", cohort_table_rows(result), secs, out ? " -> " : "",
             out ? out : "");
  }
out:
  cohort_table_free(result);
  cohort_trainee_free(tr);
  free(fvalues);
  cli_list_free(&fixes);
  cli_list_free(&fnames);
  return rc;
}

/* ---------------------------------------------------------------- evaluate */

static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

typedef struct metric {
  const char *key, *label, *note;
  double value;
} metric;

/* `--json out.json` reads as the flag --json and a stray file name: say what was meant. */
static int evaluate_extra(const cli_args *a, const char *val) {
  if (ends_with(val, ".json") && a->i >= 2 && strcmp(a->argv[a->i - 2], "--json") == 0)
    return cli_usage(
        a->cmd, "unexpected argument '%s': --json prints to stdout; write a file with --report %s", val, val);
  return cli_usage(a->cmd, "unexpected argument '%s'", val);
}

int local_evaluate(int argc, char **argv) {
  local_csv csv = {0};
  local_schema_opts so = {0};
  cli_list reports = {0};
  const char *real_f, *synth_f, *hold_f = NULL, *target = NULL;
  size_t sample = 0;
  uint64_t seed = 1;
  int rc = CLI_OK;
  cohort_table *real = NULL, *synth = NULL, *hold = NULL;
  cohort_schema *schema = NULL;
  cohort_eval *ev = NULL;
  char *doc = NULL;
  cohort_status st;
  const cli_opt opts[] = {
      CLI_OPT("holdout", 0, "TEST.csv", "real rows not used for training (DCR overfitting, TSTR, TRTR)",
              CLI_STR, &hold_f),
      CLI_OPT("target", 0, "NAME", "target for train-on-synthetic / test-on-real", CLI_STR, &target),
      CLI_OPT("report", 0, "FILE", "write the full report: .json -> JSON, otherwise HTML (repeatable)",
              CLI_EACH, &reports),
      CLI_OPT("sample", 0, "N", "rows sampled per table for distance to closest record (default: all)",
              CLI_SIZE, &sample),
      CLI_OPT("seed", 0, "N", "random seed (default 1)", CLI_U64, &seed),
      LOCAL_SCHEMA_OPTS(&so),
      LOCAL_CSV_OPTS(&csv),
      CLI_OPTS_END};
  const cli_pos pos[] = {
      {&real_f, "missing the REAL.csv argument"}, {&synth_f, "missing the SYNTH.csv argument"}, {NULL, NULL}};
  const cli_cmd cmd = {
      "local evaluate",
      "REAL.csv SYNTH.csv [--holdout TEST.csv] [--target NAME] [--report FILE] [options]",
      "Compares synthetic rows with the real rows they imitate (schema inferred from REAL.csv, with\n"
      "the overrides applied): quality (SDMetrics QualityReport: column shapes and pair trends),\n"
      "distance to closest record (privacy), identical rows, and train-on-synthetic vs train-on-real\n"
      "scores on the holdout. Prints the headline scores; --report writes the full report with plots.",
      "Example:\n  cohort local evaluate adult_train.csv synth.csv --holdout adult_test.csv --target income "
      "\\\n"
      "      --report report.html --report report.json",
      opts,
      pos,
      evaluate_extra};

  if (!cli_parse(&cmd, argc, argv, &rc))
    goto out;
  if ((rc = local_read(&csv, real_f, &real)) != CLI_OK ||
      (rc = local_read(&csv, synth_f, &synth)) != CLI_OK ||
      (hold_f && (rc = local_read(&csv, hold_f, &hold)) != CLI_OK))
    goto out;
  if ((rc = local_infer_schema(real, real_f, &so, &schema)) != CLI_OK)
    goto out;
  if (target && (rc = local_need_feature(schema, target, "target")) != CLI_OK)
    goto out;
  cli_progress pr;
  cli_progress_init(&pr);
  cohort_eval_options eo = COHORT_EVAL_OPTIONS_INIT;
  eo.target = target;
  eo.max_rows = sample;
  eo.seed = seed;
  eo.threads = cli_g.threads;
  eo.progress = cli_progress_cb;
  eo.progress_user = &pr;
  double t0 = now_s();
  st = cohort_evaluate(schema, real, synth, hold, &eo, &ev);
  cli_progress_end(&pr);
  if (st != COHORT_OK) {
    rc = cli_fail(st, "evaluate %s against %s", synth_f, real_f);
    goto out;
  }
  double secs = now_s() - t0;
  for (size_t i = 0; i < reports.n; i++) {
    const char *path = reports.v[i];
    int is_json = ends_with(path, ".json");
    st = is_json ? cohort_eval_to_json(ev, &doc) : co_report_html(ev, &doc);
    if (st != COHORT_OK) {
      rc = cli_fail(st, "build %s report", is_json ? "JSON" : "HTML");
      goto out;
    }
    if (cli_write_file(path, doc, strlen(doc)) != 0) {
      rc = cli_error("write %s: %s", path, strerror(errno));
      goto out;
    }
    cohort_free(doc);
    doc = NULL;
  }

  metric m[] = {
      {"quality", "quality (current pair rule)", "SDMetrics QualityReport score, 0..1, higher is better",
       cohort_eval_quality(ev)},
      {"quality_all_pairs", "quality (all pairs)", "same, every column pair counted",
       cohort_eval_quality_all_pairs(ev)},
      {"column_shapes", "column shapes", "per-column distributions alike, 0..1",
       cohort_eval_column_shapes(ev)},
      {"pair_trends", "pair trends", "correlations between columns alike, 0..1", cohort_eval_pair_trends(ev)},
      {"dcr_baseline", "DCR baseline protection", "privacy vs random data, 0..1, higher is safer",
       cohort_eval_dcr_baseline(ev)},
      {"dcr_overfitting", "DCR overfitting protection", "not closer to training than to holdout, 0..1",
       cohort_eval_dcr_overfitting(ev)},
      {"tstr", "TSTR", "train on synthetic, test on holdout", cohort_eval_tstr(ev)},
      {"trtr", "TRTR", "train on real, test on holdout (reference)", cohort_eval_trtr(ev)},
      {"tstr_gbm", "TSTR (gradient boosting)", "the same with a strong learner, which fine structure helps",
       cohort_eval_tstr_gbm(ev)},
      {"trtr_gbm", "TRTR (gradient boosting)", "its reference: trained on the real rows",
       cohort_eval_trtr_gbm(ev)},
  };
  size_t nm = sizeof m / sizeof m[0], identical = cohort_eval_identical(ev);
  if (cli_g.json) {
    json_t *scores = json_object(), *reps = json_array();
    for (size_t i = 0; i < nm; i++)
      json_object_set_new(scores, m[i].key, cli_jnum(m[i].value));
    json_object_set_new(scores, "identical_rows", json_integer((json_int_t)identical));
    for (size_t i = 0; i < reports.n; i++)
      json_array_append_new(reps, json_string(reports.v[i]));
    json_t *j = json_pack(
        "{s:s, s:s, s:o, s:o, s:{s:I, s:I, s:I}, s:o, s:o, s:f}", "real", real_f, "synthetic", synth_f,
        "holdout", cli_jstr(hold_f), "target", cli_jstr(target), "rows", "real",
        (json_int_t)cohort_table_rows(real), "synthetic", (json_int_t)cohort_table_rows(synth), "holdout",
        (json_int_t)(hold ? cohort_table_rows(hold) : 0), "scores", scores, "reports", reps, "seconds", secs);
    rc = cli_json_print(j);
  } else {
    printf("real:       %s (%zu rows)\nsynthetic:  %s (%zu rows)\n", real_f, cohort_table_rows(real), synth_f,
           cohort_table_rows(synth));
    if (hold)
      printf("holdout:    %s (%zu rows)\n", hold_f, cohort_table_rows(hold));
    if (target)
      printf("target:     %s\n", target);
    printf("evaluated in %.1f s\n\n", secs);
    static const char *heads[] = {"score", ">value", "meaning"};
    cli_table tab;
    cli_table_init(&tab, 3, heads);
    tab.max_width = 60;
    for (size_t i = 0; i < nm; i++) {
      char num[32];
      cli_table_add(&tab, m[i].label);
      cli_table_add(&tab,
                    isfinite(m[i].value) ? (snprintf(num, sizeof num, "%.4f", m[i].value), num) : "n/a");
      cli_table_add(&tab, m[i].note);
      if (i == 5) {
        cli_table_add(&tab, "identical rows");
        cli_table_addf(&tab, "%zu", identical);
        cli_table_add(&tab, "synthetic rows equal to a real row");
      }
    }
    cli_table_print(&tab, stdout, "  ");
    cli_table_free(&tab);
    if (!target)
      printf("(TSTR/TRTR need --target NAME and --holdout TEST.csv)\n");
    else if (!hold)
      printf("(TSTR/TRTR are computed on --holdout TEST.csv when given)\n");
    for (size_t i = 0; i < reports.n; i++)
      printf("report: %s\n", reports.v[i]);
  }
out:
  cohort_free(doc);
  cohort_eval_free(ev);
  cohort_schema_free(schema);
  cohort_table_free(real);
  cohort_table_free(synth);
  cohort_table_free(hold);
  cli_list_free(&reports);
  local_schema_opts_free(&so);
  local_csv_free(&csv);
  return rc;
}
