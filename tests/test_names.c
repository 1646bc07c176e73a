/* The platform's checks on what users give and see: names (names.c), server paths scrubbed from
 * client-facing errors (scrub.c) and secrets refused as command-line flags (config.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four above first. */
#include <cmocka.h>

#include "config.h"
#include "names.h"
#include "scrub.h"

#include <string.h>

static void clean_ok(const char *in, const char *want) {
  char out[128];
  cohort_status st = co_name_clean("name", in, strlen(in), out, sizeof out);
  if (st != COHORT_OK)
    fail_msg("'%s': %s", in, cohort_errmsg());
  assert_string_equal(out, want);
}

static void clean_bad(const char *in, size_t len, const char *why) {
  char out[128];
  assert_int_equal(co_name_clean("name", in, len, out, sizeof out), COHORT_EINVAL);
  assert_string_equal(cohort_errfield(), "name");
  if (!strstr(cohort_errmsg(), why))
    fail_msg("'%s': message '%s' lacks '%s'", in, cohort_errmsg(), why);
}

static void test_names(void **state) {
  (void)state;
  clean_ok("team", "team");
  clean_ok("  team \t", "team");
  clean_ok("Zoë's data – 2024", "Zoë's data – 2024");
  clean_ok("数据", "数据");
  clean_bad("a\0b", 3, "NUL");
  clean_bad("a\nb", 3, "control");
  clean_bad("a\x7f"
            "b",
            3, "control");
  clean_bad("a\xc2\x85"
            "b",
            4, "control"); /* U+0085, C1 */
  clean_bad("a\xe2\x80\xae"
            "b",
            5, "bidirectional");                  /* U+202E */
  clean_bad("a\xe2\x80\x8f", 4, "bidirectional"); /* U+200F */
  clean_bad("\xe2\x81\xa6x", 4, "bidirectional"); /* U+2066 */
  clean_bad("\xff", 1, "UTF-8");
  clean_bad("\xc0\xaf", 2, "UTF-8");     /* overlong '/' */
  clean_bad("\xed\xa0\x80", 3, "UTF-8"); /* a surrogate */
  clean_bad("\xe2\x80", 2, "UTF-8");     /* cut short */
  clean_bad("   ", 3, "1 to 127");
  char big[200];
  memset(big, 'x', sizeof big);
  clean_bad(big, sizeof big, "1 to 127");
  assert_int_equal(co_name_check("column 2's name", "ok\xe2\x80\xaa", 5, 100), COHORT_EINVAL);
  assert_string_equal(cohort_errfield(), "column 2's name");
  assert_int_equal(co_name_check("c", " spaced ", 8, 100), COHORT_OK); /* kept as given */
}

static void scrubbed(const char *in, const char *want) {
  char buf[512];
  strcpy(buf, in);
  co_scrub_paths(buf);
  assert_string_equal(buf, want);
}

static void test_scrub(void **state) {
  (void)state;
  scrubbed("load: cannot open '/srv/cohort/blobs/trainees/tr_abc/v3.bin': No such file",
           "load: cannot open 'trainees/tr_abc/v3.bin': No such file");
  scrubbed("/var/lib/cohort-data/blobs/.staging/up123: read error", "up123: read error");
  scrubbed("cannot create a staging file in /tmp/x/.staging/: Permission denied",
           "cannot create a staging file in .staging: Permission denied");
  scrubbed("config file /etc/cohort/cohort.conf, line 3", "config file cohort.conf, line 3");
  scrubbed("cache /d/s3-cache/datasets/ds_1.csv (x)", "cache datasets/ds_1.csv (x)");
  /* Left alone: API paths, URLs, words with slashes, a lone slash. */
  scrubbed("/v1/trainees/tr_x/predict not found", "/v1/trainees/tr_x/predict not found");
  scrubbed("s3 http://127.0.0.1:9000/bucket/key: 503", "s3 http://127.0.0.1:9000/bucket/key: 503");
  scrubbed("must be viewer/editor/owner", "must be viewer/editor/owner");
  scrubbed("a / b and /x", "a / b and /x");
  scrubbed("", "");
}

static void test_secret_flags(void **state) {
  (void)state;
  assert_int_equal(co_config_check_flag("admin_password", "long-enough-1"), COHORT_EINVAL);
  assert_non_null(strstr(cohort_errmsg(), "--admin_password_file"));
  assert_null(strstr(cohort_errmsg(), "long-enough-1"));
  assert_int_equal(co_config_check_flag("admin_password_file", "/run/secrets/pw"), COHORT_OK);
  assert_int_equal(co_config_check_flag("store", "postgres://u:pw@db/x"), COHORT_EINVAL);
  assert_null(strstr(cohort_errmsg(), "pw@"));
  assert_int_equal(co_config_check_flag("store", "postgres://u@db/x?sslmode=require&password=pw"),
                   COHORT_EINVAL);
  assert_int_equal(co_config_check_flag("store", "postgres://u@db:5432/x?passfile=/run/pgpass"), COHORT_OK);
  assert_int_equal(co_config_check_flag("store", "sqlite:/data/cohort.db"), COHORT_OK);
  assert_int_equal(co_config_check_flag("bus_redis", "redis://:pw@127.0.0.1:6379"), COHORT_EINVAL);
  assert_int_equal(co_config_check_flag("bus_redis", "redis://127.0.0.1:6379/0"), COHORT_OK);
  assert_int_equal(co_config_check_flag("bus", "nats://a:b@h:4222,nats://h2:4222"), COHORT_EINVAL);
  assert_int_equal(co_config_check_flag("bus", "nats://user@h:4222"), COHORT_OK);
  assert_int_equal(co_config_check_flag("listen", "127.0.0.1:8080"), COHORT_OK);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_names),
      cmocka_unit_test(test_scrub),
      cmocka_unit_test(test_secret_flags),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
