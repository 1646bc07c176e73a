/* CSV reader and writer, and the table API. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "co_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int co_fuzz_csv(const uint8_t *data, size_t size); /* csv.c */

#define CHUNK (64 * 1024) /* the reader's chunk size (CO_CSV_CHUNK in csv.c) */

/* ---------------------------------------------------------------- helpers */

static cohort_table *parse_opt(const char *text, size_t len, const cohort_csv_options *opt) {
  cohort_table *t = NULL;
  cohort_status st = cohort_table_parse_csv(&t, text, len, opt);
  if (st != COHORT_OK)
    fail_msg("parse failed: %s", cohort_errmsg());
  return t;
}

static cohort_table *parse(const char *text) {
  return parse_opt(text, strlen(text), NULL);
}

/* Expects parsing to fail with status, and the message to contain each of the NULL-terminated
 * substrings. */
static void expect_error_n(const char *text, size_t len, const cohort_csv_options *opt, cohort_status status,
                           ...) {
  cohort_table *t = NULL;
  cohort_status st = cohort_table_parse_csv(&t, text, len, opt);
  if (st == COHORT_OK) {
    cohort_table_free(t);
    fail_msg("parse unexpectedly succeeded");
  }
  assert_null(t);
  const char *msg = cohort_errmsg();
  if (st != status)
    fail_msg("status %d (%s), expected %d; message: %s", st, cohort_strerror(st), status, msg);
  va_list ap;
  va_start(ap, status);
  for (const char *want; (want = va_arg(ap, const char *)) != NULL;) {
    if (!strstr(msg, want))
      fail_msg("message '%s' lacks '%s'", msg, want);
  }
  va_end(ap);
}

#define EXPECT_ERROR(text, status, ...)                                                                      \
  expect_error_n(text, strlen(text), NULL, status, __VA_ARGS__, (const char *)NULL)

static void assert_cell(const cohort_table *t, size_t r, size_t c, const char *want) {
  const char *got = cohort_table_cell(t, r, c);
  if (!want) {
    if (got)
      fail_msg("cell (%zu,%zu) = '%s', expected missing", r, c, got);
    return;
  }
  if (!got)
    fail_msg("cell (%zu,%zu) missing, expected '%s'", r, c, want);
  if (strcmp(got, want) != 0)
    fail_msg("cell (%zu,%zu) = '%s', expected '%s'", r, c, got, want);
}

static void assert_same_tables(const cohort_table *a, const cohort_table *b) {
  assert_int_equal(cohort_table_rows(a), cohort_table_rows(b));
  assert_int_equal(cohort_table_cols(a), cohort_table_cols(b));
  for (size_t c = 0; c < cohort_table_cols(a); c++)
    assert_string_equal(cohort_table_colname(a, c), cohort_table_colname(b, c));
  for (size_t r = 0; r < cohort_table_rows(a); r++)
    for (size_t c = 0; c < cohort_table_cols(a); c++)
      assert_cell(b, r, c, cohort_table_cell(a, r, c));
}

static char tmpdir[256];

static int make_tmpdir(void **state) {
  snprintf(tmpdir, sizeof tmpdir, "%s/cohort-test-csv-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state) {
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  return system(cmd) == 0 ? 0 : -1;
}

static void tmppath(char *buf, size_t cap, const char *name) {
  snprintf(buf, cap, "%s/%s", tmpdir, name);
}

static void write_file(const char *path, const char *data, size_t len) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(data, 1, len, f), len);
  assert_int_equal(fclose(f), 0);
}

/* ---------------------------------------------------------------- reading */

static void test_basic(void **state) {
  cohort_table *t = parse("a,b,c\n1,2,3\n4,5,6\n");
  assert_int_equal(cohort_table_rows(t), 2);
  assert_int_equal(cohort_table_cols(t), 3);
  assert_string_equal(cohort_table_colname(t, 0), "a");
  assert_string_equal(cohort_table_colname(t, 2), "c");
  assert_null(cohort_table_colname(t, 3));
  assert_int_equal(cohort_table_find(t, "b"), 1);
  assert_int_equal(cohort_table_find(t, "z"), -1);
  assert_cell(t, 0, 0, "1");
  assert_cell(t, 1, 2, "6");
  assert_null(cohort_table_cell(t, 2, 0));
  assert_null(cohort_table_cell(t, 0, 3));
  cohort_table_free(t);

  /* No trailing newline; header only. */
  t = parse("a,b\n1,2");
  assert_int_equal(cohort_table_rows(t), 1);
  assert_cell(t, 0, 1, "2");
  cohort_table_free(t);
  t = parse("a,b\n");
  assert_int_equal(cohort_table_rows(t), 0);
  assert_int_equal(cohort_table_cols(t), 2);
  cohort_table_free(t);
  t = parse("a,b");
  assert_int_equal(cohort_table_rows(t), 0);
  cohort_table_free(t);
}

static void test_quoting(void **state) {
  cohort_table *t = parse("\"x,y\",\"say \"\"hi\"\"\",plain\n"
                          "\"1,5\",\"he said \"\"no\"\"\",\"\"\"\"\n"
                          "\"multi\nline\",\"crlf\r\ninside\",\"a\"\n");
  assert_string_equal(cohort_table_colname(t, 0), "x,y");
  assert_string_equal(cohort_table_colname(t, 1), "say \"hi\"");
  assert_int_equal(cohort_table_rows(t), 2);
  assert_cell(t, 0, 0, "1,5");
  assert_cell(t, 0, 1, "he said \"no\"");
  assert_cell(t, 0, 2, "\"");
  assert_cell(t, 1, 0, "multi\nline");
  assert_cell(t, 1, 1, "crlf\r\ninside");
  assert_cell(t, 1, 2, "a");
  cohort_table_free(t);

  /* Spaces: unquoted trimmed, quoted kept; spaces around quotes dropped. */
  t = parse("a,b,c\n  x y  , \" p \" ,\"q\"  \n");
  assert_cell(t, 0, 0, "x y");
  assert_cell(t, 0, 1, " p ");
  assert_cell(t, 0, 2, "q");
  cohort_table_free(t);
  t = parse(" a , b \n1,2\n");
  assert_string_equal(cohort_table_colname(t, 0), "a");
  assert_string_equal(cohort_table_colname(t, 1), "b");
  cohort_table_free(t);
}

static void test_line_endings_bom(void **state) {
  cohort_table *t = parse("a,b\r\n1,2\r\n3,4\r\n");
  assert_int_equal(cohort_table_rows(t), 2);
  assert_cell(t, 1, 1, "4");
  assert_string_equal(cohort_table_colname(t, 1), "b");
  cohort_table_free(t);
  t = parse("a,b\r1,2\r3,4");
  assert_int_equal(cohort_table_rows(t), 2);
  assert_cell(t, 1, 0, "3");
  cohort_table_free(t);
  t = parse("\xEF\xBB\xBF"
            "name,v\nx,1\n");
  assert_string_equal(cohort_table_colname(t, 0), "name");
  assert_int_equal(cohort_table_find(t, "name"), 0);
  cohort_table_free(t);
  /* A BOM is skipped only at the start. */
  t = parse("a,b\n\xEF\xBB\xBFx,1\n");
  assert_cell(t, 0, 0, "\xEF\xBB\xBFx");
  cohort_table_free(t);
  /* Trailing blank lines are ignored, CRLF or not. */
  t = parse("a,b\n1,2\n\n\r\n  \n");
  assert_int_equal(cohort_table_rows(t), 1);
  cohort_table_free(t);
}

static void test_na_tokens(void **state) {
  cohort_table *t =
      parse("a,b,c,d,e,f,g,h,i\n,NA,N/A,?,null,NULL,NaN, NA ,\"NA\"\nx,na,nan,None,-, ?x,\"\",\" \",Null\n");
  for (size_t c = 0; c < 9; c++)
    assert_cell(t, 0, c, NULL);
  assert_cell(t, 1, 0, "x");
  assert_cell(t, 1, 1, "na");
  assert_cell(t, 1, 2, "nan");
  assert_cell(t, 1, 3, "None");
  assert_cell(t, 1, 4, "-");
  assert_cell(t, 1, 5, "?x");
  assert_cell(t, 1, 6, NULL);
  assert_cell(t, 1, 7, NULL);
  assert_cell(t, 1, 8, "Null");
  cohort_table_free(t);

  const char *const na[] = {"-", "missing"};
  cohort_csv_options opt = {.size = sizeof opt, .delimiter = ';', .na_tokens = na, .n_na_tokens = 2};
  const char *text = "a;b;c\n-;missing;\nNA;x,y;?\n";
  t = parse_opt(text, strlen(text), &opt);
  assert_int_equal(cohort_table_rows(t), 2);
  assert_cell(t, 0, 0, NULL);
  assert_cell(t, 0, 1, NULL);
  assert_cell(t, 0, 2, "");
  assert_cell(t, 1, 0, "NA");
  assert_cell(t, 1, 1, "x,y");
  assert_cell(t, 1, 2, "?");
  cohort_table_free(t);

  /* Tab delimiter: tabs are delimiters, not trimmed. */
  cohort_csv_options tab = {.size = sizeof tab, .delimiter = '\t'};
  text = "a\tb\n x \ty\n";
  t = parse_opt(text, strlen(text), &tab);
  assert_cell(t, 0, 0, "x");
  assert_cell(t, 0, 1, "y");
  assert_int_equal(cohort_table_cols(t), 2);
  cohort_table_free(t);
  text = "a\tb\n\t\tz\n";
  expect_error_n(text, strlen(text), &tab, COHORT_EFORMAT, "line 2: 3 fields, header has 2",
                 (const char *)NULL);

  cohort_csv_options bad = {.size = sizeof bad, .delimiter = '"'};
  expect_error_n("a", 1, &bad, COHORT_EINVAL, "delimiter", (const char *)NULL);
}

static void test_one_column(void **state) {
  cohort_table *t = parse("v\n1\n\n2\n\n\n");
  assert_int_equal(cohort_table_rows(t), 3);
  assert_cell(t, 0, 0, "1");
  assert_cell(t, 1, 0, NULL);
  assert_cell(t, 2, 0, "2");
  cohort_table_free(t);
  t = parse("v\r\n\r\n\r\nx\r\n");
  assert_int_equal(cohort_table_rows(t), 3);
  assert_cell(t, 0, 0, NULL);
  assert_cell(t, 2, 0, "x");
  cohort_table_free(t);
}

static void test_errors(void **state) {
  /* Wrong field count, with the record's line. */
  char text[1024];
  strcpy(text, "c1,c2,c3,c4,c5,c6,c7,c8,c9,c10,c11,c12,c13,c14,c15\n");
  for (int i = 0; i < 5; i++)
    strcat(text, "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15\n");
  strcat(text, "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16\n");
  EXPECT_ERROR(text, COHORT_EFORMAT, "line 7: 16 fields, header has 15");
  EXPECT_ERROR("a,b\n1\n", COHORT_EFORMAT, "line 2: 1 field, header has 2");
  EXPECT_ERROR("a,b\n\"x\ny\",1\n1,2,3\n", COHORT_EFORMAT, "line 4: 3 fields, header has 2");
  EXPECT_ERROR("a,b\r\n1,2\r\n1,2,3\r\n", COHORT_EFORMAT, "line 3: 3 fields");
  /* Blank line in the middle of a multi-column table. */
  EXPECT_ERROR("a,b\n1,2\n\n3,4\n", COHORT_EFORMAT, "line 3: 1 field, header has 2");

  /* Quotes. */
  EXPECT_ERROR("a,b\n1,\"abc\n\n", COHORT_EFORMAT, "line 2, column 2 'b': unterminated quoted field");
  EXPECT_ERROR("a,b\n1,2\n3,\"x\"\"", COHORT_EFORMAT, "line 3, column 2 'b': unterminated quoted field");
  EXPECT_ERROR("a,b\n1,ab\"c\n", COHORT_EFORMAT, "line 2, column 2 'b': quote inside an unquoted field");
  EXPECT_ERROR("a,b\n\"ab\"c,1\n", COHORT_EFORMAT,
               "line 2, column 1 'a': unexpected 'c' after a closing quote");
  EXPECT_ERROR("a,b\n\"ab\" \"c\",1\n", COHORT_EFORMAT,
               "column 1 'a': unexpected '\"' after a closing quote");
  EXPECT_ERROR("a\"b,c\n", COHORT_EFORMAT, "line 1, column 1: quote inside an unquoted field");

  /* Encoding. */
  EXPECT_ERROR("a,b\n1,\xFF\n", COHORT_EFORMAT, "line 2, column 2 'b': invalid UTF-8");
  EXPECT_ERROR("a,b\n1,x\xC0\xAF\n", COHORT_EFORMAT, "line 2, column 2 'b': invalid UTF-8", "0xC0",
               "offset 1");
  EXPECT_ERROR("a,b\n1,\xED\xA0\x80\n", COHORT_EFORMAT, "invalid UTF-8");     /* surrogate */
  EXPECT_ERROR("a,b\n1,\xF4\x90\x80\x80\n", COHORT_EFORMAT, "invalid UTF-8"); /* > U+10FFFF */
  EXPECT_ERROR("a,b\n1,\"\xE2\x82\"\n", COHORT_EFORMAT, "invalid UTF-8");     /* truncated */
  EXPECT_ERROR("a,b\n1,\"x\ny\xFE\"\n", COHORT_EFORMAT, "line 3, column 2 'b': invalid UTF-8");
  EXPECT_ERROR("a,\xC3\n", COHORT_EFORMAT, "line 1, column 2: invalid UTF-8");
  expect_error_n("a,b\n1,x\0y\n", 10, NULL, COHORT_EFORMAT, "line 2, column 2 'b': NUL byte",
                 (const char *)NULL);

  /* Header. */
  EXPECT_ERROR("", COHORT_EFORMAT, "line 1: empty input");
  EXPECT_ERROR("\xEF\xBB\xBF", COHORT_EFORMAT, "empty input");
  EXPECT_ERROR("\n1,2\n", COHORT_EFORMAT, "line 1: empty header");
  EXPECT_ERROR("  \r\n1,2\n", COHORT_EFORMAT, "line 1: empty header");
  EXPECT_ERROR("a,,c\n", COHORT_EFORMAT, "line 1, column 2: empty column name");
  EXPECT_ERROR("a,b,\n", COHORT_EFORMAT, "line 1, column 3: empty column name");
  EXPECT_ERROR("\"\"\n1\n", COHORT_EFORMAT, "line 1, column 1: empty column name");
  EXPECT_ERROR("a,b,a\n", COHORT_EFORMAT, "line 1, column 3: duplicate column name 'a' (also column 1)");

  /* Limits. */
  cohort_csv_options opt = {.size = sizeof opt, .max_rows = 2};
  const char *rows = "a\n1\n2\n3\n";
  expect_error_n(rows, strlen(rows), &opt, COHORT_ELIMIT, "line 4: more than 2 rows", (const char *)NULL);
  opt.max_rows = 3;
  cohort_table *t = parse_opt(rows, strlen(rows), &opt);
  assert_int_equal(cohort_table_rows(t), 3);
  cohort_table_free(t);
  cohort_csv_options small = {.size = sizeof small, .max_field_bytes = 4};
  const char *wide = "a,b\n1234,\"12\n45\"\n";
  expect_error_n(wide, strlen(wide), &small, COHORT_ELIMIT, "line 2, column 2 'b': field longer than 4 bytes",
                 (const char *)NULL);
}

/* Column and total-cell limits stop the reader at the first record that breaks them, so a
 * one-row CSV of a million columns never becomes a million-column table. */
static void test_shape_limits(void **state) {
  cohort_csv_options cols = {.size = sizeof cols, .max_columns = 3};
  expect_error_n("a,b,c,d\n1,2,3,4\n", 16, &cols, COHORT_ELIMIT,
                 "line 1, column 4: more than 3 columns (max_columns)", (const char *)NULL);
  cohort_table *t = parse_opt("a,b,c\n1,2,3\n", 12, &cols);
  assert_int_equal(cohort_table_cols(t), 3);
  cohort_table_free(t);
  cohort_csv_options cells = {.size = sizeof cells, .max_cells = 6};
  const char *text = "a,b\n1,2\n3,4\n5,6\n7,8\n";
  expect_error_n(text, strlen(text), &cells, COHORT_ELIMIT, "line 5: more than 6 cells (max_cells",
                 (const char *)NULL);
  cells.max_cells = 8;
  t = parse_opt(text, strlen(text), &cells);
  assert_int_equal(cohort_table_rows(t), 4);
  cohort_table_free(t);
  /* A wide header is refused as it streams: the reader never holds more than the limit's names. */
  size_t n = 2000000;
  char *wide = malloc(n);
  assert_non_null(wide);
  for (size_t i = 0; i < n; i += 2)
    wide[i] = 'a', wide[i + 1] = ',';
  cols.max_columns = 4096;
  expect_error_n(wide, n, &cols, COHORT_ELIMIT, "column 4097: more than 4096 columns", (const char *)NULL);
  free(wide);
  (void)state;
}

/* A row window reads only what it keeps: rows before it are not stored, the input after it is
 * not read (a format error there goes unseen), and blank-line rows count as rows. */
static void test_row_window(void **state) {
  const char *text = "a,b\n1,x\n2,y\n3,z\n4,w\nbroken\n";
  cohort_csv_options win = {.size = sizeof win, .skip_rows = 1, .read_rows = 2};
  cohort_table *t = parse_opt(text, strlen(text), &win);
  assert_int_equal(cohort_table_rows(t), 2);
  assert_string_equal(cohort_table_cell(t, 0, 0), "2");
  assert_string_equal(cohort_table_cell(t, 1, 1), "z");
  cohort_table_free(t);
  win.skip_rows = 3;
  expect_error_n(text, strlen(text), &win, COHORT_EFORMAT, "line 6: 1 field, header has 2",
                 (const char *)NULL);
  cohort_csv_options past = {.size = sizeof past, .skip_rows = 10};
  const char *ok = "a\n1\n\n3\n";
  t = parse_opt(ok, strlen(ok), &past);
  assert_int_equal(cohort_table_rows(t), 0);
  cohort_table_free(t);
  past.skip_rows = 1;
  past.read_rows = 1;
  t = parse_opt(ok, strlen(ok), &past);
  assert_int_equal(cohort_table_rows(t), 1);
  assert_null(cohort_table_cell(t, 0, 0));
  cohort_table_free(t);
  /* Found by fuzz_csv: a blank-line row pending before a record is skipped, not the record. */
  t = parse_opt("v\n\n2\n\n", 7, &past);
  assert_int_equal(cohort_table_rows(t), 1);
  assert_string_equal(cohort_table_cell(t, 0, 0), "2");
  cohort_table_free(t);
  (void)state;
}

/* cohort_table_read_csv_stream: a source that hands out a few bytes at a time (pieces of 1 to 13
 * bytes, so records and quotes straddle every kind of boundary), and fails when told to. */
typedef struct piece_source {
  const char *text;
  size_t len, pos, calls, fail_at;
  int own_message;
} piece_source;

static cohort_status piece_read(void *ctx, char *buf, size_t cap, size_t *got) {
  piece_source *src = ctx;
  src->calls++;
  if (src->fail_at && src->pos >= src->fail_at)
    return src->own_message ? co_error(COHORT_EUNAVAIL, "object store: connection reset") : COHORT_EIO;
  size_t n = 1 + src->calls % 13;
  n = n < cap ? n : cap;
  n = n < src->len - src->pos ? n : src->len - src->pos;
  memcpy(buf, src->text + src->pos, n);
  src->pos += n;
  *got = n;
  return COHORT_OK;
}

static void test_stream(void **state) {
  const char *text = "\xEF\xBB\xBF"
                     "a,b,c\r\n1,\"x,\ny\",3\n,\"\"\"q\"\"\",\n4,5,6\n";
  piece_source src = {text, strlen(text), 0, 0, 0, 0};
  cohort_table *t = NULL, *want = parse(text);
  assert_int_equal(cohort_table_read_csv_stream(&t, piece_read, &src, NULL), COHORT_OK);
  assert_same_tables(t, want);
  assert_string_equal(cohort_table_colname(t, 0), "a"); /* the BOM was in the first piece only */
  cohort_table_free(t);
  cohort_table_free(want);

  /* A window stops reading once it is full: 2 rows of a long input take a few pieces. */
  char *big = malloc(200000);
  assert_non_null(big);
  size_t len = (size_t)snprintf(big, 200000, "n,v\n");
  for (int i = 0; len < 190000; i++)
    len += (size_t)snprintf(big + len, 200000 - len, "%d,%d\n", i, i * 7);
  piece_source lon = {big, len, 0, 0, 0, 0};
  cohort_csv_options win = {.size = sizeof win, .skip_rows = 3, .read_rows = 2};
  assert_int_equal(cohort_table_read_csv_stream(&t, piece_read, &lon, &win), COHORT_OK);
  assert_int_equal(cohort_table_rows(t), 2);
  assert_string_equal(cohort_table_cell(t, 1, 1), "28");
  assert_true(lon.pos < 100);
  cohort_table_free(t);

  /* The source's failure ends the parse with its status, and its message when it set one. */
  piece_source bad = {big, len, 0, 0, 5000, 1};
  t = NULL;
  assert_int_equal(cohort_table_read_csv_stream(&t, piece_read, &bad, NULL), COHORT_EUNAVAIL);
  assert_null(t);
  assert_string_equal(cohort_errmsg(), "object store: connection reset");
  bad = (piece_source){big, len, 0, 0, 5000, 0};
  assert_int_equal(cohort_table_read_csv_stream(&t, piece_read, &bad, NULL), COHORT_EIO);
  assert_string_equal(cohort_errmsg(), "the CSV reader failed");
  assert_int_equal(cohort_table_read_csv_stream(&t, NULL, &bad, NULL), COHORT_EINVAL);
  free(big);
  (void)state;
}

static void test_default_field_limit(void **state) {
  size_t n = 1024 * 1024 + 10;
  char *text = malloc(n + 16);
  assert_non_null(text);
  memcpy(text, "a\n", 2);
  memset(text + 2, 'x', n);
  memcpy(text + 2 + n, "\n", 2);
  expect_error_n(text, n + 3, NULL, COHORT_ELIMIT, "line 2, column 1 'a': field longer than 1048576 bytes",
                 (const char *)NULL);
  /* Exactly the limit is fine. */
  memcpy(text + 2 + 1024 * 1024, "\n", 2);
  cohort_table *t = parse_opt(text, 2 + 1024 * 1024 + 1, NULL);
  assert_int_equal(strlen(cohort_table_cell(t, 0, 0)), 1024 * 1024);
  cohort_table_free(t);
  free(text);
}

static void test_read_errors(void **state) {
  cohort_table *t = NULL;
  char path[300];
  tmppath(path, sizeof path, "does-not-exist.csv");
  assert_int_equal(cohort_table_read_csv(&t, path, NULL), COHORT_EIO);
  assert_null(t);
  assert_non_null(strstr(cohort_errmsg(), path));
  assert_non_null(strstr(cohort_errmsg(), "No such file or directory"));
  assert_int_equal(cohort_table_read_csv(&t, tmpdir, NULL), COHORT_EIO); /* a directory */
  assert_non_null(strstr(cohort_errmsg(), tmpdir));

  /* Format errors from a file name the file, line and column. */
  tmppath(path, sizeof path, "bad.csv");
  write_file(path, "a,b\n1,2\n3,\"4\n", 13);
  assert_int_equal(cohort_table_read_csv(&t, path, NULL), COHORT_EFORMAT);
  assert_non_null(strstr(cohort_errmsg(), path));
  assert_non_null(strstr(cohort_errmsg(), "line 3, column 2 'b': unterminated quoted field"));

  assert_int_equal(cohort_table_write_csv(t, path), COHORT_EINVAL);
  cohort_table *u = parse("a\n1\n");
  assert_int_equal(cohort_table_write_csv(u, "/nonexistent-dir/x.csv"), COHORT_EIO);
  assert_non_null(strstr(cohort_errmsg(), "/nonexistent-dir/x.csv"));
  cohort_table_free(u);
}

/* A file of about 5 MB: many read chunks, quoted cells with newlines across chunk boundaries. */
static void test_large_file(void **state) {
  char path[300];
  tmppath(path, sizeof path, "large.csv");
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  fputs("\xEF\xBB\xBFid,name,note,value\r\n", f);
  size_t rows = 100000;
  for (size_t i = 0; i < rows; i++) {
    if (i % 7 == 0)
      fprintf(f, "%zu,name %zu,\"multi\nline, \"\"quoted\"\" %zu\",%zu.5\r\n", i, i, i, i * 3);
    else if (i % 11 == 0)
      fprintf(f, "%zu,,NA,\r\n", i);
    else
      fprintf(f, "%zu,name %zu,plain note number %zu padding padding,%zu.5\r\n", i, i, i, i * 3);
  }
  long size = ftell(f);
  assert_int_equal(fclose(f), 0);
  assert_true(size > 5 * 1000 * 1000);

  cohort_table *t = NULL;
  if (cohort_table_read_csv(&t, path, NULL) != COHORT_OK)
    fail_msg("%s", cohort_errmsg());
  assert_int_equal(cohort_table_rows(t), rows);
  assert_string_equal(cohort_table_colname(t, 0), "id");
  char want[128];
  for (size_t i = 0; i < rows; i++) {
    snprintf(want, sizeof want, "%zu", i);
    assert_cell(t, i, 0, want);
    if (i % 7 == 0) {
      snprintf(want, sizeof want, "multi\nline, \"quoted\" %zu", i);
      assert_cell(t, i, 2, want);
    } else if (i % 11 == 0) {
      assert_cell(t, i, 1, NULL);
      assert_cell(t, i, 2, NULL);
      assert_cell(t, i, 3, NULL);
    } else {
      snprintf(want, sizeof want, "name %zu", i);
      assert_cell(t, i, 1, want);
    }
  }

  /* Same table from memory; and an error far into the file reports the right line. */
  char *text = NULL;
  size_t len = 0;
  assert_int_equal(cohort_table_to_csv(t, &text, &len), COHORT_OK);
  cohort_table *m = parse_opt(text, len, NULL);
  assert_same_tables(t, m);
  cohort_table_free(m);
  cohort_free(text);

  f = fopen(path, "ab");
  assert_non_null(f);
  fputs("1,2,3\r\n", f);
  assert_int_equal(fclose(f), 0);
  cohort_table *bad = NULL;
  assert_int_equal(cohort_table_read_csv(&bad, path, NULL), COHORT_EFORMAT);
  snprintf(want, sizeof want, "line %zu: 3 fields, header has 4", 1 + rows + (rows + 6) / 7 + 1);
  if (!strstr(cohort_errmsg(), want))
    fail_msg("'%s' lacks '%s'", cohort_errmsg(), want);
  cohort_table_free(t);
}

/* Cells that straddle chunk boundaries, a cell larger than a chunk, and a CRLF split across one. */
static void test_chunk_boundaries(void **state) {
  char path[300];
  tmppath(path, sizeof path, "boundary.csv");
  size_t cap = 5 * CHUNK;
  char *buf = malloc(cap);
  assert_non_null(buf);
  size_t n = 0;
  n += (size_t)sprintf(buf + n, "k,v\n");
  /* Pad so that a quoted cell starts 100 bytes before the first boundary. */
  size_t pad = CHUNK - 100 - n - 3;
  buf[n++] = 'p';
  buf[n++] = ',';
  memset(buf + n, 'a', pad);
  n += pad;
  buf[n++] = '\n';
  assert_int_equal(n, CHUNK - 100);
  n += (size_t)sprintf(buf + n, "q,\"");
  size_t cell1 = n;
  for (int i = 0; i < 300; i++)
    buf[n++] = (char)(i % 10 == 9 ? '\n' : 'A' + i % 26);
  buf[n++] = '"';
  buf[n++] = '\n';
  /* A cell of 1.5 chunks. */
  n += (size_t)sprintf(buf + n, "big,");
  size_t big = n;
  while (n < 2 * CHUNK + CHUNK / 2)
    buf[n++] = 'z';
  size_t big_len = n - big;
  buf[n++] = '\n';
  /* A record whose CR is the last byte of chunk 3 and whose LF is the first of chunk 4. */
  n += (size_t)sprintf(buf + n, "r,");
  while (n < 3 * CHUNK - 1)
    buf[n++] = 'y';
  buf[n++] = '\r';
  assert_int_equal(n, 3 * CHUNK);
  buf[n++] = '\n';
  /* A 3-byte UTF-8 character split across the 4th boundary. */
  n += (size_t)sprintf(buf + n, "u,");
  while (n < 4 * CHUNK - 1)
    buf[n++] = 'u';
  buf[n++] = '\xE2';
  buf[n++] = '\x82';
  buf[n++] = '\xAC';
  n += (size_t)sprintf(buf + n, "\nend,1\n");
  assert_true(n < cap);
  write_file(path, buf, n);

  cohort_table *t = NULL;
  if (cohort_table_read_csv(&t, path, NULL) != COHORT_OK)
    fail_msg("%s", cohort_errmsg());
  assert_int_equal(cohort_table_rows(t), 6);
  assert_int_equal(strlen(cohort_table_cell(t, 0, 1)), pad);
  assert_memory_equal(cohort_table_cell(t, 1, 1), buf + cell1, 300);
  assert_int_equal(strlen(cohort_table_cell(t, 1, 1)), 300);
  assert_int_equal(strlen(cohort_table_cell(t, 2, 1)), big_len);
  const char *r = cohort_table_cell(t, 3, 1);
  assert_int_equal(r[strlen(r) - 1], 'y');
  assert_cell(t, 3, 0, "r");
  const char *u = cohort_table_cell(t, 4, 1);
  assert_string_equal(u + strlen(u) - 3, "\xE2\x82\xAC");
  assert_cell(t, 5, 0, "end");

  /* The same bytes from memory parse the same way. */
  cohort_table *m = parse_opt(buf, n, NULL);
  assert_same_tables(t, m);
  cohort_table_free(m);
  cohort_table_free(t);
  free(buf);
}

/* ---------------------------------------------------------------- writing */

static void test_write_exact(void **state) {
  const char *names[] = {"a", "b c", "d,e"};
  cohort_table *t = NULL;
  assert_int_equal(cohort_table_create(&t, 3, names), COHORT_OK);
  const char *r1[] = {"1", NULL, "x\"y"};
  const char *r2[] = {" lead", "trail\t", "line\nbreak"};
  const char *r3[] = {"", "cr\r", "plain"};
  assert_int_equal(cohort_table_append(t, r1), COHORT_OK);
  assert_int_equal(cohort_table_append(t, r2), COHORT_OK);
  assert_int_equal(cohort_table_append(t, r3), COHORT_OK);
  char *out = NULL;
  size_t len = 0;
  assert_int_equal(cohort_table_to_csv(t, &out, &len), COHORT_OK);
  const char *want = "a,b c,\"d,e\"\n"
                     "1,,\"x\"\"y\"\n"
                     "\" lead\",\"trail\t\",\"line\nbreak\"\n"
                     "\"\",\"cr\r\",plain\n";
  assert_string_equal(out, want);
  assert_int_equal(len, strlen(want));
  cohort_free(out);
  cohort_table_free(t);

  /* One column: a missing cell is written "" so it is not a blank line. */
  const char *one[] = {"v"};
  assert_int_equal(cohort_table_create(&t, 1, one), COHORT_OK);
  const char *x[] = {"x"}, *na[] = {NULL};
  assert_int_equal(cohort_table_append(t, x), COHORT_OK);
  assert_int_equal(cohort_table_append(t, na), COHORT_OK);
  assert_int_equal(cohort_table_to_csv(t, &out, &len), COHORT_OK);
  assert_string_equal(out, "v\nx\n\"\"\n");
  cohort_table *back = parse(out);
  assert_same_tables(t, back);
  cohort_table_free(back);
  cohort_free(out);
  cohort_table_free(t);
}

static void test_round_trip(void **state) {
  const char *text = "id,text,num,\" spaced name \"\n"
                     "1,\"a, b\",1.5,\n"
                     "2,\"quote \"\" inside\",,x\n"
                     "3,\"multi\nline\r\nvalue\",-2,\" keep \"\n"
                     "4,\xC3\xA9t\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80,3,\"\t\"\n"
                     "5,,,\n";
  cohort_table *t = parse(text);
  char path[300];
  tmppath(path, sizeof path, "round.csv");
  assert_int_equal(cohort_table_write_csv(t, path), COHORT_OK);
  cohort_table *back = NULL;
  if (cohort_table_read_csv(&back, path, NULL) != COHORT_OK)
    fail_msg("%s", cohort_errmsg());
  assert_same_tables(t, back);
  assert_string_equal(cohort_table_colname(back, 3), " spaced name ");
  assert_cell(back, 2, 3, " keep ");
  assert_cell(back, 3, 3, "\t");
  cohort_table_free(back);
  cohort_table_free(t);

  /* A real dataset: read, write, read again gives the same cells. */
  if (cohort_table_read_csv(&t, COHORT_DATASETS "/penguins.csv", NULL) != COHORT_OK)
    fail_msg("%s", cohort_errmsg());
  assert_int_equal(cohort_table_rows(t), 344);
  assert_int_equal(cohort_table_cols(t), 7);
  assert_cell(t, 3, 2, NULL);
  assert_cell(t, 0, 0, "Adelie");
  tmppath(path, sizeof path, "penguins.csv");
  assert_int_equal(cohort_table_write_csv(t, path), COHORT_OK);
  assert_int_equal(cohort_table_read_csv(&back, path, NULL), COHORT_OK);
  assert_same_tables(t, back);
  cohort_table_free(back);
  cohort_table_free(t);
}

static void test_fixture(void **state) {
  cohort_table *t = NULL;
  if (cohort_table_read_csv(&t, COHORT_TESTDATA "/quirks.csv", NULL) != COHORT_OK)
    fail_msg("%s", cohort_errmsg());
  assert_int_equal(cohort_table_rows(t), 3);
  assert_int_equal(cohort_table_cols(t), 5);
  assert_string_equal(cohort_table_colname(t, 0), "id");
  assert_string_equal(cohort_table_colname(t, 1), "full name");
  assert_cell(t, 0, 1, "Doe, Jane");
  assert_cell(t, 0, 3, "said \"hi\"\r\nthen left");
  assert_cell(t, 0, 4, "2023-01-02");
  assert_cell(t, 1, 1, "Bob");
  assert_cell(t, 1, 2, NULL);
  assert_cell(t, 1, 3, NULL);
  assert_cell(t, 2, 1, "  Eve ");
  assert_cell(t, 2, 2, NULL);
  assert_cell(t, 2, 4, NULL);
  cohort_table_free(t);
}

static void test_datasets(void **state) {
  static const struct {
    const char *file;
    size_t rows, cols;
  } sets[] = {{"adult_train.csv", 32561, 15}, {"adult_test.csv", 16281, 15},
              {"diamonds.csv", 53940, 10},    {"penguins.csv", 344, 7},
              {"abalone.csv", 4177, 9},       {"winequality_red.csv", 1599, 12}};
  for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", COHORT_DATASETS, sets[i].file);
    if (access(path, R_OK) != 0)
      continue;
    cohort_table *t = NULL;
    if (cohort_table_read_csv(&t, path, NULL) != COHORT_OK)
      fail_msg("%s", cohort_errmsg());
    assert_int_equal(cohort_table_rows(t), sets[i].rows);
    assert_int_equal(cohort_table_cols(t), sets[i].cols);
    cohort_table_free(t);
  }
}

/* ---------------------------------------------------------------- table API */

static void test_table_api(void **state) {
  cohort_table *t = NULL;
  const char *dup[] = {"a", "b", "a"};
  assert_int_equal(cohort_table_create(&t, 3, dup), COHORT_EINVAL);
  assert_non_null(strstr(cohort_errmsg(), "duplicate"));
  const char *empty[] = {"a", ""};
  assert_int_equal(cohort_table_create(&t, 2, empty), COHORT_EINVAL);
  const char *nul[] = {"a", NULL};
  assert_int_equal(cohort_table_create(&t, 2, nul), COHORT_EINVAL);
  assert_int_equal(cohort_table_create(NULL, 2, nul), COHORT_EINVAL);
  assert_null(t);

  const char *names[] = {"x", "y"};
  assert_int_equal(cohort_table_create(&t, 2, names), COHORT_OK);
  assert_int_equal(cohort_table_rows(t), 0);
  char cell[32];
  for (int i = 0; i < 1000; i++) {
    snprintf(cell, sizeof cell, "%d", i);
    const char *row[] = {cell, i % 2 ? NULL : "even"};
    assert_int_equal(cohort_table_append(t, row), COHORT_OK);
  }
  snprintf(cell, sizeof cell, "changed"); /* cells were copied */
  assert_int_equal(cohort_table_rows(t), 1000);
  assert_cell(t, 999, 0, "999");
  assert_cell(t, 999, 1, NULL);
  assert_cell(t, 998, 1, "even");
  assert_int_equal(cohort_table_set(t, 5, 1, "five"), COHORT_OK);
  assert_cell(t, 5, 1, "five");
  assert_int_equal(cohort_table_set(t, 4, 1, NULL), COHORT_OK);
  assert_cell(t, 4, 1, NULL);
  assert_int_equal(cohort_table_set(t, 1000, 0, "x"), COHORT_EINVAL);
  assert_int_equal(cohort_table_set(t, 0, 2, "x"), COHORT_EINVAL);
  assert_int_equal(cohort_table_append(t, NULL), COHORT_EINVAL);
  cohort_table_free(t);
  cohort_table_free(NULL);
  assert_int_equal(cohort_table_rows(NULL), 0);
  assert_int_equal(cohort_table_find(NULL, "x"), -1);
}

/* Every allocation failing in turn: ENOMEM, no leak, no crash. */
static void test_alloc_failures(void **state) {
  const char *text = "a,b,c\n1,\"x\ny\",3\n4,,6\n";
  for (long n = 1; n < 200; n++) {
    cohort_table *t = NULL;
    co_alloc_fail_after(n);
    cohort_status st = cohort_table_parse_csv(&t, text, strlen(text), NULL);
    char *out = NULL;
    if (st == COHORT_OK) {
      co_alloc_fail_after(0);
      /* Writing fails cleanly too. */
      for (long m = 1; m < 10; m++) {
        co_alloc_fail_after(m);
        cohort_status ws = cohort_table_to_csv(t, &out, NULL);
        co_alloc_fail_after(0);
        if (ws == COHORT_OK) {
          cohort_free(out);
          break;
        }
        assert_int_equal(ws, COHORT_ENOMEM);
      }
      cohort_table_free(t);
      co_alloc_fail_after(0);
      return;
    }
    co_alloc_fail_after(0);
    assert_int_equal(st, COHORT_ENOMEM);
    assert_null(t);
  }
  fail_msg("parse never succeeded");
}

static void test_fuzz_entry(void **state) {
  static const char *const inputs[] = {
      "a,b\n1,2\n",
      "a\n\n\n",
      "x,y,z\n\"q\"\"\",\" s \",\n1,yes,2020-01-01\n2,no,2021-02-03T04:05:06Z\n",
      "\xEF\xBB\xBF\"\xEF\xBB\xBF\"\n1\n",
      "a,b\n\"unterminated\n",
      "",
      "n\n1.50\n-0.001\n1e3\n",
  };
  for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++)
    assert_int_equal(co_fuzz_csv((const uint8_t *)inputs[i], strlen(inputs[i])), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_basic),
      cmocka_unit_test(test_quoting),
      cmocka_unit_test(test_line_endings_bom),
      cmocka_unit_test(test_na_tokens),
      cmocka_unit_test(test_one_column),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_default_field_limit),
      cmocka_unit_test(test_read_errors),
      cmocka_unit_test(test_large_file),
      cmocka_unit_test(test_chunk_boundaries),
      cmocka_unit_test(test_write_exact),
      cmocka_unit_test(test_round_trip),
      cmocka_unit_test(test_fixture),
      cmocka_unit_test(test_datasets),
      cmocka_unit_test(test_table_api),
      cmocka_unit_test(test_alloc_failures),
      cmocka_unit_test(test_fuzz_entry),
      cmocka_unit_test(test_shape_limits),
      cmocka_unit_test(test_row_window),
      cmocka_unit_test(test_stream),
  };
  return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}
