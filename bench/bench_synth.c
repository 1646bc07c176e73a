/* Adult end to end through the public API: train, analyze, synthesize, evaluate; and the memory a
 * trained adult trainee takes.
 *
 *   bench_synth DATASETS_DIR OUT_DIR [--threads N] [--rows N] [--seed N]
 *       reads adult_train.csv, trains, analyzes (targetless, defaults), saves OUT_DIR/adult.cohort,
 *       synthesizes --rows rows (default: as many as the training table), writes
 *       OUT_DIR/adult_synth.csv, evaluates against adult_train with adult_test as holdout and
 *       target income (OUT_DIR/adult_eval.json); prints JSON with the scores, the seconds of each
 *       stage and the peak RSS after training+analyze and at the end.
 *   bench_synth --load FILE
 *       loads a saved trainee, answers one prediction (so the search index is built too) and
 *       prints its own peak RSS: the memory of a trained trainee without the CSV parse. */
#include "bench_util.h"

#include <stdlib.h>
#include <string.h>

static int load_mode(const char *path) {
  size_t held0 = bench_current_rss();
  size_t rss0 = bench_peak_rss();
  double t0 = bench_now();
  cohort_trainee *t = NULL;
  bench_check(cohort_trainee_load(&t, path), "trainee_load");
  double t1 = bench_now();
  /* One reaction: income from the first case's other features. */
  const cohort_schema *s = cohort_trainee_schema(t);
  size_t nf = cohort_schema_features(s);
  const char **names = calloc(nf, sizeof *names);
  const char **cells = calloc(nf, sizeof *cells);
  if (!names || !cells)
    return 1;
  for (size_t i = 0; i < nf; i++)
    names[i] = cohort_schema_name(s, i);
  cohort_table *row = NULL;
  bench_check(cohort_table_create(&row, nf, names), "table_create");
  bench_check(cohort_trainee_case(t, 0, cells), "trainee_case");
  bench_check(cohort_table_append(row, cells), "table_append");
  const char *target = "income";
  cohort_react_options ro = COHORT_REACT_OPTIONS_INIT;
  ro.targets = &target;
  ro.n_targets = 1;
  ro.threads = 1;
  cohort_reaction *r = NULL;
  bench_check(cohort_react(t, row, &ro, &r), "react");
  double t2 = bench_now();
  size_t rss = bench_peak_rss();
  cohort_reaction_free(r);
  cohort_table_free(row);
  r = NULL;
  row = NULL;
  size_t held = bench_current_rss(); /* the trainee and its search index, nothing transient */
  printf("{\"file\": \"%s\", \"file_bytes\": %zu, \"cases\": %zu, \"load_seconds\": %.3f, \"react_seconds\": "
         "%.3f, "
         "\"peak_rss_bytes\": %zu, \"rss_before_load_bytes\": %zu, \"held_rss_bytes\": %zu}\n",
         path, bench_file_size(path), cohort_trainee_cases(t), t1 - t0, t2 - t1, rss, rss0,
         held > held0 ? held - held0 : 0);
  cohort_reaction_free(r);
  cohort_table_free(row);
  cohort_trainee_free(t);
  free(names);
  free(cells);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "--load") == 0)
    return load_mode(argv[2]);
  if (argc < 3) {
    fprintf(stderr, "usage: bench_synth DATASETS_DIR OUT_DIR [--threads N] [--rows N] [--seed N]\n"
                    "       bench_synth --load FILE\n");
    return 2;
  }
  const char *data_dir = argv[1], *out_dir = argv[2];
  size_t threads = 2, rows = 0;
  uint64_t seed = 7;
  for (int i = 3; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--threads") == 0)
      threads = (size_t)strtoul(argv[i + 1], NULL, 10);
    else if (strcmp(argv[i], "--rows") == 0)
      rows = (size_t)strtoul(argv[i + 1], NULL, 10);
    else if (strcmp(argv[i], "--seed") == 0)
      seed = (uint64_t)strtoull(argv[i + 1], NULL, 10);
  }
  bench_mkdir(out_dir);
  char *train_path = bench_path(data_dir, "adult_train.csv");
  char *test_path = bench_path(data_dir, "adult_test.csv");
  char *model_path = bench_path(out_dir, "adult.cohort");
  char *synth_path = bench_path(out_dir, "adult_synth.csv");
  char *eval_path = bench_path(out_dir, "adult_eval.json");
  size_t rss_start = bench_peak_rss();

  double t0 = bench_now();
  cohort_table *train = bench_read_csv(train_path);
  cohort_schema *schema = NULL;
  bench_check(cohort_schema_infer(&schema, train), "schema_infer");
  cohort_trainee *t = NULL;
  bench_check(cohort_trainee_create(&t, schema), "trainee_create");
  bench_check(cohort_trainee_train(t, train, NULL), "trainee_train");
  double t1 = bench_now();
  /* As `cohort local train --target income` does: targetless, then for the target. */
  const char *targets[] = {"income"};
  cohort_analyze_options ao = COHORT_ANALYZE_OPTIONS_INIT;
  ao.targets = targets;
  ao.n_targets = 1;
  ao.seed = seed;
  ao.threads = threads;
  bench_check(cohort_trainee_analyze(t, &ao), "trainee_analyze");
  double t2 = bench_now();
  size_t rss_trained = bench_peak_rss();
  bench_check(cohort_trainee_save(t, model_path), "trainee_save");

  cohort_synth_options so = COHORT_SYNTH_OPTIONS_INIT;
  so.rows = rows ? rows : cohort_table_rows(train);
  so.seed = seed;
  so.threads = threads;
  cohort_table *synth = NULL;
  double t3 = bench_now();
  bench_check(cohort_synthesize(t, &so, &synth), "synthesize");
  double t4 = bench_now();
  bench_check(cohort_table_write_csv(synth, synth_path), "write synthetic csv");

  cohort_table *test = bench_read_csv(test_path);
  cohort_eval_options eo = COHORT_EVAL_OPTIONS_INIT;
  eo.target = "income";
  eo.seed = seed;
  eo.threads = threads;
  cohort_eval *ev = NULL;
  double t5 = bench_now();
  bench_check(cohort_evaluate(schema, train, synth, test, &eo, &ev), "evaluate");
  double t6 = bench_now();
  char *json = NULL;
  if (cohort_eval_to_json(ev, &json) == COHORT_OK) {
    FILE *f = fopen(eval_path, "w");
    if (f) {
      fputs(json, f);
      fclose(f);
    }
    cohort_free(json);
  }
  /* The faster gate (nearest-neighbour rule only), for comparison: time, quality, privacy. */
  cohort_synth_options lo = so;
  lo.privacy = COHORT_PRIVACY_LOCAL;
  cohort_table *synth_local = NULL;
  double t7 = bench_now();
  bench_check(cohort_synthesize(t, &lo, &synth_local), "synthesize (local privacy)");
  double t8 = bench_now();
  cohort_eval_options eol = eo;
  eol.target = NULL;
  cohort_eval *evl = NULL;
  bench_check(cohort_evaluate(schema, train, synth_local, test, &eol, &evl), "evaluate (local privacy)");
  size_t rss_end = bench_peak_rss();

  printf("{\"rows\": %zu, \"synthetic_rows\": %zu, \"threads\": %zu, \"seed\": %llu,\n",
         cohort_table_rows(train), cohort_table_rows(synth), threads, (unsigned long long)seed);
  printf(" \"load_train_seconds\": %.3f, \"analyze_seconds\": %.3f, \"synthesize_seconds\": %.3f, "
         "\"evaluate_seconds\": %.3f, \"synthesize_local_seconds\": %.3f,\n",
         t1 - t0, t2 - t1, t4 - t3, t6 - t5, t8 - t7);
  struct {
    const char *name;
    double v;
  } sc[] = {
      {"quality", cohort_eval_quality(ev)},
      {"quality_all_pairs", cohort_eval_quality_all_pairs(ev)},
      {"column_shapes", cohort_eval_column_shapes(ev)},
      {"pair_trends", cohort_eval_pair_trends(ev)},
      {"dcr_baseline", cohort_eval_dcr_baseline(ev)},
      {"dcr_overfitting", cohort_eval_dcr_overfitting(ev)},
      {"tstr", cohort_eval_tstr(ev)},
      {"trtr", cohort_eval_trtr(ev)},
      {"quality_local", cohort_eval_quality(evl)},
      {"dcr_overfitting_local", cohort_eval_dcr_overfitting(evl)},
  };
  printf(" ");
  for (size_t i = 0; i < sizeof sc / sizeof sc[0]; i++) {
    printf("\"%s\": ", sc[i].name);
    bench_json_num(stdout, sc[i].v);
    printf(", ");
  }
  printf("\"identical\": %zu,\n", cohort_eval_identical(ev));
  printf(" \"csv_bytes\": %zu, \"model_file_bytes\": %zu, \"rss_start_bytes\": %zu, "
         "\"peak_rss_trained_bytes\": %zu, "
         "\"peak_rss_end_bytes\": %zu}\n",
         bench_file_size(train_path), bench_file_size(model_path), rss_start, rss_trained, rss_end);

  cohort_eval_free(ev);
  cohort_eval_free(evl);
  cohort_table_free(synth_local);
  cohort_table_free(test);
  cohort_table_free(synth);
  cohort_trainee_free(t);
  cohort_schema_free(schema);
  cohort_table_free(train);
  free(train_path);
  free(test_path);
  free(model_path);
  free(synth_path);
  free(eval_path);
  return 0;
}
