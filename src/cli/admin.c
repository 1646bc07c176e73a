/* cohort admin: work on an installation's state directly, with no server running on it. */
#include "cli_util.h"
#include "backends.h"
#include "integrity.h"
#include "migrate.h"
#include "platform.h"
#include "serve.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f) {
  fprintf(
      f,
      "Usage: cohort admin check [--adopt] [--remove-orphans] [--orphan-age-s N] [--config FILE]\n"
      "                          [--SETTING=VALUE ...]\n"
      "       cohort admin migrate --to-store URL --to-blobs URL [--config FILE] [--SETTING=VALUE ...]\n\n"
      "check: the full integrity check of an installation (the store and blob store the settings name).\n"
      "The embedded SQLite database gets PRAGMA integrity_check (every page, row and index; the server\n"
      "runs the cheaper quick_check at every start), PostgreSQL is asked to answer (it checks its own\n"
      "pages); then every dataset file and trainee version is read and compared with the SHA-256 and size\n"
      "recorded when it was stored. Findings are printed one per line and marked on the records (a\n"
      "corrupt trainee shows state 'corrupt'; a restored one is cleared). --adopt records the checksum\n"
      "of objects stored before checksums existed, when they pass the checks there are (a dataset's\n"
      "size, a trainee file's own checksum). Then every object of the blob store is compared with the\n"
      "records: one that no record names, written more than --orphan-age-s seconds ago (default 3600),\n"
      "is an orphan (a process died between storing it and recording it); --remove-orphans deletes\n"
      "them. Orphans are reported but are not problems: a run can be a daily job (the Helm chart's\n"
      "CronJob). Exits 0 when everything is whole, 1 otherwise. On the\n"
      "embedded store, stop the server first (the command takes data_dir); on PostgreSQL and S3 give it\n"
      "a data_dir of its own. What to do about a finding: docs/server.md, Corruption.\n\n");
  fprintf(f, "migrate:\n"
             "Copies an installation into an empty store and blob store, e.g. the embedded SQLite and\n"
             "data folder into PostgreSQL and S3:\n"
             "  cohort admin migrate --data_dir /var/lib/cohort \\\n"
             "      --to-store postgres://cohort@db:5432/cohort --to-blobs s3://cohort-data/prod\n"
             "The source is what the settings name (data_dir, store, blobs: as for cohort serve); the\n"
             "destination shares the other settings (S3 endpoint and credentials...). Users, password\n"
             "hashes, workspaces, members, API tokens, datasets, trainees and reports keep their ids;\n"
             "job history and sign-in sessions are not copied. Stop the server first: the command takes\n"
             "data_dir, and refuses while jobs are queued or running, or when the destination has users.\n");
}

static void progress(void *ctx, const char *what) {
  int *n = ctx;
  if (++*n % 100 == 0)
    fprintf(stderr, "cohort admin migrate: %d records copied (last: %s)\n", *n, what);
}

static int migrate(int argc, char **argv) {
  static const char *const own[] = {"--to-store", "--to-blobs", NULL};
  const char *to_store = NULL, *to_blobs = NULL;
  co_config from, to;
  co_store *fs = NULL, *ts = NULL;
  co_blobs *fb = NULL, *tb = NULL;
  co_migrate_counts n;
  int fd = -1, rc = CLI_ERR, seen = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      usage(stdout);
      return CLI_OK;
    }
    if (!strcmp(argv[i], "--to-store") && i + 1 < argc)
      to_store = argv[++i];
    else if (!strcmp(argv[i], "--to-blobs") && i + 1 < argc)
      to_blobs = argv[++i];
  }
  if (!to_store || !to_blobs) {
    fprintf(stderr, "cohort admin migrate: --to-store and --to-blobs are required (see --help)\n");
    return CLI_USAGE;
  }
  if (co_config_check_flag("store", to_store) != COHORT_OK) {
    fprintf(stderr, "cohort admin migrate: --to-store: %s\n", cohort_errmsg());
    return CLI_USAGE;
  }
  if ((rc = cli_settings("admin migrate", argc, argv, own, &from)) != CLI_OK)
    return rc;
  to = from;
  if (co_strlcpy(to.store, to_store, sizeof to.store) < 0 ||
      co_strlcpy(to.blobs, to_blobs, sizeof to.blobs) < 0) {
    fprintf(stderr, "cohort admin migrate: --to-store or --to-blobs is too long\n");
    return CLI_USAGE;
  }
  rc = CLI_ERR;
  if (co_data_dir_lock(from.data_dir, &fd) != COHORT_OK ||
      co_backends_open_store(&co_backends_builtin, &from, &fs) != COHORT_OK ||
      co_backends_open_blobs(&co_backends_builtin, &from, &fb) != COHORT_OK ||
      co_backends_open_store(&co_backends_builtin, &to, &ts) != COHORT_OK ||
      co_backends_open_blobs(&co_backends_builtin, &to, &tb) != COHORT_OK ||
      co_migrate(fs, fb, ts, tb, &n, progress, &seen) != COHORT_OK) {
    fprintf(stderr, "cohort admin migrate: %s\n", cohort_errmsg());
    goto out;
  }
  printf("migrated %lld users, %lld workspaces, %lld memberships, %lld API tokens, %lld datasets, %lld "
         "trainees, "
         "%lld reports; %lld objects, %.1f MB\n",
         (long long)n.users, (long long)n.workspaces, (long long)n.members, (long long)n.tokens,
         (long long)n.datasets, (long long)n.trainees, (long long)n.reports, (long long)n.objects,
         n.bytes / 1e6);
  rc = CLI_OK;
out:
  if (tb)
    tb->ops->close(tb);
  if (ts)
    ts->ops->close(ts);
  if (fb)
    fb->ops->close(fb);
  if (fs)
    fs->ops->close(fs);
  if (fd >= 0)
    close(fd);
  return rc;
}

static void print_line(void *ctx, const char *line) {
  (void)ctx;
  printf("%s\n", line);
  fflush(stdout);
}

static int check(int argc, char **argv) {
  co_config cfg;
  co_store *s = NULL;
  co_blobs *b = NULL;
  co_check_counts n;
  int fd = -1, rc = CLI_ERR, kept = 0;
  co_check_options opt = {0, 0, CO_ORPHAN_AGE_MS};
  char **args = calloc((size_t)argc + 1, sizeof *args);
  if (!args)
    return CLI_ERR;
  for (int i = 0; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      usage(stdout);
      free(args);
      return CLI_OK;
    }
    if (!strcmp(argv[i], "--adopt"))
      opt.adopt_unknown = 1;
    else if (!strcmp(argv[i], "--remove-orphans"))
      opt.remove_orphans = 1;
    else if (!strcmp(argv[i], "--orphan-age-s")) {
      char *end = NULL;
      long long v = i + 1 < argc ? strtoll(argv[i + 1], &end, 10) : -1;
      if (i + 1 >= argc || !end || *end || v < 0 || v > 10LL * 365 * 86400) {
        fprintf(stderr, "cohort admin check: --orphan-age-s: seconds from 0 to 315360000\n");
        free(args);
        return CLI_USAGE;
      }
      opt.orphan_age_ms = v * 1000;
      i++;
    } else
      args[kept++] = argv[i];
  }
  if ((rc = cli_settings("admin check", kept, args, NULL, &cfg)) != CLI_OK)
    goto out;
  rc = CLI_ERR;
  /* The full check runs below; a damaged database must still open for it to list what it finds. */
  co_strlcpy(cfg.store_check, "off", sizeof cfg.store_check);
  if (co_data_dir_lock(cfg.data_dir, &fd) != COHORT_OK ||
      co_backends_open_blobs(&co_backends_builtin, &cfg, &b)) {
    fprintf(stderr, "cohort admin check: %s\n", cohort_errmsg());
    goto out;
  }
  if (co_backends_open_store(&co_backends_builtin, &cfg, &s) != COHORT_OK) {
    printf("database: %s\n", cohort_errmsg());
    fprintf(stderr, "cohort admin check: the store does not open: it is damaged or unreachable\n");
    goto out;
  }
  if (co_check_all(s, b, &opt, print_line, NULL, &n) != COHORT_OK) {
    fprintf(stderr, "cohort admin check: %s\n", cohort_errmsg());
    goto out;
  }
  int64_t bad = n.db_problems + n.corrupt + n.missing + n.unreadable;
  printf("checked the %s database (%s) and %lld objects: %lld whole, %lld corrupt, %lld missing, %lld "
         "unreadable, "
         "%lld without a checksum%s%lld\n",
         s->ops->name, n.db_problems ? "DAMAGED" : "ok", (long long)n.objects, (long long)n.ok,
         (long long)n.corrupt, (long long)n.missing, (long long)n.unreadable, (long long)n.unknown,
         ", checksums recorded: ", (long long)n.adopted);
  printf("orphan objects (no record names them): %lld, %lld bytes%s%lld\n", (long long)n.orphans,
         (long long)n.orphan_bytes, ", removed: ", (long long)n.orphans_removed);
  if (bad)
    fprintf(stderr, "cohort admin check: %lld problems; see docs/server.md, Corruption\n", (long long)bad);
  rc = bad ? CLI_ERR : CLI_OK;
out:
  if (s)
    s->ops->close(s);
  if (b)
    b->ops->close(b);
  if (fd >= 0)
    close(fd);
  free(args);
  return rc;
}

int cli_admin_main(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? CLI_USAGE : CLI_OK;
  }
  if (!strcmp(argv[1], "migrate"))
    return migrate(argc - 1, argv + 1);
  if (!strcmp(argv[1], "check"))
    return check(argc - 1, argv + 1);
  fprintf(stderr, "cohort admin: unknown command '%s' (see cohort admin --help)\n", argv[1]);
  return CLI_USAGE;
}
