/* Helpers shared by every verb of the cohort binary: argument parsing, usage and runtime errors,
 * progress on stderr, aligned tables, lists of names, JSON output. Nothing here knows a verb. */
#ifndef COHORT_CLI_UTIL_H
#define COHORT_CLI_UTIL_H

#include "cohort/cohort.h"

#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>

#if defined(__GNUC__)
#define CLI_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define CLI_PRINTF(a, b)
#endif

/* Exit codes. */
enum { CLI_OK = 0, CLI_ERR = 1, CLI_USAGE = 2, CLI_INTERRUPTED = 130 };

/* ---------------------------------------------------------------- global options
 * Every verb accepts --help, --json, --quiet and --threads N; the parser fills this in. */
typedef struct cli_globals {
  int json;       /* --json: stdout is one JSON document */
  int quiet;      /* --quiet: no progress, no chatter; errors still printed */
  size_t threads; /* --threads N; 0 = all cores */
} cli_globals;

extern cli_globals cli_g;

/* ---------------------------------------------------------------- lists */

/* A growable list of strings; owned strings (strdup'd) so items can be split pieces. */
typedef struct cli_list {
  char **v;
  size_t n, cap;
} cli_list;

int cli_list_add(cli_list *l, const char *s);
/* Adds each comma-separated piece of s (empty pieces skipped). */
int cli_list_add_split(cli_list *l, const char *s);
void cli_list_free(cli_list *l);

/* Numbers given as lists ("3,5,8", "0.5,1,2", case ranges "1,5,9-20"); v is malloc'd. */
typedef struct cli_sizes {
  size_t *v;
  size_t n, cap;
} cli_sizes;
typedef struct cli_doubles {
  double *v;
  size_t n;
} cli_doubles;
void cli_sizes_free(cli_sizes *s);
void cli_doubles_free(cli_doubles *d);

/* ---------------------------------------------------------------- argument parsing
 * One parser for every verb. A verb describes its options in a table whose entries point at the
 * verb's own variables (so the table lives on the verb's stack) and its positional arguments in a
 * second one, then calls cli_parse once. Options and positionals come in any order; "--" ends the
 * options; --help, --json, --quiet and --threads are taken for every verb. */

typedef struct cli_args cli_args;

/* How an option's value is stored into dst. */
typedef enum cli_kind {
  CLI_FLAG,    /* int: set to 1 (takes no value) */
  CLI_STR,     /* const char *: the value itself, the last one given */
  CLI_LIST,    /* cli_list: each comma-separated piece (repeatable) */
  CLI_EACH,    /* cli_list: the whole value (repeatable) */
  CLI_SIZE,    /* size_t */
  CLI_U64,     /* uint64_t */
  CLI_DOUBLE,  /* double (finite) */
  CLI_SIZES,   /* cli_sizes: "3,5,8", replacing an earlier one */
  CLI_DOUBLES, /* cli_doubles: "0.5,1,2", replacing an earlier one */
  CLI_RANGES,  /* cli_sizes: "1,5,9-20", appended (repeatable) */
  CLI_CALL,    /* fn(a, val, dst): the verb's own reading of the value */
  CLI_HELP     /* --help */
} cli_kind;

/* For CLI_CALL: stores val into dst, or prints a usage error and returns -1. */
typedef int (*cli_opt_fn)(const cli_args *a, const char *val, void *dst);

typedef struct cli_opt {
  const char *lname; /* long name without dashes; NULL ends a table */
  char sname;        /* short letter, or 0 */
  const char *arg;   /* placeholder of the value ("FILE"), NULL for a flag */
  const char *help;  /* one line */
  cli_kind kind;
  void *dst;
  int *seen;       /* optional: set to 1 once the option is taken */
  cli_opt_fn fn;   /* CLI_CALL */
  const char *bad; /* numbers: when set, a value outside [lo, hi] (lo itself too with gt) is the */
  double lo, hi;   /* usage error "--<lname>: <bad>" */
  int gt;
} cli_opt;

/* A table entry: CLI_OPT("output", 'o', "FILE", "where to write it", CLI_STR, &out), optionally
 * followed by designated fields (.seen = &have, CLI_NOT_BELOW(1, "must be at least 1"), ...). */
#define CLI_OPT(lname_, sname_, arg_, help_, kind_, dst_, ...)                                               \
  {                                                                                                          \
    .lname = (lname_), .sname = (sname_), .arg = (arg_), .help = (help_), .kind = (kind_), .dst = (dst_),    \
    __VA_ARGS__                                                                                              \
  }
#define CLI_OPTS_END                                                                                         \
  { .lname = NULL }
#define CLI_NOT_BELOW(v, msg) .bad = (msg), .lo = (v), .hi = HUGE_VAL
#define CLI_ABOVE(v, msg) .bad = (msg), .lo = (v), .hi = HUGE_VAL, .gt = 1

/* A positional argument, stored into *dst in order (NULL until given). missing: the usage error
 * when it is absent; NULL when it is optional; CLI_REQUIRED for "missing argument: cohort <verb>
 * <usage>". A table ends with an entry whose dst is NULL. */
typedef struct cli_pos {
  const char **dst;
  const char *missing;
} cli_pos;
#define CLI_REQUIRED ""

typedef struct cli_cmd {
  const char *name;    /* "local train", used in messages: "cohort local train: ..." */
  const char *usage;   /* after the name: "DATA.csv -o T.cohort [options]" */
  const char *summary; /* one sentence */
  const char *details; /* optional paragraph printed after the options (examples); may be NULL */
  const cli_opt *opts; /* NULL = none */
  const cli_pos *pos;  /* NULL = none */
  /* A positional beyond pos: prints the usage error and returns CLI_USAGE. NULL: "unexpected
   * argument 'X'". */
  int (*extra)(const cli_args *a, const char *val);
} cli_cmd;

/* The parser's state, as CLI_CALL functions and extra see it. */
struct cli_args {
  const cli_cmd *cmd;
  int argc;
  char **argv;
  int i;                /* next argv index */
  int dashdash;         /* "--" seen: the rest is positional */
  const char *opt_name; /* spelling of the option being read, for messages ("--k", "-n") */
};

/* Parses argv (argv[0] is the verb itself) into the variables of cmd's tables. Returns 1 to go
 * on, or 0 when the verb must return *rc: help printed (0), a usage error printed (2), out of
 * memory (1). */
int cli_parse(const cli_cmd *cmd, int argc, char **argv, int *rc);
/* Prints "cohort <verb>: <msg> (see 'cohort <verb> --help')" on stderr; returns CLI_USAGE. */
int cli_usage(const cli_cmd *cmd, const char *fmt, ...) CLI_PRINTF(2, 3);
void cli_help(const cli_cmd *cmd, FILE *f);

/* Parsers of option values; on failure print a usage error naming the option and return -1. */
int cli_parse_size(const cli_args *a, const char *s, size_t *out);
int cli_parse_u64(const cli_args *a, const char *s, uint64_t *out);
int cli_parse_double(const cli_args *a, const char *s, double *out);

/* ---------------------------------------------------------------- verb groups */

typedef struct cli_verb {
  const char *name;
  int (*run)(int argc, char **argv); /* argv[0] = verb name */
  const char *summary;
} cli_verb;

typedef struct cli_group {
  const char *name;   /* "dataset" */
  const char *about;  /* the paragraph under the usage line */
  const char *footer; /* printed after the list of verbs */
  const cli_verb *verbs;
} cli_group;

/* `cohort <group> <verb> ...`: argv[0] = group. Handles help, --help and unknown verbs. */
int cli_dispatch(const cli_group *g, int argc, char **argv);

/* ---------------------------------------------------------------- errors */

/* Prints "cohort: <what>: <cohort_errmsg() or strerror(st)>" and returns CLI_ERR (or
 * CLI_INTERRUPTED for COHORT_ECANCELLED after Ctrl-C). */
int cli_fail(cohort_status st, const char *fmt, ...) CLI_PRINTF(2, 3);
/* Prints "cohort: <msg>" for errors found by the CLI itself; returns CLI_ERR. */
int cli_error(const char *fmt, ...) CLI_PRINTF(1, 2);
/* Chatter for humans on stderr, suppressed by --quiet and --json. */
void cli_note(const char *fmt, ...) CLI_PRINTF(1, 2);

/* ---------------------------------------------------------------- progress and Ctrl-C */

typedef struct cli_progress {
  char stage[48];
  int last;       /* last percent shown, -1 = none */
  int tty;        /* stderr is a terminal: one redrawn line */
  int open;       /* a bar line is on screen without its newline */
  double t_stage; /* when the stage began (monotonic seconds) */
} cli_progress;

/* Installs the SIGINT handler (first Ctrl-C cancels the running operation, the second kills). */
void cli_signals_init(void);
int cli_interrupted(void);
void cli_progress_init(cli_progress *p);
/* A cohort_progress_fn; user = cli_progress*. Returns 1 after Ctrl-C to cancel. */
int cli_progress_cb(void *user, const char *stage, double fraction);
/* Ends an open bar line. */
void cli_progress_end(cli_progress *p);

/* ---------------------------------------------------------------- tables */

/* A text table printed with aligned columns. Headers starting with '>' are right-aligned (the '>'
 * is not printed). Cells wider than max_width are cut with "...". */
typedef struct cli_table {
  size_t ncols, nrows, cap;
  const char **heads;
  char **cells; /* nrows * ncols, owned */
  size_t cur;   /* cells filled in the current row */
  size_t max_width;
} cli_table;

int cli_table_init(cli_table *t, size_t ncols, const char *const *heads);
/* Appends the next cell of the current row (a new row starts after ncols cells). NULL = "". */
int cli_table_add(cli_table *t, const char *cell);
int cli_table_addf(cli_table *t, const char *fmt, ...) CLI_PRINTF(2, 3);
void cli_table_print(const cli_table *t, FILE *f, const char *indent);
void cli_table_free(cli_table *t);

/* ---------------------------------------------------------------- JSON and numbers */

/* A JSON number, or null for NaN/inf (jansson refuses those). */
json_t *cli_jnum(double v);
/* A JSON string, or null for NULL. */
json_t *cli_jstr(const char *s);
/* Prints the document on stdout (indented, key order kept) and releases it; returns CLI_OK or
 * CLI_ERR. */
int cli_json_print(json_t *doc);
/* Writes to a file ("-" or NULL = stdout); returns 0 or -1 with errno. */
int cli_json_write(json_t *doc, const char *path);
/* "<a><b>" in a new string, or NULL. */
char *cli_join(const char *a, const char *b);
/* Formats a number compactly ("%.4g"-like, "n/a" for NaN) into buf. */
const char *cli_fmt_num(char *buf, size_t cap, double v, int digits);

/* ---------------------------------------------------------------- display (cli_show.c) */

/* "" for a missing or non-string member. */
const char *cli_jstr_of(json_t *o, const char *key);
/* An integer member (0 when missing); a real member as a double (NaN when missing). */
json_int_t cli_jint_of(json_t *o, const char *key);
double cli_jnum_of(json_t *o, const char *key);
/* A member as short text: strings as they are, numbers compact, null as "", others as JSON. */
const char *cli_jtext(json_t *v, char *buf, size_t cap);
/* Prints the doc with --json, or runs nothing and returns 0; frees nothing. 1 = printed. */
int cli_json_out(json_t *doc, int *rc);
/* Milliseconds since the epoch as local "YYYY-MM-DD HH:MM:SS"; "" for 0 or null. */
const char *cli_fmt_ms(char *buf, size_t cap, json_int_t ms);
/* A byte count as "12.3 MB". */
const char *cli_fmt_bytes(char *buf, size_t cap, double bytes);
/* "  key:  value" lines with keys padded to width. */
void cli_kv(const char *key, const char *fmt, ...) CLI_PRINTF(2, 3);

/* A feature's "levels / bounds" cell: "3: a, b, c" ("a < b < c" when ordinal; cut with "..."
 * near 48 characters) from the first `shown` of `total` levels, level(ctx, l) giving each; or
 * "32.1 .. 59.6" with `decimals` places (< 0: %g), dates for a datetime, "(no values)". */
void cli_fmt_levels(char *buf, size_t cap, size_t total, size_t shown, int ordinal,
                    const char *(*level)(const void *ctx, size_t l), const void *ctx);
void cli_fmt_bounds(char *buf, size_t cap, double lo, double hi, int datetime, int decimals);

/* The schema as a table on stdout: feature, type, levels / bounds, [missing], [deviation], flags. */
typedef struct cli_schema_table {
  cli_table t;
  const char *heads[6];
  int missing, deviation; /* those columns are shown */
} cli_schema_table;
void cli_schema_begin(cli_schema_table *s, int missing, int deviation);
void cli_schema_row(cli_schema_table *s, const char *name, const char *type, const char *range,
                    const char *missing, const char *deviation, int id_like, int ignored);
/* Prints and frees. */
void cli_schema_end(cli_schema_table *s);
/* A server's schema (JSON array of feature objects) as that table; "(no schema)" when empty. */
void cli_schema_print(json_t *schema);

/* ---------------------------------------------------------------- files */

/* Writes len bytes to path ("-" or NULL = stdout); returns 0 or -1 with errno. */
int cli_write_file(const char *path, const char *data, size_t len);
int cli_is_stdout(const char *path);

#endif /* COHORT_CLI_UTIL_H */
