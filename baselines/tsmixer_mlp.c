/* TSMixer's feature-mixing MLP, out = W2 · (relu(W1 · x + b1) ⊙ noise) + b2, row by row.

   With C = 7 channels and a hidden width of 512 the hidden activations are [B·L, 512] (33 MB at batch 32,
   L = 512), and everything torch does with them moves memory: the two products with 7 columns run at a few
   GFLOP/s, and relu, the dropout product and their backward each read and write them once more. Here a
   row's hidden vector lives in L1 only: the forward keeps nothing, and the backward recomputes it from the
   row's inputs (7 multiply-adds an element). Dropout comes as `kept` (1 byte an element, drawn by the
   caller from the stream torch's path draws its noise from; NULL: no dropout) and `scale`, so h · scale
   where kept and 0 elsewhere is h times torch's noise. The sums run
   in another order than MKL's: the same values to float rounding (tests/test_tsmixer.py). */

#include <stdint.h>
#include <string.h>

/* 16 floats at a time, written with GCC/Clang vector types so that every machine gets its widest vectors
   (one AVX-512 register, two AVX ones, four SSE ones); a width that is not a multiple of 16 ends in a
   scalar tail. */
#define LANES 16
#define ETT 7 /* the channels of the ETT datasets */
typedef float vec __attribute__((vector_size(4 * LANES)));
typedef int32_t mask __attribute__((vector_size(4 * LANES)));
typedef uint8_t bytes __attribute__((vector_size(LANES)));
typedef uint16_t shorts __attribute__((vector_size(2 * LANES)));

static inline vec load(const float *p) {
    vec v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void store(float *p, vec v) { memcpy(p, &v, sizeof v); }

/* Dropout's factor for 16 hidden values: scale where kept, 0 elsewhere (the values of torch's noise). The
   bytes widen through 16 bits: straight to floats, GCC converts them one lane at a time (2× slower). */
static inline vec dropout(const uint8_t *kept, float scale) {
    bytes b;
    memcpy(&b, kept, sizeof b);
    return __builtin_convertvector(__builtin_convertvector(b, shorts), vec) * scale;
}

static inline float relu(float v) { return v < 0.0f ? 0.0f : v; } /* NaN passes, as torch's relu lets it */

static inline vec relu_vec(vec v) {
    const vec zero = {0};
    return (vec)((mask)v & ~(v < zero));
}

static inline float hsum(vec v) {
    float sum = 0.0f;
    for (int l = 0; l < LANES; l++) sum += v[l];
    return sum;
}

/* Rows go BLOCK at a time: each weight vector loaded (and each gradient vector loaded and stored) serves
   all of them. Every output element still sees the same operations in the same order as one row at a time
   (the weight gradients add the rows' terms in row order), so blocking changes no bit (tests/test_tsmixer.py). */
#define BLOCK 4

/* The hidden units past the last whole vector (width not a multiple of 16) of one row: their terms of its
   outputs. One compiled copy whatever the caller, so that a row's bits do not depend on its block. */
static __attribute__((noinline)) void forward_tail(
    int n_in, int width, int n_out, int body, const float *xr, const float *w1t, const float *b1,
    const uint8_t *nr, float scale, const float *w2, float *tail) {
    for (int c = 0; c < n_out; c++) tail[c] = 0.0f;
    for (int j = body; j < width; j++) {
        float a = b1[j];
        for (int k = 0; k < n_in; k++) a += xr[k] * w1t[(int64_t)k * width + j];
        const float h = nr ? relu(a) * (nr[j] ? scale : 0.0f) : relu(a);
        for (int c = 0; c < n_out; c++) tail[c] += h * w2[(int64_t)c * width + j];
    }
}

/* out[r][c] = b2[c] + Σ_j h_r[j] · w2[c][j], h_r[j] = relu(b1[j] + Σ_k x[r][k] · w1t[k][j]) · noise[r][j],
   for the nb (a constant where inlined) rows at x. */
static inline __attribute__((always_inline)) void forward_rows(
    int nb, int n_in, int width, int n_out, const float *x, const float *w1t, const float *b1,
    const uint8_t *kept, float scale, const float *w2, const float *b2, float *out) {
    vec acc[BLOCK][n_out > 0 ? n_out : 1]; /* on the stack: a vector needs its own alignment */
    float tail[BLOCK][n_out > 0 ? n_out : 1];
    const int body = width - width % LANES;
    for (int i = 0; i < nb; i++)
        for (int c = 0; c < n_out; c++) acc[i][c] = (vec){0};
    for (int j = 0; j < body; j += LANES) {
        vec h[BLOCK];
        for (int i = 0; i < nb; i++) h[i] = load(b1 + j);
        for (int k = 0; k < n_in; k++) {
            const vec w = load(w1t + (int64_t)k * width + j);
            for (int i = 0; i < nb; i++) h[i] += x[i * n_in + k] * w;
        }
        for (int i = 0; i < nb; i++) {
            h[i] = relu_vec(h[i]);
            if (kept) h[i] *= dropout(kept + (int64_t)i * width + j, scale);
        }
        for (int c = 0; c < n_out; c++) {
            const vec w = load(w2 + (int64_t)c * width + j);
            for (int i = 0; i < nb; i++) acc[i][c] += h[i] * w;
        }
    }
    for (int i = 0; i < nb; i++) {
        forward_tail(n_in, width, n_out, body, x + i * n_in, w1t, b1, kept ? kept + (int64_t)i * width : NULL,
                     scale, w2, tail[i]);
        for (int c = 0; c < n_out; c++) out[i * n_out + c] = b2[c] + (hsum(acc[i][c]) + tail[i][c]);
    }
}

static inline __attribute__((always_inline)) void forward(
    int64_t rows, int n_in, int width, int n_out, const float *x, const float *w1t, const float *b1,
    const uint8_t *kept, float scale, const float *w2, const float *b2, float *out) {
    int64_t r = 0;
    for (; r + BLOCK <= rows; r += BLOCK)
        if (kept) /* two copies of the loop, neither testing `kept` inside */
            forward_rows(BLOCK, n_in, width, n_out, x + r * n_in, w1t, b1, kept + r * width, scale, w2, b2,
                         out + r * n_out);
        else
            forward_rows(BLOCK, n_in, width, n_out, x + r * n_in, w1t, b1, NULL, scale, w2, b2, out + r * n_out);
    for (; r < rows; r++)
        forward_rows(1, n_in, width, n_out, x + r * n_in, w1t, b1, kept ? kept + r * width : NULL, scale, w2,
                     b2, out + r * n_out);
}

void mlp_forward(int64_t rows, int n_in, int width, int n_out, const float *x, const float *w1t,
                 const float *b1, const uint8_t *kept, float scale, const float *w2, const float *b2, float *out) {
    if (n_in == ETT && n_out == ETT) /* constant channel counts: loops unrolled, sums kept in registers */
        forward(rows, ETT, width, ETT, x, w1t, b1, kept, scale, w2, b2, out);
    else
        forward(rows, n_in, width, n_out, x, w1t, b1, kept, scale, w2, b2, out);
}

/* forward_tail's backward for one row: its weight-gradient terms accumulated, its grad_x terms in tail. */
static __attribute__((noinline)) void backward_tail(
    int n_in, int width, int n_out, int body, const float *xr, const float *w1t, const float *b1,
    const uint8_t *nr, float scale, const float *w2, const float *gr, float *grad_w1t, float *grad_b1,
    float *grad_w2, float *tail) {
    for (int k = 0; k < n_in; k++) tail[k] = 0.0f;
    for (int j = body; j < width; j++) {
        float a = b1[j], g = 0.0f;
        for (int k = 0; k < n_in; k++) a += xr[k] * w1t[(int64_t)k * width + j];
        const float n = nr ? (nr[j] ? scale : 0.0f) : 1.0f, h = relu(a) * n;
        for (int c = 0; c < n_out; c++) {
            g += gr[c] * w2[(int64_t)c * width + j];
            grad_w2[(int64_t)c * width + j] += gr[c] * h;
        }
        const float ga = a > 0.0f ? g * n : 0.0f;
        grad_b1[j] += ga;
        for (int k = 0; k < n_in; k++) {
            grad_w1t[(int64_t)k * width + j] += xr[k] * ga;
            tail[k] += ga * w1t[(int64_t)k * width + j];
        }
    }
}

/* The backward of forward_rows for its nb rows: grad_x written, the weight gradients accumulated. */
static inline __attribute__((always_inline)) void backward_rows(
    int nb, int n_in, int width, int n_out, const float *x, const float *w1t, const float *b1,
    const uint8_t *kept, float scale, const float *w2, const float *grad_out, float *grad_x, float *grad_w1t,
    float *grad_b1, float *grad_w2) {
    vec acc[BLOCK][n_in > 0 ? n_in : 1];
    float tail[BLOCK][n_in > 0 ? n_in : 1];
    const int body = width - width % LANES;
    const vec zero = {0};
    for (int i = 0; i < nb; i++)
        for (int k = 0; k < n_in; k++) acc[i][k] = (vec){0};
    for (int j = 0; j < body; j += LANES) {
        vec a[BLOCK], h[BLOCK], g[BLOCK], n[BLOCK];
        for (int i = 0; i < nb; i++) a[i] = load(b1 + j);
        for (int k = 0; k < n_in; k++) {
            const vec w = load(w1t + (int64_t)k * width + j);
            for (int i = 0; i < nb; i++) a[i] += x[i * n_in + k] * w;
        }
        for (int i = 0; i < nb; i++) {
            n[i] = kept ? dropout(kept + (int64_t)i * width + j, scale) : (vec){0} + 1.0f;
            h[i] = relu_vec(a[i]);
            if (kept) h[i] *= n[i];
            g[i] = (vec){0};
        }
        for (int c = 0; c < n_out; c++) {
            float *gw = grad_w2 + (int64_t)c * width + j;
            const vec w = load(w2 + (int64_t)c * width + j);
            vec sum = load(gw);
            for (int i = 0; i < nb; i++) {
                const float gc = grad_out[i * n_out + c];
                g[i] += gc * w;
                sum += gc * h[i];
            }
            store(gw, sum);
        }
        vec sum_b = load(grad_b1 + j);
        for (int i = 0; i < nb; i++) {
            g[i] = (vec)((mask)(g[i] * n[i]) & (a[i] > zero)); /* relu's gradient: where its input was > 0 */
            sum_b += g[i];
        }
        store(grad_b1 + j, sum_b);
        for (int k = 0; k < n_in; k++) {
            float *gw = grad_w1t + (int64_t)k * width + j;
            const vec w = load(w1t + (int64_t)k * width + j);
            vec sum = load(gw);
            for (int i = 0; i < nb; i++) {
                sum += x[i * n_in + k] * g[i];
                acc[i][k] += g[i] * w;
            }
            store(gw, sum);
        }
    }
    for (int i = 0; i < nb; i++) {
        backward_tail(n_in, width, n_out, body, x + i * n_in, w1t, b1, kept ? kept + (int64_t)i * width : NULL,
                      scale, w2, grad_out + i * n_out, grad_w1t, grad_b1, grad_w2, tail[i]);
        for (int k = 0; k < n_in; k++) grad_x[i * n_in + k] = hsum(acc[i][k]) + tail[i][k];
    }
}

static inline __attribute__((always_inline)) void backward(
    int64_t rows, int n_in, int width, int n_out, const float *x, const float *w1t, const float *b1,
    const uint8_t *kept, float scale, const float *w2, const float *grad_out, float *grad_x, float *grad_w1t,
    float *grad_b1, float *grad_w2) {
    int64_t r = 0;
    for (; r + BLOCK <= rows; r += BLOCK)
        if (kept)
            backward_rows(BLOCK, n_in, width, n_out, x + r * n_in, w1t, b1, kept + r * width, scale, w2,
                          grad_out + r * n_out, grad_x + r * n_in, grad_w1t, grad_b1, grad_w2);
        else
            backward_rows(BLOCK, n_in, width, n_out, x + r * n_in, w1t, b1, NULL, scale, w2, grad_out + r * n_out,
                          grad_x + r * n_in, grad_w1t, grad_b1, grad_w2);
    for (; r < rows; r++)
        backward_rows(1, n_in, width, n_out, x + r * n_in, w1t, b1, kept ? kept + r * width : NULL, scale, w2,
                      grad_out + r * n_out, grad_x + r * n_in, grad_w1t, grad_b1, grad_w2);
}

/* Given grad_out [rows, n_out]: grad_x [rows, n_in] written; grad_w1t [n_in, width], grad_b1 [width] and
   grad_w2 [n_out, width] accumulated (the caller zeroes them). The hidden row is recomputed, not stored. */
void mlp_backward(int64_t rows, int n_in, int width, int n_out, const float *x, const float *w1t,
                  const float *b1, const uint8_t *kept, float scale, const float *w2, const float *grad_out, float *grad_x,
                  float *grad_w1t, float *grad_b1, float *grad_w2) {
    if (n_in == ETT && n_out == ETT)
        backward(rows, ETT, width, ETT, x, w1t, b1, kept, scale, w2, grad_out, grad_x, grad_w1t, grad_b1,
                 grad_w2);
    else
        backward(rows, n_in, width, n_out, x, w1t, b1, kept, scale, w2, grad_out, grad_x, grad_w1t, grad_b1,
                 grad_w2);
}
