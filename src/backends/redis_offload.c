/* redis_offload.c: see redis_offload.h. hiredis contexts are not thread-safe, so each call takes
 * one from a small pool of idle connections (or connects a new one) and gives it back only if it
 * is still healthy: after an error it is freed, and the next call reconnects, which is how the
 * bus recovers by itself once Redis is back. */
#include "redis_offload.h"
#include "co_base.h"
#include "util.h"

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POOL_MAX 8

struct co_offload {
  char url[512]; /* for messages, password left out */
  char host[256];
  int port, db;
  char user[128], password[256];
  int timeout_ms, ttl_s;
  pthread_mutex_t lock;
  redisContext *idle[POOL_MAX];
  int n_idle;
};

static cohort_status parse_url(co_offload *o, const char *url) {
  const char *p = url, *at, *slash, *colon;
  char hostport[300];
  if (strncmp(p, "redis://", 8) != 0)
    return co_error(COHORT_EINVAL, "bus_redis: '%s' is not redis://[:PASSWORD@]HOST[:PORT][/DB]", url);
  p += 8;
  /* The last '@' ends the credentials, so a password may hold '@', '/' or ':' as it is (a
   * Kubernetes Secret put into the URL through the environment is not percent-encoded). */
  at = strrchr(p, '@');
  slash = strchr(at ? at : p, '/');
  if (at) {
    const char *sep = memchr(p, ':', (size_t)(at - p));
    if (!sep)
      return co_error(COHORT_EINVAL, "bus_redis: credentials must be [USER]:PASSWORD@ in '%s'", url);
    if ((size_t)(sep - p) >= sizeof o->user || (size_t)(at - sep - 1) >= sizeof o->password)
      return co_error(COHORT_EINVAL, "bus_redis: user or password too long");
    memcpy(o->user, p, (size_t)(sep - p));
    memcpy(o->password, sep + 1, (size_t)(at - sep - 1));
    p = at + 1;
  }
  size_t n = slash ? (size_t)(slash - p) : strlen(p);
  if (n == 0 || n >= sizeof hostport)
    return co_error(COHORT_EINVAL, "bus_redis: no host in '%s'", url);
  memcpy(hostport, p, n);
  hostport[n] = '\0';
  o->port = 6379;
  if ((colon = strrchr(hostport, ':')) != NULL) {
    char *end;
    long v = strtol(colon + 1, &end, 10);
    if (*end || v < 1 || v > 65535)
      return co_error(COHORT_EINVAL, "bus_redis: bad port in '%s'", url);
    o->port = (int)v;
    hostport[colon - hostport] = '\0';
  }
  co_strlcpy(o->host, hostport, sizeof o->host);
  if (slash && slash[1]) {
    char *end;
    long v = strtol(slash + 1, &end, 10);
    if (*end || v < 0 || v > 1000000)
      return co_error(COHORT_EINVAL, "bus_redis: bad database number in '%s'", url);
    o->db = (int)v;
  }
  snprintf(o->url, sizeof o->url, "redis://%s:%d/%d", o->host, o->port, o->db);
  return COHORT_OK;
}

cohort_status co_offload_open(const char *url, int timeout_ms, int ttl_s, co_offload **out) {
  co_offload *o = co_calloc(1, sizeof *o);
  cohort_status st;
  *out = NULL;
  if (!o)
    return co_nomem();
  if ((st = parse_url(o, url)) != COHORT_OK) {
    co_free(o);
    return st;
  }
  o->timeout_ms = timeout_ms;
  o->ttl_s = ttl_s;
  pthread_mutex_init(&o->lock, NULL);
  *out = o;
  return COHORT_OK;
}

void co_offload_close(co_offload *o) {
  if (!o)
    return;
  for (int i = 0; i < o->n_idle; i++)
    redisFree(o->idle[i]);
  pthread_mutex_destroy(&o->lock);
  explicit_bzero(o->password, sizeof o->password);
  co_free(o);
}

/* A connection: an idle one from the pool (*pooled = 1) unless fresh, else a new one (AUTH and
 * SELECT as configured). */
static cohort_status take_conn(co_offload *o, int fresh, redisContext **out, int *pooled) {
  *out = NULL;
  *pooled = 0;
  if (!fresh) {
    pthread_mutex_lock(&o->lock);
    if (o->n_idle > 0)
      *out = o->idle[--o->n_idle];
    pthread_mutex_unlock(&o->lock);
  }
  if (*out) {
    *pooled = 1;
    return COHORT_OK;
  }
  struct timeval tv = {o->timeout_ms / 1000, (o->timeout_ms % 1000) * 1000};
  redisContext *c = redisConnectWithTimeout(o->host, o->port, tv);
  if (!c)
    return co_nomem();
  if (c->err) {
    cohort_status st =
        co_error(COHORT_EUNAVAIL, "bus: Redis unavailable (%s, bus_redis): %s", o->url, c->errstr);
    redisFree(c);
    return st;
  }
  redisSetTimeout(c, tv);
  redisReply *r = NULL;
  if (o->password[0]) {
    r = o->user[0] ? redisCommand(c, "AUTH %s %s", o->user, o->password)
                   : redisCommand(c, "AUTH %s", o->password);
    if (!r || r->type == REDIS_REPLY_ERROR)
      goto fail;
    freeReplyObject(r);
  }
  if (o->db) {
    r = redisCommand(c, "SELECT %d", o->db);
    if (!r || r->type == REDIS_REPLY_ERROR)
      goto fail;
    freeReplyObject(r);
  }
  *out = c;
  return COHORT_OK;
fail:;
  cohort_status st =
      r ? co_error(COHORT_EUNAVAIL, "bus: Redis %s refused the connection setup (bus_redis): %s", o->url,
                   r->str)
        : co_error(COHORT_EUNAVAIL, "bus: Redis unavailable (%s, bus_redis): %s", o->url, c->errstr);
  if (r)
    freeReplyObject(r);
  redisFree(c);
  return st;
}

/* Returns c to the pool if it is healthy, else frees it. */
static void give_conn(co_offload *o, redisContext *c) {
  if (!c)
    return;
  if (!c->err) {
    pthread_mutex_lock(&o->lock);
    if (o->n_idle < POOL_MAX) {
      o->idle[o->n_idle++] = c;
      c = NULL;
    }
    pthread_mutex_unlock(&o->lock);
  }
  if (c)
    redisFree(c);
}

/* Runs one command; a connection error or an error reply becomes EUNAVAIL naming the server. */
static cohort_status command(co_offload *o, redisReply **out, const char *what, int argc, const char **argv,
                             const size_t *argvlen) {
  redisContext *c;
  int pooled;
  cohort_status st = take_conn(o, 0, &c, &pooled);
  *out = NULL;
  if (st != COHORT_OK)
    return st;
  redisReply *r = redisCommandArgv(c, argc, argv, argvlen);
  if (!r && pooled) {
    /* An idle connection Redis closed meanwhile (a restart, its idle timeout): the command never
     * ran. Once more on a new connection. */
    redisFree(c);
    if ((st = take_conn(o, 1, &c, &pooled)) != COHORT_OK)
      return st;
    r = redisCommandArgv(c, argc, argv, argvlen);
  }
  if (!r)
    st = co_error(COHORT_EUNAVAIL, "bus: Redis unavailable (%s, bus_redis): %s failed: %s", o->url, what,
                  c->errstr[0] ? c->errstr : "no reply");
  else if (r->type == REDIS_REPLY_ERROR) {
    st = co_error(COHORT_EUNAVAIL, "bus: Redis %s (bus_redis): %s: %s", o->url, what, r->str);
    freeReplyObject(r);
    r = NULL;
  }
  give_conn(o, c);
  *out = r;
  return st;
}

cohort_status co_offload_put(co_offload *o, const void *data, size_t len, char key[CO_OFFLOAD_KEY_MAX]) {
  char hex[33], ttl[24];
  co_random_hex(hex, sizeof hex, 16);
  snprintf(key, CO_OFFLOAD_KEY_MAX, "cohort:bus:%s", hex);
  snprintf(ttl, sizeof ttl, "%lld", (long long)o->ttl_s * 1000);
  const char *argv[] = {"SET", key, data, "PX", ttl};
  size_t argvlen[] = {3, strlen(key), len, 2, strlen(ttl)};
  redisReply *r;
  cohort_status st = command(o, &r, "SET", 5, argv, argvlen);
  if (r)
    freeReplyObject(r);
  return st;
}

cohort_status co_offload_get(co_offload *o, const char *key, int take, char **data, size_t *len) {
  const char *argv[] = {take ? "GETDEL" : "GET", key};
  size_t argvlen[] = {strlen(argv[0]), strlen(key)};
  redisReply *r;
  *data = NULL;
  *len = 0;
  cohort_status st = command(o, &r, argv[0], 2, argv, argvlen);
  if (st != COHORT_OK)
    return st;
  if (r->type != REDIS_REPLY_STRING) {
    freeReplyObject(r);
    return co_error(COHORT_ENOTFOUND,
                    "bus: the message body parked in Redis (%s) expired or was already taken "
                    "(bus_offload_ttl_s)",
                    o->url);
  }
  char *buf = co_malloc((size_t)r->len + 1);
  if (!buf) {
    freeReplyObject(r);
    return co_nomem();
  }
  memcpy(buf, r->str, (size_t)r->len);
  buf[r->len] = '\0';
  *data = buf;
  *len = (size_t)r->len;
  freeReplyObject(r);
  return COHORT_OK;
}

cohort_status co_offload_ping(co_offload *o) {
  const char *argv[] = {"PING"};
  size_t argvlen[] = {4};
  redisReply *r;
  cohort_status st = command(o, &r, "PING", 1, argv, argvlen);
  if (r)
    freeReplyObject(r);
  return st;
}

void co_offload_del(co_offload *o, const char *key) {
  const char *argv[] = {"DEL", key};
  size_t argvlen[] = {3, strlen(key)};
  redisReply *r;
  if (command(o, &r, "DEL", 2, argv, argvlen) == COHORT_OK)
    freeReplyObject(r);
}
