/* libFuzzer driver for the CSV reader: parse, infer a schema, encode/format every cell, write
 * back, reparse, and compare (all inside co_fuzz_csv, which aborts on a broken round trip). */
#include <stddef.h>
#include <stdint.h>

int co_fuzz_csv(const uint8_t *data, size_t size); /* src/engine/csv.c */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  return co_fuzz_csv(data, size);
}
