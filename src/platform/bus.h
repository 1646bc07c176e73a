/* bus.h: messages between the platform's parts behind a versioned table of functions: in-process
 * (local) or NATS (with Redis holding payloads larger than NATS carries).
 *  - publish/subscribe, fire and forget: "jobs.queued" wakes workers, "jobs.<id>" tells job
 *    watchers (Server-Sent Events) that a job changed;
 *  - request/reply (version 2): a call served by one member of a queue group, e.g.
 *    "trainee.<id>.<verb>" answered by one of the workers hosting that trainee;
 *  - a durable work queue (version 2, optional): job deliveries with acknowledgement and
 *    redelivery (JetStream);
 *  - a health check (version 3) for /readyz. The job's record stays in the store; a bus without a work queue
 *    leaves these members NULL and the job threads poll the store instead;
 *  - liveness of calls (version 5): a server beats a long call so that its requester can tell a slow
 *    call from a dead server. */
#ifndef COHORT_BUS_H
#define COHORT_BUS_H

#include "cohort/cohort.h"
#include "config.h"

#include <stddef.h>
#include <stdint.h>

#define CO_BUS_VERSION 5

/* A server beats each call it has held this long, and again as often, until it responds. */
#define CO_BUS_BEAT_MS 500

typedef struct co_bus co_bus;
typedef struct co_bus_sub co_bus_sub;

/* Called on the publisher's thread (in-process) or a bus thread: must not block. */
typedef void (*co_bus_msg_fn)(void *ctx, const char *subject, const char *data, size_t len);

/* A request being served. The server answers it exactly once with respond, from any thread and
 * possibly later (e.g. after queueing the work); respond frees it. */
typedef struct co_bus_req co_bus_req;
/* Called on a bus thread (or, locally, the requester's thread): must not block for long. data is
 * valid until respond. */
typedef void (*co_bus_serve_fn)(void *ctx, co_bus_req *req, const char *subject, const char *data,
                                size_t len);

/* One delivery of a work item from the durable queue. */
typedef struct co_bus_work co_bus_work;
typedef enum co_bus_outcome {
  CO_BUS_ACK = 0,   /* done: never delivered again */
  CO_BUS_RETRY = 1, /* deliver again (to anyone) soon */
  CO_BUS_DROP = 2   /* never deliver again although not done (it can never succeed) */
} co_bus_outcome;

typedef struct co_bus_ops {
  int version; /* CO_BUS_VERSION */
  const char *name;
  void (*close)(co_bus *b);
  cohort_status (*publish)(co_bus *b, const char *subject, const char *data, size_t len);
  /* Subjects match exactly, or by prefix when the pattern ends in ".>" (NATS style). */
  cohort_status (*subscribe)(co_bus *b, const char *pattern, co_bus_msg_fn fn, void *ctx, co_bus_sub **out);
  void (*unsubscribe)(co_bus *b, co_bus_sub *sub); /* also ends a serve */

  /* ---- version 2: request/reply */
  /* Sends data to one server of subject and waits up to timeout_ms for the answer: *reply is
   * co_malloc'd (the caller frees it). ENOTFOUND when nobody serves subject (no responders: the
   * caller may place the work and retry), EUNAVAIL when the bus is down or the wait timed out. */
  cohort_status (*request)(co_bus *b, const char *subject, const char *data, size_t len, int timeout_ms,
                           char **reply, size_t *reply_len);
  /* Serves subjects matching pattern as a member of queue group queue: each request goes to one
   * member. Ended by unsubscribe; a request in flight then still gets its respond. */
  cohort_status (*serve)(co_bus *b, const char *pattern, const char *queue, co_bus_serve_fn fn, void *ctx,
                         co_bus_sub **out);
  cohort_status (*respond)(co_bus *b, co_bus_req *req, const char *data, size_t len);

  /* ---- version 2: durable work queue (NULL in a bus that has none) */
  /* Adds item (e.g. a job id) to the queue; dedup_id makes a repeated publish (a retry, or the
   * reconciler re-publishing) a no-op within the server's de-duplication window. */
  cohort_status (*work_publish)(co_bus *b, const char *item, const char *dedup_id);
  /* Waits up to timeout_ms for a delivery (ENOTFOUND if none came). The item stays invisible to
   * others until done or until the ack wait passes without progress (then it is redelivered). */
  cohort_status (*work_pull)(co_bus *b, int timeout_ms, co_bus_work **out);
  const char *(*work_item)(co_bus_work *w);
  int (*work_delivery)(co_bus_work *w); /* 1 for the first delivery, 2 for the first redelivery, ... */
  /* Still working on it: restarts the ack wait. */
  cohort_status (*work_progress)(co_bus *b, co_bus_work *w);
  /* Ends the delivery with outcome and frees w (also when the call fails). */
  cohort_status (*work_done)(co_bus *b, co_bus_work *w, co_bus_outcome outcome);
  /* Items waiting and deliveries in flight, for /metrics and autoscaling. */
  cohort_status (*work_backlog)(co_bus *b, int64_t *pending, int64_t *in_flight);
  /* Version 3: whether the bus and what it depends on (Redis for large bodies) answer now;
   * EUNAVAIL with the reason when not. For /readyz: bounded by bus_timeout_ms. */
  cohort_status (*ping)(co_bus *b);
  /* Version 4: requests that arrived for req's subscription and wait behind it for the thread
   * that delivered req (0: none, or unknown). Called only from within the serve callback, it lets a
   * server answer on that thread when nothing would wait, and hand off to others when something would. */
  int (*waiting)(co_bus *b, co_bus_req *req);

  /* ---- version 5: liveness of calls */
  /* As request, but it also gives up after silence_ms without the reply or a beat (the server died
   * or lost its connection): EUNAVAIL with *silent set; the caller may send it again if running it
   * twice is harmless. Only for servers that beat their calls. */
  cohort_status (*request_live)(co_bus *b, const char *subject, const char *data, size_t len, int timeout_ms,
                                int silence_ms, char **reply, size_t *reply_len, int *silent);
  /* Tells req's requester that its call still runs: from any thread, never after respond. */
  cohort_status (*beat)(co_bus *b, co_bus_req *req);
} co_bus_ops;

struct co_bus {
  const co_bus_ops *ops;
};

/* A backend that opens buses from URLs of its scheme ("local", "nats://..."); see co_store_backend. */
typedef struct co_bus_backend {
  const char *scheme;
  cohort_status (*open)(const char *url, const co_config *cfg, co_bus **out);
} co_bus_backend;

/* Whether subject matches pattern (exact, or prefix for a trailing ".>"). */
int co_bus_match(const char *pattern, const char *subject);

#endif
