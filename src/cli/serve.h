#ifndef COHORT_CLI_SERVE_H
#define COHORT_CLI_SERVE_H
#include "config.h"

int cli_serve_main(int argc, char **argv);
int cli_api_main(int argc, char **argv);    /* serve with role api */
int cli_worker_main(int argc, char **argv); /* serve with role worker */
int cli_admin_main(int argc, char **argv);
/* Settings of a server verb from (lowest first) defaults, --config FILE, COHORT_<SETTING>
 * variables and --SETTING=VALUE flags, then co_config_finish. own lists the verb's own options
 * (each followed by a value) to skip. Prints the problem and returns CLI_USAGE on a bad one. */
int cli_settings(const char *verb, int argc, char **argv, const char *const *own, co_config *cfg);
#endif
