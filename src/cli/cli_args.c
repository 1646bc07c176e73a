/* The one argument parser of every verb (see cli_util.h), the parsers of option values, lists,
 * and the dispatch of `cohort <group> <verb>`. */
#include "cli_util.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

cli_globals cli_g;

static const cli_opt global_opts[] = {
    CLI_OPT("help", 'h', NULL, "show this help and exit", CLI_HELP, NULL),
    CLI_OPT("json", 0, NULL, "print one JSON document on stdout (stable keys) instead of tables", CLI_FLAG,
            &cli_g.json),
    CLI_OPT("quiet", 'q', NULL, "no progress or chatter on stderr (errors are still printed)", CLI_FLAG,
            &cli_g.quiet),
    CLI_OPT("threads", 0, "N", "worker threads (default: all cores)", CLI_SIZE, &cli_g.threads),
    CLI_OPTS_END};

/* ---------------------------------------------------------------- help and usage */

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
  for (; o && o->lname; o++) {
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
  if (cmd->opts && cmd->opts[0].lname) {
    fprintf(f, "\nOptions:\n");
    help_opts(cmd->opts, f);
  }
  fprintf(f, "\nCommon options:\n");
  help_opts(global_opts, f);
  if (cmd->details)
    fprintf(f, "\n%s\n", cmd->details);
}

/* ---------------------------------------------------------------- values */

/* A decimal integer from 0 to max, no sign or spaces. */
static int parse_unsigned(const cli_args *a, const char *s, unsigned long long max, unsigned long long *out) {
  char *end;
  errno = 0;
  if (s && *s && *s != '-' && *s != '+' && *s != ' ') {
    unsigned long long v = strtoull(s, &end, 10);
    if (!errno && !*end && v <= max) {
      *out = v;
      return 0;
    }
  }
  cli_usage(a->cmd, "%s: '%s' is not a non-negative integer", a->opt_name ? a->opt_name : "value",
            s ? s : "");
  return -1;
}

int cli_parse_size(const cli_args *a, const char *s, size_t *out) {
  unsigned long long v;
  if (parse_unsigned(a, s, SIZE_MAX, &v) != 0)
    return -1;
  *out = (size_t)v;
  return 0;
}

int cli_parse_u64(const cli_args *a, const char *s, uint64_t *out) {
  unsigned long long v;
  if (parse_unsigned(a, s, UINT64_MAX, &v) != 0)
    return -1;
  *out = (uint64_t)v;
  return 0;
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

void cli_sizes_free(cli_sizes *s) {
  free(s->v);
  memset(s, 0, sizeof *s);
}

void cli_doubles_free(cli_doubles *d) {
  free(d->v);
  memset(d, 0, sizeof *d);
}

static int push_size(cli_sizes *s, size_t v) {
  if (s->n == s->cap) {
    size_t c = s->cap ? s->cap * 2 : 16;
    size_t *p = realloc(s->v, c * sizeof *p);
    if (!p)
      return -1;
    s->v = p;
    s->cap = c;
  }
  s->v[s->n++] = v;
  return 0;
}

/* "3,5,8" into sizes, or "0.5,1,2" into doubles (what: "integers" or "numbers"). */
static int parse_number_list(const cli_args *a, const char *s, int doubles, void *dst) {
  cli_list l = {0};
  void *v = NULL;
  if (cli_list_add_split(&l, s) != 0 || l.n == 0 ||
      !(v = calloc(l.n, doubles ? sizeof(double) : sizeof(size_t)))) {
    cli_list_free(&l);
    return cli_usage(a->cmd, "%s: expected a comma-separated list of %s, got '%s'", a->opt_name,
                     doubles ? "numbers" : "integers", s),
           -1;
  }
  for (size_t i = 0; i < l.n; i++)
    if ((doubles ? cli_parse_double(a, l.v[i], (double *)v + i)
                 : cli_parse_size(a, l.v[i], (size_t *)v + i)) != 0) {
      free(v);
      cli_list_free(&l);
      return -1;
    }
  if (doubles) {
    cli_doubles *d = dst;
    free(d->v);
    d->v = v;
    d->n = l.n;
  } else {
    cli_sizes *z = dst;
    free(z->v);
    z->v = v;
    z->n = z->cap = l.n;
  }
  cli_list_free(&l);
  return 0;
}

/* Case lists: "1,5,9,20-30" appended. */
static int parse_ranges(const cli_args *a, const char *s, cli_sizes *out) {
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
      if (push_size(out, v) != 0) {
        cli_error("out of memory");
        goto out;
      }
  }
  rc = 0;
out:
  cli_list_free(&l);
  return rc;
}

/* ---------------------------------------------------------------- the parser */

static const cli_opt *find_long(const cli_opt *o, const char *name, size_t len) {
  for (; o && o->lname; o++)
    if (strlen(o->lname) == len && strncmp(o->lname, name, len) == 0)
      return o;
  return NULL;
}

static const cli_opt *find_short(const cli_opt *o, char c) {
  for (; o && o->lname; o++)
    if (o->sname == c)
      return o;
  return NULL;
}

/* 0 when v is within the option's bounds; else the usage error, -1. */
static int check_bounds(const cli_args *a, const cli_opt *o, double v) {
  if (!o->bad || (v >= o->lo && v <= o->hi && !(o->gt && v == o->lo)))
    return 0;
  return cli_usage(a->cmd, "--%s: %s", o->lname, o->bad), -1;
}

/* Stores the value of o: 0, -1 after a usage error (printed), -2 out of memory (printed). */
static int take(const cli_args *a, const cli_opt *o, const char *val) {
  size_t z;
  double d;
  switch (o->kind) {
  case CLI_FLAG:
    *(int *)o->dst = 1;
    break;
  case CLI_STR:
    *(const char **)o->dst = val;
    break;
  case CLI_LIST:
  case CLI_EACH:
    if ((o->kind == CLI_LIST ? cli_list_add_split(o->dst, val) : cli_list_add(o->dst, val)) != 0)
      return cli_error("out of memory"), -2;
    break;
  case CLI_SIZE:
    if (cli_parse_size(a, val, &z) != 0 || check_bounds(a, o, (double)z) != 0)
      return -1;
    *(size_t *)o->dst = z;
    break;
  case CLI_U64:
    if (cli_parse_u64(a, val, o->dst) != 0)
      return -1;
    break;
  case CLI_DOUBLE:
    if (cli_parse_double(a, val, &d) != 0 || check_bounds(a, o, d) != 0)
      return -1;
    *(double *)o->dst = d;
    break;
  case CLI_SIZES:
  case CLI_DOUBLES: {
    int dbl = o->kind == CLI_DOUBLES;
    if (parse_number_list(a, val, dbl, o->dst) != 0)
      return -1;
    size_t n = dbl ? ((cli_doubles *)o->dst)->n : ((cli_sizes *)o->dst)->n;
    for (size_t i = 0; i < n; i++)
      if (check_bounds(a, o, dbl ? ((cli_doubles *)o->dst)->v[i] : (double)((cli_sizes *)o->dst)->v[i]) != 0)
        return -1;
    break;
  }
  case CLI_RANGES:
    if (parse_ranges(a, val, o->dst) != 0)
      return -1;
    break;
  case CLI_CALL:
    if (o->fn(a, val, o->dst) != 0)
      return -1;
    break;
  case CLI_HELP:
    break;
  }
  if (o->seen)
    *o->seen = 1;
  return 0;
}

/* The option that s spells, its value in *val; NULL after a usage error. */
static const cli_opt *read_option(cli_args *a, const char *s, const char **val) {
  static char spelled[80];
  const cli_opt *o;
  const char *inline_val = NULL;
  if (s[1] == '-') {
    const char *name = s + 2, *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    if (!(o = find_long(a->cmd->opts, name, len)) && !(o = find_long(global_opts, name, len))) {
      cli_usage(a->cmd, "unknown option '%.*s'", (int)(len + 2), s);
      return NULL;
    }
    if (eq) {
      if (!o->arg) {
        cli_usage(a->cmd, "option '--%s' takes no value", o->lname);
        return NULL;
      }
      inline_val = eq + 1;
    }
    snprintf(spelled, sizeof spelled, "--%s", o->lname);
  } else {
    if (!(o = find_short(a->cmd->opts, s[1])) && !(o = find_short(global_opts, s[1]))) {
      cli_usage(a->cmd, "unknown option '-%c'", s[1]);
      return NULL;
    }
    if (s[2]) {
      if (!o->arg) {
        cli_usage(a->cmd, "unknown option '%s'", s);
        return NULL;
      }
      inline_val = s + 2;
    }
    snprintf(spelled, sizeof spelled, "-%c", o->sname);
  }
  a->opt_name = spelled;
  *val = NULL;
  if (o->arg) {
    if (inline_val) {
      *val = inline_val;
    } else if (a->i < a->argc) {
      *val = a->argv[a->i++];
    } else {
      cli_usage(a->cmd, "option '%s' needs a value (%s)", spelled, o->arg);
      return NULL;
    }
  }
  return o;
}

int cli_parse(const cli_cmd *cmd, int argc, char **argv, int *rc) {
  cli_args a = {cmd, argc, argv, 1, 0, NULL};
  const cli_pos *next = cmd->pos;
  for (const cli_pos *p = cmd->pos; p && p->dst; p++)
    *p->dst = NULL;
  *rc = CLI_USAGE;
  while (a.i < a.argc) {
    const char *s = a.argv[a.i++], *val;
    if (a.dashdash || s[0] != '-' || s[1] == '\0') {
      if (next && next->dst) {
        *(next++)->dst = s;
        continue;
      }
      *rc = cmd->extra ? cmd->extra(&a, s) : cli_usage(cmd, "unexpected argument '%s'", s);
      return 0;
    }
    if (strcmp(s, "--") == 0) {
      a.dashdash = 1;
      continue;
    }
    const cli_opt *o = read_option(&a, s, &val);
    if (!o)
      return 0;
    if (o->kind == CLI_HELP) {
      cli_help(cmd, stdout);
      *rc = CLI_OK;
      return 0;
    }
    int r = take(&a, o, val);
    if (r != 0) {
      *rc = r == -2 ? CLI_ERR : CLI_USAGE;
      return 0;
    }
  }
  for (const cli_pos *p = cmd->pos; p && p->dst; p++)
    if (!*p->dst && p->missing) {
      if (*p->missing)
        cli_usage(cmd, "%s", p->missing);
      else
        cli_usage(cmd, "missing argument: cohort %s %s", cmd->name, cmd->usage);
      return 0;
    }
  *rc = CLI_OK;
  return 1;
}

/* ---------------------------------------------------------------- verb groups */

static void group_overview(FILE *f, const cli_group *g) {
  fprintf(f, "Usage: cohort %s <verb> [arguments]\n\n%s\n\nVerbs:\n", g->name, g->about);
  for (const cli_verb *v = g->verbs; v->name; v++)
    fprintf(f, "  %-12s %s\n", v->name, v->summary);
  fputs(g->footer, f);
}

static const cli_verb *find_verb(const cli_group *g, const char *name) {
  for (const cli_verb *v = g->verbs; v->name; v++)
    if (strcmp(v->name, name) == 0)
      return v;
  fprintf(stderr, "cohort %s: unknown verb '%s' (see 'cohort %s help')\n", g->name, name, g->name);
  return NULL;
}

int cli_dispatch(const cli_group *g, int argc, char **argv) {
  if (argc < 2) {
    group_overview(stderr, g);
    return CLI_USAGE;
  }
  const char *name = argv[1];
  const cli_verb *v;
  if (strcmp(name, "help") == 0 && argc >= 3) {
    if (!(v = find_verb(g, argv[2])))
      return CLI_USAGE;
    char *args[] = {argv[2], "--help", NULL};
    return v->run(2, args);
  }
  if (strcmp(name, "help") == 0 || strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
    group_overview(stdout, g);
    return CLI_OK;
  }
  if (!(v = find_verb(g, name)))
    return CLI_USAGE;
  return v->run(argc - 1, argv + 1);
}
