/* edgeq requantization: the IR's numeric contract (docs/DESIGN.md) in portable C99.
 *
 * Every function here mirrors edgeq/numerics bit for bit:
 *   single rounding   y = overflow(round(acc * M / 2^c)), optional ReLU
 *   tflm              SaturatingRoundingDoublingHighMul, then RoundingDivideByPOT, clamp
 *   minifloat output  round acc * M / 2^c onto the format's integer grid (half to even,
 *                     saturating) and encode the result as a code.
 * Signed right shifts are arithmetic (as GCC, Clang and Arm compilers define them; checked
 * below at compile time).
 */
#ifndef EDGEQ_REQUANT_H
#define EDGEQ_REQUANT_H

#include <stdint.h>

/* Rounding of a right shift: the same names and order as edgeq.numerics.Rounding. */
enum {
    EDGEQ_ROUND_FLOOR,            /* AP_TRN */
    EDGEQ_ROUND_TOWARD_ZERO,      /* AP_TRN_ZERO */
    EDGEQ_ROUND_HALF_UP,          /* AP_RND: ties toward +inf */
    EDGEQ_ROUND_HALF_TOWARD_ZERO, /* AP_RND_ZERO */
    EDGEQ_ROUND_HALF_DOWN,        /* AP_RND_MIN_INF: ties toward -inf */
    EDGEQ_ROUND_HALF_AWAY,        /* AP_RND_INF: ties away from zero */
    EDGEQ_ROUND_HALF_EVEN         /* AP_RND_CONV */
};

/* Overflow handling of an integer output: edgeq.numerics.Overflow. */
enum { EDGEQ_OVF_WRAP, EDGEQ_OVF_SAT, EDGEQ_OVF_SAT_ZERO, EDGEQ_OVF_SAT_SYM };

/* What a requantization produces. */
enum {
    EDGEQ_RQ_INT,      /* single rounding to an integer type */
    EDGEQ_RQ_TFLM,     /* TFLite Micro double rounding to an integer type */
    EDGEQ_RQ_MINIFLOAT /* single rounding onto a minifloat grid, stored as a code */
};

typedef struct {
    const int32_t *multiplier; /* M per output channel, 1 .. 2^31-1 */
    const int8_t *shift;       /* c per output channel, -32 .. 62 (c <= 0: exact left shift) */
    uint8_t kind;              /* EDGEQ_RQ_* */
    uint8_t rounding;          /* EDGEQ_ROUND_* (EDGEQ_RQ_INT) */
    uint8_t overflow;          /* EDGEQ_OVF_* (EDGEQ_RQ_INT) */
    uint8_t relu;              /* clamp below at 0 */
    uint8_t bits;              /* integer output width, 1 .. 32 */
    uint8_t is_signed;         /* signed integer / minifloat output */
    uint8_t exponent_bits;     /* minifloat output: E */
    uint8_t mantissa_bits;     /* minifloat output: M */
    int32_t max_int;           /* minifloat output: largest finite grid integer */
} edgeq_requant_t;

/* The value to store for accumulator `acc` of output channel `channel`: an integer, or a
 * minifloat code. */
int32_t edgeq_requantize(const edgeq_requant_t *rq, int64_t acc, int channel);

/* The building blocks, exposed for tests and for hand-written layers. */
int64_t edgeq_round_shift(int64_t v, int shift, int rounding);
int64_t edgeq_overflow(int64_t v, int bits, int is_signed, int mode);
int32_t edgeq_saturating_rounding_doubling_high_mul(int32_t a, int32_t b);
int32_t edgeq_rounding_divide_by_pot(int32_t x, int exponent);
int32_t edgeq_tflm_multiply(int32_t acc, int32_t multiplier, int shift);
int64_t edgeq_minifloat_round(int64_t a, int shift, int mantissa_bits, int64_t max_int,
                              int is_signed);
uint32_t edgeq_minifloat_encode(int64_t q, int exponent_bits, int mantissa_bits,
                                int is_signed);
int64_t edgeq_minifloat_decode(uint32_t code, int exponent_bits, int mantissa_bits,
                               int is_signed);

#endif
