/* Vector maths for the project's C kernels: GCC vector extensions, 16 floats at a time, so that a kernel
   vectorises on any x86 or ARM target (intrinsics only for AVX-512's masked loads and stores of a tail).

   exp is Cephes' single-precision polynomial (relative error ~1e-7 over the float range, no library call);
   tanh is Cephes' odd polynomial below |x| = 0.625 and 1 − 2 / (exp(2|x|) + 1) above; sigmoid is
   1 / (1 + exp(−x)). Each agrees with torch's to a few float32 ulps, not bit for bit: a kernel using them
   computes its model's function to float rounding. */

#ifndef DYNOBENCH_VECMATH_H
#define DYNOBENCH_VECMATH_H

#include <stdint.h>
#include <string.h>
#ifdef __AVX512F__
#include <immintrin.h>
#endif

#define LANES 16
typedef float vf __attribute__((vector_size(4 * LANES)));
typedef int32_t vi __attribute__((vector_size(4 * LANES)));

static inline vf vselect(vi mask, vf yes, vf no) { return (vf)((mask & (vi)yes) | (~mask & (vi)no)); }

static inline vf splat(float x) { return (vf){} + x; }

static inline vf vexp(vf x) {
    x = vselect(x > 88.0f, splat(88.0f), x);
    x = vselect(x < -87.0f, splat(-87.0f), x);
    vf t = x * 1.44269504088896341f + 0.5f;  /* k = floor(x / ln 2 + 1/2) */
    vi k = __builtin_convertvector(t, vi);      /* truncation: one too high below zero */
    k += (vi)(__builtin_convertvector(k, vf) > t);
    vf kf = __builtin_convertvector(k, vf);
    vf r = x - kf * 0.693359375f;
    r = r - kf * -2.12194440e-4f;
    vf p = splat(1.9875691500e-4f);
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    return p * (vf)((k + 127) << 23);
}

static inline vf vsigmoid(vf x) { return 1.0f / (1.0f + vexp(-x)); }

static inline vf vtanh(vf x) {
    vf a = vselect(x < 0.0f, -x, x);
    vf z = x * x;
    vf small = ((((-5.70498872745e-3f * z + 2.06390887954e-2f) * z - 5.37397155531e-2f) * z + 1.33314422036e-1f) * z
                - 3.33332819422e-1f) * z * x + x;
    vf big = 1.0f - 2.0f / (vexp(2.0f * a) + 1.0f);
    big = vselect(x < 0.0f, -big, big);
    return vselect(a < 0.625f, small, big);
}

/* Loads and stores of the first m (≤ LANES) floats; the lanes past m read as 0 and are not written. A part
   of a vector is one masked instruction with AVX-512, else a loop (a memcpy of variable size is a call). */
static inline vf load(const float *p, int m) {
    vf v = {};
    if (m == LANES) {
        memcpy(&v, p, sizeof v);
        return v;
    }
#ifdef __AVX512F__
    return (vf)_mm512_maskz_loadu_ps((__mmask16)((1u << m) - 1), p);
#else
    for (int i = 0; i < m; i++) v[i] = p[i];
    return v;
#endif
}

static inline void store(float *p, vf v, int m) {
    if (m == LANES) {
        memcpy(p, &v, sizeof v);
        return;
    }
#ifdef __AVX512F__
    _mm512_mask_storeu_ps(p, (__mmask16)((1u << m) - 1), (__m512)v);
#else
    for (int i = 0; i < m; i++) p[i] = v[i];
#endif
}

#endif
