#include "api.h"
#include "names.h"

#include <stdlib.h>
#include <string.h>

int api_str(co_req *r, const char *field, int required, const char **out) {
  json_t *v = r->json ? json_object_get(r->json, field) : NULL;
  *out = NULL;
  if (!v || json_is_null(v)) {
    if (!required)
      return 0;
    co_reply_error(r, 400, "invalid", field, "%s: required", field);
    return -1;
  }
  if (!json_is_string(v)) {
    co_reply_error(r, 400, "invalid", field, "%s: must be a string", field);
    return -1;
  }
  *out = json_string_value(v);
  return 0;
}

int api_int(co_req *r, const char *field, int64_t dflt, int64_t lo, int64_t hi, int64_t *out) {
  json_t *v = r->json ? json_object_get(r->json, field) : NULL;
  *out = dflt;
  if (!v || json_is_null(v))
    return 0;
  if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
    co_reply_error(r, 400, "invalid", field, "%s: must be an integer from %lld to %lld", field, (long long)lo,
                   (long long)hi);
    return -1;
  }
  *out = (int64_t)json_integer_value(v);
  return 0;
}

int api_bool(co_req *r, const char *field, int dflt, int *out) {
  json_t *v = r->json ? json_object_get(r->json, field) : NULL;
  *out = dflt;
  if (!v || json_is_null(v))
    return 0;
  if (!json_is_boolean(v)) {
    co_reply_error(r, 400, "invalid", field, "%s: must be true or false", field);
    return -1;
  }
  *out = json_is_true(v);
  return 0;
}

int api_check_name(co_req *r, const char *field, const char **name) {
  const char *n = *name ? *name : "";
  if (co_name_clean(field, n, strlen(n), r->name, sizeof r->name) != COHORT_OK) {
    co_reply_error(r, 400, "invalid", field, "%s", cohort_errmsg());
    return -1;
  }
  *name = r->name;
  return 0;
}

void api_reply_upload_error(co_req *r, int status, const char *code, const char *prefix) {
  char msg[768];
  const char *m = cohort_errmsg(), *at = r->upload_path[0] ? strstr(m, r->upload_path) : NULL;
  if (at)
    snprintf(msg, sizeof msg, "%.*supload%s", (int)(at - m), m, at + strlen(r->upload_path));
  else
    snprintf(msg, sizeof msg, "%s", m);
  co_reply_error(r, status, code, "body", "%s%s", prefix, msg);
}

int api_query_int(co_req *r, const char *key, int64_t dflt, int64_t lo, int64_t hi, int64_t *out) {
  const char *v = co_query(r, key);
  *out = dflt;
  if (!v)
    return 0;
  char *end;
  long long x = strtoll(v, &end, 10);
  if (end == v || *end || x < lo || x > hi) {
    co_reply_error(r, 400, "invalid", key, "%s: must be an integer from %lld to %lld", key, (long long)lo,
                   (long long)hi);
    return -1;
  }
  *out = x;
  return 0;
}
