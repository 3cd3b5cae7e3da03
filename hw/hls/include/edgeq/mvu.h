// The matrix-vector unit behind Dense and Conv.
//
// It computes N_OUT output channels from a window of K positions x CIN channels (K = 1 for
// Dense), in GROUPS groups: output channel o of group g reads input channels
// g*CIN/GROUPS .. (g+1)*CIN/GROUPS - 1 at every position (depthwise: GROUPS == CIN == N_OUT).
// The weight row of o is (K, CIN/GROUPS) flattened, FAN_IN = K * CIN / GROUPS entries, as in
// the IR's (C_out, *kernel, C_in/groups) layout.
//
// Folding (DESIGN.md): PE output channels and SIMD inputs per pipelined step, so one window
// takes (N_OUT/PE) * (FAN_IN/SIMD) steps; PE = N_OUT, SIMD = FAN_IN is fully parallel.
// The accumulator is the IR's exact width: the bias and any partial sum of the products lie in
// its range, so no step can overflow.
#ifndef EDGEQ_MVU_H
#define EDGEQ_MVU_H

#include "formats.h"
#include "requant.h"

namespace edgeq {

template <class CFG>
void mvu(const typename CFG::in_fmt::code_t x[CFG::K * CFG::CIN],
         typename CFG::out_fmt::code_t y[CFG::N_OUT],
         const typename CFG::w_rom_t w[CFG::N_OUT][CFG::FAN_IN],
         const typename CFG::b_rom_t b[CFG::N_OUT],
         const typename CFG::m_rom_t m[CFG::N_OUT],
         const typename CFG::s_rom_t s[CFG::N_OUT]) {
#pragma HLS INLINE
  static_assert(CFG::N_OUT % CFG::PE == 0, "PE must divide the output channels");
  static_assert(CFG::FAN_IN % CFG::SIMD == 0, "SIMD must divide the fan-in");
  static_assert(CFG::FAN_IN * CFG::GROUPS == CFG::K * CFG::CIN, "fan-in must be K*CIN/GROUPS");
  const int pe = CFG::PE;
  const int simd = CFG::SIMD;
  const int out_per_group = CFG::N_OUT / CFG::GROUPS;
  const int in_per_group = CFG::CIN / CFG::GROUPS;
  typedef product<typename CFG::w_fmt, typename CFG::in_fmt> mul;

  typename CFG::requant::acc_t acc[CFG::N_OUT];
#pragma HLS ARRAY_PARTITION variable=acc cyclic factor=pe
#pragma HLS ARRAY_PARTITION variable=w cyclic factor=pe dim=1
#pragma HLS ARRAY_PARTITION variable=w cyclic factor=simd dim=2

Bias:
  for (int o = 0; o < CFG::N_OUT; o++) {
#pragma HLS UNROLL factor=pe
    acc[o] = typename CFG::bias_t(b[o]);
  }
Fold:
  for (int nf = 0; nf < CFG::N_OUT / CFG::PE; nf++) {
    for (int sf = 0; sf < CFG::FAN_IN / CFG::SIMD; sf++) {
#pragma HLS PIPELINE II=1
      for (int p = 0; p < CFG::PE; p++) {
#pragma HLS UNROLL
        const int o = nf * CFG::PE + p;
        const int g = o / out_per_group;
        for (int q = 0; q < CFG::SIMD; q++) {
#pragma HLS UNROLL
          const int i = sf * CFG::SIMD + q;
          const int k = i / in_per_group;
          const int j = i % in_per_group;
          acc[o] += mul::apply(typename CFG::w_fmt::code_t(w[o][i]),
                               x[k * CFG::CIN + g * in_per_group + j]);
        }
      }
    }
  }
Requant:
  for (int o = 0; o < CFG::N_OUT; o++) {
#pragma HLS UNROLL factor=pe
    y[o] = CFG::requant::apply(acc[o], typename CFG::requant::mult_t(m[o]),
                               typename CFG::requant::shift_t(s[o]));
  }
}

}  // namespace edgeq

#endif
