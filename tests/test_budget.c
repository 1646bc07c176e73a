/* test_budget.c: the memory budget shared by hosted trainees and work in progress (budget.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "budget.h"
#include "co_base.h"

#include <pthread.h>
#include <string.h>

#define OK(x) assert_int_equal((x), COHORT_OK)
#define MB (1 << 20)

/* A host with idle and pinned trainees: shrink evicts idle ones down to the target. */
typedef struct fake_host {
  int64_t idle, pinned;
  int calls;
} fake_host;

static int64_t shrink(void *ctx, int64_t target) {
  fake_host *h = ctx;
  h->calls++;
  int64_t over = h->idle + h->pinned - target;
  if (over > 0)
    h->idle = over >= h->idle ? 0 : h->idle - over;
  return h->idle + h->pinned;
}

static void test_reserve_release_and_limits(void **state) {
  (void)state;
  co_budget *b;
  OK(co_budget_create(100 * MB, &b));
  OK(co_budget_reserve(b, 60 * MB, "parsing a file"));
  assert_int_equal(co_budget_reserved(b), 60 * MB);
  /* Does not fit now: retry later (EUNAVAIL), with what holds the budget in the message. */
  assert_int_equal(co_budget_reserve(b, 50 * MB, "decoding a body"), COHORT_EUNAVAIL);
  assert_non_null(strstr(cohort_errmsg(), "decoding a body needs about 50 MB"));
  assert_non_null(strstr(cohort_errmsg(), "60 MB by work in progress"));
  /* Never fits: ELIMIT naming the setting. */
  assert_int_equal(co_budget_reserve(b, 101 * MB, "job j (train)"), COHORT_ELIMIT);
  assert_non_null(strstr(cohort_errmsg(), "memory_budget_mb = 100"));
  assert_int_equal(co_budget_refusals(b), 2);
  /* A waiting job's retries are not counted again, and one fits once there is room. */
  assert_int_equal(co_budget_retry(b, 50 * MB, "job j (train)"), COHORT_EUNAVAIL);
  assert_int_equal(co_budget_refusals(b), 2);
  co_budget_release(b, 60 * MB);
  OK(co_budget_retry(b, 50 * MB, "job j (train)"));
  OK(co_budget_reserve(b, 10 * MB, "parsing a file"));
  co_budget_release(b, 50 * MB);
  co_budget_release(b, 10 * MB);
  OK(co_budget_reserve(b, 100 * MB, "all of it"));
  co_budget_release(b, 100 * MB);
  OK(co_budget_reserve(b, 0, "nothing")); /* small work reserves nothing */
  assert_int_equal(co_budget_reserved(b), 0);
  co_budget_free(b);
}

static void test_idle_trainees_make_room_pinned_do_not(void **state) {
  (void)state;
  co_budget *b;
  fake_host h = {70 * MB, 20 * MB, 0};
  OK(co_budget_create(100 * MB, &b));
  co_budget_set_host(b, shrink, &h);
  OK(co_budget_reserve(b, 50 * MB, "parsing a file")); /* evicts 40 MB of idle trainees */
  assert_int_equal(h.idle, 30 * MB);
  assert_true(h.calls >= 1);
  /* 50 reserved + 20 pinned: 30 more fits only by evicting every idle trainee. */
  OK(co_budget_reserve(b, 30 * MB, "decoding a body"));
  assert_int_equal(h.idle, 0);
  assert_int_equal(co_budget_reserve(b, 1 * MB, "one more"), COHORT_EUNAVAIL);
  assert_non_null(strstr(cohort_errmsg(), "20 MB by trainees in use"));
  co_budget_release(b, 80 * MB);
  co_budget_free(b);
}

/* Many threads reserving and releasing: the reserved total never exceeds the budget and ends at 0. */
typedef struct racer {
  co_budget *b;
  int ok, busy;
  int64_t peak;
} racer;

static void *race(void *arg) {
  racer *r = arg;
  for (int i = 0; i < 2000; i++) {
    if (co_budget_reserve(r->b, 7 * MB, "racer") == COHORT_OK) {
      int64_t now = co_budget_reserved(r->b);
      if (now > r->peak)
        r->peak = now;
      r->ok++;
      co_budget_release(r->b, 7 * MB);
    } else
      r->busy++;
  }
  return NULL;
}

static void test_threads(void **state) {
  (void)state;
  co_budget *b;
  OK(co_budget_create(20 * MB, &b)); /* room for two reservations at once */
  racer r[6];
  pthread_t th[6];
  for (int i = 0; i < 6; i++) {
    r[i] = (racer){b, 0, 0, 0};
    assert_int_equal(pthread_create(&th[i], NULL, race, &r[i]), 0);
  }
  int ok = 0;
  for (int i = 0; i < 6; i++) {
    pthread_join(th[i], NULL);
    ok += r[i].ok;
    assert_true(r[i].peak <= 20 * MB);
  }
  assert_true(ok > 0);
  assert_int_equal(co_budget_reserved(b), 0);
  co_budget_free(b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reserve_release_and_limits),
      cmocka_unit_test(test_idle_trainees_make_room_pinned_do_not),
      cmocka_unit_test(test_threads),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
