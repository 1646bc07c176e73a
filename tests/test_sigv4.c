/* SigV4 signing against AWS's published answers: cases from the Signature Version 4 test suite
 * (aws-sig-v4-test-suite: credentials AKIDEXAMPLE, 2015-08-30T12:36:00Z, us-east-1, service
 * "service") and the worked examples of the S3 documentation (AKIAIOSFODNN7EXAMPLE,
 * 2013-05-24, service "s3", with x-amz-content-sha256). Expected values are copied from those
 * files, not computed here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four above first. */
#include <cmocka.h>

#include "co_base.h"
#include "sigv4.h"

#include <string.h>

#define SUITE_AK "AKIDEXAMPLE"
#define SUITE_SK "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define SUITE_DATE "20150830T123600Z"
#define S3_AK "AKIAIOSFODNN7EXAMPLE"
#define S3_SK "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define S3_DATE "20130524T000000Z"
#define STS_TOKEN                                                                                            \
  "AQoDYXdzEPT//////////"                                                                                    \
  "wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfK"                     \
  "D8YUuwthAx7mSEI/qkPpKPi/"                                                                                 \
  "kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx"                       \
  "6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+"                                               \
  "scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlT"                                                          \
  "JabIQwj2ICCR/oLxBA=="

typedef struct vector {
  const char *name;
  const char *method;
  const char *raw_path; /* as in the .req file, before encoding */
  const char *query;
  co_sigv4_header headers[6];
  size_t nheaders;
  const char *body;
  int s3;            /* the S3 documentation's credentials, date and service */
  const char *creq;  /* NULL where the suite's .creq is not used */
  const char *sts;   /* NULL where the suite's .sts is not used */
  const char *authz; /* the .authz file */
} vector;

#define HOST                                                                                                 \
  { "Host", "example.amazonaws.com" }
#define DATE                                                                                                 \
  { "X-Amz-Date", SUITE_DATE }
#define SUITE_CRED "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "

static const vector vectors[] = {
    {"get-vanilla",
     "GET",
     "/",
     NULL,
     {HOST, DATE},
     2,
     "",
     0,
     "GET\n/"
     "\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" CO_SIGV4_EMPTY_SHA256,
     "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
     "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
     SUITE_CRED "SignedHeaders=host;x-amz-date, "
                "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
    {"get-vanilla-query-order-key",
     "GET",
     "/",
     "Param1=value2&Param1=Value1",
     {HOST, DATE},
     2,
     "",
     0,
     "GET\n/"
     "\nParam1=Value1&Param1=value2\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-"
     "date\n" CO_SIGV4_EMPTY_SHA256,
     "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
     "704b4cef673542d84cdff252633f065e8daeba5f168b77116f8b1bcaf3d38f89",
     SUITE_CRED "SignedHeaders=host;x-amz-date, "
                "Signature=eedbc4e291e521cf13422ffca22be7d2eb8146eecf653089df300a15b2382bd1"},
    {"get-vanilla-query-order-key-case",
     "GET",
     "/",
     "Param2=value2&Param1=value1",
     {HOST, DATE},
     2,
     "",
     0,
     NULL,
     NULL,
     SUITE_CRED "SignedHeaders=host;x-amz-date, "
                "Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
    {"get-vanilla-query-order-value",
     "GET",
     "/",
     "Param1=value2&Param1=value1",
     {HOST, DATE},
     2,
     "",
     0,
     NULL,
     NULL,
     SUITE_CRED "SignedHeaders=host;x-amz-date, "
                "Signature=5772eed61e12b33fae39ee5e7012498b51d56abc0abb7c60486157bd471c4694"},
    {"get-vanilla-query-unreserved",
     "GET",
     "/",
     "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=-._~"
     "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
     {HOST, DATE},
     2,
     "",
     0,
     NULL,
     NULL,
     SUITE_CRED "SignedHeaders=host;x-amz-date, "
                "Signature=9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197"},
    {"get-utf8",
     "GET",
     "/\xe1\x88\xb4",
     NULL,
     {HOST, DATE},
     2,
     "",
     0,
     "GET\n/%E1%88%B4\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-"
     "date\n" CO_SIGV4_EMPTY_SHA256,
     NULL,
     SUITE_CRED "SignedHeaders=host;x-amz-date, "
                "Signature=8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"},
    {"get-header-value-trim",
     "GET",
     "/",
     NULL,
     {HOST, {"My-Header1", " value1"}, {"My-Header2", " \"a   b   c\""}, DATE},
     4,
     "",
     0,
     NULL,
     NULL,
     SUITE_CRED "SignedHeaders=host;my-header1;my-header2;x-amz-date, "
                "Signature=acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"},
    {"get-header-key-duplicate",
     "GET",
     "/",
     NULL,
     {HOST, {"My-Header1", "value2"}, {"My-Header1", "value2"}, {"My-Header1", "value1"}, DATE},
     5,
     "",
     0,
     NULL,
     NULL,
     SUITE_CRED "SignedHeaders=host;my-header1;x-amz-date, "
                "Signature=c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea"},
    {"post-x-www-form-urlencoded",
     "POST",
     "/",
     NULL,
     {{"Content-Type", "application/x-www-form-urlencoded"}, HOST, DATE},
     3,
     "Param1=value1",
     0,
     "POST\n/\n\ncontent-type:application/x-www-form-urlencoded\nhost:example.amazonaws.com\nx-amz-date:"
     "20150830T123600Z\n\ncontent-type;host;x-amz-date\n"
     "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
     "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
     "42a5e5bb34198acb3e84da4f085bb7927f2bc277ca766e6d19c73c2154021281",
     SUITE_CRED "SignedHeaders=content-type;host;x-amz-date, "
                "Signature=ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"},
    {"post-sts-header-before",
     "POST",
     "/",
     NULL,
     {HOST, DATE, {"X-Amz-Security-Token", STS_TOKEN}},
     3,
     "",
     0,
     NULL,
     NULL,
     SUITE_CRED "SignedHeaders=host;x-amz-date;x-amz-security-token, "
                "Signature=85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead"},
    /* S3 documentation, "Example: GET Object" (a Range header, the payload hash header). */
    {"s3-get-object",
     "GET",
     "/test.txt",
     NULL,
     {{"Host", "examplebucket.s3.amazonaws.com"},
      {"Range", "bytes=0-9"},
      {"x-amz-content-sha256", CO_SIGV4_EMPTY_SHA256},
      {"x-amz-date", S3_DATE}},
     4,
     "",
     1,
     NULL,
     NULL,
     "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
     "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
     "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"},
    /* S3 documentation, "Example: GET Bucket (List Objects)" (query parameters). */
    {"s3-list-objects",
     "GET",
     "/",
     "max-keys=2&prefix=J",
     {{"Host", "examplebucket.s3.amazonaws.com"},
      {"x-amz-content-sha256", CO_SIGV4_EMPTY_SHA256},
      {"x-amz-date", S3_DATE}},
     3,
     "",
     1,
     NULL,
     NULL,
     "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
     "SignedHeaders=host;x-amz-content-sha256;x-amz-date, "
     "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"},
};

static co_sigv4_request make_request(const vector *v, char *path, size_t pcap, char *hash) {
  if (co_sigv4_uri_encode(v->raw_path, 1, path, pcap) != COHORT_OK)
    fail_msg("%s: encode path", v->name);
  co_sigv4_sha256_hex(v->body, strlen(v->body), hash);
  co_sigv4_request r = {
      .method = v->method,
      .path = path,
      .query = v->query,
      .headers = v->headers,
      .nheaders = v->nheaders,
      .payload_sha256 = hash,
      .amz_date = v->s3 ? S3_DATE : SUITE_DATE,
      .region = "us-east-1",
      .service = v->s3 ? "s3" : "service",
      .access_key = v->s3 ? S3_AK : SUITE_AK,
      .secret_key = v->s3 ? S3_SK : SUITE_SK,
  };
  return r;
}

static void test_published_vectors(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
    const vector *v = &vectors[i];
    char path[256], hash[65], buf[2048];
    co_sigv4_request r = make_request(v, path, sizeof path, hash);
    if (v->creq) {
      assert_int_equal(co_sigv4_canonical_request(&r, buf, sizeof buf), COHORT_OK);
      if (strcmp(buf, v->creq) != 0)
        fail_msg("%s: canonical request\n got: %s\nwant: %s", v->name, buf, v->creq);
    }
    if (v->sts) {
      assert_int_equal(co_sigv4_string_to_sign(&r, buf, sizeof buf), COHORT_OK);
      if (strcmp(buf, v->sts) != 0)
        fail_msg("%s: string to sign\n got: %s\nwant: %s", v->name, buf, v->sts);
    }
    if (co_sigv4_sign(&r, buf, sizeof buf) != COHORT_OK)
      fail_msg("%s: sign: %s", v->name, cohort_errmsg());
    if (strcmp(buf, v->authz) != 0)
      fail_msg("%s: authorization\n got: %s\nwant: %s", v->name, buf, v->authz);
  }
}

/* Header order and name case given by the caller must not matter; the secret must. */
static void test_order_case_and_secret(void **state) {
  (void)state;
  const vector *v = &vectors[8]; /* post-x-www-form-urlencoded */
  char path[256], hash[65], want[512], got[512];
  co_sigv4_request r = make_request(v, path, sizeof path, hash);
  assert_int_equal(co_sigv4_sign(&r, want, sizeof want), COHORT_OK);
  co_sigv4_header shuffled[] = {{"x-amz-date", SUITE_DATE},
                                {"HOST", "example.amazonaws.com"},
                                {"content-TYPE", "application/x-www-form-urlencoded"}};
  r.headers = shuffled;
  assert_int_equal(co_sigv4_sign(&r, got, sizeof got), COHORT_OK);
  assert_string_equal(got, want);
  r.secret_key = SUITE_SK "x";
  assert_int_equal(co_sigv4_sign(&r, got, sizeof got), COHORT_OK);
  assert_string_not_equal(got, want);
  /* One changed byte of the payload changes the signature. */
  r.secret_key = SUITE_SK;
  co_sigv4_sha256_hex("Param1=value2", 13, hash);
  assert_int_equal(co_sigv4_sign(&r, got, sizeof got), COHORT_OK);
  assert_string_not_equal(got, want);
}

/* Swift's s3api access keys are "account:user": the colon goes into Credential as it is. */
static void test_access_key_with_colon(void **state) {
  (void)state;
  co_sigv4_header h[] = {{"host", "127.0.0.1:8090"}, {"x-amz-date", SUITE_DATE}};
  co_sigv4_request r = {.method = "HEAD",
                        .path = "/bucket",
                        .headers = h,
                        .nheaders = 2,
                        .payload_sha256 = CO_SIGV4_EMPTY_SHA256,
                        .amz_date = SUITE_DATE,
                        .region = "us-east-1",
                        .service = "s3",
                        .access_key = "test:tester",
                        .secret_key = "testing"};
  char out[512];
  assert_int_equal(co_sigv4_sign(&r, out, sizeof out), COHORT_OK);
  assert_non_null(strstr(out, "Credential=test:tester/20150830/us-east-1/s3/aws4_request, "));
}

static void test_uri_encode(void **state) {
  (void)state;
  char out[64];
  assert_int_equal(co_sigv4_uri_encode("a b/c+d~e_f.g-h", 1, out, sizeof out), COHORT_OK);
  assert_string_equal(out, "a%20b/c%2Bd~e_f.g-h");
  assert_int_equal(co_sigv4_uri_encode("a/b=c&d", 0, out, sizeof out), COHORT_OK);
  assert_string_equal(out, "a%2Fb%3Dc%26d");
  assert_int_equal(co_sigv4_uri_encode("\xc3\xbc", 0, out, sizeof out), COHORT_OK);
  assert_string_equal(out, "%C3%BC");
  assert_int_equal(co_sigv4_uri_encode("   ", 0, out, 9), COHORT_ELIMIT);
  assert_int_equal(co_sigv4_uri_encode("   ", 0, out, 10), COHORT_OK);
}

/* A query given encoded or not signs the same; "uploads" alone becomes "uploads=". */
static void test_query_forms(void **state) {
  (void)state;
  co_sigv4_header h[] = {{"host", "h"}, {"x-amz-date", SUITE_DATE}};
  co_sigv4_request r = {.method = "POST",
                        .path = "/b/k",
                        .headers = h,
                        .nheaders = 2,
                        .payload_sha256 = CO_SIGV4_EMPTY_SHA256,
                        .amz_date = SUITE_DATE,
                        .region = "us-east-1",
                        .service = "s3",
                        .access_key = "a",
                        .secret_key = "s"};
  char a[512], b[512];
  r.query = "uploads";
  assert_int_equal(co_sigv4_canonical_request(&r, a, sizeof a), COHORT_OK);
  assert_non_null(strstr(a, "\nuploads=\n"));
  r.query = "uploadId=a%2Fb&partNumber=2";
  assert_int_equal(co_sigv4_canonical_request(&r, a, sizeof a), COHORT_OK);
  assert_non_null(strstr(a, "\npartNumber=2&uploadId=a%2Fb\n"));
  r.query = "partNumber=2&uploadId=a/b";
  assert_int_equal(co_sigv4_canonical_request(&r, b, sizeof b), COHORT_OK);
  assert_string_equal(a, b);
}

static void test_bad_input(void **state) {
  (void)state;
  co_sigv4_header h[] = {{"host", "h"}, {"x-evil", "a\r\nInjected: 1"}};
  co_sigv4_request r = {.method = "GET",
                        .path = "/",
                        .headers = h,
                        .nheaders = 1,
                        .payload_sha256 = CO_SIGV4_EMPTY_SHA256,
                        .amz_date = SUITE_DATE,
                        .region = "us-east-1",
                        .service = "s3",
                        .access_key = "a",
                        .secret_key = "s"};
  char out[512];
  assert_int_equal(co_sigv4_sign(&r, out, 40), COHORT_ELIMIT);
  r.nheaders = 2;
  assert_int_equal(co_sigv4_sign(&r, out, sizeof out), COHORT_EINVAL);
  r.nheaders = 1;
  r.payload_sha256 = "abc";
  assert_int_equal(co_sigv4_sign(&r, out, sizeof out), COHORT_EINVAL);
  r.payload_sha256 = CO_SIGV4_EMPTY_SHA256;
  r.amz_date = "2015";
  assert_int_equal(co_sigv4_sign(&r, out, sizeof out), COHORT_EINVAL);
}

static void test_amz_date(void **state) {
  (void)state;
  char d[17];
  co_sigv4_amz_date(1440938160LL, d); /* 2015-08-30T12:36:00Z */
  assert_string_equal(d, SUITE_DATE);
  co_sigv4_amz_date(1369353600LL, d);
  assert_string_equal(d, S3_DATE);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_published_vectors),
      cmocka_unit_test(test_order_case_and_secret),
      cmocka_unit_test(test_access_key_with_colon),
      cmocka_unit_test(test_uri_encode),
      cmocka_unit_test(test_query_forms),
      cmocka_unit_test(test_bad_input),
      cmocka_unit_test(test_amz_date),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
