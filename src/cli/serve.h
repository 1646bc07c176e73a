#ifndef COHORT_CLI_SERVE_H
#define COHORT_CLI_SERVE_H
int cli_serve_main(int argc, char **argv);
#endif
