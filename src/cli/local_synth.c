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

int local_synthesize(int argc, char **argv) {
  enum { O_OUT = 1, O_ROWS, O_CONV, O_K, O_FIX, O_PRIVACY, O_NOGATE };
  static const cli_opt opts[] = {
      {O_ROWS, "rows", 'n', "N", "rows to generate (default: as many as the trainee has cases)"},
      {O_OUT, "output", 'o', "FILE", "CSV to write (default: stdout)"},
      {LO_SEED, "seed", 0, "N", "random seed (default 1; the same seed gives the same rows)"},
      {O_CONV, "conviction", 0, "X", "noise divisor: larger = closer to the data (default 2)"},
      {O_K, "k", 0, "K", "neighbours mixed per feature (default: engine's choice)"},
      {O_FIX, "fix", 0, "NAME=VALUE", "conditional generation: every row gets this value (repeatable)"},
      {O_PRIVACY, "privacy", 0, "MODE", "privacy gate: reference (default, strictest) or local (faster)"},
      {O_NOGATE, "no-privacy-gate", 0, NULL, "no gate at all: rows may copy training rows"},
      {0, NULL, 0, NULL, NULL}};
  static const cli_cmd cmd = {
      "local synthesize", "T.cohort -n N [-o synth.csv] [options]",
      "Generates synthetic rows that follow the trainee's data: features are generated one at a time\n"
      "from the neighbours of what was generated so far, matched on the features that go with the one\n"
      "being generated. A privacy gate regenerates any row that copies\n"
      "a training row, is closer to a training row than that row's own nearest neighbour is, is much\n"
      "closer to one training row than to the next ones, or (by default) is closer to the training\n"
      "rows than to rows the model drew without seeing them. A target the trainee was analyzed for\n"
      "keeps its distribution and a value plausible for the rest of its row.",
      "Example:\n  cohort local synthesize adult.cohort -n 2000 -o synth.csv --fix income='>50K'", opts};
  cli_args a;
  const char *in = NULL, *out = NULL, *val;
  size_t rows = 0, k = 0;
  uint64_t seed = 1;
  double conviction = 0;
  int rc = CLI_OK, id, nogate = 0, have_rows = 0;
  cohort_privacy privacy = COHORT_PRIVACY_REFERENCE;
  cli_list fixes = {0}, fnames = {0};
  const char **fvalues = NULL;
  cohort_trainee *tr = NULL;
  cohort_table *result = NULL;
  cohort_status st;

  cli_args_init(&a, &cmd, argc, argv);
  while ((id = cli_next(&a, &val)) != CLI_END) {
    if (id == CLI_STOP) {
      rc = a.rc;
      goto out;
    }
    switch (id) {
    case O_ROWS:
      if (cli_parse_size(&a, val, &rows) != 0) {
        rc = CLI_USAGE;
        goto out;
      }
      if (rows == 0) {
        rc = cli_usage(&cmd, "%s: must be at least 1", a.opt_name);
        goto out;
      }
      have_rows = 1;
      break;
    case O_OUT:
      out = val;
      break;
    case LO_SEED:
      if (cli_parse_u64(&a, val, &seed) != 0) {
        rc = CLI_USAGE;
        goto out;
      }
      break;
    case O_CONV:
      if (cli_parse_double(&a, val, &conviction) != 0) {
        rc = CLI_USAGE;
        goto out;
      }
      if (!(conviction > 0)) {
        rc = cli_usage(&cmd, "--conviction: must be greater than 0");
        goto out;
      }
      break;
    case O_K:
      if (cli_parse_size(&a, val, &k) != 0) {
        rc = CLI_USAGE;
        goto out;
      }
      if (k == 0) {
        rc = cli_usage(&cmd, "--k: must be at least 1");
        goto out;
      }
      break;
    case O_FIX:
      if (!strchr(val, '=')) {
        rc = cli_usage(&cmd, "--fix: expected NAME=VALUE, got '%s'", val);
        goto out;
      }
      cli_list_add(&fixes, val);
      break;
    case O_PRIVACY:
      if (strcmp(val, "reference") == 0) {
        privacy = COHORT_PRIVACY_REFERENCE;
      } else if (strcmp(val, "local") == 0) {
        privacy = COHORT_PRIVACY_LOCAL;
      } else {
        rc = cli_usage(&cmd, "--privacy: expected 'reference' or 'local', got '%s'", val);
        goto out;
      }
      break;
    case O_NOGATE:
      nogate = 1;
      break;
    case CLI_POS:
      if (in) {
        rc = cli_usage(&cmd, "unexpected argument '%s'", val);
        goto out;
      }
      in = val;
      break;
    }
  }
  if (!in) {
    rc = cli_usage(&cmd, "missing the T.cohort argument");
    goto out;
  }
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

int local_evaluate(int argc, char **argv) {
  enum { O_HOLDOUT = 1, O_REPORT, O_TARGET };
  static const cli_opt opts[] = {
      {O_HOLDOUT, "holdout", 0, "TEST.csv", "real rows not used for training (DCR overfitting, TSTR, TRTR)"},
      {O_TARGET, "target", 0, "NAME", "target for train-on-synthetic / test-on-real"},
      {O_REPORT, "report", 0, "FILE", "write the full report: .json -> JSON, otherwise HTML (repeatable)"},
      {LO_SAMPLE, "sample", 0, "N", "rows sampled per table for distance to closest record (default: all)"},
      {LO_SEED, "seed", 0, "N", "random seed (default 1)"},
      LOCAL_SCHEMA_OPTS,
      LOCAL_CSV_OPTS,
      {0, NULL, 0, NULL, NULL}};
  static const cli_cmd cmd = {
      "local evaluate", "REAL.csv SYNTH.csv [--holdout TEST.csv] [--target NAME] [--report FILE] [options]",
      "Compares synthetic rows with the real rows they imitate (schema inferred from REAL.csv, with\n"
      "the overrides applied): quality (SDMetrics QualityReport: column shapes and pair trends),\n"
      "distance to closest record (privacy), identical rows, and train-on-synthetic vs train-on-real\n"
      "scores on the holdout. Prints the headline scores; --report writes the full report with plots.",
      "Example:\n  cohort local evaluate adult_train.csv synth.csv --holdout adult_test.csv --target income "
      "\\\n"
      "      --report report.html --report report.json",
      opts};
  cli_args a;
  local_csv csv = {0};
  local_schema_opts so = {0};
  cli_list reports = {0};
  const char *real_f = NULL, *synth_f = NULL, *hold_f = NULL, *target = NULL, *val;
  size_t sample = 0;
  uint64_t seed = 1;
  int rc = CLI_OK, id, r;
  cohort_table *real = NULL, *synth = NULL, *hold = NULL;
  cohort_schema *schema = NULL;
  cohort_eval *ev = NULL;
  char *doc = NULL;
  cohort_status st;

  cli_args_init(&a, &cmd, argc, argv);
  while ((id = cli_next(&a, &val)) != CLI_END) {
    if (id == CLI_STOP) {
      rc = a.rc;
      goto out;
    }
    if ((r = local_csv_opt(&csv, &a, id, val)) || (r = local_schema_opt(&so, &a, id, val))) {
      if (r < 0) {
        rc = CLI_USAGE;
        goto out;
      }
      continue;
    }
    if ((id == LO_SAMPLE && cli_parse_size(&a, val, &sample) != 0) ||
        (id == LO_SEED && cli_parse_u64(&a, val, &seed) != 0)) {
      rc = CLI_USAGE;
      goto out;
    }
    switch (id) {
    case O_HOLDOUT:
      hold_f = val;
      break;
    case O_TARGET:
      target = val;
      break;
    case O_REPORT:
      cli_list_add(&reports, val);
      break;
    case CLI_POS:
      if (real_f && synth_f) {
        /* `--json out.json` reads as the flag --json and a stray file name. */
        if (ends_with(val, ".json") && a.i >= 2 && strcmp(a.argv[a.i - 2], "--json") == 0)
          rc = cli_usage(&cmd,
                         "unexpected argument '%s': --json prints to stdout; write a file with --report %s",
                         val, val);
        else
          rc = cli_usage(&cmd, "unexpected argument '%s'", val);
        goto out;
      }
      *(real_f ? &synth_f : &real_f) = val;
      break;
    }
  }
  if (!synth_f) {
    rc = cli_usage(&cmd, !real_f ? "missing the REAL.csv argument" : "missing the SYNTH.csv argument");
    goto out;
  }
  if ((rc = local_read(&csv, real_f, &real)) != CLI_OK ||
      (rc = local_read(&csv, synth_f, &synth)) != CLI_OK ||
      (hold_f && (rc = local_read(&csv, hold_f, &hold)) != CLI_OK))
    goto out;
  if ((st = cohort_schema_infer(&schema, real)) != COHORT_OK) {
    rc = cli_fail(st, "infer schema of %s", real_f);
    goto out;
  }
  if ((rc = local_schema_apply(schema, real, &so)) != CLI_OK)
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
