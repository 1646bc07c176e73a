/* sigv4.h: AWS Signature Version 4 for header-signed requests (S3 and any other service).
 * Our own rather than CURLOPT_AWS_SIGV4: curl 7.88 sends no x-amz-content-sha256 and cannot take an
 * access key with a colon (Swift's s3api keys are "account:user").
 *
 * The caller lists every header it will send and wants signed (host, x-amz-date, and for S3
 * x-amz-content-sha256 and x-amz-security-token) and gives the payload's SHA-256 in hex; the
 * signer canonicalizes (lower-case names, trimmed values, sorted, duplicates joined with ','),
 * sorts and re-encodes the query, and returns the Authorization header value. */
#ifndef COHORT_SIGV4_H
#define COHORT_SIGV4_H

#include "cohort/cohort.h"

#include <stddef.h>

#define CO_SIGV4_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

typedef struct co_sigv4_header {
  const char *name;
  const char *value;
} co_sigv4_header;

typedef struct co_sigv4_request {
  const char *method; /* "GET" */
  const char *path;   /* URI-encoded as sent (co_sigv4_uri_encode with keep_slash), "/" if empty */
  const char *query;  /* as sent, without '?'; NULL or "" for none */
  const co_sigv4_header *headers; /* all headers to sign, host and x-amz-date included */
  size_t nheaders;
  const char *payload_sha256; /* 64 lowercase hex characters */
  const char *amz_date;       /* "20150830T123600Z": the x-amz-date header's value */
  const char *region;         /* "us-east-1" */
  const char *service;        /* "s3" */
  const char *access_key;
  const char *secret_key;
} co_sigv4_request;

/* Percent-encodes in the way SigV4 wants: unreserved bytes (A-Z a-z 0-9 - . _ ~) stay, '/' stays
 * when keep_slash, every other byte becomes %XX (upper-case hex). ELIMIT if out (cap) is short. */
cohort_status co_sigv4_uri_encode(const char *in, int keep_slash, char *out, size_t cap);

/* The canonical request and the string to sign, exposed for tests against published vectors. */
cohort_status co_sigv4_canonical_request(const co_sigv4_request *r, char *out, size_t cap);
cohort_status co_sigv4_string_to_sign(const co_sigv4_request *r, char *out, size_t cap);

/* The Authorization header value:
 * "AWS4-HMAC-SHA256 Credential=AK/20150830/us-east-1/s3/aws4_request, SignedHeaders=..., Signature=..." */
cohort_status co_sigv4_sign(const co_sigv4_request *r, char *authz, size_t cap);

/* SHA-256 of a buffer as 64 lowercase hex characters + NUL. */
void co_sigv4_sha256_hex(const void *data, size_t len, char out[65]);

/* Formats a Unix time (seconds) as x-amz-date: "YYYYMMDDTHHMMSSZ" (out needs 17 bytes). */
void co_sigv4_amz_date(long long unix_seconds, char out[17]);

#endif
