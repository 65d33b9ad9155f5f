/* torch's CPU Bernoulli(p) draws, the same bits, vectorisable.

   torch fills a float tensor's Bernoulli(p) mask one element at a time: each element takes two words of
   the generator's MT19937 (hi, then lo), u = ((hi << 32 | lo) & (2^53 - 1)) * 2^-53, and is 1 when u < p.
   Here whole blocks of 624 words are twisted and tempered at once and the comparison is done on integers:
   x * 2^-53 < p exactly when x < ceil(p * 2^53), both sides exact in double. The generator's state is
   torch's serialised one (torch.get_rng_state()), updated in place, so the caller sets it back and the
   stream goes on exactly where torch's own kernel would have left it. */

#include <stdint.h>
#include <string.h>

#define N 624
#define M 397

/* torch.get_rng_state()'s layout (CPUGeneratorImplStateLegacy): uint64 seed, int32 left, int32 seeded,
   uint64 next, uint64 state[624], ... */
#define OFFSET_LEFT 8
#define OFFSET_NEXT 16
#define OFFSET_STATE 24

static inline uint32_t twist(uint32_t u, uint32_t v) {
    return (((u & 0x80000000u) | (v & 0x7fffffffu)) >> 1) ^ ((v & 1u) ? 0x9908b0dfu : 0u);
}

/* An element's 53 random bits: the low 21 of its first word above all 32 of its second. */
static inline uint64_t draw(const uint32_t *pair) { return ((uint64_t)(pair[0] & 0x1fffffu) << 32) | pair[1]; }

static void next_block(uint32_t *mt) {
    uint32_t next[N];
    int i;
    for (i = 0; i < N - M; i++) next[i] = mt[i + M] ^ twist(mt[i], mt[i + 1]);
    for (; i < N - 1; i++) next[i] = next[i + M - N] ^ twist(mt[i], mt[i + 1]);
    next[N - 1] = next[M - 1] ^ twist(mt[N - 1], next[0]);
    memcpy(mt, next, sizeof next);
}

static void temper(const uint32_t *in, uint32_t *out, int n) {
    for (int i = 0; i < n; i++) {
        uint32_t y = in[i];
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c5680u;
        y ^= (y << 15) & 0xefc60000u;
        y ^= y >> 18;
        out[i] = y;
    }
}

/* Where a run of draws goes: 1.0f/0.0f into `floats`, or 1/0 into `bytes` and, with `x`, the dropout
   out[i] = x[i] · (kept ? scale : 0), the multiplication torch's dropout does (x times its noise tensor). */
typedef struct {
    float *floats;
    uint8_t *bytes;
    const float *x;
    float *out;
    float scale;
    uint64_t threshold;
} Sink;

static void emit(const Sink *sink, int64_t at, const uint32_t *words, int count) {
    if (sink->floats) {
        for (int j = 0; j < count; j++) sink->floats[at + j] = draw(words + 2 * j) < sink->threshold ? 1.0f : 0.0f;
        return;
    }
    uint8_t *restrict kept = sink->bytes + at;
    const uint64_t threshold = sink->threshold;
    if (!sink->x) {
        for (int j = 0; j < count; j++) kept[j] = draw(words + 2 * j) < threshold;
        return;
    }
    const float *restrict x = sink->x + at;
    float *restrict out = sink->out + at;
    const float scale = sink->scale;
    for (int j = 0; j < count; j++) {
        const int keep = draw(words + 2 * j) < threshold;
        kept[j] = (uint8_t)keep;
        out[j] = x[j] * (keep ? scale : 0.0f);
    }
}

static void run(uint8_t *state, const Sink *sink, int64_t n) {
    int32_t left;
    uint64_t next;
    uint32_t mt[N];
    uint64_t wide[N];
    memcpy(&left, state + OFFSET_LEFT, sizeof left);
    memcpy(&next, state + OFFSET_NEXT, sizeof next);
    memcpy(wide, state + OFFSET_STATE, sizeof wide);
    for (int i = 0; i < N; i++) mt[i] = (uint32_t)wide[i];

    /* Words still unused in the current block: positions next .. next + left - 2 (torch regenerates when
       a draw finds left == 1). A pending hi word waits in `carry` across a block boundary. */
    uint32_t words[2 * N];
    int have_carry = 0;
    uint32_t carry = 0;
    int64_t done = 0;
    while (done < n) {
        if (left == 1) {
            next_block(mt);
            left = N + 1;
            next = 0;
        }
        int avail = left - 1;
        int start = 0;
        if (have_carry) {
            words[0] = carry;
            start = 1;
        }
        int64_t want = 2 * (n - done) - start;
        int take = want < avail ? (int)want : avail;
        temper(mt + next, words + start, take);
        next += take;
        left -= take;
        int total = start + take;
        int pairs = total / 2;
        emit(sink, done, words, pairs);
        done += pairs;
        have_carry = total & 1;
        if (have_carry) carry = words[total - 1];
    }

    for (int i = 0; i < N; i++) wide[i] = mt[i];
    memcpy(state + OFFSET_LEFT, &left, sizeof left);
    memcpy(state + OFFSET_NEXT, &next, sizeof next);
    memcpy(state + OFFSET_STATE, wide, sizeof wide);
}

/* Fill floats[0..n) (or bytes[0..n) when floats is NULL) with 1 where the element's draw is below
   `threshold` (= ceil(p * 2^53)), else 0. */
void bernoulli(uint8_t *state, float *floats, uint8_t *bytes, int64_t n, uint64_t threshold) {
    const Sink sink = {floats, bytes, NULL, NULL, 0.0f, threshold};
    run(state, &sink, n);
}

/* Dropout's forward in one pass: kept[i] drawn as `bernoulli` draws it, out[i] = x[i] · (kept ? scale : 0). */
void dropout(uint8_t *state, const float *x, float *out, uint8_t *kept, int64_t n, uint64_t threshold,
             float scale) {
    const Sink sink = {NULL, kept, x, out, scale, threshold};
    run(state, &sink, n);
}

/* Its backward: grad_x[i] = grad[i] · (kept ? scale : 0), as torch multiplies the gradient by the noise. */
void dropout_backward(const float *restrict grad, const uint8_t *restrict kept, float *restrict grad_x, int64_t n,
                      float scale) {
    for (int64_t i = 0; i < n; i++) grad_x[i] = grad[i] * (kept[i] ? scale : 0.0f);
}
