// rtsep._core: pybind11 bindings over the C++ streaming core in csrc/.
//
// Each binding validates its arguments and casts them with the GIL held, then
// releases the GIL and calls the core. Audio arguments must be numpy arrays of
// the exact dtype (float32 audio and real masks, complex64 frames and complex
// masks): nothing is converted silently, because a conversion would allocate on
// every block and hide a dtype mistake upstream. Planar audio is
// (n_channels, n_samples); each row must be contiguous, rows may sit at any
// stride (so x[:, a:b] slices are used without a copy). Zero-length blocks are
// accepted and do nothing.
//
// The bound objects are not thread-safe (one Python thread at a time per object),
// except RingBuffer: one producer thread and one consumer thread.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <complex>
#include <cstring>
#include <memory>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "block_processor.hpp"
#include "delay_line.hpp"
#include "fft.hpp"
#include "hop_engine.hpp"
#include "mixer.hpp"
#include "native_model.hpp"
#include "ring_buffer.hpp"
#include "stft.hpp"

namespace py = pybind11;
using cfloat = std::complex<float>;

namespace {

constexpr std::size_t kAny = static_cast<std::size_t>(-1);

template <class T>
const char* dtype_name();
template <>
const char* dtype_name<float>() {
  return "float32";
}
template <>
const char* dtype_name<cfloat>() {
  return "complex64";
}

std::string shape_of(const py::array& a) {
  std::ostringstream s;
  s << "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s << (i ? ", " : "") << a.shape(i);
  s << (a.ndim() == 1 ? ",)" : ")");
  return s.str();
}

std::string type_name(py::handle obj) { return py::str(py::type::handle_of(obj).attr("__name__")); }

// A 2-D array whose rows are contiguous: row r starts at data + r * row_stride
// (in elements of T).
template <class T>
struct Rows {
  T* data;
  std::ptrdiff_t row_stride;
  std::size_t n_rows;
  std::size_t n_cols;
};

template <class T>
py::array checked_dtype(py::handle obj, const std::string& name) {
  if (!py::isinstance<py::array>(obj)) {
    throw py::type_error(name + " must be a numpy array of " + dtype_name<T>() + ", got " +
                         type_name(obj));
  }
  if (!py::isinstance<py::array_t<T>>(obj)) {
    auto a = py::reinterpret_borrow<py::array>(obj);
    throw py::type_error(name + " must have dtype " + dtype_name<T>() + ", got " +
                         std::string(py::str(a.dtype())) + " (convert with " + name +
                         ".astype(np." + dtype_name<T>() + "))");
  }
  return py::reinterpret_borrow<py::array>(obj);
}

// Validates a 2-D array of T with n_rows rows (kAny: any) and n_cols columns
// (kAny: any); writeable is required for outputs. what names the axes for messages.
template <class T>
Rows<T> rows_of(py::handle obj, const std::string& name, std::size_t n_rows, std::size_t n_cols,
                bool writeable, const char* what = "(n_channels, n_samples)") {
  py::array a = checked_dtype<T>(obj, name);
  if (a.ndim() != 2) {
    throw py::value_error(name + " must be 2-D " + what + ", got shape " + shape_of(a));
  }
  const auto rows = static_cast<std::size_t>(a.shape(0));
  const auto cols = static_cast<std::size_t>(a.shape(1));
  if ((n_rows != kAny && rows != n_rows) || (n_cols != kAny && cols != n_cols)) {
    std::ostringstream want;
    want << "(" << (n_rows == kAny ? std::string("any") : std::to_string(n_rows)) << ", "
         << (n_cols == kAny ? std::string("any") : std::to_string(n_cols)) << ")";
    throw py::value_error(name + " must have shape " + what + " = " + want.str() +
                          ", got shape " + shape_of(a));
  }
  const auto item = static_cast<py::ssize_t>(sizeof(T));
  if (cols > 1 && a.strides(1) != item) {
    throw py::value_error(name + " must have contiguous rows (strides " + std::to_string(a.strides(0)) +
                          ", " + std::to_string(a.strides(1)) + " bytes); pass np.ascontiguousarray(" +
                          name + ")");
  }
  if ((rows > 1 && a.strides(0) % item != 0) ||
      reinterpret_cast<std::uintptr_t>(a.data()) % alignof(T) != 0) {
    throw py::value_error(name + " is not aligned for " + dtype_name<T>() +
                          "; pass np.ascontiguousarray(" + name + ")");
  }
  if (writeable && !a.writeable()) throw py::value_error(name + " is read-only");
  auto* data = static_cast<T*>(const_cast<void*>(a.data()));
  return Rows<T>{data, rows > 1 ? a.strides(0) / item : static_cast<std::ptrdiff_t>(cols), rows,
                 cols};
}

// A C-contiguous array of T with the given shape (kAny entries: any).
template <class T>
T* contiguous_of(py::handle obj, const std::string& name, const std::vector<std::size_t>& shape,
                 const char* what, bool writeable) {
  py::array a = checked_dtype<T>(obj, name);
  bool ok = static_cast<std::size_t>(a.ndim()) == shape.size();
  for (std::size_t i = 0; ok && i < shape.size(); ++i) {
    ok = shape[i] == kAny || static_cast<std::size_t>(a.shape(static_cast<py::ssize_t>(i))) == shape[i];
  }
  if (!ok) throw py::value_error(name + " must have shape " + what + ", got shape " + shape_of(a));
  if (!(a.flags() & py::array::c_style)) {
    throw py::value_error(name + " must be C-contiguous; pass np.ascontiguousarray(" + name + ")");
  }
  if (writeable && !a.writeable()) throw py::value_error(name + " is read-only");
  return static_cast<T*>(const_cast<void*>(a.data()));
}

std::size_t positive(long long v, const char* name) {
  if (v < 1) throw py::value_error(std::string(name) + " must be >= 1, got " + std::to_string(v));
  return static_cast<std::size_t>(v);
}

using Window = py::array_t<float, py::array::c_style | py::array::forcecast>;

const float* window_of(const Window& w, std::size_t n_fft, const char* name) {
  if (w.ndim() != 1 || static_cast<std::size_t>(w.shape(0)) != n_fft) {
    throw py::value_error(std::string(name) + " must have shape (n_fft,) = (" +
                          std::to_string(n_fft) + ",), got " + shape_of(w));
  }
  return w.data();
}

py::array_t<float> new_audio(std::size_t n_channels, std::size_t n_samples) {
  return py::array_t<float>({n_channels, n_samples});
}

// ---------------------------------------------------------------------------

void bind_ring_buffer(py::module_& m) {
  using rtsep::RingBuffer;
  py::class_<RingBuffer>(m, "RingBuffer", R"doc(
Lock-free single-producer/single-consumer ring of float32 audio.

One frame is one sample per channel. Exactly one thread pushes and one thread
pops (they may run concurrently; the GIL is released inside push/pop). A push
moves what fits and counts the rest in ``overflow_frames``; a pop moves what is
there, leaves the rest of ``out`` untouched and counts the missing frames in
``underflow_frames``.
)doc")
      .def(py::init([](long long n_channels, long long capacity_frames) {
             return new RingBuffer(positive(n_channels, "n_channels"),
                                   positive(capacity_frames, "capacity_frames"));
           }),
           py::arg("n_channels"), py::arg("capacity_frames"))
      .def(
          "push_planar",
          [](RingBuffer& self, py::handle x) {
            auto r = rows_of<float>(x, "x", self.n_channels(), kAny, false);
            py::gil_scoped_release release;
            return self.push_planar(r.data, r.row_stride, r.n_cols);
          },
          py::arg("x"), "Push x: float32 (n_channels, n_frames). Returns the frames moved.")
      .def(
          "pop_planar",
          [](RingBuffer& self, py::handle out) {
            auto r = rows_of<float>(out, "out", self.n_channels(), kAny, true);
            py::gil_scoped_release release;
            return self.pop_planar(r.data, r.row_stride, r.n_cols);
          },
          py::arg("out"), "Pop into out: float32 (n_channels, n_frames). Returns the frames moved.")
      .def(
          "push_interleaved",
          [](RingBuffer& self, py::handle x) {
            float* d = contiguous_of<float>(x, "x", {kAny, self.n_channels()},
                                            "(n_frames, n_channels)", false);
            const auto n = static_cast<std::size_t>(py::reinterpret_borrow<py::array>(x).shape(0));
            py::gil_scoped_release release;
            return self.push_interleaved(d, n);
          },
          py::arg("x"), "Push interleaved x: float32 (n_frames, n_channels), C-contiguous.")
      .def(
          "pop_interleaved",
          [](RingBuffer& self, py::handle out) {
            float* d = contiguous_of<float>(out, "out", {kAny, self.n_channels()},
                                            "(n_frames, n_channels)", true);
            const auto n = static_cast<std::size_t>(py::reinterpret_borrow<py::array>(out).shape(0));
            py::gil_scoped_release release;
            return self.pop_interleaved(d, n);
          },
          py::arg("out"), "Pop into interleaved out: float32 (n_frames, n_channels), C-contiguous.")
      .def("available_read", &RingBuffer::available_read, "Frames ready to pop.")
      .def("available_write", &RingBuffer::available_write, "Free frames.")
      .def_property_readonly("overflow_frames", &RingBuffer::overflow_frames)
      .def_property_readonly("underflow_frames", &RingBuffer::underflow_frames)
      .def_property_readonly("n_channels", &RingBuffer::n_channels)
      .def_property_readonly("capacity_frames", &RingBuffer::capacity_frames)
      .def("reset", &RingBuffer::reset,
           "Empty the ring and zero the counters; only while neither side is pushing/popping.")
      .def("__repr__", [](const RingBuffer& self) {
        return "RingBuffer(n_channels=" + std::to_string(self.n_channels()) +
               ", capacity_frames=" + std::to_string(self.capacity_frames()) + ")";
      });
}

rtsep::FftKernel fft_kernel_of(const std::string& name) {
  if (name == "auto") return rtsep::FftKernel::automatic;
  if (name == "portable") return rtsep::FftKernel::portable;
  if (name == "avx2") return rtsep::FftKernel::avx2;
  throw py::value_error("kernel must be 'auto', 'portable' or 'avx2', got '" + name + "'");
}

void bind_fft(py::module_& m) {
  using rtsep::RealFft;
  py::class_<RealFft>(m, "RealFft", "Real FFT of a power-of-two size in [16, 65536] (float32).")
      .def(py::init([](long long n_fft, const std::string& kernel) {
             return new RealFft(positive(n_fft, "n_fft"), fft_kernel_of(kernel));
           }),
           py::arg("n_fft"), py::arg("kernel") = "auto",
           "kernel: 'auto' (avx2 where the CPU and size allow, else portable), 'portable', or "
           "'avx2' (ValueError where unsupported).")
      .def_static("avx2_supported", &RealFft::avx2_supported, py::arg("n_fft"),
                  "True when this build and CPU can run the avx2 kernel for n_fft (>= 128).")
      .def_property_readonly("kernel",
                             [](const RealFft& self) {
                               return self.kernel() == rtsep::FftKernel::avx2 ? "avx2" : "portable";
                             },
                             "The kernel in use: 'avx2' or 'portable'.")
      .def_property_readonly("n_fft", &RealFft::n_fft)
      .def_property_readonly("n_bins", &RealFft::n_bins)
      .def(
          "forward",
          [](RealFft& self, py::handle x) {
            auto r = rows_of<float>(x, "x", kAny, self.n_fft(), false, "(n_frames, n_fft)");
            py::array_t<cfloat> out({r.n_rows, self.n_bins()});
            cfloat* o = out.mutable_data();
            {
              py::gil_scoped_release release;
              for (std::size_t f = 0; f < r.n_rows; ++f) {
                self.forward(r.data + static_cast<std::ptrdiff_t>(f) * r.row_stride,
                             o + f * self.n_bins());
              }
            }
            return out;
          },
          py::arg("x"),
          "rfft of each row: float32 (n_frames, n_fft) -> complex64 (n_frames, n_bins), like "
          "numpy.fft.rfft.")
      .def(
          "inverse",
          [](RealFft& self, py::handle x) {
            auto r = rows_of<cfloat>(x, "x", kAny, self.n_bins(), false, "(n_frames, n_bins)");
            py::array_t<float> out({r.n_rows, self.n_fft()});
            float* o = out.mutable_data();
            {
              py::gil_scoped_release release;
              for (std::size_t f = 0; f < r.n_rows; ++f) {
                self.inverse(r.data + static_cast<std::ptrdiff_t>(f) * r.row_stride,
                             o + f * self.n_fft());
              }
            }
            return out;
          },
          py::arg("x"),
          "irfft of each row: complex64 (n_frames, n_bins) -> float32 (n_frames, n_fft), like "
          "numpy.fft.irfft (imaginary parts of DC and Nyquist ignored).")
      .def("__repr__",
           [](const RealFft& self) {
             return "RealFft(n_fft=" + std::to_string(self.n_fft()) + ", kernel='" +
                    (self.kernel() == rtsep::FftKernel::avx2 ? "avx2" : "portable") + "')";
           });
}

void bind_stft(py::module_& m) {
  using rtsep::StreamingIstft;
  using rtsep::StreamingStft;
  py::class_<StreamingStft>(m, "StreamingStft", R"doc(
Streaming STFT: every hop_samples new samples, one frame rfft(window * last n_fft
samples). Frame k covers input samples [k*hop + hop - n_fft, k*hop + hop), zeros
before the start. NaN/Inf input samples are replaced by 0 and counted.
)doc")
      .def(py::init([](long long n_fft, long long hop_samples, const Window& window,
                       long long n_channels) {
             const std::size_t n = positive(n_fft, "n_fft");
             return new StreamingStft(n, positive(hop_samples, "hop_samples"),
                                      window_of(window, n, "analysis_window"),
                                      positive(n_channels, "n_channels"));
           }),
           py::arg("n_fft"), py::arg("hop_samples"), py::arg("analysis_window"),
           py::arg("n_channels"))
      .def(
          "process",
          [](StreamingStft& self, py::handle x) {
            auto r = rows_of<float>(x, "x", self.n_channels(), kAny, false);
            const std::size_t n_frames = self.n_frames_for(r.n_cols);
            py::array_t<cfloat> out({n_frames, self.n_channels(), self.n_bins()});
            cfloat* o = out.mutable_data();
            {
              py::gil_scoped_release release;
              self.process(r.data, r.row_stride, r.n_cols, o);
            }
            return out;
          },
          py::arg("x"),
          "Feed x: float32 (n_channels, n_samples). Returns the frames completed, complex64 "
          "(n_frames, n_channels, n_bins).")
      .def(
          "flush",
          [](StreamingStft& self) {
            py::array_t<cfloat> out({self.n_flush_frames(), self.n_channels(), self.n_bins()});
            {
              py::gil_scoped_release release;
              self.flush(out.mutable_data());
            }
            return out;
          },
          "Drain: zero-pad the partial hop and feed silence until no frame holds input any "
          "more; returns those frames, complex64 (n_frames, n_channels, n_bins).")
      .def("reset", &StreamingStft::reset)
      .def("n_frames_for", &StreamingStft::n_frames_for, py::arg("n_new_samples"))
      .def_property_readonly("n_fft", &StreamingStft::n_fft)
      .def_property_readonly("hop_samples", &StreamingStft::hop_samples)
      .def_property_readonly("n_bins", &StreamingStft::n_bins)
      .def_property_readonly("n_channels", &StreamingStft::n_channels)
      .def_property_readonly("n_pending_samples", &StreamingStft::n_pending_samples)
      .def_property_readonly("n_nonfinite_replaced", &StreamingStft::n_nonfinite_replaced)
      .def("__repr__", [](const StreamingStft& self) {
        return "StreamingStft(n_fft=" + std::to_string(self.n_fft()) +
               ", hop_samples=" + std::to_string(self.hop_samples()) +
               ", n_channels=" + std::to_string(self.n_channels()) + ")";
      });

  py::class_<StreamingIstft>(m, "StreamingIstft", R"doc(
Streaming inverse STFT (weighted overlap-add): each frame gives exactly hop_samples
samples. An unmodified frame stream from StreamingStft comes back delayed by
stream_delay_samples = support - hop.
)doc")
      .def(py::init([](long long n_fft, long long hop_samples, const Window& window,
                       long long n_channels) {
             const std::size_t n = positive(n_fft, "n_fft");
             return new StreamingIstft(n, positive(hop_samples, "hop_samples"),
                                       window_of(window, n, "synthesis_window"),
                                       positive(n_channels, "n_channels"));
           }),
           py::arg("n_fft"), py::arg("hop_samples"), py::arg("synthesis_window"),
           py::arg("n_channels"))
      .def(
          "process",
          [](StreamingIstft& self, py::handle frames) {
            const cfloat* f = contiguous_of<cfloat>(
                frames, "frames", {kAny, self.n_channels(), self.n_bins()},
                "(n_frames, n_channels, n_bins)", false);
            const auto n_frames =
                static_cast<std::size_t>(py::reinterpret_borrow<py::array>(frames).shape(0));
            const std::size_t n_out = n_frames * self.hop_samples();
            auto out = new_audio(self.n_channels(), n_out);
            float* o = out.mutable_data();
            {
              py::gil_scoped_release release;
              self.process(f, n_frames, o, static_cast<std::ptrdiff_t>(n_out));
            }
            return out;
          },
          py::arg("frames"),
          "Feed frames: complex64 (n_frames, n_channels, n_bins), C-contiguous. Returns float32 "
          "(n_channels, n_frames * hop_samples).")
      .def(
          "flush",
          [](StreamingIstft& self) {
            const std::size_t n = self.stream_delay_samples();
            auto out = new_audio(self.n_channels(), n);
            self.flush(out.mutable_data(), static_cast<std::ptrdiff_t>(n));
            return out;
          },
          "Return the overlap-add tail, float32 (n_channels, stream_delay_samples), and clear it.")
      .def("reset", &StreamingIstft::reset)
      .def_property_readonly("n_fft", &StreamingIstft::n_fft)
      .def_property_readonly("hop_samples", &StreamingIstft::hop_samples)
      .def_property_readonly("n_bins", &StreamingIstft::n_bins)
      .def_property_readonly("n_channels", &StreamingIstft::n_channels)
      .def_property_readonly("support_samples", &StreamingIstft::support_samples)
      .def_property_readonly("stream_delay_samples", &StreamingIstft::stream_delay_samples)
      .def("__repr__", [](const StreamingIstft& self) {
        return "StreamingIstft(n_fft=" + std::to_string(self.n_fft()) +
               ", hop_samples=" + std::to_string(self.hop_samples()) +
               ", n_channels=" + std::to_string(self.n_channels()) +
               ", support_samples=" + std::to_string(self.support_samples()) + ")";
      });
}

void check_push_fits(const rtsep::HopEngine& e, std::size_t n) {
  if (n > e.max_block_samples()) {
    throw py::value_error("block of " + std::to_string(n) + " samples exceeds max_block_samples=" +
                          std::to_string(e.max_block_samples()) + "; split it");
  }
  if (n > e.input_space_samples()) {
    throw std::runtime_error("push_input(): " + std::to_string(n) +
                             " samples do not fit (space for " +
                             std::to_string(e.input_space_samples()) +
                             "); run the ready frames and pull() after every block");
  }
}

void check_can_synthesize(const rtsep::HopEngine& e) {
  if (!e.frame_pending()) {
    throw std::runtime_error("synthesize(): no frame pending; call analyze() first");
  }
  if (e.output_space_samples() < e.hop_samples()) {
    throw std::runtime_error("synthesize(): output FIFO full; pull() after every block");
  }
}

void bind_hop_engine(py::module_& m) {
  using rtsep::HopEngine;
  py::class_<HopEngine>(m, "HopEngine", R"doc(
Fixed-latency block adapter: any host block size in, the same number of samples
out, delayed by exactly latency_samples = stream_delay_samples + hop - 1.

Per host block x (n <= max_block_samples): push_input(x); while frames_ready():
analyze(); synthesize(mask from frame); then pull(vocals_out, instrumental_out).
instrumental = delayed input - vocals. NaN/Inf input samples and mask values
are treated as 0 and counted in n_nonfinite_replaced.
)doc")
      .def(py::init([](long long n_fft, long long hop_samples, const Window& analysis_window,
                       const Window& synthesis_window, long long n_channels,
                       long long max_block_samples) {
             const std::size_t n = positive(n_fft, "n_fft");
             return new HopEngine(n, positive(hop_samples, "hop_samples"),
                                  window_of(analysis_window, n, "analysis_window"),
                                  window_of(synthesis_window, n, "synthesis_window"),
                                  positive(n_channels, "n_channels"),
                                  positive(max_block_samples, "max_block_samples"));
           }),
           py::arg("n_fft"), py::arg("hop_samples"), py::arg("analysis_window"),
           py::arg("synthesis_window"), py::arg("n_channels"), py::arg("max_block_samples"))
      .def(
          "push_input",
          [](HopEngine& self, py::handle x) {
            auto r = rows_of<float>(x, "x", self.n_channels(), kAny, false);
            check_push_fits(self, r.n_cols);
            py::gil_scoped_release release;
            self.push_input(r.data, r.row_stride, r.n_cols);
          },
          py::arg("x"), "Append x: float32 (n_channels, n_samples), n_samples <= max_block_samples.")
      .def("frames_ready", &HopEngine::frames_ready, "Whole hops waiting to be analysed.")
      .def(
          "analyze",
          [](HopEngine& self) {
            if (self.frame_pending()) {
              throw std::runtime_error(
                  "analyze(): the previous frame has not been synthesised; call synthesize() first");
            }
            if (self.frames_ready() == 0) {
              throw std::runtime_error("analyze(): no frame ready; push_input() more samples first");
            }
            py::gil_scoped_release release;
            self.analyze();
          },
          "Consume one hop and compute its frame into `frame`.")
      .def_property_readonly(
          "frame",
          [](py::object self) {
            HopEngine& e = self.cast<HopEngine&>();
            const auto n_bins = static_cast<py::ssize_t>(e.n_bins());
            py::array view(py::dtype::of<cfloat>(),
                           {static_cast<py::ssize_t>(e.n_channels()), n_bins},
                           {n_bins * static_cast<py::ssize_t>(sizeof(cfloat)),
                            static_cast<py::ssize_t>(sizeof(cfloat))},
                           e.frame_data(), self);
            view.attr("setflags")(py::arg("write") = false);
            return view;
          },
          "Read-only zero-copy view of the current frame, complex64 (n_channels, n_bins); "
          "overwritten by the next analyze().")
      .def(
          "synthesize",
          [](HopEngine& self, py::handle mask) {
            check_can_synthesize(self);
            if (py::isinstance<py::array_t<cfloat>>(mask)) {
              auto r = rows_of<cfloat>(mask, "mask", self.n_channels(), self.n_bins(), false,
                                       "(n_channels, n_bins)");
              py::gil_scoped_release release;
              self.synthesize_complex(r.data, r.row_stride);
            } else {
              if (py::isinstance<py::array>(mask) && !py::isinstance<py::array_t<float>>(mask)) {
                throw py::type_error(
                    "mask must be float32 (real mask) or complex64 (complex mask), got " +
                    std::string(py::str(py::reinterpret_borrow<py::array>(mask).dtype())));
              }
              auto r = rows_of<float>(mask, "mask", self.n_channels(), self.n_bins(), false,
                                      "(n_channels, n_bins)");
              py::gil_scoped_release release;
              self.synthesize(r.data, r.row_stride);
            }
          },
          py::arg("mask"),
          "vocals_frame = mask * frame; mask: float32 or complex64 (n_channels, n_bins).")
      .def(
          "synthesize_identity",
          [](HopEngine& self) {
            check_can_synthesize(self);
            py::gil_scoped_release release;
            self.synthesize_identity();
          },
          "synthesize() with mask = 1.")
      .def(
          "pull",
          [](HopEngine& self, py::handle vocals_out, py::handle instrumental_out) {
            auto v = rows_of<float>(vocals_out, "vocals_out", self.n_channels(), kAny, true);
            auto i = rows_of<float>(instrumental_out, "instrumental_out", self.n_channels(),
                                    v.n_cols, true);
            if (v.n_cols > self.output_available_samples()) {
              throw std::runtime_error("pull(): asked for " + std::to_string(v.n_cols) +
                                       " samples, " +
                                       std::to_string(self.output_available_samples()) +
                                       " available; run all ready frames first");
            }
            py::gil_scoped_release release;
            self.pull(v.data, v.row_stride, i.data, i.row_stride, v.n_cols);
          },
          py::arg("vocals_out"), py::arg("instrumental_out"),
          "Pop n samples into vocals_out and instrumental_out: float32 (n_channels, n), writeable.")
      .def("reset", &HopEngine::reset, "Back to the constructed state (counters too).")
      .def_property_readonly("n_fft", &HopEngine::n_fft)
      .def_property_readonly("hop_samples", &HopEngine::hop_samples)
      .def_property_readonly("n_bins", &HopEngine::n_bins)
      .def_property_readonly("n_channels", &HopEngine::n_channels)
      .def_property_readonly("max_block_samples", &HopEngine::max_block_samples)
      .def_property_readonly("latency_samples", &HopEngine::latency_samples)
      .def_property_readonly("stream_delay_samples", &HopEngine::stream_delay_samples)
      .def_property_readonly("input_space_samples", &HopEngine::input_space_samples)
      .def_property_readonly("output_available_samples", &HopEngine::output_available_samples)
      .def_property_readonly("frame_pending", &HopEngine::frame_pending)
      .def_property_readonly("n_frames_processed", &HopEngine::n_frames_processed)
      .def_property_readonly("n_nonfinite_replaced", &HopEngine::n_nonfinite_replaced)
      .def("__repr__", [](const HopEngine& self) {
        return "HopEngine(n_fft=" + std::to_string(self.n_fft()) +
               ", hop_samples=" + std::to_string(self.hop_samples()) +
               ", n_channels=" + std::to_string(self.n_channels()) +
               ", max_block_samples=" + std::to_string(self.max_block_samples()) +
               ", latency_samples=" + std::to_string(self.latency_samples()) + ")";
      });
}

void bind_mixer(py::module_& m) {
  using rtsep::Mixer;
  auto gain_setter = [](bool (Mixer::*set)(float), const char* name) {
    return [set, name](Mixer& self, float g) {
      if (!(self.*set)(g)) throw py::value_error(std::string(name) + " must be finite");
    };
  };
  py::class_<Mixer>(m, "Mixer", R"doc(
out = vocals_gain * vocals + instrumental_gain * instrumental, with every gain
change (and mute, as gain 0) ramped linearly over ramp_ms. Gains are linear,
start at 1, and may be set from any thread.
)doc")
      .def(py::init([](long long n_channels, double sample_rate_hz, double ramp_ms) {
             return new Mixer(positive(n_channels, "n_channels"), sample_rate_hz, ramp_ms);
           }),
           py::arg("n_channels"), py::arg("sample_rate_hz"), py::arg("ramp_ms") = 20.0)
      .def_property("vocals_gain", &Mixer::vocals_gain,
                    gain_setter(&Mixer::set_vocals_gain, "vocals_gain"))
      .def_property("instrumental_gain", &Mixer::instrumental_gain,
                    gain_setter(&Mixer::set_instrumental_gain, "instrumental_gain"))
      .def_property("vocals_muted", &Mixer::vocals_muted, &Mixer::set_vocals_muted)
      .def_property("instrumental_muted", &Mixer::instrumental_muted,
                    &Mixer::set_instrumental_muted)
      .def_property_readonly("current_vocals_gain", &Mixer::current_vocals_gain)
      .def_property_readonly("current_instrumental_gain", &Mixer::current_instrumental_gain)
      .def_property_readonly("ramp_samples", &Mixer::ramp_samples)
      .def_property_readonly("n_channels", &Mixer::n_channels)
      .def(
          "process",
          [](Mixer& self, py::handle vocals, py::handle instrumental, py::handle out) {
            auto v = rows_of<float>(vocals, "vocals", self.n_channels(), kAny, false);
            auto a = rows_of<float>(instrumental, "instrumental", self.n_channels(), v.n_cols, false);
            py::object result = out.is_none()
                                    ? py::object(new_audio(self.n_channels(), v.n_cols))
                                    : py::reinterpret_borrow<py::object>(out);
            auto o = rows_of<float>(result, "out", self.n_channels(), v.n_cols, true);
            {
              py::gil_scoped_release release;
              self.process(v.data, v.row_stride, a.data, a.row_stride, o.data, o.row_stride,
                           v.n_cols);
            }
            return result;
          },
          py::arg("vocals"), py::arg("instrumental"), py::arg("out") = py::none(),
          "Mix float32 (n_channels, n) inputs into out (new array if None); returns out.")
      .def("reset", &Mixer::reset, "Jump to the target gains (no ramp).")
      .def("__repr__", [](const Mixer& self) {
        return "Mixer(n_channels=" + std::to_string(self.n_channels()) +
               ", ramp_samples=" + std::to_string(self.ramp_samples()) + ")";
      });
}

void bind_internal(py::module_& m) {
  py::module_ internal = m.def_submodule(
      "_internal", "Test-only processors and self-tests: the machinery without a model.");
  internal.def(
      "identity_mask",
      [](long long n_channels, long long n_bins) {
        py::array_t<float> mask({positive(n_channels, "n_channels"), positive(n_bins, "n_bins")});
        std::fill_n(mask.mutable_data(), mask.size(), 1.0f);
        return mask;
      },
      py::arg("n_channels"), py::arg("n_bins"), "A ones mask, float32 (n_channels, n_bins).");

  using rtsep::DelayLine;
  py::class_<DelayLine>(internal, "DelayProcessor",
                        "Pure delay: out[t] = x[t - delay_samples], zeros before the start.")
      .def(py::init([](long long n_channels, long long delay_samples) {
             if (delay_samples < 0) throw py::value_error("delay_samples must be >= 0");
             return new DelayLine(positive(n_channels, "n_channels"),
                                  static_cast<std::size_t>(delay_samples));
           }),
           py::arg("n_channels"), py::arg("delay_samples"))
      .def(
          "process",
          [](DelayLine& self, py::handle x) {
            auto r = rows_of<float>(x, "x", self.n_channels(), kAny, false);
            auto out = new_audio(self.n_channels(), r.n_cols);
            float* o = out.mutable_data();
            {
              py::gil_scoped_release release;
              self.process(r.data, r.row_stride, o, static_cast<std::ptrdiff_t>(r.n_cols), r.n_cols);
            }
            return out;
          },
          py::arg("x"), "float32 (n_channels, n) in, the delayed float32 (n_channels, n) out.")
      .def("reset", &DelayLine::reset)
      .def_property_readonly("latency_samples", &DelayLine::latency_samples)
      .def_property_readonly("n_channels", &DelayLine::n_channels)
      .def("__repr__", [](const DelayLine& self) {
        return "DelayProcessor(n_channels=" + std::to_string(self.n_channels()) +
               ", delay_samples=" + std::to_string(self.latency_samples()) + ")";
      });

  internal.def(
      "ring_stress",
      [](long long n_frames, long long n_channels, long long capacity_frames,
         long long max_block_frames, std::uint32_t seed) {
        if (n_frames < 0) throw py::value_error("n_frames must be >= 0");
        rtsep::RingStressResult r;
        const auto n_ch = positive(n_channels, "n_channels");
        const auto cap = positive(capacity_frames, "capacity_frames");
        const auto block = positive(max_block_frames, "max_block_frames");
        {
          py::gil_scoped_release release;
          r = rtsep::ring_stress(static_cast<std::size_t>(n_frames), n_ch, cap, block, seed);
        }
        py::dict d;
        d["n_pushed_frames"] = r.n_pushed_frames;
        d["n_popped_frames"] = r.n_popped_frames;
        d["n_mismatches"] = r.n_mismatches;
        d["overflow_frames"] = r.overflow_frames;
        d["underflow_frames"] = r.underflow_frames;
        d["expected_overflow_frames"] = r.expected_overflow_frames;
        d["expected_underflow_frames"] = r.expected_underflow_frames;
        return d;
      },
      py::arg("n_frames"), py::arg("n_channels") = 2, py::arg("capacity_frames") = 4096,
      py::arg("max_block_frames") = 1024, py::arg("seed") = 1,
      "Native producer/consumer threads move a counter signal through a RingBuffer; returns "
      "the counts (n_mismatches must be 0).");
}

// A Python runner (rtsep.runtime: ONNX Runtime, TorchScript, identity) as a
// MaskModel: step() takes the GIL, copies the frame into a numpy array made once,
// calls runner.step(frame) and copies the float32 (2, n_bins) mask it returns.
class RunnerMaskModel : public rtsep::MaskModel {
 public:
  RunnerMaskModel(py::object runner, std::size_t n_bins)
      : step_(runner.attr("step")),
        reset_(runner.attr("reset")),
        n_bins_(n_bins),
        frame_(py::array_t<cfloat>({std::size_t{2}, n_bins})) {}
  ~RunnerMaskModel() override {
    py::gil_scoped_acquire gil;
    step_ = py::object();
    reset_ = py::object();
    frame_ = py::array_t<cfloat>();
  }

  std::size_t n_bins() const noexcept override { return n_bins_; }

  void step(const float* frame, float* mask) override {
    py::gil_scoped_acquire gil;
    std::memcpy(frame_.mutable_data(), frame, 2 * n_bins_ * sizeof(cfloat));
    py::object out = step_(frame_);
    if (!py::isinstance<py::array_t<float>>(out)) {
      throw py::type_error("the runner's step() must return a float32 mask, got " + type_name(out));
    }
    auto a = py::reinterpret_borrow<py::array>(out);
    if (a.ndim() != 2 || a.shape(0) != 2 || static_cast<std::size_t>(a.shape(1)) != n_bins_ ||
        !(a.flags() & py::array::c_style)) {
      throw py::value_error("the runner's step() must return a C-contiguous mask of shape (2, " +
                            std::to_string(n_bins_) + "), got " + shape_of(a));
    }
    std::memcpy(mask, a.data(), 2 * n_bins_ * sizeof(float));
  }

  void reset() override {
    py::gil_scoped_acquire gil;
    reset_();
  }

 private:
  py::object step_, reset_;
  std::size_t n_bins_;
  py::array_t<cfloat> frame_;
};

void bind_block_processor(py::module_& m) {
  using rtsep::BlockProcessor;
  using rtsep::Parameters;

  py::class_<Parameters, std::shared_ptr<Parameters>>(m, "Parameters", R"doc(
The user's parameters of a BlockProcessor: gains in dB (<= -120: silence, at most
+24), mode (0 both, 1 mix, 2 vocals, 3 instrumental: the C ABI's order),
bypass, mutes (a muted source ramps to silence, its gain kept) and the key
changes in semitones (within +-12; 0 is off), the separation strength (0.25..4;
1 leaves the model's mask as it is). Safe to set from any thread; the processor
applies them, ramped, at its next block (the strength from its next hop). Setting an invalid value
raises ValueError and changes nothing.
)doc")
      .def(py::init<>())
      .def_property(
          "vocals_gain_db", [](const Parameters& p) { return p.vocals_gain_db.load(); },
          [](Parameters& p, float db) {
            if (!p.set_vocals_gain_db(db)) {
              throw py::value_error("vocals_gain_db must be <= 24 dB (and not NaN), got " +
                                    std::to_string(db));
            }
          })
      .def_property(
          "instrumental_gain_db", [](const Parameters& p) { return p.instrumental_gain_db.load(); },
          [](Parameters& p, float db) {
            if (!p.set_instrumental_gain_db(db)) {
              throw py::value_error("instrumental_gain_db must be <= 24 dB (and not NaN), got " +
                                    std::to_string(db));
            }
          })
      .def_property(
          "mode", [](const Parameters& p) { return p.mode.load(); },
          [](Parameters& p, int mode) {
            if (!p.set_mode(mode)) throw py::value_error("mode must be 0..3, got " + std::to_string(mode));
          })
      .def_property(
          "bypass", [](const Parameters& p) { return p.bypass.load(); },
          [](Parameters& p, bool on) { p.set_bypass(on); })
      .def_property(
          "vocals_muted", [](const Parameters& p) { return p.vocals_muted.load(); },
          [](Parameters& p, bool on) { p.vocals_muted.store(on); })
      .def_property(
          "instrumental_muted", [](const Parameters& p) { return p.instrumental_muted.load(); },
          [](Parameters& p, bool on) { p.instrumental_muted.store(on); })
      .def_property(
          "key_semitones", [](const Parameters& p) { return p.key_semitones.load(); },
          [](Parameters& p, float st) {
            if (!p.set_key_semitones(st)) {
              throw py::value_error("key_semitones must be within +-12 (and not NaN), got " +
                                    std::to_string(st));
            }
          })
      .def_property(
          "vocals_key_semitones", [](const Parameters& p) { return p.vocals_key_semitones.load(); },
          [](Parameters& p, float st) {
            if (!p.set_vocals_key_semitones(st)) {
              throw py::value_error("vocals_key_semitones must be within +-12 (and not NaN), got " +
                                    std::to_string(st));
            }
          })
      .def_property(
          "strength", [](const Parameters& p) { return p.strength.load(); },
          [](Parameters& p, float s) {
            if (!p.set_strength(s)) {
              throw py::value_error("strength must be within 0.25..4 (and not NaN), got " +
                                    std::to_string(s));
            }
          })
      .def_property_readonly_static("min_strength", [](py::object) { return Parameters::kMinStrength; })
      .def_property_readonly_static("max_strength", [](py::object) { return Parameters::kMaxStrength; })
      .def_property_readonly_static("max_key_semitones",
                                    [](py::object) { return Parameters::kMaxKeySemitones; })
      .def_property_readonly_static("min_gain_db", [](py::object) { return Parameters::kMinGainDb; })
      .def_property_readonly_static("max_gain_db", [](py::object) { return Parameters::kMaxGainDb; });

  py::class_<BlockProcessor, std::shared_ptr<BlockProcessor>>(m, "BlockProcessor", R"doc(
The one block processor (csrc/block_processor.hpp): host blocks of 1 or 2
planar channels in, two outputs out (by the mode: vocals/instrumental, the mix,
...), delayed by exactly latency_samples, with click-free gains, mode and
bypass. model: a NativeModel (stepped in C++, GIL released) or a runner with
step(frame) -> mask and reset() (stepped with the GIL taken per hop).
)doc")
      .def(py::init([](py::object model, long long n_fft, long long hop_samples,
                       const Window& analysis_window, const Window& synthesis_window,
                       double sample_rate_hz, long long max_block_samples, long long n_channels,
                       std::shared_ptr<Parameters> parameters) {
             const std::size_t n = positive(n_fft, "n_fft");
             rtsep::BlockGeometry g;
             g.n_fft = n;
             g.hop_samples = positive(hop_samples, "hop_samples");
             const float* wa = window_of(analysis_window, n, "analysis_window");
             const float* ws = window_of(synthesis_window, n, "synthesis_window");
             g.analysis_window.assign(wa, wa + n);
             g.synthesis_window.assign(ws, ws + n);
             std::shared_ptr<rtsep::MaskModel> mm;
             if (py::isinstance<rtsep::MaskModel>(model)) {
               mm = model.cast<std::shared_ptr<rtsep::MaskModel>>();
             } else {
               mm = std::make_shared<RunnerMaskModel>(model, n / 2 + 1);
             }
             return new BlockProcessor(std::move(mm), g, sample_rate_hz,
                                       positive(max_block_samples, "max_block_samples"),
                                       positive(n_channels, "n_channels"), std::move(parameters));
           }),
           py::arg("model"), py::arg("n_fft"), py::arg("hop_samples"), py::arg("analysis_window"),
           py::arg("synthesis_window"), py::arg("sample_rate_hz"), py::arg("max_block_samples"),
           py::arg("n_channels"), py::arg("parameters") = nullptr)
      .def(
          "process",
          [](BlockProcessor& self, py::handle x, py::handle out_a, py::handle out_b) {
            const std::size_t n_ch = self.n_channels();
            auto in = rows_of<float>(x, "block", n_ch, kAny, false);
            auto a = rows_of<float>(out_a, "out_a", n_ch, in.n_cols, true);
            auto b = rows_of<float>(out_b, "out_b", n_ch, in.n_cols, true);
            if (in.n_cols > self.max_block_samples()) {
              throw py::value_error("block of " + std::to_string(in.n_cols) + " samples > max_block_samples " +
                                    std::to_string(self.max_block_samples()));
            }
            const float* ip[2] = {in.data, in.data + (n_ch > 1 ? in.row_stride : 0)};
            float* ap[2] = {a.data, a.data + (n_ch > 1 ? a.row_stride : 0)};
            float* bp[2] = {b.data, b.data + (n_ch > 1 ? b.row_stride : 0)};
            py::gil_scoped_release release;
            self.process(ip, ap, bp, in.n_cols);
          },
          py::arg("block"), py::arg("out_a"), py::arg("out_b"),
          "One block float32 (n_channels, n <= max_block_samples) into out_a and out_b (same "
          "shape, writeable, may alias the block). An exception from a runner's step resets the "
          "stream and is raised here.")
      .def("reset", &BlockProcessor::reset, py::call_guard<py::gil_scoped_release>(),
           "Back to the start of a stream (delays, model state, ramps, counters).")
      .def_property_readonly("parameters", &BlockProcessor::shared_parameters)
      .def_property_readonly("latency_samples", &BlockProcessor::latency_samples)
      .def_property_readonly("max_block_samples", &BlockProcessor::max_block_samples)
      .def_property_readonly("n_channels", &BlockProcessor::n_channels)
      .def_property_readonly("n_bins", &BlockProcessor::n_bins)
      .def_property_readonly("hop_samples", &BlockProcessor::hop_samples)
      .def_property_readonly("sample_rate_hz", &BlockProcessor::sample_rate_hz)
      .def_property_readonly("ramp_samples", &BlockProcessor::ramp_samples)
      .def_property_readonly("n_frames_processed", &BlockProcessor::n_frames_processed)
      .def_property_readonly("n_nonfinite_replaced", &BlockProcessor::n_nonfinite_replaced)
      .def("__repr__", [](const BlockProcessor& self) {
        return "BlockProcessor(n_channels=" + std::to_string(self.n_channels()) +
               ", max_block_samples=" + std::to_string(self.max_block_samples()) +
               ", latency_samples=" + std::to_string(self.latency_samples()) + ")";
      });
}

}  // namespace

void register_models(py::module_& m);  // live_bindings.cpp: MaskModel, NativeModel
void register_live(py::module_& m);    // live_bindings.cpp: LiveBridge, LiveWorker

PYBIND11_MODULE(_core, m) {
  m.doc() =
      "rtsep C++ streaming core: ring buffer, real FFT, streaming STFT/iSTFT, HopEngine, Mixer.";
  bind_ring_buffer(m);
  bind_fft(m);
  bind_stft(m);
  bind_hop_engine(m);
  bind_mixer(m);
  bind_internal(m);
  register_models(m);
  bind_block_processor(m);  // after the models it takes, before the LiveBridge that takes it
  register_live(m);
}
