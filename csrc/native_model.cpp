#include "native_model.hpp"

#include "native_avx2.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>

namespace rtsep {

namespace {

constexpr char kMagic[8] = {'R', 'T', 'S', 'E', 'P', 'N', 'W', '\0'};
constexpr std::uint8_t kDtypeFloat32 = 1;
constexpr std::uint8_t kDtypeInt32 = 2;
constexpr std::size_t kMaxNdim = 4;
// A window value above this is not a window (rtsep's own are at most about 6).
constexpr float kMaxWindowValue = 1000.0f;
// How far the analysis*synthesis product may overlap-add from 1 (rtsep's: 6e-8).
constexpr double kWindowReconstructionTolerance = 1e-3;

NativeModelError fail(const std::string& path, const std::string& what) {
  return NativeModelError(path + ": " + what);
}

std::string shape_string(const std::vector<std::size_t>& shape) {
  std::ostringstream s;
  s << "(";
  for (std::size_t i = 0; i < shape.size(); ++i) s << (i ? ", " : "") << shape[i];
  s << (shape.size() == 1 ? ",)" : ")");
  return s.str();
}

// Bounds-checked little-endian reader over the file's bytes.
class Reader {
 public:
  Reader(const std::string& path, const unsigned char* bytes, std::size_t end)
      : path_(path), bytes_(bytes), end_(end) {}

  const unsigned char* take(std::size_t n, const char* what) {
    if (n > end_ - pos_) {
      throw fail(path_, std::string("truncated file (") + what + " runs past the end)");
    }
    const unsigned char* p = bytes_ + pos_;
    pos_ += n;
    return p;
  }
  std::uint32_t u32(const char* what) {
    const unsigned char* p = take(4, what);
    return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
           static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
  }
  std::uint16_t u16(const char* what) {
    const unsigned char* p = take(2, what);
    return static_cast<std::uint16_t>(p[0] | p[1] << 8);
  }
  std::uint8_t u8(const char* what) { return *take(1, what); }
  std::size_t pos() const { return pos_; }

 private:
  const std::string& path_;
  const unsigned char* bytes_;
  std::size_t end_;
  std::size_t pos_ = 0;
};

bool little_endian_host() {
  const std::uint32_t one = 1;
  unsigned char first;
  std::memcpy(&first, &one, 1);
  return first == 1;
}

// Sum of a[i] * b[i]: four partial sums (a dependency chain per sum, not one).
float dot(const float* a, const float* b, std::size_t n) noexcept {
  float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += a[i] * b[i];
    s1 += a[i + 1] * b[i + 1];
    s2 += a[i + 2] * b[i + 2];
    s3 += a[i + 3] * b[i + 3];
  }
  for (; i < n; ++i) s0 += a[i] * b[i];
  return (s0 + s1) + (s2 + s3);
}

float sigmoid(float x) noexcept { return 1.0f / (1.0f + std::exp(-x)); }

// a * b, or a NativeModelError if it overflows size_t.
std::size_t checked_mul(const std::string& path, std::size_t a, std::size_t b) {
  if (a != 0 && b > SIZE_MAX / a) throw fail(path, "a tensor size overflows");
  return a * b;
}

}  // namespace

std::size_t NativeTensor::numel() const noexcept {
  std::size_t n = 1;
  for (std::size_t d : shape) n *= d;
  return n;
}

std::uint32_t crc32(const void* data, std::size_t n_bytes, std::uint32_t crc) noexcept {
  static const std::array<std::uint32_t, 256> table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1u) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  const auto* p = static_cast<const unsigned char*>(data);
  crc = ~crc;
  for (std::size_t i = 0; i < n_bytes; ++i) crc = table[(crc ^ p[i]) & 0xFFu] ^ (crc >> 8);
  return ~crc;
}

// ---------------------------------------------------------------------------
// File

NativeModelFile NativeModelFile::read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw fail(path, "cannot open the native model file (missing or unreadable)");
  std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)),
                                   std::istreambuf_iterator<char>());
  if (in.bad()) throw fail(path, "read error");
  return parse(bytes.data(), bytes.size(), path);
}

NativeModelFile NativeModelFile::parse(const void* data, std::size_t n_bytes,
                                       const std::string& path) {
  if (!little_endian_host()) throw fail(path, "native model files need a little-endian host");
  const auto* bytes = static_cast<const unsigned char*>(data);
  if (bytes == nullptr || n_bytes < sizeof(kMagic) ||
      std::memcmp(bytes, kMagic, sizeof(kMagic)) != 0) {
    throw fail(path, "not an rtsep native model file (bad magic; export one with "
                     "`rtsep export CKPT --format native`)");
  }
  if (n_bytes < sizeof(kMagic) + 16) throw fail(path, "truncated file");
  const std::size_t body = n_bytes - 4;
  std::uint32_t stored_crc;
  std::memcpy(&stored_crc, bytes + body, 4);

  NativeModelFile f;
  f.path = path;
  Reader r(path, bytes, body);
  r.take(sizeof(kMagic), "magic");
  f.format_version = r.u32("format version");
  if (f.format_version == 0) throw fail(path, "bad format version 0");
  if (f.format_version > kFormatVersion) {
    throw fail(path, "format version " + std::to_string(f.format_version) +
                         " is newer than this rtsep reads (" + std::to_string(kFormatVersion) +
                         "); upgrade rtsep");
  }
  if (crc32(bytes, body) != stored_crc) {
    throw fail(path, "checksum mismatch: the file is truncated or corrupted");
  }
  const std::uint32_t n_json = r.u32("metadata length");
  const unsigned char* json = r.take(n_json, "metadata");
  f.metadata_json.assign(reinterpret_cast<const char*>(json), n_json);
  const std::uint32_t n_tensors = r.u32("tensor count");
  for (std::uint32_t k = 0; k < n_tensors; ++k) {
    const std::uint16_t n_name = r.u16("tensor name length");
    const unsigned char* name_p = r.take(n_name, "tensor name");
    std::string name(reinterpret_cast<const char*>(name_p), n_name);
    const std::uint8_t dtype = r.u8("tensor dtype");
    const std::uint8_t ndim = r.u8("tensor rank");
    if (dtype != kDtypeFloat32 && dtype != kDtypeInt32) {
      throw fail(path, "tensor '" + name + "' has unknown dtype code " + std::to_string(dtype));
    }
    if (ndim > kMaxNdim) throw fail(path, "tensor '" + name + "' has rank > 4");
    NativeTensor t;
    t.is_int = dtype == kDtypeInt32;
    std::size_t numel = 1;
    for (std::uint8_t d = 0; d < ndim; ++d) {
      const std::uint32_t dim = r.u32("tensor shape");
      if (dim == 0 || dim > (1u << 28)) throw fail(path, "tensor '" + name + "' has a bad shape");
      t.shape.push_back(dim);
      numel *= dim;
      if (numel > (std::size_t{1} << 28)) throw fail(path, "tensor '" + name + "' is too large");
    }
    const unsigned char* data = r.take(numel * 4, "tensor data");
    if (t.is_int) {
      t.i32.resize(numel);
      std::memcpy(t.i32.data(), data, numel * 4);
    } else {
      t.f32.resize(numel);
      std::memcpy(t.f32.data(), data, numel * 4);
    }
    if (!f.tensors.emplace(name, std::move(t)).second) {
      throw fail(path, "tensor '" + name + "' appears twice");
    }
  }
  if (r.pos() != body) throw fail(path, "trailing bytes after the last tensor");
  return f;
}

const NativeTensor& NativeModelFile::floats(const std::string& name) const {
  auto it = tensors.find(name);
  if (it == tensors.end()) throw fail(path, "missing tensor '" + name + "'");
  if (it->second.is_int) throw fail(path, "tensor '" + name + "' should be float32");
  return it->second;
}

const NativeTensor& NativeModelFile::ints(const std::string& name) const {
  auto it = tensors.find(name);
  if (it == tensors.end()) throw fail(path, "missing tensor '" + name + "'");
  if (!it->second.is_int) throw fail(path, "tensor '" + name + "' should be int32");
  return it->second;
}

std::int32_t NativeModelFile::int_value(const std::string& name) const {
  const NativeTensor& t = ints(name);
  if (t.numel() != 1) throw fail(path, "tensor '" + name + "' should hold one value");
  return t.i32[0];
}

// ---------------------------------------------------------------------------
// Model

namespace {

std::size_t positive_int(const NativeModelFile& f, const std::string& name) {
  const std::int32_t v = f.int_value(name);
  if (v <= 0) throw fail(f.path, name + " must be > 0, got " + std::to_string(v));
  return static_cast<std::size_t>(v);
}

float float_value(const NativeModelFile& f, const std::string& name) {
  const NativeTensor& t = f.floats(name);
  if (t.numel() != 1 || !std::isfinite(t.f32[0])) {
    throw fail(f.path, "tensor '" + name + "' should hold one finite value");
  }
  return t.f32[0];
}

// The float tensor `name` with exactly `shape`, as a vector; marks it used.
std::vector<float> weight(const NativeModelFile& f, const std::string& name,
                          const std::vector<std::size_t>& shape, std::set<std::string>& used) {
  const NativeTensor& t = f.floats(name);
  if (t.shape != shape) {
    throw fail(f.path, "tensor '" + name + "' has shape " + shape_string(t.shape) +
                           ", the model config needs " + shape_string(shape));
  }
  for (float v : t.f32) {
    if (!std::isfinite(v)) throw fail(f.path, "tensor '" + name + "' contains NaN or inf");
  }
  used.insert(name);
  return t.f32;
}

}  // namespace

void NativeModel::ConvLayer::init(std::size_t c_in_, std::size_t c_out_, std::size_t k_t_,
                                  std::size_t stride_, std::size_t b_in_) {
  c_in = c_in_;
  c_out = c_out_;
  k_t = k_t_;
  stride = stride_;
  b_in = b_in_;
  b_out = (b_in - 1) / stride + 1;  // kernel 3, padding 1
  history.assign(k_t * c_in * (b_in + 2), 0.0f);
  out.assign(c_out * b_out, 0.0f);
  scratch.assign(stride == 1 ? 0 : k_t * c_in * 2 * (b_out + 1), 0.0f);
}

NativeModel::NativeModel(const NativeModelFile& f) : path_(f.path), metadata_json_(f.metadata_json) {
  std::set<std::string> used;
  auto cfg = [&](const std::string& key) {
    used.insert("config." + key);
    return positive_int(f, "config." + key);
  };
  n_fft_ = cfg("n_fft");
  hop_samples_ = cfg("hop_samples");
  n_bins_ = cfg("n_bins");
  n_bands_ = cfg("n_bands");
  n_features_ = cfg("n_features");
  time_kernel_ = cfg("time_kernel");
  gru_hidden_ = cfg("gru_hidden");
  const std::size_t n_channels_audio = cfg("n_channels_audio");
  if (n_fft_ < 16 || (n_fft_ & (n_fft_ - 1)) != 0) throw fail(path_, "n_fft must be a power of two >= 16");
  auto cap = [&](const char* what, std::size_t v, std::size_t limit) {
    if (v > limit) {
      throw fail(path_, std::string(what) + " " + std::to_string(v) + " is above this rtsep's limit " +
                            std::to_string(limit));
    }
  };
  cap("n_fft", n_fft_, kMaxNfft);
  cap("time_kernel", time_kernel_, kMaxTimeKernel);
  cap("gru_hidden", gru_hidden_, kMaxGruHidden);
  if (n_bins_ != n_fft_ / 2 + 1) throw fail(path_, "n_bins != n_fft / 2 + 1");
  if (hop_samples_ > n_fft_ / 2) throw fail(path_, "hop_samples must be <= n_fft / 2");
  if (n_channels_audio != 2) throw fail(path_, "the native model runs stereo models only");
  if (n_features_ != 4) throw fail(path_, "the native model computes 4 features (|L|, |R|, |M|, |S|)");
  if (n_bands_ > n_bins_) throw fail(path_, "n_bands > n_bins");
  for (const char* key : {"mag_exponent", "eps", "norm_eps"}) used.insert(std::string("config.") + key);
  mag_exponent_ = float_value(f, "config.mag_exponent");
  eps_ = float_value(f, "config.eps");
  norm_eps_ = float_value(f, "config.norm_eps");

  const NativeTensor& rates = f.ints("config.sample_rates_hz");
  used.insert("config.sample_rates_hz");
  for (std::int32_t r : rates.i32) {
    if (r <= 0) throw fail(path_, "bad sample rate in config.sample_rates_hz");
    sample_rates_hz_.push_back(r);
  }
  if (sample_rates_hz_.empty()) throw fail(path_, "no sample rates");

  analysis_window_ = weight(f, "window.analysis", {n_fft_}, used);
  // The windows scale every output sample: a pair that does not reconstruct (an
  // identity mask must give the input back) or holds huge values would turn a sane
  // input into a loud or overflowing output, so the file is refused here.
  const auto check_window_pair = [&](const std::vector<float>& synthesis, const std::string& wname) {
    for (std::size_t i = 0; i < n_fft_; ++i) {
      if (std::fabs(analysis_window_[i]) > kMaxWindowValue || std::fabs(synthesis[i]) > kMaxWindowValue) {
        throw fail(path_, "window.analysis or " + wname + " holds a value above " +
                              std::to_string(static_cast<int>(kMaxWindowValue)));
      }
    }
    for (std::size_t phase = 0; phase < hop_samples_; ++phase) {
      double sum = 0.0;
      for (std::size_t i = phase; i < n_fft_; i += hop_samples_) {
        sum += static_cast<double>(analysis_window_[i]) * synthesis[i];
      }
      if (!(std::fabs(sum - 1.0) <= kWindowReconstructionTolerance)) {
        throw fail(path_, "window.analysis and " + wname +
                              " do not reconstruct (their product does not overlap-add to 1)");
      }
    }
  };
  for (const char* mode : {"default", "low"}) {
    const std::string wname = std::string("window.synthesis.") + mode;
    if (!f.has(wname)) continue;
    NativeLatencyMode m;
    m.name = mode;
    m.synthesis_window = weight(f, wname, {n_fft_}, used);
    std::size_t first = 0;
    while (first < n_fft_ && m.synthesis_window[first] == 0.0f) ++first;
    if (first == n_fft_) throw fail(path_, wname + " is all zeros");
    const std::size_t support = n_fft_ - first;
    if (support <= hop_samples_) throw fail(path_, wname + " is shorter than the hop");
    m.latency_samples = support - 1;  // (support - hop) + (hop - 1): see rtsep.config
    check_window_pair(m.synthesis_window, wname);
    const std::string lname = std::string("config.latency_samples.") + mode;
    used.insert(lname);
    if (static_cast<std::size_t>(f.int_value(lname)) != m.latency_samples) {
      throw fail(path_, "stored latency of mode '" + std::string(mode) + "' (" +
                            std::to_string(f.int_value(lname)) + ") != the synthesis window's (" +
                            std::to_string(m.latency_samples) + ")");
    }
    modes_.push_back(std::move(m));
  }
  if (modes_.empty()) throw fail(path_, "no synthesis window (window.synthesis.<mode>)");

  // An ensemble file says how many members it holds; each member's weights sit under
  // weights.members.<j>. (the PyTorch MaskEnsemble's state-dict names). A single model's
  // file has no config.n_members and its weights under weights.
  std::size_t n_members = 1;
  if (f.has("config.n_members")) {
    n_members = cfg("n_members");
    if (n_members < 2) throw fail(path_, "config.n_members must be >= 2 (a single model has none)");
    cap("config.n_members", n_members, kMaxMembers);
  }
  const auto prefix_of = [&](std::size_t j) {
    return n_members == 1 ? std::string("weights.") : "weights.members." + std::to_string(j) + ".";
  };

  // Band pooling and expansion: one-hot expansion, averaging pool (every member's must be
  // the same; they are constants of the shared architecture).
  const auto pool = weight(f, prefix_of(0) + "band_pool", {n_bins_, n_bands_}, used);
  const auto expand = weight(f, prefix_of(0) + "band_expand", {n_bands_, n_bins_}, used);
  for (std::size_t j = 1; j < n_members; ++j) {
    if (weight(f, prefix_of(j) + "band_pool", {n_bins_, n_bands_}, used) != pool ||
        weight(f, prefix_of(j) + "band_expand", {n_bands_, n_bins_}, used) != expand) {
      throw fail(path_, "member " + std::to_string(j) + "'s band matrices differ from member 0's");
    }
  }
  band_of_bin_.assign(n_bins_, 0);
  pool_weight_.assign(n_bins_, 0.0f);
  for (std::size_t bin = 0; bin < n_bins_; ++bin) {
    std::size_t n_ones = 0;
    for (std::size_t band = 0; band < n_bands_; ++band) {
      const float e = expand[band * n_bins_ + bin];
      const float p = pool[bin * n_bands_ + band];
      if (e == 1.0f) {
        ++n_ones;
        band_of_bin_[bin] = static_cast<std::uint32_t>(band);
        pool_weight_[bin] = p;
      } else if (e != 0.0f || p != 0.0f) {
        throw fail(path_, "band matrices are not a bin-to-band partition");
      }
    }
    if (n_ones != 1) throw fail(path_, "band_expand must map each bin to exactly one band");
  }

  const NativeTensor& chans_t = f.ints("config.channels");
  used.insert("config.channels");
  std::vector<std::size_t> chans;
  if (chans_t.numel() > kMaxLayers) {
    throw fail(path_, "config.channels has " + std::to_string(chans_t.numel()) +
                          " layers, above this rtsep's limit " + std::to_string(kMaxLayers));
  }
  for (std::int32_t c : chans_t.i32) {
    if (c <= 0) throw fail(path_, "bad config.channels");
    cap("a channel count in config.channels", static_cast<std::size_t>(c), kMaxChannels);
    chans.push_back(static_cast<std::size_t>(c));
  }
  if (chans.empty()) throw fail(path_, "config.channels is empty");
  const std::size_t n_layers = chans.size();

  // Every weight is checked against the file before the layer's state (sized by
  // c_in, k_t and b_in, all capped above, and in all at most kMaxStateFloats) is
  // allocated.
  std::size_t state_floats = 0;
  auto load_layer = [&](const std::string& prefix, ConvLayer& layer, std::size_t c_in,
                        std::size_t c_out, std::size_t stride, std::size_t b_in) {
    if (b_in == 0) throw fail(path_, prefix + ": no bands left");
    layer.weight = weight(f, prefix + ".conv.weight", {c_out, c_in, time_kernel_, 3}, used);
    layer.bias = weight(f, prefix + ".conv.bias", {c_out}, used);
    layer.scale = weight(f, prefix + ".norm.scale", {1, c_out, 1, 1}, used);
    layer.shift = weight(f, prefix + ".norm.bias", {1, c_out, 1, 1}, used);
    const std::size_t rows = checked_mul(path_, time_kernel_, c_in);
    state_floats += checked_mul(path_, rows, b_in + 2) + checked_mul(path_, c_out, b_in);
    if (stride != 1) {  // the AVX2 kernel's split rows (ConvLayer::scratch)
      state_floats += checked_mul(path_, rows, 2 * ((b_in - 1) / stride + 2));
    }
    if (state_floats > kMaxStateFloats) {
      throw fail(path_, "the model's state would need more than " +
                            std::to_string(kMaxStateFloats / (1u << 18)) + " MB (" + prefix + ")");
    }
    layer.init(c_in, c_out, time_kernel_, stride, b_in);
  };

  // Band counts of the encoder outputs (the same for every member).
  std::vector<std::size_t> enc_bands;
  for (std::size_t i = 0, bands = n_bands_; i < n_layers; ++i) {
    if (bands == 0) throw fail(path_, "encoder " + std::to_string(i) + ": no bands left");
    bands = i == 0 ? bands : (bands - 1) / 2 + 1;
    enc_bands.push_back(bands);
  }
  n_flat_ = chans.back() * enc_bands.back();
  const std::size_t h = gru_hidden_;
  std::size_t max_act = n_flat_;
  for (std::size_t j = 0; j + 1 < n_layers; ++j) {
    const std::size_t i = n_layers - 1 - j;  // from layer i up to layer i - 1
    const std::size_t b_up = 2 * enc_bands[i];
    if (b_up != enc_bands[i - 1]) {
      throw fail(path_, "decoder " + std::to_string(j) + " would upsample " +
                            std::to_string(enc_bands[i]) + " bands to " + std::to_string(b_up) +
                            " but the skip has " + std::to_string(enc_bands[i - 1]) +
                            " (n_bands must halve evenly)");
    }
    max_act = std::max(max_act, chans[i - 1] * b_up);
  }

  nets_.resize(n_members);
  for (std::size_t m = 0; m < n_members; ++m) {
    Net& net = nets_[m];
    const std::string w = prefix_of(m);
    net.encoders.resize(n_layers);
    std::size_t b_in = n_bands_, c_prev = n_features_;
    for (std::size_t i = 0; i < n_layers; ++i) {
      load_layer(w + "encoders." + std::to_string(i), net.encoders[i], c_prev, chans[i],
                 i == 0 ? 1 : 2, b_in);
      b_in = net.encoders[i].b_out;
      c_prev = chans[i];
    }
    net.w_ih = weight(f, w + "gru.weight_ih_l0", {3 * h, n_flat_}, used);
    net.w_hh = weight(f, w + "gru.weight_hh_l0", {3 * h, h}, used);
    net.b_ih = weight(f, w + "gru.bias_ih_l0", {3 * h}, used);
    net.b_hh = weight(f, w + "gru.bias_hh_l0", {3 * h}, used);
    net.w_out = weight(f, w + "gru_out.weight", {n_flat_, h}, used);
    net.b_out = weight(f, w + "gru_out.bias", {n_flat_}, used);
    net.decoders.resize(n_layers - 1);
    for (std::size_t j = 0; j + 1 < n_layers; ++j) {
      const std::size_t i = n_layers - 1 - j;
      load_layer(w + "decoders." + std::to_string(j), net.decoders[j], chans[i], chans[i - 1], 1,
                 2 * enc_bands[i]);
    }
    net.head_w = weight(f, w + "head.weight", {2, chans[0], 1, 1}, used);
    net.head_b = weight(f, w + "head.bias", {2}, used);
    const bool has_scale = f.has(w + "band_logit_scale"), has_bias = f.has(w + "band_logit_bias");
    if (has_scale != has_bias) {
      throw fail(path_, w + "band_logit_scale and band_logit_bias come together (the calibration)");
    }
    if (has_scale) {
      net.logit_scale = weight(f, w + "band_logit_scale", {n_bands_}, used);
      net.logit_bias = weight(f, w + "band_logit_bias", {n_bands_}, used);
    }
    net.hidden.assign(h, 0.0f);
    net.gates_i.assign(3 * h, 0.0f);
    net.gates_h.assign(3 * h, 0.0f);
    net.bottleneck.assign(n_flat_, 0.0f);
    net.x.assign(max_act, 0.0f);
    net.head.assign(2 * n_bands_, 0.0f);
  }

  for (const auto& kv : f.tensors) {
    if (!used.count(kv.first)) {
      throw fail(path_, "unexpected tensor '" + kv.first +
                            "' (a model this rtsep's native engine does not implement)");
    }
  }

  mag_.assign(n_features_ * n_bins_, 0.0f);
  features_.assign(n_features_ * n_bands_, 0.0f);
  avx2_ = detail::native_avx2_cpu_ok();
  reset();
}

std::unique_ptr<NativeModel> NativeModel::load(const std::string& path) {
  return std::make_unique<NativeModel>(NativeModelFile::read(path));
}

std::unique_ptr<NativeModel> NativeModel::load_bytes(const void* data, std::size_t n_bytes,
                                                      const std::string& name) {
  return std::make_unique<NativeModel>(NativeModelFile::parse(data, n_bytes, name));
}

bool NativeModel::supports_sample_rate(double sample_rate_hz) const noexcept {
  for (int r : sample_rates_hz_) {
    if (static_cast<double>(r) == sample_rate_hz) return true;
  }
  return false;
}

const NativeLatencyMode* NativeModel::latency_mode(const std::string& name) const noexcept {
  for (const auto& m : modes_) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

BlockGeometry NativeModel::geometry(const std::string& latency_mode) const {
  const NativeLatencyMode* mode = this->latency_mode(latency_mode);
  if (mode == nullptr) {
    throw NativeModelError(path_ + ": the model has no '" + latency_mode + "' latency mode");
  }
  return BlockGeometry{n_fft_, hop_samples_, analysis_window_, mode->synthesis_window};
}

std::size_t NativeModel::macs_per_step() const noexcept {
  std::size_t total = 0;
  auto conv = [&](const ConvLayer& l) { total += l.c_out * l.b_out * l.c_in * l.k_t * 3; };
  for (const Net& net : nets_) {
    for (const auto& l : net.encoders) conv(l);
    for (const auto& l : net.decoders) conv(l);
    total += 3 * gru_hidden_ * (n_flat_ + gru_hidden_) + n_flat_ * gru_hidden_;
    total += 2 * net.encoders.front().c_out * n_bands_;
  }
  return total;
}

void NativeModel::ConvLayer::reset() noexcept {
  std::fill(history.begin(), history.end(), 0.0f);
  std::fill(out.begin(), out.end(), 0.0f);
}

void NativeModel::ConvLayer::run(float norm_eps, bool avx2) noexcept {
  const std::size_t row_len = b_in + 2;
  if (avx2) {
    detail::conv_avx2(history.data(), weight.data(), bias.data(), out.data(), c_in, c_out, k_t,
                      stride, b_in, b_out, scratch.data());
  } else {
    for (std::size_t o = 0; o < c_out; ++o) {
      float* y = out.data() + o * b_out;
      std::fill(y, y + b_out, bias[o]);
      for (std::size_t i = 0; i < c_in; ++i) {
        for (std::size_t t = 0; t < k_t; ++t) {
          const float* row = history.data() + (t * c_in + i) * row_len;
          const float* w = weight.data() + ((o * c_in + i) * k_t + t) * 3;
          const float w0 = w[0], w1 = w[1], w2 = w[2];
          if (stride == 1) {
            for (std::size_t b = 0; b < b_out; ++b) {
              y[b] += w0 * row[b] + w1 * row[b + 1] + w2 * row[b + 2];
            }
          } else {
            for (std::size_t b = 0; b < b_out; ++b) {
              const float* p = row + stride * b;
              y[b] += w0 * p[0] + w1 * p[1] + w2 * p[2];
            }
          }
        }
      }
    }
  }
  // Per-frame norm over (channels, bands), affine per channel, then ELU.
  const std::size_t n = c_out * b_out;
  double sum = 0.0;
  for (std::size_t k = 0; k < n; ++k) sum += out[k];
  const float mean = static_cast<float>(sum / static_cast<double>(n));
  double sq = 0.0;
  for (std::size_t k = 0; k < n; ++k) {
    const double d = static_cast<double>(out[k] - mean);
    sq += d * d;
  }
  const float inv_std =
      1.0f / std::sqrt(static_cast<float>(sq / static_cast<double>(n)) + norm_eps);
  if (avx2) {
    detail::norm_elu_avx2(out.data(), scale.data(), shift.data(), c_out, b_out, mean, inv_std);
  } else {
    for (std::size_t o = 0; o < c_out; ++o) {
      float* y = out.data() + o * b_out;
      const float a = scale[o], c = shift[o];
      for (std::size_t b = 0; b < b_out; ++b) {
        const float z = (y[b] - mean) * inv_std * a + c;
        y[b] = z > 0.0f ? z : std::expm1(z);
      }
    }
  }
  // The newest k_t - 1 input frames become the state.
  if (k_t > 1) {
    std::memmove(history.data(), history.data() + c_in * row_len,
                 (k_t - 1) * c_in * row_len * sizeof(float));
  }
}

bool NativeModel::use_avx2(bool on) noexcept {
  avx2_ = on && detail::native_avx2_cpu_ok();
  return avx2_;
}

void NativeModel::Net::reset() noexcept {
  for (auto& l : encoders) l.reset();
  for (auto& l : decoders) l.reset();
  std::fill(hidden.begin(), hidden.end(), 0.0f);
}

void NativeModel::reset() noexcept {
  for (Net& net : nets_) net.reset();
}

void NativeModel::step(const float* frame, float* mask) noexcept {
  // Features: compressed magnitudes of L, R, mid, side, pooled into bands.
  const std::size_t nb = n_bins_;
  const float half_exp = 0.5f * mag_exponent_;
  for (std::size_t k = 0; k < nb; ++k) {
    const float lr = frame[2 * k], li = frame[2 * k + 1];
    const float rr = frame[2 * (nb + k)], ri = frame[2 * (nb + k) + 1];
    const float mr = 0.5f * (lr + rr), mi = 0.5f * (li + ri);
    const float sr = 0.5f * (lr - rr), si = 0.5f * (li - ri);
    mag_[k] = std::pow(lr * lr + li * li + eps_, half_exp);
    mag_[nb + k] = std::pow(rr * rr + ri * ri + eps_, half_exp);
    mag_[2 * nb + k] = std::pow(mr * mr + mi * mi + eps_, half_exp);
    mag_[3 * nb + k] = std::pow(sr * sr + si * si + eps_, half_exp);
  }
  std::fill(features_.begin(), features_.end(), 0.0f);
  for (std::size_t c = 0; c < n_features_; ++c) {
    float* row = features_.data() + c * n_bands_;
    const float* m = mag_.data() + c * nb;
    for (std::size_t k = 0; k < nb; ++k) row[band_of_bin_[k]] += m[k] * pool_weight_[k];
  }

  // Every member's logits, then the mean of their sigmoids, copied back to bins.
  std::fill(mask, mask + 2 * nb, 0.0f);
  for (Net& net : nets_) {
    run_net(net);
    for (std::size_t a = 0; a < 2; ++a) {
      const float* hb = net.head.data() + a * n_bands_;
      float* m = mask + a * nb;
      for (std::size_t k = 0; k < nb; ++k) m[k] += sigmoid(hb[band_of_bin_[k]]);
    }
  }
  if (nets_.size() > 1) {
    const float inv = 1.0f / static_cast<float>(nets_.size());
    for (std::size_t k = 0; k < 2 * nb; ++k) mask[k] *= inv;
  }
  // Overflow anywhere upstream ends as NaN here (sigmoid maps +-inf into [0, 1]).
  bool finite = true;
  for (std::size_t k = 0; k < 2 * nb; ++k) finite &= mask[k] >= 0.0f && mask[k] <= 1.0f;
  if (!finite) {
    std::fill(mask, mask + 2 * nb, 0.0f);
    reset();
    ++n_nonfinite_steps_;
  }
}

void NativeModel::run_net(Net& net) noexcept {
  ConvLayer& first = net.encoders.front();
  for (std::size_t c = 0; c < n_features_; ++c) {
    std::memcpy(first.input_row(c), features_.data() + c * n_bands_, n_bands_ * sizeof(float));
  }

  // Encoders: each output feeds the next layer and is kept as a skip.
  for (std::size_t i = 0; i < net.encoders.size(); ++i) {
    ConvLayer& l = net.encoders[i];
    l.run(norm_eps_, avx2_);
    if (i + 1 < net.encoders.size()) {
      ConvLayer& next = net.encoders[i + 1];
      for (std::size_t c = 0; c < l.c_out; ++c) {
        std::memcpy(next.input_row(c), l.out.data() + c * l.b_out, l.b_out * sizeof(float));
      }
    }
  }

  // GRU bottleneck (PyTorch gate order r, z, n) and the linear projection back.
  const std::size_t h = gru_hidden_;
  const float* x = net.encoders.back().out.data();
  for (std::size_t r = 0; r < 3 * h; ++r) {
    net.gates_i[r] = dot(net.w_ih.data() + r * n_flat_, x, n_flat_) + net.b_ih[r];
    net.gates_h[r] = dot(net.w_hh.data() + r * h, net.hidden.data(), h) + net.b_hh[r];
  }
  for (std::size_t k = 0; k < h; ++k) {
    const float r = sigmoid(net.gates_i[k] + net.gates_h[k]);
    const float z = sigmoid(net.gates_i[h + k] + net.gates_h[h + k]);
    const float n = std::tanh(net.gates_i[2 * h + k] + r * net.gates_h[2 * h + k]);
    net.hidden[k] = (1.0f - z) * n + z * net.hidden[k];
  }
  for (std::size_t k = 0; k < n_flat_; ++k) {
    net.bottleneck[k] = x[k] + (dot(net.w_out.data() + k * h, net.hidden.data(), h) + net.b_out[k]);
  }

  // Decoders: upsample x2 along bands, conv, add the skip.
  const float* cur = net.bottleneck.data();
  std::size_t cur_bands = net.encoders.back().b_out;
  for (std::size_t j = 0; j < net.decoders.size(); ++j) {
    ConvLayer& d = net.decoders[j];
    for (std::size_t c = 0; c < d.c_in; ++c) {
      float* row = d.input_row(c);
      const float* src = cur + c * cur_bands;
      for (std::size_t b = 0; b < cur_bands; ++b) row[2 * b] = row[2 * b + 1] = src[b];
    }
    d.run(norm_eps_, avx2_);
    const ConvLayer& skip = net.encoders[net.encoders.size() - 2 - j];
    const std::size_t n = d.c_out * d.b_out;
    for (std::size_t k = 0; k < n; ++k) net.x[k] = d.out[k] + skip.out[k];
    cur = net.x.data();
    cur_bands = d.b_out;
  }

  // Head: 1x1 conv to two channels (logits per band).
  const std::size_t c0 = net.encoders.front().c_out;
  for (std::size_t a = 0; a < 2; ++a) {
    float* hb = net.head.data() + a * n_bands_;
    std::fill(hb, hb + n_bands_, net.head_b[a]);
    for (std::size_t c = 0; c < c0; ++c) {
      const float w = net.head_w[a * c0 + c];
      const float* src = cur + c * n_bands_;
      for (std::size_t b = 0; b < n_bands_; ++b) hb[b] += w * src[b];
    }
    if (!net.logit_scale.empty()) {
      for (std::size_t b = 0; b < n_bands_; ++b) hb[b] = hb[b] * net.logit_scale[b] + net.logit_bias[b];
    }
  }
}

}  // namespace rtsep
