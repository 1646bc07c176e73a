/* proxies.c: the client's address behind reverse proxies (trusted_proxies). Behind a load
 * balancer every connection comes from the balancer; the address it saw is the last entry of
 * X-Forwarded-For (HAProxy's `option forwardfor` and nginx append it). Entries are believed from
 * the right for as long as the hop that wrote them is trusted: a client can put anything on the
 * left of the list, never on the right of what a trusted proxy appended. */
#include "server.h"

#include "co_base.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
  TOKEN_MAX = 64, /* longest address text we look at ("[v6]:port" fits) */
  HOPS_MAX = 32   /* X-Forwarded-For entries walked at most, from the right */
};

/* IPv4-mapped IPv6 (::ffff:a.b.c.d) counts as the IPv4 address, so one CIDR covers both. */
static void unmap(co_ipaddr *a) {
  static const unsigned char prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (a->family == AF_INET6 && memcmp(a->b, prefix, 12) == 0) {
    memmove(a->b, a->b + 12, 4);
    memset(a->b + 4, 0, 12);
    a->family = AF_INET;
  }
}

int co_ipaddr_parse(const char *text, size_t len, co_ipaddr *out) {
  char buf[TOKEN_MAX];
  memset(out, 0, sizeof *out);
  while (len && isspace((unsigned char)*text))
    text++, len--;
  while (len && isspace((unsigned char)text[len - 1]))
    len--;
  if (!len || len >= sizeof buf)
    return 0;
  memcpy(buf, text, len);
  buf[len] = '\0';
  char *addr = buf;
  if (addr[0] == '[') { /* "[v6]" or "[v6]:port" */
    char *end = strchr(addr, ']');
    if (!end || (end[1] && end[1] != ':'))
      return 0;
    *end = '\0';
    addr++;
  } else {
    char *colon = strchr(addr, ':');
    if (colon && !strchr(colon + 1, ':')) /* "a.b.c.d:port" */
      *colon = '\0';
  }
  if (inet_pton(AF_INET, addr, out->b) == 1)
    out->family = AF_INET;
  else if (inet_pton(AF_INET6, addr, out->b) == 1)
    out->family = AF_INET6;
  else
    return 0;
  unmap(out);
  return 1;
}

void co_ipaddr_from_sockaddr(const struct sockaddr *sa, co_ipaddr *out) {
  memset(out, 0, sizeof *out);
  if (sa && sa->sa_family == AF_INET) {
    out->family = AF_INET;
    memcpy(out->b, &((const struct sockaddr_in *)sa)->sin_addr, 4);
  } else if (sa && sa->sa_family == AF_INET6) {
    out->family = AF_INET6;
    memcpy(out->b, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
    unmap(out);
  }
}

void co_ipaddr_format(const co_ipaddr *a, int prefix64, char *out, size_t cap) {
  char text[INET6_ADDRSTRLEN] = "unknown";
  if (a->family == AF_INET) {
    inet_ntop(AF_INET, a->b, text, sizeof text);
  } else if (a->family == AF_INET6) {
    unsigned char b[16];
    memcpy(b, a->b, 16);
    if (prefix64)
      memset(b + 8, 0, 8);
    inet_ntop(AF_INET6, b, text, sizeof text);
  }
  snprintf(out, cap, "%s", text);
}

cohort_status co_proxies_parse(const char *list, co_proxies *out) {
  memset(out, 0, sizeof *out);
  const char *p = list ? list : "";
  for (;;) {
    while (*p == ',' || isspace((unsigned char)*p))
      p++;
    if (!*p)
      return COHORT_OK;
    size_t len = strcspn(p, ", \t\r\n");
    const char *slash = memchr(p, '/', len);
    size_t alen = slash ? (size_t)(slash - p) : len;
    char text[TOKEN_MAX];
    co_ipaddr a;
    long bits = -1;
    int ok = alen > 0 && alen < sizeof text, width = 0;
    memset(&a, 0, sizeof a);
    if (ok) { /* plain addresses only: no brackets, no ports */
      memcpy(text, p, alen);
      text[alen] = '\0';
      a.family = inet_pton(AF_INET, text, a.b) == 1    ? AF_INET
                 : inet_pton(AF_INET6, text, a.b) == 1 ? AF_INET6
                                                       : 0;
      ok = a.family != 0;
      width = a.family == AF_INET ? 32 : 128;
    }
    if (ok && slash) {
      char *end;
      bits = strtol(slash + 1, &end, 10);
      ok = end == p + len && end > slash + 1 && isdigit((unsigned char)slash[1]) && bits <= width;
    }
    if (bits < 0)
      bits = width;
    unmap(&a);
    if (ok && width == 128 && a.family == AF_INET) /* ::ffff:a.b.c.d/n covers IPv4 a.b.c.d/(n - 96) */
      ok = (bits -= 96) >= 0;
    if (!ok)
      return co_error(COHORT_EINVAL,
                      "trusted_proxies: '%.*s' is not an IP address or CIDR (a.b.c.d/n, x:y::/n)",
                      (int)(len > 80 ? 80 : len), p);
    if (out->n == CO_PROXIES_MAX)
      return co_error(COHORT_EINVAL, "trusted_proxies: more than %d entries", CO_PROXIES_MAX);
    out->net[out->n] = a;
    out->bits[out->n] = (int)bits;
    out->n++;
    p += len;
  }
}

int co_proxies_trust(const co_proxies *px, const co_ipaddr *a) {
  for (int i = 0; i < px->n; i++) {
    const co_ipaddr *net = &px->net[i];
    int bits = px->bits[i], whole = bits / 8, rest = bits % 8;
    if (net->family != a->family || memcmp(net->b, a->b, (size_t)whole) != 0)
      continue;
    if (rest == 0 || ((net->b[whole] ^ a->b[whole]) & (0xff00 >> rest) & 0xff) == 0)
      return 1;
  }
  return 0;
}

void co_proxies_client(const co_proxies *px, const co_ipaddr *peer, const char *const *xff, int nxff,
                       co_ipaddr *out) {
  int hops = 0;
  *out = *peer;
  for (int h = nxff - 1; h >= 0; h--) {
    const char *v = xff[h], *end = v + strlen(v);
    while (end > v) {
      if (!co_proxies_trust(px, out) || hops++ == HOPS_MAX)
        return;
      const char *start = end;
      while (start > v && start[-1] != ',')
        start--;
      co_ipaddr a;
      if (!co_ipaddr_parse(start, (size_t)(end - start), &a))
        return; /* garbage after a trusted hop: that hop is the best we know */
      *out = a;
      end = start > v ? start - 1 : v;
    }
  }
}
