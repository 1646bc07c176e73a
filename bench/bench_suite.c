/* The broad suite, engine side: prediction and synthesis on every shared table, through the
 * public API only.
 *
 *   bench_suite DATASETS_DIR OUT_DIR [--threads N] [--seeds N,N,...] [--only NAME] [--no-synth]
 *                                    [--type FEATURE=TYPE] [--synth-k K]
 *
 * Per table (the list below): drop rows whose target is missing, split systematically (data row i,
 * 0-based after the drop, is a test row when i % 5 == 4; adult uses adult_train / adult_test),
 * write OUT_DIR/splits/NAME_{train,test}.csv (so scikit-learn, bench/suite_sklearn.py, reads the
 * very same cells), infer the schema (written as OUT_DIR/splits/NAME_schema.json: the peers use its
 * types, which is how a user of the engine would describe the table), train, analyze for the
 * target, react on the test rows and score: accuracy (exact text) when the inferred target is
 * categorical, R^2 when numeric.
 *
 * Synthesis is judged on a split of its own, because SDMetrics' DCROverfittingProtection compares
 * each synthetic row's distance to the training rows with its distance to a holdout and assumes
 * the two are about the same size (it warns below half): with the 80/20 split a generator that
 * never saw the rows it is compared with would score 2 * (1 - 0.8) = 0.4. So the rows are halved
 * at random, with a fixed draw (suite_halve: a systematic halving met the order of penguins and
 * boston), into the synthesis training half and its holdout (adult: adult_train / adult_test,
 * 2:1); a second trainee is trained and analyzed for the target on that half, and
 * synthesizes as many rows as it has cases (seed). OUT_DIR/splits/NAME_{strain,sholdout}.csv hold
 * the halves and OUT_DIR/synth/NAME.csv the synthetic rows (the peers train gradient boosting on it
 * and on the half, and test both on the holdout: TSTR / TRTR); cohort_evaluate compares them
 * against the half with the holdout, its TSTR / TRTR with the engine's k-NN and with its own
 * gradient boosting (tstr_gbm_engine / trtr_gbm_engine beside scikit-learn's).
 * Prints JSON {NAME: {...}} and writes OUT_DIR/cohort_suite.json. */
#include "bench_util.h"
#include "suite_split.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* file: in DATASETS_DIR; "@wide" is generated (suite_wide_table), "@NAME" is read from
 * OUT_DIR/data/NAME.csv, which bench/suite_tables.py converts from scikit-learn's shipped tables. */
typedef struct table_spec {
  const char *name, *file, *test_file, *target;
} table_spec;

/* The wide table's rows: 8,000 train the prediction and 5,000 the synthesis (issue 11's bar: a
 * 5,000 x 37 numeric table analyzed and synthesized in 10 s on 2 cores). */
#define WIDE_ROWS 10000

static const table_spec tables[] = {
    {"adult", "adult_train.csv", "adult_test.csv", "income"},
    {"diamonds", "diamonds.csv", NULL, "price"},
    {"abalone", "abalone.csv", NULL, "rings"},
    {"penguins", "penguins.csv", NULL, "species"},
    {"winequality", "winequality_red.csv", NULL, "quality"},
    {"soybean", "soybean.csv", NULL, "Class"},
    {"pima", "pima_diabetes.csv", NULL, "diabetes"},
    {"vehicle", "vehicle.csv", NULL, "Class"},
    {"boston", "boston_housing.csv", NULL, "cmedv"},
    {"breast_cancer", "breast_cancer.csv", NULL, "target"},
    {"digits", "digits.csv", NULL, "target"},
    {"wine", "@wine", NULL, "class"},
    {"diabetes", "@diabetes", NULL, "progression"},
    {"wide", "@wide", NULL, "class"},
};

static void write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  if (!f) {
    fprintf(stderr, "bench_suite: cannot write %s\n", path);
    exit(1);
  }
  fputs(text, f);
  fclose(f);
}

/* Most seeds --seeds takes. */
#define MAX_SEEDS 16

typedef struct opts {
  size_t threads, synth_k;
  uint64_t seeds[MAX_SEEDS];
  size_t n_seeds;
  int synth;
  const char *type_over[16];
  size_t n_over;
} opts;

static void write_table(const cohort_table *t, const char *out_dir, const char *table, const char *part) {
  char name[256], *p;
  snprintf(name, sizeof name, "splits/%s_%s.csv", table, part);
  bench_check(cohort_table_write_csv(t, p = bench_path(out_dir, name)), "write split");
  free(p);
}

/* Infers the schema of train (with the --type overrides), trains and analyzes for the target. */
static cohort_trainee *fit(const table_spec *d, const cohort_table *train, const opts *o,
                           cohort_schema **schema) {
  bench_check(cohort_schema_infer(schema, train), "schema_infer");
  for (size_t i = 0; i < o->n_over; i++) {
    char feat[256];
    const char *eq = strchr(o->type_over[i], '=');
    if (!eq || (size_t)(eq - o->type_over[i]) >= sizeof feat)
      continue;
    memcpy(feat, o->type_over[i], (size_t)(eq - o->type_over[i]));
    feat[eq - o->type_over[i]] = 0;
    if (cohort_schema_find(*schema, feat) >= 0)
      bench_check(cohort_schema_set_type(*schema, train, feat, (cohort_ftype)cohort_ftype_parse(eq + 1)),
                  "--type");
  }
  cohort_trainee *t = NULL;
  bench_check(cohort_trainee_create(&t, *schema), "trainee_create");
  bench_check(cohort_trainee_train(t, train, NULL), "trainee_train");
  const char *targets[1] = {d->target};
  cohort_analyze_options ao = COHORT_ANALYZE_OPTIONS_INIT;
  ao.targets = targets;
  ao.n_targets = 1;
  ao.seed = 1;
  ao.threads = o->threads;
  bench_check(cohort_trainee_analyze(t, &ao), "analyze");
  return t;
}

/* Writes "NAME": [v0, v1, ...] (n numbers) to json, after a comma. */
static void json_nums(FILE *json, const char *name, const double *v, size_t n) {
  fprintf(json, ", \"%s\": [", name);
  for (size_t i = 0; i < n; i++) {
    fputs(i ? ", " : "", json);
    bench_json_num(json, v[i]);
  }
  fprintf(json, "]");
}

static double mean_of(const double *v, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++)
    s += v[i];
  return n ? s / (double)n : NAN;
}

/* One trainee (trained and analyzed once) synthesizes as many rows as train holds at each seed;
 * each synthetic table is evaluated against train with holdout. The JSON keeps every seed's figure
 * (NAME_seeds) and their mean (NAME); identical_rare is the most any seed made (the privacy bar is
 * per synthesis, never averaged). Synthetic rows: OUT_DIR/synth/NAME_sSEED.csv. */
static void synthesis(const table_spec *d, const cohort_table *train, const cohort_table *holdout,
                      const char *out_dir, const opts *o, FILE *json) {
  double t0 = bench_now(), c0 = bench_cpu_now();
  cohort_schema *schema = NULL;
  cohort_trainee *t = fit(d, train, o, &schema);
  double t1 = bench_now(), c1 = bench_cpu_now();
  double cpu[MAX_SEEDS], quality[MAX_SEEDS], dcr[MAX_SEEDS], tstr[MAX_SEEDS], trtr[MAX_SEEDS],
      secs[MAX_SEEDS], rare[MAX_SEEDS], common[MAX_SEEDS], ident[MAX_SEEDS], tstr_gbm[MAX_SEEDS],
      trtr_gbm[MAX_SEEDS], eval_secs[MAX_SEEDS];
  size_t rare_max = 0;
  for (size_t si = 0; si < o->n_seeds; si++) {
    cohort_synth_options so = COHORT_SYNTH_OPTIONS_INIT;
    so.rows = cohort_table_rows(train);
    so.seed = o->seeds[si];
    so.threads = o->threads;
    so.k = o->synth_k;
    cohort_table *syn = NULL;
    double s0 = bench_now(), sc0 = bench_cpu_now();
    bench_check(cohort_synthesize(t, &so, &syn), "synthesize");
    secs[si] = bench_now() - s0;
    cpu[si] = bench_cpu_now() - sc0;
    char name[256], *p;
    snprintf(name, sizeof name, "synth/%s_s%llu.csv", d->name, (unsigned long long)o->seeds[si]);
    bench_check(cohort_table_write_csv(syn, p = bench_path(out_dir, name)), "write synthetic");
    free(p);
    cohort_eval_options eo = COHORT_EVAL_OPTIONS_INIT;
    eo.target = d->target;
    eo.seed = o->seeds[si];
    eo.threads = o->threads;
    cohort_eval *ev = NULL;
    double e0 = bench_now();
    bench_check(cohort_evaluate(schema, train, syn, holdout, &eo, &ev), "evaluate");
    eval_secs[si] = bench_now() - e0;
    char *ej = NULL;
    bench_check(cohort_eval_to_json(ev, &ej), "eval_to_json");
    snprintf(name, sizeof name, "synth/%s_s%llu_eval.json", d->name, (unsigned long long)o->seeds[si]);
    write_text(p = bench_path(out_dir, name), ej);
    free(p);
    cohort_free(ej);
    quality[si] = cohort_eval_quality(ev);
    dcr[si] = cohort_eval_dcr_overfitting(ev);
    tstr[si] = cohort_eval_tstr(ev);
    trtr[si] = cohort_eval_trtr(ev);
    tstr_gbm[si] = cohort_eval_tstr_gbm(ev);
    trtr_gbm[si] = cohort_eval_trtr_gbm(ev);
    rare[si] = (double)cohort_eval_identical_rare(ev);
    common[si] = (double)cohort_eval_identical_common(ev);
    ident[si] = (double)cohort_eval_identical(ev);
    if (cohort_eval_identical_rare(ev) > rare_max)
      rare_max = cohort_eval_identical_rare(ev);
    fprintf(
        stderr,
        "bench_suite: %s synthesis seed %llu (%zu rows, holdout %zu): quality %.4f, DCR overfitting %.4f, "
        "copies %zu rare / %zu common, TSTR %.4f / TRTR %.4f (engine kNN), %.4f / %.4f (engine GBM), "
        "synthesize %.1fs (CPU %.1fs), evaluate %.1fs\n",
        d->name, (unsigned long long)o->seeds[si], cohort_table_rows(train), cohort_table_rows(holdout),
        quality[si], dcr[si], cohort_eval_identical_rare(ev), cohort_eval_identical_common(ev), tstr[si],
        trtr[si], tstr_gbm[si], trtr_gbm[si], secs[si], cpu[si], eval_secs[si]);
    cohort_eval_free(ev);
    cohort_table_free(syn);
  }
  /* What real rows score: the holdout judged as if it were synthetic. Quality compares shapes and
   * pairs, which two samples of a small table already differ in, so this is the ceiling the
   * synthetic rows' quality can be read against (DCR and copies mean nothing here). */
  cohort_eval_options ho = COHORT_EVAL_OPTIONS_INIT;
  ho.target = d->target;
  ho.seed = o->seeds[0];
  ho.threads = o->threads;
  cohort_eval *hev = NULL;
  bench_check(cohort_evaluate(schema, train, holdout, NULL, &ho, &hev), "evaluate the holdout");
  double holdout_quality = cohort_eval_quality(hev);
  cohort_eval_free(hev);
  size_t ns = o->n_seeds;
  fprintf(stderr, "bench_suite: %s: the holdout's own quality against the training half %.4f\n", d->name,
          holdout_quality);
  fprintf(
      stderr,
      "bench_suite: %s synthesis, means over %zu seeds: quality %.4f, DCR overfitting %.4f, rare copies at "
      "most %zu, TSTR %.4f / TRTR %.4f (engine kNN), %.4f / %.4f (engine GBM), analyze %.1fs (CPU %.1fs), "
      "synthesize %.1fs (CPU %.1fs)\n",
      d->name, ns, mean_of(quality, ns), mean_of(dcr, ns), rare_max, mean_of(tstr, ns), mean_of(trtr, ns),
      mean_of(tstr_gbm, ns), mean_of(trtr_gbm, ns), t1 - t0, c1 - c0, mean_of(secs, ns), mean_of(cpu, ns));
  fprintf(json,
          ", \"synth_train\": \"splits/%s_%s.csv\", \"synth_holdout\": \"splits/%s_%s.csv\", "
          "\"synth_train_rows\": %zu, \"synth_holdout_rows\": %zu, \"synth_analyze_seconds\": %.3f, "
          "\"synth_seeds\": [",
          d->name, d->test_file ? "train" : "strain", d->name, d->test_file ? "test" : "sholdout",
          cohort_table_rows(train), cohort_table_rows(holdout), t1 - t0);
  for (size_t si = 0; si < ns; si++)
    fprintf(json, "%s%llu", si ? ", " : "", (unsigned long long)o->seeds[si]);
  fprintf(json, "], \"synth_files\": [");
  for (size_t si = 0; si < ns; si++)
    fprintf(json, "%s\"synth/%s_s%llu.csv\"", si ? ", " : "", d->name, (unsigned long long)o->seeds[si]);
  fprintf(json, "], \"synth_seconds\": ");
  bench_json_num(json, mean_of(secs, ns));
  fprintf(json, ", \"synth_analyze_cpu_seconds\": %.3f, \"synth_cpu_seconds\": ", c1 - c0);
  bench_json_num(json, mean_of(cpu, ns));
  fprintf(json, ", \"quality\": ");
  bench_json_num(json, mean_of(quality, ns));
  fprintf(json, ", \"quality_holdout\": ");
  bench_json_num(json, holdout_quality);
  fprintf(json, ", \"dcr_overfitting\": ");
  bench_json_num(json, mean_of(dcr, ns));
  fprintf(json, ", \"identical_rare\": %zu, \"identical\": ", rare_max);
  bench_json_num(json, mean_of(ident, ns));
  fprintf(json, ", \"identical_common\": ");
  bench_json_num(json, mean_of(common, ns));
  fprintf(json, ", \"tstr_engine\": ");
  bench_json_num(json, mean_of(tstr, ns));
  fprintf(json, ", \"trtr_engine\": ");
  bench_json_num(json, mean_of(trtr, ns));
  fprintf(json, ", \"tstr_gbm_engine\": ");
  bench_json_num(json, mean_of(tstr_gbm, ns));
  fprintf(json, ", \"trtr_gbm_engine\": ");
  bench_json_num(json, mean_of(trtr_gbm, ns));
  fprintf(json, ", \"evaluate_seconds\": ");
  bench_json_num(json, mean_of(eval_secs, ns));
  json_nums(json, "synth_seconds_seeds", secs, ns);
  json_nums(json, "quality_seeds", quality, ns);
  json_nums(json, "dcr_overfitting_seeds", dcr, ns);
  json_nums(json, "identical_rare_seeds", rare, ns);
  json_nums(json, "identical_common_seeds", common, ns);
  json_nums(json, "tstr_engine_seeds", tstr, ns);
  json_nums(json, "tstr_gbm_engine_seeds", tstr_gbm, ns);
  cohort_trainee_free(t);
  cohort_schema_free(schema);
}

/* The table d names, read or generated (see table_spec); NULL when a converted table is missing. */
static cohort_table *load_table(const table_spec *d, const char *data_dir, const char *out_dir) {
  cohort_table *all = NULL;
  char name[256], *p;
  if (d->file[0] != '@') {
    p = bench_path(data_dir, d->file);
    all = bench_read_csv(p);
  } else if (strcmp(d->file, "@wide") == 0) {
    bench_check(suite_wide_table(WIDE_ROWS, 1, &all), "wide table");
    bench_mkdir(p = bench_path(out_dir, "data"));
    free(p);
    bench_check(cohort_table_write_csv(all, p = bench_path(out_dir, "data/wide.csv")), "write wide table");
  } else {
    snprintf(name, sizeof name, "data/%s.csv", d->file + 1);
    p = bench_path(out_dir, name);
    if (bench_file_size(p))
      all = bench_read_csv(p);
    else
      fprintf(stderr, "bench_suite: %s missing (bench/suite_tables.py writes it), %s skipped\n", p, d->name);
  }
  free(p);
  return all;
}

static void run_table(const table_spec *d, const char *data_dir, const char *out_dir, const opts *o,
                      FILE *json, int first) {
  cohort_table *all = load_table(d, data_dir, out_dir);
  if (!all)
    return;
  long tc = cohort_table_find(all, d->target);
  if (tc < 0) {
    fprintf(stderr, "bench_suite: %s has no column %s\n", d->file, d->target);
    exit(1);
  }
  cohort_table *train = NULL, *test = NULL;
  if (d->test_file) {
    char *tp = bench_path(data_dir, d->test_file);
    cohort_table *tall = bench_read_csv(tp);
    bench_check(suite_split(all, (size_t)tc, 0, &train, NULL), "split");
    bench_check(suite_split(tall, (size_t)cohort_table_find(tall, d->target), 0, &test, NULL), "split");
    cohort_table_free(tall);
    free(tp);
  } else {
    bench_check(suite_split(all, (size_t)tc, 5, &train, &test), "split");
  }
  write_table(train, out_dir, d->name, "train");
  write_table(test, out_dir, d->name, "test");

  double t0 = bench_now();
  cohort_schema *schema = NULL;
  cohort_trainee *t = fit(d, train, o, &schema);
  char *sj = NULL, *p, name[256];
  bench_check(cohort_schema_to_json(schema, &sj), "schema_to_json");
  snprintf(name, sizeof name, "splits/%s_schema.json", d->name);
  write_text(p = bench_path(out_dir, name), sj);
  free(p);
  cohort_free(sj);
  long ti = cohort_schema_find(schema, d->target);
  cohort_ftype tt = cohort_schema_type(schema, (size_t)ti);
  int r2 = tt == COHORT_CONTINUOUS || tt == COHORT_DATETIME;
  double t1 = bench_now();
  const char *targets[1] = {d->target};
  cohort_react_options ro = COHORT_REACT_OPTIONS_INIT;
  ro.targets = targets;
  ro.n_targets = 1;
  ro.threads = o->threads;
  cohort_reaction *r = NULL;
  bench_check(cohort_react(t, test, &ro, &r), "react");
  double t2 = bench_now();
  double s = suite_score(test, (size_t)tc, r, r2);
  size_t k = 0;
  double pp = 0;
  cohort_trainee_params(t, d->target, &k, &pp);
  fprintf(stderr, "bench_suite: %s %s %s = %.4f (k %zu, p %g; %zu train / %zu test rows; %.1fs)\n", d->name,
          d->target, r2 ? "R^2" : "accuracy", s, k, pp, cohort_table_rows(train), cohort_table_rows(test),
          t2 - t0);
  fprintf(json,
          "%s\"%s\": {\"target\": \"%s\", \"target_type\": \"%s\", \"metric\": \"%s\", \"train_rows\": %zu, "
          "\"test_rows\": %zu, \"features\": %zu, \"k\": %zu, \"p\": %g, \"cohort_score\": ",
          first ? "" : ",\n", d->name, d->target, cohort_ftype_name(tt), r2 ? "r2" : "accuracy",
          cohort_table_rows(train), cohort_table_rows(test), cohort_table_cols(train), k, pp);
  bench_json_num(json, s);
  fprintf(json, ", \"analyze_seconds\": %.3f, \"predict_seconds\": %.3f", t1 - t0, t2 - t1);
  cohort_reaction_free(r);
  cohort_trainee_free(t);
  cohort_schema_free(schema);

  if (o->synth) {
    if (d->test_file) {
      synthesis(d, train, test, out_dir, o, json);
    } else {
      cohort_table *half = NULL, *hold = NULL;
      bench_check(suite_halve(all, (size_t)tc, &half, &hold), "split");
      write_table(half, out_dir, d->name, "strain");
      write_table(hold, out_dir, d->name, "sholdout");
      synthesis(d, half, hold, out_dir, o, json);
      cohort_table_free(half);
      cohort_table_free(hold);
    }
  }
  fprintf(json, "}");
  fflush(json);
  cohort_table_free(all);
  cohort_table_free(train);
  cohort_table_free(test);
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: bench_suite DATASETS_DIR OUT_DIR [--threads N] [--seeds N,N,...] [--only NAME] "
                    "[--no-synth] [--type FEATURE=TYPE] [--synth-k K]\n");
    return 2;
  }
  const char *data_dir = argv[1], *out_dir = argv[2], *only = NULL;
  /* Synthesis seeds: the suite's figures are means over these (one seed's figures move with the
   * random stream as much as with a change of method). */
  opts o = {2, 0, {7, 3, 11}, 3, 1, {0}, 0};
  for (int i = 3; i < argc; i++) {
    if (strcmp(argv[i], "--no-synth") == 0)
      o.synth = 0;
    else if (i + 1 < argc && strcmp(argv[i], "--threads") == 0)
      o.threads = (size_t)strtoul(argv[++i], NULL, 10);
    else if (i + 1 < argc && strcmp(argv[i], "--synth-k") == 0)
      o.synth_k = (size_t)strtoul(argv[++i], NULL, 10);
    else if (i + 1 < argc && strcmp(argv[i], "--seeds") == 0) {
      char *e = argv[++i];
      o.n_seeds = 0;
      while (*e && o.n_seeds < MAX_SEEDS) {
        o.seeds[o.n_seeds++] = (uint64_t)strtoull(e, &e, 10);
        if (*e == ',')
          e++;
        else if (*e) {
          fprintf(stderr, "bench_suite: --seeds takes numbers separated by commas\n");
          return 2;
        }
      }
      if (o.n_seeds == 0) {
        fprintf(stderr, "bench_suite: --seeds needs at least one seed\n");
        return 2;
      }
    } else if (i + 1 < argc && strcmp(argv[i], "--only") == 0)
      only = argv[++i];
    else if (i + 1 < argc && strcmp(argv[i], "--type") == 0 && o.n_over < 16)
      o.type_over[o.n_over++] = argv[++i];
    else {
      fprintf(stderr, "bench_suite: unknown argument %s\n", argv[i]);
      return 2;
    }
  }
  char *dir = bench_path(out_dir, "splits");
  bench_mkdir(dir);
  free(dir);
  bench_mkdir(dir = bench_path(out_dir, "synth"));
  free(dir);
  char *jp = bench_path(out_dir, "cohort_suite.json");
  FILE *json = fopen(jp, "w");
  if (!json) {
    fprintf(stderr, "bench_suite: cannot write %s\n", jp);
    return 1;
  }
  fprintf(json, "{");
  int first = 1;
  for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
    if (only && strcmp(only, tables[i].name) != 0)
      continue;
    long before = ftell(json);
    run_table(&tables[i], data_dir, out_dir, &o, json, first);
    first = first && ftell(json) == before;
  }
  fprintf(json, "}\n");
  fclose(json);
  free(jp);
  return 0;
}
