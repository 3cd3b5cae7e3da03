// Streams and AXI-Stream words for the generated dataflow designs.
//
// Under Vitis HLS (C-simulation, synthesis, co-simulation) the tool's own <hls_stream.h> and
// <ap_axi_sdata.h> are used. Anywhere else (plain g++ C-simulation) a minimal FIFO with the same
// interface stands in for hls::stream: read, write, empty, full and size, which is all the
// generated code and the testbench call. It is unbounded: in C-simulation every dataflow
// process runs to completion before the next one starts, so no FIFO depth is ever reached.
// Define EDGEQ_VENDOR_HEADERS to force the vendor headers in any other flow.
#ifndef EDGEQ_STREAM_H
#define EDGEQ_STREAM_H

#include <ap_int.h>

#if defined(__VITIS_HLS__) || defined(__SYNTHESIS__) || defined(EDGEQ_VENDOR_HEADERS)

#include <ap_axi_sdata.h>
#include <hls_stream.h>

namespace edgeq {
// TDATA is W bits (a whole number of bytes), TKEEP/TSTRB one bit per byte, TLAST.
template <int W>
using axis_word = ap_axiu<W, 0, 0, 0>;
}  // namespace edgeq

#else

#include <cstdio>
#include <cstdlib>
#include <deque>

namespace hls {

template <class T>
class stream {
 public:
  stream() : name_("stream") {}
  explicit stream(const char* name) : name_(name) {}

  T read() {
    if (fifo_.empty()) {
      std::fprintf(stderr, "edgeq C-simulation: read from empty stream '%s'\n", name_);
      std::abort();
    }
    T value = fifo_.front();
    fifo_.pop_front();
    return value;
  }
  void read(T& value) { value = read(); }
  void write(const T& value) { fifo_.push_back(value); }
  bool empty() const { return fifo_.empty(); }
  bool full() const { return false; }
  std::size_t size() const { return fifo_.size(); }
  // Not in Vitis's class: lets a C-simulation trace look at a FIFO without reading it.
  const T& peek(std::size_t i) const { return fifo_[i]; }

 private:
  stream(const stream&);  // a stream is a channel between processes, never copied
  stream& operator=(const stream&);
  std::deque<T> fifo_;
  const char* name_;
};

}  // namespace hls

namespace edgeq {
template <int W>
struct axis_word {
  ap_uint<W> data;
  ap_uint<(W + 7) / 8> keep;
  ap_uint<(W + 7) / 8> strb;
  ap_uint<1> last;
};
}  // namespace edgeq

#endif
#endif
