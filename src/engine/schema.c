/* Schemas: one typed feature per table column, inferred from the cells, and the encoding of
 * cells to numbers and back.
 *
 * Inference looks at each column's non-missing cells, in this order:
 *  - boolean: every value a boolean word (true/false, yes/no, y/n, t/f, any case) with both a
 *    true and a false value present, or exactly the two values "0" and "1". Levels: the first
 *    false spelling seen, then the first true spelling; other spellings of the same truth
 *    encode to the same level;
 *  - numbers (every value a decimal number: no hex, inf or nan):
 *     - an integer column that counts up by exactly 1 row after row, with no missing value and
 *       more than CO_ID_MIN_ROWS rows, is id-like (continuous, ignored);
 *     - numeric codes are classes, as users mean them: exactly 2 distinct numbers (a -1/1 or 1/2
 *       label) is nominal; 3..CO_CODE_MAX_LEVELS distinct integers (a 1..5 rating, a 0..9 digit,
 *       a wine grade) is ordinal, levels in numeric order, so that as a target it is predicted
 *       as a class while as a feature its distance stays on the order. Both need at least
 *       CO_CODE_MIN_REPEAT rows per distinct value (fewer rows cannot tell a code from a
 *       measurement) and one spelling per value (not "1" and "1.0"). A count with more values
 *       (pregnancies 0..17, education years 1..16) stays continuous;
 *     - continuous otherwise: bounds, decimals (digits after the point that 95% of the values
 *       are written with, capped at 10: output is written with them, as the input was) and
 *       whether all values are integers;
 *  - datetime: every value an ISO 8601 date or date-time (see co_parse_datetime);
 *  - nominal otherwise, levels in first-seen order. All values distinct over more than
 *    CO_ID_MIN_ROWS rows with a distinct/rows ratio above CO_ID_MIN_RATIO is id-like.
 * An id-like column is flagged CO_F_ID | CO_F_IGNORED; an all-missing column is nominal and
 * ignored. Each feature keeps a one-line reason for its type (schema JSON "reason"), so a user
 * who disagrees sees which rule fired and overrides it (cohort_schema_set_type, which wins). */
#include "co_internal.h"

#include <float.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <ctype.h>
#include <string.h>

#define CO_ID_MIN_ROWS 20
#define CO_ID_MIN_RATIO 0.95
#define CO_MAX_DECIMALS 10
#define CO_CODE_MAX_LEVELS 10 /* most distinct integers taken as class codes */
#define CO_CODE_MIN_REPEAT 5  /* rows per distinct value needed to call numbers codes */
#define CO_REASON_MAX 240
#define CO_DECIMALS_SHARE 0.95 /* share of a column's values whose decimals output keeps */
#define CO_JSON_MAX_LEVELS 1000
/* Datetimes are kept within years 0000..9999 on output, so that what is written parses again. */
#define CO_EPOCH_MIN (-62167219200.0) /* 0000-01-01T00:00:00Z */
#define CO_EPOCH_MAX (253402300799.0) /* 9999-12-31T23:59:59Z */

/* ---------------------------------------------------------------- types */

static const char *const type_names[] = {"continuous", "nominal", "ordinal", "datetime", "boolean"};

const char *cohort_ftype_name(cohort_ftype type) {
  if ((unsigned)type < sizeof type_names / sizeof type_names[0])
    return type_names[type];
  return "unknown";
}

static int ascii_lower(int c) {
  return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

static bool ieq(const char *a, const char *b) {
  for (; *a && *b; a++, b++) {
    if (ascii_lower((unsigned char)*a) != ascii_lower((unsigned char)*b))
      return false;
  }
  return *a == *b;
}

int cohort_ftype_parse(const char *name) {
  static const struct {
    const char *name;
    cohort_ftype type;
  } aliases[] = {{"continuous", COHORT_CONTINUOUS}, {"numeric", COHORT_CONTINUOUS},
                 {"number", COHORT_CONTINUOUS},     {"nominal", COHORT_NOMINAL},
                 {"categorical", COHORT_NOMINAL},   {"ordinal", COHORT_ORDINAL},
                 {"datetime", COHORT_DATETIME},     {"date", COHORT_DATETIME},
                 {"boolean", COHORT_BOOLEAN},       {"bool", COHORT_BOOLEAN}};
  if (!name)
    return -1;
  for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++) {
    if (ieq(name, aliases[i].name))
      return (int)aliases[i].type;
  }
  return -1;
}

bool co_is_categorical(cohort_ftype t) {
  return t == COHORT_NOMINAL || t == COHORT_ORDINAL || t == COHORT_BOOLEAN;
}

/* ---------------------------------------------------------------- numbers */

/* Decimal number: [space][+-]digits[.digits][(e|E)[+-]digits][space], at least one mantissa
 * digit, finite. decimals: digits after the point net of the exponent, in [0, CO_MAX_DECIMALS]. */
static bool scan_number(const char *s, double *out, int *decimals) {
  const char *p = s;
  while (*p == ' ' || *p == '\t')
    p++;
  const char *start = p;
  if (*p == '+' || *p == '-')
    p++;
  size_t nint = 0, nfrac = 0;
  while (*p >= '0' && *p <= '9')
    p++, nint++;
  if (*p == '.') {
    p++;
    while (*p >= '0' && *p <= '9')
      p++, nfrac++;
  }
  if (nint + nfrac == 0)
    return false;
  long exp = 0;
  if (*p == 'e' || *p == 'E') {
    p++;
    int sign = 1;
    if (*p == '+' || *p == '-')
      sign = *p++ == '-' ? -1 : 1;
    if (!(*p >= '0' && *p <= '9'))
      return false;
    while (*p >= '0' && *p <= '9') {
      if (exp < 100000)
        exp = exp * 10 + (*p - '0');
      p++;
    }
    exp *= sign;
  }
  const char *end = p;
  while (*p == ' ' || *p == '\t')
    p++;
  if (*p)
    return false;
  char *stop;
  double v = strtod(start, &stop);
  if (stop != end || !isfinite(v))
    return false;
  if (decimals) {
    long d = (long)nfrac - exp;
    *decimals = d < 0 ? 0 : d > CO_MAX_DECIMALS ? CO_MAX_DECIMALS : (int)d;
  }
  *out = v == 0 ? 0.0 : v; /* no -0 */
  return true;
}

bool co_parse_number(const char *s, double *out) {
  double v;
  if (!s || !scan_number(s, &v, NULL))
    return false;
  *out = v;
  return true;
}

/* ---------------------------------------------------------------- dates */

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  unsigned yoe = (unsigned)(y - era * 400);
  unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  unsigned doe = (unsigned)(z - era * 146097);
  unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static bool is_leap(int y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m) {
  static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : dm[m - 1];
}

/* Reads exactly n digits. */
static bool read_digits(const char **p, int n, int *out) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    char c = (*p)[i];
    if (c < '0' || c > '9')
      return false;
    v = v * 10 + (c - '0');
  }
  *p += n;
  *out = v;
  return true;
}

/* YYYY-MM-DD, optionally followed by 'T' (or a space) and HH:MM[:SS[.fraction]] with an optional
 * zone: Z, +HH:MM, +HHMM or +HH (or -). Seconds 00..59; no leap second. */
bool co_parse_datetime(const char *s, double *epoch, bool *has_time) {
  if (!s)
    return false;
  const char *p = s;
  int y, mo, d, h = 0, mi = 0, sec = 0;
  double frac = 0;
  long offset = 0; /* seconds east of UTC */
  bool time = false;
  if (!read_digits(&p, 4, &y) || *p++ != '-' || !read_digits(&p, 2, &mo) || *p++ != '-' ||
      !read_digits(&p, 2, &d))
    return false;
  if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
    return false;
  if (*p == 'T' || *p == 't' || *p == ' ') {
    p++;
    time = true;
    if (!read_digits(&p, 2, &h) || *p++ != ':' || !read_digits(&p, 2, &mi))
      return false;
    if (*p == ':') {
      p++;
      if (!read_digits(&p, 2, &sec))
        return false;
      if (*p == '.' || *p == ',') {
        p++;
        if (!(*p >= '0' && *p <= '9'))
          return false;
        double scale = 0.1;
        for (; *p >= '0' && *p <= '9'; p++, scale /= 10)
          frac += (*p - '0') * scale;
      }
    }
    if (h > 23 || mi > 59 || sec > 59)
      return false;
    if (*p == 'Z' || *p == 'z') {
      p++;
    } else if (*p == '+' || *p == '-') {
      int sign = *p++ == '-' ? -1 : 1, oh, om = 0;
      if (!read_digits(&p, 2, &oh))
        return false;
      if (*p == ':') {
        p++;
        if (!read_digits(&p, 2, &om))
          return false;
      } else if (*p >= '0' && *p <= '9') {
        if (!read_digits(&p, 2, &om))
          return false;
      }
      if (oh > 23 || om > 59)
        return false;
      offset = sign * (oh * 3600L + om * 60L);
    }
  }
  if (*p)
    return false;
  double days = (double)days_from_civil(y, (unsigned)mo, (unsigned)d);
  if (epoch)
    *epoch = days * 86400.0 + h * 3600.0 + mi * 60.0 + sec + frac - (double)offset;
  if (has_time)
    *has_time = time;
  return true;
}

/* ---------------------------------------------------------------- booleans */

/* 1 = true word, 0 = false word, -1 = not a boolean word. */
static int bool_word(const char *s) {
  static const char *const t[] = {"true", "yes", "y", "t"};
  static const char *const f[] = {"false", "no", "n", "f"};
  for (size_t i = 0; i < 4; i++) {
    if (ieq(s, t[i]))
      return 1;
    if (ieq(s, f[i]))
      return 0;
  }
  return -1;
}

static int bool_01(const char *s) {
  return strcmp(s, "1") == 0 ? 1 : strcmp(s, "0") == 0 ? 0 : -1;
}

/* Truth of a boolean feature's value: a word, or 0/1. */
static int bool_truth(const char *s) {
  int b = bool_word(s);
  return b >= 0 ? b : bool_01(s);
}

/* ---------------------------------------------------------------- deriving a feature */

static const char *cell_at(const cohort_table *t, size_t r, size_t c) {
  return t->cells[r * t->ncols + c];
}

/* Replaces f's reason with a formatted one (capped at CO_REASON_MAX bytes). */
static cohort_status set_reason(co_feature *f, const char *fmt, ...) CO_PRINTF(2, 3);
static cohort_status set_reason(co_feature *f, const char *fmt, ...) {
  char buf[CO_REASON_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  char *r = co_strdup(buf);
  if (!r)
    return co_nomem();
  co_free(f->reason);
  f->reason = r;
  return COHORT_OK;
}

static void set_level_bounds(co_feature *f) {
  f->min = f->levels.n ? 0 : NAN;
  f->max = f->levels.n ? (double)(f->levels.n - 1) : NAN;
}

/* Fills f (type, bounds, decimals, levels; not name or flags) as type `type` from column col.
 * report: on a value that cannot be of the type, set a message naming row, column and value
 * (otherwise fail quietly, for inference). Returns COHORT_EFORMAT then. */
static cohort_status derive_continuous(co_feature *f, const cohort_table *t, size_t col, bool report) {
  f->type = COHORT_CONTINUOUS;
  f->min = NAN;
  f->max = NAN;
  f->decimals = 0;
  f->integer = true;
  size_t ndec[CO_MAX_DECIMALS + 1] = {0}, n = 0;
  for (size_t r = 0; r < t->nrows; r++) {
    const char *cell = cell_at(t, r, col);
    if (!cell)
      continue;
    double v;
    int dec;
    if (!scan_number(cell, &v, &dec)) {
      if (report)
        return co_error(COHORT_EFORMAT, "row %zu, column %zu '%.64s': '%.64s' is not a number", r + 1,
                        col + 1, t->names[col], cell);
      return COHORT_EFORMAT;
    }
    if (isnan(f->min) || v < f->min)
      f->min = v;
    if (isnan(f->max) || v > f->max)
      f->max = v;
    ndec[dec]++;
    n++;
    if (dec > 0 || !(fabs(v) < 9007199254740992.0 && v == floor(v)))
      f->integer = false;
  }
  /* The decimals the column is written with: enough for CO_DECIMALS_SHARE of its values, so a few
   * cells written with float noise ("9.550000000000001") do not lengthen every output value. */
  for (size_t c = 0; n && f->decimals < CO_MAX_DECIMALS; f->decimals++) {
    c += ndec[f->decimals];
    if ((double)c >= CO_DECIMALS_SHARE * (double)n)
      break;
  }
  return COHORT_OK;
}

static cohort_status derive_datetime(co_feature *f, const cohort_table *t, size_t col, bool report) {
  f->type = COHORT_DATETIME;
  f->min = NAN;
  f->max = NAN;
  f->decimals = 0;
  f->has_time = false;
  for (size_t r = 0; r < t->nrows; r++) {
    const char *cell = cell_at(t, r, col);
    if (!cell)
      continue;
    double v;
    bool tm;
    if (!co_parse_datetime(cell, &v, &tm)) {
      if (report)
        return co_error(
            COHORT_EFORMAT,
            "row %zu, column %zu '%.64s': '%.64s' is not an ISO 8601 date (YYYY-MM-DD[THH:MM[:SS]])", r + 1,
            col + 1, t->names[col], cell);
      return COHORT_EFORMAT;
    }
    if (isnan(f->min) || v < f->min)
      f->min = v;
    if (isnan(f->max) || v > f->max)
      f->max = v;
    f->has_time |= tm;
  }
  return COHORT_OK;
}

/* Boolean: values all words or all 0/1. need_both: both truths must be present (inference). */
static cohort_status derive_boolean(co_feature *f, const cohort_table *t, size_t col, bool report,
                                    bool need_both) {
  const char *spell[2] = {NULL, NULL};
  int family = -1; /* 0 = words, 1 = 0/1 */
  for (size_t r = 0; r < t->nrows; r++) {
    const char *cell = cell_at(t, r, col);
    if (!cell)
      continue;
    int b = bool_word(cell), fam = 0;
    if (b < 0) {
      b = bool_01(cell);
      fam = 1;
    }
    if (b < 0 || (family >= 0 && fam != family)) {
      if (report)
        return co_error(
            COHORT_EFORMAT,
            "row %zu, column %zu '%.64s': '%.64s' is not a boolean value (true/false, yes/no, y/n, "
            "t/f or 0/1, not mixed)",
            r + 1, col + 1, t->names[col], cell);
      return COHORT_EFORMAT;
    }
    family = fam;
    if (!spell[b])
      spell[b] = cell;
  }
  if (need_both && (!spell[0] || !spell[1]))
    return COHORT_EFORMAT;
  f->type = COHORT_BOOLEAN;
  f->decimals = 0;
  for (int b = 0; b < 2; b++) {
    if (spell[b] && co_dict_add(&f->levels, spell[b]) < 0)
      return co_nomem();
  }
  set_level_bounds(f);
  return COHORT_OK;
}

/* Nominal levels in first-seen order. */
static cohort_status derive_levels(co_feature *f, const cohort_table *t, size_t col) {
  for (size_t r = 0; r < t->nrows; r++) {
    const char *cell = cell_at(t, r, col);
    if (cell && co_dict_add(&f->levels, cell) < 0)
      return co_nomem();
  }
  set_level_bounds(f);
  return COHORT_OK;
}

typedef struct num_level {
  double v;
  size_t first; /* first-seen index: ties keep that order */
} num_level;

static int cmp_num_level(const void *a, const void *b) {
  const num_level *x = a, *y = b;
  if (x->v != y->v)
    return x->v < y->v ? -1 : 1;
  return x->first < y->first ? -1 : x->first > y->first;
}

/* Ordinal levels: in numeric order if every value is a number, else first-seen order. */
static cohort_status derive_ordinal(co_feature *f, const cohort_table *t, size_t col) {
  f->type = COHORT_ORDINAL;
  f->decimals = 0;
  cohort_status st = derive_levels(f, t, col);
  if (st != COHORT_OK || f->levels.n < 2)
    return st;
  num_level *nl = co_calloc(f->levels.n, sizeof *nl);
  if (!nl)
    return co_nomem();
  for (size_t i = 0; i < f->levels.n; i++) {
    if (!scan_number(f->levels.items[i], &nl[i].v, NULL)) {
      co_free(nl);
      return COHORT_OK; /* not all numbers: first-seen order */
    }
    nl[i].first = i;
  }
  qsort(nl, f->levels.n, sizeof *nl, cmp_num_level);
  co_dict sorted = {0};
  for (size_t i = 0; i < f->levels.n; i++) {
    if (co_dict_add(&sorted, f->levels.items[nl[i].first]) < 0) {
      co_dict_free(&sorted);
      co_free(nl);
      return co_nomem();
    }
  }
  co_free(nl);
  co_dict_free(&f->levels);
  f->levels = sorted;
  return COHORT_OK;
}

/* Derives f as `type` from the column (f->levels must be empty). */
static cohort_status derive(co_feature *f, const cohort_table *t, size_t col, cohort_ftype type,
                            bool report) {
  switch (type) {
  case COHORT_CONTINUOUS:
    return derive_continuous(f, t, col, report);
  case COHORT_DATETIME:
    return derive_datetime(f, t, col, report);
  case COHORT_BOOLEAN:
    return derive_boolean(f, t, col, report, false);
  case COHORT_ORDINAL:
    return derive_ordinal(f, t, col);
  case COHORT_NOMINAL:
    f->type = COHORT_NOMINAL;
    f->decimals = 0;
    return derive_levels(f, t, col);
  }
  return co_error(COHORT_EINVAL, "unknown feature type %d", (int)type);
}

static bool is_running_sequence(const cohort_table *t, size_t col) {
  if (t->nrows <= CO_ID_MIN_ROWS)
    return false;
  double prev = 0;
  for (size_t r = 0; r < t->nrows; r++) {
    const char *cell = cell_at(t, r, col);
    double v;
    if (!cell || !scan_number(cell, &v, NULL) || (r && v != prev + 1))
      return false;
    prev = v;
  }
  return true;
}

/* Distinct numbers of a numeric column, counted up to cap + 1 (counting stops there).
 * *one_spelling: false if a value is written two ways ("1" and "1.0"); *integers: false if a
 * value counted is not an integer. */
static size_t count_codes(const cohort_table *t, size_t col, size_t cap, bool *one_spelling, bool *integers) {
  double vals[CO_CODE_MAX_LEVELS + 1];
  const char *spell[CO_CODE_MAX_LEVELS + 1];
  size_t d = 0;
  *one_spelling = *integers = true;
  if (cap > CO_CODE_MAX_LEVELS)
    cap = CO_CODE_MAX_LEVELS;
  for (size_t r = 0; r < t->nrows; r++) {
    const char *cell = cell_at(t, r, col);
    double v;
    if (!cell || !scan_number(cell, &v, NULL))
      continue;
    size_t i = 0;
    while (i < d && vals[i] != v)
      i++;
    if (i < d) {
      if (strcmp(spell[i], cell) != 0)
        *one_spelling = false;
      continue;
    }
    if (d == cap + 1)
      return d;
    vals[d] = v;
    spell[d++] = cell;
    if (v != floor(v))
      *integers = false;
  }
  return d;
}

/* A numeric column (f derived as continuous): numeric codes become a class (see the top). */
static cohort_status infer_numeric(co_feature *f, const cohort_table *t, size_t col, size_t present) {
  bool one_spelling, integers;
  size_t d = count_codes(t, col, CO_CODE_MAX_LEVELS, &one_spelling, &integers);
  if (d > CO_CODE_MAX_LEVELS)
    return set_reason(f, "numbers with more than %d distinct values", CO_CODE_MAX_LEVELS);
  if (d == 1)
    return set_reason(f, "numbers, all one value");
  if (d > 2 && !integers)
    return set_reason(f, "numbers with %zu distinct values, not all integers", d);
  if (present < CO_CODE_MIN_REPEAT * d)
    return set_reason(f,
                      "numbers with %zu distinct values in only %zu rows: too few rows (under %d per value) "
                      "to take them as class codes",
                      d, present, CO_CODE_MIN_REPEAT);
  if (!one_spelling)
    return set_reason(f, "numbers with %zu distinct values, some written two ways (e.g. 1 and 1.0)", d);
  double lo = f->min, hi = f->max;
  co_dict_free(&f->levels);
  cohort_status st = derive_ordinal(f, t, col); /* levels in numeric order */
  if (st != COHORT_OK)
    return st;
  f->integer = false;
  if (d == 2) {
    f->type = COHORT_NOMINAL;
    return set_reason(f,
                      "numbers with only 2 distinct values (%.32s, %.32s) over %zu rows: a class; set the "
                      "type to continuous to treat them as numbers",
                      f->levels.items[0], f->levels.items[1], present);
  }
  return set_reason(f,
                    "integers with only %zu distinct values (%.17g to %.17g) over %zu rows: ordered classes, "
                    "predicted as a class; set the type to continuous to predict a number",
                    d, lo, hi, present);
}

static cohort_status infer_feature(co_feature *f, const cohort_table *t, size_t col) {
  size_t present = 0;
  for (size_t r = 0; r < t->nrows; r++)
    present += cell_at(t, r, col) != NULL;
  f->flags = 0;
  if (present == 0) {
    f->type = COHORT_NOMINAL;
    f->flags = CO_F_IGNORED;
    set_level_bounds(f);
    return set_reason(f, "every value is missing: ignored");
  }
  cohort_status st = derive_boolean(f, t, col, false, true);
  if (st == COHORT_OK)
    return set_reason(f, bool_01(f->levels.items[0]) >= 0
                             ? "only the values 0 and 1"
                             : "two values, both boolean words (true/false, yes/no, y/n, t/f)");
  if (st != COHORT_EFORMAT)
    return st;
  if (derive_continuous(f, t, col, false) == COHORT_OK) {
    if (f->integer && present == t->nrows && is_running_sequence(t, col)) {
      f->flags = CO_F_ID | CO_F_IGNORED;
      return set_reason(f, "integers counting up by 1 row after row: an id, ignored");
    }
    return infer_numeric(f, t, col, present);
  }
  if (derive_datetime(f, t, col, false) == COHORT_OK)
    return set_reason(f, f->has_time ? "ISO 8601 date-times" : "ISO 8601 dates");
  f->type = COHORT_NOMINAL;
  f->decimals = 0;
  f->integer = false;
  f->has_time = false;
  if ((st = derive_levels(f, t, col)) != COHORT_OK)
    return st;
  if (f->levels.n == present && t->nrows > CO_ID_MIN_ROWS &&
      (double)present / (double)t->nrows > CO_ID_MIN_RATIO) {
    f->flags = CO_F_ID | CO_F_IGNORED;
    return set_reason(f, "text with a different value in every row: an id, ignored");
  }
  return set_reason(f, "text (not numbers, dates or booleans) with %zu distinct values", f->levels.n);
}

/* ---------------------------------------------------------------- schema lifetime */

static void feature_destroy(co_feature *f) {
  co_free(f->name);
  co_free(f->reason);
  co_dict_free(&f->levels);
  memset(f, 0, sizeof *f);
}

void co_schema_destroy(cohort_schema *s) {
  if (!s)
    return;
  for (size_t i = 0; i < s->n; i++)
    feature_destroy(&s->f[i]);
  co_free(s->f);
  s->f = NULL;
  s->n = 0;
}

void cohort_schema_free(cohort_schema *s) {
  if (!s)
    return;
  co_schema_destroy(s);
  co_free(s);
}

int co_schema_copy_into(cohort_schema *dst, const cohort_schema *src) {
  dst->n = 0;
  dst->f = co_calloc(src->n ? src->n : 1, sizeof *dst->f);
  if (!dst->f)
    return -1;
  for (size_t i = 0; i < src->n; i++) {
    co_feature *d = &dst->f[i];
    const co_feature *s = &src->f[i];
    *d = *s;
    d->name = NULL;
    d->reason = NULL;
    memset(&d->levels, 0, sizeof d->levels);
    dst->n = i + 1;
    if (!(d->name = co_strdup(s->name)) || co_dict_copy(&d->levels, &s->levels) != 0 ||
        (s->reason && !(d->reason = co_strdup(s->reason)))) {
      co_schema_destroy(dst);
      return -1;
    }
  }
  return 0;
}

cohort_status cohort_schema_copy(cohort_schema **out, const cohort_schema *s) {
  if (!out || !s)
    return co_error(COHORT_EINVAL, "cohort_schema_copy: NULL argument");
  cohort_schema *c = co_calloc(1, sizeof *c);
  if (!c)
    return co_nomem();
  if (co_schema_copy_into(c, s) != 0) {
    co_free(c);
    return co_nomem();
  }
  *out = c;
  return COHORT_OK;
}

cohort_status cohort_schema_infer(cohort_schema **out, const cohort_table *t) {
  if (!out || !t)
    return co_error(COHORT_EINVAL, "cohort_schema_infer: NULL argument");
  cohort_status st = COHORT_OK;
  cohort_schema *s = co_calloc(1, sizeof *s);
  if (!s)
    return co_nomem();
  s->f = co_calloc(t->ncols ? t->ncols : 1, sizeof *s->f);
  if (!s->f) {
    st = co_nomem();
    goto out;
  }
  for (size_t c = 0; c < t->ncols; c++) {
    co_feature *f = &s->f[c];
    s->n = c + 1;
    if (!(f->name = co_strdup(t->names[c]))) {
      st = co_nomem();
      goto out;
    }
    if ((st = infer_feature(f, t, c)) != COHORT_OK)
      goto out;
  }
  *out = s;
  return COHORT_OK;
out:
  cohort_schema_free(s);
  return st;
}

/* ---------------------------------------------------------------- accessors */

static const co_feature *feat(const cohort_schema *s, size_t i) {
  return s && i < s->n ? &s->f[i] : NULL;
}

size_t cohort_schema_features(const cohort_schema *s) {
  return s ? s->n : 0;
}

const char *cohort_schema_name(const cohort_schema *s, size_t i) {
  const co_feature *f = feat(s, i);
  return f ? f->name : NULL;
}

long cohort_schema_find(const cohort_schema *s, const char *name) {
  if (!s || !name)
    return -1;
  for (size_t i = 0; i < s->n; i++) {
    if (strcmp(s->f[i].name, name) == 0)
      return (long)i;
  }
  return -1;
}

/* Case-insensitive (ASCII) optimal string alignment distance: insertions, deletions,
 * substitutions and swaps of neighbours cost 1, so "lenght" is one edit from "length". Names
 * longer than NEAR_MAX are never compared: this runs on a request's error path. */
enum { NEAR_MAX = 128 };

static size_t edit_distance(const char *a, size_t n, const char *b, size_t m) {
  size_t rows[3][NEAR_MAX + 1];
  size_t *pp = rows[0], *prev = rows[1], *cur = rows[2];
  for (size_t j = 0; j <= m; j++)
    prev[j] = j;
  for (size_t i = 1; i <= n; i++) {
    cur[0] = i;
    int ai = tolower((unsigned char)a[i - 1]);
    for (size_t j = 1; j <= m; j++) {
      int bj = tolower((unsigned char)b[j - 1]);
      size_t best = prev[j - 1] + (ai != bj);
      if (prev[j] + 1 < best)
        best = prev[j] + 1;
      if (cur[j - 1] + 1 < best)
        best = cur[j - 1] + 1;
      if (i > 1 && j > 1 && ai == tolower((unsigned char)b[j - 2]) &&
          tolower((unsigned char)a[i - 2]) == bj && pp[j - 2] + 1 < best)
        best = pp[j - 2] + 1;
      cur[j] = best;
    }
    size_t *t = pp;
    pp = prev;
    prev = cur;
    cur = t;
  }
  return prev[m];
}

const char *cohort_schema_nearest(const cohort_schema *s, const char *name) {
  size_t n = name ? strlen(name) : 0;
  if (!s || n == 0 || n > NEAR_MAX)
    return NULL;
  size_t limit = 1 + n / 4; /* beyond this a suggestion is a guess, not a typo */
  const char *best = NULL;
  size_t best_d = limit + 1;
  for (size_t i = 0; i < s->n; i++) {
    const char *c = s->f[i].name;
    size_t m = strlen(c);
    if (m > NEAR_MAX || (m > n ? m - n : n - m) >= best_d)
      continue;
    size_t d = edit_distance(name, n, c, m);
    if (d < best_d && strcmp(c, name) != 0) {
      best_d = d;
      best = c;
    }
  }
  return best;
}

cohort_ftype cohort_schema_type(const cohort_schema *s, size_t i) {
  const co_feature *f = feat(s, i);
  return f ? f->type : COHORT_NOMINAL;
}

int cohort_schema_is_id(const cohort_schema *s, size_t i) {
  const co_feature *f = feat(s, i);
  return f && (f->flags & CO_F_ID) ? 1 : 0;
}

int cohort_schema_is_ignored(const cohort_schema *s, size_t i) {
  const co_feature *f = feat(s, i);
  return f && (f->flags & CO_F_IGNORED) ? 1 : 0;
}

size_t cohort_schema_levels(const cohort_schema *s, size_t i) {
  const co_feature *f = feat(s, i);
  return f && co_is_categorical(f->type) ? f->levels.n : 0;
}

const char *cohort_schema_level(const cohort_schema *s, size_t i, size_t level) {
  const co_feature *f = feat(s, i);
  if (!f || !co_is_categorical(f->type) || level >= f->levels.n)
    return NULL;
  return f->levels.items[level];
}

void cohort_schema_bounds(const cohort_schema *s, size_t i, double *min, double *max) {
  const co_feature *f = feat(s, i);
  if (min)
    *min = f ? f->min : NAN;
  if (max)
    *max = f ? f->max : NAN;
}

int cohort_schema_decimals(const cohort_schema *s, size_t i) {
  const co_feature *f = feat(s, i);
  return f ? f->decimals : 0;
}

/* ---------------------------------------------------------------- overrides */

static cohort_status find_feature(cohort_schema *s, const char *name, co_feature **out) {
  long i = cohort_schema_find(s, name);
  if (i < 0)
    return co_error(COHORT_ENOTFOUND, "no feature named '%.64s'", name);
  *out = &s->f[i];
  return COHORT_OK;
}

/* Types other than the target type keep their flags: set_type changes what a column is, not
 * whether it is used (see cohort_schema_set_ignored). */
cohort_status cohort_schema_set_type(cohort_schema *s, const cohort_table *t, const char *name,
                                     cohort_ftype type) {
  if (!s || !t || !name)
    return co_error(COHORT_EINVAL, "cohort_schema_set_type: NULL argument");
  if ((unsigned)type > COHORT_BOOLEAN)
    return co_error(COHORT_EINVAL, "feature '%.64s': unknown type %d", name, (int)type);
  co_feature *f = NULL;
  cohort_status st = find_feature(s, name, &f);
  if (st != COHORT_OK)
    return st;
  long col = cohort_table_find(t, name);
  if (col < 0)
    return co_error(COHORT_ENOTFOUND, "feature '%.64s': the table has no column of that name", name);
  co_feature nf = {0};
  nf.flags = f->flags;
  nf.min = nf.max = NAN;
  if ((st = derive(&nf, t, (size_t)col, type, true)) != COHORT_OK ||
      (st = set_reason(&nf, "set to %s by an override (inferred %s)", cohort_ftype_name(type),
                       cohort_ftype_name(f->type))) != COHORT_OK) {
    co_dict_free(&nf.levels);
    co_free(nf.reason);
    return st;
  }
  if (!co_is_categorical(type))
    co_dict_free(&nf.levels);
  else
    nf.integer = nf.has_time = false;
  nf.name = f->name;
  co_dict_free(&f->levels);
  co_free(f->reason);
  *f = nf;
  return COHORT_OK;
}

/* Fixes the level order of an ordinal feature; a nominal feature becomes ordinal. */
cohort_status cohort_schema_set_order(cohort_schema *s, const char *name, const char *const *levels,
                                      size_t n) {
  if (!s || !name || (n && !levels))
    return co_error(COHORT_EINVAL, "cohort_schema_set_order: NULL argument");
  co_feature *f = NULL;
  cohort_status st = find_feature(s, name, &f);
  if (st != COHORT_OK)
    return st;
  if (f->type != COHORT_ORDINAL && f->type != COHORT_NOMINAL)
    return co_error(COHORT_EINVAL,
                    "feature '%.64s' is %s: only an ordinal (or nominal) feature takes an order", name,
                    cohort_ftype_name(f->type));
  co_dict order = {0};
  for (size_t i = 0; i < n; i++) {
    if (!levels[i]) {
      st = co_error(COHORT_EINVAL, "feature '%.64s': level %zu of the order is NULL", name, i + 1);
      goto out;
    }
    if (co_dict_find(&order, levels[i]) >= 0) {
      st = co_error(COHORT_EINVAL, "feature '%.64s': level '%.64s' is listed twice in the order", name,
                    levels[i]);
      goto out;
    }
    if (co_dict_add(&order, levels[i]) < 0) {
      st = co_nomem();
      goto out;
    }
  }
  for (size_t i = 0; i < f->levels.n; i++) {
    if (co_dict_find(&order, f->levels.items[i]) < 0) {
      st = co_error(COHORT_EINVAL, "feature '%.64s': level '%.64s' is observed but missing from the order",
                    name, f->levels.items[i]);
      goto out;
    }
  }
  if ((st = set_reason(f, "ordinal, its level order set by an override")) != COHORT_OK)
    goto out;
  co_dict_free(&f->levels);
  f->levels = order;
  memset(&order, 0, sizeof order);
  f->type = COHORT_ORDINAL;
  set_level_bounds(f);
out:
  co_dict_free(&order);
  return st;
}

cohort_status cohort_schema_set_ignored(cohort_schema *s, const char *name, int ignored) {
  if (!s || !name)
    return co_error(COHORT_EINVAL, "cohort_schema_set_ignored: NULL argument");
  co_feature *f = NULL;
  cohort_status st = find_feature(s, name, &f);
  if (st != COHORT_OK)
    return st;
  if (ignored)
    f->flags |= CO_F_IGNORED;
  else
    f->flags &= ~(unsigned)CO_F_IGNORED;
  return COHORT_OK;
}

/* ---------------------------------------------------------------- encode / format */

static long find_level(const co_feature *f, const char *cell) {
  long code = co_dict_find(&f->levels, cell);
  if (code >= 0)
    return code;
  if (f->type == COHORT_BOOLEAN) {
    int b = bool_truth(cell);
    for (size_t i = 0; b >= 0 && i < f->levels.n; i++) {
      if (bool_truth(f->levels.items[i]) == b)
        return (long)i;
    }
  } else if (f->type == COHORT_ORDINAL || (f->type == COHORT_NOMINAL && f->levels.n <= CO_CODE_MAX_LEVELS)) {
    /* Numeric codes match by value ("1.0" is level "1"); a nominal feature only when it has as
     * few levels as inferred codes, so that a large one is not scanned on every new level. */
    double v, lv;
    if (scan_number(cell, &v, NULL)) {
      for (size_t i = 0; i < f->levels.n; i++) {
        if (scan_number(f->levels.items[i], &lv, NULL) && lv == v)
          return (long)i;
      }
    }
  }
  return -1;
}

cohort_status co_feature_encode(co_feature *f, const char *cell, bool extend, double *out) {
  if (!cell) {
    *out = NAN;
    return COHORT_OK;
  }
  double v;
  switch (f->type) {
  case COHORT_CONTINUOUS:
    if (!scan_number(cell, &v, NULL))
      return co_error(COHORT_EFORMAT, "feature '%.64s': '%.64s' is not a number", f->name, cell);
    *out = v;
    return COHORT_OK;
  case COHORT_DATETIME:
    if (!co_parse_datetime(cell, &v, NULL))
      return co_error(COHORT_EFORMAT,
                      "feature '%.64s': '%.64s' is not an ISO 8601 date (YYYY-MM-DD[THH:MM[:SS]])", f->name,
                      cell);
    *out = v;
    return COHORT_OK;
  case COHORT_NOMINAL:
  case COHORT_ORDINAL:
  case COHORT_BOOLEAN: {
    long code = find_level(f, cell);
    if (code < 0) {
      if (!extend)
        return co_error(COHORT_ENOTFOUND, "feature '%.64s': unknown category '%.64s'", f->name, cell);
      if ((code = co_dict_add(&f->levels, cell)) < 0)
        return co_nomem();
      set_level_bounds(f);
    }
    *out = (double)code;
    return COHORT_OK;
  }
  }
  return co_error(COHORT_EINVAL, "feature '%.64s': unknown type %d", f->name, (int)f->type);
}

/* Drops the sign of a formatted negative zero ("-0", "-0.00"). */
static void strip_negative_zero(char *buf) {
  if (buf[0] != '-')
    return;
  for (const char *p = buf + 1; *p; p++) {
    if (*p != '0' && *p != '.')
      return;
  }
  memmove(buf, buf + 1, strlen(buf));
}

static int64_t floor_div(int64_t a, int64_t b) {
  return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* Categorical values return the level string itself (owned by the feature, valid while the level
 * exists); it is also copied into buf when it fits. */
const char *co_feature_format(const co_feature *f, double v, char *buf, size_t cap) {
  if (isnan(v) || !buf || cap == 0)
    return NULL;
  switch (f->type) {
  case COHORT_CONTINUOUS: {
    if (isinf(v))
      v = v > 0 ? DBL_MAX : -DBL_MAX;
    int n = snprintf(buf, cap, "%.*f", f->decimals, v);
    if (n < 0 || (size_t)n >= cap)
      snprintf(buf, cap, "%.17g", v);
    strip_negative_zero(buf);
    return buf;
  }
  case COHORT_DATETIME: {
    if (v < CO_EPOCH_MIN)
      v = CO_EPOCH_MIN;
    if (v > CO_EPOCH_MAX)
      v = CO_EPOCH_MAX;
    int64_t y;
    unsigned m, d;
    if (f->has_time) {
      int64_t secs = (int64_t)floor(v + 0.5);
      if (secs > (int64_t)CO_EPOCH_MAX)
        secs = (int64_t)CO_EPOCH_MAX;
      int64_t days = floor_div(secs, 86400), rem = secs - days * 86400;
      civil_from_days(days, &y, &m, &d);
      snprintf(buf, cap, "%04d-%02u-%02uT%02d:%02d:%02dZ", (int)y, m, d, (int)(rem / 3600),
               (int)(rem / 60 % 60), (int)(rem % 60));
    } else {
      int64_t days = (int64_t)floor(v / 86400.0 + 0.5);
      if (days > 2932896) /* 9999-12-31 */
        days = 2932896;
      civil_from_days(days, &y, &m, &d);
      snprintf(buf, cap, "%04d-%02u-%02u", (int)y, m, d);
    }
    return buf;
  }
  case COHORT_NOMINAL:
  case COHORT_ORDINAL:
  case COHORT_BOOLEAN: {
    if (f->levels.n == 0)
      return NULL;
    double r = floor(v + 0.5);
    size_t code = r <= 0 ? 0 : r >= (double)(f->levels.n - 1) ? f->levels.n - 1 : (size_t)r;
    const char *level = f->levels.items[code];
    if (strlen(level) < cap)
      memcpy(buf, level, strlen(level) + 1);
    return level;
  }
  }
  return NULL;
}

/* ---------------------------------------------------------------- JSON */

/* A JSON string of s; invalid UTF-8 (possible in names set through the API) becomes '?'. */
static json_t *json_text(const char *s) {
  json_t *j = json_string(s);
  if (j)
    return j;
  size_t n = strlen(s);
  char *copy = co_strndup(s, n);
  if (!copy)
    return NULL;
  for (size_t i = 0; i < n; i++) {
    if ((unsigned char)copy[i] >= 0x80)
      copy[i] = '?';
  }
  j = json_string(copy);
  co_free(copy);
  return j;
}

static json_t *json_num(double v) {
  return isfinite(v) ? json_real(v) : json_null();
}

static json_t *feature_json(const co_feature *f) {
  json_t *o = json_object();
  if (!o)
    return NULL;
  int bad = 0;
  bad |= json_object_set_new(o, "name", json_text(f->name));
  bad |= json_object_set_new(o, "type", json_string(cohort_ftype_name(f->type)));
  bad |= json_object_set_new(o, "id", json_boolean(f->flags & CO_F_ID));
  bad |= json_object_set_new(o, "ignored", json_boolean(f->flags & CO_F_IGNORED));
  bad |= json_object_set_new(o, "min", json_num(f->min));
  bad |= json_object_set_new(o, "max", json_num(f->max));
  bad |= json_object_set_new(o, "decimals", json_integer(f->decimals));
  if (f->reason)
    bad |= json_object_set_new(o, "reason", json_text(f->reason));
  if (f->type == COHORT_CONTINUOUS)
    bad |= json_object_set_new(o, "integer", json_boolean(f->integer));
  if (f->type == COHORT_DATETIME)
    bad |= json_object_set_new(o, "has_time", json_boolean(f->has_time));
  if (co_is_categorical(f->type)) {
    json_t *levels = json_array();
    bad |= json_object_set_new(o, "levels", levels);
    for (size_t i = 0; levels && i < f->levels.n && i < CO_JSON_MAX_LEVELS; i++)
      bad |= json_array_append_new(levels, json_text(f->levels.items[i]));
    if (f->levels.n > CO_JSON_MAX_LEVELS) {
      bad |= json_object_set_new(o, "levels_truncated", json_true());
      bad |= json_object_set_new(o, "n_levels", json_integer((json_int_t)f->levels.n));
    }
  }
  if (bad) {
    json_decref(o);
    return NULL;
  }
  return o;
}

cohort_status cohort_schema_to_json(const cohort_schema *s, char **out) {
  if (!s || !out)
    return co_error(COHORT_EINVAL, "cohort_schema_to_json: NULL argument");
  json_t *arr = json_array();
  if (!arr)
    return co_nomem();
  for (size_t i = 0; i < s->n; i++) {
    if (json_array_append_new(arr, feature_json(&s->f[i])) != 0) {
      json_decref(arr);
      return co_nomem();
    }
  }
  char *text = json_dumps(arr, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  json_decref(arr);
  if (!text)
    return co_nomem();
  *out = text;
  return COHORT_OK;
}
