// Stream plumbing for the dataflow style: AXI-Stream words in and out of the top function,
// a fork for tensors read by two layers (residual connections), and reshapes between pixel
// shapes (Flatten gathers an image's pixels into one vector).
//
// AXI-Stream packing (DESIGN.md): one word per pixel (a vector is one pixel), element 0 in the
// least significant bits, TDATA rounded up to whole bytes, padding sign-extended from the last
// element (zero for unsigned integers and minifloat codes), TLAST on a sample's last word.
#ifndef EDGEQ_IO_H
#define EDGEQ_IO_H

#include "formats.h"
#include "stream.h"

namespace edgeq {

template <class FMT, int C, int W>
ap_uint<W> pack(const typename FMT::code_t v[C]) {
#pragma HLS INLINE
  const int B = FMT::BITS;
  ap_uint<W> d = 0;
  for (int c = 0; c < C; c++) d.range(c * B + B - 1, c * B) = v[c];
  if (C * B < W && v[C - 1] < 0) d.range(W - 1, C * B) = -1;
  return d;
}

template <class FMT, int C, int W>
void unpack(const ap_uint<W>& d, typename FMT::code_t v[C]) {
#pragma HLS INLINE
  const int B = FMT::BITS;
  for (int c = 0; c < C; c++) v[c] = d.range(c * B + B - 1, c * B);
}

template <class FMT, int C, int PIXELS, int W>
void axis_in(hls::stream<axis_word<W> >& in, hls::stream<pixel<typename FMT::code_t, C> >& out) {
Pixels:
  for (int i = 0; i < PIXELS; i++) {
#pragma HLS PIPELINE II=1
    axis_word<W> word = in.read();
    pixel<typename FMT::code_t, C> px;
    unpack<FMT, C, W>(word.data, px.data);
    out.write(px);
  }
}

template <class FMT, int C, int PIXELS, int W>
void axis_out(hls::stream<pixel<typename FMT::code_t, C> >& in, hls::stream<axis_word<W> >& out) {
Pixels:
  for (int i = 0; i < PIXELS; i++) {
#pragma HLS PIPELINE II=1
    pixel<typename FMT::code_t, C> px = in.read();
    axis_word<W> word;
    word.data = pack<FMT, C, W>(px.data);
    word.keep = -1;
    word.strb = -1;
    word.last = i == PIXELS - 1;
    out.write(word);
  }
}

// A tensor read by two layers: every pixel goes to both.
template <class T, int C, int PIXELS>
void fork(hls::stream<pixel<T, C> >& in, hls::stream<pixel<T, C> >& a, hls::stream<pixel<T, C> >& b) {
Pixels:
  for (int i = 0; i < PIXELS; i++) {
#pragma HLS PIPELINE II=1
    pixel<T, C> px = in.read();
    a.write(px);
    b.write(px);
  }
}

// Row-major reshape between (IN_PIXELS, IN_C) and (OUT_PIXELS, OUT_C): the element order is
// unchanged (channels-last), only the grouping into stream words changes.
template <class T, int IN_C, int IN_PIXELS, int OUT_C, int OUT_PIXELS>
void reshape(hls::stream<pixel<T, IN_C> >& in, hls::stream<pixel<T, OUT_C> >& out) {
  static_assert(IN_C * IN_PIXELS == OUT_C * OUT_PIXELS, "reshape keeps the element count");
  T flat[IN_C * IN_PIXELS];
Gather:
  for (int i = 0; i < IN_PIXELS; i++) {
#pragma HLS PIPELINE II=1
    pixel<T, IN_C> px = in.read();
    for (int c = 0; c < IN_C; c++) flat[i * IN_C + c] = px.data[c];
  }
Scatter:
  for (int i = 0; i < OUT_PIXELS; i++) {
#pragma HLS PIPELINE II=1
    pixel<T, OUT_C> px;
    for (int c = 0; c < OUT_C; c++) px.data[c] = flat[i * OUT_C + c];
    out.write(px);
  }
}

}  // namespace edgeq

#endif
