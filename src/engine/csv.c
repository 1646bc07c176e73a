/* RFC 4180 CSV: a streaming reader (files are read in CO_CSV_CHUNK-byte chunks, never whole) and
 * a writer.
 *
 * Reader rules, beyond RFC 4180:
 *  - records end with LF, CRLF or a lone CR; a UTF-8 byte order mark at the start is skipped;
 *  - every field must be valid UTF-8 and NUL-free;
 *  - unquoted fields are trimmed of surrounding spaces and tabs (tabs are kept when the
 *    delimiter is a tab) and stored trimmed. Quoted fields are stored verbatim. Spaces before an
 *    opening quote and after a closing quote are allowed and dropped (`a, "b" ,c` reads b);
 *  - NA matching: a field whose content, trimmed of spaces, equals an NA token is missing
 *    (NULL). This applies to quoted fields too, so "NA" and NA both read as missing; the default
 *    tokens are "", "NA", "N/A", "?", "null", "NULL" and "NaN". Header names are never NA;
 *  - a blank record (nothing but spaces, unquoted) at the end of the input is ignored; in the
 *    middle it is a record of one empty field: an error (wrong field count) unless the table has
 *    one column, where it is a missing value;
 *  - error messages name the line a record or field starts on (1-based, counting every LF, CRLF
 *    and lone CR), the column by number and name, and the problem.
 *
 * Writer rules: the header first; ',' as delimiter; LF line ends; a field is quoted when it
 * contains a comma, a quote, CR or LF, has leading or trailing space or tab, is empty, or starts
 * with a byte order mark. A missing cell is an empty field (in a one-column table it is written
 * "" so the row is not a blank line). A non-missing cell equal to an NA token reads back as
 * missing: the writer cannot know the reader's tokens. */
#include "co_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* libFuzzer entry point (fuzz/fuzz_csv.c): parses data with default options; on success infers a
 * schema, encodes and formats every cell, writes the table back to CSV, reparses it and aborts
 * unless the round trip gives identical names and cells. Returns 0. */
int co_fuzz_csv(const uint8_t *data, size_t size);

#define CO_CSV_CHUNK (64 * 1024)
#define CO_CSV_MAX_FIELD_DEFAULT (1024 * 1024)

static const char *const default_na[] = {"", "NA", "N/A", "?", "null", "NULL", "NaN"};

enum csv_state {
  ST_UNQUOTED,        /* in an unquoted field (possibly empty so far) */
  ST_QUOTED,          /* inside quotes */
  ST_QUOTE_IN_QUOTED, /* saw a quote inside quotes: either "" or the closing quote */
  ST_AFTER_QUOTE      /* after the closing quote, skipping spaces */
};

typedef struct csv_parser {
  /* options */
  char delim;
  const char *const *na;
  size_t nna;
  size_t max_rows, max_field, max_columns, max_cells;
  size_t skip_rows, read_rows;
  size_t nskipped; /* data rows skipped so far */
  bool done;       /* read_rows reached: the rest of the input is not read */

  /* position */
  enum csv_state state;
  size_t line;       /* current physical line */
  bool prev_cr;      /* the previous byte was CR */
  bool rec_started;  /* the current record has at least one byte */
  size_t rec_line;   /* line the current record starts on */
  size_t field_line; /* line the current field starts on */

  /* current field */
  char *fbuf;
  size_t flen, fcap;
  bool fquoted;
  bool fnonblank; /* an unquoted field has a byte other than space/tab */

  /* current record */
  size_t nfields;
  bool last_blank; /* the record so far is one unquoted blank field */
  char **row;      /* ncols pending cells (arena strings or NULL) */

  /* header */
  bool have_header;
  char **names;
  size_t nnames, cap_names;

  /* blank records not yet known to be in the middle */
  size_t pending_blank, first_blank_line;

  cohort_table *t;
} csv_parser;

static bool is_trim(const csv_parser *p, char c) {
  return (c == ' ' || c == '\t') && c != p->delim;
}

/* "column 3 'age'" or "column 3" when the column has no name (yet). */
static const char *colref(const csv_parser *p, size_t col, char *buf, size_t cap) {
  const char *name = NULL;
  if (p->have_header && col < p->t->ncols)
    name = p->t->names[col];
  if (name)
    snprintf(buf, cap, "column %zu '%.64s'", col + 1, name);
  else
    snprintf(buf, cap, "column %zu", col + 1);
  return buf;
}

/* Length of the valid UTF-8 prefix of s[0..n); n if all valid. Strict: no overlong forms, no
 * surrogates, nothing above U+10FFFF. */
static size_t utf8_valid_prefix(const unsigned char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    unsigned char c = s[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
      len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0)
        lo = 0xA0;
      else if (c == 0xED)
        hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0)
        lo = 0x90;
      else if (c == 0xF4)
        hi = 0x8F;
    } else
      return i;
    if (n - i < len)
      return i;
    if (s[i + 1] < lo || s[i + 1] > hi)
      return i;
    for (size_t k = 2; k < len; k++) {
      if (s[i + k] < 0x80 || s[i + k] > 0xBF)
        return i;
    }
    i += len;
  }
  return n;
}

static bool is_na(const csv_parser *p, const char *s, size_t n) {
  while (n && s[0] == ' ')
    s++, n--;
  while (n && s[n - 1] == ' ')
    n--;
  for (size_t i = 0; i < p->nna; i++) {
    const char *tok = p->na[i];
    /* s has no NUL (rejected while reading), so strncmp stops at the end of a shorter token. */
    if (tok && strncmp(tok, s, n) == 0 && tok[n] == '\0')
      return true;
  }
  return false;
}

static cohort_status field_push(csv_parser *p, char c) {
  if (p->flen + 1 < p->fcap && p->flen < p->max_field) { /* fast path */
    p->fbuf[p->flen++] = c;
    return COHORT_OK;
  }
  if (p->flen >= p->max_field) {
    char ref[128];
    return co_error(COHORT_ELIMIT, "line %zu, %s: field longer than %zu bytes (max_field_bytes)",
                    p->field_line, colref(p, p->nfields, ref, sizeof ref), p->max_field);
  }
  if (p->flen + 1 >= p->fcap && co_grow((void **)&p->fbuf, &p->fcap, p->flen + 2, 1) != 0)
    return co_nomem();
  p->fbuf[p->flen++] = c;
  return COHORT_OK;
}

static cohort_status end_header_field(csv_parser *p, const char *s, size_t n) {
  if (p->max_columns && p->nnames >= p->max_columns)
    return co_error(COHORT_ELIMIT, "line %zu, column %zu: more than %zu columns (max_columns)", p->rec_line,
                    p->nnames + 1, p->max_columns);
  if (co_grow((void **)&p->names, &p->cap_names, p->nnames + 1, sizeof *p->names) != 0)
    return co_nomem();
  p->names[p->nnames] = co_strndup(s, n);
  if (!p->names[p->nnames])
    return co_nomem();
  p->nnames++;
  return COHORT_OK;
}

/* Completes the current field. */
static cohort_status end_field(csv_parser *p) {
  char ref[128];
  size_t col = p->nfields;
  const char *s = p->fbuf ? p->fbuf : "";
  size_t n = p->flen;
  if (!p->fquoted) {
    while (n && is_trim(p, s[0]))
      s++, n--;
    while (n && is_trim(p, s[n - 1]))
      n--;
  }
  size_t ok = utf8_valid_prefix((const unsigned char *)s, n);
  if (ok < n) {
    size_t line = p->field_line;
    for (size_t i = 0; i < ok; i++) {
      if (s[i] == '\n' || (s[i] == '\r' && (i + 1 >= n || s[i + 1] != '\n')))
        line++;
    }
    return co_error(COHORT_EFORMAT, "line %zu, %s: invalid UTF-8 (byte 0x%02X at offset %zu of the field)",
                    line, colref(p, col, ref, sizeof ref), (unsigned)(unsigned char)s[ok], ok);
  }
  p->last_blank = col == 0 && !p->fquoted && n == 0;
  cohort_status st = COHORT_OK;
  if (!p->have_header) {
    st = end_header_field(p, s, n);
  } else if (col < p->t->ncols) {
    char *cell = NULL;
    /* Pending blank-line rows go before this record: they count towards the skipped ones. */
    if (p->nskipped + p->pending_blank >= p->skip_rows && !is_na(p, s, n)) {
      cell = co_arena_strndup(&p->t->arena, s, n);
      if (!cell)
        st = co_nomem();
    }
    p->row[col] = cell;
  }
  p->nfields++;
  p->flen = 0;
  p->fquoted = false;
  p->fnonblank = false;
  p->field_line = p->line;
  return st;
}

static cohort_status push_row(csv_parser *p, size_t line, char **cells) {
  cohort_table *t = p->t;
  if (p->done) /* a blank-line row completed the window: the record after it is not kept */
    return COHORT_OK;
  if (p->nskipped < p->skip_rows) {
    p->nskipped++;
    return COHORT_OK;
  }
  if (p->max_rows && t->nrows >= p->max_rows)
    return co_error(COHORT_ELIMIT, "line %zu: more than %zu rows (max_rows)", line, p->max_rows);
  size_t need = (t->nrows + 1) * t->ncols;
  if (need / t->ncols != t->nrows + 1)
    return co_error(COHORT_ELIMIT, "line %zu: too many rows", line);
  if (p->max_cells && need > p->max_cells)
    return co_error(COHORT_ELIMIT, "line %zu: more than %zu cells (max_cells: %zu columns x %zu rows so far)",
                    line, p->max_cells, t->ncols, t->nrows);
  size_t cap = t->cap_rows * t->ncols;
  if (need > cap) {
    if (co_grow((void **)&t->cells, &cap, need, sizeof *t->cells) != 0)
      return co_nomem();
    t->cap_rows = cap / t->ncols;
  }
  char **dst = t->cells + t->nrows * t->ncols;
  for (size_t c = 0; c < t->ncols; c++)
    dst[c] = cells ? cells[c] : NULL;
  t->nrows++;
  p->done = p->read_rows && t->nrows >= p->read_rows;
  return COHORT_OK;
}

static cohort_status finish_header(csv_parser *p) {
  if (p->nnames == 1 && p->last_blank)
    return co_error(COHORT_EFORMAT, "line %zu: empty header (no column names)", p->rec_line);
  co_dict seen = {0};
  cohort_status st = COHORT_OK;
  for (size_t c = 0; c < p->nnames && st == COHORT_OK; c++) {
    long prev = co_dict_find(&seen, p->names[c]);
    if (!p->names[c][0])
      st = co_error(COHORT_EFORMAT, "line %zu, column %zu: empty column name", p->rec_line, c + 1);
    else if (prev >= 0)
      st = co_error(COHORT_EFORMAT, "line %zu, column %zu: duplicate column name '%.64s' (also column %ld)",
                    p->rec_line, c + 1, p->names[c], prev + 1);
    else if (co_dict_add(&seen, p->names[c]) < 0)
      st = co_nomem();
  }
  co_dict_free(&seen);
  if (st != COHORT_OK)
    return st;
  st = cohort_table_create(&p->t, p->nnames, (const char *const *)p->names);
  if (st != COHORT_OK)
    return st;
  p->row = co_calloc(p->nnames, sizeof *p->row);
  if (!p->row)
    return co_nomem();
  p->have_header = true;
  return COHORT_OK;
}

/* Completes the current record (its last field is already ended). */
static cohort_status end_record(csv_parser *p) {
  cohort_status st = COHORT_OK;
  if (!p->have_header) {
    st = finish_header(p);
  } else if (p->nfields == 1 && p->last_blank) {
    /* A blank line: ignored at the end of the input, decided when the next record comes. */
    if (!p->pending_blank++)
      p->first_blank_line = p->rec_line;
  } else {
    size_t ncols = p->t->ncols;
    if (p->pending_blank) {
      if (ncols != 1)
        return co_error(COHORT_EFORMAT, "line %zu: 1 field, header has %zu (blank line)", p->first_blank_line,
                        ncols);
      for (; p->pending_blank; p->pending_blank--) {
        if ((st = push_row(p, p->first_blank_line, NULL)) != COHORT_OK)
          return st;
        p->first_blank_line++;
      }
    }
    if (p->nfields != ncols)
      return co_error(COHORT_EFORMAT, "line %zu: %zu field%s, header has %zu", p->rec_line, p->nfields,
                      p->nfields == 1 ? "" : "s", ncols);
    st = push_row(p, p->rec_line, p->row);
  }
  p->nfields = 0;
  p->rec_started = false;
  p->last_blank = false;
  return st;
}

static cohort_status stray_char(csv_parser *p, unsigned char c) {
  char ref[128], what[16];
  if (c >= 0x21 && c < 0x7F)
    snprintf(what, sizeof what, "'%c'", c);
  else
    snprintf(what, sizeof what, "byte 0x%02X", c);
  return co_error(COHORT_EFORMAT, "line %zu, %s: unexpected %s after a closing quote", p->line,
                  colref(p, p->nfields, ref, sizeof ref), what);
}

/* Feeds n bytes; the state carries over to the next call. */
static cohort_status csv_feed(csv_parser *p, const char *buf, size_t n) {
  cohort_status st;
  char ref[128];
  for (size_t i = 0; i < n && !p->done; i++) {
    char c = buf[i];
    bool was_cr = p->prev_cr;
    p->prev_cr = c == '\r';
    if (c == '\n' && was_cr && p->state == ST_UNQUOTED && !p->rec_started)
      continue; /* the LF of a CRLF that ended the previous record */
    if (c == '\0')
      return co_error(COHORT_EFORMAT, "line %zu, %s: NUL byte", p->line,
                      colref(p, p->nfields, ref, sizeof ref));
    if (!p->rec_started) {
      p->rec_started = true;
      p->rec_line = p->field_line = p->line;
    }
    switch (p->state) {
    case ST_UNQUOTED:
      if (c == p->delim) {
        if ((st = end_field(p)) != COHORT_OK)
          return st;
      } else if (c == '\n' || c == '\r') {
        if ((st = end_field(p)) != COHORT_OK || (st = end_record(p)) != COHORT_OK)
          return st;
      } else if (c == '"') {
        if (p->fnonblank)
          return co_error(COHORT_EFORMAT, "line %zu, %s: quote inside an unquoted field", p->line,
                          colref(p, p->nfields, ref, sizeof ref));
        p->state = ST_QUOTED;
        p->fquoted = true;
        p->flen = 0;
        p->field_line = p->line;
      } else {
        if (!is_trim(p, c))
          p->fnonblank = true;
        if ((st = field_push(p, c)) != COHORT_OK)
          return st;
      }
      break;
    case ST_QUOTED:
      if (c == '"')
        p->state = ST_QUOTE_IN_QUOTED;
      else if ((st = field_push(p, c)) != COHORT_OK)
        return st;
      break;
    case ST_QUOTE_IN_QUOTED:
    case ST_AFTER_QUOTE:
      if (c == '"' && p->state == ST_QUOTE_IN_QUOTED) {
        p->state = ST_QUOTED;
        if ((st = field_push(p, '"')) != COHORT_OK)
          return st;
      } else if (c == p->delim) {
        p->state = ST_UNQUOTED;
        if ((st = end_field(p)) != COHORT_OK)
          return st;
      } else if (c == '\n' || c == '\r') {
        p->state = ST_UNQUOTED;
        if ((st = end_field(p)) != COHORT_OK || (st = end_record(p)) != COHORT_OK)
          return st;
      } else if (is_trim(p, c)) {
        p->state = ST_AFTER_QUOTE;
      } else {
        return stray_char(p, (unsigned char)c);
      }
      break;
    }
    if (c == '\n') {
      if (!was_cr)
        p->line++;
    } else if (c == '\r') {
      p->line++;
    }
  }
  return COHORT_OK;
}

/* Ends the input. */
static cohort_status csv_finish(csv_parser *p) {
  cohort_status st;
  if (p->done)
    return COHORT_OK;
  if (p->state == ST_QUOTED) {
    char ref[128];
    return co_error(COHORT_EFORMAT, "line %zu, %s: unterminated quoted field", p->field_line,
                    colref(p, p->nfields, ref, sizeof ref));
  }
  if (p->rec_started) {
    p->state = ST_UNQUOTED;
    if ((st = end_field(p)) != COHORT_OK || (st = end_record(p)) != COHORT_OK)
      return st;
  }
  if (!p->have_header)
    return co_error(COHORT_EFORMAT, "line 1: empty input: expected a header");
  return COHORT_OK; /* pending blank lines are at the end: ignored */
}

static cohort_status csv_init(csv_parser *p, const cohort_csv_options *opt) {
  memset(p, 0, sizeof *p);
  cohort_csv_options o;
  cohort_status st = co_options_read(&o, sizeof o, opt, "csv");
  if (st != COHORT_OK)
    return st;
  p->delim = o.delimiter ? o.delimiter : ',';
  p->na = default_na;
  p->nna = sizeof default_na / sizeof default_na[0];
  if (o.na_tokens) {
    p->na = o.na_tokens;
    p->nna = o.n_na_tokens;
  }
  p->max_rows = o.max_rows;
  p->max_columns = o.max_columns;
  p->max_cells = o.max_cells;
  p->skip_rows = o.skip_rows;
  p->read_rows = o.read_rows;
  p->max_field = o.max_field_bytes ? o.max_field_bytes : CO_CSV_MAX_FIELD_DEFAULT;
  p->line = 1;
  unsigned char d = (unsigned char)p->delim;
  if (d == '"' || d == '\r' || d == '\n' || d == ' ' || d >= 0x80)
    return co_error(COHORT_EINVAL, "invalid CSV delimiter 0x%02X", d);
  return COHORT_OK;
}

static void csv_release(csv_parser *p) {
  co_free(p->fbuf);
  for (size_t i = 0; i < p->nnames; i++)
    co_free(p->names[i]);
  co_free(p->names);
  co_free(p->row);
  cohort_table_free(p->t);
  p->t = NULL;
}

/* Skips a UTF-8 byte order mark at the start of the first chunk. */
static size_t bom_len(const char *buf, size_t n) {
  return n >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
}

cohort_status cohort_table_parse_csv(cohort_table **out, const char *buf, size_t len,
                                     const cohort_csv_options *opt) {
  if (!out || (!buf && len))
    return co_error(COHORT_EINVAL, "cohort_table_parse_csv: NULL argument");
  csv_parser p;
  cohort_status st = csv_init(&p, opt);
  if (st != COHORT_OK)
    return st;
  size_t skip = buf ? bom_len(buf, len) : 0;
  if ((st = csv_feed(&p, buf ? buf + skip : "", len - skip)) == COHORT_OK &&
      (st = csv_finish(&p)) == COHORT_OK) {
    *out = p.t;
    p.t = NULL;
  }
  csv_release(&p);
  return st;
}

cohort_status cohort_table_read_csv_stream(cohort_table **out, cohort_read_fn read, void *ctx,
                                           const cohort_csv_options *opt) {
  if (!out || !read)
    return co_error(COHORT_EINVAL, "cohort_table_read_csv_stream: NULL argument");
  csv_parser p;
  cohort_status st = csv_init(&p, opt);
  if (st != COHORT_OK)
    return st;
  char *chunk = co_malloc(CO_CSV_CHUNK);
  if (!chunk) {
    st = co_nomem();
    goto out;
  }
  for (bool first = true;; first = false) {
    size_t n = 0, got;
    do { /* the first read has at least a byte order mark's 3 bytes, unless the input is shorter */
      got = 0;
      co_error_clear();
      if ((st = read(ctx, chunk + n, CO_CSV_CHUNK - n, &got)) != COHORT_OK) {
        if (!cohort_errmsg()[0]) /* a reader of the caller's own, which cannot set the message */
          co_error(st, "the CSV reader failed");
        goto out;
      }
      if (got > CO_CSV_CHUNK - n) {
        st = co_error(COHORT_EINVAL, "cohort_table_read_csv_stream: the reader returned more than asked");
        goto out;
      }
      n += got;
    } while (first && got && n < 3);
    if (n == 0)
      break;
    size_t skip = first ? bom_len(chunk, n) : 0;
    if ((st = csv_feed(&p, chunk + skip, n - skip)) != COHORT_OK || p.done)
      break;
  }
  if (st == COHORT_OK && (st = csv_finish(&p)) == COHORT_OK) {
    *out = p.t;
    p.t = NULL;
  }
out:
  co_free(chunk);
  csv_release(&p);
  return st;
}

static cohort_status file_read(void *ctx, char *buf, size_t cap, size_t *got) {
  FILE *f = ctx;
  *got = fread(buf, 1, cap, f);
  if (*got < cap && ferror(f))
    return co_error(COHORT_EIO, "read error: %s", strerror(errno));
  return COHORT_OK;
}

cohort_status cohort_table_read_csv(cohort_table **out, const char *path, const cohort_csv_options *opt) {
  if (!out || !path)
    return co_error(COHORT_EINVAL, "cohort_table_read_csv: NULL argument");
  FILE *f = fopen(path, "rb");
  if (!f)
    return co_error(COHORT_EIO, "%s: %s", path, strerror(errno));
  cohort_status st = cohort_table_read_csv_stream(out, file_read, f, opt);
  fclose(f);
  if (st != COHORT_OK && st != COHORT_ENOMEM) { /* name the file, as a parse error names its line */
    char msg[512];
    snprintf(msg, sizeof msg, "%s", cohort_errmsg());
    co_error(st, "%s: %s", path, msg);
  }
  return st;
}

/* ---------------------------------------------------------------- writer */

typedef struct csv_sink {
  FILE *f;   /* file sink, or */
  char *buf; /* memory sink */
  size_t len, cap;
  bool failed; /* ENOMEM (memory) or a write error (file) */
} csv_sink;

static void sink_put(csv_sink *s, const char *p, size_t n) {
  if (s->failed || !n)
    return;
  if (s->f) {
    if (fwrite(p, 1, n, s->f) != n)
      s->failed = true;
    return;
  }
  if (s->len + n + 1 < s->len || co_grow((void **)&s->buf, &s->cap, s->len + n + 1, 1) != 0) {
    s->failed = true;
    return;
  }
  memcpy(s->buf + s->len, p, n);
  s->len += n;
  s->buf[s->len] = '\0';
}

static bool needs_quotes(const char *s) {
  size_t n = strlen(s);
  if (n == 0)
    return true;
  if (s[0] == ' ' || s[0] == '\t' || s[n - 1] == ' ' || s[n - 1] == '\t')
    return true;
  if (n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
    return true;
  return strpbrk(s, ",\"\r\n") != NULL;
}

static void sink_field(csv_sink *s, const char *cell) {
  if (!needs_quotes(cell)) {
    sink_put(s, cell, strlen(cell));
    return;
  }
  sink_put(s, "\"", 1);
  for (const char *q; (q = strchr(cell, '"')) != NULL; cell = q + 1) {
    sink_put(s, cell, (size_t)(q - cell) + 1);
    sink_put(s, "\"", 1);
  }
  sink_put(s, cell, strlen(cell));
  sink_put(s, "\"", 1);
}

static void write_table(csv_sink *s, const cohort_table *t) {
  for (size_t c = 0; c < t->ncols; c++) {
    if (c)
      sink_put(s, ",", 1);
    sink_field(s, t->names[c]);
  }
  sink_put(s, "\n", 1);
  for (size_t r = 0; r < t->nrows && !s->failed; r++) {
    char *const *row = t->cells + r * t->ncols;
    for (size_t c = 0; c < t->ncols; c++) {
      if (c)
        sink_put(s, ",", 1);
      if (row[c])
        sink_field(s, row[c]);
      else if (t->ncols == 1)
        sink_put(s, "\"\"", 2); /* not a blank line, which would be dropped at the end */
    }
    sink_put(s, "\n", 1);
  }
}

cohort_status cohort_table_to_csv(const cohort_table *t, char **out, size_t *len) {
  if (!t || !out)
    return co_error(COHORT_EINVAL, "cohort_table_to_csv: NULL argument");
  csv_sink s = {0};
  write_table(&s, t);
  if (s.failed) {
    co_free(s.buf);
    return co_nomem();
  }
  *out = s.buf;
  if (len)
    *len = s.len;
  return COHORT_OK;
}

cohort_status cohort_table_write_csv(const cohort_table *t, const char *path) {
  if (!t || !path)
    return co_error(COHORT_EINVAL, "cohort_table_write_csv: NULL argument");
  csv_sink s = {0};
  s.f = fopen(path, "wb");
  if (!s.f)
    return co_error(COHORT_EIO, "%s: %s", path, strerror(errno));
  write_table(&s, t);
  int saved = errno;
  if (s.failed || ferror(s.f)) {
    fclose(s.f);
    return co_error(COHORT_EIO, "%s: write error: %s", path, strerror(saved));
  }
  if (fclose(s.f) != 0)
    return co_error(COHORT_EIO, "%s: write error: %s", path, strerror(errno));
  return COHORT_OK;
}

/* ---------------------------------------------------------------- fuzz entry */

static bool same_cell(const char *a, const char *b) {
  if (!a || !b)
    return a == b;
  return strcmp(a, b) == 0;
}

/* The shape limits only ever stop the reader earlier: a limited parse that succeeds equals the
 * unlimited one, one that fails for another reason fails unlimited too, and an input within every
 * limit (short enough that no field can pass max_field_bytes) parses under them. */
static void fuzz_limits(const uint8_t *data, size_t size, const cohort_table *full) {
  const cohort_csv_options lim = {
      .size = sizeof lim, .max_rows = 6, .max_field_bytes = 64, .max_columns = 4, .max_cells = 20};
  cohort_table *t = NULL;
  cohort_status st = cohort_table_parse_csv(&t, (const char *)data, size, &lim);
  if (st == COHORT_OK) {
    if (!full || t->ncols != full->ncols || t->nrows != full->nrows || t->ncols > lim.max_columns ||
        t->nrows > lim.max_rows || t->ncols * t->nrows > lim.max_cells)
      abort();
    for (size_t i = 0; i < t->nrows * t->ncols; i++) {
      if (!same_cell(t->cells[i], full->cells[i]))
        abort();
    }
  } else if (st != COHORT_ELIMIT && st != COHORT_ENOMEM && full) {
    abort();
  } else if (st == COHORT_ELIMIT && full && size <= lim.max_field_bytes && full->ncols <= lim.max_columns &&
             full->nrows <= lim.max_rows && full->ncols * full->nrows <= lim.max_cells) {
    abort();
  }
  cohort_table_free(t);
  t = NULL;
  /* A row window of a good input is those rows of the whole table. */
  const cohort_csv_options win = {.size = sizeof win, .skip_rows = 1, .read_rows = 2};
  st = cohort_table_parse_csv(&t, (const char *)data, size, &win);
  if (full && st != COHORT_OK && st != COHORT_ENOMEM)
    abort();
  if (full && st == COHORT_OK) {
    size_t want = full->nrows > 1 ? full->nrows - 1 : 0;
    if (want > 2)
      want = 2;
    if (t->nrows != want || t->ncols != full->ncols)
      abort();
    for (size_t i = 0; i < t->nrows * t->ncols; i++) {
      if (!same_cell(t->cells[i], full->cells[full->ncols + i]))
        abort();
    }
  }
  cohort_table_free(t);
}

/* The stream reader, fed in pieces of 1 to 7 bytes, agrees with the parser on the whole input. */
typedef struct fuzz_source {
  const uint8_t *data;
  size_t size, pos, calls;
} fuzz_source;

static cohort_status fuzz_read(void *ctx, char *buf, size_t cap, size_t *got) {
  fuzz_source *src = ctx;
  size_t n = 1 + src->calls++ % 7;
  n = n < cap ? n : cap;
  n = n < src->size - src->pos ? n : src->size - src->pos;
  memcpy(buf, src->data + src->pos, n);
  src->pos += n;
  *got = n;
  return COHORT_OK;
}

static void fuzz_stream(const uint8_t *data, size_t size, cohort_status parsed, const cohort_table *full) {
  fuzz_source src = {data, size, 0, 0};
  cohort_table *t = NULL;
  cohort_status st = cohort_table_read_csv_stream(&t, fuzz_read, &src, NULL);
  if (st == COHORT_ENOMEM || parsed == COHORT_ENOMEM) {
    cohort_table_free(t);
    return;
  }
  if (st != parsed)
    abort();
  if (st == COHORT_OK) {
    if (t->ncols != full->ncols || t->nrows != full->nrows)
      abort();
    for (size_t i = 0; i < t->nrows * t->ncols; i++) {
      if (!same_cell(t->cells[i], full->cells[i]))
        abort();
    }
  }
  cohort_table_free(t);
}

int co_fuzz_csv(const uint8_t *data, size_t size) {
  cohort_table *t = NULL, *back = NULL;
  cohort_schema *s = NULL;
  char *text = NULL;
  size_t len = 0;
  cohort_status parsed = cohort_table_parse_csv(&t, (const char *)data, size, NULL);
  fuzz_limits(data, size, parsed == COHORT_OK ? t : NULL);
  fuzz_stream(data, size, parsed, t);
  if (parsed != COHORT_OK)
    return 0;
  if (cohort_schema_infer(&s, t) == COHORT_OK) {
    /* Every cell of an inferred column encodes as that column's type, and categories format
     * back to themselves (booleans may normalise the spelling of their two values). */
    char buf[512];
    for (size_t c = 0; c < s->n; c++) {
      co_feature *f = &s->f[c];
      for (size_t r = 0; r < t->nrows; r++) {
        const char *cell = t->cells[r * t->ncols + c];
        double v;
        if (co_feature_encode(f, cell, false, &v) != COHORT_OK)
          abort();
        const char *txt = co_feature_format(f, v, buf, sizeof buf);
        if (!cell != !txt)
          abort();
        if (cell && (f->type == COHORT_NOMINAL || f->type == COHORT_ORDINAL) && strcmp(cell, txt) != 0)
          abort();
        double v2;
        if (txt && co_feature_encode(f, txt, false, &v2) != COHORT_OK)
          abort();
      }
    }
    char *json = NULL;
    if (cohort_schema_to_json(s, &json) == COHORT_OK)
      free(json);
  }
  if (cohort_table_to_csv(t, &text, &len) != COHORT_OK)
    goto out;
  if (cohort_table_parse_csv(&back, text, len, NULL) != COHORT_OK)
    abort();
  if (back->nrows != t->nrows || back->ncols != t->ncols)
    abort();
  for (size_t c = 0; c < t->ncols; c++) {
    if (strcmp(t->names[c], back->names[c]) != 0)
      abort();
  }
  for (size_t i = 0; i < t->nrows * t->ncols; i++) {
    if (!same_cell(t->cells[i], back->cells[i]))
      abort();
  }
out:
  free(text);
  cohort_table_free(back);
  cohort_schema_free(s);
  cohort_table_free(t);
  return 0;
}
