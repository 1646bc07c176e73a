/* Size-stamped structs, options in and information out: the caller's first member says how big
 * its struct is, so a program built against an older or newer cohort.h keeps its meaning (see the
 * top of cohort.h). */
#include "co_internal.h"

#include <string.h>

/* A size beyond this is a struct that was never initialised, not a newer header. */
#define CO_OPTIONS_MAX_SIZE 4096

cohort_status co_options_read(void *dst, size_t ours, const void *src, const char *what) {
  unsigned char *d = dst;
  memset(d, 0, ours);
  memcpy(d, &ours, sizeof ours);
  if (!src)
    return COHORT_OK;
  size_t theirs;
  memcpy(&theirs, src, sizeof theirs);
  if (theirs < sizeof(size_t) || theirs > CO_OPTIONS_MAX_SIZE)
    return co_error_in("size", co_error(COHORT_EINVAL,
                                        "%s: options size = %zu: set it to the struct's sizeof, "
                                        "e.g. with the COHORT_*_OPTIONS_INIT initialiser",
                                        what, theirs));
  const unsigned char *s = src;
  for (size_t i = ours; i < theirs; i++)
    if (s[i])
      return co_error_in("size", co_error(COHORT_EINVAL,
                                          "%s: the options set a member at byte %zu that this libcohort "
                                          "(%s, %zu-byte options) does not know; link a newer one",
                                          what, i, COHORT_VERSION_STRING, ours));
  memcpy(d + sizeof(size_t), s + sizeof(size_t), (theirs < ours ? theirs : ours) - sizeof(size_t));
  return COHORT_OK;
}

cohort_status co_info_write(void *dst, const void *src, size_t ours, const char *what) {
  size_t theirs;
  memcpy(&theirs, dst, sizeof theirs);
  if (theirs < sizeof(size_t) || theirs > CO_OPTIONS_MAX_SIZE)
    return co_error_in("size", co_error(COHORT_EINVAL,
                                        "%s: size = %zu: set it to the struct's sizeof, e.g. with its "
                                        "_INIT initialiser",
                                        what, theirs));
  /* Members a newer caller knows and this library does not are left as the caller set them. */
  memcpy((unsigned char *)dst + sizeof(size_t), (const unsigned char *)src + sizeof(size_t),
         (theirs < ours ? theirs : ours) - sizeof(size_t));
  return COHORT_OK;
}
