// The C-simulation testbench: feeds golden input vectors to the top function, compares every
// output code with the golden's, counts mismatches, prints the first one and writes what the
// design produced.
//
// Usage: csim [INPUT EXPECTED OUTPUT [TRACE]]  (defaults tb_data/tb_input.dat,
// tb_data/tb_expected.dat, tb_data/csim_output.dat; TRACE only in a -DEDGEQ_TRACE build, see
// trace.h). A vector file has one sample per line: integers separated by spaces (element codes:
// integers as they are, minifloats as their bit patterns), in the tensor's channels-last order.
// Exit status 0 only if every output matched.
#ifndef EDGEQ_TESTBENCH_H
#define EDGEQ_TESTBENCH_H

#include <cstdio>
#include <fstream>
#include <iostream>

#include "formats.h"
#include "io.h"
#include "stream.h"
#include "trace.h"

namespace edgeq {
namespace tb {

class vectors {
 public:
  vectors(int argc, char** argv)
      : in_(argc > 1 ? argv[1] : "tb_data/tb_input.dat"),
        expected_(argc > 2 ? argv[2] : "tb_data/tb_expected.dat"),
        out_(argc > 3 ? argv[3] : "tb_data/csim_output.dat"),
        samples_(0), outputs_(0), mismatches_(0), errors_(0) {
#ifdef EDGEQ_TRACE
    if (argc > 4) trace::file() = std::fopen(argv[4], "w");
#endif
    if (!in_ || !expected_ || !out_) {
      std::fprintf(stderr, "edgeq csim: cannot open the vector files (%s, %s, %s)\n",
                   argc > 1 ? argv[1] : "tb_data/tb_input.dat",
                   argc > 2 ? argv[2] : "tb_data/tb_expected.dat",
                   argc > 3 ? argv[3] : "tb_data/csim_output.dat");
      errors_++;
    }
  }

  // The next sample's inputs and expected outputs; false at the end of the input file.
  bool next(long long* x, int n_in, long long* expected, int n_out) {
    if (errors_) return false;
    for (int i = 0; i < n_in; i++) {
      if (!(in_ >> x[i])) {
        if (i > 0) error("input file ends inside a sample");
        return false;
      }
    }
    for (int i = 0; i < n_out; i++) {
      if (!(expected_ >> expected[i])) {
        error("expected-output file has fewer samples than the input file");
        return false;
      }
    }
    return true;
  }

  void check(const long long* expected, const long long* actual, int n) {
    for (int i = 0; i < n; i++) {
      out_ << actual[i] << (i + 1 < n ? ' ' : '\n');
      if (actual[i] != expected[i]) {
        if (mismatches_ == 0) {
          std::printf("edgeq csim: first difference at sample %ld, output index %d: expected %lld, got %lld\n",
                      samples_, i, expected[i], actual[i]);
        }
        mismatches_++;
      }
    }
    outputs_ += n;
    samples_++;
  }

  void error(const char* what) {
    std::printf("edgeq csim: error at sample %ld: %s\n", samples_, what);
    errors_++;
  }

  int finish() {
    out_.flush();
#ifdef EDGEQ_TRACE
    if (trace::file()) std::fclose(trace::file());
#endif
    std::printf("edgeq csim: %ld/%ld outputs bit-exact (%ld samples, %ld mismatches, %ld errors)\n",
                outputs_ - mismatches_, outputs_, samples_, mismatches_, errors_);
    return (mismatches_ == 0 && errors_ == 0 && samples_ > 0) ? 0 : 1;
  }

 private:
  std::ifstream in_, expected_;
  std::ofstream out_;
  long samples_, outputs_, mismatches_, errors_;
};

template <class FMT>
long long as_integer(const typename FMT::code_t& c) {
  return c.to_int64();
}

// The latency style: void top(const in_t x[N_IN], out_t y[N_OUT]).
template <class IN, int N_IN, class OUT, int N_OUT>
int run_arrays(int argc, char** argv,
               void (*top)(const typename IN::code_t*, typename OUT::code_t*)) {
  vectors files(argc, argv);
  static long long x[N_IN], expected[N_OUT], actual[N_OUT];
  static typename IN::code_t in[N_IN];
  static typename OUT::code_t out[N_OUT];
  while (files.next(x, N_IN, expected, N_OUT)) {
    for (int i = 0; i < N_IN; i++) in[i] = x[i];
    top(in, out);
    for (int i = 0; i < N_OUT; i++) actual[i] = as_integer<OUT>(out[i]);
    files.check(expected, actual, N_OUT);
  }
  return files.finish();
}

// The dataflow style: void top(stream<axis_word<W_IN>>&, stream<axis_word<W_OUT>>&), one word
// per pixel; checks TLAST on every sample's last word and nowhere else.
template <class IN, int IN_C, int IN_PIXELS, int W_IN, class OUT, int OUT_C, int OUT_PIXELS, int W_OUT>
int run_streams(int argc, char** argv,
                void (*top)(hls::stream<axis_word<W_IN> >&, hls::stream<axis_word<W_OUT> >&)) {
  const int n_in = IN_C * IN_PIXELS, n_out = OUT_C * OUT_PIXELS;
  vectors files(argc, argv);
  static long long x[n_in], expected[n_out], actual[n_out];
  hls::stream<axis_word<W_IN> > s_axis("s_axis");
  hls::stream<axis_word<W_OUT> > m_axis("m_axis");
  while (files.next(x, n_in, expected, n_out)) {
    for (int p = 0; p < IN_PIXELS; p++) {
      typename IN::code_t px[IN_C];
      for (int c = 0; c < IN_C; c++) px[c] = x[p * IN_C + c];
      axis_word<W_IN> word;
      word.data = pack<IN, IN_C, W_IN>(px);
      word.keep = -1;
      word.strb = -1;
      word.last = p == IN_PIXELS - 1;
      s_axis.write(word);
    }
    top(s_axis, m_axis);
    if (!s_axis.empty()) files.error("the design left input words unread");
    if (m_axis.size() != (std::size_t)OUT_PIXELS) {
      files.error("the design wrote the wrong number of output words");
      while (!m_axis.empty()) m_axis.read();
      for (int i = 0; i < n_out; i++) actual[i] = 0;
    } else {
      for (int p = 0; p < OUT_PIXELS; p++) {
        axis_word<W_OUT> word = m_axis.read();
        if ((word.last == 1) != (p == OUT_PIXELS - 1)) files.error("TLAST is not on the sample's last word");
        typename OUT::code_t px[OUT_C];
        unpack<OUT, OUT_C, W_OUT>(word.data, px);
        for (int c = 0; c < OUT_C; c++) actual[p * OUT_C + c] = as_integer<OUT>(px[c]);
      }
    }
    files.check(expected, actual, n_out);
  }
  return files.finish();
}

}  // namespace tb
}  // namespace edgeq

#endif
