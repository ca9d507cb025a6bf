// CSearchKernels: the inner loop of 1:N search, in C so it can use integer multiply-add
// instructions (pmaddwd / vpmaddwd) that Swift's SIMD types do not lower to, with the
// instruction set chosen at run time. The binary stays runnable on a baseline x86-64 CPU
// (and under qemu's TCG) while using AVX2 where the CPU has it.
#ifndef CSEARCHKERNELS_H
#define CSEARCHKERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// For each of `rows` int8 vectors of 128 values (packed back to back in `codes`), writes
// the exact integer dot product with the 128-value int8 `query` into `out[row]`.
void csk_int8_dot128_scan(const int8_t *codes, size_t rows, const int8_t *query, int32_t *out);

// Which implementation csk_int8_dot128_scan uses on this CPU: "avx2", "sse2" or "scalar".
const char *csk_int8_kernel_name(void);

// The portable reference implementation, for tests.
void csk_int8_dot128_scan_scalar(const int8_t *codes, size_t rows, const int8_t *query, int32_t *out);

#ifdef __cplusplus
}
#endif
#endif
