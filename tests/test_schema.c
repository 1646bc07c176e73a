/* Schema inference, overrides, value encoding and formatting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "co_internal.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---------------------------------------------------------------- helpers */

static cohort_table *parse(const char *text) {
  cohort_table *t = NULL;
  if (cohort_table_parse_csv(&t, text, strlen(text), NULL) != COHORT_OK)
    fail_msg("parse failed: %s", cohort_errmsg());
  return t;
}

static cohort_table *read_dataset(const char *name) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", COHORT_DATASETS, name);
  if (access(path, R_OK) != 0) {
    print_message("skipped: %s is not available\n", path);
    skip();
  }
  cohort_table *t = NULL;
  if (cohort_table_read_csv(&t, path, NULL) != COHORT_OK)
    fail_msg("%s", cohort_errmsg());
  return t;
}

static cohort_schema *infer(const cohort_table *t) {
  cohort_schema *s = NULL;
  if (cohort_schema_infer(&s, t) != COHORT_OK)
    fail_msg("infer failed: %s", cohort_errmsg());
  return s;
}

static size_t feature(const cohort_schema *s, const char *name) {
  long i = cohort_schema_find(s, name);
  if (i < 0)
    fail_msg("no feature '%s'", name);
  return (size_t)i;
}

static void assert_msg_has(const char *want) {
  if (!strstr(cohort_errmsg(), want))
    fail_msg("message '%s' lacks '%s'", cohort_errmsg(), want);
}

/* A one-column table "v" with the given cells (NULL = missing). */
static cohort_table *column(const char *const *cells, size_t n) {
  const char *names[] = {"v"};
  cohort_table *t = NULL;
  assert_int_equal(cohort_table_create(&t, 1, names), COHORT_OK);
  for (size_t i = 0; i < n; i++)
    assert_int_equal(cohort_table_append(t, &cells[i]), COHORT_OK);
  return t;
}

static cohort_ftype column_type(const char *const *cells, size_t n) {
  cohort_table *t = column(cells, n);
  cohort_schema *s = infer(t);
  cohort_ftype type = cohort_schema_type(s, 0);
  cohort_schema_free(s);
  cohort_table_free(t);
  return type;
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---------------------------------------------------------------- datasets */

static void test_adult(void **state) {
  cohort_table *t = read_dataset("adult_train.csv");
  cohort_schema *s = infer(t);
  assert_int_equal(cohort_schema_features(s), 15);

  size_t age = feature(s, "age");
  assert_int_equal(cohort_schema_type(s, age), COHORT_CONTINUOUS);
  assert_true(s->f[age].integer);
  assert_int_equal(cohort_schema_decimals(s, age), 0);
  double lo, hi;
  cohort_schema_bounds(s, age, &lo, &hi);
  assert_true(lo == 17 && hi == 90);
  assert_false(cohort_schema_is_id(s, age));
  assert_false(cohort_schema_is_ignored(s, age));

  size_t wc = feature(s, "workclass");
  assert_int_equal(cohort_schema_type(s, wc), COHORT_NOMINAL);
  assert_string_equal(cohort_schema_level(s, wc, 0), "State-gov");
  size_t missing = 0;
  for (size_t r = 0; r < cohort_table_rows(t); r++)
    missing += cohort_table_cell(t, r, wc) == NULL;
  assert_true(missing > 1000);
  for (size_t l = 0; l < cohort_schema_levels(s, wc); l++)
    assert_true(strlen(cohort_schema_level(s, wc, l)) > 0);

  size_t inc = feature(s, "income");
  assert_int_equal(cohort_schema_type(s, inc), COHORT_NOMINAL);
  assert_int_equal(cohort_schema_levels(s, inc), 2);
  assert_string_equal(cohort_schema_level(s, inc, 0), "<=50K");
  assert_string_equal(cohort_schema_level(s, inc, 1), ">50K");
  assert_null(cohort_schema_level(s, inc, 2));

  assert_int_equal(cohort_schema_type(s, feature(s, "fnlwgt")), COHORT_CONTINUOUS);
  assert_int_equal(cohort_schema_type(s, feature(s, "sex")), COHORT_NOMINAL);
  for (size_t i = 0; i < cohort_schema_features(s); i++) {
    assert_false(cohort_schema_is_ignored(s, i));
    assert_int_not_equal(cohort_schema_type(s, i), COHORT_ORDINAL);
  }
  cohort_schema_free(s);
  cohort_table_free(t);
}

static void test_penguins(void **state) {
  cohort_table *t = read_dataset("penguins.csv");
  cohort_schema *s = infer(t);
  size_t sp = feature(s, "species");
  assert_int_equal(cohort_schema_type(s, sp), COHORT_NOMINAL);
  assert_int_equal(cohort_schema_levels(s, sp), 3);
  assert_string_equal(cohort_schema_level(s, sp, 0), "Adelie");
  assert_string_equal(cohort_schema_level(s, sp, 1), "Gentoo");
  assert_string_equal(cohort_schema_level(s, sp, 2), "Chinstrap");
  size_t bl = feature(s, "bill_length_mm");
  assert_int_equal(cohort_schema_type(s, bl), COHORT_CONTINUOUS);
  assert_int_equal(cohort_schema_decimals(s, bl), 1);
  assert_false(s->f[bl].integer);
  size_t bm = feature(s, "body_mass_g");
  assert_true(s->f[bm].integer);
  size_t sex = feature(s, "sex");
  assert_int_equal(cohort_schema_type(s, sex), COHORT_NOMINAL);
  assert_int_equal(cohort_schema_levels(s, sex), 2);
  cohort_schema_free(s);
  cohort_table_free(t);
}

static void test_diamonds(void **state) {
  cohort_table *t = read_dataset("diamonds.csv");
  cohort_schema *s = infer(t);
  size_t carat = feature(s, "carat");
  assert_int_equal(cohort_schema_type(s, carat), COHORT_CONTINUOUS);
  assert_int_equal(cohort_schema_decimals(s, carat), 2);
  size_t cut = feature(s, "cut");
  assert_int_equal(cohort_schema_type(s, cut), COHORT_NOMINAL);
  assert_int_equal(cohort_schema_levels(s, cut), 5);
  assert_string_equal(cohort_schema_level(s, cut, 0), "Ideal");
  assert_true(s->f[feature(s, "price")].integer);

  /* Make cut ordinal, then fix its order. */
  assert_int_equal(cohort_schema_set_type(s, t, "cut", COHORT_ORDINAL), COHORT_OK);
  assert_int_equal(cohort_schema_type(s, cut), COHORT_ORDINAL);
  assert_string_equal(cohort_schema_level(s, cut, 0), "Ideal"); /* not numbers: first seen */
  const char *order[] = {"Fair", "Good", "Very Good", "Premium", "Ideal"};
  assert_int_equal(cohort_schema_set_order(s, "cut", order, 5), COHORT_OK);
  for (size_t i = 0; i < 5; i++)
    assert_string_equal(cohort_schema_level(s, cut, i), order[i]);
  double lo, hi;
  cohort_schema_bounds(s, cut, &lo, &hi);
  assert_true(lo == 0 && hi == 4);
  double v;
  assert_int_equal(co_feature_encode(&s->f[cut], "Premium", false, &v), COHORT_OK);
  assert_true(v == 3);

  const char *partial[] = {"Fair", "Good", "Premium", "Ideal"};
  assert_int_equal(cohort_schema_set_order(s, "cut", partial, 4), COHORT_EINVAL);
  assert_msg_has("'Very Good'");
  assert_msg_has("missing from the order");
  const char *twice[] = {"Fair", "Good", "Very Good", "Premium", "Ideal", "Good"};
  assert_int_equal(cohort_schema_set_order(s, "cut", twice, 6), COHORT_EINVAL);
  assert_msg_has("'Good' is listed twice");
  assert_int_equal(cohort_schema_set_order(s, "carat", order, 5), COHORT_EINVAL);
  assert_msg_has("continuous");
  assert_int_equal(cohort_schema_set_order(s, "nope", order, 5), COHORT_ENOTFOUND);
  assert_string_equal(cohort_schema_level(s, cut, 0), "Fair"); /* unchanged by the failures */

  /* A nominal feature takes an order directly and becomes ordinal. */
  size_t color = feature(s, "color");
  const char *colors[] = {"J", "I", "H", "G", "F", "E", "D", "X"};
  assert_int_equal(cohort_schema_set_order(s, "color", colors, 8), COHORT_OK);
  assert_int_equal(cohort_schema_type(s, color), COHORT_ORDINAL);
  assert_int_equal(cohort_schema_levels(s, color), 8);
  cohort_schema_free(s);
  cohort_table_free(t);
}

static void test_other_datasets(void **state) {
  cohort_table *t = read_dataset("abalone.csv");
  cohort_schema *s = infer(t);
  assert_int_equal(cohort_schema_type(s, feature(s, "sex")), COHORT_NOMINAL);
  assert_int_equal(cohort_schema_levels(s, feature(s, "sex")), 3);
  assert_int_equal(cohort_schema_type(s, feature(s, "rings")), COHORT_CONTINUOUS);
  cohort_schema_free(s);
  cohort_table_free(t);
  t = read_dataset("winequality_red.csv");
  s = infer(t);
  /* quality (grades 3..8) is a class; every measurement is continuous. */
  size_t q = feature(s, "quality");
  assert_int_equal(cohort_schema_type(s, q), COHORT_ORDINAL);
  assert_int_equal(cohort_schema_levels(s, q), 6);
  assert_string_equal(cohort_schema_level(s, q, 0), "3");
  assert_string_equal(cohort_schema_level(s, q, 5), "8");
  for (size_t i = 0; i < cohort_schema_features(s); i++) {
    if (i != q)
      assert_int_equal(cohort_schema_type(s, i), COHORT_CONTINUOUS);
    assert_false(cohort_schema_is_ignored(s, i));
  }
  cohort_schema_free(s);
  cohort_table_free(t);
}

/* Numeric targets that are really classes, on the shared tables (those present). */
static void test_numeric_code_datasets(void **state) {
  static const struct {
    const char *file, *column;
    cohort_ftype type;
    size_t levels;
  } want[] = {
      {"digits.csv", "target", COHORT_ORDINAL, 10},               /* digits 0..9 */
      {"breast_cancer.csv", "target", COHORT_BOOLEAN, 2},         /* 0/1 */
      {"boston_housing.csv", "chas", COHORT_BOOLEAN, 2},          /* 0/1 flag */
      {"boston_housing.csv", "rad", COHORT_ORDINAL, 9},           /* highway access index */
      {"pima_diabetes.csv", "pregnant", COHORT_CONTINUOUS, 0},    /* a count, 17 values */
      {"adult_train.csv", "education_num", COHORT_CONTINUOUS, 0}, /* 16 values */
      {"vehicle.csv", "Pr.Axis.Rect", COHORT_CONTINUOUS, 0},      /* 13 values */
      {"soybean.csv", "date", COHORT_ORDINAL, 7},
      {"soybean.csv", "crop.hist", COHORT_ORDINAL, 4},
  };
  for (size_t i = 0; i < N(want); i++) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", COHORT_DATASETS, want[i].file);
    if (access(path, R_OK) != 0) {
      print_message("%s not available, not checked\n", path);
      continue;
    }
    cohort_table *t = read_dataset(want[i].file);
    cohort_schema *s = infer(t);
    size_t f = feature(s, want[i].column);
    if (cohort_schema_type(s, f) != want[i].type || cohort_schema_levels(s, f) != want[i].levels)
      fail_msg("%s %s: %s with %zu levels, want %s with %zu", want[i].file, want[i].column,
               cohort_ftype_name(cohort_schema_type(s, f)), cohort_schema_levels(s, f),
               cohort_ftype_name(want[i].type), want[i].levels);
    assert_non_null(s->f[f].reason);
    cohort_schema_free(s);
    cohort_table_free(t);
  }
}

/* ---------------------------------------------------------------- inference rules */

static void test_id_detection(void **state) {
  char text[4096] = "seq,name,gap,few,mostly_missing,empty,dup\n";
  for (int i = 0; i < 25; i++) {
    char line[128];
    char sparse[16] = "";
    if (i < 3)
      snprintf(sparse, sizeof sparse, "m%d", i); /* distinct, but mostly missing */
    snprintf(line, sizeof line, "%d,user%d,%d,%d,%s,,%s\n", 100 + i, i, i == 10 ? 1000 : i, i % 3, sparse,
             i == 5 ? "u1" : "u");
    strcat(text, line);
  }
  cohort_table *t = parse(text);
  cohort_schema *s = infer(t);
  size_t seq = feature(s, "seq"), name = feature(s, "name"), gap = feature(s, "gap");
  assert_int_equal(cohort_schema_type(s, seq), COHORT_CONTINUOUS);
  assert_true(cohort_schema_is_id(s, seq) && cohort_schema_is_ignored(s, seq));
  assert_int_equal(cohort_schema_type(s, name), COHORT_NOMINAL);
  assert_true(cohort_schema_is_id(s, name) && cohort_schema_is_ignored(s, name));
  assert_false(cohort_schema_is_id(s, gap));
  assert_false(cohort_schema_is_id(s, feature(s, "few")));
  assert_false(cohort_schema_is_id(s, feature(s, "mostly_missing")));
  assert_false(cohort_schema_is_id(s, feature(s, "dup")));
  size_t empty = feature(s, "empty");
  assert_int_equal(cohort_schema_type(s, empty), COHORT_NOMINAL);
  assert_true(cohort_schema_is_ignored(s, empty));
  assert_false(cohort_schema_is_id(s, empty));
  assert_int_equal(cohort_schema_levels(s, empty), 0);

  /* Re-enable an id column. */
  assert_int_equal(cohort_schema_set_ignored(s, "name", 0), COHORT_OK);
  assert_false(cohort_schema_is_ignored(s, name));
  assert_true(cohort_schema_is_id(s, name));
  assert_int_equal(cohort_schema_set_ignored(s, "gap", 1), COHORT_OK);
  assert_true(cohort_schema_is_ignored(s, gap));
  assert_int_equal(cohort_schema_set_ignored(s, "nope", 1), COHORT_ENOTFOUND);
  cohort_schema_free(s);
  cohort_table_free(t);

  /* 20 rows is not enough; a missing value breaks a sequence. */
  strcpy(text, "seq,name\n");
  for (int i = 0; i < 20; i++) {
    char line[64];
    snprintf(line, sizeof line, "%d,n%d\n", i, i);
    strcat(text, line);
  }
  t = parse(text);
  s = infer(t);
  assert_false(cohort_schema_is_id(s, 0));
  assert_false(cohort_schema_is_id(s, 1));
  cohort_schema_free(s);
  cohort_table_free(t);
  strcpy(text, "seq\n");
  for (int i = 0; i < 30; i++) {
    char line[64];
    if (i == 7)
      snprintf(line, sizeof line, "\n"); /* one column: a blank line is a missing value */
    else
      snprintf(line, sizeof line, "%d\n", i);
    strcat(text, line);
  }
  t = parse(text);
  s = infer(t);
  assert_int_equal(cohort_schema_type(s, 0), COHORT_CONTINUOUS);
  assert_false(cohort_schema_is_id(s, 0));
  cohort_schema_free(s);
  cohort_table_free(t);
}

static void test_boolean_inference(void **state) {
  const char *yn[] = {"yes", "no", NULL, "yes"};
  const char *tf[] = {"TRUE", "False", "true"};
  const char *b01[] = {"1", "0", "1", "1"};
  const char *b012[] = {"1", "0", "2"};
  const char *only_yes[] = {"yes", "yes"};
  const char *mixed[] = {"yes", "0", "1"};
  const char *letters[] = {"y", "N", "Y"};
  const char *not_bool[] = {"yes", "maybe"};
  const char *float01[] = {"0.0", "1.0"};
  assert_int_equal(column_type(yn, N(yn)), COHORT_BOOLEAN);
  assert_int_equal(column_type(tf, N(tf)), COHORT_BOOLEAN);
  assert_int_equal(column_type(b01, N(b01)), COHORT_BOOLEAN);
  assert_int_equal(column_type(b012, N(b012)), COHORT_CONTINUOUS);
  assert_int_equal(column_type(only_yes, N(only_yes)), COHORT_NOMINAL);
  assert_int_equal(column_type(mixed, N(mixed)), COHORT_NOMINAL);
  assert_int_equal(column_type(letters, N(letters)), COHORT_BOOLEAN);
  assert_int_equal(column_type(not_bool, N(not_bool)), COHORT_NOMINAL);
  assert_int_equal(column_type(float01, N(float01)), COHORT_CONTINUOUS);

  /* Levels: false first, in the first spelling seen; other spellings encode to the same level. */
  cohort_table *t = column(tf, N(tf));
  cohort_schema *s = infer(t);
  assert_int_equal(cohort_schema_levels(s, 0), 2);
  assert_string_equal(cohort_schema_level(s, 0, 0), "False");
  assert_string_equal(cohort_schema_level(s, 0, 1), "TRUE");
  double v;
  char buf[64];
  assert_int_equal(co_feature_encode(&s->f[0], "true", false, &v), COHORT_OK);
  assert_true(v == 1);
  assert_int_equal(co_feature_encode(&s->f[0], "n", false, &v), COHORT_OK);
  assert_true(v == 0);
  assert_string_equal(co_feature_format(&s->f[0], 0.2, buf, sizeof buf), "False");
  assert_string_equal(buf, "False");
  assert_int_equal(co_feature_encode(&s->f[0], "maybe", false, &v), COHORT_ENOTFOUND);
  assert_msg_has("'maybe'");
  cohort_schema_free(s);
  cohort_table_free(t);

  t = column(b01, N(b01));
  s = infer(t);
  assert_string_equal(cohort_schema_level(s, 0, 0), "0");
  assert_string_equal(cohort_schema_level(s, 0, 1), "1");
  cohort_schema_free(s);
  cohort_table_free(t);
}

/* n cells cycling through vals. */
static cohort_table *cycle(const char *const *vals, size_t nv, size_t n) {
  const char **cells = calloc(n, sizeof *cells);
  assert_non_null(cells);
  for (size_t i = 0; i < n; i++)
    cells[i] = vals[(i * 7 + 3) % nv];
  cohort_table *t = column(cells, n);
  free(cells);
  return t;
}

static void expect_reason(const cohort_schema *s, size_t f, const char *want) {
  if (!s->f[f].reason || !strstr(s->f[f].reason, want))
    fail_msg("reason '%s' lacks '%s'", s->f[f].reason ? s->f[f].reason : "(null)", want);
}

static void test_numeric_codes(void **state) {
  const char *pm1[] = {"-1", "1"};
  const char *halves[] = {"0.5", "2.25"};
  const char *rating[] = {"4", "2", "5", "1", "3"};
  const char *frac[] = {"0.5", "1.5", "2.5"};
  const char *spelled[] = {"1", "2", "1.0"};
  const char *twelve[] = {"1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12"};

  /* Two numbers over enough rows: a class, levels in numeric order. */
  cohort_table *t = cycle(pm1, 2, 10);
  cohort_schema *s = infer(t);
  assert_int_equal(cohort_schema_type(s, 0), COHORT_NOMINAL);
  assert_string_equal(cohort_schema_level(s, 0, 0), "-1");
  assert_string_equal(cohort_schema_level(s, 0, 1), "1");
  expect_reason(s, 0, "only 2 distinct values");
  double v;
  assert_int_equal(co_feature_encode(&s->f[0], "1.0", false, &v), COHORT_OK); /* matched by value */
  assert_true(v == 1);
  assert_int_equal(co_feature_encode(&s->f[0], "2", false, &v), COHORT_ENOTFOUND);
  /* An override still wins, and says so. */
  assert_int_equal(cohort_schema_set_type(s, t, "v", COHORT_CONTINUOUS), COHORT_OK);
  assert_int_equal(cohort_schema_type(s, 0), COHORT_CONTINUOUS);
  expect_reason(s, 0, "set to continuous by an override (inferred nominal)");
  cohort_schema_free(s);
  cohort_table_free(t);

  t = cycle(halves, 2, 12);
  s = infer(t);
  assert_int_equal(cohort_schema_type(s, 0), COHORT_NOMINAL);
  cohort_schema_free(s);
  cohort_table_free(t);

  /* Too few rows per value to tell a code from a measurement. */
  t = cycle(pm1, 2, 9);
  s = infer(t);
  assert_int_equal(cohort_schema_type(s, 0), COHORT_CONTINUOUS);
  expect_reason(s, 0, "too few rows");
  cohort_schema_free(s);
  cohort_table_free(t);

  /* A 1..5 rating: ordinal in numeric order whatever order the rows come in. */
  t = cycle(rating, 5, 25);
  s = infer(t);
  assert_int_equal(cohort_schema_type(s, 0), COHORT_ORDINAL);
  assert_int_equal(cohort_schema_levels(s, 0), 5);
  for (size_t l = 0; l < 5; l++) {
    char want[2] = {(char)('1' + l), 0};
    assert_string_equal(cohort_schema_level(s, 0, l), want);
  }
  expect_reason(s, 0, "integers with only 5 distinct values (1 to 5) over 25 rows");
  cohort_schema_free(s);
  cohort_table_free(t);
  t = cycle(rating, 5, 24);
  assert_int_equal(cohort_schema_type((s = infer(t)), 0), COHORT_CONTINUOUS);
  cohort_schema_free(s);
  cohort_table_free(t);

  /* Not codes: fractions, two spellings of one value, more than 10 integers. */
  t = cycle(frac, 3, 30);
  s = infer(t);
  assert_int_equal(cohort_schema_type(s, 0), COHORT_CONTINUOUS);
  expect_reason(s, 0, "not all integers");
  cohort_schema_free(s);
  cohort_table_free(t);
  t = cycle(spelled, 3, 30);
  s = infer(t);
  assert_int_equal(cohort_schema_type(s, 0), COHORT_CONTINUOUS);
  expect_reason(s, 0, "written two ways");
  cohort_schema_free(s);
  cohort_table_free(t);
  t = cycle(twelve, 12, 120);
  s = infer(t);
  assert_int_equal(cohort_schema_type(s, 0), COHORT_CONTINUOUS);
  expect_reason(s, 0, "more than 10 distinct values");
  cohort_schema_free(s);
  cohort_table_free(t);
}

static void test_datetime_parse(void **state) {
  double e;
  bool tm;
  assert_true(co_parse_datetime("1970-01-01", &e, &tm));
  assert_true(e == 0 && !tm);
  assert_true(co_parse_datetime("2000-01-01", &e, &tm));
  assert_true(e == 946684800);
  assert_true(co_parse_datetime("1969-12-31", &e, NULL));
  assert_true(e == -86400);
  assert_true(co_parse_datetime("2024-02-29", &e, NULL)); /* leap years */
  assert_true(co_parse_datetime("2000-02-29", &e, NULL));
  assert_true(co_parse_datetime("1600-02-29", &e, NULL));
  assert_false(co_parse_datetime("2023-02-29", &e, NULL));
  assert_false(co_parse_datetime("1900-02-29", &e, NULL));
  assert_false(co_parse_datetime("2023-02-30", &e, NULL));
  assert_false(co_parse_datetime("2023-04-31", &e, NULL));
  assert_true(co_parse_datetime("2023-12-31", &e, NULL));
  assert_false(co_parse_datetime("2023-13-01", &e, NULL));
  assert_false(co_parse_datetime("2023-00-10", &e, NULL));
  assert_false(co_parse_datetime("2023-01-00", &e, NULL));
  assert_false(co_parse_datetime("2023-1-01", &e, NULL));
  assert_false(co_parse_datetime("23-01-01", &e, NULL));
  assert_false(co_parse_datetime("2023/01/01", &e, NULL));
  assert_false(co_parse_datetime("2023-01-01x", &e, NULL));
  assert_false(co_parse_datetime("", &e, NULL));
  assert_false(co_parse_datetime("2023", &e, NULL));
  assert_false(co_parse_datetime(NULL, &e, NULL));

  /* Times and zones. */
  double utc;
  assert_true(co_parse_datetime("2023-06-15T08:30:00Z", &utc, &tm));
  assert_true(tm);
  assert_true(utc == 1686817800);
  assert_true(co_parse_datetime("2023-06-15T08:30", &e, &tm) && e == utc && tm);
  assert_true(co_parse_datetime("2023-06-15 08:30:00", &e, NULL) && e == utc);
  assert_true(co_parse_datetime("2023-06-15t08:30:00z", &e, NULL) && e == utc);
  assert_true(co_parse_datetime("2023-06-15T10:30:00+02:00", &e, NULL) && e == utc);
  assert_true(co_parse_datetime("2023-06-15T10:30+0200", &e, NULL) && e == utc);
  assert_true(co_parse_datetime("2023-06-15T03:30:00-05:00", &e, NULL) && e == utc);
  assert_true(co_parse_datetime("2023-06-15T09:30:00+01", &e, NULL) && e == utc);
  assert_true(co_parse_datetime("2023-06-15T00:30:00-08:00", &e, NULL) && e == utc);
  assert_true(co_parse_datetime("2023-06-14T23:30:00-09:00", &e, NULL) && e == utc);
  assert_true(co_parse_datetime("2023-06-15T08:30:00.250Z", &e, NULL));
  assert_float_equal(e, utc + 0.25, 1e-6);
  assert_true(co_parse_datetime("2023-06-15T08:30:00,5", &e, NULL));
  assert_float_equal(e, utc + 0.5, 1e-6);
  assert_false(co_parse_datetime("2023-06-15T24:00", &e, NULL));
  assert_false(co_parse_datetime("2023-06-15T23:60", &e, NULL));
  assert_false(co_parse_datetime("2023-06-15T23:59:60", &e, NULL));
  assert_false(co_parse_datetime("2023-06-15T8:30", &e, NULL));
  assert_false(co_parse_datetime("2023-06-15T08", &e, NULL));
  assert_false(co_parse_datetime("2023-06-15T08:30:00.", &e, NULL));
  assert_false(co_parse_datetime("2023-06-15T08:30+25:00", &e, NULL));
  assert_false(co_parse_datetime("2023-06-15T08:30+02:", &e, NULL));
  assert_false(co_parse_datetime("2023-06-15T08:30Z ", &e, NULL));
  assert_false(co_parse_datetime("2023-06-15Z", &e, NULL));
  assert_true(co_parse_datetime("0000-01-01", &e, NULL) && e == -62167219200.0);
  assert_true(co_parse_datetime("9999-12-31T23:59:59", &e, NULL) && e == 253402300799.0);
}

static void test_datetime_column(void **state) {
  const char *dates[] = {"2023-01-02", NULL, "2021-05-06", "2024-02-29"};
  cohort_table *t = column(dates, N(dates));
  cohort_schema *s = infer(t);
  assert_int_equal(cohort_schema_type(s, 0), COHORT_DATETIME);
  assert_false(s->f[0].has_time);
  double lo, hi, v;
  cohort_schema_bounds(s, 0, &lo, &hi);
  co_parse_datetime("2021-05-06", &v, NULL);
  assert_true(lo == v);
  co_parse_datetime("2024-02-29", &v, NULL);
  assert_true(hi == v);
  char buf[64];
  assert_int_equal(co_feature_encode(&s->f[0], "2023-01-02", false, &v), COHORT_OK);
  assert_string_equal(co_feature_format(&s->f[0], v, buf, sizeof buf), "2023-01-02");
  assert_string_equal(co_feature_format(&s->f[0], v + 3600 * 13, buf, sizeof buf),
                      "2023-01-03"); /* nearest */
  assert_int_equal(co_feature_encode(&s->f[0], "2023-02-30", false, &v), COHORT_EFORMAT);
  assert_msg_has("'2023-02-30'");
  assert_msg_has("ISO 8601");
  cohort_schema_free(s);
  cohort_table_free(t);

  const char *times[] = {"2023-01-02", "2023-01-02T10:20:30+01:00", "1999-12-31 23:59:59"};
  t = column(times, N(times));
  s = infer(t);
  assert_int_equal(cohort_schema_type(s, 0), COHORT_DATETIME);
  assert_true(s->f[0].has_time);
  assert_int_equal(co_feature_encode(&s->f[0], times[1], false, &v), COHORT_OK);
  assert_string_equal(co_feature_format(&s->f[0], v, buf, sizeof buf), "2023-01-02T09:20:30Z");
  assert_string_equal(co_feature_format(&s->f[0], -1.4, buf, sizeof buf), "1969-12-31T23:59:59Z");
  assert_string_equal(co_feature_format(&s->f[0], 1e15, buf, sizeof buf),
                      "9999-12-31T23:59:59Z"); /* clamped */
  assert_string_equal(co_feature_format(&s->f[0], -1e15, buf, sizeof buf), "0000-01-01T00:00:00Z");
  cohort_schema_free(s);
  cohort_table_free(t);

  const char *bad[] = {"2023-01-02", "2023-02-30"};
  assert_int_equal(column_type(bad, N(bad)), COHORT_NOMINAL);
}

static void test_numbers(void **state) {
  double v;
  assert_true(co_parse_number("42", &v) && v == 42);
  assert_true(co_parse_number("-1.5", &v) && v == -1.5);
  assert_true(co_parse_number("+.5", &v) && v == 0.5);
  assert_true(co_parse_number("5.", &v) && v == 5);
  assert_true(co_parse_number("1e3", &v) && v == 1000);
  assert_true(co_parse_number("2.5E-2", &v) && v == 0.025);
  assert_true(co_parse_number(" 7 ", &v) && v == 7);
  assert_true(co_parse_number("-0", &v) && v == 0 && !signbit(v));
  assert_false(co_parse_number("", &v));
  assert_false(co_parse_number(".", &v));
  assert_false(co_parse_number("-", &v));
  assert_false(co_parse_number("1e", &v));
  assert_false(co_parse_number("1e+", &v));
  assert_false(co_parse_number("0x10", &v));
  assert_false(co_parse_number("nan", &v));
  assert_false(co_parse_number("inf", &v));
  assert_false(co_parse_number("Infinity", &v));
  assert_false(co_parse_number("1e999", &v));
  assert_false(co_parse_number("1,5", &v));
  assert_false(co_parse_number("12abc", &v));
  assert_false(co_parse_number("1 2", &v));
  assert_false(co_parse_number(NULL, &v));

  const char *nums[] = {"1.25", "3", "-2.5e-1", NULL, "1e2"};
  cohort_table *t = column(nums, N(nums));
  cohort_schema *s = infer(t);
  assert_int_equal(cohort_schema_type(s, 0), COHORT_CONTINUOUS);
  assert_int_equal(cohort_schema_decimals(s, 0), 2);
  assert_false(s->f[0].integer);
  double lo, hi;
  cohort_schema_bounds(s, 0, &lo, &hi);
  assert_true(lo == -0.25 && hi == 100);
  cohort_schema_free(s);
  cohort_table_free(t);

  const char *tiny[] = {"0.000000000001", "1"};
  t = column(tiny, N(tiny));
  s = infer(t);
  assert_int_equal(cohort_schema_decimals(s, 0), 10); /* capped */
  cohort_schema_free(s);
  cohort_table_free(t);

  /* Decimals are those the column is written with: a stray value with float noise (1 in 40)
   * does not lengthen every output value; formatting rounds to the column's decimals. */
  const char *cells[40];
  char buf[40][24];
  for (int i = 0; i < 40; i++) {
    snprintf(buf[i], sizeof buf[i], "%.8f", 0.5 + i * 0.012345678);
    cells[i] = buf[i];
  }
  cells[7] = "0.5864197460000001";
  t = column(cells, 40);
  s = infer(t);
  assert_int_equal(cohort_schema_type(s, 0), COHORT_CONTINUOUS);
  assert_int_equal(cohort_schema_decimals(s, 0), 8);
  char out[64];
  assert_string_equal(co_feature_format(&s->f[0], 0.5864197460000001, out, sizeof out), "0.58641975");
  cohort_schema_free(s);
  cohort_table_free(t);
}

/* ---------------------------------------------------------------- encode / format */

static void test_encode_format_continuous(void **state) {
  co_feature f = {.name = "x", .type = COHORT_CONTINUOUS, .decimals = 2};
  char buf[64];
  double v;
  assert_int_equal(co_feature_encode(&f, "3.14159", false, &v), COHORT_OK);
  assert_string_equal(co_feature_format(&f, v, buf, sizeof buf), "3.14");
  assert_string_equal(co_feature_format(&f, -0.001, buf, sizeof buf), "0.00");
  assert_string_equal(co_feature_format(&f, 2.005001, buf, sizeof buf), "2.01");
  assert_int_equal(co_feature_encode(&f, "abc", false, &v), COHORT_EFORMAT);
  assert_msg_has("feature 'x'");
  assert_msg_has("'abc' is not a number");
  assert_int_equal(co_feature_encode(&f, NULL, false, &v), COHORT_OK);
  assert_true(isnan(v));
  assert_null(co_feature_format(&f, NAN, buf, sizeof buf));

  f.decimals = 0;
  f.integer = true;
  assert_string_equal(co_feature_format(&f, 41.6, buf, sizeof buf), "42");
  assert_string_equal(co_feature_format(&f, 7, buf, sizeof buf), "7");
  assert_string_equal(co_feature_format(&f, -0.4, buf, sizeof buf), "0");
  assert_string_equal(co_feature_format(&f, -3, buf, sizeof buf), "-3");
  assert_string_equal(co_feature_format(&f, 1e6, buf, sizeof buf), "1000000");
  /* Too long for the buffer: shortest round-trip form instead. */
  char small[8];
  assert_non_null(co_feature_format(&f, 1e20, small, sizeof small));
  assert_true(strlen(small) < sizeof small);

  /* Round trip: every value formats to text that encodes to (about) the same value. */
  f.decimals = 3;
  for (int i = -1000; i <= 1000; i += 7) {
    double x = i / 7.0;
    assert_int_equal(co_feature_encode(&f, co_feature_format(&f, x, buf, sizeof buf), false, &v), COHORT_OK);
    assert_float_equal(v, x, 0.0005);
  }
}

static void test_encode_format_categorical(void **state) {
  const char *cells[] = {"red", "green", NULL, "blue", "green"};
  cohort_table *t = column(cells, N(cells));
  cohort_schema *s = infer(t);
  co_feature *f = &s->f[0];
  assert_int_equal(f->type, COHORT_NOMINAL);
  assert_int_equal(cohort_schema_levels(s, 0), 3);
  char buf[64];
  double v;
  for (size_t i = 0; i < N(cells); i++) {
    assert_int_equal(co_feature_encode(f, cells[i], false, &v), COHORT_OK);
    const char *out = co_feature_format(f, v, buf, sizeof buf);
    if (cells[i])
      assert_string_equal(out, cells[i]);
    else
      assert_null(out);
  }
  assert_int_equal(co_feature_encode(f, "green", false, &v), COHORT_OK);
  assert_true(v == 1);
  assert_int_equal(co_feature_encode(f, "purple", false, &v), COHORT_ENOTFOUND);
  assert_msg_has("unknown category 'purple'");
  assert_int_equal(co_feature_encode(f, "purple", true, &v), COHORT_OK);
  assert_true(v == 3);
  assert_int_equal(cohort_schema_levels(s, 0), 4);
  double lo, hi;
  cohort_schema_bounds(s, 0, &lo, &hi);
  assert_true(hi == 3);
  /* Codes round to the nearest level and clamp. */
  assert_string_equal(co_feature_format(f, 0.6, buf, sizeof buf), "green");
  assert_string_equal(co_feature_format(f, -5, buf, sizeof buf), "red");
  assert_string_equal(co_feature_format(f, 99, buf, sizeof buf), "purple");
  /* A level longer than the buffer is still returned whole. */
  char tiny[3];
  assert_string_equal(co_feature_format(f, 3, tiny, sizeof tiny), "purple");
  cohort_schema_free(s);
  cohort_table_free(t);

  /* Ordinal with numeric levels: numeric order; numerically equal spellings match. */
  const char *grades[] = {"10", "9", "2", "9", NULL};
  t = column(grades, N(grades));
  s = infer(t);
  assert_int_equal(cohort_schema_type(s, 0), COHORT_CONTINUOUS);
  assert_int_equal(cohort_schema_set_type(s, t, "v", COHORT_ORDINAL), COHORT_OK);
  assert_int_equal(cohort_schema_levels(s, 0), 3);
  assert_string_equal(cohort_schema_level(s, 0, 0), "2");
  assert_string_equal(cohort_schema_level(s, 0, 1), "9");
  assert_string_equal(cohort_schema_level(s, 0, 2), "10");
  assert_int_equal(co_feature_encode(&s->f[0], "9.0", false, &v), COHORT_OK);
  assert_true(v == 1);
  assert_string_equal(co_feature_format(&s->f[0], 2, buf, sizeof buf), "10");
  cohort_schema_bounds(s, 0, &lo, &hi);
  assert_true(lo == 0 && hi == 2);
  assert_int_equal(cohort_schema_decimals(s, 0), 0);
  /* Back to continuous. */
  assert_int_equal(cohort_schema_set_type(s, t, "v", COHORT_CONTINUOUS), COHORT_OK);
  assert_int_equal(cohort_schema_levels(s, 0), 0);
  cohort_schema_bounds(s, 0, &lo, &hi);
  assert_true(lo == 2 && hi == 10);
  cohort_schema_free(s);
  cohort_table_free(t);
}

static void test_set_type(void **state) {
  cohort_table *t = parse("n,s,d,b\n1,x,2020-01-01,yes\n2,abc,2021-01-01,no\n3,y,bad,yes\n");
  cohort_schema *s = infer(t);
  assert_int_equal(cohort_schema_set_type(s, t, "s", COHORT_CONTINUOUS), COHORT_EFORMAT);
  assert_msg_has("row 1, column 2 's': 'x' is not a number");
  assert_int_equal(cohort_schema_type(s, 1), COHORT_NOMINAL); /* unchanged */
  assert_int_equal(cohort_schema_levels(s, 1), 3);
  assert_int_equal(cohort_schema_set_type(s, t, "d", COHORT_DATETIME), COHORT_EFORMAT);
  assert_msg_has("row 3, column 3 'd': 'bad'");
  assert_int_equal(cohort_schema_set_type(s, t, "s", COHORT_BOOLEAN), COHORT_EFORMAT);
  assert_msg_has("'x' is not a boolean");
  assert_int_equal(cohort_schema_set_type(s, t, "nope", COHORT_NOMINAL), COHORT_ENOTFOUND);
  assert_msg_has("'nope'");
  assert_int_equal(cohort_schema_set_type(s, t, "s", (cohort_ftype)42), COHORT_EINVAL);

  /* Changes that work. */
  assert_int_equal(cohort_schema_type(s, 3), COHORT_BOOLEAN);
  assert_int_equal(cohort_schema_set_type(s, t, "b", COHORT_NOMINAL), COHORT_OK);
  assert_int_equal(cohort_schema_type(s, 3), COHORT_NOMINAL);
  assert_string_equal(cohort_schema_level(s, 3, 0), "yes");
  assert_int_equal(cohort_schema_set_type(s, t, "b", COHORT_BOOLEAN), COHORT_OK);
  assert_string_equal(cohort_schema_level(s, 3, 0), "no");
  assert_int_equal(cohort_schema_set_type(s, t, "n", COHORT_NOMINAL), COHORT_OK);
  assert_int_equal(cohort_schema_levels(s, 0), 3);
  assert_int_equal(cohort_schema_set_type(s, t, "n", COHORT_BOOLEAN), COHORT_EFORMAT);
  assert_msg_has("'2' is not a boolean");

  /* The table must have the column. */
  cohort_table *other = parse("z\n1\n");
  assert_int_equal(cohort_schema_set_type(s, other, "n", COHORT_CONTINUOUS), COHORT_ENOTFOUND);
  cohort_table_free(other);

  /* An id flag survives a type change. */
  cohort_schema_free(s);
  cohort_table_free(t);
}

static void test_json(void **state) {
  cohort_table *t = read_dataset("penguins.csv");
  cohort_schema *s = infer(t);
  char *text = NULL;
  assert_int_equal(cohort_schema_to_json(s, &text), COHORT_OK);
  json_error_t err;
  json_t *root = json_loads(text, 0, &err);
  cohort_free(text);
  assert_non_null(root);
  assert_true(json_is_array(root));
  assert_int_equal(json_array_size(root), 7);
  json_t *sp = json_array_get(root, 0);
  assert_string_equal(json_string_value(json_object_get(sp, "name")), "species");
  assert_string_equal(json_string_value(json_object_get(sp, "type")), "nominal");
  assert_true(json_is_false(json_object_get(sp, "id")));
  assert_true(json_is_false(json_object_get(sp, "ignored")));
  assert_int_equal(json_array_size(json_object_get(sp, "levels")), 3);
  assert_null(json_object_get(sp, "levels_truncated"));
  json_t *bm = json_array_get(root, 5);
  assert_string_equal(json_string_value(json_object_get(bm, "type")), "continuous");
  assert_true(json_real_value(json_object_get(bm, "min")) == 2700);
  assert_true(json_real_value(json_object_get(bm, "max")) == 6300);
  assert_int_equal(json_integer_value(json_object_get(bm, "decimals")), 0);
  assert_null(json_object_get(bm, "levels"));
  /* Every inferred feature says why it got its type. */
  assert_true(strstr(json_string_value(json_object_get(sp, "reason")), "text") != NULL);
  assert_true(strstr(json_string_value(json_object_get(bm, "reason")), "numbers with more than 10") != NULL);
  json_decref(root);
  cohort_schema_free(s);
  cohort_table_free(t);

  /* Many levels are truncated; an all-missing column has null bounds. */
  const char *names[] = {"id", "empty"};
  assert_int_equal(cohort_table_create(&t, 2, names), COHORT_OK);
  for (int i = 0; i < 1500; i++) {
    char cell[32];
    snprintf(cell, sizeof cell, "k%d", i);
    const char *row[] = {cell, NULL};
    assert_int_equal(cohort_table_append(t, row), COHORT_OK);
  }
  s = infer(t);
  assert_true(cohort_schema_is_id(s, 0));
  assert_int_equal(cohort_schema_to_json(s, &text), COHORT_OK);
  root = json_loads(text, 0, &err);
  cohort_free(text);
  assert_non_null(root);
  json_t *id = json_array_get(root, 0);
  assert_true(json_is_true(json_object_get(id, "id")));
  assert_true(json_is_true(json_object_get(id, "ignored")));
  assert_int_equal(json_array_size(json_object_get(id, "levels")), 1000);
  assert_true(json_is_true(json_object_get(id, "levels_truncated")));
  json_t *empty = json_array_get(root, 1);
  assert_true(json_is_null(json_object_get(empty, "min")));
  assert_true(json_is_true(json_object_get(empty, "ignored")));
  json_decref(root);
  cohort_schema_free(s);
  cohort_table_free(t);
}

static void test_copy_and_names(void **state) {
  cohort_table *t = parse("a,b\n1,x\n2,y\n");
  cohort_schema *s = infer(t), *c = NULL;
  assert_int_equal(cohort_schema_copy(&c, s), COHORT_OK);
  double v;
  assert_int_equal(co_feature_encode(&c->f[1], "z", true, &v), COHORT_OK);
  assert_int_equal(cohort_schema_levels(c, 1), 3);
  assert_int_equal(cohort_schema_levels(s, 1), 2);
  assert_string_equal(cohort_schema_name(c, 0), "a");
  assert_null(cohort_schema_name(c, 2));
  assert_int_equal(cohort_schema_find(c, "b"), 1);
  assert_int_equal(cohort_schema_find(c, "q"), -1);
  assert_null(cohort_schema_level(c, 0, 0)); /* continuous has no levels */
  assert_int_equal(cohort_schema_levels(c, 7), 0);
  double lo, hi;
  cohort_schema_bounds(c, 9, &lo, &hi);
  assert_true(isnan(lo) && isnan(hi));
  cohort_schema_free(c);
  cohort_schema_free(s);
  cohort_schema_free(NULL);
  cohort_table_free(t);

  for (int ty = COHORT_CONTINUOUS; ty <= COHORT_BOOLEAN; ty++)
    assert_int_equal(cohort_ftype_parse(cohort_ftype_name((cohort_ftype)ty)), ty);
  assert_string_equal(cohort_ftype_name(COHORT_DATETIME), "datetime");
  assert_string_equal(cohort_ftype_name((cohort_ftype)17), "unknown");
  assert_int_equal(cohort_ftype_parse("Ordinal"), COHORT_ORDINAL);
  assert_int_equal(cohort_ftype_parse("numeric"), COHORT_CONTINUOUS);
  assert_int_equal(cohort_ftype_parse("categorical"), COHORT_NOMINAL);
  assert_int_equal(cohort_ftype_parse("text"), -1);
  assert_int_equal(cohort_ftype_parse(NULL), -1);
  assert_true(co_is_categorical(COHORT_BOOLEAN));
  assert_true(co_is_categorical(COHORT_ORDINAL));
  assert_false(co_is_categorical(COHORT_DATETIME));
}

static void test_alloc_failures(void **state) {
  cohort_table *t = parse("n,s,d,b\n1,x,2020-01-01,yes\n2,abc,2021-01-01,no\n3,y,2022-01-01,yes\n");
  bool done = false;
  for (long n = 1; n < 500 && !done; n++) {
    cohort_schema *s = NULL, *c = NULL;
    char *json = NULL;
    co_alloc_fail_after(n);
    cohort_status st = cohort_schema_infer(&s, t);
    if (st == COHORT_OK)
      st = cohort_schema_copy(&c, s);
    if (st == COHORT_OK)
      st = cohort_schema_set_type(s, t, "n", COHORT_ORDINAL);
    if (st == COHORT_OK)
      st = cohort_schema_set_order(s, "n", (const char *const[]){"3", "2", "1"}, 3);
    co_alloc_fail_after(0);
    if (st == COHORT_OK) {
      done = true;
      assert_int_equal(cohort_schema_to_json(s, &json), COHORT_OK);
      cohort_free(json);
    } else {
      assert_int_equal(st, COHORT_ENOMEM);
    }
    cohort_schema_free(c);
    cohort_schema_free(s);
  }
  assert_true(done);
  cohort_table_free(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_adult),
      cmocka_unit_test(test_penguins),
      cmocka_unit_test(test_diamonds),
      cmocka_unit_test(test_other_datasets),
      cmocka_unit_test(test_numeric_code_datasets),
      cmocka_unit_test(test_numeric_codes),
      cmocka_unit_test(test_id_detection),
      cmocka_unit_test(test_boolean_inference),
      cmocka_unit_test(test_datetime_parse),
      cmocka_unit_test(test_datetime_column),
      cmocka_unit_test(test_numbers),
      cmocka_unit_test(test_encode_format_continuous),
      cmocka_unit_test(test_encode_format_categorical),
      cmocka_unit_test(test_set_type),
      cmocka_unit_test(test_json),
      cmocka_unit_test(test_copy_and_names),
      cmocka_unit_test(test_alloc_failures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
