// Element formats: how a tensor's elements are stored (code_t) and the exact integer each one
// stands for (value_t, decode). Integers are their own code. A minifloat is stored as its bit
// pattern and decodes to the exact integer on its grid (units of the smallest subnormal step),
// so every MAC downstream is an integer MAC (DESIGN.md, "Minifloat").
#ifndef EDGEQ_FORMATS_H
#define EDGEQ_FORMATS_H

#include <ap_int.h>
#include <stdint.h>

// Constant arrays (weights, biases, requantization parameters) are ROMs of their exact ap_int
// type in synthesis. In C-simulation they hold the same integers in a native type: ap_int's
// constructors are not constexpr, so exact-typed arrays would be initialized by generated code
// whose compilation dominates the C-simulation build. The layers convert every element to its
// exact type where they read it.
#ifdef __SYNTHESIS__
#define EDGEQ_ROM(exact, native) exact
#else
#define EDGEQ_ROM(exact, native) native
#endif

namespace edgeq {

// One pixel (all channels of one spatial position), or a whole vector: the element of the
// streams between dataflow processes.
template <class T, int N>
struct pixel {
  T data[N];
};

template <int W, bool S>
struct int_format;

template <int W>
struct int_format<W, true> {
  typedef ap_int<W> code_t;
  typedef ap_int<W> value_t;
  static const int BITS = W;
  static const int VALUE_BITS = W;  // signed bits of value_t
  static const bool SIGNED = true;
  static value_t decode(const code_t& c) { return c; }
};

template <int W>
struct int_format<W, false> {
  typedef ap_uint<W> code_t;
  typedef ap_uint<W> value_t;
  static const int BITS = W;
  static const int VALUE_BITS = W + 1;
  static const bool SIGNED = false;
  static value_t decode(const code_t& c) { return c; }
};

// fp<E, M>: sign (if S), E exponent bits, M mantissa bits, subnormals, no inf/NaN. The largest
// finite value is MAX_MANT << MAX_EXP on the grid (MAX_MANT includes the hidden one); the
// exponent bias only moves the scale, so it does not appear here.
template <int E, int M, bool S, int MAX_EXP, int MAX_MANT>
struct minifloat_format {
  static const int BITS = (S ? 1 : 0) + E + M;
  static const int GRID_BITS = M + 1 + MAX_EXP;  // magnitude bits of the largest value
  static const int VALUE_BITS = GRID_BITS + 1;
  static const bool SIGNED = S;
  static const int EXP_BITS = E;
  static const int MANT_BITS = M;
  typedef ap_uint<BITS> code_t;
  typedef ap_int<GRID_BITS + 1> value_t;

  static unsigned exponent(const code_t& c) { return (c.to_uint() >> M) & ((1u << E) - 1); }
  static bool negative(const code_t& c) { return S && ((c.to_uint() >> (E + M)) & 1u); }
  // The significand (hidden one included for normals) and its left shift on the grid.
  static unsigned significand(const code_t& c) {
    unsigned m = c.to_uint() & ((1u << M) - 1);
    return exponent(c) == 0 ? m : ((1u << M) | m);
  }
  static unsigned shift(const code_t& c) {
    unsigned e = exponent(c);
    return e == 0 ? 0 : e - 1;
  }

  static value_t decode(const code_t& c) {
    ap_uint<GRID_BITS> mag = significand(c);
    mag <<= shift(c);
    value_t v = mag;
    return negative(c) ? value_t(-v) : v;
  }

  // Bit pattern of a grid magnitude g (representable, at most the largest value).
  template <int W>
  static code_t encode(ap_uint<W> g, bool neg) {
    if (g == 0) return 0;  // zero is always +0
    unsigned e = 0, m = g.to_uint();
    if (g >= (ap_uint<W>(1) << M)) {
      int lead = W - 1 - g.countLeadingZeros();
      e = lead - M + 1;
      m = (g >> (e - 1)).to_uint() - (1u << M);
    }
    unsigned code = (e << M) | m;
    if (S && neg) code |= 1u << (E + M);
    return code;
  }

  // Round v / 2^F onto the grid once: find the leading one, round the mantissa half to even,
  // saturate at the largest finite value (DESIGN.md). An unsigned format maps negatives to 0.
  template <int P, int F>
  static code_t round_encode(const ap_int<P>& v) {
    const int W = (P + 1 > GRID_BITS + 2) ? P + 1 : GRID_BITS + 2;
    bool neg = v < 0;
    if (neg && !S) return 0;
    ap_int<P + 1> wide = v;
    ap_uint<W> mag = neg ? ap_int<P + 1>(-wide) : wide;
    if (mag == 0) return 0;
    int lead = W - 1 - mag.countLeadingZeros();
    int step = lead - F - M;  // log2 of the grid units one mantissa LSB is worth here
    if (step < 0) step = 0;
    int sh = F + step;
    ap_uint<W> q = mag;
    if (sh > 0) {
      ap_uint<W> floor = mag >> sh;
      ap_uint<W> rem = mag - (floor << sh);
      ap_uint<W> half = ap_uint<W>(1) << (sh - 1);
      bool up = rem > half || (rem == half && floor[0] == 1);
      q = floor + (up ? 1 : 0);
    }
    ap_uint<W> g = q << step;
    ap_uint<W> largest = MAX_MANT;
    largest <<= MAX_EXP;
    if (g > largest) g = largest;
    return encode<W>(g, neg);
  }
};

// The exact product of a weight and an activation code, as a wide signed integer.
template <class WF, class XF>
struct product {
  typedef ap_int<WF::VALUE_BITS + XF::VALUE_BITS> type;
  static type apply(const typename WF::code_t& w, const typename XF::code_t& x) {
    return WF::decode(w) * XF::decode(x);
  }
};

// Two minifloats: an (M+1)x(M+1) significand multiply, then one shift by the summed exponents.
template <int E1, int M1, bool S1, int X1, int T1, int E2, int M2, bool S2, int X2, int T2>
struct product<minifloat_format<E1, M1, S1, X1, T1>, minifloat_format<E2, M2, S2, X2, T2> > {
  typedef minifloat_format<E1, M1, S1, X1, T1> WF;
  typedef minifloat_format<E2, M2, S2, X2, T2> XF;
  typedef ap_int<WF::VALUE_BITS + XF::VALUE_BITS> type;
  static type apply(const typename WF::code_t& w, const typename XF::code_t& x) {
    ap_uint<M1 + 1> sw = WF::significand(w);
    ap_uint<M2 + 1> sx = XF::significand(x);
    ap_uint<WF::GRID_BITS + XF::GRID_BITS> mag = sw * sx;
    mag <<= WF::shift(w) + XF::shift(x);
    type p = mag;
    return WF::negative(w) != XF::negative(x) ? type(-p) : p;
  }
};

}  // namespace edgeq

#endif
