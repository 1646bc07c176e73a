/* The OpenAPI document (docs/openapi.json, compiled into the binary and served at
 * /v1/openapi.json) against the route table (src/server/routes.c): the same method+path pairs
 * both ways, one documented operation per route with a unique operationId, the route's summary
 * and responses, every path parameter declared, every $ref resolving, the security each route's
 * scope implies (public routes open, the others bearer token or session cookie with the CSRF
 * header on changes), the role each route needs, and the bodies of uploads and the event stream. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four above first. */
#include <cmocka.h>

#include "server.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---------------------------------------------------------------- helpers */

static const char *const http_methods[] = {"get",     "put",  "post",  "delete",
                                           "options", "head", "patch", "trace"};

static int is_http_method(const char *key) {
  for (size_t i = 0; i < sizeof http_methods / sizeof *http_methods; i++)
    if (strcmp(key, http_methods[i]) == 0)
      return 1;
  return 0;
}

static void lower(const char *in, char *out, size_t cap) {
  size_t i = 0;
  for (; in[i] && i + 1 < cap; i++)
    out[i] = (char)tolower((unsigned char)in[i]);
  out[i] = '\0';
}

static int load_doc(void **state) {
  json_error_t err;
  json_t *doc = json_loads(co_openapi_json, JSON_REJECT_DUPLICATES, &err);
  if (!doc) {
    print_error("docs/openapi.json: %s at line %d, column %d\n", err.text, err.line, err.column);
    return -1;
  }
  *state = doc;
  return 0;
}

static int free_doc(void **state) {
  json_decref(*state);
  return 0;
}

/* The operation object for a route, or NULL. */
static json_t *operation(json_t *doc, const co_route *rt) {
  char m[16];
  lower(rt->method, m, sizeof m);
  return json_object_get(json_object_get(json_object_get(doc, "paths"), rt->pattern), m);
}

/* A JSON pointer in a local reference ("#/components/schemas/Job"), or NULL. */
static json_t *resolve_ref(json_t *doc, const char *ref) {
  if (strncmp(ref, "#/", 2) != 0)
    return NULL;
  json_t *cur = doc;
  const char *p = ref + 2;
  while (cur && *p) {
    char token[256];
    size_t n = 0;
    for (; *p && *p != '/'; p++) {
      char c = *p;
      if (c == '~') {
        if (p[1] == '0')
          c = '~';
        else if (p[1] == '1')
          c = '/';
        else
          return NULL;
        p++;
      }
      if (n + 1 >= sizeof token)
        return NULL;
      token[n++] = c;
    }
    token[n] = '\0';
    if (*p == '/')
      p++;
    if (json_is_object(cur)) {
      cur = json_object_get(cur, token);
    } else if (json_is_array(cur)) {
      char *end;
      unsigned long i = strtoul(token, &end, 10);
      cur = (*end || !n) ? NULL : json_array_get(cur, i);
    } else {
      cur = NULL;
    }
  }
  return cur;
}

/* o itself, or what its "$ref" points to. */
static json_t *deref(json_t *doc, json_t *o) {
  json_t *ref = json_object_get(o, "$ref");
  return json_is_string(ref) ? resolve_ref(doc, json_string_value(ref)) : o;
}

/* Whether parameters (an array, may be NULL) declare name as a required path parameter. */
static int declares_path_param(json_t *doc, json_t *parameters, const char *name) {
  size_t i;
  json_t *p;
  json_array_foreach(parameters, i, p) {
    p = deref(doc, p);
    const char *in = json_string_value(json_object_get(p, "in"));
    const char *pn = json_string_value(json_object_get(p, "name"));
    if (in && pn && strcmp(in, "path") == 0 && strcmp(pn, name) == 0 &&
        json_is_true(json_object_get(p, "required")))
      return 1;
  }
  return 0;
}

/* Whether pattern has a {name} segment. */
static int pattern_has_param(const char *pattern, const char *name) {
  size_t n = strlen(name);
  for (const char *p = strchr(pattern, '{'); p; p = strchr(p + 1, '{'))
    if (strncmp(p + 1, name, n) == 0 && p[1 + n] == '}')
      return 1;
  return 0;
}

/* ---------------------------------------------------------------- (a) the document */

static void test_header(void **state) {
  json_t *doc = *state;
  const char *version = json_string_value(json_object_get(doc, "openapi"));
  json_t *info = json_object_get(doc, "info");
  const char *title = json_string_value(json_object_get(info, "title"));
  const char *iv = json_string_value(json_object_get(info, "version"));
  assert_non_null(version);
  assert_true(strncmp(version, "3.", 2) == 0);
  assert_non_null(title);
  assert_true(title[0] != '\0');
  assert_non_null(iv);
  assert_true(iv[0] != '\0');
  assert_true(json_is_object(json_object_get(doc, "paths")));
  assert_true(json_is_object(json_object_get(json_object_get(doc, "components"), "schemas")));
}

/* ---------------------------------------------------------------- (b) routes <-> paths */

static void test_routes_match_paths(void **state) {
  json_t *doc = *state, *paths = json_object_get(doc, "paths");
  int bad = 0;
  for (size_t i = 0; i < co_nroutes; i++) {
    const co_route *rt = &co_routes[i];
    if (!json_is_object(operation(doc, rt))) {
      print_error("route %s %s is not in docs/openapi.json\n", rt->method, rt->pattern);
      bad++;
    }
  }
  const char *path;
  json_t *item;
  json_object_foreach(paths, path, item) {
    const char *key;
    json_t *v;
    int ops = 0;
    json_object_foreach(item, key, v) {
      if (!is_http_method(key))
        continue;
      ops++;
      int found = 0;
      for (size_t i = 0; i < co_nroutes && !found; i++) {
        char m[16];
        lower(co_routes[i].method, m, sizeof m);
        found = strcmp(m, key) == 0 && strcmp(co_routes[i].pattern, path) == 0;
      }
      if (!found) {
        print_error("docs/openapi.json documents %s %s, which is not a route\n", key, path);
        bad++;
      }
    }
    if (!ops) {
      print_error("docs/openapi.json: path %s has no operations\n", path);
      bad++;
    }
  }
  assert_int_equal(bad, 0);
}

/* ---------------------------------------------------------------- (c) operations */

static void test_operations(void **state) {
  json_t *doc = *state, *ids = json_object(), *tags = json_object();
  int bad = 0;
  size_t k;
  json_t *t;
  json_array_foreach(json_object_get(doc, "tags"), k, t) {
    const char *name = json_string_value(json_object_get(t, "name"));
    if (name)
      json_object_set_new(tags, name, json_true());
  }
  for (size_t i = 0; i < co_nroutes; i++) {
    const co_route *rt = &co_routes[i];
    json_t *op = operation(doc, rt);
    if (!op)
      continue; /* reported by test_routes_match_paths */
    const char *id = json_string_value(json_object_get(op, "operationId"));
    const char *summary = json_string_value(json_object_get(op, "summary"));
    json_t *responses = json_object_get(op, "responses"), *optags = json_object_get(op, "tags");
    if (!id || !id[0]) {
      print_error("%s %s: no operationId\n", rt->method, rt->pattern);
      bad++;
    } else if (json_object_get(ids, id)) {
      print_error("%s %s: operationId '%s' is also %s\n", rt->method, rt->pattern, id,
                  json_string_value(json_object_get(ids, id)));
      bad++;
    } else {
      char where[256];
      snprintf(where, sizeof where, "%s %s", rt->method, rt->pattern);
      json_object_set_new(ids, id, json_string(where));
    }
    if (!summary || !summary[0]) {
      print_error("%s %s: no summary\n", rt->method, rt->pattern);
      bad++;
    } else if (strcmp(summary, rt->summary) != 0) {
      print_error("%s %s: summary '%s' differs from the route table's '%s'\n", rt->method, rt->pattern,
                  summary, rt->summary);
      bad++;
    }
    if (!json_is_object(responses) || json_object_size(responses) == 0) {
      print_error("%s %s: no responses\n", rt->method, rt->pattern);
      bad++;
    } else {
      const char *code;
      json_t *resp;
      int success = 0;
      json_object_foreach(responses, code, resp) {
        int ok = strcmp(code, "default") == 0 ||
                 (strlen(code) == 3 && code[0] >= '1' && code[0] <= '5' && isdigit((unsigned char)code[1]) &&
                  isdigit((unsigned char)code[2]));
        json_t *r = deref(doc, resp);
        if (!ok || !json_is_string(json_object_get(r, "description"))) {
          print_error("%s %s: response '%s' is not a status code with a description\n", rt->method,
                      rt->pattern, code);
          bad++;
        }
        success |= code[0] == '2';
      }
      if (!success) {
        print_error("%s %s: no 2xx response\n", rt->method, rt->pattern);
        bad++;
      }
      if (rt->scope != CO_SCOPE_PUBLIC && !json_object_get(responses, "401")) {
        print_error("%s %s: needs sign-in but documents no 401\n", rt->method, rt->pattern);
        bad++;
      }
    }
    if (!json_is_array(optags) || json_array_size(optags) == 0) {
      print_error("%s %s: no tags\n", rt->method, rt->pattern);
      bad++;
    }
    json_array_foreach(optags, k, t) {
      if (!json_is_string(t) || !json_object_get(tags, json_string_value(t))) {
        print_error("%s %s: tag '%s' is not declared in the document's tags\n", rt->method, rt->pattern,
                    json_is_string(t) ? json_string_value(t) : "?");
        bad++;
      }
    }
  }
  json_decref(ids);
  json_decref(tags);
  assert_int_equal(bad, 0);
}

/* ---------------------------------------------------------------- (d) path parameters */

static void test_path_params(void **state) {
  json_t *doc = *state;
  int bad = 0;
  for (size_t i = 0; i < co_nroutes; i++) {
    const co_route *rt = &co_routes[i];
    json_t *op = operation(doc, rt);
    if (!op)
      continue;
    json_t *item = json_object_get(json_object_get(doc, "paths"), rt->pattern);
    json_t *levels[2] = {json_object_get(item, "parameters"), json_object_get(op, "parameters")};
    /* Every {name} of the pattern is declared ... */
    for (const char *p = strchr(rt->pattern, '{'); p; p = strchr(p + 1, '{')) {
      const char *e = strchr(p, '}');
      char name[64];
      if (!e || (size_t)(e - p - 1) >= sizeof name)
        fail_msg("route %s: bad pattern", rt->pattern);
      memcpy(name, p + 1, (size_t)(e - p - 1));
      name[e - p - 1] = '\0';
      if (!declares_path_param(doc, levels[0], name) && !declares_path_param(doc, levels[1], name)) {
        print_error("%s %s: path parameter '%s' is not declared (in: path, required: true)\n", rt->method,
                    rt->pattern, name);
        bad++;
      }
    }
    /* ... and nothing else is declared as a path parameter. */
    for (int l = 0; l < 2; l++) {
      size_t k;
      json_t *prm;
      json_array_foreach(levels[l], k, prm) {
        prm = deref(doc, prm);
        const char *in = json_string_value(json_object_get(prm, "in"));
        const char *name = json_string_value(json_object_get(prm, "name"));
        if (!in || !name) {
          print_error("%s %s: a parameter without 'in' or 'name'\n", rt->method, rt->pattern);
          bad++;
        } else if (strcmp(in, "path") == 0 && !pattern_has_param(rt->pattern, name)) {
          print_error("%s %s: declares path parameter '%s' that the pattern lacks\n", rt->method, rt->pattern,
                      name);
          bad++;
        }
      }
    }
  }
  assert_int_equal(bad, 0);
}

/* ---------------------------------------------------------------- (e) references */

static int check_refs(json_t *doc, json_t *node, int depth) {
  int bad = 0;
  if (depth > 64)
    return 1;
  if (json_is_object(node)) {
    const char *key;
    json_t *v;
    json_object_foreach(node, key, v) {
      if (strcmp(key, "$ref") == 0 && json_is_string(v)) {
        const char *ref = json_string_value(v);
        if (strncmp(ref, "#/components/", 13) != 0 || !json_is_object(resolve_ref(doc, ref))) {
          print_error("$ref '%s' does not resolve to a components entry\n", ref);
          bad++;
        }
      } else {
        bad += check_refs(doc, v, depth + 1);
      }
    }
  } else if (json_is_array(node)) {
    size_t i;
    json_t *v;
    json_array_foreach(node, i, v) bad += check_refs(doc, v, depth + 1);
  }
  return bad;
}

static void test_refs_resolve(void **state) {
  json_t *doc = *state;
  assert_int_equal(check_refs(doc, doc, 0), 0);
  /* The resolver itself: a good pointer, a missing one, a non-local one. */
  assert_non_null(resolve_ref(doc, "#/components/schemas"));
  assert_null(resolve_ref(doc, "#/components/schemas/NoSuchSchema"));
  assert_null(resolve_ref(doc, "other.json#/components/schemas/Error"));
}

/* ---------------------------------------------------------------- (f) security */

/* 0 when sec is a non-empty array of non-empty requirements naming declared schemes; a session
 * cookie on a request other than GET must come with the CSRF header. */
static int check_requirements(json_t *doc, const co_route *rt, json_t *sec, const char *where) {
  json_t *schemes = json_object_get(json_object_get(doc, "components"), "securitySchemes");
  int bad = 0, changes = strcmp(rt->method, "GET") != 0 && strcmp(rt->method, "HEAD") != 0;
  size_t i;
  json_t *req;
  if (!json_is_array(sec) || json_array_size(sec) == 0) {
    print_error("%s %s: %s security is empty: the route needs sign-in\n", rt->method, rt->pattern, where);
    return 1;
  }
  json_array_foreach(sec, i, req) {
    const char *name;
    json_t *v;
    int cookie = 0, csrf = 0;
    if (!json_is_object(req) || json_object_size(req) == 0) {
      print_error("%s %s: %s security has an empty requirement (sign-in optional)\n", rt->method, rt->pattern,
                  where);
      bad++;
      continue;
    }
    json_object_foreach(req, name, v) {
      json_t *s = json_object_get(schemes, name);
      const char *type = json_string_value(json_object_get(s, "type"));
      const char *in = json_string_value(json_object_get(s, "in"));
      const char *hname = json_string_value(json_object_get(s, "name"));
      if (!s) {
        print_error("%s %s: security scheme '%s' is not declared\n", rt->method, rt->pattern, name);
        bad++;
        continue;
      }
      if (type && in && strcmp(type, "apiKey") == 0 && strcmp(in, "cookie") == 0)
        cookie = 1;
      if (type && in && hname && strcmp(type, "apiKey") == 0 && strcmp(in, "header") == 0 &&
          strcasecmp(hname, "X-CSRF-Token") == 0)
        csrf = 1;
    }
    if (changes && cookie && !csrf) {
      print_error("%s %s: the session cookie is accepted without the X-CSRF-Token header\n", rt->method,
                  rt->pattern);
      bad++;
    }
  }
  return bad;
}

static void test_security(void **state) {
  json_t *doc = *state, *root = json_object_get(doc, "security");
  json_t *schemes = json_object_get(json_object_get(doc, "components"), "securitySchemes");
  int bad = 0;
  /* Both ways of signing in are declared. */
  json_t *bearer = json_object_get(schemes, "bearerAuth"),
         *cookie = json_object_get(schemes, "sessionCookie");
  assert_string_equal(json_string_value(json_object_get(bearer, "scheme")), "bearer");
  assert_string_equal(json_string_value(json_object_get(cookie, "in")), "cookie");
  assert_string_equal(json_string_value(json_object_get(cookie, "name")), "cohort_session");
  for (size_t i = 0; i < co_nroutes; i++) {
    const co_route *rt = &co_routes[i];
    json_t *op = operation(doc, rt);
    if (!op)
      continue;
    json_t *sec = json_object_get(op, "security");
    if (rt->scope == CO_SCOPE_PUBLIC) {
      if (!json_is_array(sec) || json_array_size(sec) != 0) {
        print_error("%s %s: public route without 'security: []'\n", rt->method, rt->pattern);
        bad++;
      }
      continue;
    }
    bad +=
        sec ? check_requirements(doc, rt, sec, "its") : check_requirements(doc, rt, root, "the document's");
  }
  assert_int_equal(bad, 0);
}

/* ---------------------------------------------------------------- access, bodies, streams */

static const char *scope_name(co_scope s) {
  switch (s) {
  case CO_SCOPE_PUBLIC:
    return "public";
  case CO_SCOPE_USER:
    return "user";
  case CO_SCOPE_ADMIN:
    return "admin";
  case CO_SCOPE_WORKSPACE:
  case CO_SCOPE_PATH_WS:
    return "workspace";
  case CO_SCOPE_DATASET:
    return "dataset";
  case CO_SCOPE_TRAINEE:
    return "trainee";
  case CO_SCOPE_JOB:
    return "job";
  case CO_SCOPE_REPORT:
    return "report";
  }
  return "?";
}

/* x-cohort-access {"scope", "role"} says who may call each signed-in route, as the table does. */
static void test_access(void **state) {
  json_t *doc = *state;
  int bad = 0;
  for (size_t i = 0; i < co_nroutes; i++) {
    const co_route *rt = &co_routes[i];
    json_t *op = operation(doc, rt);
    if (!op)
      continue;
    json_t *acc = json_object_get(op, "x-cohort-access");
    if (rt->scope == CO_SCOPE_PUBLIC) {
      if (acc) {
        print_error("%s %s: public route with x-cohort-access\n", rt->method, rt->pattern);
        bad++;
      }
      continue;
    }
    const char *scope = json_string_value(json_object_get(acc, "scope"));
    const char *role = json_string_value(json_object_get(acc, "role"));
    const char *want = rt->scope == CO_SCOPE_ADMIN  ? "admin"
                       : rt->scope == CO_SCOPE_USER ? NULL
                                                    : co_role_name(rt->min_role);
    if (!scope || strcmp(scope, scope_name(rt->scope)) != 0) {
      print_error("%s %s: x-cohort-access.scope is '%s', the table says '%s'\n", rt->method, rt->pattern,
                  scope ? scope : "(none)", scope_name(rt->scope));
      bad++;
    }
    if ((want == NULL) != (role == NULL) || (want && strcmp(want, role) != 0)) {
      print_error("%s %s: x-cohort-access.role is '%s', the table says '%s'\n", rt->method, rt->pattern,
                  role ? role : "(none)", want ? want : "(none)");
      bad++;
    }
  }
  assert_int_equal(bad, 0);
}

/* Uploads take the raw file, not JSON; other bodies are JSON; GET and DELETE read none; the job
 * events are a text/event-stream. */
static void test_bodies_and_streams(void **state) {
  json_t *doc = *state;
  int bad = 0;
  for (size_t i = 0; i < co_nroutes; i++) {
    const co_route *rt = &co_routes[i];
    json_t *op = operation(doc, rt);
    if (!op)
      continue;
    json_t *body = deref(doc, json_object_get(op, "requestBody"));
    json_t *content = json_object_get(body, "content");
    int no_body = strcmp(rt->method, "GET") == 0 || strcmp(rt->method, "DELETE") == 0;
    if (rt->flags & (CO_RT_UPLOAD | CO_RT_RAW)) {
      if (!json_is_object(content) || json_object_size(content) == 0 ||
          json_object_get(content, "application/json")) {
        print_error("%s %s: an upload whose requestBody is missing or JSON\n", rt->method, rt->pattern);
        bad++;
      }
    } else if (no_body && body) {
      print_error("%s %s: documents a requestBody the route does not read\n", rt->method, rt->pattern);
      bad++;
    } else if (content) {
      const char *type;
      json_t *v;
      json_object_foreach(content, type, v) {
        if (strcmp(type, "application/json") != 0) {
          print_error("%s %s: JSON route with a '%s' requestBody\n", rt->method, rt->pattern, type);
          bad++;
        }
      }
    }
  }
  json_t *events =
      json_object_get(json_object_get(json_object_get(doc, "paths"), "/v1/jobs/{id}/events"), "get");
  json_t *ok = deref(doc, json_object_get(json_object_get(events, "responses"), "200"));
  assert_non_null(json_object_get(json_object_get(ok, "content"), "text/event-stream"));
  assert_int_equal(bad, 0);
}

/* ---------------------------------------------------------------- (g) storage faults (issue 12)
 * Every route that writes documents 507 storage_full (a full disk answers it, not 500), and every
 * route that reads a stored object documents 500 corrupt_object; the error codes list both. */
static void test_storage_faults(void **state) {
  json_t *doc = *state;
  int bad = 0;
  static const char *const reads[] = {"/v1/datasets/{id}/download",  "/v1/datasets/{id}/preview",
                                      "/v1/trainees/{id}/export",    "/v1/trainees/{id}/predict",
                                      "/v1/trainees/{id}/anomalies", "/v1/trainees/{id}/impute-rows",
                                      "/v1/trainees/{id}/importance"};
  for (size_t i = 0; i < co_nroutes; i++) {
    const co_route *rt = &co_routes[i];
    json_t *responses = json_object_get(operation(doc, rt), "responses");
    if (!responses)
      continue; /* reported by test_routes_match_paths */
    int writes = strcmp(rt->method, "GET") != 0 && strcmp(rt->method, "HEAD") != 0 &&
                 strcmp(rt->pattern, "/v1/auth/logout") != 0;
    json_t *full = deref(doc, json_object_get(responses, "507"));
    if (writes &&
        (!full || !strstr(json_string_value(json_object_get(full, "description")), "storage_full"))) {
      print_error("%s %s: writes but documents no 507 storage_full\n", rt->method, rt->pattern);
      bad++;
    }
    for (size_t k = 0; k < sizeof reads / sizeof *reads; k++) {
      json_t *corrupt = deref(doc, json_object_get(responses, "500"));
      if (strcmp(rt->pattern, reads[k]) == 0 &&
          (!corrupt ||
           !strstr(json_string_value(json_object_get(corrupt, "description")), "corrupt_object"))) {
        print_error("%s %s: reads a stored object but documents no 500 corrupt_object\n", rt->method,
                    rt->pattern);
        bad++;
      }
    }
  }
  json_t *code = json_object_get(
      json_object_get(
          json_object_get(
              json_object_get(json_object_get(json_object_get(doc, "components"), "schemas"), "Error"),
              "properties"),
          "error"),
      "properties");
  const char *codes = json_string_value(json_object_get(json_object_get(code, "code"), "description"));
  assert_non_null(codes);
  assert_non_null(strstr(codes, "corrupt_object"));
  assert_non_null(strstr(codes, "storage_full"));
  assert_int_equal(bad, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_header),         cmocka_unit_test(test_routes_match_paths),
      cmocka_unit_test(test_operations),     cmocka_unit_test(test_path_params),
      cmocka_unit_test(test_refs_resolve),   cmocka_unit_test(test_security),
      cmocka_unit_test(test_access),         cmocka_unit_test(test_bodies_and_streams),
      cmocka_unit_test(test_storage_faults),
  };
  return cmocka_run_group_tests(tests, load_doc, free_doc);
}
