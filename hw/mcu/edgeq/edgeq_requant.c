/* edgeq requantization in portable C99: see edgeq_requant.h and docs/DESIGN.md. */
#include "edgeq_requant.h"

/* The kernels rely on >> of a negative value being an arithmetic (flooring) shift. */
typedef char edgeq_arithmetic_shift_check[((-8) >> 1) == -4 ? 1 : -1];

static int64_t round_shift(int64_t v, int shift, int rounding)
{
    uint64_t rem, half;
    int64_t floor;
    int up, negative;

    if (shift <= 0) /* exact: callers keep v * 2^-shift inside int64 */
        return (int64_t)((uint64_t)v << -shift);
    floor = v >> shift;
    rem = (uint64_t)v & (((uint64_t)1 << shift) - 1); /* v - floor * 2^shift, in [0, 2^shift) */
    half = (uint64_t)1 << (shift - 1);
    negative = v < 0;
    switch (rounding) {
    case EDGEQ_ROUND_FLOOR: up = 0; break;
    case EDGEQ_ROUND_TOWARD_ZERO: up = negative && rem != 0; break;
    case EDGEQ_ROUND_HALF_UP: up = rem >= half; break;
    case EDGEQ_ROUND_HALF_DOWN: up = rem > half; break;
    case EDGEQ_ROUND_HALF_TOWARD_ZERO: up = rem > half || (rem == half && negative); break;
    case EDGEQ_ROUND_HALF_AWAY: up = rem > half || (rem == half && !negative); break;
    default: up = rem > half || (rem == half && (floor & 1)); break; /* HALF_EVEN */
    }
    return floor + up;
}

static int64_t overflow(int64_t v, int bits, int is_signed, int mode)
{
    const int64_t hi = is_signed ? ((int64_t)1 << (bits - 1)) - 1 : ((int64_t)1 << bits) - 1;
    int64_t lo = is_signed ? -hi - 1 : 0;

    switch (mode) {
    case EDGEQ_OVF_WRAP: {
        const uint64_t w = (uint64_t)v & (((uint64_t)1 << bits) - 1);
        return (is_signed && w > (uint64_t)hi) ? (int64_t)w - ((int64_t)1 << bits) : (int64_t)w;
    }
    case EDGEQ_OVF_SAT_ZERO:
        return (v < lo || v > hi) ? 0 : v;
    case EDGEQ_OVF_SAT_SYM:
        if (is_signed)
            lo = -hi;
        break;
    default:
        break;
    }
    return v < lo ? lo : (v > hi ? hi : v);
}

/* gemmlowp / TFLite: (a * b * 2) / 2^32, rounded half away from zero, saturating the one
 * overflowing case INT32_MIN * INT32_MIN. */
static int32_t saturating_rounding_doubling_high_mul(int32_t a, int32_t b)
{
    int64_t ab;

    if (a == INT32_MIN && b == INT32_MIN)
        return INT32_MAX;
    ab = (int64_t)a * b;
    ab += ab >= 0 ? ((int64_t)1 << 30) : 1 - ((int64_t)1 << 30);
    return (int32_t)(ab / ((int64_t)1 << 31)); /* C division truncates toward zero */
}

/* gemmlowp / TFLite: x / 2^exponent rounded half away from zero, exponent 0..31. */
static int32_t rounding_divide_by_pot(int32_t x, int exponent)
{
    const int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0);
    return (x >> exponent) + (remainder > threshold);
}

/* TFLite's MultiplyByQuantizedMultiplier with the Q31 multiplier and edgeq's shift c:
 * TFLite's shift is 31 - c (positive: a left shift before the multiply). */
static int32_t tflm_multiply(int32_t acc, int32_t multiplier, int shift)
{
    const int tflite_shift = 31 - shift;
    const int left = tflite_shift > 0 ? tflite_shift : 0;
    const int right = tflite_shift > 0 ? 0 : -tflite_shift;
    const int32_t x = (int32_t)((int64_t)acc * ((int64_t)1 << left)); /* fits: IR-validated */
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(x, multiplier), right);
}

static int bit_length(uint64_t v)
{
    int n = 0;
    while (v) {
        v >>= 1;
        n++;
    }
    return n;
}

/* The grid integer nearest to a / 2^shift: find the leading one, keep mantissa_bits below it,
 * round half to even, saturate at max_int (edgeq.numerics.round_to_grid). */
static int64_t minifloat_round(int64_t a, int shift, int mantissa_bits, int64_t max_int,
                               int is_signed)
{
    const uint64_t mag = a < 0 ? (uint64_t)0 - (uint64_t)a : (uint64_t)a;
    int lead, step;
    int64_t q;

    if (mag == 0)
        return 0;
    lead = bit_length(mag) - 1 - shift; /* floor(log2(|a| / 2^shift)) */
    step = lead - mantissa_bits > 0 ? lead - mantissa_bits : 0;
    q = round_shift((int64_t)mag, shift + step, EDGEQ_ROUND_HALF_EVEN);
    q = q > (max_int >> step) ? max_int : q << step;
    if (q > max_int)
        q = max_int;
    if (a < 0)
        q = is_signed ? -q : 0;
    return q;
}

/* Grid integer -> code: sign, exponent field, mantissa (edgeq.numerics.encode). */
static uint32_t minifloat_encode(int64_t q, int exponent_bits, int mantissa_bits, int is_signed)
{
    const uint64_t mag = q < 0 ? (uint64_t)0 - (uint64_t)q : (uint64_t)q;
    const uint64_t implicit = (uint64_t)1 << mantissa_bits;
    uint32_t code;

    if (mag >= implicit) {
        const int e = bit_length(mag) - mantissa_bits; /* lead - M + 1 */
        code = ((uint32_t)e << mantissa_bits) | (uint32_t)((mag >> (e - 1)) - implicit);
    } else {
        code = (uint32_t)mag;
    }
    if (is_signed && q < 0)
        code |= (uint32_t)1 << (exponent_bits + mantissa_bits);
    return code;
}

/* Code -> grid integer (edgeq.numerics.decode). */
int64_t edgeq_minifloat_decode(uint32_t code, int exponent_bits, int mantissa_bits,
                               int is_signed)
{
    const uint32_t e = (code >> mantissa_bits) & ((1u << exponent_bits) - 1);
    const uint32_t m = code & ((1u << mantissa_bits) - 1);
    const int64_t mag = e == 0 ? (int64_t)m
                               : (int64_t)(((uint64_t)1 << mantissa_bits) + m) << (e - 1);
    const int negative = is_signed && ((code >> (exponent_bits + mantissa_bits)) & 1);
    return negative ? -mag : mag;
}

int32_t edgeq_requantize(const edgeq_requant_t *rq, int64_t acc, int channel)
{
    const int32_t multiplier = rq->multiplier[channel];
    const int shift = rq->shift[channel];
    int64_t hi, lo, y;

    if (rq->kind == EDGEQ_RQ_MINIFLOAT) {
        y = minifloat_round(acc * multiplier, shift, rq->mantissa_bits, rq->max_int,
                            rq->is_signed);
        if (rq->relu && y < 0)
            y = 0;
        return (int32_t)minifloat_encode(y, rq->exponent_bits, rq->mantissa_bits, rq->is_signed);
    }
    /* The integer output's range; ReLU after saturation is a clamp at 0 (hi >= 0). */
    hi = rq->is_signed ? ((int64_t)1 << (rq->bits - 1)) - 1 : ((int64_t)1 << rq->bits) - 1;
    lo = (rq->is_signed && !rq->relu) ? -hi - 1 : 0;
    if (rq->kind == EDGEQ_RQ_TFLM) {
        y = tflm_multiply((int32_t)acc, multiplier, shift);
        return (int32_t)(y < lo ? lo : (y > hi ? hi : y));
    }
    /* HALF_UP, the dyadic default, is one add and one shift (|acc * M| < 2^62). */
    y = (rq->rounding == EDGEQ_ROUND_HALF_UP && shift > 0)
            ? (acc * multiplier + ((int64_t)1 << (shift - 1))) >> shift
            : round_shift(acc * multiplier, shift, rq->rounding);
    if (rq->overflow == EDGEQ_OVF_SAT)
        return (int32_t)(y < lo ? lo : (y > hi ? hi : y));
    y = overflow(y, rq->bits, rq->is_signed, rq->overflow);
    return (int32_t)(rq->relu && y < 0 ? 0 : y);
}

/* The building blocks under their public names (tests, hand-written layers). */
int64_t edgeq_round_shift(int64_t v, int shift, int rounding)
{
    return round_shift(v, shift, rounding);
}

int64_t edgeq_overflow(int64_t v, int bits, int is_signed, int mode)
{
    return overflow(v, bits, is_signed, mode);
}

int32_t edgeq_saturating_rounding_doubling_high_mul(int32_t a, int32_t b)
{
    return saturating_rounding_doubling_high_mul(a, b);
}

int32_t edgeq_rounding_divide_by_pot(int32_t x, int exponent)
{
    return rounding_divide_by_pot(x, exponent);
}

int32_t edgeq_tflm_multiply(int32_t acc, int32_t multiplier, int shift)
{
    return tflm_multiply(acc, multiplier, shift);
}

int64_t edgeq_minifloat_round(int64_t a, int shift, int mantissa_bits, int64_t max_int,
                              int is_signed)
{
    return minifloat_round(a, shift, mantissa_bits, max_int, is_signed);
}

uint32_t edgeq_minifloat_encode(int64_t q, int exponent_bits, int mantissa_bits, int is_signed)
{
    return minifloat_encode(q, exponent_bits, mantissa_bits, is_signed);
}
