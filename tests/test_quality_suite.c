/* The broad suite's small tables (bench/SUITE.md), through the public API only: prediction and
 * synthesis must stay at or above the floors committed from the suite's run, so a change that helps
 * adult but hurts an all-categorical, a wide numeric or a small regression table fails here.
 *
 * Per table, as bench/bench_suite.c does it:
 *   prediction: rows whose target is missing dropped, data row i (0-based) a test row when
 *     i % 5 == 4; infer the schema, train, analyze for the target (seed 1), react on the test rows;
 *     accuracy (exact text) for a categorical target, R^2 for a numeric one.
 *   synthesis: the same rows halved at random (suite_halve, a fixed draw); a trainee trained and analyzed for
 * the target on the half synthesizes as many rows at each seed below and cohort_evaluate compares them with
 *     the half, the other half as holdout (SDMetrics' DCR overfitting test wants the two about the
 *     same size).
 * Floors: prediction at the engine's figures less a margin for floating-point differences between
 * compilers; synthesis at the mean over several seeds less a margin measured from the spread between
 * seeds (see cases[]). The bars of issue 11 the engine meets are asserted as such (no rare copies,
 * at every seed); where it does not meet them yet the floor holds today's figure so it cannot get
 * worse.
 *
 * A table whose CSV is not in COHORT_DATASETS is skipped (the repository's copy holds adult,
 * diamonds, abalone, penguins and winequality). Labelled "quality": not run under the sanitizers. No timing
 * is asserted. */
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

/* Accuracy / R^2 may fall this far below the committed figure (compiler differences). */
#define MARGIN 0.005

/* Synthesis seeds: every synthesis figure is the mean over them (the privacy bar is per seed). One
 * seed's figures move with the random stream as much as with a change of method: exact_matches in
 * synth.c, which draws from the same distribution as the search it replaces, moved seed 7's
 * train-on-synthetic on boston 0.517 -> 0.439 and pima 0.797 -> 0.747. Eight seeds because these
 * tables are small (all eight cost about 1.5 s a table on 2 cores) and the floors' margins shrink
 * with the square root of the count; bench_suite's default is the first three. */
static const uint64_t seeds[] = {7, 3, 11, 1, 2, 4, 5, 6};
#define N_SEEDS (sizeof seeds / sizeof seeds[0])

typedef struct scase {
  const char *name, *file, *target;
  int r2;         /* 1 = R^2, 0 = accuracy */
  double predict; /* engine score in bench/SUITE.md */
  /* Synthesis, means over the seeds below (bench/SUITE.md), each with the margin it may fall by:
   * quality, DCR overfitting protection, and train-on-synthetic score of the engine's own predictor
   * (SUITE.md's TSTR engine k-NN). */
  double quality, quality_margin, dcr, dcr_margin, tstr, tstr_margin;
  double tstr_gbm, tstr_gbm_margin; /* ... and of gradient boosting (SUITE.md's TSTR engine GBM) */
} scase;

/* Prediction floors: the figures in bench/SUITE.md (bash bench/run.sh, stages bench_suite
 * suite_sklearn), less MARGIN; the engine is deterministic for a seed, threads do not change them.
 * Tuned scikit-learn k-NN and gradient boosting on the same rows are in SUITE.md.
 *
 * Synthesis floors: the means over the eight seeds (bench_suite DATASETS OUT --only NAME --seeds
 * 7,3,11,1,2,4,5,6 prints the same figures) on the random halves of suite_halve, 2026-12-07, after
 * synth.c's residual draw of continuous targets and neighbours drawn within the row's class. Margin: 1.5
 * times the standard deviation of one seed's figure over those 8 seeds, rounded up to 0.005, at least 0.005
 * (0.01 for DCR overfitting protection). That is 3 standard deviations of the difference of two 8-seed
 * means, so a change that only draws other random numbers fails a given floor about once in 700 runs. What
 * they can resolve differs by table: quality within 0.01-0.04, train-on-synthetic within 0.02-0.055 (with
 * gradient boosting, the judge, 0.01-0.05) but 0.135 on boston, DCR overfitting protection 0.05
 * on pima and 0.115 on boston (one seed's figure spans 0.61-0.81 there).
 * The halves used to alternate rows (i % 2), which met the order of the files: on penguins and
 * breast_cancer that split put synthetic rows near the training half and far from a holdout of
 * another kind (DCR overfitting protection 0.67 / 0.90 there, 1.0 / 1.0 on random halves), and on
 * boston it hid overfitting (0.99 then, 0.70 now: alternate tracts of a town are near twins, so the
 * holdout was as close as the training half). The rare-copy bar is asserted at every seed. None of
 * these tables reaches the synthesis quality bar of 0.95 yet (two real halves of them score
 * 0.86-0.96 against each other: SUITE.md's "holdout's quality"): the floors hold today's figures. */
static const scase cases[] = {
    {"winequality", "winequality_red.csv", "quality", 0, 0.68652, 0.945488, 0.010, 1.0, 0.01, 0.571650, 0.025,
     0.584950, 0.015},
    /* Before neighbours were drawn within the row's class (synth.c CO_SYNTH_K_SHARE): quality 0.920, engine
     * train-on-synthetic 0.775, gradient boosting 0.770. */
    {"soybean", "soybean.csv", "Class", 0, 0.955882, 0.946837, 0.010, 1.0, 0.01, 0.859975, 0.055, 0.862900,
     0.035},
    {"pima", "pima_diabetes.csv", "diabetes", 0, 0.72549, 0.911987, 0.015, 0.964200, 0.050, 0.744463, 0.035,
     0.742200, 0.010},
    /* Before: quality 0.917, engine train-on-synthetic 0.579, gradient boosting 0.674. */
    {"vehicle", "vehicle.csv", "Class", 0, 0.781065, 0.942475, 0.015, 1.0, 0.01, 0.662525, 0.030, 0.693575,
     0.030},
    /* Gradient boosting's train-on-synthetic 0.671 before the target's residual draw (synth.c). */
    {"boston", "boston_housing.csv", "cmedv", 1, 0.868142, 0.807613, 0.030, 0.700600, 0.115, 0.539538, 0.135,
     0.737712, 0.050},
    /* 0.964602 before analyze's range start (analyze.c), which costs one of its 113 test rows (5-fold: one
     * row of 569) and gains digits, diabetes and boston more (bench/SUITE.md's notes). */
    {"breast_cancer", "breast_cancer.csv", "target", 0, 0.955752, 0.921713, 0.010, 1.0, 0.01, 0.927362, 0.020,
     0.925175, 0.015},
    {"penguins", "penguins.csv", "species", 0, 1.0, 0.863088, 0.040, 0.997088, 0.015, 0.968025, 0.035,
     0.949125, 0.020},
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

/* One seed's synthesis from t, judged against half with hold as holdout. */
static void synth_once(cohort_trainee *t, const cohort_schema *schema, const cohort_table *half,
                       const cohort_table *hold, const char *target, uint64_t seed, double *quality,
                       double *dcr, double *tstr, double *tstr_gbm, double *trtr_gbm, size_t *rare,
                       size_t *common) {
  cohort_table *syn = NULL;
  cohort_synth_options so = COHORT_SYNTH_OPTIONS_INIT;
  so.rows = cohort_table_rows(half);
  so.seed = seed;
  CHECK_OK(cohort_synthesize(t, &so, &syn));
  cohort_eval_options eo = COHORT_EVAL_OPTIONS_INIT;
  eo.target = target;
  eo.seed = seed;
  cohort_eval *ev = NULL;
  CHECK_OK(cohort_evaluate(schema, half, syn, hold, &eo, &ev));
  *quality = cohort_eval_quality(ev);
  *dcr = cohort_eval_dcr_overfitting(ev);
  *tstr = cohort_eval_tstr(ev);
  *tstr_gbm = cohort_eval_tstr_gbm(ev);
  *trtr_gbm = cohort_eval_trtr_gbm(ev);
  *rare = cohort_eval_identical_rare(ev);
  *common = cohort_eval_identical_common(ev);
  cohort_eval_free(ev);
  cohort_table_free(syn);
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

  /* Synthesis on the half split: one trainee, one synthesis per seed. */
  cohort_table *half = NULL, *hold = NULL;
  CHECK_OK(suite_halve(all, (size_t)tc, &half, &hold));
  t = fit(half, q->target, &schema);
  double quality = 0, dcr = 0, tstr = 0, tstr_gbm = 0, trtr_gbm = NAN;
  size_t rare[N_SEEDS];
  for (size_t i = 0; i < N_SEEDS; i++) {
    double qs, ds, ts, gs;
    size_t common;
    synth_once(t, schema, half, hold, q->target, seeds[i], &qs, &ds, &ts, &gs, &trtr_gbm, &rare[i], &common);
    print_message("%s seed %llu: synthesis quality %.4f, DCR overfitting protection %.4f, rare copies %zu, "
                  "common copies %zu, train-on-synthetic %.4f, with gradient boosting %.4f\n",
                  q->name, (unsigned long long)seeds[i], qs, ds, rare[i], common, ts, gs);
    quality += qs / N_SEEDS;
    dcr += ds / N_SEEDS;
    tstr += ts / N_SEEDS;
    tstr_gbm += gs / N_SEEDS;
  }
  print_message("%s: %s %.4f (floor %.4f); means over %zu seeds: synthesis quality %.4f (floor %.4f), "
                "DCR overfitting protection %.4f (floor %.4f), train-on-synthetic %.4f (floor %.4f), with "
                "gradient boosting %.4f (floor %.4f; on the real rows %.4f)\n",
                q->name, q->r2 ? "R^2" : "accuracy", s, q->predict - MARGIN, (size_t)N_SEEDS, quality,
                q->quality - q->quality_margin, dcr, q->dcr - q->dcr_margin, tstr, q->tstr - q->tstr_margin,
                tstr_gbm, q->tstr_gbm - q->tstr_gbm_margin, trtr_gbm);
  cohort_trainee_free(t);
  cohort_schema_free(schema);
  cohort_table_free(half);
  cohort_table_free(hold);
  cohort_table_free(all);
  free(path);

  if (!(s >= q->predict - MARGIN))
    fail_msg("%s: %s %.4f fell below the committed %.4f", q->name, q->r2 ? "R^2" : "accuracy", s, q->predict);
  for (size_t i = 0; i < N_SEEDS; i++)
    if (rare[i] != 0)
      fail_msg("%s: %zu synthetic rows copy a rare training row (seed %llu)", q->name, rare[i],
               (unsigned long long)seeds[i]);
  if (!(quality >= q->quality - q->quality_margin))
    fail_msg("%s: mean synthesis quality %.4f fell more than %.3f below the committed %.4f", q->name, quality,
             q->quality_margin, q->quality);
  if (!(dcr >= q->dcr - q->dcr_margin))
    fail_msg("%s: mean DCR overfitting protection %.4f fell more than %.3f below the committed %.4f", q->name,
             dcr, q->dcr_margin, q->dcr);
  if (!(tstr >= q->tstr - q->tstr_margin))
    fail_msg("%s: mean train-on-synthetic %.4f fell more than %.3f below the committed %.4f", q->name, tstr,
             q->tstr_margin, q->tstr);
  if (!(tstr_gbm >= q->tstr_gbm - q->tstr_gbm_margin))
    fail_msg("%s: mean train-on-synthetic with gradient boosting %.4f fell more than %.3f below the "
             "committed %.4f",
             q->name, tstr_gbm, q->tstr_gbm_margin, q->tstr_gbm);
}

int main(void) {
  struct CMUnitTest tests[sizeof cases / sizeof cases[0]];
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    tests[i] = (struct CMUnitTest){cases[i].name, run_case, NULL, NULL, (void *)&cases[i]};
  return cmocka_run_group_tests_name("quality_suite", tests, NULL, NULL);
}
