/* The buses: the in-process one (request/reply in queue groups, late and missing answers), and the
 * NATS one against a real nats-server -js and redis-server that tests/bus_test.sh starts on free
 * loopback ports (COHORT_TEST_* environment): publish/subscribe, request/reply in a queue group,
 * no responders, timeouts, 5 MB bodies through Redis, the JetStream work queue (de-duplication,
 * two consumers, redelivery, progress, drop, backlog), a nats-server restart on the same store,
 * and a Redis outage. Every wait is bounded in time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four above first. */
#include <cmocka.h>

#include "backends.h"
#include "bus.h"
#include "co_base.h"
#include "config.h"
#include "redis_offload.h"
#include "util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define OK(call)                                                                                             \
  do {                                                                                                       \
    cohort_status st_ = (call);                                                                              \
    if (st_ != COHORT_OK)                                                                                    \
      fail_msg("%s: %s (%s)", #call, cohort_strerror(st_), cohort_errmsg());                                 \
  } while (0)

#define FAILS(call, status, text)                                                                            \
  do {                                                                                                       \
    cohort_status st_ = (call);                                                                              \
    if (st_ != (status))                                                                                     \
      fail_msg("%s: got %s (%s), wanted %s", #call, cohort_strerror(st_), cohort_errmsg(), #status);         \
    if (!strstr(cohort_errmsg(), (text)))                                                                    \
      fail_msg("%s: message '%s' lacks '%s'", #call, cohort_errmsg(), (text));                               \
  } while (0)

static double ms_since(uint64_t t0) {
  return (double)(co_mono_ns() - t0) / 1e6;
}

static void sleep_ms(int ms) {
  usleep((useconds_t)ms * 1000u);
}

/* ---------------------------------------------------------------- servers */

static const char *env(const char *name) {
  const char *v = getenv(name);
  if (!v || !*v)
    fail_msg("%s is not set: run this test through tests/bus_test.sh (ctest does)", name);
  return v;
}

static void server(const char *which, const char *cmd) {
  char line[2048];
  const char *dir = env(strcmp(which, "nats") == 0 ? "COHORT_TEST_NATS_DIR" : "COHORT_TEST_REDIS_DIR");
  const char *port = env(strcmp(which, "nats") == 0 ? "COHORT_TEST_NATS_PORT" : "COHORT_TEST_REDIS_PORT");
  snprintf(line, sizeof line, "'%s/%s-server.sh' %s '%s' %s", env("COHORT_TEST_SCRIPTS"), which, cmd, dir,
           strcmp(cmd, "start") == 0 ? port : "");
  if (system(line) != 0)
    fail_msg("%s failed", line);
}

/* Both servers up again whatever a test left behind (teardown). */
static int servers_up(void **state) {
  char line[2048];
  snprintf(line, sizeof line,
           "kill -0 \"$(cat '%s/nats.pid' 2>/dev/null)\" 2>/dev/null || '%s/nats-server.sh' start '%s' %s; "
           "kill -0 \"$(cat '%s/redis.pid' 2>/dev/null)\" 2>/dev/null || '%s/redis-server.sh' start '%s' %s",
           env("COHORT_TEST_NATS_DIR"), env("COHORT_TEST_SCRIPTS"), env("COHORT_TEST_NATS_DIR"),
           env("COHORT_TEST_NATS_PORT"), env("COHORT_TEST_REDIS_DIR"), env("COHORT_TEST_SCRIPTS"),
           env("COHORT_TEST_REDIS_DIR"), env("COHORT_TEST_REDIS_PORT"));
  return system(line) == 0 ? 0 : -1;
}

/* Keys the bus left in Redis. */
static int redis_keys(void) {
  char line[512], out[64] = "";
  snprintf(line, sizeof line, "redis-cli -h 127.0.0.1 -p %s --scan --pattern 'cohort:bus:*' | wc -l",
           env("COHORT_TEST_REDIS_PORT"));
  FILE *p = popen(line, "r");
  assert_non_null(p);
  if (!fgets(out, sizeof out, p))
    out[0] = '\0';
  assert_int_equal(pclose(p), 0);
  return atoi(out);
}

/* A NATS bus; stream names the work queue ("" = none), redis adds bus_redis. */
static co_bus *open_nats(const char *stream, int redis, int ack_wait_s) {
  co_config cfg;
  char url[128];
  co_bus *b = NULL;
  co_config_defaults(&cfg);
  snprintf(url, sizeof url, "nats://127.0.0.1:%s", env("COHORT_TEST_NATS_PORT"));
  co_strlcpy(cfg.bus_work_stream, stream, sizeof cfg.bus_work_stream);
  if (redis)
    snprintf(cfg.bus_redis, sizeof cfg.bus_redis, "redis://127.0.0.1:%s", env("COHORT_TEST_REDIS_PORT"));
  cfg.bus_work_ack_wait_s = ack_wait_s;
  cfg.bus_timeout_ms = 2000;
  OK(co_bus_nats_open(url, &cfg, &b));
  assert_non_null(b);
  assert_int_equal(b->ops->version, CO_BUS_VERSION);
  return b;
}

/* ---------------------------------------------------------------- servers of requests */

/* Answers "<prefix>:" + body at once. */
typedef struct echo {
  const char *prefix;
  co_bus *bus;
  pthread_mutex_t mu;
  int served;
} echo;

static void echo_serve(void *ctx, co_bus_req *req, const char *subject, const char *data, size_t len) {
  echo *e = ctx;
  size_t p = strlen(e->prefix);
  char *out = malloc(p + 1 + len);
  assert_non_null(out);
  memcpy(out, e->prefix, p);
  out[p] = ':';
  memcpy(out + p + 1, data, len);
  pthread_mutex_lock(&e->mu);
  e->served++;
  pthread_mutex_unlock(&e->mu);
  e->bus->ops->respond(e->bus, req, out, p + 1 + len);
  free(out);
}

static int served(echo *e) {
  pthread_mutex_lock(&e->mu);
  int n = e->served;
  pthread_mutex_unlock(&e->mu);
  return n;
}

/* Keeps the request to answer later from another thread. */
typedef struct holder {
  co_bus *bus;
  pthread_mutex_t mu;
  co_bus_req *req;
} holder;

static void hold_serve(void *ctx, co_bus_req *req, const char *subject, const char *data, size_t len) {
  holder *h = ctx;
  pthread_mutex_lock(&h->mu);
  assert_null(h->req);
  h->req = req;
  pthread_mutex_unlock(&h->mu);
}

static co_bus_req *held(holder *h, int wait_ms) {
  uint64_t t0 = co_mono_ns();
  for (;;) {
    pthread_mutex_lock(&h->mu);
    co_bus_req *r = h->req;
    h->req = NULL;
    pthread_mutex_unlock(&h->mu);
    if (r || ms_since(t0) > wait_ms)
      return r;
    sleep_ms(5);
  }
}

typedef struct late {
  holder *h;
  int after_ms;
} late;

static void *respond_later(void *arg) {
  late *l = arg;
  co_bus_req *r = held(l->h, 5000);
  assert_non_null(r);
  sleep_ms(l->after_ms);
  OK(l->h->bus->ops->respond(l->h->bus, r, "later", 5));
  return NULL;
}

/* ---------------------------------------------------------------- local */

/* The deadline every timed wait of the bus, the store and the call sweeper builds: carried into
 * seconds at 1000 ms, never in the past for a negative wait. */
static void test_deadline_after(void **state) {
  (void)state;
  const int64_t waits[] = {0, 1, 999, 1000, 1999, 2500, -5};
  for (size_t i = 0; i < sizeof waits / sizeof waits[0]; i++) {
    struct timespec before, after;
    clock_gettime(CLOCK_MONOTONIC, &before);
    struct timespec d = co_deadline_after(CLOCK_MONOTONIC, waits[i]);
    clock_gettime(CLOCK_MONOTONIC, &after);
    assert_true(d.tv_nsec >= 0 && d.tv_nsec < 1000000000L);
    int64_t want = waits[i] < 0 ? 0 : waits[i];
    int64_t lo = (int64_t)before.tv_sec * 1000000000LL + before.tv_nsec + want * 1000000LL;
    int64_t hi = (int64_t)after.tv_sec * 1000000000LL + after.tv_nsec + want * 1000000LL;
    int64_t got = (int64_t)d.tv_sec * 1000000000LL + d.tv_nsec;
    assert_true(got >= lo && got <= hi);
  }
}

static void test_local_request_reply(void **state) {
  co_bus *b = NULL;
  char *reply = NULL;
  size_t n = 0;
  OK(co_bus_local_open(&b));
  assert_null(b->ops->work_publish);
  assert_null(b->ops->work_pull);
  OK(b->ops->ping(b));

  FAILS(b->ops->request(b, "svc.echo", "x", 1, 100, &reply, &n), COHORT_ENOTFOUND, "svc.echo");
  echo e1 = {"one", b, PTHREAD_MUTEX_INITIALIZER, 0}, e2 = {"two", b, PTHREAD_MUTEX_INITIALIZER, 0};
  co_bus_sub *s1, *s2;
  OK(b->ops->serve(b, "svc.>", "g", echo_serve, &e1, &s1));
  OK(b->ops->serve(b, "svc.echo", "g", echo_serve, &e2, &s2));
  for (int i = 0; i < 10; i++) {
    OK(b->ops->request(b, "svc.echo", "hi", 2, 1000, &reply, &n));
    assert_true(strcmp(reply, "one:hi") == 0 || strcmp(reply, "two:hi") == 0);
    assert_int_equal(n, 6);
    co_free(reply);
  }
  /* round robin: each member of the group got half */
  assert_int_equal(served(&e1), 5);
  assert_int_equal(served(&e2), 5);
  /* only one member serves "svc.other" */
  OK(b->ops->request(b, "svc.other", "", 0, 1000, &reply, &n));
  assert_string_equal(reply, "one:");
  co_free(reply);
  b->ops->unsubscribe(b, s1);
  b->ops->unsubscribe(b, s2);
  FAILS(b->ops->request(b, "svc.echo", "x", 1, 100, &reply, &n), COHORT_ENOTFOUND, "nobody serves");

  /* answered later from another thread */
  holder h = {b, PTHREAD_MUTEX_INITIALIZER, NULL};
  co_bus_sub *sh;
  OK(b->ops->serve(b, "slow", "g", hold_serve, &h, &sh));
  late l = {&h, 50};
  pthread_t t;
  pthread_create(&t, NULL, respond_later, &l);
  uint64_t t0 = co_mono_ns();
  OK(b->ops->request(b, "slow", "q", 1, 5000, &reply, &n));
  assert_string_equal(reply, "later");
  assert_true(ms_since(t0) >= 40);
  co_free(reply);
  pthread_join(t, NULL);

  /* not answered in time: EUNAVAIL at the timeout; the late answer then frees everything */
  t0 = co_mono_ns();
  FAILS(b->ops->request(b, "slow", "q", 1, 150, &reply, &n), COHORT_EUNAVAIL,
        "'slow': no reply within 150 ms");
  double waited = ms_since(t0);
  assert_true(waited >= 140 && waited < 2000);
  assert_null(reply);
  co_bus_req *r = held(&h, 1000);
  assert_non_null(r);
  OK(b->ops->respond(b, r, "too late", 8));
  b->ops->unsubscribe(b, sh);
  b->ops->close(b);
}

/* ---------------------------------------------------------------- NATS publish/subscribe */

typedef struct inbox {
  pthread_mutex_t mu;
  int n;
  char subject[64];
  char *data;
  size_t len;
} inbox;

static void on_event(void *ctx, const char *subject, const char *data, size_t len) {
  inbox *in = ctx;
  pthread_mutex_lock(&in->mu);
  in->n++;
  co_strlcpy(in->subject, subject, sizeof in->subject);
  free(in->data);
  in->data = malloc(len + 1);
  memcpy(in->data, data, len);
  in->data[len] = '\0';
  in->len = len;
  pthread_mutex_unlock(&in->mu);
}

static int received(inbox *in, int want, int wait_ms) {
  uint64_t t0 = co_mono_ns();
  for (;;) {
    pthread_mutex_lock(&in->mu);
    int n = in->n;
    pthread_mutex_unlock(&in->mu);
    if (n >= want || ms_since(t0) > wait_ms)
      return n;
    sleep_ms(5);
  }
}

static void test_nats_pubsub(void **state) {
  co_bus *a = open_nats("", 1, 30), *b = open_nats("", 1, 30);
  inbox in = {PTHREAD_MUTEX_INITIALIZER, 0, "", NULL, 0};
  co_bus_sub *sub;
  assert_null(a->ops->work_pull); /* no stream: no work queue */
  OK(b->ops->subscribe(b, "jobs.>", on_event, &in, &sub));
  sleep_ms(50); /* the subscription reaches the server before a's publish (different connections) */
  OK(a->ops->publish(a, "jobs.j1", "changed", 7));
  assert_int_equal(received(&in, 1, 5000), 1);
  assert_string_equal(in.subject, "jobs.j1");
  assert_string_equal(in.data, "changed");
  OK(a->ops->publish(a, "jobs", "not matched", 11)); /* ".>" needs one more token */

  /* a body over max_payload goes through Redis and reaches the subscriber whole */
  size_t big = 2u << 20;
  char *body = malloc(big);
  for (size_t i = 0; i < big; i++)
    body[i] = (char)('a' + i % 26);
  OK(a->ops->publish(a, "jobs.big", body, big));
  assert_int_equal(received(&in, 2, 5000), 2);
  assert_int_equal(in.len, big);
  assert_memory_equal(in.data, body, big);
  free(body);

  FAILS(a->ops->publish(a, "jobs.*", "x", 1), COHORT_EINVAL, "jobs.*");
  FAILS(a->ops->subscribe(a, "a..b", on_event, &in, NULL), COHORT_EINVAL, "empty token");
  b->ops->unsubscribe(b, sub);
  OK(a->ops->publish(a, "jobs.j2", "after", 5));
  sleep_ms(200);
  assert_int_equal(received(&in, 3, 0), 2);
  free(in.data);
  a->ops->close(a);
  b->ops->close(b);
}

/* ---------------------------------------------------------------- NATS request/reply */

static void test_nats_queue_group(void **state) {
  co_bus *s1 = open_nats("", 0, 30), *s2 = open_nats("", 0, 30), *r = open_nats("", 0, 30);
  echo e1 = {"one", s1, PTHREAD_MUTEX_INITIALIZER, 0}, e2 = {"two", s2, PTHREAD_MUTEX_INITIALIZER, 0};
  co_bus_sub *a, *b;
  OK(s1->ops->serve(s1, "trainee.>", "hosts", echo_serve, &e1, &a));
  OK(s2->ops->serve(s2, "trainee.t1.predict", "hosts", echo_serve, &e2, &b));
  sleep_ms(50);
  uint64_t t0 = co_mono_ns();
  for (int i = 0; i < 100; i++) {
    char q[16], *reply = NULL;
    size_t n;
    snprintf(q, sizeof q, "%d", i);
    OK(r->ops->request(r, "trainee.t1.predict", q, strlen(q), 2000, &reply, &n));
    assert_true(strncmp(reply, "one:", 4) == 0 || strncmp(reply, "two:", 4) == 0);
    assert_string_equal(reply + 4, q);
    co_free(reply);
  }
  double ms = ms_since(t0);
  print_message("100 requests through a queue group of 2: %.1f ms (%.3f ms each); one %d, two %d\n", ms,
                ms / 100, served(&e1), served(&e2));
  assert_int_equal(served(&e1) + served(&e2), 100);
  assert_true(served(&e1) > 0 && served(&e2) > 0);
  s1->ops->unsubscribe(s1, a);
  s2->ops->unsubscribe(s2, b);
  s1->ops->close(s1);
  s2->ops->close(s2);
  r->ops->close(r);
}

/* waiting: requests queued behind the one being delivered, which a server reads to decide whether to
 * answer on the delivery thread. The first request is held on that thread until three more queue
 * behind it. */
typedef struct waiter {
  co_bus *bus;
  pthread_mutex_t mu;
  int n, seen[8], held_saw;
} waiter;

static void waiting_serve(void *ctx, co_bus_req *req, const char *subject, const char *data, size_t len) {
  waiter *w = ctx;
  int queued = w->bus->ops->waiting(w->bus, req);
  pthread_mutex_lock(&w->mu);
  int i = w->n++;
  if (i < 8)
    w->seen[i] = queued;
  pthread_mutex_unlock(&w->mu);
  for (int t = 0; i == 0 && queued < 3 && t < 800; t++) {
    sleep_ms(5);
    queued = w->bus->ops->waiting(w->bus, req);
  }
  if (i == 0)
    w->held_saw = queued;
  OK(w->bus->ops->respond(w->bus, req, data, len));
}

typedef struct asker {
  co_bus *bus;
  const char *body;
} asker;

static void *ask(void *arg) {
  asker *a = arg;
  char *reply = NULL;
  size_t n;
  OK(a->bus->ops->request(a->bus, "svc.wait", a->body, strlen(a->body), 8000, &reply, &n));
  assert_int_equal(n, strlen(a->body));
  co_free(reply);
  return NULL;
}

static void test_nats_waiting(void **state) {
  co_bus *s = open_nats("", 0, 30), *r = open_nats("", 0, 30);
  waiter w = {.bus = s, .mu = PTHREAD_MUTEX_INITIALIZER};
  co_bus_sub *sub;
  OK(s->ops->serve(s, "svc.wait", "g", waiting_serve, &w, &sub));
  sleep_ms(50);
  pthread_t th[4];
  asker a[4] = {{r, "0"}, {r, "1"}, {r, "2"}, {r, "3"}};
  assert_int_equal(pthread_create(&th[0], NULL, ask, &a[0]), 0);
  for (int t = 0; t < 800; t++) {
    pthread_mutex_lock(&w.mu);
    int started = w.n;
    pthread_mutex_unlock(&w.mu);
    if (started)
      break;
    sleep_ms(5);
  }
  for (int i = 1; i < 4; i++)
    assert_int_equal(pthread_create(&th[i], NULL, ask, &a[i]), 0);
  for (int i = 0; i < 4; i++)
    pthread_join(th[i], NULL);
  assert_int_equal(w.n, 4);
  assert_int_equal(w.seen[0], 0);  /* alone when it came */
  assert_int_equal(w.held_saw, 3); /* then three behind it */
  assert_int_equal(w.seen[1], 2);  /* and each next one had one fewer */
  assert_int_equal(w.seen[2], 1);
  assert_int_equal(w.seen[3], 0);
  s->ops->unsubscribe(s, sub);
  s->ops->close(s);
  r->ops->close(r);
  (void)state;
}

static void test_nats_no_responders_and_timeout(void **state) {
  co_bus *s = open_nats("", 0, 30), *r = open_nats("", 0, 30);
  char *reply = NULL;
  size_t n = 0;
  uint64_t t0 = co_mono_ns();
  FAILS(r->ops->request(r, "trainee.nobody.predict", "x", 1, 3000, &reply, &n), COHORT_ENOTFOUND,
        "trainee.nobody.predict");
  double ms = ms_since(t0);
  print_message("no responders: ENOTFOUND after %.2f ms\n", ms);
  assert_true(ms < 500);

  holder h = {s, PTHREAD_MUTEX_INITIALIZER, NULL};
  co_bus_sub *sub;
  OK(s->ops->serve(s, "trainee.slow.predict", "hosts", hold_serve, &h, &sub));
  sleep_ms(50);
  t0 = co_mono_ns();
  FAILS(r->ops->request(r, "trainee.slow.predict", "x", 1, 200, &reply, &n), COHORT_EUNAVAIL,
        "'trainee.slow.predict': no reply within 200 ms");
  ms = ms_since(t0);
  assert_true(ms >= 190 && ms < 2000);
  assert_null(reply);
  co_bus_req *req = held(&h, 1000);
  assert_non_null(req);
  OK(s->ops->respond(s, req, "late", 4)); /* nobody listens any more: dropped, freed */

  /* answered from another thread while the requester waits */
  late l = {&h, 30};
  pthread_t t;
  pthread_create(&t, NULL, respond_later, &l);
  OK(r->ops->request(r, "trainee.slow.predict", "x", 1, 3000, &reply, &n));
  assert_string_equal(reply, "later");
  co_free(reply);
  pthread_join(t, NULL);
  s->ops->unsubscribe(s, sub);
  s->ops->close(s);
  r->ops->close(r);
}

/* Beats the held call every beat_ms for beats times, then answers it. */
typedef struct beater {
  holder *h;
  int beat_ms, beats;
} beater;

static void *beat_then_respond(void *arg) {
  beater *t = arg;
  co_bus_req *r = held(t->h, 5000);
  assert_non_null(r);
  for (int i = 0; i < t->beats; i++) {
    sleep_ms(t->beat_ms);
    OK(t->h->bus->ops->beat(t->h->bus, r));
  }
  OK(t->h->bus->ops->respond(t->h->bus, r, "done", 4));
  return NULL;
}

static void test_nats_beats(void **state) {
  co_bus *s = open_nats("", 0, 30), *r = open_nats("", 0, 30);
  holder h = {s, PTHREAD_MUTEX_INITIALIZER, NULL};
  co_bus_sub *sub;
  char *reply = NULL;
  size_t n = 0;
  int silent = -1;
  OK(s->ops->serve(s, "trainee.long.predict", "hosts", hold_serve, &h, &sub));
  sleep_ms(50);

  /* a call beaten every 100 ms lives 1 s with 300 ms of silence allowed; its beats are not replies */
  beater t = {&h, 100, 10};
  pthread_t th;
  pthread_create(&th, NULL, beat_then_respond, &t);
  uint64_t t0 = co_mono_ns();
  OK(r->ops->request_live(r, "trainee.long.predict", "x", 1, 5000, 300, &reply, &n, &silent));
  assert_true(ms_since(t0) >= 900);
  assert_int_equal(silent, 0);
  assert_string_equal(reply, "done");
  co_free(reply);
  pthread_join(th, NULL);
  t.beats = 3; /* a plain request takes the reply after the beats too */
  pthread_create(&th, NULL, beat_then_respond, &t);
  OK(r->ops->request(r, "trainee.long.predict", "x", 1, 5000, &reply, &n));
  assert_string_equal(reply, "done");
  co_free(reply);
  pthread_join(th, NULL);

  /* a server that stops beating is given up after the silence, well before the timeout */
  t0 = co_mono_ns();
  FAILS(r->ops->request_live(r, "trainee.long.predict", "x", 1, 5000, 300, &reply, &n, &silent),
        COHORT_EUNAVAIL, "went silent");
  double ms = ms_since(t0);
  print_message("silent server given up after %.0f ms\n", ms);
  assert_true(ms >= 290 && ms < 2000);
  assert_int_equal(silent, 1);
  assert_null(reply);
  co_bus_req *req = held(&h, 1000);
  assert_non_null(req);
  OK(s->ops->respond(s, req, "late", 4));
  /* the timeout is not silence */
  FAILS(r->ops->request_live(r, "trainee.long.predict", "x", 1, 200, 300, &reply, &n, &silent),
        COHORT_EUNAVAIL, "no reply within 200 ms");
  assert_int_equal(silent, 0);
  req = held(&h, 1000);
  assert_non_null(req);
  OK(s->ops->respond(s, req, "late", 4));
  s->ops->unsubscribe(s, sub);
  s->ops->close(s);
  r->ops->close(r);
}

static void test_nats_large_bodies(void **state) {
  co_bus *s = open_nats("", 1, 30), *r = open_nats("", 1, 30), *plain = open_nats("", 0, 30);
  echo e = {"big", s, PTHREAD_MUTEX_INITIALIZER, 0};
  co_bus_sub *sub;
  OK(s->ops->serve(s, "trainee.big.predict", "hosts", echo_serve, &e, &sub));
  sleep_ms(50);
  size_t big = 5u << 20;
  char *body = malloc(big), *reply = NULL;
  size_t n = 0;
  for (size_t i = 0; i < big; i++)
    body[i] = (char)(' ' + (i * 7919) % 90);
  int keys = redis_keys(); /* published bodies of earlier tests wait for their TTL */
  uint64_t t0 = co_mono_ns();
  OK(r->ops->request(r, "trainee.big.predict", body, big, 10000, &reply, &n));
  print_message("5 MB request + 5 MB reply through Redis: %.1f ms\n", ms_since(t0));
  assert_int_equal(n, big + 4);
  assert_memory_equal(reply, "big:", 4);
  assert_memory_equal(reply + 4, body, big);
  co_free(reply);
  assert_int_equal(redis_keys(), keys); /* both bodies were taken */

  /* a request nobody serves leaves nothing behind either */
  FAILS(r->ops->request(r, "trainee.none.predict", body, big, 1000, &reply, &n), COHORT_ENOTFOUND,
        "trainee.none.predict");
  assert_int_equal(redis_keys(), keys);

  /* without bus_redis: ELIMIT naming the setting; small bodies still go */
  FAILS(plain->ops->request(plain, "trainee.big.predict", body, big, 1000, &reply, &n), COHORT_ELIMIT,
        "bus_redis");
  OK(plain->ops->request(plain, "trainee.big.predict", "s", 1, 2000, &reply, &n));
  assert_string_equal(reply, "big:s");
  co_free(reply);
  free(body);
  s->ops->unsubscribe(s, sub);
  s->ops->close(s);
  r->ops->close(r);
  plain->ops->close(plain);
}

/* ---------------------------------------------------------------- the work queue */

typedef struct puller {
  co_bus *bus;
  pthread_mutex_t *mu;
  int *seen; /* deliveries per item */
  int *total;
  int got;
} puller;

static void *pull_loop(void *arg) {
  puller *p = arg;
  uint64_t t0 = co_mono_ns();
  for (;;) {
    pthread_mutex_lock(p->mu);
    int done = *p->total >= 50;
    pthread_mutex_unlock(p->mu);
    if (done || ms_since(t0) > 20000)
      break;
    co_bus_work *w = NULL;
    cohort_status st = p->bus->ops->work_pull(p->bus, 200, &w);
    if (st == COHORT_ENOTFOUND)
      continue;
    OK(st);
    int item = atoi(p->bus->ops->work_item(w));
    sleep_ms(2); /* some work, so that the two pullers interleave */
    OK(p->bus->ops->work_done(p->bus, w, CO_BUS_ACK));
    pthread_mutex_lock(p->mu);
    if (item >= 0 && item < 50)
      p->seen[item]++;
    (*p->total)++;
    pthread_mutex_unlock(p->mu);
    p->got++;
  }
  return NULL;
}

static void test_work_dedup_two_consumers(void **state) {
  co_bus *pub = open_nats("T_DEDUP", 0, 30), *w1 = open_nats("T_DEDUP", 0, 30),
         *w2 = open_nats("T_DEDUP", 0, 30);
  for (int i = 0; i < 60; i++) {
    char item[16], id[32];
    snprintf(item, sizeof item, "%d", i % 50);
    snprintf(id, sizeof id, "job-%d-1", i % 50); /* the last 10 repeat the first 10 */
    OK(pub->ops->work_publish(pub, item, id));
  }
  int64_t pending, in_flight;
  OK(pub->ops->work_backlog(pub, &pending, &in_flight));
  assert_int_equal(pending, 50);
  assert_int_equal(in_flight, 0);
  pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  int seen[50] = {0}, total = 0;
  puller p1 = {w1, &mu, seen, &total, 0}, p2 = {w2, &mu, seen, &total, 0};
  pthread_t t1, t2;
  uint64_t t0 = co_mono_ns();
  pthread_create(&t1, NULL, pull_loop, &p1);
  pthread_create(&t2, NULL, pull_loop, &p2);
  pthread_join(t1, NULL);
  pthread_join(t2, NULL);
  print_message("50 work items to 2 consumers in %.1f ms: %d and %d\n", ms_since(t0), p1.got, p2.got);
  assert_int_equal(total, 50);
  for (int i = 0; i < 50; i++)
    assert_int_equal(seen[i], 1);
  assert_true(p1.got > 0 && p2.got > 0);
  co_bus_work *w = NULL;
  FAILS(w1->ops->work_pull(w1, 300, &w), COHORT_ENOTFOUND, "no work item");
  OK(pub->ops->work_backlog(pub, &pending, &in_flight));
  assert_int_equal(pending, 0);
  assert_int_equal(in_flight, 0);
  pub->ops->close(pub);
  w1->ops->close(w1);
  w2->ops->close(w2);
}

static void test_work_redelivery_progress_drop(void **state) {
  co_bus *a = open_nats("T_REDELIVER", 0, 1), *b = open_nats("T_REDELIVER", 0, 1);
  co_bus_work *w = NULL, *w2 = NULL;

  /* not acknowledged within the ack wait (1 s): delivered again, as delivery 2 */
  OK(a->ops->work_publish(a, "job-a", "job-a-1"));
  OK(a->ops->work_pull(a, 2000, &w));
  assert_string_equal(a->ops->work_item(w), "job-a");
  assert_int_equal(a->ops->work_delivery(w), 1);
  uint64_t t0 = co_mono_ns();
  OK(b->ops->work_pull(b, 5000, &w2));
  double ms = ms_since(t0);
  print_message("redelivered after %.0f ms (ack wait 1 s)\n", ms);
  assert_true(ms > 500);
  assert_string_equal(b->ops->work_item(w2), "job-a");
  assert_int_equal(b->ops->work_delivery(w2), 2);
  OK(b->ops->work_done(b, w2, CO_BUS_ACK));
  a->ops->work_done(a, w, CO_BUS_ACK); /* the stale delivery: the item is gone already */

  /* RETRY: delivered again at once */
  OK(a->ops->work_publish(a, "job-r", "job-r-1"));
  OK(a->ops->work_pull(a, 2000, &w));
  OK(a->ops->work_done(a, w, CO_BUS_RETRY));
  OK(b->ops->work_pull(b, 900, &w));
  assert_string_equal(b->ops->work_item(w), "job-r");
  assert_int_equal(b->ops->work_delivery(w), 2);
  OK(b->ops->work_done(b, w, CO_BUS_ACK));

  /* progress keeps it from being redelivered for 2.5 ack waits */
  OK(a->ops->work_publish(a, "job-p", "job-p-1"));
  OK(a->ops->work_pull(a, 2000, &w));
  t0 = co_mono_ns();
  while (ms_since(t0) < 2500) {
    OK(a->ops->work_progress(a, w));
    FAILS(b->ops->work_pull(b, 300, &w2), COHORT_ENOTFOUND, "no work item");
  }
  OK(a->ops->work_done(a, w, CO_BUS_ACK));
  FAILS(b->ops->work_pull(b, 1500, &w2), COHORT_ENOTFOUND, "no work item");

  /* DROP: never again */
  OK(a->ops->work_publish(a, "job-d", "job-d-1"));
  OK(a->ops->work_pull(a, 2000, &w));
  OK(a->ops->work_done(a, w, CO_BUS_DROP));
  FAILS(b->ops->work_pull(b, 2500, &w2), COHORT_ENOTFOUND, "no work item");

  /* backlog: waiting and in flight */
  int64_t pending, in_flight;
  for (int i = 0; i < 5; i++) {
    char id[16];
    snprintf(id, sizeof id, "job-b%d", i);
    OK(a->ops->work_publish(a, id, id));
  }
  OK(a->ops->work_backlog(a, &pending, &in_flight));
  assert_int_equal(pending, 5);
  assert_int_equal(in_flight, 0);
  OK(a->ops->work_pull(a, 2000, &w));
  OK(b->ops->work_pull(b, 2000, &w2));
  OK(a->ops->work_backlog(a, &pending, &in_flight));
  assert_int_equal(pending, 3);
  assert_int_equal(in_flight, 2);
  OK(a->ops->work_done(a, w, CO_BUS_ACK));
  OK(b->ops->work_done(b, w2, CO_BUS_ACK));
  for (int i = 0; i < 3; i++) {
    OK(a->ops->work_pull(a, 2000, &w));
    OK(a->ops->work_done(a, w, CO_BUS_ACK));
  }
  OK(a->ops->work_backlog(a, &pending, &in_flight));
  assert_int_equal(pending + in_flight, 0);
  a->ops->close(a);
  b->ops->close(b);
}

/* ---------------------------------------------------------------- outages */

/* Answers every request with size bytes. */
typedef struct bigreply {
  co_bus *bus;
  size_t size;
  pthread_mutex_t mu;
  cohort_status last; /* of the last respond */
} bigreply;

static void big_serve(void *ctx, co_bus_req *req, const char *subject, const char *data, size_t len) {
  bigreply *br = ctx;
  char *out = malloc(br->size);
  assert_non_null(out);
  memset(out, 'b', br->size);
  cohort_status st = br->bus->ops->respond(br->bus, req, out, br->size);
  free(out);
  pthread_mutex_lock(&br->mu);
  br->last = st;
  pthread_mutex_unlock(&br->mu);
}

typedef struct outcome {
  co_bus *bus;
  const char *subject;
  int timeout_ms;
  cohort_status st;
  char msg[256];
  uint64_t done_ns;
} outcome;

static void *ask_recording(void *arg) {
  outcome *k = arg;
  char *reply = NULL;
  size_t n;
  k->st = k->bus->ops->request(k->bus, k->subject, "x", 1, k->timeout_ms, &reply, &n);
  k->done_ns = co_mono_ns();
  snprintf(k->msg, sizeof k->msg, "%s", k->st == COHORT_OK ? "" : cohort_errmsg());
  co_free(reply);
  return NULL;
}

static void test_nats_restart(void **state) {
  co_bus *a = open_nats("T_RESTART", 0, 1), *s = open_nats("", 0, 30);
  echo e = {"s", s, PTHREAD_MUTEX_INITIALIZER, 0};
  holder h = {s, PTHREAD_MUTEX_INITIALIZER, NULL};
  co_bus_sub *sub, *hold_sub;
  co_bus_work *w = NULL;
  char *reply = NULL;
  size_t n;
  OK(s->ops->serve(s, "svc.after", "g", echo_serve, &e, &sub));
  for (int i = 0; i < 3; i++) {
    char id[16];
    snprintf(id, sizeof id, "job-%d", i);
    OK(a->ops->work_publish(a, id, id));
  }
  OK(a->ops->work_pull(a, 2000, &w)); /* in flight across the restart, never acknowledged */
  OK(a->ops->ping(a));
  /* a request in flight when the server goes fails then, not at its 10 s timeout */
  OK(s->ops->serve(s, "svc.hold", "g", hold_serve, &h, &hold_sub));
  sleep_ms(50);
  outcome k = {a, "svc.hold", 10000, COHORT_OK, "", 0};
  pthread_t t;
  pthread_create(&t, NULL, ask_recording, &k);
  co_bus_req *req = held(&h, 2000);
  assert_non_null(req);

  uint64_t t0 = co_mono_ns();
  server("nats", "stop");
  pthread_join(t, NULL);
  print_message("a request in flight failed %.0f ms after nats-server was told to stop (%s)\n",
                (k.done_ns - t0) / 1e6, k.msg);
  assert_int_equal(k.st, COHORT_EUNAVAIL);
  assert_non_null(strstr(k.msg, "NATS unavailable"));
  assert_true((k.done_ns - t0) / 1e6 < 3000);
  t0 = co_mono_ns();
  s->ops->respond(s, req, "late", 4); /* fails (down) but frees req */
  cohort_status st;
  while ((st = a->ops->publish(a, "ping", "x", 1)) == COHORT_OK && ms_since(t0) < 5000)
    sleep_ms(10); /* until the client notices */
  FAILS(st, COHORT_EUNAVAIL, "NATS unavailable");
  FAILS(a->ops->ping(a), COHORT_EUNAVAIL, "NATS unavailable"); /* what /readyz says */
  t0 = co_mono_ns();
  FAILS(a->ops->request(a, "svc.after", "x", 1, 2000, &reply, &n), COHORT_EUNAVAIL, "svc.after");
  FAILS(a->ops->work_publish(a, "job-x", "job-x"), COHORT_EUNAVAIL, "NATS unavailable");
  assert_true(ms_since(t0) < 100); /* fails fast */

  server("nats", "start");
  t0 = co_mono_ns();
  while ((st = a->ops->request(a, "svc.after", "x", 1, 500, &reply, &n)) != COHORT_OK && ms_since(t0) < 15000)
    sleep_ms(50);
  OK(st);
  OK(a->ops->ping(a));
  print_message("requests served again %.0f ms after nats-server restarted\n", ms_since(t0));
  assert_string_equal(reply, "s:x");
  co_free(reply);

  /* the two waiting items and the one in flight (redelivered after its ack wait) are all there */
  int seen[3] = {0};
  a->ops->work_done(a, w, CO_BUS_RETRY);
  t0 = co_mono_ns();
  int got = 0;
  while (got < 3 && ms_since(t0) < 10000) {
    if (a->ops->work_pull(a, 500, &w) != COHORT_OK)
      continue;
    int i = atoi(a->ops->work_item(w) + 4);
    assert_true(i >= 0 && i < 3);
    seen[i]++;
    got++;
    OK(a->ops->work_done(a, w, CO_BUS_ACK));
  }
  assert_int_equal(seen[0], 1);
  assert_int_equal(seen[1], 1);
  assert_int_equal(seen[2], 1);
  s->ops->unsubscribe(s, sub);
  s->ops->unsubscribe(s, hold_sub);
  a->ops->close(a);
  s->ops->close(s);
}

static void test_redis_outage(void **state) {
  co_bus *s = open_nats("", 1, 30), *r = open_nats("", 1, 30);
  echo e = {"e", s, PTHREAD_MUTEX_INITIALIZER, 0};
  co_bus_sub *sub;
  size_t big = 3u << 20, n;
  char *body = calloc(1, big), *reply = NULL;
  memset(body, 'z', big);
  OK(s->ops->serve(s, "svc.r", "g", echo_serve, &e, &sub));
  sleep_ms(50);
  OK(r->ops->request(r, "svc.r", body, big, 5000, &reply, &n));
  co_free(reply);
  OK(r->ops->ping(r));

  server("redis", "stop");
  FAILS(r->ops->ping(r), COHORT_EUNAVAIL, "Redis unavailable"); /* what /readyz says */
  uint64_t t0 = co_mono_ns();
  FAILS(r->ops->request(r, "svc.r", body, big, 5000, &reply, &n), COHORT_EUNAVAIL, "Redis unavailable");
  print_message("large request with Redis down: EUNAVAIL after %.1f ms (%s)\n", ms_since(t0),
                cohort_errmsg());
  assert_true(ms_since(t0) < 2000);
  OK(r->ops->request(r, "svc.r", "small", 5, 2000, &reply, &n));
  assert_string_equal(reply, "e:small");
  co_free(reply);
  /* a small request whose large reply cannot be parked: the server says so at once */
  bigreply br = {s, big, PTHREAD_MUTEX_INITIALIZER, COHORT_OK};
  co_bus_sub *sub2;
  OK(s->ops->serve(s, "svc.big", "g", big_serve, &br, &sub2));
  sleep_ms(50);
  t0 = co_mono_ns();
  FAILS(r->ops->request(r, "svc.big", "q", 1, 5000, &reply, &n), COHORT_EUNAVAIL, "Redis unavailable");
  assert_true(ms_since(t0) < 2000);
  cohort_status last = COHORT_OK;
  for (t0 = co_mono_ns(); last == COHORT_OK && ms_since(t0) < 2000; sleep_ms(5)) {
    pthread_mutex_lock(&br.mu);
    last = br.last; /* set once respond returned, maybe just after the requester heard */
    pthread_mutex_unlock(&br.mu);
  }
  assert_int_equal(last, COHORT_EUNAVAIL);

  server("redis", "start");
  OK(r->ops->ping(r));
  OK(r->ops->request(r, "svc.r", body, big, 5000, &reply, &n));
  assert_int_equal(n, big + 2);
  assert_memory_equal(reply + 2, body, big);
  co_free(reply);
  OK(r->ops->request(r, "svc.big", "q", 1, 5000, &reply, &n));
  assert_int_equal(n, big);
  co_free(reply);
  assert_int_equal(redis_keys(), 0);
  free(body);
  s->ops->unsubscribe(s, sub);
  s->ops->unsubscribe(s, sub2);
  s->ops->close(s);
  r->ops->close(r);
}

/* A Redis password as a Kubernetes Secret gives it, put into the URL as it is: '@', '/' and ':'
 * inside it must not end the credentials or start the database number. */
static void redis_cli(const char *auth, const char *cmd) {
  char line[512];
  snprintf(line, sizeof line, "redis-cli -h 127.0.0.1 -p %s %s%s%s %s >/dev/null",
           env("COHORT_TEST_REDIS_PORT"), auth ? "--no-auth-warning -a '" : "", auth ? auth : "",
           auth ? "'" : "", cmd);
  assert_int_equal(system(line), 0);
}

static void test_redis_password_with_url_characters(void **state) {
  (void)state;
  const char *pw = "p@ss/w:rd";
  char url[256], key[CO_OFFLOAD_KEY_MAX], *got = NULL;
  size_t len = 0;
  co_offload *o = NULL, *wrong = NULL;
  redis_cli(NULL, "CONFIG SET requirepass 'p@ss/w:rd'");
  snprintf(url, sizeof url, "redis://:%s@127.0.0.1:%s/3", pw, env("COHORT_TEST_REDIS_PORT"));
  assert_int_equal(co_offload_open(url, 2000, 30, &o), COHORT_OK);
  assert_int_equal(co_offload_put(o, "body", 4, key), COHORT_OK);
  assert_int_equal(co_offload_get(o, key, 1, &got, &len), COHORT_OK);
  assert_int_equal(len, 4);
  assert_memory_equal(got, "body", 4);
  co_free(got);
  snprintf(url, sizeof url, "redis://:p@ss@127.0.0.1:%s/3", env("COHORT_TEST_REDIS_PORT"));
  assert_int_equal(co_offload_open(url, 2000, 30, &wrong), COHORT_OK); /* opening never connects */
  assert_int_not_equal(co_offload_ping(wrong), COHORT_OK);
  assert_null(strstr(cohort_errmsg(), "p@ss")); /* the password stays out of messages */
  co_offload_close(wrong);
  co_offload_close(o);
  redis_cli(pw, "CONFIG SET requirepass ''");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_deadline_after),
      cmocka_unit_test(test_local_request_reply),
      cmocka_unit_test_teardown(test_nats_pubsub, servers_up),
      cmocka_unit_test_teardown(test_nats_queue_group, servers_up),
      cmocka_unit_test_teardown(test_nats_waiting, servers_up),
      cmocka_unit_test_teardown(test_nats_no_responders_and_timeout, servers_up),
      cmocka_unit_test_teardown(test_nats_beats, servers_up),
      cmocka_unit_test_teardown(test_nats_large_bodies, servers_up),
      cmocka_unit_test_teardown(test_work_dedup_two_consumers, servers_up),
      cmocka_unit_test_teardown(test_work_redelivery_progress_drop, servers_up),
      cmocka_unit_test_teardown(test_nats_restart, servers_up),
      cmocka_unit_test_teardown(test_redis_outage, servers_up),
      cmocka_unit_test_teardown(test_redis_password_with_url_characters, servers_up),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
