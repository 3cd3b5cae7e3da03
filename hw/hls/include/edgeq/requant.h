// Requantization of an accumulator to an output code, per output channel (DESIGN.md):
// y = clamp(round(acc * M / 2^c)). Every policy has the same interface,
//   apply(acc, m[channel], s[channel]) -> output code,
// so the layers do not know which form a model uses.
#ifndef EDGEQ_REQUANT_H
#define EDGEQ_REQUANT_H

#include <ap_fixed.h>
#include <ap_int.h>

#include "formats.h"

namespace edgeq {

// The ap_fixed type whose assignment rounds and overflows like the output format.
template <class OUT, ap_q_mode Q, ap_o_mode O>
struct output_fixed;
template <int W, ap_q_mode Q, ap_o_mode O>
struct output_fixed<int_format<W, true>, Q, O> {
  typedef ap_fixed<W, W, Q, O> type;
};
template <int W, ap_q_mode Q, ap_o_mode O>
struct output_fixed<int_format<W, false>, Q, O> {
  typedef ap_ufixed<W, W, Q, O> type;
};

// Single rounding with ap_fixed semantics: the product acc * M is aligned to a common F
// fraction bits (shifted left by s = F - c, which is 0 when every channel has the same c),
// read as ap_fixed<P, P - F>, and assigned to ap_[u]fixed<W, W, Q, O>: rounding first, then
// overflow, exactly like the IR's named modes (HALF_UP is AP_RND, HALF_EVEN AP_RND_CONV, FLOOR
// AP_TRN, ...). The dyadic form is the HALF_UP case; fixed-point has M == 1. ReLU clamps at 0
// after the overflow mode. P holds acc * M << s exactly.
template <class OUT, int ACC, int MB, int SB, int P, int F, ap_q_mode Q, ap_o_mode O, bool RELU>
struct requant_single {
  typedef ap_int<ACC> acc_t;
  typedef ap_uint<MB> mult_t;
  typedef ap_uint<SB> shift_t;
  static typename OUT::code_t apply(const acc_t& acc, const mult_t& m, const shift_t& s) {
#pragma HLS INLINE
    ap_int<P> p = acc * m;
    p <<= s;
    ap_fixed<P, P - F> v;
    v.range(P - 1, 0) = p;
    typename output_fixed<OUT, Q, O>::type y = v;
    typename OUT::code_t q = y.range(OUT::BITS - 1, 0);
    if (RELU && q < 0) q = 0;
    return q;
  }
};

// A minifloat output: acc * M aligned as above, rounded onto the grid once (half to even),
// saturated, encoded. ReLU maps negatives to +0.
template <class OUT, int ACC, int MB, int SB, int P, int F, bool RELU>
struct requant_minifloat {
  typedef ap_int<ACC> acc_t;
  typedef ap_uint<MB> mult_t;
  typedef ap_uint<SB> shift_t;
  static typename OUT::code_t apply(const acc_t& acc, const mult_t& m, const shift_t& s) {
#pragma HLS INLINE
    ap_int<P> p = acc * m;
    p <<= s;
    if (RELU && p < 0) return 0;
    return OUT::template round_encode<P, F>(p);
  }
};

// TFLite Micro's double rounding (the MCU compatibility mode): SaturatingRoundingDoublingHighMul
// by the Q31 multiplier M, then RoundingDivideByPOT; s is the edgeq shift c (31 - c is TFLite's
// shift). The accumulator shifted left fits int32 (checked by the IR).
template <class OUT, int ACC, bool RELU>
struct requant_tflm {
  typedef ap_int<ACC> acc_t;
  typedef ap_uint<31> mult_t;
  typedef ap_uint<7> shift_t;
  static typename OUT::code_t apply(const acc_t& acc, const mult_t& m, const shift_t& s) {
#pragma HLS INLINE
    const int c = s.to_int();
    const int left = c < 31 ? 31 - c : 0;
    const int right = c > 31 ? c - 31 : 0;
    ap_int<64> a = acc;
    a <<= left;
    ap_int<64> ab = a * ap_int<64>(m);  // |a * m| < 2^62
    ap_int<64> nudge = ab >= 0 ? ap_int<64>(1LL << 30) : ap_int<64>(1 - (1LL << 30));
    ap_int<64> num = ab + nudge;
    // division by 2^31 truncating toward zero
    ap_int<64> high = num >= 0 ? ap_int<64>(num >> 31) : ap_int<64>(-((-num) >> 31));
    ap_int<64> mask = (ap_int<64>(1) << right) - 1;
    ap_int<64> remainder = high & mask;
    ap_int<64> threshold = (mask >> 1) + (high < 0 ? 1 : 0);
    ap_int<64> y = (high >> right) + (remainder > threshold ? 1 : 0);
    const long long lo = OUT::SIGNED && !RELU ? -(1LL << (OUT::BITS - 1)) : 0;
    const long long hi = OUT::SIGNED ? (1LL << (OUT::BITS - 1)) - 1 : (1LL << OUT::BITS) - 1;
    if (y < lo) y = lo;
    if (y > hi) y = hi;
    return typename OUT::code_t(y);
  }
};

}  // namespace edgeq

#endif
