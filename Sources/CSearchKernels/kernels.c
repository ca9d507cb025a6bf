#include "csearchkernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CSK_X86 1
#endif

void csk_int8_dot128_scan_scalar(const int8_t *codes, size_t rows, const int8_t *query, int32_t *out) {
    for (size_t r = 0; r < rows; ++r) {
        const int8_t *c = codes + r * 128;
        int32_t acc = 0;
        for (int i = 0; i < 128; ++i) acc += (int32_t)c[i] * (int32_t)query[i];
        out[r] = acc;
    }
}

#ifdef CSK_X86
// SSE2 is part of the x86-64 baseline. Sign-extend bytes to 16 bits, then pmaddwd
// multiplies pairs and adds them into 32-bit lanes; 127*127*2 cannot overflow.
static inline __m128i sext_lo(__m128i v) { return _mm_srai_epi16(_mm_unpacklo_epi8(v, v), 8); }
static inline __m128i sext_hi(__m128i v) { return _mm_srai_epi16(_mm_unpackhi_epi8(v, v), 8); }

static void scan_sse2(const int8_t *codes, size_t rows, const int8_t *query, int32_t *out) {
    __m128i qlo[8], qhi[8];
    for (int k = 0; k < 8; ++k) {
        __m128i q = _mm_loadu_si128((const __m128i *)(query + 16 * k));
        qlo[k] = sext_lo(q);
        qhi[k] = sext_hi(q);
    }
    for (size_t r = 0; r < rows; ++r) {
        const int8_t *c = codes + r * 128;
        __m128i acc = _mm_setzero_si128();
        for (int k = 0; k < 8; ++k) {
            __m128i v = _mm_loadu_si128((const __m128i *)(c + 16 * k));
            acc = _mm_add_epi32(acc, _mm_madd_epi16(sext_lo(v), qlo[k]));
            acc = _mm_add_epi32(acc, _mm_madd_epi16(sext_hi(v), qhi[k]));
        }
        acc = _mm_add_epi32(acc, _mm_shuffle_epi32(acc, 0x4E));
        acc = _mm_add_epi32(acc, _mm_shuffle_epi32(acc, 0xB1));
        out[r] = _mm_cvtsi128_si32(acc);
    }
}

__attribute__((target("avx2")))
static void scan_avx2(const int8_t *codes, size_t rows, const int8_t *query, int32_t *out) {
    __m256i q16[8];
    for (int k = 0; k < 8; ++k) q16[k] = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(query + 16 * k)));
    for (size_t r = 0; r < rows; ++r) {
        const int8_t *c = codes + r * 128;
        __m256i acc0 = _mm256_setzero_si256(), acc1 = _mm256_setzero_si256();
        for (int k = 0; k < 8; k += 2) {
            __m256i v0 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(c + 16 * k)));
            __m256i v1 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(c + 16 * k + 16)));
            acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(v0, q16[k]));
            acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(v1, q16[k + 1]));
        }
        __m256i acc = _mm256_add_epi32(acc0, acc1);
        __m128i s = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
        s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
        s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
        out[r] = _mm_cvtsi128_si32(s);
    }
}

static int have_avx2(void) {
    static int cached = -1;
    if (cached < 0) { __builtin_cpu_init(); cached = __builtin_cpu_supports("avx2") ? 1 : 0; }
    return cached;
}

void csk_int8_dot128_scan(const int8_t *codes, size_t rows, const int8_t *query, int32_t *out) {
    if (have_avx2()) scan_avx2(codes, rows, query, out); else scan_sse2(codes, rows, query, out);
}

const char *csk_int8_kernel_name(void) { return have_avx2() ? "avx2" : "sse2"; }

#else
void csk_int8_dot128_scan(const int8_t *codes, size_t rows, const int8_t *query, int32_t *out) {
    csk_int8_dot128_scan_scalar(codes, rows, query, out);
}
const char *csk_int8_kernel_name(void) { return "scalar"; }
#endif
