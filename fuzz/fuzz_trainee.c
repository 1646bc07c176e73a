/* libFuzzer driver for trainee files: cohort_trainee_deserialize on arbitrary bytes must return
 * COHORT_ECORRUPT (never crash, leak or allocate without bound), and every accepted input must
 * serialize back to the same bytes. The checks live in co_fuzz_trainee (src/engine/persist.c),
 * which also retries each input with its header length and checksums recomputed, so that the
 * fuzzer explores the payload parser rather than stopping at the CRCs.
 * Seeds: fuzz/corpus/trainee/ (*.bin, written by tests/test_persist with COHORT_WRITE_CORPUS=DIR; not
 * *.cohort, which .gitignore hides). */
#include <stddef.h>
#include <stdint.h>

int co_fuzz_trainee(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  return co_fuzz_trainee(data, size);
}
