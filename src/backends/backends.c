/* backends.c: the URL schemes this build serves, and the adapters from a URL setting to each
 * backend's own open function. */
#include "backends.h"
#include "blobs_s3.h"
#include "co_base.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static cohort_status store_sqlite(const char *url, const co_config *cfg, co_store **out) {
  const char *check = cfg && cfg->store_check[0] ? cfg->store_check : "quick";
  if (strcmp(check, "quick") != 0 && strcmp(check, "full") != 0 && strcmp(check, "off") != 0)
    return co_error(COHORT_EINVAL, "store_check: '%s' is not quick, full or off", check);
  return co_store_sqlite_open_check(url + strlen("sqlite:"), check, out);
}

static cohort_status store_postgres(const char *url, const co_config *cfg, co_store **out) {
  co_store_pg_options opt = {cfg ? cfg->store_pool_size : 0, cfg ? cfg->store_timeout_ms : 0};
  return co_store_postgres_open(url, &opt, out);
}

static cohort_status blobs_fs(const char *url, const co_config *cfg, co_blobs **out) {
  (void)cfg;
  return co_blobs_fs_open(strncmp(url, "file:", 5) == 0 ? url + 5 : url, out);
}

/* Reads the secret from path into out (cap bytes), trailing newline dropped; wipes its buffer. */
static cohort_status read_secret(const char *setting, const char *path, char *out, size_t cap) {
  char buf[1024];
  FILE *f = fopen(path, "r");
  if (!f)
    return co_error(COHORT_EINVAL, "%s: cannot read %s: %s", setting, path, strerror(errno));
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
    buf[--n] = '\0';
  cohort_status st =
      n && n < cap ? COHORT_OK : co_error(COHORT_EINVAL, "%s: %s holds no usable secret", setting, path);
  if (st == COHORT_OK)
    memcpy(out, buf, n + 1);
  explicit_bzero(buf, sizeof buf);
  return st;
}

/* s3://bucket/prefix?endpoint=&region=&addressing=: credentials from the settings, then AWS_*. */
static cohort_status blobs_s3(const char *url, const co_config *cfg, co_blobs **out) {
  co_blobs_s3_config *s3 = co_calloc(1, sizeof *s3); /* large, and holds secrets: not on the stack */
  cohort_status st;
  if (!s3)
    return co_nomem();
  if ((st = co_blobs_s3_parse_url(url, s3)) != COHORT_OK)
    goto out;
  co_strlcpy(s3->access_key, cfg->s3_access_key_id, sizeof s3->access_key);
  if (cfg->s3_secret_access_key_file[0] &&
      (st = read_secret("s3_secret_access_key_file", cfg->s3_secret_access_key_file, s3->secret_key,
                        sizeof s3->secret_key)) != COHORT_OK)
    goto out;
  if ((st = co_blobs_s3_config_from_env(s3)) != COHORT_OK)
    goto out;
  snprintf(s3->cache_dir, sizeof s3->cache_dir, "%s/s3-cache", cfg->data_dir);
  s3->cache_max_bytes = cfg->s3_cache_mb << 20;
  st = co_blobs_s3_open(s3, out);
out:
  co_blobs_s3_config_wipe(s3);
  co_free(s3);
  return st;
}

static cohort_status bus_local(const char *url, const co_config *cfg, co_bus **out) {
  (void)cfg;
  if (strcmp(url, "local") != 0)
    return co_error(COHORT_EINVAL, "bus: '%s': the local bus takes no address (bus = local)", url);
  return co_bus_local_open(out);
}

static const co_store_backend stores[] = {
    {"sqlite", store_sqlite}, {"postgres", store_postgres}, {"postgresql", store_postgres}};
static const co_blobs_backend blobs[] = {{"file", blobs_fs}, {"s3", blobs_s3}};
static const co_bus_backend buses[] = {{"local", bus_local}, {"nats", co_bus_nats_open}};

const co_backends co_backends_builtin = {stores, sizeof stores / sizeof *stores,
                                         blobs,  sizeof blobs / sizeof *blobs,
                                         buses,  sizeof buses / sizeof *buses};
