/* cohort: the one binary. The first argument picks a command; each command owns its own argument
 * parsing: `serve` (the server), the client verbs that talk to a server over HTTP (login,
 * dataset, trainee, job, ...: client*.c), `local` (the engine on local files), `version`, `help`. */
#include "cli_util.h"
#include "client.h"
#include "local.h"
#include "serve.h"

#include <stdio.h>
#include <string.h>

typedef struct command {
  const char *name;
  int (*run)(int argc, char **argv); /* argv[0] = command name */
  const char *summary;
} command;

static int cmd_version(int argc, char **argv);
static int cmd_help(int argc, char **argv);

static const command commands[] = {
    {"serve", cli_serve_main, "run the server: REST API, web UI and job threads on one machine"},
    {"api", cli_api_main, "run an API replica: REST API and web UI; jobs and trainees live in workers"},
    {"worker", cli_worker_main,
     "run a worker: jobs and trainee calls from the bus; /healthz, /readyz, /metrics"},
    {"admin", cli_admin_main,
     "operate on an installation's state: check it (integrity), migrate it to another store"},
    {"login", cli_login_main, "sign in to a server and save an API token"},
    {"logout", cli_logout_main, "revoke the saved token and forget the login"},
    {"whoami", cli_whoami_main, "who the token belongs to, with workspaces and roles"},
    {"token", cli_token_main, "API tokens: list, create, revoke"},
    {"workspace", cli_workspace_main, "workspaces: list, create"},
    {"dataset", cli_dataset_main, "datasets on the server: list, upload, show, preview, download, delete"},
    {"trainee", cli_trainee_main, "trainees: create, train, analyze, predict, anomalies, synthesize..."},
    {"job", cli_job_main, "jobs: list, show, wait, cancel"},
    {"report", cli_report_main, "quality and privacy reports: list, show, html"},
    {"local", cli_local_main,
     "work on local files with the engine, no server (train, predict, synthesize...)"},
    {"version", cmd_version, "print the version of cohort and libcohort"},
    {"help", cmd_help, "show help for a command: cohort help local train"},
    {NULL, NULL, NULL}};

static void overview(FILE *f) {
  fprintf(f,
          "cohort %s: machine learning on tabular data (instance-based trainees)\n\n"
          "Usage: cohort <command> [arguments]\n\nCommands:\n",
          COHORT_VERSION_STRING);
  for (const command *c = commands; c->name; c++)
    fprintf(f, "  %-10s %s\n", c->name, c->summary);
  fprintf(f, "\n  cohort serve --help          settings of the server\n"
             "  cohort login --user NAME     sign in (to --server URL, $COHORT_URL or 127.0.0.1:8080)\n"
             "  cohort dataset help          list the verbs of a client command\n"
             "  cohort local help            list the local verbs\n"
             "  cohort local train --help    options of one verb\n"
             "\nExit codes: 0 ok, 1 error, 2 usage, 3 not found (client verbs), 130 interrupted.\n");
}

static int cmd_version(int argc, char **argv) {
  static const cli_cmd cmd = {
      "version", "[--json]", "Prints the version of cohort and of the linked libcohort.", NULL, NULL,
      NULL,      NULL};
  int rc;
  if (!cli_parse(&cmd, argc, argv, &rc))
    return rc;
  if (cli_g.json) {
    return cli_json_print(
        json_pack("{s:s, s:s}", "cohort", COHORT_VERSION_STRING, "libcohort", cohort_version()));
  }
  printf("cohort %s (libcohort %s)\n", COHORT_VERSION_STRING, cohort_version());
  return CLI_OK;
}

static const command *find_command(const char *name) {
  for (const command *c = commands; c->name; c++)
    if (strcmp(c->name, name) == 0)
      return c;
  return NULL;
}

/* cohort help [command [verb]]: the command's own --help. */
static int cmd_help(int argc, char **argv) {
  if (argc < 2) {
    overview(stdout);
    return CLI_OK;
  }
  const command *c = find_command(argv[1]);
  if (!c || c->run == cmd_help) {
    if (!c)
      fprintf(stderr, "cohort: unknown command '%s' (see 'cohort help')\n", argv[1]);
    else
      overview(stdout);
    return c ? CLI_OK : CLI_USAGE;
  }
  /* Rebuild "<command> [verb] --help". */
  char *args[4];
  int n = 0;
  args[n++] = argv[1];
  if (argc >= 3)
    args[n++] = argv[2];
  args[n++] = "--help";
  args[n] = NULL;
  return c->run(n, args);
}

int main(int argc, char **argv) {
  cli_signals_init();
  if (argc < 2) {
    overview(stderr);
    return CLI_USAGE;
  }
  const char *name = argv[1];
  if (strcmp(name, "-h") == 0 || strcmp(name, "--help") == 0) {
    overview(stdout);
    return CLI_OK;
  }
  if (strcmp(name, "--version") == 0 || strcmp(name, "-V") == 0)
    return cmd_version(1, argv + 1);
  const command *c = find_command(name);
  if (!c) {
    fprintf(stderr, "cohort: unknown command '%s' (see 'cohort help')\n", name);
    return CLI_USAGE;
  }
  return c->run(argc - 1, argv + 1);
}
