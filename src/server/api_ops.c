/* api_ops.c: health, readiness, metrics, the OpenAPI document and the web UI's files. */
#include "api.h"
#include "co_base.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void api_healthz(co_req *r) {
  co_reply_json(r, 200, json_pack("{s:s}", "status", "ok"));
}

/* Ready when the store answers and the job threads run. */
void api_readyz(co_req *r) {
  char why[512];
  if (co_platform_unready(r->p, why, sizeof why)[0]) {
    co_reply_error(r, 503, "not_ready", NULL, "%s", why);
    return;
  }
  co_reply_json(r, 200, json_pack("{s:s}", "status", "ready"));
}

void api_metrics(co_req *r) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (!f) {
    co_reply_status(r, co_nomem(), NULL);
    return;
  }
  co_metrics_write(r->p, f);
  fclose(f);
  co_reply_bytes(r, 200, "text/plain; version=0.0.4; charset=utf-8", buf, len);
  free(buf);
}

void api_openapi(co_req *r) {
  co_reply_bytes(r, 200, "application/json", co_openapi_json, strlen(co_openapi_json));
}

static const char *content_type(const char *name) {
  const char *dot = strrchr(name, '.');
  static const char *const types[][2] = {{".html", "text/html; charset=utf-8"},
                                         {".js", "text/javascript; charset=utf-8"},
                                         {".css", "text/css; charset=utf-8"},
                                         {".svg", "image/svg+xml"},
                                         {".png", "image/png"}};
  for (size_t i = 0; dot && i < sizeof types / sizeof *types; i++)
    if (strcmp(dot, types[i][0]) == 0)
      return types[i][1];
  return "application/octet-stream";
}

/* ui_dir (development): a file directly in that folder, by a plain name; 0 if there is none. */
static int ui_from_dir(co_req *r, const char *name) {
  char path[2048];
  const char *dir = r->p->cfg.ui_dir;
  if (!dir[0] || strlen(name) > 128)
    return 0;
  for (const char *c = name; *c; c++)
    if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '.' ||
          *c == '_' || *c == '-') ||
        (c == name && *c == '.'))
      return 0;
  snprintf(path, sizeof path, "%s/%s", dir, name);
  if (access(path, R_OK) != 0)
    return 0;
  co_reply_file(r, path, content_type(name), NULL);
  return 1;
}

/* GET / and /ui/...: the single-page UI; unknown paths under /ui get index.html (client routing). */
void api_ui(co_req *r) {
  const char *path = r->path;
  if (strcmp(path, "/") == 0 || strncmp(path, "/ui", 3) == 0) {
    const char *sub = strcmp(path, "/") == 0 ? "/index.html" : path + 3;
    if (!*sub || strcmp(sub, "/") == 0)
      sub = "/index.html";
    co_reply_header(r, "Content-Security-Policy",
                    "default-src 'self'; img-src 'self' data:; style-src 'self'; frame-src 'self'; "
                    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'");
    co_reply_header(r, "X-Frame-Options", "DENY");
    if (ui_from_dir(r, sub + 1) || ui_from_dir(r, "index.html"))
      return;
    const co_asset *a = co_ui_asset(sub);
    if (!a)
      a = co_ui_asset("/index.html");
    if (a) {
      co_reply_bytes(r, 200, a->content_type, a->data, a->len);
      return;
    }
  }
  co_reply_error(r, 404, "not_found", NULL, "no such page");
}
