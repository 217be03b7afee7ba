// libFuzzer's driver entry point (compiler-rt, linked by `-sanitize=fuzzer`). The harnesses call it from their own
// `main`: SwiftPM links every executable with its module's main as `main`, so libFuzzer's own `main` never runs.
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*UserCb)(const uint8_t *Data, size_t Size));
