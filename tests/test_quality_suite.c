/* The broad suite's small tables (bench/SUITE.md), through the public API only: prediction and
 * synthesis must stay at or above the floors committed from the suite's run, so a change that helps
 * adult but hurts an all-categorical, a wide numeric or a small regression table fails here.
 *
 * Per table, as bench/bench_suite.c does it:
 *   prediction: rows whose target is missing dropped, data row i (0-based) a test row when
 *     i % 5 == 4; infer the schema, train, analyze for the target (seed 1), react on the test rows;
 *     accuracy (exact text) for a categorical target, R^2 for a numeric one.
 *   synthesis: the same rows halved (i % 2 == 0 trains); a trainee trained and analyzed for the target
 *     on the half synthesizes as many rows (seed 7) and cohort_evaluate compares them with the half,
 *     the other half as holdout (SDMetrics' DCR overfitting test wants the two about the same size).
 * Floors: the engine's own figures in bench/SUITE.md, less a small margin for floating-point
 * differences between compilers; the engine is deterministic for a seed, so a drop past the margin is
 * a change in behaviour. The bars of issue 11 the engine meets are asserted as such (no rare copies);
 * where it does not meet them yet the floor holds today's figure so it cannot get worse.
 *
 * A table whose CSV is not in COHORT_DATASETS is skipped (the repository's copy holds only the first
 * five tables). Labelled "quality": not run under the sanitizers. No timing is asserted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cohort/cohort.h"
#include "suite_split.h"

#define CHECK_OK(expr)                                                                                       \
  do {                                                                                                       \
    cohort_status st_ = (expr);                                                                              \
    if (st_ != COHORT_OK)                                                                                    \
      fail_msg("%s -> %s: %s", #expr, cohort_strerror(st_), cohort_errmsg());                                \
  } while (0)

/* Accuracy / R^2 / quality may fall this far below the committed figure (compiler differences). */
#define MARGIN 0.005
/* DCR overfitting protection moves in steps of 2 / rows: a looser margin. */
#define DCR_MARGIN 0.02

typedef struct scase {
  const char *name, *file, *target;
  int r2;              /* 1 = R^2, 0 = accuracy */
  double predict;      /* engine score in bench/SUITE.md */
  double quality, dcr; /* synthesis: quality, DCR overfitting protection in bench/SUITE.md */
  double tstr; /* train-on-synthetic score of the engine's own predictor (SUITE.md's TSTR engine k-NN) */
} scase;

/* Figures from bench/SUITE.md (bash bench/run.sh, stages bench_suite suite_sklearn, 2026-12-07, 2 threads;
 * the engine is deterministic for a seed, threads do not change them). Tuned scikit-learn k-NN and
 * gradient boosting on the same rows are in SUITE.md; the engine is not yet at gradient boosting's
 * level on all of these, nor at the synthesis quality bar of 0.95 on any of them (issue 11).
 * The train-on-synthetic floors hold what drawing a row's features from the cases of its class
 * (synth.c, CO_SYNTH_STRATA) and neighbourhoods of at most a tenth of the cases (CO_SYNTH_K_SHARE)
 * won: without them vehicle scored 0.492, boston 0.398, pima 0.781, penguins 0.837. They cost
 * quality on vehicle (0.915 -> 0.900) and boston (0.811 -> 0.796, its pair trends with an 89-level
 * town), and breast_cancer's DCR
 * overfitting protection at this seed (0.870 -> 0.758; at seed 3 it rose, 0.814 -> 0.863): both
 * floors were lowered with them. soybean moved with the brute-force leave-one-out (analyze.c), which
 * breaks some ties differently: accuracy 0.949 -> 0.956, train-on-synthetic 0.754 -> 0.748.
 * breast_cancer's synthesis floors rose with the reference rule on the model's own scale and the
 * targeted retries (synth.c, CO_SYNTH_REF_PASS; its 30 numeric features are where they apply):
 * DCR overfitting protection 0.758 -> 0.856, quality 0.916 -> 0.917, train-on-synthetic 0.926 -> 0.933;
 * with the old rule its DCR floor fails. */
static const scase cases[] = {
    {"winequality", "winequality_red.csv", "quality", 0, 0.68652, 0.92941, 1.0, 0.589487},
    {"soybean", "soybean.csv", "Class", 0, 0.955882, 0.915936, 1.0, 0.747801},
    {"pima", "pima_diabetes.csv", "diabetes", 0, 0.72549, 0.911078, 1.0, 0.796875},
    {"vehicle", "vehicle.csv", "Class", 0, 0.745562, 0.900167, 1.0, 0.605201},
    {"boston", "boston_housing.csv", "cmedv", 1, 0.868142, 0.795736, 1.0, 0.516649},
    {"breast_cancer", "breast_cancer.csv", "target", 0, 0.964602, 0.916552, 0.856140, 0.933099},
};

static cohort_trainee *fit(const cohort_table *train, const char *target, cohort_schema **schema) {
  cohort_trainee *t = NULL;
  CHECK_OK(cohort_schema_infer(schema, train));
  CHECK_OK(cohort_trainee_create(&t, *schema));
  CHECK_OK(cohort_trainee_train(t, train, NULL));
  const char *targets[1] = {target};
  cohort_analyze_options ao = COHORT_ANALYZE_OPTIONS_INIT;
  ao.targets = targets;
  ao.n_targets = 1;
  ao.seed = 1;
  CHECK_OK(cohort_trainee_analyze(t, &ao));
  return t;
}

static void run_case(void **state) {
  const scase *q = *state;
  size_t n = strlen(COHORT_DATASETS) + strlen(q->file) + 2;
  char *path = malloc(n);
  assert_non_null(path);
  snprintf(path, n, "%s/%s", COHORT_DATASETS, q->file);
  FILE *probe = fopen(path, "rb");
  if (!probe) {
    print_message("%s: %s not found, skipped\n", q->name, path);
    free(path);
    skip();
  }
  fclose(probe);
  cohort_table *all = NULL;
  CHECK_OK(cohort_table_read_csv(&all, path, NULL));
  long tc = cohort_table_find(all, q->target);
  assert_true(tc >= 0);

  /* Prediction on the 80/20 split. */
  cohort_table *train = NULL, *test = NULL;
  CHECK_OK(suite_split(all, (size_t)tc, 5, &train, &test));
  cohort_schema *schema = NULL;
  cohort_trainee *t = fit(train, q->target, &schema);
  const char *targets[1] = {q->target};
  cohort_react_options ro = COHORT_REACT_OPTIONS_INIT;
  ro.targets = targets;
  ro.n_targets = 1;
  cohort_reaction *r = NULL;
  CHECK_OK(cohort_react(t, test, &ro, &r));
  double s = suite_score(test, (size_t)tc, r, q->r2); /* as bench_suite scores */
  assert_false(isnan(s));
  cohort_reaction_free(r);
  cohort_trainee_free(t);
  cohort_schema_free(schema);
  cohort_table_free(train);
  cohort_table_free(test);

  /* Synthesis on the half split. */
  cohort_table *half = NULL, *hold = NULL, *syn = NULL;
  CHECK_OK(suite_split(all, (size_t)tc, 2, &half, &hold));
  t = fit(half, q->target, &schema);
  cohort_synth_options so = COHORT_SYNTH_OPTIONS_INIT;
  so.rows = cohort_table_rows(half);
  so.seed = 7;
  CHECK_OK(cohort_synthesize(t, &so, &syn));
  cohort_eval_options eo = COHORT_EVAL_OPTIONS_INIT;
  eo.target = q->target;
  eo.seed = 7;
  cohort_eval *ev = NULL;
  CHECK_OK(cohort_evaluate(schema, half, syn, hold, &eo, &ev));
  double quality = cohort_eval_quality(ev), dcr = cohort_eval_dcr_overfitting(ev),
         tstr = cohort_eval_tstr(ev);
  size_t rare = cohort_eval_identical_rare(ev);
  print_message(
      "%s: %s %.4f (floor %.4f); synthesis quality %.4f (floor %.4f), DCR overfitting protection "
      "%.4f (floor %.4f), rare copies %zu, common copies %zu, train-on-synthetic %.4f (floor %.4f)\n",
      q->name, q->r2 ? "R^2" : "accuracy", s, q->predict, quality, q->quality, dcr, q->dcr, rare,
      cohort_eval_identical_common(ev), tstr, q->tstr);
  cohort_eval_free(ev);
  cohort_table_free(syn);
  cohort_trainee_free(t);
  cohort_schema_free(schema);
  cohort_table_free(half);
  cohort_table_free(hold);
  cohort_table_free(all);
  free(path);

  if (!(s >= q->predict - MARGIN))
    fail_msg("%s: %s %.4f fell below the committed %.4f", q->name, q->r2 ? "R^2" : "accuracy", s, q->predict);
  if (!(quality >= q->quality - MARGIN))
    fail_msg("%s: synthesis quality %.4f fell below the committed %.4f", q->name, quality, q->quality);
  if (!(dcr >= q->dcr - DCR_MARGIN))
    fail_msg("%s: DCR overfitting protection %.4f fell below the committed %.4f", q->name, dcr, q->dcr);
  if (rare != 0)
    fail_msg("%s: %zu synthetic rows copy a rare training row", q->name, rare);
  if (!(tstr >= q->tstr - MARGIN))
    fail_msg("%s: train-on-synthetic %.4f fell below the committed %.4f", q->name, tstr, q->tstr);
}

int main(void) {
  struct CMUnitTest tests[sizeof cases / sizeof cases[0]];
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    tests[i] = (struct CMUnitTest){cases[i].name, run_case, NULL, NULL, (void *)&cases[i]};
  return cmocka_run_group_tests_name("quality_suite", tests, NULL, NULL);
}
