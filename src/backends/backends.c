/* backends.c: the URL schemes this build serves, and the adapters from a URL setting to each
 * backend's own open function. */
#include "backends.h"
#include "co_base.h"

#include <string.h>

static cohort_status store_sqlite(const char *url, const co_config *cfg, co_store **out) {
  (void)cfg;
  return co_store_sqlite_open(url + strlen("sqlite:"), out);
}

static cohort_status store_postgres(const char *url, const co_config *cfg, co_store **out) {
  co_store_pg_options opt = {cfg ? cfg->store_pool_size : 0, cfg ? cfg->store_timeout_ms : 0};
  return co_store_postgres_open(url, &opt, out);
}

static cohort_status blobs_fs(const char *url, const co_config *cfg, co_blobs **out) {
  (void)cfg;
  return co_blobs_fs_open(strncmp(url, "file:", 5) == 0 ? url + 5 : url, out);
}

static cohort_status bus_local(const char *url, const co_config *cfg, co_bus **out) {
  (void)cfg;
  if (strcmp(url, "local") != 0)
    return co_error(COHORT_EINVAL, "bus: '%s': the local bus takes no address (bus = local)", url);
  return co_bus_local_open(out);
}

static const co_store_backend stores[] = {
    {"sqlite", store_sqlite}, {"postgres", store_postgres}, {"postgresql", store_postgres}};
static const co_blobs_backend blobs[] = {{"file", blobs_fs}};
static const co_bus_backend buses[] = {{"local", bus_local}};

const co_backends co_backends_builtin = {stores, sizeof stores / sizeof *stores,
                                         blobs,  sizeof blobs / sizeof *blobs,
                                         buses,  sizeof buses / sizeof *buses};
