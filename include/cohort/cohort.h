/*
 * libcohort: an instance-based engine for tabular data.
 *
 * A trainee keeps its training cases plus learned per-feature deviations and weights, and answers
 * every question about them without retraining: predict any features from any others with
 * uncertainty and explanations, score anomalies, impute, and synthesize privacy-safe rows.
 *
 * Conventions (after libuv and SQLite):
 *  - every handle is opaque and has a create/free pair; free functions accept NULL;
 *  - every fallible call returns a cohort_status; on failure cohort_errmsg() returns a message for
 *    the calling thread that names what went wrong and where (line, column, feature...);
 *  - out-parameters are written only on success;
 *  - strings returned by accessors are owned by the handle and live as long as it does;
 *  - every buffer a call hands to the caller (char **out, void **out) is freed with cohort_free();
 *  - an array the library fills comes with its length n; an n too small for what the call writes is
 *    COHORT_EINVAL, and cohort_errfield() names "n".
 *
 * Options structs grow without breaking callers (the size-stamped structs of Linux's clone3 and
 * openat2; SQLite's sqlite3_vfs carries iVersion for the same reason):
 *  - the first member of every cohort_*_options is `size_t size`, the sizeof the struct as the
 *    caller's header declares it. Set it with the struct's initialiser, then fill members:
 *        cohort_synth_options o = COHORT_SYNTH_OPTIONS_INIT;
 *        o.rows = 1000;
 *    or by hand: {.size = sizeof(cohort_synth_options), .rows = 1000};
 *  - members are only ever added at the end, and 0 always means the default. The library reads
 *    the members that fit in size and gives the others their default, so a program built against
 *    an older header keeps working with a newer library;
 *  - a size larger than the library's own struct is accepted when the members it does not know
 *    are all zero (left at their defaults); otherwise the call fails with COHORT_EINVAL rather
 *    than silently ignore what a newer program asked for;
 *  - size 0 (a struct not initialised) or larger than 4096 is COHORT_EINVAL, field "size";
 *  - a NULL options pointer means every default, where the call has no required option;
 *  - structs the library fills (cohort_eval_summary, _column, _pair) are stamped the same way by
 *    the caller, and the library writes only the members that fit in their size.
 * Maintainers: a new member starts at or past the struct's previous sizeof (no reuse of padding).
 */
#ifndef COHORT_COHORT_H
#define COHORT_COHORT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define COHORT_API __attribute__((visibility("default")))
#else
#define COHORT_API
#endif

#define COHORT_VERSION_MAJOR 0
#define COHORT_VERSION_MINOR 1
#define COHORT_VERSION_PATCH 0
#define COHORT_VERSION_STRING "0.1.0"

/* ---------------------------------------------------------------- status */

#define COHORT_STATUS_MAP(X)                                                                                 \
  X(OK, 0, "ok")                                                                                             \
  X(ENOMEM, -1, "out of memory")                                                                             \
  X(EINVAL, -2, "invalid argument")                                                                          \
  X(EIO, -3, "input/output error")                                                                           \
  X(EFORMAT, -4, "malformed input")                                                                          \
  X(ECORRUPT, -5, "corrupt or foreign file")                                                                 \
  X(ENOTFOUND, -6, "not found")                                                                              \
  X(ECANCELLED, -7, "cancelled")                                                                             \
  X(ELIMIT, -8, "limit exceeded")                                                                            \
  X(ESTATE, -9, "operation not valid in this state")                                                         \
  X(EUNAVAIL, -10, "a service it needs is unavailable; try again")                                           \
  X(ENOSPACE, -11, "no space left on the storage")

typedef enum cohort_status {
#define COHORT_STATUS_ENUM_(name, code, text) COHORT_##name = (code),
  COHORT_STATUS_MAP(COHORT_STATUS_ENUM_)
#undef COHORT_STATUS_ENUM_
} cohort_status;

/* Static description of a status code, e.g. "malformed input". */
COHORT_API const char *cohort_strerror(cohort_status status);
/* The message of the calling thread's last failed call, with context; "" if none. */
COHORT_API const char *cohort_errmsg(void);
/* Which input of the calling thread's last failed call was at fault, by the name of its option
 * ("targets", "contexts", "rows"), as sqlite3_error_offset points into SQL; "" if none is known. */
COHORT_API const char *cohort_errfield(void);
COHORT_API const char *cohort_version(void);
/* Frees a buffer a call handed to the caller: cohort_table_to_csv, cohort_schema_to_json,
 * cohort_eval_to_json, cohort_trainee_serialize. NULL is a no-op. */
COHORT_API void cohort_free(void *p);

/* Progress callback for long operations: fraction in [0,1]. Return non-zero to cancel; the
 * operation then stops soon and returns COHORT_ECANCELLED. */
typedef int (*cohort_progress_fn)(void *user, const char *stage, double fraction);

/* ---------------------------------------------------------------- tables */

/* A table of text cells as read from CSV: the form data enters and leaves the engine in, so that
 * output looks like input. A NULL cell is a missing value. */
typedef struct cohort_table cohort_table;

typedef struct cohort_csv_options {
  size_t size;                  /* sizeof(cohort_csv_options): COHORT_CSV_OPTIONS_INIT */
  char delimiter;               /* 0 = ',' */
  const char *const *na_tokens; /* cells equal to one of these (after trimming spaces) are missing;
                                  NULL = {"", "NA", "N/A", "?", "null", "NULL", "NaN"} */
  size_t n_na_tokens;
  size_t max_rows;        /* 0 = no limit; more rows is COHORT_ELIMIT */
  size_t max_field_bytes; /* 0 = 1 MiB */
  /* Shape limits, checked as the input streams so a hostile file stops at the first record that
   * breaks one (COHORT_ELIMIT, the message names the option). Added last: zeroed = no limit. */
  size_t max_columns; /* 0 = no limit; columns in the header */
  size_t max_cells;   /* 0 = no limit; rows x columns */
  /* A window of rows, for previews: the first skip_rows data rows are checked but not kept, and
   * reading stops quietly after read_rows kept rows (0 = to the end). */
  size_t skip_rows;
  size_t read_rows;
} cohort_csv_options;
#define COHORT_CSV_OPTIONS_INIT                                                                              \
  { .size = sizeof(cohort_csv_options) }

COHORT_API cohort_status cohort_table_create(cohort_table **out, size_t ncols, const char *const *names);
COHORT_API cohort_status cohort_table_read_csv(cohort_table **out, const char *path,
                                               const cohort_csv_options *opt);
COHORT_API cohort_status cohort_table_parse_csv(cohort_table **out, const char *buf, size_t len,
                                                const cohort_csv_options *opt);
/* Reads CSV from any source (an object store, a socket): read fills buf with up to cap bytes and
 * sets *got (0 at the end). A status other than COHORT_OK from read ends the parse with that status
 * (cohort_errmsg() keeps the message of a failed cohort call made by read). Reading stops as soon
 * as opt's read_rows window is full, so a preview reads only what it keeps. */
typedef cohort_status (*cohort_read_fn)(void *ctx, char *buf, size_t cap, size_t *got);
COHORT_API cohort_status cohort_table_read_csv_stream(cohort_table **out, cohort_read_fn read, void *ctx,
                                                      const cohort_csv_options *opt);
COHORT_API cohort_status cohort_table_write_csv(const cohort_table *t, const char *path);
/* Writes CSV into a NUL-terminated buffer owned by the caller (cohort_free). */
COHORT_API cohort_status cohort_table_to_csv(const cohort_table *t, char **out, size_t *len);
COHORT_API void cohort_table_free(cohort_table *t);

COHORT_API size_t cohort_table_rows(const cohort_table *t);
COHORT_API size_t cohort_table_cols(const cohort_table *t);
COHORT_API const char *cohort_table_colname(const cohort_table *t, size_t col);
/* Column index of a name, or -1. */
COHORT_API long cohort_table_find(const cohort_table *t, const char *name);
COHORT_API const char *cohort_table_cell(const cohort_table *t, size_t row, size_t col);
/* Appends a row of ncols cells (copied; NULL = missing). */
COHORT_API cohort_status cohort_table_append(cohort_table *t, const char *const *cells);
COHORT_API cohort_status cohort_table_set(cohort_table *t, size_t row, size_t col, const char *cell);

/* ---------------------------------------------------------------- schema */

typedef enum cohort_ftype {
  COHORT_CONTINUOUS = 0, /* numbers; decimals and bounds kept for output */
  COHORT_NOMINAL = 1,    /* unordered categories (strings) */
  COHORT_ORDINAL = 2,    /* ordered categories; distance on rank */
  COHORT_DATETIME = 3,   /* ISO 8601 date or date-time; distance in seconds */
  COHORT_BOOLEAN = 4     /* two values such as true/false, yes/no, 0/1 */
} cohort_ftype;

COHORT_API const char *cohort_ftype_name(cohort_ftype type);
/* Parses "continuous", "nominal", ...; returns -1 if unknown. */
COHORT_API int cohort_ftype_parse(const char *name);

typedef struct cohort_schema cohort_schema;

/* Infers a type per column from the cells. Columns whose values are all distinct strings or a
 * running integer sequence are flagged id-like and ignored as features. */
COHORT_API cohort_status cohort_schema_infer(cohort_schema **out, const cohort_table *t);
COHORT_API cohort_status cohort_schema_copy(cohort_schema **out, const cohort_schema *s);
COHORT_API void cohort_schema_free(cohort_schema *s);

COHORT_API size_t cohort_schema_features(const cohort_schema *s);
COHORT_API const char *cohort_schema_name(const cohort_schema *s, size_t i);
COHORT_API long cohort_schema_find(const cohort_schema *s, const char *name);
/* The feature name nearest to name (a typo: a few letters added, missing, changed or swapped; case
 * ignored), or NULL when none is close. Owned by the schema. */
COHORT_API const char *cohort_schema_nearest(const cohort_schema *s, const char *name);
COHORT_API cohort_ftype cohort_schema_type(const cohort_schema *s, size_t i);
COHORT_API int cohort_schema_is_id(const cohort_schema *s, size_t i);
COHORT_API int cohort_schema_is_ignored(const cohort_schema *s, size_t i);
/* Number of known categories of a nominal/ordinal/boolean feature, and the i-th (in order). */
COHORT_API size_t cohort_schema_levels(const cohort_schema *s, size_t i);
COHORT_API const char *cohort_schema_level(const cohort_schema *s, size_t i, size_t level);
/* Observed bounds of a continuous, ordinal (as rank) or datetime (epoch seconds) feature. */
COHORT_API void cohort_schema_bounds(const cohort_schema *s, size_t i, double *min, double *max);
COHORT_API int cohort_schema_decimals(const cohort_schema *s, size_t i);

/* Overrides, applied to an inferred schema before a trainee is created from it. Changing a type
 * re-derives the feature from the table it was inferred from, so the table is needed again. */
COHORT_API cohort_status cohort_schema_set_type(cohort_schema *s, const cohort_table *t, const char *name,
                                                cohort_ftype type);
/* Fixes the order of an ordinal feature (all observed values must be listed). */
COHORT_API cohort_status cohort_schema_set_order(cohort_schema *s, const char *name,
                                                 const char *const *levels, size_t n);
COHORT_API cohort_status cohort_schema_set_ignored(cohort_schema *s, const char *name, int ignored);
/* JSON description of the schema (the caller frees it with cohort_free). */
COHORT_API cohort_status cohort_schema_to_json(const cohort_schema *s, char **out);

/* ---------------------------------------------------------------- trainee */

typedef struct cohort_trainee cohort_trainee;

COHORT_API cohort_status cohort_trainee_create(cohort_trainee **out, const cohort_schema *schema);
COHORT_API void cohort_trainee_free(cohort_trainee *t);
COHORT_API const cohort_schema *cohort_trainee_schema(const cohort_trainee *t);
COHORT_API size_t cohort_trainee_cases(const cohort_trainee *t);

/* Adds the rows of a table as cases (columns matched by name; missing columns are missing values).
 * weights: one per row, or NULL for 1. New categories extend the schema. */
COHORT_API cohort_status cohort_trainee_train(cohort_trainee *t, const cohort_table *rows,
                                              const double *weights);
COHORT_API cohort_status cohort_trainee_remove_cases(cohort_trainee *t, const size_t *cases, size_t n);
COHORT_API cohort_status cohort_trainee_edit_case(cohort_trainee *t, size_t case_index, const char *feature,
                                                  const char *value);
COHORT_API cohort_status cohort_trainee_set_weight(cohort_trainee *t, size_t case_index, double weight);
/* A case as text, one cell per schema feature (NULL = missing), into cells[nfeatures]; the
 * strings are valid until the next call on the trainee. */
COHORT_API cohort_status cohort_trainee_case(cohort_trainee *t, size_t case_index, const char **cells);

/* Largest k (neighbours) any search, analyze grid or synthesis may ask for. */
#define COHORT_K_MAX 1000
/* Most values in one analyze grid (k_values, p_values). */
#define COHORT_GRID_MAX 64

typedef struct cohort_analyze_options {
  size_t size;                /* sizeof(cohort_analyze_options): COHORT_ANALYZE_OPTIONS_INIT */
  const char *const *targets; /* NULL/0 = targetless: every feature predicted from the others */
  size_t n_targets;
  const size_t *k_values; /* NULL = {3,5,8,13,20,30,50} */
  size_t n_k;
  const double *p_values; /* NULL = {0.5,1,2} */
  size_t n_p;
  size_t sample; /* cases used for leave-one-out; 0 = min(cases, 1000) */
  uint64_t seed;
  size_t threads; /* 0 = all cores */
  cohort_progress_fn progress;
  void *progress_user;
} cohort_analyze_options;
#define COHORT_ANALYZE_OPTIONS_INIT                                                                          \
  { .size = sizeof(cohort_analyze_options) }

COHORT_API cohort_status cohort_trainee_analyze(cohort_trainee *t, const cohort_analyze_options *opt);
COHORT_API int cohort_trainee_is_analyzed(const cohort_trainee *t);
/* Builds the search structures that reads otherwise build on first use. After it, any number of
 * threads may read the trainee at once (react, anomalies, importance, synthesize) as long as no
 * thread changes it. */
COHORT_API cohort_status cohort_trainee_prepare(cohort_trainee *t);
/* Learned parameters: k and p in use for a target (NULL = targetless), deviation and weight of a feature. */
COHORT_API cohort_status cohort_trainee_params(const cohort_trainee *t, const char *target, size_t *k,
                                               double *p);
COHORT_API double cohort_trainee_deviation(const cohort_trainee *t, size_t feature);
COHORT_API double cohort_trainee_feature_weight(const cohort_trainee *t, const char *target, size_t feature);

/* ---------------------------------------------------------------- react (predict) */

enum {
  COHORT_DETAIL_CASES = 1u << 0,        /* influential cases with weights */
  COHORT_DETAIL_CONTRIBUTIONS = 1u << 1 /* per-context-feature contribution to each prediction */
};

typedef struct cohort_react_options {
  size_t size;                /* sizeof(cohort_react_options): COHORT_REACT_OPTIONS_INIT */
  const char *const *targets; /* features to predict */
  size_t n_targets;
  const char *const *contexts; /* NULL = every trainee feature present in the input table but the targets */
  size_t n_contexts;
  unsigned details; /* COHORT_DETAIL_* */
  size_t threads;   /* 0 = all cores */
  /* Nonzero: a column of rows that names no trainee feature is an error (COHORT_EINVAL,
   * cohort_errfield() "rows", the message names the nearest feature), not silently unused. */
  int reject_unknown_columns;
} cohort_react_options;
#define COHORT_REACT_OPTIONS_INIT                                                                            \
  { .size = sizeof(cohort_react_options) }

typedef struct cohort_reaction cohort_reaction;

COHORT_API cohort_status cohort_react(cohort_trainee *t, const cohort_table *rows,
                                      const cohort_react_options *opt, cohort_reaction **out);
COHORT_API void cohort_reaction_free(cohort_reaction *r);
COHORT_API size_t cohort_reaction_rows(const cohort_reaction *r);
COHORT_API size_t cohort_reaction_targets(const cohort_reaction *r);
COHORT_API const char *cohort_reaction_target(const cohort_reaction *r, size_t target);
/* Predicted value as text, formatted like the training data. */
COHORT_API const char *cohort_reaction_value(const cohort_reaction *r, size_t row, size_t target);
/* Numeric prediction (continuous/datetime/ordinal rank) or class code. */
COHORT_API double cohort_reaction_number(const cohort_reaction *r, size_t row, size_t target);
/* Continuous: expected absolute error; categorical: 1 - probability of the predicted class. */
COHORT_API double cohort_reaction_uncertainty(const cohort_reaction *r, size_t row, size_t target);
/* Categorical targets: class probabilities over the feature's levels. */
COHORT_API size_t cohort_reaction_classes(const cohort_reaction *r, size_t target);
COHORT_API const char *cohort_reaction_class(const cohort_reaction *r, size_t target, size_t cls);
COHORT_API double cohort_reaction_probability(const cohort_reaction *r, size_t row, size_t target,
                                              size_t cls);
/* Categories of a row's context features that the trainee never saw: they match no case, so that
 * context did not inform the prediction. k < cohort_reaction_unknowns(r, row). */
COHORT_API size_t cohort_reaction_unknowns(const cohort_reaction *r, size_t row);
COHORT_API void cohort_reaction_unknown(const cohort_reaction *r, size_t row, size_t k, const char **feature,
                                        const char **value);
/* COHORT_DETAIL_CASES: influential cases of a row (index into the trainee's cases, weight). */
COHORT_API size_t cohort_reaction_cases(const cohort_reaction *r, size_t row);
COHORT_API void cohort_reaction_case(const cohort_reaction *r, size_t row, size_t i, size_t *case_index,
                                     double *weight);
/* COHORT_DETAIL_CONTRIBUTIONS: context features and their contribution to a row's prediction. */
COHORT_API size_t cohort_reaction_contexts(const cohort_reaction *r);
COHORT_API const char *cohort_reaction_context(const cohort_reaction *r, size_t ctx);
COHORT_API double cohort_reaction_contribution(const cohort_reaction *r, size_t row, size_t target,
                                               size_t ctx);

/* Importance of each feature for predicting target over the trainee's cases (leave-one-out,
 * mean change in error when the feature is dropped from the context), into out[0..nfeatures);
 * n is out's length and must be at least cohort_schema_features(). The target's own entry and
 * ignored features are 0. */
COHORT_API cohort_status cohort_feature_importance(cohort_trainee *t, const char *target, size_t sample,
                                                   uint64_t seed, double *out, size_t n);

/* ---------------------------------------------------------------- anomalies, impute */

/* Scores rows (or, with rows == NULL, the trainee's own cases, each left out of its own search):
 * distance_contribution[i] = mean distance to the k nearest cases; conviction[i] = expected
 * distance contribution / distance contribution (below 1 = more surprising than usual).
 * n is the length of each array (conviction may be NULL) and must be at least the number of rows
 * (or cases) scored. */
COHORT_API cohort_status cohort_anomalies(cohort_trainee *t, const cohort_table *rows,
                                          double *distance_contribution, double *conviction, size_t n);
/* Fills missing cells of rows in place from the other features; *filled = number of cells set. */
COHORT_API cohort_status cohort_impute(cohort_trainee *t, cohort_table *rows, size_t *filled);
/* Fills missing values of the trainee's own cases. */
COHORT_API cohort_status cohort_trainee_impute(cohort_trainee *t, size_t *filled);

/* ---------------------------------------------------------------- synthesize */

/* How strictly synthesize keeps rows away from the trainee's cases (see synth.c for the method). */
typedef enum cohort_privacy {
  COHORT_PRIVACY_REFERENCE = 0, /* default: no copies, no row closer to its nearest case than that case's
                                   own neighbour or much closer to it than to the next cases, and no
                                   row closer to the cases than to the model's own draws; several
                                   times slower than LOCAL */
  COHORT_PRIVACY_LOCAL = 1,     /* all but the last rule */
  COHORT_PRIVACY_OFF = 2        /* no gate at all: rows may copy cases */
} cohort_privacy;

typedef struct cohort_synth_options {
  size_t size; /* sizeof(cohort_synth_options): COHORT_SYNTH_OPTIONS_INIT */
  size_t rows;
  uint64_t seed;
  double conviction;              /* noise divisor: larger = closer to the data; 0 = default (2) */
  size_t k;                       /* neighbours mixed; 0 = default */
  cohort_privacy privacy;         /* 0 = COHORT_PRIVACY_REFERENCE */
  const char *const *fixed_names; /* conditional generation: these features take these values */
  const char *const *fixed_values;
  size_t n_fixed;
  size_t threads;
  cohort_progress_fn progress;
  void *progress_user;
} cohort_synth_options;
#define COHORT_SYNTH_OPTIONS_INIT                                                                            \
  { .size = sizeof(cohort_synth_options) }

COHORT_API cohort_status cohort_synthesize(cohort_trainee *t, const cohort_synth_options *opt,
                                           cohort_table **out);

/* ---------------------------------------------------------------- evaluate */

typedef struct cohort_eval cohort_eval;

typedef struct cohort_eval_options {
  size_t size;        /* sizeof(cohort_eval_options): COHORT_EVAL_OPTIONS_INIT */
  const char *target; /* train-on-synthetic / test-on-real target; NULL = skip */
  size_t max_rows;    /* rows sampled per table for DCR; 0 = all */
  uint64_t seed;
  size_t threads;
  cohort_progress_fn progress;
  void *progress_user;
  /* Copies (synthetic rows equal by value to a training row, as SDMetrics' NewRowSynthesis
   * matches them) are split by how many training rows share the copied row: fewer than copy_k
   * = a rare copy (a privacy risk), else a common copy (allowed). 0 = 5. */
  size_t copy_k;
  double copy_tolerance; /* numbers match within this fraction of the synthetic value;
                            0 = 0.01 (SDMetrics' default), < 0 = exactly */
} cohort_eval_options;
#define COHORT_EVAL_OPTIONS_INIT                                                                             \
  { .size = sizeof(cohort_eval_options) }

/* Compares synthetic rows with real ones (schema describes both; holdout may be NULL). */
COHORT_API cohort_status cohort_evaluate(const cohort_schema *schema, const cohort_table *real,
                                         const cohort_table *synthetic, const cohort_table *holdout,
                                         const cohort_eval_options *opt, cohort_eval **out);
COHORT_API void cohort_eval_free(cohort_eval *e);
/* Headline scores; NaN where not computed. */
COHORT_API double cohort_eval_quality(const cohort_eval *e); /* SDMetrics QualityReport, current pair rule */
COHORT_API double cohort_eval_quality_all_pairs(const cohort_eval *e);
COHORT_API double cohort_eval_column_shapes(const cohort_eval *e);
COHORT_API double cohort_eval_pair_trends(const cohort_eval *e);
COHORT_API double cohort_eval_dcr_baseline(const cohort_eval *e);
COHORT_API double cohort_eval_dcr_overfitting(const cohort_eval *e);
/* Synthetic rows equal by value to some training row: all, rare copies, common copies. */
COHORT_API size_t cohort_eval_identical(const cohort_eval *e);
COHORT_API size_t cohort_eval_identical_rare(const cohort_eval *e);
COHORT_API size_t cohort_eval_identical_common(const cohort_eval *e);
COHORT_API double cohort_eval_tstr(const cohort_eval *e); /* train on synthetic, test on holdout */
COHORT_API double cohort_eval_trtr(const cohort_eval *e); /* train on real, test on holdout */
/* The same two with gradient boosting as the learner (scikit-learn's HistGradientBoosting defaults),
 * which learns the fine structure that the engine's own k-NN judge cannot use. */
COHORT_API double cohort_eval_tstr_gbm(const cohort_eval *e);
COHORT_API double cohort_eval_trtr_gbm(const cohort_eval *e);
/* Full report as JSON (the caller frees it with cohort_free). */
COHORT_API cohort_status cohort_eval_to_json(const cohort_eval *e, char **out);

/* The whole evaluation, exactly, for programs that draw their own report. These structs are
 * filled by the library and size-stamped like the options: set size (the *_INIT initialiser)
 * and the library writes only the members that fit in it. Pointers live as long as the
 * evaluation. NaN marks a number not computed. */
typedef struct cohort_eval_summary {
  size_t size; /* sizeof(cohort_eval_summary): COHORT_EVAL_SUMMARY_INIT */
  size_t real_rows, synthetic_rows, holdout_rows;
  int has_holdout;
  size_t columns, pairs; /* see cohort_eval_column, cohort_eval_pair */
  double quality, quality_all_pairs, column_shapes, pair_trends, pair_trends_all_pairs;
  double correlation_threshold; /* a numeric pair counts when the real |Pearson r| exceeds this */
  double association_threshold; /* ... another pair when the real Cramer's V exceeds this */
  size_t pairs_kept;
  size_t identical, identical_rare, identical_common, copy_k;
  double copy_tolerance;
  size_t dcr_synthetic_rows, dcr_real_rows, dcr_holdout_rows; /* rows measured, after sampling */
  double median_dcr_synthetic, median_dcr_random, dcr_baseline;
  double closer_to_training, median_dcr_holdout, dcr_overfitting;
  const char *target; /* NULL = train-on-synthetic not asked for */
  int target_numeric; /* R^2 rather than accuracy */
  size_t test_rows;
  double tstr, trtr;
  const char *tstr_note;     /* why tstr was not computed, or NULL */
  double tstr_gbm, trtr_gbm; /* the same with gradient boosting as the learner */
  const char *gbm_note;      /* why they were not computed, or NULL */
} cohort_eval_summary;
#define COHORT_EVAL_SUMMARY_INIT                                                                             \
  { .size = sizeof(cohort_eval_summary) }

typedef struct cohort_eval_column {
  size_t size; /* sizeof(cohort_eval_column): COHORT_EVAL_COLUMN_INIT */
  const char *name;
  cohort_ftype type;
  int numeric; /* KSComplement and a histogram, else TVComplement and categories */
  double score;
  const char *error; /* why score is NaN, or NULL */
  size_t unparsed;   /* numeric cells that did not parse (counted as missing) */
  size_t real_rows, synthetic_rows, real_missing, synthetic_missing;
  size_t bins;                    /* histogram bins, or categories listed */
  const double *edges;            /* histogram: bins + 1 edges (epoch seconds when datetime) */
  const char *const *categories;  /* categories: most frequent in the real data first */
  const double *real, *synthetic; /* bins: counts (histogram) or shares of all rows (categories) */
  int has_other;                  /* categories beyond those listed, as shares of all rows: */
  double other_real, other_synthetic;
  int datetime;
} cohort_eval_column;
#define COHORT_EVAL_COLUMN_INIT                                                                              \
  { .size = sizeof(cohort_eval_column) }

typedef struct cohort_eval_pair {
  size_t size;                   /* sizeof(cohort_eval_pair): COHORT_EVAL_PAIR_INIT */
  size_t a, b;                   /* columns, a < b */
  int correlation;               /* CorrelationSimilarity (Pearson r), else ContingencySimilarity (V) */
  double score, real, synthetic; /* the metric, and the association in each table */
  int kept;                      /* counts under the current rule */
  const char *error;
} cohort_eval_pair;
#define COHORT_EVAL_PAIR_INIT                                                                                \
  { .size = sizeof(cohort_eval_pair) }

COHORT_API cohort_status cohort_eval_get_summary(const cohort_eval *e, cohort_eval_summary *out);
/* i < summary.columns; k < summary.pairs. */
COHORT_API cohort_status cohort_eval_get_column(const cohort_eval *e, size_t i, cohort_eval_column *out);
COHORT_API cohort_status cohort_eval_get_pair(const cohort_eval *e, size_t k, cohort_eval_pair *out);

/* ---------------------------------------------------------------- threads */

/* Where the parallel loops of every call (react, analyze, synthesize, evaluate, anomalies...) find
 * their threads. By default a loop starts threads of its own, as many as the CPUs this process may
 * run on (sched_getaffinity) or the call's `threads`. A program with a compute pool of its own
 * installs an executor instead: a loop then runs on its caller's thread plus whichever of the
 * pool's threads are idle, and hands them back between chunks as soon as other work waits, so
 * every call together stays within the pool. */
typedef struct cohort_executor {
  size_t size;    /* sizeof(cohort_executor) */
  size_t threads; /* what threads = 0 means in options: the pool's size */
  /* Starts fn(arg) on up to n idle threads now (never queued behind other work); returns how
   * many it started. Each runs fn once. */
  size_t (*lend)(void *ctx, size_t n, void (*fn)(void *arg), void *arg);
  /* Nonzero while other work waits for a thread (may be NULL). */
  int (*wanted)(void *ctx);
  void *ctx;
} cohort_executor;
#define COHORT_EXECUTOR_INIT                                                                                 \
  { .size = sizeof(cohort_executor) }

/* Installs ex (copied; lend required) for the loops that start after it; NULL goes back to
 * threads per loop. The caller keeps ex->ctx alive until it installs another or NULL and the
 * loops that used it have returned. */
COHORT_API cohort_status cohort_set_executor(const cohort_executor *ex);

/* ---------------------------------------------------------------- persist */

/* Versioned, checksummed binary file. Loading a truncated, corrupt or foreign file returns
 * COHORT_ECORRUPT, never crashes. save writes a temp file, fsyncs and renames. */
COHORT_API cohort_status cohort_trainee_save(const cohort_trainee *t, const char *path);
COHORT_API cohort_status cohort_trainee_load(cohort_trainee **out, const char *path);
/* The file's bytes in a buffer the caller frees with cohort_free. */
COHORT_API cohort_status cohort_trainee_serialize(const cohort_trainee *t, void **out, size_t *len);
COHORT_API cohort_status cohort_trainee_deserialize(cohort_trainee **out, const void *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif /* COHORT_COHORT_H */
