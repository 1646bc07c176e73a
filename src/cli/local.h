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
 * Verbs reading CSV list LOCAL_CSV_OPTS(&csv) in their option table. */
typedef struct local_csv {
  cli_list na;
  char delimiter;
} local_csv;

int local_take_delimiter(const cli_args *a, const char *val, void *delimiter);
#define LOCAL_CSV_OPTS(c)                                                                                    \
  CLI_OPT("na", 0, "TOKEN",                                                                                  \
          "treat TOKEN as missing (repeatable; replaces the defaults NA, N/A, ?, null, NULL, NaN)",          \
          CLI_EACH, &(c)->na),                                                                               \
      CLI_OPT("delimiter", 0, "CHAR", "field separator of the CSV input (default ',')", CLI_CALL,            \
              &(c)->delimiter, .fn = local_take_delimiter)

void local_csv_free(local_csv *c);
/* Reads a CSV file; prints "cohort: read PATH: ..." and returns CLI_ERR on failure. */
int local_read(const local_csv *c, const char *path, cohort_table **out);

/* Trainee files. */
int local_load(const char *path, cohort_trainee **out);
int local_save(const cohort_trainee *t, const char *path);

/* ---------------------------------------------------------------- schema overrides */
typedef struct local_schema_opts {
  cli_list types, orders, ignores;
} local_schema_opts;

int local_take_type(const cli_args *a, const char *val, void *types);
int local_take_order(const cli_args *a, const char *val, void *orders);
#define LOCAL_SCHEMA_OPTS(o)                                                                                 \
  CLI_OPT("type", 0, "NAME=TYPE", "set a feature's type: nominal, continuous, ordinal, datetime, boolean",   \
          CLI_CALL, &(o)->types, .fn = local_take_type),                                                     \
      CLI_OPT("order", 0, "NAME=A,B,C", "make NAME ordinal with levels in this order (all levels)",          \
              CLI_CALL, &(o)->orders, .fn = local_take_order),                                               \
      CLI_OPT("ignore", 0, "NAME[,NAME]", "do not use these columns as features (repeatable)", CLI_LIST,     \
              &(o)->ignores)

void local_schema_opts_free(local_schema_opts *o);
/* Applies overrides to a schema inferred from t; prints the error and returns CLI_ERR on failure. */
int local_schema_apply(cohort_schema *s, const cohort_table *t, const local_schema_opts *o);
/* The schema of t (read from path) inferred with the overrides applied into *out (freed by the
 * caller, also after a failure); prints the error and returns CLI_ERR on failure. */
int local_infer_schema(const cohort_table *t, const char *path, const local_schema_opts *o,
                       cohort_schema **out);

/* An option's "NAME=VALUE" (--set, --fix) added whole to a cli_list; the name is checked later. */
int local_take_assign(const cli_args *a, const char *val, void *list);
/* Fails with "unknown <role> feature 'name' (features: ...)" unless name is a feature of s. */
int local_need_feature(const cohort_schema *s, const char *name, const char *role);
/* Splits "NAME=VALUE" where NAME must be a feature of s (values may contain '='); *name is
 * malloc'd, *value points into arg. Prints the error and returns CLI_ERR on failure. */
int local_split_assign(const cohort_schema *s, const char *arg, const char *role, char **name,
                       const char **value);

/* Schema as a table on stdout; t (optional) adds a missing-count column, tr (optional, analyzed)
 * adds deviation. */
void local_schema_print(const cohort_schema *s, const cohort_table *t, const cohort_trainee *tr);
/* cohort_schema_to_json parsed into a jansson value (NULL + message on failure). */
json_t *local_schema_json(const cohort_schema *s);
/* "3: a, b, c" or "32.1 .. 59.6" for one feature. */
void local_feature_range(const cohort_schema *s, size_t i, char *buf, size_t cap);

/* ---------------------------------------------------------------- analyze options (train, analyze) */
typedef struct local_analyze_opts {
  cli_list targets;
  cli_sizes k;
  cli_doubles p;
  size_t sample;
  uint64_t seed;
} local_analyze_opts;

#define LOCAL_ANALYZE_OPTS(o)                                                                                \
  CLI_OPT("k", 0, "K,K,..", "neighbour counts to try (default 3,5,8,13,20,30)", CLI_SIZES, &(o)->k,          \
          CLI_NOT_BELOW(1, "k must be at least 1")),                                                         \
      CLI_OPT("p", 0, "P,P,..", "Minkowski exponents to try (default 0.5,1,2)", CLI_DOUBLES, &(o)->p,        \
              CLI_ABOVE(0, "p must be greater than 0")),                                                     \
      CLI_OPT("sample", 0, "N", "cases used for leave-one-out (default min(cases, 2000))", CLI_SIZE,         \
              &(o)->sample),                                                                                 \
      CLI_OPT("seed", 0, "N", "random seed (default 1)", CLI_U64, &(o)->seed)

void local_analyze_init(local_analyze_opts *o);
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
