// Sliding windows over channels-last images (a 1-D signal is an image of height 1).
//
// Geometry (a CFG's members): IN_H x IN_W x CIN input, KH x KW kernel, stride SH, SW,
// symmetric zero padding PH, PW, OUT_H x OUT_W output positions. A window is
// KH*KW*CIN codes in (kh, kw, c) order, the order of the IR's weight rows.
#ifndef EDGEQ_WINDOW_H
#define EDGEQ_WINDOW_H

#include "formats.h"
#include "stream.h"

namespace edgeq {

// Parallel arrays: the window of output position (oh, ow) gathered from the whole input.
template <class CFG, class T>
void gather_window(const T x[CFG::IN_H * CFG::IN_W * CFG::CIN], T win[CFG::KH * CFG::KW * CFG::CIN],
                   int oh, int ow) {
#pragma HLS INLINE
  for (int kh = 0; kh < CFG::KH; kh++) {
    for (int kw = 0; kw < CFG::KW; kw++) {
      const int ih = oh * CFG::SH + kh - CFG::PH;
      const int iw = ow * CFG::SW + kw - CFG::PW;
      const bool inside = ih >= 0 && ih < CFG::IN_H && iw >= 0 && iw < CFG::IN_W;
      for (int c = 0; c < CFG::CIN; c++) {
        win[(kh * CFG::KW + kw) * CFG::CIN + c] =
            inside ? x[(ih * CFG::IN_W + iw) * CFG::CIN + c] : T(0);
      }
    }
  }
}

// Streams: a line buffer of the last KH rows of the zero-padded input, an array
// rows[KH][PADDED_W][CIN] that the layer declares (and partitions by row and channel, so one
// window is read per step). The layer walks the padded input in raster order, shifts in every
// position (a pixel read from the stream inside the image, zeros in the padding) and, where a
// window ends, reads the window out.
template <class CFG, class T>
struct line_buffer {
  static const int PADDED_H = CFG::IN_H + 2 * CFG::PH;
  static const int PADDED_W = CFG::IN_W + 2 * CFG::PW;

  static void shift_in(T rows[CFG::KH][PADDED_W][CFG::CIN],
                       hls::stream<pixel<T, CFG::CIN> >& in, int ph, int pw) {
#pragma HLS INLINE
    const bool inside = ph >= CFG::PH && ph < CFG::PH + CFG::IN_H && pw >= CFG::PW &&
                        pw < CFG::PW + CFG::IN_W;
    pixel<T, CFG::CIN> p;
    if (inside) {
      p = in.read();
    } else {
      for (int c = 0; c < CFG::CIN; c++) p.data[c] = 0;
    }
    for (int c = 0; c < CFG::CIN; c++) rows[ph % CFG::KH][pw][c] = p.data[c];
  }

  // (ph, pw) is the bottom-right corner of an output window.
  static bool window_ends(int ph, int pw) {
    const int top = ph - (CFG::KH - 1), left = pw - (CFG::KW - 1);
    return top >= 0 && left >= 0 && top % CFG::SH == 0 && left % CFG::SW == 0;
  }

  static void window(const T rows[CFG::KH][PADDED_W][CFG::CIN],
                     T win[CFG::KH * CFG::KW * CFG::CIN], int ph, int pw) {
#pragma HLS INLINE
    for (int kh = 0; kh < CFG::KH; kh++) {
      const int row = (ph - (CFG::KH - 1) + kh) % CFG::KH;
      for (int kw = 0; kw < CFG::KW; kw++) {
        for (int c = 0; c < CFG::CIN; c++) {
          win[(kh * CFG::KW + kw) * CFG::CIN + c] = rows[row][pw - (CFG::KW - 1) + kw][c];
        }
      }
    }
  }
};

}  // namespace edgeq

#endif
