/* `cohort local <verb>`: the engine on local files, no server. Verbs live in local_*.c; shared
 * pieces (reading CSV, loading/saving trainees, schema overrides and tables, analyze options) in
 * local.c. */
#ifndef COHORT_CLI_LOCAL_H
#define COHORT_CLI_LOCAL_H

#include "cli_util.h"

/* Entry point: argv[0] = "local". */
int cli_local_main(int argc, char **argv);

/* Verbs: argv[0] = verb name. */
int local_train(int argc, char **argv);
int local_schema(int argc, char **argv);
int local_analyze(int argc, char **argv);
int local_train_more(int argc, char **argv);
int local_remove(int argc, char **argv);
int local_edit(int argc, char **argv);
int local_info(int argc, char **argv);
int local_predict(int argc, char **argv);
int local_importance(int argc, char **argv);
int local_anomalies(int argc, char **argv);
int local_impute(int argc, char **argv);
int local_synthesize(int argc, char **argv);
int local_evaluate(int argc, char **argv);

/* ---------------------------------------------------------------- CSV input options
 * Verbs reading CSV list LOCAL_CSV_OPTS in their option table and pass the ids to local_csv_opt. */
enum { LO_NA = 900, LO_DELIMITER };
#define LOCAL_CSV_OPTS                                                                                       \
  {LO_NA, "na", 0, "TOKEN",                                                                                  \
   "treat TOKEN as missing (repeatable; replaces the defaults NA, N/A, ?, null, NULL, NaN)"},                \
  {                                                                                                          \
    LO_DELIMITER, "delimiter", 0, "CHAR", "field separator of the CSV input (default ',')"                   \
  }

typedef struct local_csv {
  cli_list na;
  char delimiter;
} local_csv;

/* Handles LO_* ids: returns 1 if consumed, 0 if not a CSV option, -1 on a usage error. */
int local_csv_opt(local_csv *c, const cli_args *a, int id, const char *val);
void local_csv_free(local_csv *c);
/* Reads a CSV file; prints "cohort: read PATH: ..." and returns CLI_ERR on failure. */
int local_read(const local_csv *c, const char *path, cohort_table **out);

/* Trainee files. */
int local_load(const char *path, cohort_trainee **out);
int local_save(const cohort_trainee *t, const char *path);

/* ---------------------------------------------------------------- schema overrides */
enum { LO_TYPE = 910, LO_ORDER, LO_IGNORE };
#define LOCAL_SCHEMA_OPTS                                                                                    \
  {LO_TYPE, "type", 0, "NAME=TYPE",                                                                          \
   "set a feature's type: nominal, continuous, ordinal, datetime, boolean"},                                 \
      {LO_ORDER, "order", 0, "NAME=A,B,C", "make NAME ordinal with levels in this order (all levels)"}, {    \
    LO_IGNORE, "ignore", 0, "NAME[,NAME]", "do not use these columns as features (repeatable)"               \
  }

typedef struct local_schema_opts {
  cli_list types, orders, ignores;
} local_schema_opts;

/* Handles LO_TYPE/ORDER/IGNORE: 1 consumed, 0 not mine, -1 usage error. */
int local_schema_opt(local_schema_opts *o, const cli_args *a, int id, const char *val);
void local_schema_opts_free(local_schema_opts *o);
/* Applies overrides to a schema inferred from t; prints the error and returns CLI_ERR on failure. */
int local_schema_apply(cohort_schema *s, const cohort_table *t, const local_schema_opts *o);

/* Fails with "unknown <role> feature 'name' (features: ...)" unless name is a feature of s. */
int local_need_feature(const cohort_schema *s, const char *name, const char *role);
/* Splits "NAME=VALUE" where NAME must be a feature of s (values may contain '='); *name is
 * malloc'd, *value points into arg. Prints the error and returns CLI_ERR on failure. */
int local_split_assign(const cohort_schema *s, const char *arg, const char *role, char **name,
                       const char **value);

/* Schema as a table on stdout; t (optional) adds a missing-count column, tr (optional, analyzed)
 * adds deviation and weight. */
void local_schema_print(const cohort_schema *s, const cohort_table *t, const cohort_trainee *tr);
/* cohort_schema_to_json parsed into a jansson value (NULL + message on failure). */
json_t *local_schema_json(const cohort_schema *s);
/* "3: a, b, c" or "32.1 .. 59.6" for one feature. */
void local_feature_range(const cohort_schema *s, size_t i, char *buf, size_t cap);

/* ---------------------------------------------------------------- analyze options (train, analyze) */
enum { LO_TARGET = 920, LO_K, LO_P, LO_SAMPLE, LO_SEED };
#define LOCAL_ANALYZE_OPTS                                                                                   \
  {LO_K, "k", 0, "K,K,..", "neighbour counts to try (default 3,5,8,13,20,30)"},                              \
      {LO_P, "p", 0, "P,P,..", "Minkowski exponents to try (default 0.5,1,2)"},                              \
      {LO_SAMPLE, "sample", 0, "N", "cases used for leave-one-out (default min(cases, 2000))"}, {            \
    LO_SEED, "seed", 0, "N", "random seed (default 1)"                                                       \
  }

typedef struct local_analyze_opts {
  cli_list targets;
  size_t *k;
  size_t nk;
  double *p;
  size_t np;
  size_t sample;
  uint64_t seed;
} local_analyze_opts;

void local_analyze_init(local_analyze_opts *o);
/* Handles LO_TARGET/K/P/SAMPLE/SEED: 1 consumed, 0 not mine, -1 usage error. */
int local_analyze_opt(local_analyze_opts *o, const cli_args *a, int id, const char *val);
void local_analyze_free(local_analyze_opts *o);
/* Checks targets, runs analyze with progress; prints the error and returns CLI_ERR on failure. */
int local_run_analyze(cohort_trainee *t, const local_analyze_opts *o);
/* Chosen k and p per target (or targetless) and per-feature deviation and weights. */
void local_params_print(const cohort_trainee *t, const cli_list *targets);
json_t *local_params_json(const cohort_trainee *t, const cli_list *targets);

/* Output for table-producing verbs: CSV to a file or stdout. */
int local_write_table(const cohort_table *t, const char *path);
/* Rows of a table as a JSON array of objects keyed by column name (missing = null). */
json_t *local_table_json(const cohort_table *t);

#endif /* COHORT_CLI_LOCAL_H */
