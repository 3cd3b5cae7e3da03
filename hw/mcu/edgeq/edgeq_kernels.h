/* edgeq layer kernels in portable C99, channels-last (vector (C), signal (L, C) run as an image
 * (1, L, C), image (H, W, C)).
 *
 * A kernel is a template: EDGEQ_DENSE(name, X, W, ACC, Y) defines `static void name(...)` for
 * input storage X, weight storage W, accumulator type ACC (int32_t, or int64_t when the IR's
 * accumulator is wider than 32 bits) and output storage Y. The generated model.c instantiates
 * exactly the variants it uses. Storage tags:
 *   i8 u8 i16 u16 i32   integers
 *   i4 u4               4-bit weights, two per byte, element 2k in the low nibble of byte k
 *   mf                  8-bit minifloat codes, decoded to the IR's grid integers by a table
 * Every accumulator starts at the bias and adds exact products; the IR's accumulator bound
 * guarantees every partial sum fits ACC. The arithmetic is the golden's
 * (edgeq/golden/interpreter.py): padding contributes zeros, max pooling compares decoded
 * values, averages are a sum followed by requantization.
 */
#ifndef EDGEQ_KERNELS_H
#define EDGEQ_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "edgeq_requant.h"

#define EDGEQ_T_i8 int8_t
#define EDGEQ_T_u8 uint8_t
#define EDGEQ_T_i16 int16_t
#define EDGEQ_T_u16 uint16_t
#define EDGEQ_T_i32 int32_t
#define EDGEQ_T_i4 uint8_t
#define EDGEQ_T_u4 uint8_t
#define EDGEQ_T_mf uint8_t

/* Element i of p as an integer (lut: code -> grid integer table of a minifloat tensor). */
#define EDGEQ_LD_i8(p, i, lut) ((int32_t)(p)[i])
#define EDGEQ_LD_u8(p, i, lut) ((int32_t)(p)[i])
#define EDGEQ_LD_i16(p, i, lut) ((int32_t)(p)[i])
#define EDGEQ_LD_u16(p, i, lut) ((int32_t)(p)[i])
#define EDGEQ_LD_i32(p, i, lut) ((int32_t)(p)[i])
#define EDGEQ_LD_i4(p, i, lut) \
    ((int32_t)((((p)[(i) >> 1] >> (((i) & 1) << 2)) & 15) ^ 8) - 8)
#define EDGEQ_LD_u4(p, i, lut) ((int32_t)(((p)[(i) >> 1] >> (((i) & 1) << 2)) & 15))
#define EDGEQ_LD_mf(p, i, lut) ((lut)[(p)[i]])

/* Cores with the DSP extension (Cortex-M4/M7/M33...): 8-bit dot products two at a time with
 * SMLAD on sign- or zero-extended byte pairs. Exact integer arithmetic, so the same results as
 * the portable loop (edgeq verify runs both: the host build and the Cortex-M4 build). Define
 * EDGEQ_NO_SIMD to use the portable loop everywhere. */
#if defined(__ARM_FEATURE_SIMD32) && !defined(EDGEQ_NO_SIMD)
#include <arm_acle.h>
#include <string.h>
#define EDGEQ_SIMD 1

static inline int32_t edgeq_dot8_simd(const uint8_t *x, int x_unsigned, const int8_t *w,
                                      size_t n, int32_t acc)
{
    size_t k = 0;
    for (; k + 4 <= n; k += 4) {
        uint32_t xv, wv;
        int16x2_t x02, x13;
        memcpy(&xv, x + k, 4); /* one unaligned word load each */
        memcpy(&wv, w + k, 4);
        if (x_unsigned) {
            x02 = (int16x2_t)__uxtb16(xv);
            x13 = (int16x2_t)__uxtb16((xv >> 8) | (xv << 24));
        } else {
            x02 = __sxtb16((int32_t)xv);
            x13 = __sxtb16((int32_t)((xv >> 8) | (xv << 24)));
        }
        acc = __smlad(x02, __sxtb16((int32_t)wv), acc);
        acc = __smlad(x13, __sxtb16((int32_t)((wv >> 8) | (wv << 24))), acc);
    }
    for (; k < n; k++)
        acc += (x_unsigned ? (int32_t)x[k] : (int32_t)(int8_t)x[k]) * w[k];
    return acc;
}
#else
#define EDGEQ_SIMD 0
#define edgeq_dot8_simd(x, x_unsigned, w, n, acc) (acc)
#endif
/* The storages the 8-bit path takes: activations i8 (1) or u8 (2), weights i8. */
#define EDGEQ_SIMD_X_i8 1
#define EDGEQ_SIMD_X_u8 2
#define EDGEQ_SIMD_X_i16 0
#define EDGEQ_SIMD_X_u16 0
#define EDGEQ_SIMD_X_i32 0
#define EDGEQ_SIMD_X_mf 0
#define EDGEQ_SIMD_W_i8 1
#define EDGEQ_SIMD_W_u8 0
#define EDGEQ_SIMD_W_i16 0
#define EDGEQ_SIMD_W_u16 0
#define EDGEQ_SIMD_W_i4 0
#define EDGEQ_SIMD_W_u4 0
#define EDGEQ_SIMD_W_mf 0

/* acc += sum of x[xi + k] * w[wi + k] for k < n, four products per step (a partial sum of
 * products, so inside the accumulator's bound). */
#define EDGEQ_DOT(ACC, X, W, acc, x, xi, w, wi, n, xlut, wlut)                                \
    do {                                                                                     \
        const size_t n_ = (size_t)(n), xi_ = (xi), wi_ = (wi);                               \
        size_t k_ = 0;                                                                       \
        if (EDGEQ_SIMD && EDGEQ_SIMD_X_##X && EDGEQ_SIMD_W_##W && sizeof(ACC) == 4) {        \
            (acc) = (ACC)edgeq_dot8_simd((const uint8_t *)(x) + xi_, EDGEQ_SIMD_X_##X == 2,  \
                                         (const int8_t *)(w) + wi_, n_, (int32_t)(acc));     \
            k_ = n_;                                                                         \
        }                                                                                    \
        for (; k_ + 4 <= n_; k_ += 4)                                                        \
            (acc) += (ACC)EDGEQ_LD_##X(x, xi_ + k_, xlut) * EDGEQ_LD_##W(w, wi_ + k_, wlut)  \
                     + (ACC)EDGEQ_LD_##X(x, xi_ + k_ + 1, xlut)                              \
                           * EDGEQ_LD_##W(w, wi_ + k_ + 1, wlut)                             \
                     + (ACC)EDGEQ_LD_##X(x, xi_ + k_ + 2, xlut)                              \
                           * EDGEQ_LD_##W(w, wi_ + k_ + 2, wlut)                             \
                     + (ACC)EDGEQ_LD_##X(x, xi_ + k_ + 3, xlut)                              \
                           * EDGEQ_LD_##W(w, wi_ + k_ + 3, wlut);                            \
        for (; k_ < n_; k_++)                                                                \
            (acc) += (ACC)EDGEQ_LD_##X(x, xi_ + k_, xlut) * EDGEQ_LD_##W(w, wi_ + k_, wlut); \
    } while (0)

typedef struct {
    int in_features, out_features;
    const void *weight;             /* (out_features, in_features) */
    const void *bias;               /* ACC per output, or NULL */
    const int32_t *x_lut, *w_lut;   /* minifloat decode tables, or NULL */
    edgeq_requant_t rq;
} edgeq_dense_t;

typedef struct {
    int in_h, in_w, in_c, out_h, out_w, out_c;
    int k_h, k_w, stride_h, stride_w, pad_h, pad_w, groups;
    const void *weight;             /* (out_c, k_h, k_w, in_c / groups) */
    const void *bias;               /* ACC per output channel, or NULL */
    const int32_t *x_lut, *w_lut;
    edgeq_requant_t rq;
} edgeq_conv_t;

typedef struct {
    int in_h, in_w, channels, out_h, out_w;
    int k_h, k_w, stride_h, stride_w;  /* global average pooling: the whole input */
    const int32_t *x_lut;
    edgeq_requant_t rq;                /* average pooling only */
} edgeq_pool_t;

typedef struct {
    int positions, channels;
    const void *k_a, *k_b;          /* ACC per channel: M_i * 2^(c - c_i) */
    const int32_t *a_lut, *b_lut;
    edgeq_requant_t rq;
} edgeq_add_t;

#define EDGEQ_DENSE(NAME, X, W, ACC, Y)                                                       \
    static void NAME(const edgeq_dense_t *p, const EDGEQ_T_##X *x, EDGEQ_T_##Y *y)             \
    {                                                                                        \
        const EDGEQ_T_##W *w = (const EDGEQ_T_##W *)p->weight;                                \
        const ACC *bias = (const ACC *)p->bias;                                              \
        size_t row = 0;                                                                      \
        int o;                                                                               \
        for (o = 0; o < p->out_features; o++, row += (size_t)p->in_features) {               \
            ACC acc = bias ? bias[o] : 0;                                                    \
            EDGEQ_DOT(ACC, X, W, acc, x, 0, w, row, p->in_features, p->x_lut, p->w_lut);     \
            y[o] = (EDGEQ_T_##Y)edgeq_requantize(&p->rq, acc, o);                            \
        }                                                                                    \
    }

/* General convolution (any groups); windows are clipped to the input, so padding adds 0. */
#define EDGEQ_CONV(NAME, X, W, ACC, Y)                                                        \
    static void NAME(const edgeq_conv_t *p, const EDGEQ_T_##X *x, EDGEQ_T_##Y *y)              \
    {                                                                                        \
        const EDGEQ_T_##W *w = (const EDGEQ_T_##W *)p->weight;                                \
        const ACC *bias = (const ACC *)p->bias;                                              \
        const int cin = p->in_c / p->groups, cout = p->out_c / p->groups;                    \
        const size_t w_row = (size_t)p->k_h * p->k_w * cin;                                  \
        size_t out = 0;                                                                      \
        int oy, ox, o, ky, kx;                                                               \
        for (oy = 0; oy < p->out_h; oy++) {                                                  \
            const int iy = oy * p->stride_h - p->pad_h;                                      \
            const int ky0 = iy < 0 ? -iy : 0;                                                \
            const int ky1 = p->in_h - iy < p->k_h ? p->in_h - iy : p->k_h;                   \
            for (ox = 0; ox < p->out_w; ox++) {                                              \
                const int ix = ox * p->stride_w - p->pad_w;                                  \
                const int kx0 = ix < 0 ? -ix : 0;                                            \
                const int kx1 = p->in_w - ix < p->k_w ? p->in_w - ix : p->k_w;               \
                for (o = 0; o < p->out_c; o++, out++) {                                      \
                    ACC acc = bias ? bias[o] : 0;                                            \
                    for (ky = ky0; ky < ky1; ky++) {                                         \
                        size_t xi = ((size_t)(iy + ky) * p->in_w + (size_t)(ix + kx0)) * p->in_c \
                                    + (size_t)(o / cout) * cin;                              \
                        size_t wi = o * w_row + ((size_t)ky * p->k_w + kx0) * cin;           \
                        if (p->groups == 1) /* the window row is contiguous */               \
                            EDGEQ_DOT(ACC, X, W, acc, x, xi, w, wi, (kx1 - kx0) * cin,       \
                                      p->x_lut, p->w_lut);                                   \
                        else                                                                 \
                            for (kx = kx0; kx < kx1; kx++, xi += p->in_c, wi += cin)         \
                                EDGEQ_DOT(ACC, X, W, acc, x, xi, w, wi, cin, p->x_lut,       \
                                          p->w_lut);                                         \
                    }                                                                        \
                    y[out] = (EDGEQ_T_##Y)edgeq_requantize(&p->rq, acc, o);                  \
                }                                                                            \
            }                                                                                \
        }                                                                                    \
    }

/* Depthwise convolution: groups == in_c == out_c, one input channel per output channel. */
#define EDGEQ_DEPTHWISE(NAME, X, W, ACC, Y)                                                   \
    static void NAME(const edgeq_conv_t *p, const EDGEQ_T_##X *x, EDGEQ_T_##Y *y)              \
    {                                                                                        \
        const EDGEQ_T_##W *w = (const EDGEQ_T_##W *)p->weight;                                \
        const ACC *bias = (const ACC *)p->bias;                                              \
        const int C = p->out_c, taps = p->k_h * p->k_w;                                      \
        size_t out = 0;                                                                      \
        int oy, ox, o, ky, kx;                                                               \
        for (oy = 0; oy < p->out_h; oy++) {                                                  \
            const int iy = oy * p->stride_h - p->pad_h;                                      \
            const int ky0 = iy < 0 ? -iy : 0;                                                \
            const int ky1 = p->in_h - iy < p->k_h ? p->in_h - iy : p->k_h;                   \
            for (ox = 0; ox < p->out_w; ox++) {                                              \
                const int ix = ox * p->stride_w - p->pad_w;                                  \
                const int kx0 = ix < 0 ? -ix : 0;                                            \
                const int kx1 = p->in_w - ix < p->k_w ? p->in_w - ix : p->k_w;               \
                for (o = 0; o < C; o++, out++) {                                             \
                    ACC acc = bias ? bias[o] : 0;                                            \
                    for (ky = ky0; ky < ky1; ky++) {                                         \
                        size_t xi = ((size_t)(iy + ky) * p->in_w + (size_t)(ix + kx0)) * C + o; \
                        size_t wi = (size_t)o * taps + (size_t)ky * p->k_w + kx0;            \
                        for (kx = kx0; kx < kx1; kx++, xi += C, wi++)                        \
                            acc += (ACC)EDGEQ_LD_##X(x, xi, p->x_lut)                        \
                                   * EDGEQ_LD_##W(w, wi, p->w_lut);                          \
                    }                                                                        \
                    y[out] = (EDGEQ_T_##Y)edgeq_requantize(&p->rq, acc, o);                  \
                }                                                                            \
            }                                                                                \
        }                                                                                    \
    }

/* Max pooling (no padding): copies the stored element of the largest decoded value. */
#define EDGEQ_MAXPOOL(NAME, X)                                                                \
    static void NAME(const edgeq_pool_t *p, const EDGEQ_T_##X *x, EDGEQ_T_##X *y)              \
    {                                                                                        \
        const int C = p->channels;                                                           \
        size_t out = 0;                                                                      \
        int oy, ox, c, ky, kx;                                                               \
        for (oy = 0; oy < p->out_h; oy++)                                                    \
            for (ox = 0; ox < p->out_w; ox++)                                                \
                for (c = 0; c < C; c++, out++) {                                             \
                    const size_t first = ((size_t)oy * p->stride_h * p->in_w                 \
                                          + (size_t)ox * p->stride_w) * C + c;               \
                    size_t best = first;                                                     \
                    int32_t best_value = EDGEQ_LD_##X(x, first, p->x_lut);                   \
                    for (ky = 0; ky < p->k_h; ky++)                                          \
                        for (kx = 0; kx < p->k_w; kx++) {                                    \
                            const size_t i = first + ((size_t)ky * p->in_w + kx) * C;        \
                            const int32_t v = EDGEQ_LD_##X(x, i, p->x_lut);                  \
                            if (v > best_value) {                                            \
                                best_value = v;                                              \
                                best = i;                                                    \
                            }                                                                \
                        }                                                                    \
                    y[out] = x[best];                                                        \
                }                                                                            \
    }

/* Average pooling (no padding): window sum, then requantization with 1/k folded into M. */
#define EDGEQ_AVGPOOL(NAME, X, ACC, Y)                                                        \
    static void NAME(const edgeq_pool_t *p, const EDGEQ_T_##X *x, EDGEQ_T_##Y *y)              \
    {                                                                                        \
        const int C = p->channels;                                                           \
        size_t out = 0;                                                                      \
        int oy, ox, c, ky, kx;                                                               \
        for (oy = 0; oy < p->out_h; oy++)                                                    \
            for (ox = 0; ox < p->out_w; ox++)                                                \
                for (c = 0; c < C; c++, out++) {                                             \
                    const size_t first = ((size_t)oy * p->stride_h * p->in_w                 \
                                          + (size_t)ox * p->stride_w) * C + c;               \
                    ACC acc = 0;                                                             \
                    for (ky = 0; ky < p->k_h; ky++)                                          \
                        for (kx = 0; kx < p->k_w; kx++)                                      \
                            acc += EDGEQ_LD_##X(x, first + ((size_t)ky * p->in_w + kx) * C,  \
                                                p->x_lut);                                   \
                    y[out] = (EDGEQ_T_##Y)edgeq_requantize(&p->rq, acc, c);                  \
                }                                                                            \
    }

/* Global average pooling: the sum over every position, then requantization. */
#define EDGEQ_GLOBAL_AVGPOOL(NAME, X, ACC, Y)                                                 \
    static void NAME(const edgeq_pool_t *p, const EDGEQ_T_##X *x, EDGEQ_T_##Y *y)              \
    {                                                                                        \
        const int C = p->channels;                                                           \
        const size_t positions = (size_t)p->in_h * p->in_w;                                  \
        size_t i;                                                                            \
        int c;                                                                               \
        for (c = 0; c < C; c++) {                                                            \
            ACC acc = 0;                                                                     \
            for (i = 0; i < positions; i++)                                                  \
                acc += EDGEQ_LD_##X(x, i * C + c, p->x_lut);                                 \
            y[c] = (EDGEQ_T_##Y)edgeq_requantize(&p->rq, acc, c);                            \
        }                                                                                    \
    }

/* Residual add: a * k_a + b * k_b per channel, rounded once by the requantization. */
#define EDGEQ_ADD(NAME, A, B, ACC, Y)                                                         \
    static void NAME(const edgeq_add_t *p, const EDGEQ_T_##A *a, const EDGEQ_T_##B *b,        \
                     EDGEQ_T_##Y *y)                                                         \
    {                                                                                        \
        const ACC *ka = (const ACC *)p->k_a, *kb = (const ACC *)p->k_b;                      \
        size_t i = 0;                                                                        \
        int n, c;                                                                            \
        for (n = 0; n < p->positions; n++)                                                   \
            for (c = 0; c < p->channels; c++, i++) {                                         \
                const ACC acc = (ACC)EDGEQ_LD_##A(a, i, p->a_lut) * ka[c]                    \
                                + (ACC)EDGEQ_LD_##B(b, i, p->b_lut) * kb[c];                 \
                y[i] = (EDGEQ_T_##Y)edgeq_requantize(&p->rq, acc, c);                        \
            }                                                                                \
    }

#endif
