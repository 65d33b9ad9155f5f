/* The gate arithmetic of one GRU time step, forward and backward, fused into one pass over [B, H].

   torch's CPU GRU runs each step as a dozen separate ops over [B, 3H] and [B, H] tensors (adds, two
   sigmoids, a tanh, products), each recorded for autograd and each reading and writing memory; here one pass
   computes every gate of a row while it sits in registers. The recurrent and input matrix products stay
   torch's (dynonet/gru.py). The sigmoid and tanh are harness/vecmath.h's: results equal nn.GRU's to float
   rounding, not bit for bit (tests/test_dynonet_gru.py). */

#include <stdint.h>

#include "vecmath.h"

/* Step t forward for rows b < batch: gi, gh [B, 3H] hold the input and recurrent products with their biases
   (gates r, z, n in that order), h_prev, h_next [B, H]. Writes the gates r, z, n and the recurrent n product
   ghn [B, H] that the backward needs, and h_next = n + z·(h_prev − n). Lanes j .. j + m of row b: */
static inline __attribute__((always_inline)) void forward_lanes(int64_t b, int64_t hidden, int64_t j, int m,
    const float *gi, const float *gh, const float *h_prev, float *h_next, float *r, float *z, float *n,
    float *ghn) {
    const float *gib = gi + b * 3 * hidden + j, *ghb = gh + b * 3 * hidden + j;
    const int64_t at = b * hidden + j;
    vf rj = vsigmoid(load(gib, m) + load(ghb, m));
    vf zj = vsigmoid(load(gib + hidden, m) + load(ghb + hidden, m));
    vf g = load(ghb + 2 * hidden, m);
    vf nj = vtanh(load(gib + 2 * hidden, m) + rj * g);
    store(r + at, rj, m);
    store(z + at, zj, m);
    store(n + at, nj, m);
    store(ghn + at, g, m);
    store(h_next + at, nj + zj * (load(h_prev + at, m) - nj), m);
}

void gru_forward_step(int64_t batch, int64_t hidden, const float *gi, const float *gh, const float *h_prev,
                      float *h_next, float *r, float *z, float *n, float *ghn) {
    const int64_t full = hidden - hidden % LANES;
    for (int64_t b = 0; b < batch; b++) {
        for (int64_t j = 0; j < full; j += LANES)
            forward_lanes(b, hidden, j, LANES, gi, gh, h_prev, h_next, r, z, n, ghn);
        if (full < hidden) forward_lanes(b, hidden, full, (int)(hidden - full), gi, gh, h_prev, h_next, r, z, n, ghn);
    }
}

/* Step t backward: the gradient reaching h_t is dh [B, H] plus this step's output gradient gout [B, H]
   (rows gout_stride apart; NULL: none). Writes the gradients of the gate pre-activations, dgi = (dr, dz, dn)
   for the input products and dgh = (dr, dz, dn·r) for the recurrent ones [B, 3H], and dh_direct =
   (dh + gout)·z, the part of the gradient of h_{t−1} that does not pass through the recurrent product.
   Lanes j .. j + m: */
static inline __attribute__((always_inline)) void backward_lanes(int64_t b, int64_t hidden, int64_t j, int m,
    const float *dh, const float *gout, int64_t gout_stride, const float *h_prev, const float *r, const float *z,
    const float *n, const float *ghn, float *dgi, float *dgh, float *dh_direct) {
    const int64_t at = b * hidden + j;
    float *gi = dgi + b * 3 * hidden + j, *gh = dgh + b * 3 * hidden + j;
    vf d = load(dh + at, m);
    if (gout) d += load(gout + b * gout_stride + j, m);
    vf rj = load(r + at, m), zj = load(z + at, m), nj = load(n + at, m);
    vf dn = d * (1.0f - zj) * (1.0f - nj * nj);
    vf dr = dn * load(ghn + at, m) * rj * (1.0f - rj);
    vf dz = d * (load(h_prev + at, m) - nj) * zj * (1.0f - zj);
    store(gi, dr, m);
    store(gi + hidden, dz, m);
    store(gi + 2 * hidden, dn, m);
    store(gh, dr, m);
    store(gh + hidden, dz, m);
    store(gh + 2 * hidden, dn * rj, m);
    store(dh_direct + at, d * zj, m);
}

void gru_backward_step(int64_t batch, int64_t hidden, const float *dh, const float *gout, int64_t gout_stride,
                       const float *h_prev, const float *r, const float *z, const float *n, const float *ghn,
                       float *dgi, float *dgh, float *dh_direct) {
    const int64_t full = hidden - hidden % LANES;
    for (int64_t b = 0; b < batch; b++) {
        for (int64_t j = 0; j < full; j += LANES)
            backward_lanes(b, hidden, j, LANES, dh, gout, gout_stride, h_prev, r, z, n, ghn, dgi, dgh, dh_direct);
        if (full < hidden)
            backward_lanes(b, hidden, full, (int)(hidden - full), dh, gout, gout_stride, h_prev, r, z, n, ghn, dgi,
                           dgh, dh_direct);
    }
}
