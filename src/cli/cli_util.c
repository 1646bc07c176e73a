/* Helpers shared by every verb: errors, progress and Ctrl-C, tables, JSON, files. */
#include "cli_util.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------- errors */

static volatile sig_atomic_t interrupted;

int cli_fail(cohort_status st, const char *fmt, ...) {
  va_list ap;
  char what[512];
  const char *msg = cohort_errmsg();
  if (!msg || !*msg)
    msg = cohort_strerror(st);
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  /* The engine's message may already start with what we were doing ("analyze: cancelled"). */
  size_t wl = strlen(what);
  if (strncmp(msg, what, wl) == 0 && msg[wl] == ':')
    fprintf(stderr, "cohort: %s\n", msg);
  else
    fprintf(stderr, "cohort: %s: %s\n", what, msg);
  if (st == COHORT_ECANCELLED && interrupted)
    return CLI_INTERRUPTED;
  return CLI_ERR;
}

int cli_error(const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "cohort: ");
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  return CLI_ERR;
}

void cli_note(const char *fmt, ...) {
  va_list ap;
  if (cli_g.quiet || cli_g.json)
    return;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

/* ---------------------------------------------------------------- progress and Ctrl-C */

static void on_sigint(int sig) {
  (void)sig;
  interrupted = 1;
  signal(SIGINT, SIG_DFL); /* a second Ctrl-C kills */
}

void cli_signals_init(void) {
  signal(SIGINT, on_sigint);
}

int cli_interrupted(void) {
  return interrupted != 0;
}

static double mono_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void cli_progress_init(cli_progress *p) {
  memset(p, 0, sizeof *p);
  p->last = -1;
  p->tty = isatty(STDERR_FILENO);
}

void cli_progress_end(cli_progress *p) {
  if (p->open) {
    fputc('\n', stderr);
    fflush(stderr);
    p->open = 0;
  }
}

int cli_progress_cb(void *user, const char *stage, double fraction) {
  cli_progress *p = user;
  if (interrupted)
    return 1;
  if (!p || cli_g.quiet)
    return 0;
  if (!stage || !*stage)
    stage = "working";
  if (!(fraction >= 0))
    fraction = 0;
  if (fraction > 1)
    fraction = 1;
  int pct = (int)(fraction * 100.0 + 1e-9);
  if (strncmp(p->stage, stage, sizeof p->stage - 1) != 0) {
    cli_progress_end(p);
    snprintf(p->stage, sizeof p->stage, "%s", stage);
    p->last = -1;
    p->t_stage = mono_now();
  }
  if (p->tty) {
    if (pct == p->last)
      return 0;
    char bar[31];
    int fill = pct * 30 / 100;
    for (int i = 0; i < 30; i++)
      bar[i] = i < fill ? '#' : '.';
    bar[30] = '\0';
    fprintf(stderr, "\r%-16s [%s] %3d%%", p->stage, bar, pct);
    p->open = 1;
    if (pct >= 100)
      cli_progress_end(p);
    fflush(stderr);
  } else {
    /* Occasional lines for logs: every quarter, for stages that take more than a second. */
    int step = pct / 25 * 25;
    if (step <= p->last || step == 0 || mono_now() - p->t_stage < 1.0)
      return 0;
    fprintf(stderr, "%s: %d%%\n", p->stage, step);
    fflush(stderr);
  }
  p->last = p->tty ? pct : pct / 25 * 25;
  return 0;
}

/* ---------------------------------------------------------------- tables */

int cli_table_init(cli_table *t, size_t ncols, const char *const *heads) {
  memset(t, 0, sizeof *t);
  t->ncols = ncols;
  t->heads = (const char **)heads;
  t->max_width = 36;
  return 0;
}

int cli_table_add(cli_table *t, const char *cell) {
  size_t idx = t->nrows * t->ncols + t->cur;
  if (idx >= t->cap) {
    size_t cap = t->cap ? t->cap * 2 : t->ncols * 16;
    char **c = realloc(t->cells, cap * sizeof *c);
    if (!c)
      return -1;
    t->cells = c;
    t->cap = cap;
  }
  t->cells[idx] = strdup(cell ? cell : "");
  if (!t->cells[idx])
    return -1;
  if (++t->cur == t->ncols) {
    t->cur = 0;
    t->nrows++;
  }
  return 0;
}

int cli_table_addf(cli_table *t, const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return cli_table_add(t, buf);
}

/* Display width of UTF-8 text (code points; good enough for tables). */
static size_t u8_width(const char *s) {
  size_t w = 0;
  for (; *s; s++)
    if (((unsigned char)*s & 0xC0) != 0x80)
      w++;
  return w;
}

/* Byte length of the first `width` code points of s. */
static size_t u8_prefix(const char *s, size_t width) {
  size_t i = 0, w = 0;
  while (s[i]) {
    if (((unsigned char)s[i] & 0xC0) != 0x80) {
      if (w == width)
        break;
      w++;
    }
    i++;
  }
  return i;
}

static void print_cell(FILE *f, const char *s, size_t width, size_t maxw, int right, int last) {
  size_t w = u8_width(s);
  size_t bytes = strlen(s);
  int cut = 0;
  if (w > maxw) {
    bytes = u8_prefix(s, maxw - 3);
    w = maxw;
    cut = 1;
  }
  size_t pad = width > w ? width - w : 0;
  if (right)
    for (size_t i = 0; i < pad; i++)
      fputc(' ', f);
  fwrite(s, 1, bytes, f);
  if (cut)
    fputs("...", f);
  if (!right && !last)
    for (size_t i = 0; i < pad; i++)
      fputc(' ', f);
}

void cli_table_print(const cli_table *t, FILE *f, const char *indent) {
  size_t *width = calloc(t->ncols ? t->ncols : 1, sizeof *width);
  char *line = NULL;
  size_t cap = 0;
  if (!width)
    return;
  /* Cells are cut at max_width; headers never are. */
  for (size_t c = 0; c < t->ncols; c++) {
    size_t w = 0;
    for (size_t r = 0; r < t->nrows; r++) {
      size_t cw = u8_width(t->cells[r * t->ncols + c]);
      if (cw > w)
        w = cw;
    }
    if (w > t->max_width)
      w = t->max_width;
    size_t hw = u8_width(t->heads[c] + (t->heads[c][0] == '>'));
    width[c] = w > hw ? w : hw;
  }
  for (size_t r = 0; r < t->nrows + 2; r++) {
    FILE *m = open_memstream(&line, &cap);
    if (!m)
      break;
    fputs(indent ? indent : "", m);
    for (size_t c = 0; c < t->ncols; c++) {
      int right = t->heads[c][0] == '>';
      int last = c + 1 == t->ncols;
      if (r == 0) {
        print_cell(m, t->heads[c] + right, width[c], width[c], right, last);
      } else if (r == 1) {
        for (size_t i = 0; i < width[c]; i++)
          fputc('-', m);
      } else {
        print_cell(m, t->cells[(r - 2) * t->ncols + c], width[c], t->max_width, right, last);
      }
      if (!last)
        fputs("  ", m);
    }
    fclose(m);
    size_t len = strlen(line);
    while (len && line[len - 1] == ' ')
      len--;
    fwrite(line, 1, len, f);
    fputc('\n', f);
    free(line);
    line = NULL;
  }
  free(width);
}

void cli_table_free(cli_table *t) {
  size_t n = t->nrows * t->ncols + t->cur;
  for (size_t i = 0; i < n; i++)
    free(t->cells[i]);
  free(t->cells);
  memset(t, 0, sizeof *t);
}

/* ---------------------------------------------------------------- JSON and numbers */

json_t *cli_jnum(double v) {
  return isfinite(v) ? json_real(v) : json_null();
}

json_t *cli_jstr(const char *s) {
  if (!s)
    return json_null();
  json_t *j = json_string(s);
  if (j)
    return j;
  /* Not UTF-8 (a Latin-1 CSV, say): keep the ASCII, mark the rest. */
  char *copy = strdup(s);
  if (!copy)
    return NULL;
  for (char *c = copy; *c; c++)
    if ((unsigned char)*c >= 0x80)
      *c = '?';
  j = json_string(copy);
  free(copy);
  return j;
}

#define CLI_JSON_FLAGS (JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10))

int cli_json_print(json_t *doc) {
  if (!doc)
    return cli_error("could not build the JSON output (out of memory, or text that is not UTF-8)");
  int r = json_dumpf(doc, stdout, CLI_JSON_FLAGS);
  json_decref(doc);
  fputc('\n', stdout);
  if (r != 0 || fflush(stdout) != 0)
    return cli_error("writing JSON to stdout: %s", strerror(errno));
  return CLI_OK;
}

int cli_json_write(json_t *doc, const char *path) {
  char *s = json_dumps(doc, CLI_JSON_FLAGS);
  if (!s) {
    errno = ENOMEM;
    return -1;
  }
  size_t len = strlen(s);
  char *t = realloc(s, len + 2);
  if (!t) {
    free(s);
    errno = ENOMEM;
    return -1;
  }
  t[len] = '\n';
  t[len + 1] = '\0';
  int r = cli_write_file(path, t, len + 1);
  free(t);
  return r;
}

const char *cli_fmt_num(char *buf, size_t cap, double v, int digits) {
  if (!isfinite(v))
    snprintf(buf, cap, "n/a");
  else
    snprintf(buf, cap, "%.*g", digits, v);
  return buf;
}

char *cli_join(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  char *s = malloc(la + lb + 1);
  if (s) {
    memcpy(s, a, la);
    memcpy(s + la, b, lb + 1);
  }
  return s;
}

/* ---------------------------------------------------------------- files */

int cli_is_stdout(const char *path) {
  return !path || strcmp(path, "-") == 0;
}

int cli_write_file(const char *path, const char *data, size_t len) {
  if (cli_is_stdout(path)) {
    if (fwrite(data, 1, len, stdout) != len || fflush(stdout) != 0)
      return -1;
    return 0;
  }
  FILE *f = fopen(path, "wb");
  if (!f)
    return -1;
  int ok = fwrite(data, 1, len, f) == len;
  if (fclose(f) != 0)
    ok = 0;
  return ok ? 0 : -1;
}
