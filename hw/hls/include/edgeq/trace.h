// Per-layer tracing for C-simulation (compiled in only with -DEDGEQ_TRACE; `make build/csim_trace`).
//
// After each layer the generated top function records the layer's output codes: an array as it
// is, a stream by peeking at what the layer wrote (in C-simulation every dataflow process runs to
// completion before the next, so a layer's whole output sits in its stream). One line per layer
// and sample: "<layer> <code> <code> ...". `edgeq verify` uses it to name the first layer that
// differs from the golden. Without EDGEQ_TRACE the macros are empty, so Vitis HLS never sees this.
#ifndef EDGEQ_TRACE_H
#define EDGEQ_TRACE_H

#ifdef EDGEQ_TRACE

#include <cstdio>

#include "formats.h"
#include "stream.h"

namespace edgeq {
namespace trace {

inline std::FILE*& file() {
  static std::FILE* f = 0;
  return f;
}

template <class T>
void array(const char* name, const T* x, int n) {
  if (!file()) return;
  std::fprintf(file(), "%s", name);
  for (int i = 0; i < n; i++) std::fprintf(file(), " %lld", (long long)x[i].to_int64());
  std::fprintf(file(), "\n");
}

template <class T, int C>
void stream(const char* name, const hls::stream<pixel<T, C> >& s) {
  if (!file()) return;
  std::fprintf(file(), "%s", name);
  for (std::size_t p = 0; p < s.size(); p++) {
    for (int c = 0; c < C; c++) std::fprintf(file(), " %lld", (long long)s.peek(p).data[c].to_int64());
  }
  std::fprintf(file(), "\n");
}

}  // namespace trace
}  // namespace edgeq

#define EDGEQ_TRACE_ARRAY(name, x, n) edgeq::trace::array(name, x, n)
#define EDGEQ_TRACE_STREAM(name, s) edgeq::trace::stream(name, s)

#else

#define EDGEQ_TRACE_ARRAY(name, x, n)
#define EDGEQ_TRACE_STREAM(name, s)

#endif
#endif
