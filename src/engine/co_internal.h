/* Internal interfaces shared by the engine's modules. Nothing here is exported from the shared
 * library: internal functions carry the co_ prefix and hidden visibility. */
#ifndef COHORT_CO_INTERNAL_H
#define COHORT_CO_INTERNAL_H

#include "co_base.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------- arena of strings (arena.c)
 * Bump allocator in chunks; strings live until the arena is freed. */
typedef struct co_arena {
  struct co_arena_chunk *head;
} co_arena;
char *co_arena_strndup(co_arena *a, const char *s, size_t n);
void co_arena_free(co_arena *a);

/* ---------------------------------------------------------------- dictionary (dict.c)
 * Strings <-> dense codes 0..n-1, insertion ordered, open-addressing hash. Owns its strings. */
typedef struct co_dict {
  char **items;
  size_t n, cap;
  uint32_t *slots; /* code + 1; 0 = empty */
  size_t nslots;
} co_dict;
long co_dict_find(const co_dict *d, const char *s);
/* Returns the code of s, adding it if absent; -1 on ENOMEM. */
long co_dict_add(co_dict *d, const char *s);
int co_dict_copy(co_dict *dst, const co_dict *src);
void co_dict_free(co_dict *d);

/* ---------------------------------------------------------------- table (table.c, csv.c) */
struct cohort_table {
  size_t nrows, ncols, cap_rows;
  char **names; /* ncols, owned */
  char **cells; /* nrows * ncols, row-major, into arena; NULL = missing */
  co_arena arena;
};

/* ---------------------------------------------------------------- schema (schema.c) */
enum {
  CO_F_ID = 1u << 0,     /* id-like column: ignored as a feature unless re-enabled */
  CO_F_IGNORED = 1u << 1 /* not a feature of the trainee */
};

typedef struct co_feature {
  char *name;
  cohort_ftype type;
  unsigned flags;
  double min, max; /* observed bounds (continuous value, datetime epoch seconds, ordinal rank) */
  int decimals;    /* continuous: most digits after the point seen; output rounds to it */
  bool integer;    /* continuous: every value seen was an integer */
  bool has_time;   /* datetime: values carry a time of day */
  co_dict levels;  /* nominal/ordinal/boolean: categories; code = index (ordinal: rank) */
  char *reason;    /* why the type was chosen (inference or override), owned; NULL = unknown
                      (a trainee file does not store it) */
} co_feature;

struct cohort_schema {
  size_t n;
  co_feature *f;
};

/* Value encoding. A feature value is a double: continuous as is, datetime in epoch seconds (UTC),
 * nominal/ordinal/boolean as the level code; NaN = missing.
 * Encodes cell (NULL = missing). extend: add unseen categories to the feature's levels. */
cohort_status co_feature_encode(co_feature *f, const char *cell, bool extend, double *out);
/* Formats v like the training data; returns buf (numbers, dates), the level string owned by the
 * feature (categories), or NULL for missing. */
const char *co_feature_format(const co_feature *f, double v, char *buf, size_t cap);
/* Parses ISO 8601 date/date-time into epoch seconds; has_time set if a time part was present. */
bool co_parse_datetime(const char *s, double *epoch, bool *has_time);
/* Parses a number (strtod-like, whole string, finite); false if not a number. */
bool co_parse_number(const char *s, double *out);
bool co_is_categorical(cohort_ftype t);
/* qsort order of doubles (no NaN). */
static inline int co_cmp_double(const void *pa, const void *pb) {
  double a = *(const double *)pa, b = *(const double *)pb;
  return (a > b) - (a < b);
}
void co_schema_destroy(cohort_schema *s); /* frees members, not s */
int co_schema_copy_into(cohort_schema *dst, const cohort_schema *src);

/* ---------------------------------------------------------------- random (rng.c)
 * xoshiro256** seeded by splitmix64: deterministic for a seed on every platform. */
typedef struct co_rng {
  uint64_t s[4];
} co_rng;
void co_rng_seed(co_rng *r, uint64_t seed);
uint64_t co_rng_next(co_rng *r);
double co_rng_uniform(co_rng *r);         /* [0,1) */
size_t co_rng_below(co_rng *r, size_t n); /* [0,n) */
double co_rng_normal(co_rng *r);
double co_rng_laplace(co_rng *r, double b);
void co_rng_shuffle(co_rng *r, uint32_t *a, size_t n); /* a[0..n) in random order (Fisher-Yates) */

/* ---------------------------------------------------------------- threads (parallel.c) */
size_t co_threads(size_t requested);
/* Runs fn(ctx, begin, end) over [0,n) split in chunks across threads; returns the first
 * non-OK status any chunk returned. */
typedef cohort_status (*co_range_fn)(void *ctx, size_t begin, size_t end, size_t worker);
cohort_status co_parallel(size_t n, size_t threads, size_t min_chunk, co_range_fn fn, void *ctx);

/* ---------------------------------------------------------------- options (options.c)
 * Reads a caller's size-stamped options struct (see the top of cohort.h) into dst, a struct of
 * this library's size ours: members beyond the caller's size take their default (0); a caller's
 * struct larger than ours must be zero past ours. src == NULL gives every default. what names the
 * call in the message ("synthesize"). */
cohort_status co_options_read(void *dst, size_t ours, const void *src, const char *what);
/* The other way: copies src (a struct of this library's size ours, its size member included) into
 * a caller's size-stamped dst, as much of it as fits in dst's size. */
cohort_status co_info_write(void *dst, const void *src, size_t ours, const char *what);

/* copies.c: which of n rows (x, row-major, nf values each: a categorical's code, NaN = missing) a
 * row copies by value on the features weighted in fw (fw[f] > 0): numeric[f] ones within tol * |the
 * row's value|, the others equal, missing against missing. x must outlive the index and stay as it
 * is; counting is thread-safe. co_copies_count stops at most. */
typedef struct co_copies co_copies;
/* The report's defaults (cohort_eval_options copy_tolerance, copy_k), which the synthesis gate holds
 * to: a copy is rare when fewer than CO_COPY_K rows match it. */
#define CO_COPY_TOL 0.01
#define CO_COPY_K 5
cohort_status co_copies_build(const double *x, size_t n, size_t nf, const bool *numeric, const double *fw,
                              double tol, co_copies **out);
size_t co_copies_count(const co_copies *c, const double *row, size_t most);
void co_copies_free(co_copies *c);

#endif
