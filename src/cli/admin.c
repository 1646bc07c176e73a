/* cohort admin: work on an installation's state directly, with no server running on it. */
#include "cli_util.h"
#include "backends.h"
#include "migrate.h"
#include "platform.h"
#include "serve.h"
#include "util.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f) {
  fprintf(
      f, "Usage: cohort admin migrate --to-store URL --to-blobs URL [--config FILE] [--SETTING=VALUE ...]\n\n"
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

int cli_admin_main(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? CLI_USAGE : CLI_OK;
  }
  if (!strcmp(argv[1], "migrate"))
    return migrate(argc - 1, argv + 1);
  fprintf(stderr, "cohort admin: unknown command '%s' (see cohort admin --help)\n", argv[1]);
  return CLI_USAGE;
}
