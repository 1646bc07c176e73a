/* bus.h: messages between the platform's parts behind a versioned table of functions: in-process
 * today, NATS (with Redis offload of large payloads) next.
 * Publish/subscribe on subjects, fire and forget: "jobs.queued" wakes workers, "jobs.<id>" tells
 * job watchers (Server-Sent Events) that a job changed. The durable job queue itself is in the
 * store; the bus only carries wake-ups. Request/reply for calls to the worker hosting a trainee
 * ("trainee.<id>.<verb>") joins this table with the cluster backends that need it. */
#ifndef COHORT_BUS_H
#define COHORT_BUS_H

#include "cohort/cohort.h"
#include "config.h"

#include <stddef.h>

#define CO_BUS_VERSION 1

typedef struct co_bus co_bus;
typedef struct co_bus_sub co_bus_sub;

/* Called on the publisher's thread (in-process) or a bus thread: must not block. */
typedef void (*co_bus_msg_fn)(void *ctx, const char *subject, const char *data, size_t len);

typedef struct co_bus_ops {
  int version; /* CO_BUS_VERSION */
  const char *name;
  void (*close)(co_bus *b);
  cohort_status (*publish)(co_bus *b, const char *subject, const char *data, size_t len);
  /* Subjects match exactly, or by prefix when the pattern ends in ".>" (NATS style). */
  cohort_status (*subscribe)(co_bus *b, const char *pattern, co_bus_msg_fn fn, void *ctx, co_bus_sub **out);
  void (*unsubscribe)(co_bus *b, co_bus_sub *sub);
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
