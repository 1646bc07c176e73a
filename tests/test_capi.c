/* The C API's growth conventions, seen from a caller who has only cohort.h: size-stamped options
 * structs (older and newer layouts), explicit output lengths, cohort_free, the privacy enum. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four above first. */
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cohort/cohort.h"

#define CHECK_OK(expr)                                                                                       \
  do {                                                                                                       \
    cohort_status st_ = (expr);                                                                              \
    if (st_ != COHORT_OK)                                                                                    \
      fail_msg("%s -> %s: %s", #expr, cohort_strerror(st_), cohort_errmsg());                                \
  } while (0)

#define EXPECT_EINVAL_IN(expr, field)                                                                        \
  do {                                                                                                       \
    assert_int_equal((expr), COHORT_EINVAL);                                                                 \
    assert_string_equal(cohort_errfield(), (field));                                                         \
  } while (0)

static const char three_rows[] = "a,b\n1,x\n2,y\n3,z\n";

static cohort_trainee *penguins(void) {
  cohort_table *tab;
  cohort_schema *s;
  cohort_trainee *t;
  CHECK_OK(cohort_table_read_csv(&tab, COHORT_TESTDATA "/penguins.csv", NULL));
  CHECK_OK(cohort_schema_infer(&s, tab));
  CHECK_OK(cohort_trainee_create(&t, s));
  CHECK_OK(cohort_trainee_train(t, tab, NULL));
  cohort_schema_free(s);
  cohort_table_free(tab);
  return t;
}

/* The initialiser stamps the size; members left out are their defaults; NULL is all defaults. */
static void test_options_init(void **state) {
  (void)state;
  cohort_csv_options o = COHORT_CSV_OPTIONS_INIT;
  assert_int_equal(o.size, sizeof(cohort_csv_options));
  assert_int_equal(o.delimiter, 0);
  cohort_table *t;
  CHECK_OK(cohort_table_parse_csv(&t, three_rows, strlen(three_rows), &o));
  assert_int_equal(cohort_table_rows(t), 3);
  cohort_table_free(t);
  CHECK_OK(cohort_table_parse_csv(&t, three_rows, strlen(three_rows), NULL));
  assert_int_equal(cohort_table_rows(t), 3);
  cohort_table_free(t);
  o.max_rows = 2;
  assert_int_equal(cohort_table_parse_csv(&t, three_rows, strlen(three_rows), &o), COHORT_ELIMIT);
}

/* A struct that was never initialised (size 0) or holds garbage is refused, naming "size". */
static void test_options_unset(void **state) {
  (void)state;
  cohort_table *t = NULL;
  cohort_csv_options zero = {.delimiter = ';'};
  EXPECT_EINVAL_IN(cohort_table_parse_csv(&t, three_rows, strlen(three_rows), &zero), "size");
  assert_non_null(strstr(cohort_errmsg(), "COHORT_*_OPTIONS_INIT"));
  cohort_csv_options huge = {.size = (size_t)1 << 40};
  EXPECT_EINVAL_IN(cohort_table_parse_csv(&t, three_rows, strlen(three_rows), &huge), "size");
  assert_null(t);

  cohort_trainee *tr = penguins();
  cohort_analyze_options ao = {.seed = 1};
  EXPECT_EINVAL_IN(cohort_trainee_analyze(tr, &ao), "size");
  const char *target[] = {"species"};
  cohort_react_options ro = {.targets = target, .n_targets = 1};
  cohort_reaction *r = NULL;
  cohort_table *rows;
  CHECK_OK(cohort_table_read_csv(&rows, COHORT_TESTDATA "/penguins.csv", NULL));
  EXPECT_EINVAL_IN(cohort_react(tr, rows, &ro, &r), "size");
  assert_null(r);
  cohort_synth_options so = {.rows = 5};
  cohort_table *out = NULL;
  EXPECT_EINVAL_IN(cohort_synthesize(tr, &so, &out), "size");
  assert_null(out);
  cohort_eval_options eo = {.seed = 1};
  cohort_eval *e = NULL;
  EXPECT_EINVAL_IN(cohort_evaluate(cohort_trainee_schema(tr), rows, rows, NULL, &eo, &e), "size");
  assert_null(e);
  cohort_table_free(rows);
  cohort_trainee_free(tr);
}

/* A program built against an older header passes a shorter struct: the library reads only what
 * fits in its size, whatever lies in memory past it. */
static void test_options_older_caller(void **state) {
  (void)state;
  cohort_csv_options o = COHORT_CSV_OPTIONS_INIT;
  o.max_rows = 2; /* in memory, but past the older struct's end */
  o.size = offsetof(cohort_csv_options, max_rows);
  cohort_table *t;
  CHECK_OK(cohort_table_parse_csv(&t, three_rows, strlen(three_rows), &o));
  assert_int_equal(cohort_table_rows(t), 3);
  cohort_table_free(t);

  /* Past the end: a pointer the library would crash on if it read it. */
  cohort_trainee *tr = penguins();
  cohort_synth_options so = COHORT_SYNTH_OPTIONS_INIT;
  so.rows = 20;
  so.seed = 4;
  so.fixed_names = (const char *const *)(uintptr_t)16;
  so.n_fixed = 3;
  so.size = offsetof(cohort_synth_options, fixed_names);
  cohort_table *out;
  CHECK_OK(cohort_synthesize(tr, &so, &out));
  assert_int_equal(cohort_table_rows(out), 20);
  cohort_table_free(out);
  cohort_trainee_free(tr);
}

/* A program built against a newer header passes a longer struct: fine while the members this
 * library does not know are zero (their defaults), refused once one is set. */
static void test_options_newer_caller(void **state) {
  (void)state;
  struct newer {
    cohort_csv_options known;
    uint64_t added[3];
  } n;
  memset(&n, 0, sizeof n);
  n.known.size = sizeof n;
  n.known.delimiter = ';';
  static const char semi[] = "a;b\n1;2\n";
  cohort_table *t = NULL;
  CHECK_OK(cohort_table_parse_csv(&t, semi, strlen(semi), &n.known));
  assert_int_equal(cohort_table_cols(t), 2);
  cohort_table_free(t);
  t = NULL;
  n.added[2] = 1;
  EXPECT_EINVAL_IN(cohort_table_parse_csv(&t, semi, strlen(semi), &n.known), "size");
  assert_non_null(strstr(cohort_errmsg(), "does not know"));
  assert_null(t);
}

/* Output arrays come with their length: one short is refused before anything is written. */
static void test_explicit_lengths(void **state) {
  (void)state;
  cohort_trainee *tr = penguins();
  size_t n = cohort_trainee_cases(tr), nf = cohort_schema_features(cohort_trainee_schema(tr));
  double *dc = calloc(n, sizeof *dc), *cv = calloc(n, sizeof *cv);
  assert_non_null(dc);
  assert_non_null(cv);
  dc[0] = -1;
  EXPECT_EINVAL_IN(cohort_anomalies(tr, NULL, dc, cv, n - 1), "n");
  assert_true(dc[0] == -1);
  CHECK_OK(cohort_anomalies(tr, NULL, dc, cv, n));
  assert_true(dc[0] >= 0 && cv[0] > 0);
  CHECK_OK(cohort_anomalies(tr, NULL, dc, NULL, n));

  cohort_table *rows;
  static const char two[] = "species,bill_length_mm\nAdelie,39\nGentoo,50\n";
  CHECK_OK(cohort_table_parse_csv(&rows, two, strlen(two), NULL));
  EXPECT_EINVAL_IN(cohort_anomalies(tr, rows, dc, cv, 1), "n");
  CHECK_OK(cohort_anomalies(tr, rows, dc, cv, 2));
  cohort_table_free(rows);

  double imp[16];
  assert_true(nf <= 16);
  EXPECT_EINVAL_IN(cohort_feature_importance(tr, "species", 100, 1, imp, nf - 1), "n");
  CHECK_OK(cohort_feature_importance(tr, "species", 100, 1, imp, nf));
  assert_true(imp[0] == 0); /* the target's own entry */
  free(dc);
  free(cv);
  cohort_trainee_free(tr);
}

/* Every buffer the library hands out goes back through cohort_free. */
static void test_cohort_free(void **state) {
  (void)state;
  cohort_free(NULL);
  cohort_table *t;
  CHECK_OK(cohort_table_parse_csv(&t, three_rows, strlen(three_rows), NULL));
  char *csv = NULL;
  size_t len = 0;
  CHECK_OK(cohort_table_to_csv(t, &csv, &len));
  assert_string_equal(csv, three_rows);
  cohort_free(csv);
  cohort_schema *s;
  CHECK_OK(cohort_schema_infer(&s, t));
  char *json = NULL;
  CHECK_OK(cohort_schema_to_json(s, &json));
  assert_non_null(strstr(json, "\"a\""));
  cohort_free(json);
  cohort_trainee *tr;
  CHECK_OK(cohort_trainee_create(&tr, s));
  CHECK_OK(cohort_trainee_train(tr, t, NULL));
  void *bytes = NULL;
  CHECK_OK(cohort_trainee_serialize(tr, &bytes, &len));
  assert_true(len > 0);
  cohort_free(bytes);
  cohort_trainee_free(tr);
  cohort_schema_free(s);
  cohort_table_free(t);
}

/* COHORT_PRIVACY_OFF turns the gate off: with next to no noise and two cases mixed per value,
 * some rows copy a case exactly (58 of 300 when written), which the default gate never lets
 * through. Unknown modes are refused. */
static void test_privacy_off(void **state) {
  (void)state;
  cohort_trainee *tr = penguins();
  cohort_table *real;
  CHECK_OK(cohort_table_read_csv(&real, COHORT_TESTDATA "/penguins.csv", NULL));
  size_t copies[2] = {0, 0};
  const cohort_privacy modes[2] = {COHORT_PRIVACY_REFERENCE, COHORT_PRIVACY_OFF};
  for (size_t m = 0; m < 2; m++) {
    cohort_synth_options so = COHORT_SYNTH_OPTIONS_INIT;
    so.rows = 300;
    so.seed = 2;
    so.conviction = 1e9; /* next to no noise, */
    so.k = 2;            /* mixing two cases at a time */
    so.privacy = modes[m];
    cohort_table *out;
    CHECK_OK(cohort_synthesize(tr, &so, &out));
    cohort_eval_options eo = COHORT_EVAL_OPTIONS_INIT;
    eo.copy_tolerance = -1; /* exact copies: what the gate turns down */
    cohort_eval *e;
    CHECK_OK(cohort_evaluate(cohort_trainee_schema(tr), real, out, NULL, &eo, &e));
    copies[m] = cohort_eval_identical(e);
    cohort_eval_free(e);
    cohort_table_free(out);
  }
  print_message("copies: %zu with the gate, %zu without\n", copies[0], copies[1]);
  assert_int_equal(copies[0], 0);
  assert_true(copies[1] > 10);
  cohort_synth_options bad = COHORT_SYNTH_OPTIONS_INIT;
  bad.rows = 5;
  bad.privacy = (cohort_privacy)(COHORT_PRIVACY_OFF + 1);
  cohort_table *out = NULL;
  assert_int_equal(cohort_synthesize(tr, &bad, &out), COHORT_EINVAL);
  assert_null(out);
  cohort_table_free(real);
  cohort_trainee_free(tr);
}

/* The evaluation's public view: exact numbers (the headline accessors agree), and the
 * size-stamped output structs written only as far as the caller's size says. */
static void test_eval_view(void **state) {
  (void)state;
  cohort_trainee *tr = penguins();
  cohort_table *real;
  CHECK_OK(cohort_table_read_csv(&real, COHORT_TESTDATA "/penguins.csv", NULL));
  cohort_synth_options so = COHORT_SYNTH_OPTIONS_INIT;
  so.rows = 200;
  so.seed = 5;
  cohort_table *syn;
  CHECK_OK(cohort_synthesize(tr, &so, &syn));
  cohort_eval_options eo = COHORT_EVAL_OPTIONS_INIT;
  eo.target = "species";
  cohort_eval *e;
  CHECK_OK(cohort_evaluate(cohort_trainee_schema(tr), real, syn, real, &eo, &e));

  cohort_eval_summary s = COHORT_EVAL_SUMMARY_INIT;
  CHECK_OK(cohort_eval_get_summary(e, &s));
  assert_int_equal(s.size, sizeof s);
  assert_true(s.quality == cohort_eval_quality(e));
  assert_true(s.dcr_overfitting == cohort_eval_dcr_overfitting(e));
  assert_true(s.tstr == cohort_eval_tstr(e));
  assert_true(s.tstr_gbm == cohort_eval_tstr_gbm(e) && s.trtr_gbm == cohort_eval_trtr_gbm(e));
  assert_true(s.trtr_gbm > 0.9); /* species from the penguins' measurements, tested on training rows */
  assert_null(s.gbm_note);
  assert_int_equal(s.identical_rare, cohort_eval_identical_rare(e));
  assert_int_equal(s.synthetic_rows, 200);
  assert_true(s.has_holdout);
  assert_string_equal(s.target, "species");
  assert_int_equal(s.columns, 7);
  assert_int_equal(s.pairs, 21);
  size_t numeric = 0;
  for (size_t i = 0; i < s.columns; i++) {
    cohort_eval_column c = COHORT_EVAL_COLUMN_INIT;
    CHECK_OK(cohort_eval_get_column(e, i, &c));
    assert_string_equal(c.name, cohort_schema_name(cohort_trainee_schema(tr), i));
    assert_true(c.bins > 0);
    if (c.numeric) {
      numeric++;
      assert_non_null(c.edges);
      assert_true(c.edges[0] < c.edges[c.bins]);
    } else {
      assert_non_null(c.categories);
      assert_non_null(c.categories[c.bins - 1]);
    }
  }
  assert_int_equal(numeric, 4);
  for (size_t k = 0; k < s.pairs; k++) {
    cohort_eval_pair p = COHORT_EVAL_PAIR_INIT;
    CHECK_OK(cohort_eval_get_pair(e, k, &p));
    assert_true(p.a < p.b && p.b < s.columns);
  }
  cohort_eval_column past = COHORT_EVAL_COLUMN_INIT;
  assert_int_equal(cohort_eval_get_column(e, s.columns, &past), COHORT_ENOTFOUND);
  cohort_eval_pair none = {.a = 1};
  EXPECT_EINVAL_IN(cohort_eval_get_pair(e, 0, &none), "size");

  /* A program built against an older header: nothing past its size is written. */
  cohort_eval_summary old;
  memset(&old, 0xAB, sizeof old);
  old.size = offsetof(cohort_eval_summary, columns);
  CHECK_OK(cohort_eval_get_summary(e, &old));
  assert_int_equal(old.size, offsetof(cohort_eval_summary, columns));
  assert_int_equal(old.real_rows, s.real_rows);
  assert_int_equal(old.has_holdout, 1);
  const unsigned char *tail = (const unsigned char *)&old + old.size;
  for (size_t i = 0; i < sizeof old - old.size; i++)
    assert_int_equal(tail[i], 0xAB);

  cohort_eval_free(e);
  cohort_table_free(syn);
  cohort_table_free(real);
  cohort_trainee_free(tr);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_options_init),         cmocka_unit_test(test_options_unset),
      cmocka_unit_test(test_options_older_caller), cmocka_unit_test(test_options_newer_caller),
      cmocka_unit_test(test_explicit_lengths),     cmocka_unit_test(test_cohort_free),
      cmocka_unit_test(test_privacy_off),          cmocka_unit_test(test_eval_view),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
