/* bus.h: messages between the platform's parts behind a versioned table of functions: in-process
 * today, NATS (with Redis offload of large payloads) next.
 *  - publish/subscribe on subjects, fire and forget: "jobs.queued" wakes workers,
 *    "jobs.<id>" tells job watchers (Server-Sent Events) that a job changed;
 *  - request/reply: "trainee.<id>.<verb>" calls reach whoever hosts that trainee.
 * The durable job queue itself is in the store; the bus only carries wake-ups and calls. */
#ifndef COHORT_BUS_H
#define COHORT_BUS_H

#include "cohort/cohort.h"

#include <stddef.h>

#define CO_BUS_VERSION 1

typedef struct co_bus co_bus;
typedef struct co_bus_sub co_bus_sub;

/* Called on the publisher's thread (in-process) or a bus thread: must not block. */
typedef void (*co_bus_msg_fn)(void *ctx, const char *subject, const char *data, size_t len);

/* Answers a request: fills *reply (co_malloc'd, owned by the bus afterwards) and *reply_len; a
 * non-OK status travels back to the requester with cohort_errmsg()'s text. */
typedef cohort_status (*co_bus_handler_fn)(void *ctx, const char *subject, const char *data, size_t len,
                                           char **reply, size_t *reply_len);

typedef struct co_bus_ops {
  int version; /* CO_BUS_VERSION */
  const char *name;
  void (*close)(co_bus *b);
  cohort_status (*publish)(co_bus *b, const char *subject, const char *data, size_t len);
  /* Subjects match exactly, or by prefix when the pattern ends in ".>" (NATS style). */
  cohort_status (*subscribe)(co_bus *b, const char *pattern, co_bus_msg_fn fn, void *ctx, co_bus_sub **out);
  void (*unsubscribe)(co_bus *b, co_bus_sub *sub);
  /* Registers the handler of requests whose subject matches pattern. */
  cohort_status (*serve)(co_bus *b, const char *pattern, co_bus_handler_fn fn, void *ctx);
  /* Sends a request and waits up to timeout_ms for the reply (co_malloc'd, caller frees).
   * ENOTFOUND when no one serves the subject; ELIMIT on timeout. */
  cohort_status (*request)(co_bus *b, const char *subject, const char *data, size_t len, int timeout_ms,
                           char **reply, size_t *reply_len);
} co_bus_ops;

struct co_bus {
  const co_bus_ops *ops;
};

cohort_status co_bus_local_open(co_bus **out);

/* Whether subject matches pattern (exact, or prefix for a trailing ".>"). */
int co_bus_match(const char *pattern, const char *subject);

#endif
