// NativeModel: a dependency-free C++ implementation of CausalUNet.step
// (rtsep/model/unet.py) reading the weights of a native model file (.rtsepw,
// written by rtsep/model/export_native.py).
//
// File layout (little-endian):
//   char[8]  magic "RTSEPNW\0"
//   u32      format_version (1)
//   u32      n_json_bytes, then that many bytes of UTF-8 JSON metadata (the same
//            self-description as the ONNX/TorchScript exports; not parsed here)
//   u32      n_tensors, then per tensor:
//              u16 n_name_bytes, name (ASCII), u8 dtype (1 = float32, 2 = int32),
//              u8 ndim (<= 4), u32 dims[ndim], prod(dims) 4-byte values
//   u32      CRC-32 (IEEE, as zlib.crc32) of every byte before it
//
// Tensors: "config.*" (int32 architecture and geometry numbers, float32
// constants), "window.analysis" and "window.synthesis.<mode>" (float32, n_fft),
// and "weights.<name>" for every entry of the PyTorch state_dict.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "mask_model.hpp"

namespace rtsep {

/// A native model file that is missing, corrupt or not understood. One line,
/// naming the file.
class NativeModelError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// One tensor of a native model file: float32 or int32 values, row-major.
struct NativeTensor {
  std::vector<std::size_t> shape;
  std::vector<float> f32;        // dtype float32
  std::vector<std::int32_t> i32; // dtype int32
  bool is_int = false;
  std::size_t numel() const noexcept;
};

/// The parsed contents of a .rtsepw file (read and checksum-verified; the
/// model's own consistency is checked by NativeModel).
struct NativeModelFile {
  static constexpr std::uint32_t kFormatVersion = 1;

  std::string path;
  std::uint32_t format_version = 0;
  std::string metadata_json;
  std::map<std::string, NativeTensor> tensors;

  /// Read and verify (magic, version, sizes, CRC). Throws NativeModelError.
  static NativeModelFile read(const std::string& path);
  /// parse() of n_bytes in memory (the whole file); `name` labels the errors.
  /// read() is this over the file's bytes. Allocates only what the bytes hold
  /// (each tensor is bounded by the bytes left). Throws NativeModelError.
  static NativeModelFile parse(const void* data, std::size_t n_bytes, const std::string& name);

  bool has(const std::string& name) const { return tensors.count(name) != 0; }
  /// The tensor `name`; throws NativeModelError if missing or of the wrong dtype.
  const NativeTensor& floats(const std::string& name) const;
  const NativeTensor& ints(const std::string& name) const;
  /// A one-element int32 tensor's value.
  std::int32_t int_value(const std::string& name) const;
};

/// CRC-32 (IEEE 802.3, reflected, as zlib.crc32) of n bytes, continuing from crc.
std::uint32_t crc32(const void* data, std::size_t n_bytes, std::uint32_t crc = 0) noexcept;

/// STFT geometry and latency of one latency mode, as stored in the file.
struct NativeLatencyMode {
  std::string name;                 // "default" or "low"
  std::vector<float> synthesis_window;  // n_fft
  std::size_t latency_samples = 0;  // fixed in/out block engine latency
};

/// CausalUNet.step in float32, batch 1, with its state held inside.
///
/// step() maps one stereo STFT frame, float32 (2, n_bins, 2) (the float32 view
/// of complex64 (2, n_bins): [..., 0] real, [..., 1] imaginary), to the vocal
/// magnitude mask, float32 (2, n_bins) in [0, 1]. Every buffer is allocated in
/// the constructor; step() and reset() do not allocate, lock or block. Not
/// thread-safe: one stream per object, stepped from one thread.
class NativeModel : public MaskModel {
 public:
  /// Build from a read file; validates the architecture numbers against the
  /// weight shapes. Throws NativeModelError.
  explicit NativeModel(const NativeModelFile& file);
  /// read() + the constructor.
  static std::unique_ptr<NativeModel> load(const std::string& path);
  /// parse() + the constructor: a whole .rtsepw file in memory (bytes in, model
  /// out); `name` labels the errors.
  static std::unique_ptr<NativeModel> load_bytes(const void* data, std::size_t n_bytes,
                                                 const std::string& name);

  // Limits on the architecture numbers of a file, checked before anything sized
  // by them is allocated (a model file is untrusted input). Far above any model
  // that runs in real time (the shipped one: n_fft 1024, time_kernel 2,
  // channels <= 64, 5 layers, gru_hidden 128).
  static constexpr std::size_t kMaxNfft = 16384;
  static constexpr std::size_t kMaxTimeKernel = 64;
  static constexpr std::size_t kMaxChannels = 1024;
  static constexpr std::size_t kMaxLayers = 12;
  static constexpr std::size_t kMaxGruHidden = 4096;
  /// Members of an ensemble file (config.n_members; rtsep.model.ensemble.MAX_MEMBERS).
  static constexpr std::size_t kMaxMembers = 8;
  /// Floats of all convolution state together (64 MB).
  static constexpr std::size_t kMaxStateFloats = std::size_t{1} << 24;

  NativeModel(const NativeModel&) = delete;
  NativeModel& operator=(const NativeModel&) = delete;

  std::size_t n_fft() const noexcept { return n_fft_; }
  std::size_t hop_samples() const noexcept { return hop_samples_; }
  std::size_t n_bins() const noexcept override { return n_bins_; }
  std::size_t n_channels() const noexcept { return 2; }
  const std::vector<int>& sample_rates_hz() const noexcept { return sample_rates_hz_; }
  bool supports_sample_rate(double sample_rate_hz) const noexcept;
  const std::vector<float>& analysis_window() const noexcept { return analysis_window_; }
  const std::vector<NativeLatencyMode>& latency_modes() const noexcept { return modes_; }
  /// The latency mode called `name`, or nullptr.
  const NativeLatencyMode* latency_mode(const std::string& name) const noexcept;
  /// The STFT geometry of latency mode `name` (windows copied). Throws
  /// NativeModelError if the file has no such mode.
  BlockGeometry geometry(const std::string& latency_mode) const;
  const std::string& metadata_json() const noexcept { return metadata_json_; }
  const std::string& path() const noexcept { return path_; }
  /// Multiply-accumulates of one step (convolutions, GRU, linear, head; every member).
  std::size_t macs_per_step() const noexcept;
  /// U-Nets run per frame: 1, or the members of an ensemble (their masks are averaged).
  std::size_t n_members() const noexcept { return nets_.size(); }

  /// One frame -> mask (see the class comment). frame and mask must not overlap.
  /// The mask is always in [0, 1]: if any value comes out non-finite (weights or
  /// input so large that the float arithmetic overflows), the whole mask is 0 and
  /// the state is zeroed so that the NaN does not stay in it; counted.
  void step(const float* frame, float* mask) noexcept override;
  /// Steps whose mask came out non-finite and was replaced (since construction).
  std::uint64_t n_nonfinite_steps() const noexcept { return n_nonfinite_steps_; }
  /// Zero the state (start of a new stream).
  void reset() noexcept override;
  bool realtime_safe() const noexcept override { return true; }

  /// The convolution/normalisation kernels: AVX2 + FMA (x86-64 CPUs that have them;
  /// the default there) or the portable loops. Both agree to float rounding. Call
  /// between streams, not while another thread steps the model. Returns whether the
  /// AVX2 kernels are now in use (false when asked for them on a CPU without them).
  bool use_avx2(bool on) noexcept;
  bool avx2() const noexcept { return avx2_; }

 private:
  // Conv over (time, band), causal in time, stride along bands, padding 1,
  // then per-frame norm and ELU. The input history holds k_t frames of
  // c_in zero-padded rows (b_in + 2 floats); slot k_t - 1 is the current input.
  struct ConvLayer {
    std::size_t c_in = 0, c_out = 0, k_t = 0, stride = 1, b_in = 0, b_out = 0;
    std::vector<float> weight;  // (c_out, c_in, k_t, 3)
    std::vector<float> bias;    // (c_out)
    std::vector<float> scale;   // (c_out)
    std::vector<float> shift;   // (c_out)
    std::vector<float> history; // (k_t, c_in, b_in + 2)
    std::vector<float> out;     // (c_out, b_out)
    std::vector<float> scratch; // stride 2, AVX2: (k_t, c_in, 2 (b_out + 1)) split rows
    float* input_row(std::size_t c) noexcept {
      return history.data() + ((k_t - 1) * c_in + c) * (b_in + 2) + 1;
    }
    void init(std::size_t c_in, std::size_t c_out, std::size_t k_t, std::size_t stride,
              std::size_t b_in);
    void run(float norm_eps, bool avx2) noexcept;
    void reset() noexcept;
  };

  std::string path_;
  std::string metadata_json_;
  std::size_t n_fft_ = 0, hop_samples_ = 0, n_bins_ = 0, n_bands_ = 0;
  std::size_t n_features_ = 0, time_kernel_ = 0, gru_hidden_ = 0, n_flat_ = 0;
  float mag_exponent_ = 0.3f, eps_ = 1e-8f, norm_eps_ = 1e-5f;
  std::vector<int> sample_rates_hz_;
  std::vector<float> analysis_window_;
  std::vector<NativeLatencyMode> modes_;

  std::vector<std::uint32_t> band_of_bin_;  // (n_bins)
  std::vector<float> pool_weight_;          // (n_bins): the bin's weight in its band's average
  std::vector<float> mag_;                  // (n_features, n_bins)
  std::vector<float> features_;             // (n_features, n_bands): the shared band features

  // One U-Net: its weights and its state. An ensemble file holds several of one
  // architecture; every one runs on each frame and the mask is the mean of theirs.
  struct Net {
    std::vector<ConvLayer> encoders;
    std::vector<ConvLayer> decoders;
    std::vector<float> w_ih, w_hh, b_ih, b_hh;  // GRU (3H, n_flat), (3H, H), (3H), (3H)
    std::vector<float> w_out, b_out;            // Linear (n_flat, H), (n_flat)
    std::vector<float> head_w, head_b;          // (2, c0), (2)
    // The calibration's per-band map of the head's logits (z * scale + bias), when the
    // model has one (rtsep.train.calibrate); empty: none.
    std::vector<float> logit_scale, logit_bias;  // (n_bands), (n_bands)
    std::vector<float> hidden;      // (H) the GRU state
    std::vector<float> gates_i;     // (3H)
    std::vector<float> gates_h;     // (3H)
    std::vector<float> bottleneck;  // (n_flat)
    std::vector<float> x;           // decoder running activation (c, b), max size
    std::vector<float> head;        // (2, n_bands) the head's logits
    void reset() noexcept;
  };
  // Runs `net` on features_, leaving its logits in net.head.
  void run_net(Net& net) noexcept;
  std::vector<Net> nets_;
  std::uint64_t n_nonfinite_steps_ = 0;
  bool avx2_ = false;
};

}  // namespace rtsep
