/* metrics.c: Prometheus text for /metrics. Request counts and latency histograms by route and
 * status live in fixed arrays indexed by route and status, updated with relaxed atomics (no lock
 * on the request path); gauges are read when scraped. */
#include "calls.h"
#include "histo.h"
#include "co_base.h"
#include "integrity.h"
#include "server.h"

#include <string.h>

enum { NSTATUS = 18 };

/* The statuses the server sends; anything else is counted as "other". */
static const int statuses[NSTATUS] = {200, 201, 202, 204, 400, 401, 403, 404, 405,
                                      409, 413, 414, 422, 499, 500, 503, 507, 0};

static co_histo *table; /* (nroutes + 1) * NSTATUS; the last route row is "unmatched" */
static size_t nrows;

void co_metrics_init(size_t nroutes) {
  if (table)
    return;
  nrows = nroutes + 1;
  table = co_calloc(nrows * NSTATUS, sizeof *table);
}

static int status_slot(int status) {
  for (int i = 0; i < NSTATUS - 1; i++)
    if (statuses[i] == status)
      return i;
  return NSTATUS - 1;
}

void co_metrics_request(int route_index, int status, double seconds) {
  if (!table)
    return;
  size_t row = route_index < 0 ? nrows - 1 : (size_t)route_index;
  co_histo_observe(&table[row * NSTATUS + (size_t)status_slot(status)], seconds);
}

/* route, method and status labels of table's slot (r, k). */
static void slot_labels(size_t r, int k, char *out, size_t cap) {
  char st[8];
  if (statuses[k])
    snprintf(st, sizeof st, "%d", statuses[k]);
  else
    snprintf(st, sizeof st, "other");
  snprintf(out, cap, "route=\"%s\",method=\"%s\",status=\"%s\"",
           r < nrows - 1 ? co_routes[r].pattern : "unmatched", r < nrows - 1 ? co_routes[r].method : "", st);
}

static long rss_bytes(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  long pages = 0, rss = 0;
  if (!f)
    return 0;
  if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
    rss = 0;
  fclose(f);
  return rss * 4096;
}

void co_metrics_write(co_platform *p, FILE *f) {
  fprintf(f, "# HELP cohort_http_requests_total HTTP requests by route, method and status.\n"
             "# TYPE cohort_http_requests_total counter\n");
  char labels[256];
  for (size_t r = 0; table && r < nrows; r++)
    for (int k = 0; k < NSTATUS; k++) {
      uint64_t n = co_histo_count(&table[r * NSTATUS + (size_t)k]);
      if (!n)
        continue;
      slot_labels(r, k, labels, sizeof labels);
      fprintf(f, "cohort_http_requests_total{%s} %llu\n", labels, (unsigned long long)n);
    }
  fprintf(f, "# HELP cohort_http_request_duration_seconds Time from request headers to the reply, by route "
             "and status.\n"
             "# TYPE cohort_http_request_duration_seconds histogram\n");
  for (size_t r = 0; table && r < nrows; r++)
    for (int k = 0; k < NSTATUS; k++) {
      co_histo *h = &table[r * NSTATUS + (size_t)k];
      if (!co_histo_count(h))
        continue;
      slot_labels(r, k, labels, sizeof labels);
      co_histo_write(h, f, "cohort_http_request_duration_seconds", labels);
    }
  int64_t counts[5] = {0};
  if (p->store->ops->job_counts(p->store, counts) == COHORT_OK) {
    fprintf(f, "# HELP cohort_jobs Jobs by state.\n# TYPE cohort_jobs gauge\n");
    for (int i = 0; i < 5; i++)
      fprintf(f, "cohort_jobs{state=\"%s\"} %lld\n", co_job_state_name((co_job_state)i),
              (long long)counts[i]);
  }
  /* What an autoscaler scales the worker pool on: the work queue's backlog (KEDA's nats-jetstream
   * trigger reads the same numbers from the NATS monitoring port), jobs running, trainees served. */
  int64_t pending, in_flight;
  if (p->bus->ops->work_backlog && p->bus->ops->work_backlog(p->bus, &pending, &in_flight) == COHORT_OK)
    fprintf(f,
            "# HELP cohort_work_pending Job deliveries waiting in the work queue.\n# TYPE "
            "cohort_work_pending gauge\n"
            "cohort_work_pending %lld\n"
            "# HELP cohort_work_in_flight Job deliveries taken by a worker and not yet acknowledged.\n"
            "# TYPE cohort_work_in_flight gauge\ncohort_work_in_flight %lld\n",
            (long long)pending, (long long)in_flight);
  fprintf(f,
          "# HELP cohort_trainees_serving Trainees whose calls this process answers for other processes.\n"
          "# TYPE cohort_trainees_serving gauge\ncohort_trainees_serving %lld\n"
          "# HELP cohort_role_info The process's role and instance name.\n# TYPE cohort_role_info gauge\n"
          "cohort_role_info{role=\"%s\",instance=\"%s\"} 1\n",
          (long long)co_calls_serving(p->calls), p->cfg.role, p->instance);
  co_histo *calls = co_calls_latency(p->calls);
  if (calls) {
    fprintf(
        f,
        "# HELP cohort_trainee_calls_in_progress Trainee calls from other processes being answered or "
        "waiting for a compute thread here.\n# TYPE cohort_trainee_calls_in_progress gauge\n"
        "cohort_trainee_calls_in_progress %lld\n"
        "# HELP cohort_trainee_calls_inline_total Trainee calls answered on the bus's delivery thread "
        "(small, "
        "nothing else in flight), not handed to the compute pool.\n# TYPE cohort_trainee_calls_inline_total "
        "counter\ncohort_trainee_calls_inline_total %lld\n"
        "# HELP cohort_trainee_peer_requests_total Times a hot trainee here asked another worker to host it "
        "too.\n# TYPE cohort_trainee_peer_requests_total counter\ncohort_trainee_peer_requests_total %lld\n"
        "# HELP cohort_trainee_call_duration_seconds Trainee calls answered here for other processes, from "
        "arrival (waiting for a compute thread included) to the reply.\n"
        "# TYPE cohort_trainee_call_duration_seconds histogram\n",
        (long long)co_calls_in_progress(p->calls), (long long)co_calls_answered_inline(p->calls),
        (long long)co_calls_peer_requests(p->calls));
    co_histo_write(calls, f, "cohort_trainee_call_duration_seconds", "");
  }
  fprintf(f,
          "# HELP cohort_corrupt_objects_total Stored objects (datasets, trainee versions, reports) this "
          "process found "
          "corrupt: a checksum or size that differs from the record.\n"
          "# TYPE cohort_corrupt_objects_total counter\ncohort_corrupt_objects_total %lld\n",
          (long long)co_corrupt_found_total());
  if (p->reserve_path[0])
    fprintf(f,
            "# HELP cohort_disk_reserve_held Whether the disk reserve beside the database is set aside (0 "
            "after a "
            "delete on a full disk used it, until there is room again).\n"
            "# TYPE cohort_disk_reserve_held gauge\ncohort_disk_reserve_held %d\n",
            co_reserve_held(p));
  size_t busy, queued;
  co_pool_stats(p->pool, &busy, &queued);
  fprintf(f,
          "# HELP cohort_compute_threads Threads of the compute pool (queries and the parallel parts of "
          "jobs).\n# TYPE cohort_compute_threads gauge\ncohort_compute_threads %zu\n"
          "# HELP cohort_compute_busy Compute threads running a query or lent to a job.\n"
          "# TYPE cohort_compute_busy gauge\ncohort_compute_busy %zu\n"
          "# HELP cohort_compute_queued Queries waiting for a compute thread.\n"
          "# TYPE cohort_compute_queued gauge\ncohort_compute_queued %zu\n",
          co_pool_threads(p->pool), busy, queued);
  int64_t loaded, bytes, loads, evictions;
  co_host_stats(p->host, &loaded, &bytes, &loads, &evictions);
  fprintf(
      f,
      "# HELP cohort_trainees_loaded Trainees held in memory.\n# TYPE cohort_trainees_loaded gauge\n"
      "cohort_trainees_loaded %lld\n"
      "# HELP cohort_trainees_bytes Estimated memory of the trainees held.\n# TYPE cohort_trainees_bytes "
      "gauge\n"
      "cohort_trainees_bytes %lld\n"
      "# HELP cohort_trainee_loads_total Trainee loads from storage.\n# TYPE cohort_trainee_loads_total "
      "counter\n"
      "cohort_trainee_loads_total %lld\n"
      "# HELP cohort_trainee_evictions_total Idle trainees evicted for the memory budget.\n"
      "# TYPE cohort_trainee_evictions_total counter\ncohort_trainee_evictions_total %lld\n"
      "# HELP cohort_memory_budget_bytes Memory budget (memory_budget_mb) for hosted trainees and heavy "
      "work.\n# TYPE cohort_memory_budget_bytes gauge\n"
      "cohort_memory_budget_bytes %lld\n"
      "# HELP cohort_memory_reserved_bytes Memory reserved by work in progress (parsing uploads, decoding "
      "large bodies, jobs).\n# TYPE cohort_memory_reserved_bytes gauge\ncohort_memory_reserved_bytes %lld\n"
      "# HELP cohort_memory_refusals_total Work refused or made to wait because the memory budget was "
      "taken (a job that waits counts once).\n# TYPE cohort_memory_refusals_total "
      "counter\ncohort_memory_refusals_total %lld\n"
      "# HELP process_resident_memory_bytes Resident memory of the process.\n"
      "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes %ld\n"
      "# HELP process_start_time_seconds Start time of the process.\n# TYPE process_start_time_seconds "
      "gauge\n"
      "process_start_time_seconds %lld\n",
      (long long)loaded, (long long)bytes, (long long)loads, (long long)evictions,
      (long long)(p->cfg.memory_budget_mb << 20), (long long)co_budget_reserved(p->budget),
      (long long)co_budget_refusals(p->budget), rss_bytes(), (long long)(p->started_ms / 1000));
}
