/* cohort serve: the all-in-one server (API, UI, job threads, embedded SQLite + blob folder). */
#include "cli_util.h"
#include "config.h"
#include "log.h"
#include "backends.h"
#include "platform.h"
#include "serve.h"
#include "server.h"
#include "util.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *f) {
  fprintf(f,
          "Usage: cohort serve|api|worker [--config FILE] [--SETTING=VALUE ...] [--check-config]\n\n"
          "cohort serve runs everything in one process: the REST API under /v1, the web UI at /, job\n"
          "threads and hosted trainees, by default with state in SQLite and blobs in a folder under\n"
          "data_dir. On a cluster, cohort api runs stateless API replicas and cohort worker the processes\n"
          "that run jobs and host trainees (store = postgres://..., blobs = s3://..., bus = nats://...).\n"
          "Settings come from (lowest first) defaults, the config file (key = value lines),\n"
          "COHORT_<SETTING> environment variables, then flags.\n"
          "The first start needs an administrator password (admin_password or admin_password_file).\n"
          "Secrets never come from flags, which ps shows to every local user: give the admin password\n"
          "with --admin_password_file FILE, COHORT_ADMIN_PASSWORD or the config file, and a store, bus or\n"
          "bus_redis URL that holds a password in the environment or the config file.\n\n"
          "Settings:\n");
  co_config_describe(f);
  fprintf(
      f,
      "\n--check-config reads the settings as a start would (file, environment, flags, admin_password_file)\n"
      "and exits: 0 and a summary when they are valid, 2 and the problem otherwise. It connects to nothing.\n"
      "Stops cleanly on SIGINT or SIGTERM: running jobs are re-queued and run again at the next start.\n");
}

int cli_settings(const char *verb, int argc, char **argv, const char *const *own, co_config *cfg) {
  const char *config_file = NULL;
  co_config_defaults(cfg);
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--config") && i + 1 < argc)
      config_file = argv[++i];
    else if (!strncmp(argv[i], "--config=", 9))
      config_file = argv[i] + 9;
  }
  if (config_file && co_config_load_file(cfg, config_file) != COHORT_OK) {
    fprintf(stderr, "cohort %s: %s\n", verb, cohort_errmsg());
    return CLI_USAGE;
  }
  if (co_config_load_env(cfg) != COHORT_OK) {
    fprintf(stderr, "cohort %s: %s\n", verb, cohort_errmsg());
    return CLI_USAGE;
  }
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    int skip = 0;
    for (const char *const *o = own; o && *o; o++) /* the verb's own options, value in the next argument */
      if (!strcmp(a, *o))
        skip = 1;
    if (skip || !strcmp(a, "--config")) {
      i++;
      continue;
    }
    if (!strncmp(a, "--config=", 9))
      continue;
    char key[64];
    const char *eq = strchr(a, '=');
    const char *val;
    if (strncmp(a, "--", 2) != 0) {
      fprintf(stderr, "cohort %s: unexpected argument '%s' (see cohort %s --help)\n", verb, a, verb);
      return CLI_USAGE;
    }
    if (eq) {
      snprintf(key, sizeof key, "%.*s", (int)(eq - a - 2), a + 2);
      val = eq + 1;
    } else if (i + 1 < argc) {
      snprintf(key, sizeof key, "%s", a + 2);
      val = argv[++i];
    } else {
      fprintf(stderr, "cohort %s: %s needs a value\n", verb, a);
      return CLI_USAGE;
    }
    for (char *k = key; *k; k++)
      if (*k == '-')
        *k = '_';
    if (co_config_check_flag(key, val) != COHORT_OK || co_config_set(cfg, key, val) != COHORT_OK) {
      fprintf(stderr, "cohort %s: %s\n", verb, cohort_errmsg());
      return CLI_USAGE;
    }
  }
  /* cohort api / cohort worker are their role: finish resolves role-dependent defaults (http_threads). */
  if (!strcmp(verb, "api") || !strcmp(verb, "worker"))
    co_strlcpy(cfg->role, verb, sizeof cfg->role);
  if (co_config_finish(cfg) != COHORT_OK) {
    fprintf(stderr, "cohort %s: %s\n", verb, cohort_errmsg());
    return CLI_USAGE;
  }
  return CLI_OK;
}

/* serve, api and worker: one server with a role (NULL: the role setting's, serve by default). */
static int run_server(const char *verb, const char *role, int argc, char **argv) {
  co_config cfg;
  int check = 0, n = 0;
  for (int i = 1; i < argc; i++)
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      usage(stdout);
      return CLI_OK;
    }
  /* --check-config: read the settings as a start would, then stop (a deployment's dry run). */
  for (int i = 0; i < argc; i++)
    if (i > 0 && !strcmp(argv[i], "--check-config"))
      check = 1;
    else
      argv[n++] = argv[i];
  argc = n;
  int rc = cli_settings(verb, argc, argv, NULL, &cfg);
  if (rc != CLI_OK)
    return rc;
  if (role)
    co_strlcpy(cfg.role, role, sizeof cfg.role);
  int level = co_log_parse_level(cfg.log_level);
  if (level < 0) {
    fprintf(stderr, "cohort %s: log_level: must be debug, info, warn or error\n", verb);
    return CLI_USAGE;
  }
  if (check) {
    memset(cfg.admin_password, 0, sizeof cfg.admin_password);
    printf("cohort %s: settings ok: role=%s listen=%s data_dir=%s instance=%s http_threads=%d workers=%d "
           "memory_budget_mb=%lld\n",
           verb, cfg.role, cfg.listen, cfg.data_dir, cfg.instance[0] ? cfg.instance : "(default)",
           cfg.http_threads, cfg.workers, (long long)cfg.memory_budget_mb);
    return CLI_OK;
  }
  /* Start-up is logged at info whatever the level, so the URL and port are always printed. */
  co_log_set_level(level < CO_LOG_INFO ? (co_log_level)level : CO_LOG_INFO);

  /* Every thread started from here on blocks the stop signals; main waits for them. */
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, NULL);
  signal(SIGPIPE, SIG_IGN);

  co_platform *p = NULL;
  co_server *srv = NULL;
  if (co_platform_open(&cfg, &co_backends_builtin, &p) != COHORT_OK) {
    co_log(CO_LOG_ERROR, "cannot start", "error", cohort_errmsg(), NULL);
    memset(cfg.admin_password, 0, sizeof cfg.admin_password);
    return CLI_ERR;
  }
  memset(cfg.admin_password, 0, sizeof cfg.admin_password);
  if (co_server_start(p, &srv) != COHORT_OK) {
    co_log(CO_LOG_ERROR, "cannot start", "error", cohort_errmsg(), NULL);
    co_platform_close(p);
    return CLI_ERR;
  }
  char url[160], port[16];
  snprintf(port, sizeof port, "%d", co_server_port(srv));
  const char *colon = strrchr(cfg.listen, ':');
  snprintf(url, sizeof url, "http://%.*s:%d/", (int)(colon - cfg.listen), cfg.listen, co_server_port(srv));
  co_log(CO_LOG_INFO, "listening", "url", url, "port", port, "data_dir", cfg.data_dir, "role", cfg.role,
         "version", COHORT_VERSION_STRING, NULL);
  co_log_set_level((co_log_level)level);
  int sig = 0;
  sigwait(&stop, &sig);
  co_log(CO_LOG_INFO, "stopping", "signal", sig == SIGTERM ? "SIGTERM" : "SIGINT", NULL);
  co_server_stop(srv);
  co_platform_close(p);
  co_log(CO_LOG_INFO, "stopped", NULL);
  return CLI_OK;
}

int cli_serve_main(int argc, char **argv) {
  return run_server("serve", NULL, argc, argv);
}

int cli_api_main(int argc, char **argv) {
  return run_server("api", "api", argc, argv);
}

int cli_worker_main(int argc, char **argv) {
  return run_server("worker", "worker", argc, argv);
}
