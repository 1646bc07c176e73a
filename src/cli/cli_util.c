/* Helpers shared by every verb: parsing, errors, progress, tables, JSON. */
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

cli_globals cli_g;

/* ---------------------------------------------------------------- argument parsing */

enum { G_HELP = -100, G_JSON, G_QUIET, G_THREADS };

static const cli_opt global_opts[] = {
    {G_HELP, "help", 'h', NULL, "show this help and exit"},
    {G_JSON, "json", 0, NULL, "print one JSON document on stdout (stable keys) instead of tables"},
    {G_QUIET, "quiet", 'q', NULL, "no progress or chatter on stderr (errors are still printed)"},
    {G_THREADS, "threads", 0, "N", "worker threads (default: all cores)"},
    {0, NULL, 0, NULL, NULL}};

void cli_args_init(cli_args *a, const cli_cmd *cmd, int argc, char **argv) {
  memset(a, 0, sizeof *a);
  a->cmd = cmd;
  a->argc = argc;
  a->argv = argv;
  a->i = 1;
}

int cli_usage(const cli_cmd *cmd, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "cohort %s: ", cmd->name);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, " (see 'cohort %s --help')\n", cmd->name);
  return CLI_USAGE;
}

static void help_opts(const cli_opt *o, FILE *f) {
  for (; o->id; o++) {
    char left[64];
    int n;
    if (o->sname)
      n = snprintf(left, sizeof left, "-%c, --%s", o->sname, o->lname);
    else
      n = snprintf(left, sizeof left, "    --%s", o->lname);
    if (o->arg && n > 0 && (size_t)n < sizeof left)
      snprintf(left + n, sizeof left - (size_t)n, " %s", o->arg);
    if (strlen(left) > 26)
      fprintf(f, "  %s\n  %-26s  %s\n", left, "", o->help);
    else
      fprintf(f, "  %-26s  %s\n", left, o->help);
  }
}

void cli_help(const cli_cmd *cmd, FILE *f) {
  fprintf(f, "Usage: cohort %s %s\n\n%s\n", cmd->name, cmd->usage, cmd->summary);
  if (cmd->opts && cmd->opts[0].id) {
    fprintf(f, "\nOptions:\n");
    help_opts(cmd->opts, f);
  }
  fprintf(f, "\nCommon options:\n");
  help_opts(global_opts, f);
  if (cmd->details)
    fprintf(f, "\n%s\n", cmd->details);
}

static const cli_opt *find_long(const cli_opt *o, const char *name, size_t len) {
  for (; o && o->id; o++)
    if (strlen(o->lname) == len && strncmp(o->lname, name, len) == 0)
      return o;
  return NULL;
}

static const cli_opt *find_short(const cli_opt *o, char c) {
  for (; o && o->id; o++)
    if (o->sname == c)
      return o;
  return NULL;
}

static int take_global(cli_args *a, const cli_opt *o, const char *val) {
  switch (o->id) {
  case G_HELP:
    cli_help(a->cmd, stdout);
    a->rc = CLI_OK;
    return CLI_STOP;
  case G_JSON:
    cli_g.json = 1;
    return 0;
  case G_QUIET:
    cli_g.quiet = 1;
    return 0;
  case G_THREADS:
    if (cli_parse_size(a, val, &cli_g.threads) != 0) {
      a->rc = CLI_USAGE;
      return CLI_STOP;
    }
    return 0;
  }
  return 0;
}

int cli_next(cli_args *a, const char **val) {
  static char spelled[80];
  for (;;) {
    if (a->i >= a->argc)
      return CLI_END;
    const char *s = a->argv[a->i++];
    *val = NULL;
    if (a->dashdash || s[0] != '-' || s[1] == '\0') {
      *val = s;
      return CLI_POS;
    }
    if (strcmp(s, "--") == 0) {
      a->dashdash = 1;
      continue;
    }
    const cli_opt *o;
    const char *inline_val = NULL;
    int global;
    if (s[1] == '-') {
      const char *name = s + 2, *eq = strchr(name, '=');
      size_t len = eq ? (size_t)(eq - name) : strlen(name);
      o = find_long(a->cmd->opts, name, len);
      global = 0;
      if (!o) {
        o = find_long(global_opts, name, len);
        global = o != NULL;
      }
      if (!o) {
        a->rc = cli_usage(a->cmd, "unknown option '%.*s'", (int)(len + 2), s);
        return CLI_STOP;
      }
      if (eq) {
        if (!o->arg) {
          a->rc = cli_usage(a->cmd, "option '--%s' takes no value", o->lname);
          return CLI_STOP;
        }
        inline_val = eq + 1;
      }
      snprintf(spelled, sizeof spelled, "--%s", o->lname);
    } else {
      o = find_short(a->cmd->opts, s[1]);
      global = 0;
      if (!o) {
        o = find_short(global_opts, s[1]);
        global = o != NULL;
      }
      if (!o) {
        a->rc = cli_usage(a->cmd, "unknown option '-%c'", s[1]);
        return CLI_STOP;
      }
      if (s[2]) {
        if (!o->arg) {
          a->rc = cli_usage(a->cmd, "unknown option '%s'", s);
          return CLI_STOP;
        }
        inline_val = s + 2;
      }
      snprintf(spelled, sizeof spelled, "-%c", o->sname);
    }
    a->opt_name = spelled;
    if (o->arg) {
      if (inline_val) {
        *val = inline_val;
      } else if (a->i < a->argc) {
        *val = a->argv[a->i++];
      } else {
        a->rc = cli_usage(a->cmd, "option '%s' needs a value (%s)", spelled, o->arg);
        return CLI_STOP;
      }
    }
    if (global) {
      int r = take_global(a, o, *val);
      if (r == CLI_STOP)
        return CLI_STOP;
      continue;
    }
    return o->id;
  }
}

int cli_parse_size(const cli_args *a, const char *s, size_t *out) {
  char *end;
  errno = 0;
  if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
    goto bad;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end || v > SIZE_MAX)
    goto bad;
  *out = (size_t)v;
  return 0;
bad:
  cli_usage(a->cmd, "%s: '%s' is not a non-negative integer", a->opt_name ? a->opt_name : "value",
            s ? s : "");
  return -1;
}

int cli_parse_u64(const cli_args *a, const char *s, uint64_t *out) {
  char *end;
  errno = 0;
  if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
    goto bad;
  unsigned long long u = strtoull(s, &end, 10);
  if (errno || *end)
    goto bad;
  *out = (uint64_t)u;
  return 0;
bad:
  cli_usage(a->cmd, "%s: '%s' is not a non-negative integer", a->opt_name ? a->opt_name : "value",
            s ? s : "");
  return -1;
}

int cli_parse_double(const cli_args *a, const char *s, double *out) {
  char *end;
  errno = 0;
  if (!s || !*s || *s == ' ')
    goto bad;
  double v = strtod(s, &end);
  if (errno || *end || !isfinite(v))
    goto bad;
  *out = v;
  return 0;
bad:
  cli_usage(a->cmd, "%s: '%s' is not a number", a->opt_name ? a->opt_name : "value", s ? s : "");
  return -1;
}

/* ---------------------------------------------------------------- lists */

static int list_push(cli_list *l, char *owned) {
  if (!owned)
    return -1;
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 8;
    char **v = realloc(l->v, cap * sizeof *v);
    if (!v) {
      free(owned);
      return -1;
    }
    l->v = v;
    l->cap = cap;
  }
  l->v[l->n++] = owned;
  return 0;
}

int cli_list_add(cli_list *l, const char *s) {
  return list_push(l, strdup(s));
}

int cli_list_add_split(cli_list *l, const char *s) {
  while (*s) {
    const char *c = strchr(s, ',');
    size_t len = c ? (size_t)(c - s) : strlen(s);
    if (len && list_push(l, strndup(s, len)) != 0)
      return -1;
    s += len;
    if (*s == ',')
      s++;
  }
  return 0;
}

void cli_list_free(cli_list *l) {
  for (size_t i = 0; i < l->n; i++)
    free(l->v[i]);
  free(l->v);
  memset(l, 0, sizeof *l);
}

int cli_parse_sizes(const cli_args *a, const char *s, size_t **out, size_t *n) {
  cli_list l = {0};
  size_t *v = NULL;
  if (cli_list_add_split(&l, s) != 0 || l.n == 0 || !(v = calloc(l.n, sizeof *v))) {
    cli_list_free(&l);
    return cli_usage(a->cmd, "%s: expected a comma-separated list of integers, got '%s'", a->opt_name, s), -1;
  }
  for (size_t i = 0; i < l.n; i++)
    if (cli_parse_size(a, l.v[i], &v[i]) != 0) {
      free(v);
      cli_list_free(&l);
      return -1;
    }
  free(*out);
  *out = v;
  *n = l.n;
  cli_list_free(&l);
  return 0;
}

int cli_parse_doubles(const cli_args *a, const char *s, double **out, size_t *n) {
  cli_list l = {0};
  double *v = NULL;
  if (cli_list_add_split(&l, s) != 0 || l.n == 0 || !(v = calloc(l.n, sizeof *v))) {
    cli_list_free(&l);
    return cli_usage(a->cmd, "%s: expected a comma-separated list of numbers, got '%s'", a->opt_name, s), -1;
  }
  for (size_t i = 0; i < l.n; i++)
    if (cli_parse_double(a, l.v[i], &v[i]) != 0) {
      free(v);
      cli_list_free(&l);
      return -1;
    }
  free(*out);
  *out = v;
  *n = l.n;
  cli_list_free(&l);
  return 0;
}

static int push_size(size_t **out, size_t *n, size_t *cap, size_t v) {
  if (*n == *cap) {
    size_t c = *cap ? *cap * 2 : 16;
    size_t *p = realloc(*out, c * sizeof *p);
    if (!p)
      return -1;
    *out = p;
    *cap = c;
  }
  (*out)[(*n)++] = v;
  return 0;
}

int cli_parse_ranges(const cli_args *a, const char *s, size_t **out, size_t *n, size_t *cap) {
  cli_list l = {0};
  int rc = -1;
  if (cli_list_add_split(&l, s) != 0 || l.n == 0) {
    cli_usage(a->cmd, "%s: expected case numbers like 1,5,9 or 10-20, got '%s'", a->opt_name, s);
    goto out;
  }
  for (size_t i = 0; i < l.n; i++) {
    char *dash = strchr(l.v[i], '-');
    size_t lo, hi;
    if (dash && dash != l.v[i]) {
      *dash = '\0';
      if (cli_parse_size(a, l.v[i], &lo) != 0 || cli_parse_size(a, dash + 1, &hi) != 0)
        goto out;
      if (hi < lo) {
        cli_usage(a->cmd, "%s: range %zu-%zu is backwards", a->opt_name, lo, hi);
        goto out;
      }
      if (hi - lo > 100000000) {
        cli_usage(a->cmd, "%s: range %zu-%zu is too large", a->opt_name, lo, hi);
        goto out;
      }
    } else {
      if (cli_parse_size(a, l.v[i], &lo) != 0)
        goto out;
      hi = lo;
    }
    for (size_t v = lo; v <= hi; v++)
      if (push_size(out, n, cap, v) != 0) {
        cli_error("out of memory");
        goto out;
      }
  }
  rc = 0;
out:
  cli_list_free(&l);
  return rc;
}

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
