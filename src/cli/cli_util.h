/* Helpers shared by every verb of the cohort binary: argument parsing, usage and runtime errors,
 * progress on stderr, aligned tables, lists of names, JSON output. Nothing here knows a verb. */
#ifndef COHORT_CLI_UTIL_H
#define COHORT_CLI_UTIL_H

#include "cohort/cohort.h"

#include <jansson.h>
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

/* ---------------------------------------------------------------- argument parsing */

typedef struct cli_opt {
  int id;            /* > 0, returned by cli_next */
  const char *lname; /* long name without dashes */
  char sname;        /* short letter, or 0 */
  const char *arg;   /* placeholder of the value ("FILE"), NULL for a flag */
  const char *help;  /* one line */
} cli_opt;

typedef struct cli_cmd {
  const char *name;    /* "local train", used in messages: "cohort local train: ..." */
  const char *usage;   /* after the name: "DATA.csv -o T.cohort [options]" */
  const char *summary; /* one sentence */
  const char *details; /* optional paragraph printed after the options (examples); may be NULL */
  const cli_opt *opts; /* terminated by an entry with id 0 */
} cli_cmd;

typedef struct cli_args {
  const cli_cmd *cmd;
  int argc;
  char **argv;
  int i;                /* next argv index */
  int dashdash;         /* "--" seen: the rest is positional */
  int rc;               /* set when cli_next returns CLI_STOP: 0 after --help, 2 after a usage error */
  const char *opt_name; /* spelling of the option just returned, for messages ("--k", "-n") */
} cli_args;

enum { CLI_POS = 0, CLI_END = -1, CLI_STOP = -2 };

/* argv[0] is the verb itself (skipped). */
void cli_args_init(cli_args *a, const cli_cmd *cmd, int argc, char **argv);
/* Next option or positional: returns an option id with its value in *val (NULL for flags), CLI_POS
 * with the positional in *val, CLI_END when done, or CLI_STOP when the verb must return a->rc (help
 * printed, or a usage error printed). Global options are consumed here. */
int cli_next(cli_args *a, const char **val);
/* Prints "cohort <verb>: <msg> (see 'cohort <verb> --help')" on stderr; returns CLI_USAGE. */
int cli_usage(const cli_cmd *cmd, const char *fmt, ...) CLI_PRINTF(2, 3);
void cli_help(const cli_cmd *cmd, FILE *f);

/* Parsers of option values; on failure print a usage error naming the option and return -1. */
int cli_parse_size(const cli_args *a, const char *s, size_t *out);
int cli_parse_u64(const cli_args *a, const char *s, uint64_t *out);
int cli_parse_double(const cli_args *a, const char *s, double *out);

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
/* Parses "3,5,8" into sizes / "0.5,1,2" into doubles (malloc'd array); usage error on bad input. */
int cli_parse_sizes(const cli_args *a, const char *s, size_t **out, size_t *n);
int cli_parse_doubles(const cli_args *a, const char *s, double **out, size_t *n);
/* Case lists: "1,5,9,20-30" appended to *out (malloc'd, grown); usage error on bad input. */
int cli_parse_ranges(const cli_args *a, const char *s, size_t **out, size_t *n, size_t *cap);

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
/* Formats a number compactly ("%.4g"-like, "n/a" for NaN) into buf. */
const char *cli_fmt_num(char *buf, size_t cap, double v, int digits);

/* ---------------------------------------------------------------- files */

/* Writes len bytes to path ("-" or NULL = stdout); returns 0 or -1 with errno. */
int cli_write_file(const char *path, const char *data, size_t len);
int cli_is_stdout(const char *path);

#endif /* COHORT_CLI_UTIL_H */
