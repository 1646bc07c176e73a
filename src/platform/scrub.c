/* scrub.c: see scrub.h. */
#include "scrub.h"

#include <string.h>

static int path_end(char c) {
  return c == '\0' || c == ' ' || c == ':' || c == '\'' || c == '"' || c == ')' || c == ',' || c == ';' ||
         c == ']' || c == '\n' || c == '\t';
}

static int path_start(const char *msg, const char *p) {
  if (p[0] != '/' || p[1] == '/' || strncmp(p, "/v1/", 4) == 0 || strncmp(p, "/ui/", 4) == 0)
    return 0;
  if (p > msg && !strchr(" '\"(=[,:\t\n", p[-1]))
    return 0; /* inside a word: "viewer/editor" */
  if (p > msg + 1 && p[-1] == ':' && p[-2] == '/')
    return 0;
  size_t slashes = 0;
  for (size_t i = 0; !path_end(p[i]); i++)
    slashes += p[i] == '/';
  return slashes >= 2; /* "/x" alone is more likely a word than a place */
}

void co_scrub_paths(char *msg) {
  static const char *const roots[] = {"/blobs/", "/.staging/", "/s3-cache/"};
  char *p = msg;
  while (*p) {
    if (!path_start(msg, p)) {
      p++;
      continue;
    }
    size_t n = 0;
    while (!path_end(p[n]))
      n++;
    const char *keep = NULL;
    for (size_t i = 0; i < sizeof roots / sizeof *roots; i++) {
      for (const char *q = p; q + strlen(roots[i]) <= p + n; q++)
        if (strncmp(q, roots[i], strlen(roots[i])) == 0)
          keep = q + strlen(roots[i]); /* the last such folder wins */
    }
    char *e = p + n;
    while (e > p + 1 && e[-1] == '/') /* a folder: its own name */
      e--;
    if (!keep || keep >= e) {
      keep = e;
      while (keep > p && keep[-1] != '/')
        keep--;
    }
    size_t kept = (size_t)(e - keep);
    memmove(p, keep, kept);
    memmove(p + kept, p + n, strlen(p + n) + 1);
    p += kept ? kept : 1;
  }
}
