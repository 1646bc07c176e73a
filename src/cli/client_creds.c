/* Who calls which server: the saved login (credentials.json), and the server and token a verb
 * uses (see client.h for the order of precedence). Secrets are wiped before they are freed. */
#include "client.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---------------------------------------------------------------- secrets */

void cli_free_secret(char *s) {
  if (s) {
    explicit_bzero(s, strlen(s));
    free(s);
  }
}

/* ---------------------------------------------------------------- saved login */

int cli_creds_path(char *buf, size_t cap) {
  const char *d = getenv("COHORT_CONFIG_DIR");
  int n;
  if (d && *d) {
    n = snprintf(buf, cap, "%s/credentials.json", d);
  } else if ((d = getenv("XDG_CONFIG_HOME")) && d[0] == '/') {
    n = snprintf(buf, cap, "%s/cohort/credentials.json", d);
  } else {
    d = getenv("HOME");
    if (!d || !*d) {
      struct passwd *pw = getpwuid(getuid());
      d = pw ? pw->pw_dir : NULL;
    }
    if (!d || !*d)
      return -1;
    n = snprintf(buf, cap, "%s/.config/cohort/credentials.json", d);
  }
  return n > 0 && (size_t)n < cap ? 0 : -1;
}

json_t *cli_creds_load(char *err, size_t cap) {
  char path[4096], *text = NULL;
  json_t *j = NULL;
  err[0] = '\0';
  if (cli_creds_path(path, sizeof path) != 0)
    return NULL;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno != ENOENT)
      snprintf(err, cap, "cannot read %s: %s", path, strerror(errno));
    return NULL;
  }
  struct stat sb;
  if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size > 65536) {
    snprintf(err, cap, "%s: not a credentials file", path);
    goto out;
  }
  size_t len = (size_t)sb.st_size, got = 0;
  if (!(text = malloc(len + 1))) {
    snprintf(err, cap, "out of memory");
    goto out;
  }
  while (got < len) {
    ssize_t r = read(fd, text + got, len - got);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      break;
    got += (size_t)r;
  }
  json_error_t je;
  j = json_loadb(text, got, 0, &je);
  if (!j || !json_is_object(j)) {
    snprintf(err, cap, "%s: not valid JSON (%s); run 'cohort login' again", path,
             j ? "not an object" : je.text);
    json_decref(j);
    j = NULL;
  }
  explicit_bzero(text, len);
out:
  free(text);
  close(fd);
  return j;
}

/* mkdir -p for the folders above path, each new one 0700. */
static int make_parents(char *path) {
  for (char *p = path + 1; *p; p++) {
    if (*p != '/')
      continue;
    *p = '\0';
    int r = mkdir(path, 0700);
    int e = errno;
    *p = '/';
    if (r != 0 && e != EEXIST) {
      errno = e;
      return -1;
    }
  }
  return 0;
}

int cli_creds_save(const cli_cmd *cmd, json_t *creds) {
  char path[4096], tmp[4200];
  char *text = NULL;
  int fd = -1, rc = -1;
  if (cli_creds_path(path, sizeof path) != 0) {
    fprintf(stderr, "cohort %s: no folder for the saved login (set HOME or COHORT_CONFIG_DIR)\n", cmd->name);
    return -1;
  }
  if (make_parents(path) != 0) {
    fprintf(stderr, "cohort %s: cannot create the folder of %s: %s\n", cmd->name, path, strerror(errno));
    return -1;
  }
  snprintf(tmp, sizeof tmp, "%s.XXXXXX", path);
  if ((fd = mkstemp(tmp)) < 0) {
    fprintf(stderr, "cohort %s: cannot write %s: %s\n", cmd->name, path, strerror(errno));
    return -1;
  }
  if (!(text = json_dumps(creds, JSON_INDENT(2) | JSON_PRESERVE_ORDER))) {
    errno = ENOMEM;
    goto out;
  }
  size_t len = strlen(text), done = 0;
  if (fchmod(fd, 0600) != 0)
    goto out;
  while (done < len) {
    ssize_t w = write(fd, text + done, len - done);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      goto out;
    done += (size_t)w;
  }
  if (write(fd, "\n", 1) != 1 || fsync(fd) != 0)
    goto out;
  int r = close(fd);
  fd = -1;
  if (r != 0 || rename(tmp, path) != 0)
    goto out;
  rc = 0;
out:
  if (rc != 0) {
    int e = errno;
    if (fd >= 0)
      close(fd);
    unlink(tmp);
    fprintf(stderr, "cohort %s: cannot write %s: %s\n", cmd->name, path, strerror(e));
  }
  cli_free_secret(text);
  return rc;
}

/* ---------------------------------------------------------------- server and token */

/* "host:8080" -> "http://host:8080"; no trailing slashes. NULL for other schemes. */
static char *normalize_server(const char *s) {
  char *out;
  if (strstr(s, "://")) {
    if (strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0)
      return NULL;
    out = strdup(s);
  } else {
    size_t n = strlen(s);
    out = malloc(n + 8);
    if (out) {
      memcpy(out, "http://", 7);
      memcpy(out + 7, s, n + 1);
    }
  }
  if (!out)
    return NULL;
  size_t n = strlen(out);
  while (n > 0 && out[n - 1] == '/')
    out[--n] = '\0';
  return out;
}

int cli_conn_resolve(const cli_cmd *cmd, const cli_conn *o, char **server_out, char **token_out) {
  char err[512];
  *server_out = *token_out = NULL;
  json_t *creds = cli_creds_load(err, sizeof err);
  const char *saved_server = creds ? cli_jstr_of(creds, "server") : "";
  const char *server = o->server;
  if (!server || !*server)
    server = getenv("COHORT_URL");
  if (!server || !*server)
    server = *saved_server ? saved_server : CLI_DEFAULT_SERVER;
  if (!(*server_out = normalize_server(server))) {
    json_decref(creds);
    fprintf(stderr, "cohort %s: server '%s' is not an http:// or https:// URL\n", cmd->name, server);
    return CLI_USAGE;
  }
  const char *token = o->token;
  if (!token || !*token)
    token = getenv("COHORT_TOKEN");
  if ((!token || !*token) && creds) {
    /* The saved token goes only to the server it came from. */
    char *saved = *saved_server ? normalize_server(saved_server) : NULL;
    if (saved && strcmp(saved, *server_out) == 0 && *cli_jstr_of(creds, "token"))
      token = cli_jstr_of(creds, "token");
    free(saved);
  }
  if (err[0] && (!token || !*token))
    fprintf(stderr, "cohort %s: warning: %s\n", cmd->name, err);
  int rc = CLI_OK;
  if (token && *token && !(*token_out = strdup(token))) {
    free(*server_out);
    *server_out = NULL;
    rc = cli_error("out of memory");
  }
  /* The token's copy inside the parsed file. */
  json_t *jt = creds ? json_object_get(creds, "token") : NULL;
  if (json_is_string(jt))
    explicit_bzero((char *)json_string_value(jt), json_string_length(jt));
  json_decref(creds);
  return rc;
}
