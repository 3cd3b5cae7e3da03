// The layers, each in two forms: on arrays (the latency style, the whole tensor visible) and
// on streams of pixels (the dataflow style, one pixel per read). Both compute the same
// integers; a layer's CFG struct (generated) gives its formats, shapes, folding and
// requantization policy.
#ifndef EDGEQ_LAYERS_H
#define EDGEQ_LAYERS_H

#include "formats.h"
#include "mvu.h"
#include "requant.h"
#include "stream.h"
#include "trace.h"
#include "window.h"

namespace edgeq {

template <class CFG>
typename CFG::out_fmt::code_t requant_channel(const typename CFG::requant::acc_t& acc,
                                              const typename CFG::m_rom_t* m,
                                              const typename CFG::s_rom_t* s, int c) {
#pragma HLS INLINE
  return CFG::requant::apply(acc, typename CFG::requant::mult_t(m[c]),
                             typename CFG::requant::shift_t(s[c]));
}

// ---- Dense: (N_IN,) -> (N_OUT,) -------------------------------------------------------------

template <class CFG>
void dense(const typename CFG::in_fmt::code_t x[CFG::CIN], typename CFG::out_fmt::code_t y[CFG::N_OUT],
           const typename CFG::w_rom_t w[CFG::N_OUT][CFG::FAN_IN],
           const typename CFG::b_rom_t b[CFG::N_OUT],
           const typename CFG::m_rom_t m[CFG::N_OUT],
           const typename CFG::s_rom_t s[CFG::N_OUT]) {
  mvu<CFG>(x, y, w, b, m, s);
}

template <class CFG>
void dense_stream(hls::stream<pixel<typename CFG::in_fmt::code_t, CFG::CIN> >& in,
                  hls::stream<pixel<typename CFG::out_fmt::code_t, CFG::N_OUT> >& out,
                  const typename CFG::w_rom_t w[CFG::N_OUT][CFG::FAN_IN],
                  const typename CFG::b_rom_t b[CFG::N_OUT],
                  const typename CFG::m_rom_t m[CFG::N_OUT],
                  const typename CFG::s_rom_t s[CFG::N_OUT]) {
  pixel<typename CFG::in_fmt::code_t, CFG::CIN> x = in.read();
  pixel<typename CFG::out_fmt::code_t, CFG::N_OUT> y;
  mvu<CFG>(x.data, y.data, w, b, m, s);
  out.write(y);
}

// ---- Conv1d / Conv2d (grouped, depthwise) ---------------------------------------------------

template <class CFG>
void conv(const typename CFG::in_fmt::code_t x[CFG::IN_H * CFG::IN_W * CFG::CIN],
          typename CFG::out_fmt::code_t y[CFG::OUT_H * CFG::OUT_W * CFG::N_OUT],
          const typename CFG::w_rom_t w[CFG::N_OUT][CFG::FAN_IN],
          const typename CFG::b_rom_t b[CFG::N_OUT],
          const typename CFG::m_rom_t m[CFG::N_OUT],
          const typename CFG::s_rom_t s[CFG::N_OUT]) {
Positions:
  for (int oh = 0; oh < CFG::OUT_H; oh++) {
    for (int ow = 0; ow < CFG::OUT_W; ow++) {
      typename CFG::in_fmt::code_t win[CFG::K * CFG::CIN];
#pragma HLS ARRAY_PARTITION variable=win complete
      typename CFG::out_fmt::code_t px[CFG::N_OUT];
#pragma HLS ARRAY_PARTITION variable=px complete
      gather_window<CFG>(x, win, oh, ow);
      mvu<CFG>(win, px, w, b, m, s);
      for (int o = 0; o < CFG::N_OUT; o++) y[(oh * CFG::OUT_W + ow) * CFG::N_OUT + o] = px[o];
    }
  }
}

template <class CFG>
void conv_stream(hls::stream<pixel<typename CFG::in_fmt::code_t, CFG::CIN> >& in,
                 hls::stream<pixel<typename CFG::out_fmt::code_t, CFG::N_OUT> >& out,
                 const typename CFG::w_rom_t w[CFG::N_OUT][CFG::FAN_IN],
                 const typename CFG::b_rom_t b[CFG::N_OUT],
                 const typename CFG::m_rom_t m[CFG::N_OUT],
                 const typename CFG::s_rom_t s[CFG::N_OUT]) {
  typedef line_buffer<CFG, typename CFG::in_fmt::code_t> buffer_t;
  typename CFG::in_fmt::code_t rows[CFG::KH][buffer_t::PADDED_W][CFG::CIN];
#pragma HLS ARRAY_PARTITION variable=rows complete dim=1
#pragma HLS ARRAY_PARTITION variable=rows complete dim=3
Rows:
  for (int ph = 0; ph < buffer_t::PADDED_H; ph++) {
  Columns:
    for (int pw = 0; pw < buffer_t::PADDED_W; pw++) {
      buffer_t::shift_in(rows, in, ph, pw);
      if (buffer_t::window_ends(ph, pw)) {
        typename CFG::in_fmt::code_t win[CFG::K * CFG::CIN];
#pragma HLS ARRAY_PARTITION variable=win complete
        pixel<typename CFG::out_fmt::code_t, CFG::N_OUT> px;
        buffer_t::window(rows, win, ph, pw);
        mvu<CFG>(win, px.data, w, b, m, s);
        out.write(px);
      }
    }
  }
}

// ---- Pooling (no padding): max is exact, average is a window sum then requantization ---------

template <class CFG>
void max_window(const typename CFG::in_fmt::code_t win[CFG::K * CFG::CIN],
                typename CFG::in_fmt::code_t y[CFG::CIN]) {
#pragma HLS INLINE
  for (int c = 0; c < CFG::CIN; c++) {
#pragma HLS UNROLL
    typename CFG::in_fmt::code_t best = win[c];
    for (int k = 1; k < CFG::K; k++) {
      const typename CFG::in_fmt::code_t v = win[k * CFG::CIN + c];
      if (CFG::in_fmt::decode(v) > CFG::in_fmt::decode(best)) best = v;
    }
    y[c] = best;
  }
}

template <class CFG>
void avg_window(const typename CFG::in_fmt::code_t win[CFG::K * CFG::CIN],
                typename CFG::out_fmt::code_t y[CFG::CIN],
                const typename CFG::m_rom_t m[CFG::CIN],
                const typename CFG::s_rom_t s[CFG::CIN]) {
#pragma HLS INLINE
  for (int c = 0; c < CFG::CIN; c++) {
#pragma HLS UNROLL
    typename CFG::requant::acc_t sum = 0;
    for (int k = 0; k < CFG::K; k++) sum += CFG::in_fmt::decode(win[k * CFG::CIN + c]);
    y[c] = requant_channel<CFG>(sum, m, s, c);
  }
}

template <class CFG>
void max_pool(const typename CFG::in_fmt::code_t x[CFG::IN_H * CFG::IN_W * CFG::CIN],
              typename CFG::in_fmt::code_t y[CFG::OUT_H * CFG::OUT_W * CFG::CIN]) {
Positions:
  for (int oh = 0; oh < CFG::OUT_H; oh++) {
    for (int ow = 0; ow < CFG::OUT_W; ow++) {
#pragma HLS PIPELINE II=1
      typename CFG::in_fmt::code_t win[CFG::K * CFG::CIN];
      gather_window<CFG>(x, win, oh, ow);
      max_window<CFG>(win, &y[(oh * CFG::OUT_W + ow) * CFG::CIN]);
    }
  }
}

template <class CFG>
void avg_pool(const typename CFG::in_fmt::code_t x[CFG::IN_H * CFG::IN_W * CFG::CIN],
              typename CFG::out_fmt::code_t y[CFG::OUT_H * CFG::OUT_W * CFG::CIN],
              const typename CFG::m_rom_t m[CFG::CIN],
              const typename CFG::s_rom_t s[CFG::CIN]) {
Positions:
  for (int oh = 0; oh < CFG::OUT_H; oh++) {
    for (int ow = 0; ow < CFG::OUT_W; ow++) {
#pragma HLS PIPELINE II=1
      typename CFG::in_fmt::code_t win[CFG::K * CFG::CIN];
      gather_window<CFG>(x, win, oh, ow);
      avg_window<CFG>(win, &y[(oh * CFG::OUT_W + ow) * CFG::CIN], m, s);
    }
  }
}

template <class CFG>
void max_pool_stream(hls::stream<pixel<typename CFG::in_fmt::code_t, CFG::CIN> >& in,
                     hls::stream<pixel<typename CFG::in_fmt::code_t, CFG::CIN> >& out) {
  typedef line_buffer<CFG, typename CFG::in_fmt::code_t> buffer_t;
  typename CFG::in_fmt::code_t rows[CFG::KH][buffer_t::PADDED_W][CFG::CIN];
#pragma HLS ARRAY_PARTITION variable=rows complete dim=1
#pragma HLS ARRAY_PARTITION variable=rows complete dim=3
Rows:
  for (int ph = 0; ph < buffer_t::PADDED_H; ph++) {
  Columns:
    for (int pw = 0; pw < buffer_t::PADDED_W; pw++) {
#pragma HLS PIPELINE II=1
      buffer_t::shift_in(rows, in, ph, pw);
      if (buffer_t::window_ends(ph, pw)) {
        typename CFG::in_fmt::code_t win[CFG::K * CFG::CIN];
        pixel<typename CFG::in_fmt::code_t, CFG::CIN> px;
        buffer_t::window(rows, win, ph, pw);
        max_window<CFG>(win, px.data);
        out.write(px);
      }
    }
  }
}

template <class CFG>
void avg_pool_stream(hls::stream<pixel<typename CFG::in_fmt::code_t, CFG::CIN> >& in,
                     hls::stream<pixel<typename CFG::out_fmt::code_t, CFG::CIN> >& out,
                     const typename CFG::m_rom_t m[CFG::CIN],
                     const typename CFG::s_rom_t s[CFG::CIN]) {
  typedef line_buffer<CFG, typename CFG::in_fmt::code_t> buffer_t;
  typename CFG::in_fmt::code_t rows[CFG::KH][buffer_t::PADDED_W][CFG::CIN];
#pragma HLS ARRAY_PARTITION variable=rows complete dim=1
#pragma HLS ARRAY_PARTITION variable=rows complete dim=3
Rows:
  for (int ph = 0; ph < buffer_t::PADDED_H; ph++) {
  Columns:
    for (int pw = 0; pw < buffer_t::PADDED_W; pw++) {
#pragma HLS PIPELINE II=1
      buffer_t::shift_in(rows, in, ph, pw);
      if (buffer_t::window_ends(ph, pw)) {
        typename CFG::in_fmt::code_t win[CFG::K * CFG::CIN];
        pixel<typename CFG::out_fmt::code_t, CFG::CIN> px;
        buffer_t::window(rows, win, ph, pw);
        avg_window<CFG>(win, px.data, m, s);
        out.write(px);
      }
    }
  }
}

// ---- Global average pooling: a sum over every position, then requantization -----------------

template <class CFG>
void global_avg_pool(const typename CFG::in_fmt::code_t x[CFG::POSITIONS * CFG::CIN],
                     typename CFG::out_fmt::code_t y[CFG::CIN],
                     const typename CFG::m_rom_t m[CFG::CIN],
                     const typename CFG::s_rom_t s[CFG::CIN]) {
  typename CFG::requant::acc_t sum[CFG::CIN];
#pragma HLS ARRAY_PARTITION variable=sum complete
  for (int c = 0; c < CFG::CIN; c++) sum[c] = 0;
Positions:
  for (int i = 0; i < CFG::POSITIONS; i++) {
#pragma HLS PIPELINE II=1
    for (int c = 0; c < CFG::CIN; c++) sum[c] += CFG::in_fmt::decode(x[i * CFG::CIN + c]);
  }
  for (int c = 0; c < CFG::CIN; c++) y[c] = requant_channel<CFG>(sum[c], m, s, c);
}

template <class CFG>
void global_avg_pool_stream(hls::stream<pixel<typename CFG::in_fmt::code_t, CFG::CIN> >& in,
                            hls::stream<pixel<typename CFG::out_fmt::code_t, CFG::CIN> >& out,
                            const typename CFG::m_rom_t m[CFG::CIN],
                            const typename CFG::s_rom_t s[CFG::CIN]) {
  typename CFG::requant::acc_t sum[CFG::CIN];
#pragma HLS ARRAY_PARTITION variable=sum complete
  for (int c = 0; c < CFG::CIN; c++) sum[c] = 0;
Positions:
  for (int i = 0; i < CFG::POSITIONS; i++) {
#pragma HLS PIPELINE II=1
    pixel<typename CFG::in_fmt::code_t, CFG::CIN> px = in.read();
    for (int c = 0; c < CFG::CIN; c++) sum[c] += CFG::in_fmt::decode(px.data[c]);
  }
  pixel<typename CFG::out_fmt::code_t, CFG::CIN> y;
  for (int c = 0; c < CFG::CIN; c++) y.data[c] = requant_channel<CFG>(sum[c], m, s, c);
  out.write(y);
}

// ---- Residual add: both inputs rescaled to a common shift, summed, rounded once --------------
// k[i][c] is input i's aligned multiplier M_i * 2^(c - c_i) (Add.aligned_multipliers()).

template <class CFG>
typename CFG::out_fmt::code_t add_one(const typename CFG::a_fmt::code_t& a,
                                      const typename CFG::b_fmt::code_t& b,
                                      const typename CFG::k_rom_t k[2][CFG::CIN],
                                      const typename CFG::m_rom_t m[CFG::CIN],
                                      const typename CFG::s_rom_t s[CFG::CIN], int c) {
#pragma HLS INLINE
  typename CFG::requant::acc_t acc = CFG::a_fmt::decode(a) * typename CFG::k_t(k[0][c]) +
                                     CFG::b_fmt::decode(b) * typename CFG::k_t(k[1][c]);
  return requant_channel<CFG>(acc, m, s, c);
}

template <class CFG>
void add(const typename CFG::a_fmt::code_t a[CFG::POSITIONS * CFG::CIN],
         const typename CFG::b_fmt::code_t b[CFG::POSITIONS * CFG::CIN],
         typename CFG::out_fmt::code_t y[CFG::POSITIONS * CFG::CIN],
         const typename CFG::k_rom_t k[2][CFG::CIN], const typename CFG::m_rom_t m[CFG::CIN],
         const typename CFG::s_rom_t s[CFG::CIN]) {
Positions:
  for (int i = 0; i < CFG::POSITIONS; i++) {
#pragma HLS PIPELINE II=1
    for (int c = 0; c < CFG::CIN; c++) {
      y[i * CFG::CIN + c] = add_one<CFG>(a[i * CFG::CIN + c], b[i * CFG::CIN + c], k, m, s, c);
    }
  }
}

template <class CFG>
void add_stream(hls::stream<pixel<typename CFG::a_fmt::code_t, CFG::CIN> >& a,
                hls::stream<pixel<typename CFG::b_fmt::code_t, CFG::CIN> >& b,
                hls::stream<pixel<typename CFG::out_fmt::code_t, CFG::CIN> >& out,
                const typename CFG::k_rom_t k[2][CFG::CIN], const typename CFG::m_rom_t m[CFG::CIN],
                const typename CFG::s_rom_t s[CFG::CIN]) {
Positions:
  for (int i = 0; i < CFG::POSITIONS; i++) {
#pragma HLS PIPELINE II=1
    pixel<typename CFG::a_fmt::code_t, CFG::CIN> pa = a.read();
    pixel<typename CFG::b_fmt::code_t, CFG::CIN> pb = b.read();
    pixel<typename CFG::out_fmt::code_t, CFG::CIN> y;
    for (int c = 0; c < CFG::CIN; c++) y.data[c] = add_one<CFG>(pa.data[c], pb.data[c], k, m, s, c);
    out.write(y);
  }
}

}  // namespace edgeq

#endif
