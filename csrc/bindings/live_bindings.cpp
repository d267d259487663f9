// rtsep._core.LiveBridge: bindings over csrc/live_bridge.hpp (live monitoring).
//
// The device callback itself is never called through these bindings: Python
// hands PortAudio (via sounddevice) the address of rtsep_live_callback and the
// bridge's address as user data. process() exists so tests can drive the exact
// callback code without a device. Arrays must be float32 of the stated shapes;
// nothing is converted silently.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <complex>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "live_bridge.hpp"
#include "live_worker.hpp"
#include "block_processor.hpp"
#include "native_model.hpp"

namespace py = pybind11;

namespace {

using rtsep::LiveBridge;
using rtsep::LiveConfig;
using rtsep::LiveMode;

// Indexed by rtsep::Mode (the C ABI's order).
const char* const kModeNames[] = {"both", "mix", "vocals", "instrumental"};

LiveMode mode_of(const std::string& name) {
  for (int i = 0; i < 4; ++i) {
    if (name == kModeNames[i]) return static_cast<LiveMode>(i);
  }
  throw py::value_error("unknown mode '" + name + "'; choose both, mix, vocals or instrumental");
}

struct Planar {
  float* data;
  std::ptrdiff_t row_stride;  // floats
  std::size_t n_cols;
};

py::array float32_array(py::handle obj, const std::string& name) {
  if (!py::isinstance<py::array_t<float>>(obj)) {
    if (py::isinstance<py::array>(obj)) {
      throw py::type_error(name + " must have dtype float32, got " +
                           std::string(py::str(py::reinterpret_borrow<py::array>(obj).dtype())));
    }
    throw py::type_error(name + " must be a numpy array of float32");
  }
  return py::reinterpret_borrow<py::array>(obj);
}

// 2-D float32 (n_rows, any) with contiguous rows at any row stride.
Planar planar_of(py::handle obj, const std::string& name, std::size_t n_rows, bool writeable) {
  py::array a = float32_array(obj, name);
  if (a.ndim() != 2 || static_cast<std::size_t>(a.shape(0)) != n_rows) {
    throw py::value_error(name + " must have shape (" + std::to_string(n_rows) + ", n_frames)");
  }
  const auto cols = static_cast<std::size_t>(a.shape(1));
  if (cols > 1 && a.strides(1) != static_cast<py::ssize_t>(sizeof(float))) {
    throw py::value_error(name + " must have contiguous rows; pass np.ascontiguousarray(" + name + ")");
  }
  if (a.strides(0) % static_cast<py::ssize_t>(sizeof(float)) != 0) {
    throw py::value_error(name + " is not aligned for float32");
  }
  if (writeable && !a.writeable()) throw py::value_error(name + " is read-only");
  return Planar{static_cast<float*>(const_cast<void*>(a.data())),
                n_rows > 1 ? static_cast<std::ptrdiff_t>(a.strides(0) / sizeof(float))
                           : static_cast<std::ptrdiff_t>(cols),
                cols};
}

// C-contiguous interleaved float32 (n_frames, n_channels).
float* interleaved_of(py::handle obj, const std::string& name, std::size_t n_channels,
                      bool writeable, std::size_t* n_frames) {
  py::array a = float32_array(obj, name);
  if (a.ndim() != 2 || static_cast<std::size_t>(a.shape(1)) != n_channels) {
    throw py::value_error(name + " must have shape (n_frames, " + std::to_string(n_channels) + ")");
  }
  if (!(a.flags() & py::array::c_style)) {
    throw py::value_error(name + " must be C-contiguous; pass np.ascontiguousarray(" + name + ")");
  }
  if (writeable && !a.writeable()) throw py::value_error(name + " is read-only");
  *n_frames = static_cast<std::size_t>(a.shape(0));
  return static_cast<float*>(const_cast<void*>(a.data()));
}

std::size_t count(long long v, const char* name, long long minimum) {
  if (v < minimum) {
    throw py::value_error(std::string(name) + " must be >= " + std::to_string(minimum) + ", got " +
                          std::to_string(v));
  }
  return static_cast<std::size_t>(v);
}

py::dict stats_dict(const rtsep::LiveStats& s) {
  py::dict d;
  d["n_callbacks"] = s.n_callbacks;
  d["n_frames"] = s.n_frames;
  d["n_missed_blocks"] = s.n_missed_blocks;
  d["n_miss_events"] = s.n_miss_events;
  d["n_fallback_frames"] = s.n_fallback_frames;
  d["n_skipped_frames"] = s.n_skipped_frames;
  d["n_xrun_callbacks"] = s.n_xrun_callbacks;
  d["n_input_underflow"] = s.n_input_underflow;
  d["n_input_overflow"] = s.n_input_overflow;
  d["n_output_underflow"] = s.n_output_underflow;
  d["n_output_overflow"] = s.n_output_overflow;
  d["n_input_dropped_frames"] = s.n_input_dropped_frames;
  d["n_record_dropped_frames"] = s.n_record_dropped_frames;
  d["n_nonfinite_input"] = s.n_nonfinite_input;
  return d;
}

py::dict timing_dict(const rtsep::LiveTiming& t) {
  using rtsep::LiveTiming;
  py::dict d;
  d["n_callbacks"] = t.n_callbacks;
  d["max_callback_gap_ms"] = static_cast<double>(t.max_callback_gap_ns) * 1e-6;
  d["n_responses"] = t.n_responses;
  d["max_response_ms"] = static_cast<double>(t.max_response_ns) * 1e-6;
  d["n_response_dropped"] = t.n_response_dropped;
  d["histogram_bin_ms"] = LiveTiming::kHistogramBinMs;
  py::list gaps, responses;
  for (std::size_t i = 0; i < LiveTiming::kHistogramBins; ++i) {
    gaps.append(t.callback_gap_histogram[i]);
    responses.append(t.response_histogram[i]);
  }
  d["callback_gap_histogram"] = gaps;
  d["response_histogram"] = responses;
  py::list misses;
  for (std::size_t i = 0; i < t.n_misses_recorded; ++i) {
    const LiveTiming::Miss& m = t.misses[i];
    py::dict e;
    e["callback"] = m.callback;
    e["t_s"] = static_cast<double>(m.t_ns) * 1e-9;
    e["gap_ms"] = static_cast<double>(m.gap_ns) * 1e-6;
    e["available_frames"] = m.available;
    e["n_frames"] = m.n_frames;
    misses.append(e);
  }
  d["misses"] = misses;
  return d;
}

}  // namespace

void register_play_record(py::module_& m) {
  using rtsep::PlayRecord;
  py::module_ internal = py::hasattr(m, "_internal")
                             ? py::reinterpret_borrow<py::module_>(m.attr("_internal"))
                             : m.def_submodule("_internal");
  internal.def(
      "play_record_callback_address",
      []() { return reinterpret_cast<std::uintptr_t>(&rtsep_play_record_callback); },
      "Address of PlayRecord's native PortAudio callback (user data: PlayRecord.address).");
  py::class_<PlayRecord>(internal, "PlayRecord", R"doc(
Test instrument: a native play-and-record device callback (the JACK tests' harness).

After arm(), the next callback starts playing ``play`` (float32 (n_play_channels,
n_play_frames), silence after it) on the first output channels and recording the
first ``n_record_channels`` inputs for ``n_record_frames`` frames; recording frame
i was captured in the same callback frame as play frame i went out.
)doc")
      .def(py::init([](long long n_device_input_channels, long long n_device_output_channels,
                       py::handle play, long long n_record_channels, long long n_record_frames) {
             py::array a = float32_array(play, "play");
             if (a.ndim() != 2 || !(a.flags() & py::array::c_style)) {
               throw py::value_error("play must be C-contiguous float32 (n_play_channels, n_frames)");
             }
             return new PlayRecord(count(n_device_input_channels, "n_device_input_channels", 1),
                                   count(n_device_output_channels, "n_device_output_channels", 1),
                                   static_cast<const float*>(a.data()),
                                   static_cast<std::size_t>(a.shape(0)),
                                   static_cast<std::size_t>(a.shape(1)),
                                   count(n_record_channels, "n_record_channels", 0),
                                   count(n_record_frames, "n_record_frames", 1));
           }),
           py::arg("n_device_input_channels"), py::arg("n_device_output_channels"), py::arg("play"),
           py::arg("n_record_channels"), py::arg("n_record_frames"))
      .def_property_readonly("address",
                             [](PlayRecord& self) { return reinterpret_cast<std::uintptr_t>(&self); })
      .def("arm", &PlayRecord::arm, "Start playing and recording at the next callback.")
      .def_property_readonly("n_recorded", &PlayRecord::n_recorded)
      .def_property_readonly("done", &PlayRecord::done)
      .def_property_readonly("n_callbacks", &PlayRecord::n_callbacks)
      .def("xrun_positions", &PlayRecord::xrun_positions,
           "Recording positions (frames) of the callbacks that carried xrun flags.")
      .def(
          "recording",
          [](const PlayRecord& self) {
            py::array_t<float> out({self.n_record_channels(), self.n_record_frames()});
            std::copy_n(self.recording(), self.n_record_channels() * self.n_record_frames(),
                        out.mutable_data());
            return out;
          },
          "A copy of the recording, float32 (n_record_channels, n_record_frames).");
}

namespace {

// A C-contiguous array of exactly `dtype` and shape (2, n_bins), or ValueError.
void check_frame_array(const py::array& a, const py::dtype& dtype, std::size_t n_bins,
                       const char* what) {
  if (!a.dtype().is(dtype) || a.ndim() != 2 || a.shape(0) != 2 ||
      static_cast<std::size_t>(a.shape(1)) != n_bins || !(a.flags() & py::array::c_style)) {
    throw py::value_error(std::string(what) + " must be a C-contiguous " +
                          std::string(py::str(dtype)) + " array of shape (2, " +
                          std::to_string(n_bins) + ")");
  }
}

}  // namespace

void register_models(py::module_& m) {
  using rtsep::NativeModel;
  py::register_exception<rtsep::NativeModelError>(m, "NativeModelError", PyExc_ValueError);

  py::class_<rtsep::MaskModel, std::shared_ptr<rtsep::MaskModel>>(m, "MaskModel", R"doc(
A streaming mask model as the block processor sees it (the native model, or a
Python runner wrapped by BlockProcessor).
)doc")
      .def_property_readonly("n_bins", &rtsep::MaskModel::n_bins);

  py::class_<rtsep::ConstantMaskModel, rtsep::MaskModel, std::shared_ptr<rtsep::ConstantMaskModel>>(
      m, "ConstantMaskModel", R"doc(
The same vocal mask for every frame, stepped in C++ (real-time safe): the block
processor without a learned model. ``mask``: float32 (2, n_bins), or None for all
ones (the identity: the vocals are the input, the instrumental silence).
)doc")
      .def(py::init([](long long n_bins, py::object mask) {
             if (n_bins < 1) throw py::value_error("n_bins must be >= 1");
             const auto n = static_cast<std::size_t>(n_bins);
             std::vector<float> values;
             if (!mask.is_none()) {
               if (!py::isinstance<py::array>(mask)) throw py::type_error("mask must be a numpy array");
               auto a = py::reinterpret_borrow<py::array>(mask);
               check_frame_array(a, py::dtype::of<float>(), n, "mask");
               const auto* d = static_cast<const float*>(a.data());
               values.assign(d, d + 2 * n);
             }
             return std::make_shared<rtsep::ConstantMaskModel>(n, std::move(values));
           }),
           py::arg("n_bins"), py::arg("mask") = py::none());

  py::class_<NativeModel, rtsep::MaskModel, std::shared_ptr<NativeModel>>(m, "NativeModel", R"doc(
The dependency-free C++ implementation of the model's step, from a native model
file (``.rtsepw``). ``step(frame, mask)``: frame complex64 (2, n_bins) -> vocal
mask float32 (2, n_bins), written into ``mask``; the state is held inside
(``reset()`` zeroes it). One stream, one thread at a time. Raises
NativeModelError (a ValueError) for a missing, corrupt or mismatched file.
)doc")
      .def(py::init([](const std::string& path) {
             return std::shared_ptr<NativeModel>(NativeModel::load(path));
           }),
           py::arg("path"))
      .def(
          "step",
          [](NativeModel& self, const py::array& frame, py::array& mask) {
            check_frame_array(frame, py::dtype::of<std::complex<float>>(), self.n_bins(), "frame");
            check_frame_array(mask, py::dtype::of<float>(), self.n_bins(), "mask");
            if (!mask.writeable()) throw py::value_error("mask must be writeable");
            const auto* f = static_cast<const float*>(frame.data());
            auto* out = static_cast<float*>(mask.mutable_data());
            py::gil_scoped_release release;
            self.step(f, out);
          },
          py::arg("frame"), py::arg("mask"), "One frame -> mask (written into `mask`), GIL released.")
      .def("reset", &NativeModel::reset, "Zero the state (start of a new stream).")
      .def_property_readonly("n_fft", &NativeModel::n_fft)
      .def_property_readonly("hop_samples", &NativeModel::hop_samples)
      .def_property_readonly("n_bins", &NativeModel::n_bins)
      .def_property_readonly("sample_rates_hz", &NativeModel::sample_rates_hz)
      .def_property_readonly("metadata_json", &NativeModel::metadata_json)
      .def_property_readonly("path", &NativeModel::path)
      .def_property_readonly("macs_per_step", &NativeModel::macs_per_step)
      .def_property_readonly("n_members", &NativeModel::n_members,
                             "U-Nets run per frame (an ensemble's members; 1 for one model).")
      .def_property_readonly("avx2", &NativeModel::avx2, "True while the AVX2 kernels run.")
      .def("use_avx2", &NativeModel::use_avx2, py::arg("on"),
           "Pick the AVX2 + FMA kernels (on, the default where the CPU has them) or the "
           "portable loops; returns whether AVX2 is now in use. Between streams only.")
      .def(
          "latency_samples",
          [](const NativeModel& self, const std::string& mode) {
            const rtsep::NativeLatencyMode* lm = self.latency_mode(mode);
            if (lm == nullptr) throw py::value_error("the model has no '" + mode + "' latency mode");
            return lm->latency_samples;
          },
          py::arg("latency_mode"));
}

static void register_worker(py::module_& m) {
  using rtsep::LiveWorker;
  // Deleting a worker joins its thread, which may be waiting for the GIL (a Python
  // runner's step): delete it with the GIL released.
  struct DeleteWithoutGil {
    void operator()(LiveWorker* w) const {
      py::gil_scoped_release release;
      delete w;
    }
  };
  py::class_<LiveWorker, std::unique_ptr<LiveWorker, DeleteWithoutGil>>(m, "LiveWorker", R"doc(
The live worker as one native thread: the bridge's input ring -> BlockProcessor
(STFT, model step, iSTFT) -> the bridge's output ring. ``LiveWorker(bridge)`` runs
the bridge's processor (a worker-mode bridge), in chunks of up to its
max_block_samples. With the
native model no Python (so no GIL) is on the way; a Python runner takes the GIL
for its step, and if it raises the thread stops (``running`` false, ``error`` says
why). ``start(realtime_priority, follow_callback_cpu)`` asks for SCHED_FIFO when
> 0 (``scheduling`` says what was granted) and, with follow_callback_cpu, keeps
the thread on the CPU the device callback last ran on (``stats()['n_cpu_moves']``
counts the moves); ``stop()`` joins the thread. While it runs, nothing else may
process or reset the processor.
)doc")
      .def(py::init([](LiveBridge& bridge) { return new LiveWorker(bridge); }), py::arg("bridge"),
           py::keep_alive<1, 2>())
      .def_property_readonly("error", &LiveWorker::error)
      .def(
          "warm_up",
          [](LiveWorker& self, long long n_samples, long long block_samples) {
            if (n_samples < 0 || block_samples < 1) {
              throw py::value_error("n_samples must be >= 0 and block_samples >= 1");
            }
            py::gil_scoped_release release;
            self.warm_up(static_cast<std::size_t>(n_samples), static_cast<std::size_t>(block_samples));
          },
          py::arg("n_samples") = 4096, py::arg("block_samples") = 128,
          "Run silence through once (first-use costs), then reset. Before start().")
      .def("start", &LiveWorker::start, py::arg("realtime_priority") = 0,
           py::arg("follow_callback_cpu") = false, py::arg("pin_callback_thread") = false,
           py::call_guard<py::gil_scoped_release>(),
           "Start the thread; follow_callback_cpu: keep it on the CPU of the last device callback; "
           "pin_callback_thread: also bind the callback's thread to that CPU (until stop()).")
      .def("stop", &LiveWorker::stop, py::call_guard<py::gil_scoped_release>())
      .def("stall", &LiveWorker::stall, py::arg("seconds"),
           "Test hook: the thread does nothing for `seconds`.")
      .def_property_readonly("running", &LiveWorker::running)
      .def_property_readonly("scheduling", &LiveWorker::scheduling)
      .def_property_readonly("latency_samples", &LiveWorker::latency_samples)
      .def("stats", [](const LiveWorker& self) {
        const rtsep::LiveWorkerStats s = self.stats();
        py::dict d;
        d["n_samples"] = s.n_samples;
        d["n_frames"] = s.n_frames;
        d["busy_s"] = s.busy_s;
        d["max_chunk_busy_ratio"] = s.max_chunk_busy_ratio;
        d["n_cpu_moves"] = s.n_cpu_moves;
        d["n_callback_pins"] = s.n_callback_pins;
        return d;
      });
}

void register_live(py::module_& m) {
  register_play_record(m);
  m.def(
      "live_callback_address",
      []() { return reinterpret_cast<std::uintptr_t>(&rtsep_live_callback); },
      "Address of the native PortAudio stream callback (PaStreamCallback); its user data "
      "must be a LiveBridge's `address`.");

  py::class_<LiveBridge>(m, "LiveBridge", R"doc(
Native side of live monitoring: the device callback's state and the worker rings.

One BlockProcessor (``processor``, stereo) makes the output; its ``parameters``
are the live controls (gains, mutes, bypass, key; the bridge sets their mode).
The device callback (``live_callback_address()``, user data ``address``) copies
the selected input channels (1 or 2; 1 is duplicated to both model channels)
into the input ring and a dry delay line, pops the worker's outputs A and B
(4 channels) from the output ring, routes them by ``mode`` and cross-fades to
the fallback (the dry input delayed by ``total_latency_samples``) while the
worker is late. The delay from device input to device output is always exactly
``total_latency_samples = engine_latency_samples + margin_samples``.

Channel numbers are 0-based. ``output_channels`` has one device channel per
routed channel (2; 4 for mode 'both': vocals L, R, instrumental L, R) or one per
pair (mono downmix). The worker thread calls ``wait_for_input``, ``pop_input``
and ``push_output``; one recorder thread calls ``pop_record``.

Inline (``inline=True``: a model stepped natively, ``margin_samples=0``): the
callback runs the processor itself, no worker and no
margin: ``total_latency_samples`` is the engine's latency; a late callback is an
xrun the host reports (``stats()['n_xrun_callbacks']``), and the timing's
responses are the callbacks' own durations.
)doc")
      .def(py::init([](std::shared_ptr<rtsep::BlockProcessor> processor,
                       long long n_device_input_channels, long long n_device_output_channels,
                       std::vector<int> input_channels, std::vector<int> output_channels,
                       const std::string& mode, long long margin_samples,
                       long long fallback_ramp_samples, long long max_chunk_frames,
                       long long input_ring_frames, long long record_ring_frames, bool run_inline) {
             LiveConfig c;
             c.n_device_input_channels = count(n_device_input_channels, "n_device_input_channels", 1);
             c.n_device_output_channels =
                 count(n_device_output_channels, "n_device_output_channels", 1);
             c.input_channels = std::move(input_channels);
             c.output_channels = std::move(output_channels);
             c.mode = mode_of(mode);
             c.run_inline = run_inline;
             c.margin_samples = count(margin_samples, "margin_samples", run_inline ? 0 : 1);
             c.fallback_ramp_samples = count(fallback_ramp_samples, "fallback_ramp_samples", 1);
             c.max_chunk_frames = count(max_chunk_frames, "max_chunk_frames", 1);
             c.input_ring_frames = count(input_ring_frames, "input_ring_frames", 1);
             c.record_ring_frames = count(record_ring_frames, "record_ring_frames", 0);
             return new LiveBridge(c, std::move(processor));
           }),
           py::arg("processor"), py::arg("n_device_input_channels"),
           py::arg("n_device_output_channels"), py::arg("input_channels"),
           py::arg("output_channels"), py::arg("mode"), py::arg("margin_samples"),
           py::arg("fallback_ramp_samples") = 48, py::arg("max_chunk_frames") = 1024,
           py::arg("input_ring_frames") = 4 * 48000, py::arg("record_ring_frames") = 0,
           py::arg("inline") = false)
      .def_property_readonly("is_inline", &LiveBridge::is_inline,
                             "True if the callback runs the processor itself (no worker, no margin).")
      .def_property_readonly(
          "address", [](LiveBridge& self) { return reinterpret_cast<std::uintptr_t>(&self); },
          "This bridge's address: the callback's user data. Keep the bridge alive while a "
          "stream uses it.")
      // -- audio thread (for tests: the same code the device callback runs)
      .def(
          "process",
          [](LiveBridge& self, py::handle input, py::handle output, unsigned long status_flags) {
            std::size_t n_out_frames = 0;
            float* o = interleaved_of(output, "output", self.config().n_device_output_channels,
                                      true, &n_out_frames);
            const float* i = nullptr;
            if (!input.is_none()) {
              std::size_t n_in_frames = 0;
              i = interleaved_of(input, "input", self.config().n_device_input_channels, false,
                                 &n_in_frames);
              if (n_in_frames != n_out_frames) {
                throw py::value_error("input and output must have the same number of frames");
              }
            }
            py::gil_scoped_release release;
            self.process(i, o, n_out_frames, status_flags);
          },
          py::arg("input"), py::arg("output"), py::arg("status_flags") = 0,
          "Run the device callback once: input float32 (n_frames, n_device_input_channels) or "
          "None, output float32 (n_frames, n_device_output_channels), both interleaved and "
          "C-contiguous. For tests; a stream calls the native callback directly.")
      // -- worker thread
      .def(
          "pop_input",
          [](LiveBridge& self, py::handle out) {
            Planar p = planar_of(out, "out", 2, true);
            py::gil_scoped_release release;
            return self.pop_input(p.data, p.row_stride, p.n_cols);
          },
          py::arg("out"),
          "Pop up to out.shape[1] input frames into out: float32 (2, n). Returns the frames moved.")
      .def(
          "push_output",
          [](LiveBridge& self, py::handle out_a, py::handle out_b) {
            Planar a = planar_of(out_a, "out_a", 2, false);
            Planar b = planar_of(out_b, "out_b", 2, false);
            if (a.n_cols != b.n_cols) throw py::value_error("out_a and out_b must have the same number of frames");
            py::gil_scoped_release release;
            return self.push_output(a.data, a.row_stride, b.data, b.row_stride, a.n_cols);
          },
          py::arg("out_a"), py::arg("out_b"),
          "Push worker output, the processor's outputs A and B: float32 (2, n) each. Returns the "
          "frames moved (push the rest later).")
      .def(
          "wait_for_input",
          [](LiveBridge& self, double timeout_s) {
            py::gil_scoped_release release;
            return self.wait_for_input(timeout_s);
          },
          py::arg("timeout_s"),
          "Block (GIL released) until the callback pushed input or timeout_s passed; True if woken.")
      .def("wake_worker", &LiveBridge::wake_worker, "Wake a worker blocked in wait_for_input().")
      .def_property_readonly("input_available", &LiveBridge::input_available)
      .def_property_readonly("output_space", &LiveBridge::output_space)
      // -- recorder thread
      .def(
          "pop_record",
          [](LiveBridge& self, py::handle out) {
            Planar p = planar_of(out, "out", self.n_routed_channels(), true);
            py::gil_scoped_release release;
            return self.pop_record(p.data, p.row_stride, p.n_cols);
          },
          py::arg("out"),
          "Pop up to out.shape[1] frames of the routed output into out: float32 "
          "(n_routed_channels, n). Returns the frames moved (0 when recording is off).")
      .def_property_readonly("record_available", &LiveBridge::record_available)
      // -- controls
      .def_property_readonly("processor", &LiveBridge::processor, "The one BlockProcessor.")
      .def_property_readonly(
          "parameters", [](const LiveBridge& self) { return self.processor()->shared_parameters(); },
          "The live controls: the processor's Parameters.")
      // -- monitoring
      .def("stats", [](const LiveBridge& self) { return stats_dict(self.stats()); },
           "Cumulative counters (dict of ints).")
      .def(
          "timing",
          [](const LiveBridge& self) {
            auto t = std::make_unique<rtsep::LiveTiming>();
            self.timing(t.get());
            return timing_dict(*t);
          },
          "Callback gaps and worker response times (histograms in histogram_bin_ms bins, the "
          "last bin holding everything above), and the first 256 misses with the callback gap "
          "before each (dict).")
      .def("take_input_peak", &LiveBridge::take_input_peak,
           "Peak |sample| of the selected input since the last call (resets it).")
      .def("take_output_peak", &LiveBridge::take_output_peak,
           "Peak |sample| of the output since the last call (resets it).")
      .def_property_readonly("on_worker_output", &LiveBridge::on_worker_output,
                             "False while the output plays the fallback.")
      .def_property_readonly("engine_latency_samples", &LiveBridge::engine_latency_samples)
      .def_property_readonly("callback_cpu", &LiveBridge::callback_cpu,
                             "CPU the last callback ran on (Linux), -1 if unknown")
      .def_property_readonly("callback_tid", &LiveBridge::callback_tid,
                             "kernel thread id of the callback's thread (Linux), -1 if unknown")
      .def_property_readonly("margin_samples", &LiveBridge::margin_samples)
      .def_property_readonly("total_latency_samples", &LiveBridge::total_latency_samples)
      .def_property_readonly("n_routed_channels", &LiveBridge::n_routed_channels)
      .def_property_readonly("fallback_ramp_samples",
                             [](const LiveBridge& self) { return self.config().fallback_ramp_samples; })
      .def_property_readonly("mode", [](const LiveBridge& self) {
        return std::string(kModeNames[static_cast<int>(self.config().mode)]);
      })
      .def_property_readonly("sample_rate_hz", &LiveBridge::sample_rate_hz)
      .def("reset", &LiveBridge::reset,
           "Back to the constructed state; only while no stream, worker or recorder uses it.")
      .def("__repr__", [](const LiveBridge& self) {
        const LiveConfig& c = self.config();
        return "LiveBridge(mode='" + std::string(kModeNames[static_cast<int>(c.mode)]) +
               "', sample_rate_hz=" + std::to_string(static_cast<long long>(self.sample_rate_hz())) +
               ", engine_latency_samples=" + std::to_string(self.engine_latency_samples()) +
               ", margin_samples=" + std::to_string(c.margin_samples) +
               ", total_latency_samples=" + std::to_string(self.total_latency_samples()) + ")";
      });
  register_worker(m);  // after LiveBridge, which its constructor takes
}
