/* The compute pool (src/platform/pool.c): its size from a fake cgroup tree (v2 and v1, limits
 * along the path, none), its bounded queue, lending that never waits, and the engine's parallel
 * loops on lent threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "co_internal.h"
#include "pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[256];

static void put(const char *rel, const char *text) {
  char path[1024];
  snprintf(path, sizeof path, "%s%s", root, rel);
  for (char *p = path + strlen(root) + 1; *p; p++)
    if (*p == '/') {
      *p = '\0';
      mkdir(path, 0700);
      *p = '/';
    }
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static int setup(void **state) {
  snprintf(root, sizeof root, "/tmp/cohort-pool-XXXXXX");
  assert_non_null(mkdtemp(root));
  return 0;
}

static int teardown(void **state) {
  char cmd[512];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
  return system(cmd) == 0 ? 0 : -1;
}

static long machine_cpus(void) {
  return sysconf(_SC_NPROCESSORS_ONLN);
}

static void test_size_v2_smallest_along_the_path(void **state) {
  char why[1024];
  put("/proc/self/cgroup", "0::/kubepods/pod1/c1\n");
  put("/sys/fs/cgroup/kubepods/pod1/c1/cpu.max", "max 100000\n");
  put("/sys/fs/cgroup/kubepods/pod1/cpu.max", "50000 100000\n"); /* half a CPU: the pod's limit */
  put("/sys/fs/cgroup/kubepods/cpu.max", "400000 100000\n");
  assert_int_equal(co_pool_size_detect(0, root, why, sizeof why), 1);
  assert_non_null(strstr(why, "cgroup v2"));
  assert_non_null(strstr(why, "/kubepods/pod1/cpu.max 50000/100000"));
  /* The setting wins. */
  assert_int_equal(co_pool_size_detect(3, root, why, sizeof why), 3);
  assert_non_null(strstr(why, "compute_threads"));
}

static void test_size_v2_rounds_up_and_never_exceeds_cpus(void **state) {
  char why[1024];
  put("/proc/self/cgroup", "0::/\n");
  put("/sys/fs/cgroup/cpu.max", "150000 100000\n"); /* a container's own cgroup at the mount root */
  size_t n = co_pool_size_detect(0, root, why, sizeof why);
  assert_int_equal(n, machine_cpus() < 2 ? (size_t)machine_cpus() : 2);
  put("/sys/fs/cgroup/cpu.max", "max 100000\n");
  assert_int_equal(co_pool_size_detect(0, root, why, sizeof why), (size_t)machine_cpus());
  assert_non_null(strstr(why, "no cgroup CPU limit"));
}

static void test_size_v1(void **state) {
  char why[1024];
  put("/proc/self/cgroup", "5:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n0::/\n");
  put("/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "30000\n");
  put("/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us", "100000\n");
  assert_int_equal(co_pool_size_detect(0, root, why, sizeof why), 1);
  assert_non_null(strstr(why, "cgroup v1"));
  put("/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "-1\n");
  assert_int_equal(co_pool_size_detect(0, root, why, sizeof why), (size_t)machine_cpus());
}

/* ---------------------------------------------------------------- the pool */

typedef struct gate {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int open, entered;
} gate;

static void hold(void *arg) {
  gate *g = arg;
  pthread_mutex_lock(&g->mu);
  g->entered++;
  pthread_cond_broadcast(&g->cv);
  while (!g->open)
    pthread_cond_wait(&g->cv, &g->mu);
  pthread_mutex_unlock(&g->mu);
}

static void wait_entered(gate *g, int n) {
  pthread_mutex_lock(&g->mu);
  while (g->entered < n)
    pthread_cond_wait(&g->cv, &g->mu);
  pthread_mutex_unlock(&g->mu);
}

static void release(gate *g) {
  pthread_mutex_lock(&g->mu);
  g->open = 1;
  pthread_cond_broadcast(&g->cv);
  pthread_mutex_unlock(&g->mu);
}

static void test_queue_is_bounded_and_lending_never_waits(void **state) {
  co_pool *p;
  gate g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
  assert_int_equal(co_pool_create(1, 2, &p), COHORT_OK);
  assert_int_equal(co_pool_submit(p, hold, &g), COHORT_OK);
  wait_entered(&g, 1);
  assert_int_equal(co_pool_lend(p, 4, hold, &g), 0); /* the only thread is busy */
  assert_int_equal(co_pool_submit(p, hold, &g), COHORT_OK);
  assert_int_equal(co_pool_submit(p, hold, &g), COHORT_OK);
  assert_true(co_pool_waiting(p));
  assert_int_equal(co_pool_submit(p, hold, &g), COHORT_ELIMIT);
  size_t busy, queued;
  co_pool_stats(p, &busy, &queued);
  assert_int_equal(busy, 1);
  assert_int_equal(queued, 2);
  release(&g);
  co_pool_destroy(p); /* runs what was queued first */
  assert_int_equal(g.entered, 3);
}

typedef struct sum_ctx {
  _Atomic uint64_t sum;
  _Atomic size_t max_worker;
  size_t threads;
} sum_ctx;

static cohort_status add_range(void *vctx, size_t b, size_t e, size_t worker) {
  sum_ctx *c = vctx;
  uint64_t s = 0;
  for (size_t i = b; i < e; i++)
    s += i;
  atomic_fetch_add(&c->sum, s);
  size_t m = atomic_load(&c->max_worker);
  while (worker > m && !atomic_compare_exchange_weak(&c->max_worker, &m, worker))
    ;
  usleep(100); /* long enough for lent threads to take chunks too */
  return COHORT_OK;
}

static void test_engine_loops_borrow_idle_threads(void **state) {
  co_pool *p;
  assert_int_equal(co_pool_acquire(3, &p), COHORT_OK);
  assert_int_equal(co_threads(0), 3); /* "all cores" is the pool now */
  sum_ctx c = {0};
  const size_t n = 20000;
  assert_int_equal(co_parallel(n, 0, 16, add_range, &c), COHORT_OK);
  assert_int_equal(atomic_load(&c.sum), (uint64_t)n * (n - 1) / 2);
  assert_true(atomic_load(&c.max_worker) < 3);

  /* Every pool thread busy: the loop runs on its caller alone, and still finishes. */
  gate g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
  for (int i = 0; i < 3; i++)
    assert_int_equal(co_pool_submit(p, hold, &g), COHORT_OK);
  wait_entered(&g, 3);
  sum_ctx c2 = {0};
  assert_int_equal(co_parallel(2000, 0, 16, add_range, &c2), COHORT_OK);
  assert_int_equal(atomic_load(&c2.sum), (uint64_t)2000 * 1999 / 2);
  assert_int_equal(atomic_load(&c2.max_worker), 0);
  release(&g);
  co_pool_release(p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_size_v2_smallest_along_the_path, setup, teardown),
      cmocka_unit_test_setup_teardown(test_size_v2_rounds_up_and_never_exceeds_cpus, setup, teardown),
      cmocka_unit_test_setup_teardown(test_size_v1, setup, teardown),
      cmocka_unit_test(test_queue_is_bounded_and_lending_never_waits),
      cmocka_unit_test(test_engine_loops_borrow_idle_threads),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
