/* trusted_proxies (src/server/proxies.c): parsing the setting, CIDR matching, and which
 * X-Forwarded-For entry names the client; no socket needed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four above first. */
#include <cmocka.h>

#include "server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

static co_ipaddr addr(const char *text) {
  co_ipaddr a;
  if (!co_ipaddr_parse(text, strlen(text), &a))
    fail_msg("'%s' did not parse", text);
  return a;
}

static const char *fmt(const co_ipaddr *a, int prefix64) {
  static char buf[64];
  co_ipaddr_format(a, prefix64, buf, sizeof buf);
  return buf;
}

static void test_parse_addresses(void **state) {
  co_ipaddr a;
  assert_string_equal(fmt(&(co_ipaddr){0}, 0), "unknown");
  assert_string_equal(fmt((a = addr(" 203.0.113.7 "), &a), 0), "203.0.113.7");
  assert_string_equal(fmt((a = addr("203.0.113.7:443"), &a), 0), "203.0.113.7");
  assert_string_equal(fmt((a = addr("2001:db8::1"), &a), 0), "2001:db8::1");
  assert_string_equal(fmt((a = addr("[2001:db8::1]:8080"), &a), 0), "2001:db8::1");
  assert_string_equal(fmt((a = addr("[2001:db8:1:2:3:4:5:6]"), &a), 1), "2001:db8:1:2::");
  a = addr("::ffff:10.1.2.3"); /* IPv4-mapped counts as IPv4 */
  assert_int_equal(a.family, AF_INET);
  assert_string_equal(fmt(&a, 0), "10.1.2.3");
  const char *bad[] = {"",     "  ",     "unknown",     "1.2.3",   "1.2.3.4.5",
                       "[::1", "[::1]x", "example.com", "_hidden", "1.2.3.4:80:90x"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    assert_int_equal(co_ipaddr_parse(bad[i], strlen(bad[i]), &a), 0);
  char big[200];
  memset(big, '1', sizeof big);
  assert_int_equal(co_ipaddr_parse(big, sizeof big, &a), 0);
  (void)state;
}

static void test_parse_setting(void **state) {
  co_proxies px;
  assert_int_equal(co_proxies_parse("", &px), COHORT_OK);
  assert_int_equal(px.n, 0);
  assert_int_equal(co_proxies_parse(NULL, &px), COHORT_OK);
  assert_int_equal(co_proxies_parse(" 127.0.0.1, 10.0.0.0/8 fd00::/8,::1 ", &px), COHORT_OK);
  assert_int_equal(px.n, 4);
  assert_int_equal(px.bits[0], 32);
  assert_int_equal(px.bits[1], 8);
  assert_int_equal(px.bits[2], 8);
  assert_int_equal(px.bits[3], 128);
  assert_int_equal(co_proxies_parse("::ffff:10.0.0.0/104", &px), COHORT_OK); /* = 10.0.0.0/8 */
  assert_int_equal(px.net[0].family, AF_INET);
  assert_int_equal(px.bits[0], 8);
  const char *bad[] = {"10.0.0.0/33",  "::/129", "10.0.0.0/", "10.0.0.0/x",   "10.0.0.0/-1",
                       "127.0.0.1:80", "[::1]",  "localhost", "10.0.0.0/8/8", "::ffff:10.0.0.0/95"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    if (co_proxies_parse(bad[i], &px) != COHORT_EINVAL)
      fail_msg("'%s' was accepted", bad[i]);
    assert_non_null(strstr(cohort_errmsg(), "trusted_proxies: '"));
  }
  char many[40 * 12] = "";
  for (int i = 0; i < CO_PROXIES_MAX + 1; i++)
    snprintf(many + strlen(many), sizeof many - strlen(many), "10.0.0.%d,", i);
  assert_int_equal(co_proxies_parse(many, &px), COHORT_EINVAL);
  (void)state;
}

static void test_trust(void **state) {
  co_proxies px;
  co_ipaddr a;
  assert_int_equal(co_proxies_parse("10.1.0.0/16, 192.168.7.5, 2001:db8:ab00::/40, 172.16.0.0/12", &px),
                   COHORT_OK);
  const char *yes[] = {"10.1.0.0",        "10.1.255.255",   "192.168.7.5", "2001:db8:abff::1",
                       "::ffff:10.1.2.3", "172.31.255.255", "172.16.0.1"};
  const char *no[] = {"10.2.0.1", "192.168.7.6", "2001:db8:ac00::1", "127.0.0.1", "::1", "172.32.0.1"};
  for (size_t i = 0; i < sizeof yes / sizeof *yes; i++)
    if (!co_proxies_trust(&px, (a = addr(yes[i]), &a)))
      fail_msg("%s should be trusted", yes[i]);
  for (size_t i = 0; i < sizeof no / sizeof *no; i++)
    if (co_proxies_trust(&px, (a = addr(no[i]), &a)))
      fail_msg("%s should not be trusted", no[i]);
  assert_int_equal(co_proxies_trust(&px, &(co_ipaddr){0}), 0);
  assert_int_equal(co_proxies_parse("0.0.0.0/0", &px), COHORT_OK);
  assert_int_equal(co_proxies_trust(&px, (a = addr("8.8.8.8"), &a)), 1);
  assert_int_equal(co_proxies_trust(&px, (a = addr("::2"), &a)), 0);
  (void)state;
}

/* The client the walk picks for a peer and X-Forwarded-For lines. */
static const char *client(const char *trusted, const char *peer, int n, ...) {
  co_proxies px;
  co_ipaddr p = addr(peer), out;
  const char *lines[8];
  va_list ap;
  va_start(ap, n);
  for (int i = 0; i < n; i++)
    lines[i] = va_arg(ap, const char *);
  va_end(ap);
  if (co_proxies_parse(trusted, &px) != COHORT_OK)
    fail_msg("%s", cohort_errmsg());
  co_proxies_client(&px, &p, lines, n, &out);
  return fmt(&out, 0);
}

static void test_client(void **state) {
  /* No proxies: the header is ignored whatever it says. */
  assert_string_equal(client("", "127.0.0.1", 1, "203.0.113.7"), "127.0.0.1");
  /* An untrusted peer's header is ignored. */
  assert_string_equal(client("10.0.0.1", "127.0.0.1", 1, "203.0.113.7"), "127.0.0.1");
  /* A trusted peer names the client; what the client wrote on the left is not believed. */
  assert_string_equal(client("127.0.0.1", "127.0.0.1", 1, "203.0.113.7"), "203.0.113.7");
  assert_string_equal(client("127.0.0.1", "127.0.0.1", 1, "198.51.100.1, 203.0.113.7"), "203.0.113.7");
  /* HAProxy appends a line of its own after the client's. */
  assert_string_equal(client("127.0.0.1", "127.0.0.1", 2, "198.51.100.1", "203.0.113.7"), "203.0.113.7");
  /* Trusted hops in a chain are skipped, across lines too. */
  assert_string_equal(
      client("127.0.0.1, 10.0.0.0/8", "127.0.0.1", 2, "198.51.100.1, 203.0.113.7, 10.0.0.5", "10.2.2.2"),
      "203.0.113.7");
  /* Everyone trusted: the left-most entry. */
  assert_string_equal(client("0.0.0.0/0", "127.0.0.1", 1, "1.1.1.1, 2.2.2.2"), "1.1.1.1");
  /* Garbage stops the walk at the last hop we could read. */
  assert_string_equal(client("127.0.0.1, 10.0.0.0/8", "127.0.0.1", 1, "203.0.113.7, unknown, 10.0.0.5"),
                      "10.0.0.5");
  assert_string_equal(client("127.0.0.1", "127.0.0.1", 1, "203.0.113.7,,"), "127.0.0.1");
  assert_string_equal(client("127.0.0.1", "127.0.0.1", 1, ""), "127.0.0.1");
  /* Ports and brackets, IPv6. */
  assert_string_equal(client("127.0.0.1", "127.0.0.1", 1, "[2001:db8::7]:51000"), "2001:db8::7");
  assert_string_equal(client("::1", "::1", 1, "203.0.113.7:1234"), "203.0.113.7");
  /* At most 32 hops are walked: a long all-trusted chain stops there. */
  char chain[64 * 12] = "";
  for (int i = 0; i < 64; i++)
    snprintf(chain + strlen(chain), sizeof chain - strlen(chain), "%s10.0.0.%d", i ? "," : "", i);
  assert_string_equal(client("10.0.0.0/8, 127.0.0.1", "127.0.0.1", 1, chain), "10.0.0.32");
  (void)state;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_addresses),
      cmocka_unit_test(test_parse_setting),
      cmocka_unit_test(test_trust),
      cmocka_unit_test(test_client),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
