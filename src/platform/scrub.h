/* scrub.h: keeps the server's file system out of what clients read. */
#ifndef COHORT_PLATFORM_SCRUB_H
#define COHORT_PLATFORM_SCRUB_H

/* Rewrites, in place, every absolute file path in msg (an error for a client: a reply or a job's
 * error) to what names the resource: the part after a blobs/, .staging/ or s3-cache/ folder (the
 * blob key, which holds the resource id, e.g. "trainees/tr_x/v3.bin"), else the file name. API
 * paths (/v1/..., /ui/...) and URLs (scheme://...) are left alone. Never lengthens msg. */
void co_scrub_paths(char *msg);

#endif
