// The lane kernel (include/hlstm/model/lstm_infer.hpp): 16 samples in the 16 lanes of a vector,
// every weight broadcast once per 16 samples, nothing padded. oneDNN's forward_inference runs
// the small cells as GEMMs with S padded to 16 and 1 input channel padded to 16 (network.cpp);
// here a window costs T ((C + S) + (K - 1) 2S) G S multiply-adds and the activations.
#include "hlstm/model/lstm_infer.hpp"

#include <immintrin.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "hlstm/core/error.hpp"
#include "switch_setting.hpp"

namespace hlstm::model {

// The three instruction sets' vector types and operations, each followed by the kernel
// (lstm_infer_kernel.inc). fp-contract=off: no a * b + c becomes an FMA unless written as one,
// so every set rounds alike (clang contracts only within one source expression, and the
// operations here are one per function).
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
#pragma GCC target("avx512f")
#endif
namespace avx512 {
constexpr int kVecLanes = 16;
// Every lane: the zero-masking forms, since GCC 12 warns that the unmasked ones read an
// undefined register (GCC bug 105593).
constexpr __mmask16 kAll = 0xFFFF;
struct V {
    __m512 v;
};
inline V set1(float a) { return {_mm512_set1_ps(a)}; }
inline V zero() { return {_mm512_setzero_ps()}; }
inline V load(const float* a) { return {_mm512_loadu_ps(a)}; }
inline void store(float* a, V x) { _mm512_storeu_ps(a, x.v); }
inline V add(V a, V b) { return {_mm512_add_ps(a.v, b.v)}; }
inline V sub(V a, V b) { return {_mm512_sub_ps(a.v, b.v)}; }
inline V mul(V a, V b) { return {_mm512_mul_ps(a.v, b.v)}; }
inline V div(V a, V b) { return {_mm512_div_ps(a.v, b.v)}; }
inline V fmadd(V a, V b, V c) { return {_mm512_fmadd_ps(a.v, b.v, c.v)}; }
inline V vmin(V a, V b) { return {_mm512_maskz_min_ps(kAll, a.v, b.v)}; }
inline V vmax(V a, V b) { return {_mm512_maskz_max_ps(kAll, a.v, b.v)}; }
inline V roundNearest(V a) {
    return {_mm512_maskz_roundscale_ps(kAll, a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)};
}
inline V pow2(V n) {
    const __m512i e = _mm512_add_epi32(_mm512_maskz_cvtps_epi32(kAll, n.v), _mm512_set1_epi32(127));
    return {_mm512_castsi512_ps(_mm512_maskz_slli_epi32(kAll, e, 23))};
}
inline V absOf(V a) {
    return {_mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(a.v), _mm512_set1_epi32(0x7fffffff)))};
}
inline V copySign(V magnitude, V sign) {
    const __m512i m = _mm512_and_si512(_mm512_castps_si512(magnitude.v), _mm512_set1_epi32(0x7fffffff));
    const __m512i s = _mm512_and_si512(_mm512_castps_si512(sign.v), _mm512_set1_epi32(INT_MIN));
    return {_mm512_castsi512_ps(_mm512_or_si512(m, s))};
}
#include "lstm_infer_kernel.inc"
}  // namespace avx512
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
#pragma GCC target("avx2,fma")
#endif
namespace avx2 {
// Two 8-lane halves.
constexpr int kVecLanes = 16;
struct V {
    __m256 lo, hi;
};
inline V set1(float a) { return {_mm256_set1_ps(a), _mm256_set1_ps(a)}; }
inline V zero() { return {_mm256_setzero_ps(), _mm256_setzero_ps()}; }
inline V load(const float* a) { return {_mm256_loadu_ps(a), _mm256_loadu_ps(a + 8)}; }
inline void store(float* a, V x) {
    _mm256_storeu_ps(a, x.lo);
    _mm256_storeu_ps(a + 8, x.hi);
}
inline V add(V a, V b) { return {_mm256_add_ps(a.lo, b.lo), _mm256_add_ps(a.hi, b.hi)}; }
inline V sub(V a, V b) { return {_mm256_sub_ps(a.lo, b.lo), _mm256_sub_ps(a.hi, b.hi)}; }
inline V mul(V a, V b) { return {_mm256_mul_ps(a.lo, b.lo), _mm256_mul_ps(a.hi, b.hi)}; }
inline V div(V a, V b) { return {_mm256_div_ps(a.lo, b.lo), _mm256_div_ps(a.hi, b.hi)}; }
inline V fmadd(V a, V b, V c) { return {_mm256_fmadd_ps(a.lo, b.lo, c.lo), _mm256_fmadd_ps(a.hi, b.hi, c.hi)}; }
inline V vmin(V a, V b) { return {_mm256_min_ps(a.lo, b.lo), _mm256_min_ps(a.hi, b.hi)}; }
inline V vmax(V a, V b) { return {_mm256_max_ps(a.lo, b.lo), _mm256_max_ps(a.hi, b.hi)}; }
inline V roundNearest(V a) {
    constexpr int kMode = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
    return {_mm256_round_ps(a.lo, kMode), _mm256_round_ps(a.hi, kMode)};
}
inline __m256 pow2Half(__m256 n) {
    const __m256i e = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
    return _mm256_castsi256_ps(_mm256_slli_epi32(e, 23));
}
inline V pow2(V n) { return {pow2Half(n.lo), pow2Half(n.hi)}; }
inline __m256 signMask() { return _mm256_castsi256_ps(_mm256_set1_epi32(INT_MIN)); }
inline V absOf(V a) { return {_mm256_andnot_ps(signMask(), a.lo), _mm256_andnot_ps(signMask(), a.hi)}; }
inline __m256 copySignHalf(__m256 m, __m256 s) {
    return _mm256_or_ps(_mm256_andnot_ps(signMask(), m), _mm256_and_ps(signMask(), s));
}
inline V copySign(V magnitude, V sign) {
    return {copySignHalf(magnitude.lo, sign.lo), copySignHalf(magnitude.hi, sign.hi)};
}
#include "lstm_infer_kernel.inc"
}  // namespace avx2
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#if !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
#endif
namespace scalar {
// Each operation lane by lane, as the vector instructions define it.
constexpr int kVecLanes = 16;
struct V {
    float v[16];
};
template <class F> inline V each(F f) {
    V r;
    for (int i = 0; i < 16; ++i) r.v[i] = f(i);
    return r;
}
inline V set1(float a) {
    return each([&](int) { return a; });
}
inline V zero() { return set1(0.0f); }
inline V load(const float* a) {
    return each([&](int i) { return a[i]; });
}
inline void store(float* a, V x) { std::copy_n(x.v, 16, a); }
inline V add(V a, V b) {
    return each([&](int i) { return a.v[i] + b.v[i]; });
}
inline V sub(V a, V b) {
    return each([&](int i) { return a.v[i] - b.v[i]; });
}
inline V mul(V a, V b) {
    return each([&](int i) { return a.v[i] * b.v[i]; });
}
inline V div(V a, V b) {
    return each([&](int i) { return a.v[i] / b.v[i]; });
}
inline V fmadd(V a, V b, V c) {
    return each([&](int i) { return std::fma(a.v[i], b.v[i], c.v[i]); });
}
inline V vmin(V a, V b) {
    return each([&](int i) { return a.v[i] < b.v[i] ? a.v[i] : b.v[i]; });
}
inline V vmax(V a, V b) {
    return each([&](int i) { return a.v[i] > b.v[i] ? a.v[i] : b.v[i]; });
}
inline V roundNearest(V a) {
    return each([&](int i) { return std::nearbyint(a.v[i]); });
}
inline V pow2(V n) {
    return each([&](int i) {
        // cvtps2dq gives INT_MIN for NaN (and the result is NaN anyway).
        const std::int32_t k = std::isnan(n.v[i]) ? INT_MIN : static_cast<std::int32_t>(n.v[i]);
        const std::uint32_t bits = static_cast<std::uint32_t>(k + 127) << 23;
        float f;
        std::memcpy(&f, &bits, sizeof f);
        return f;
    });
}
inline V absOf(V a) {
    return each([&](int i) { return std::fabs(a.v[i]); });
}
inline V copySign(V magnitude, V sign) {
    return each([&](int i) { return std::copysign(magnitude.v[i], sign.v[i]); });
}
#include "lstm_infer_kernel.inc"
}  // namespace scalar
#if !defined(__clang__)
#pragma GCC pop_options
#endif

namespace {

// Units per group: 2 LSTM units keep 8 gate sums in flight (FMA latency x throughput), 4 RNN units.
int groupUnits(bool lstm) { return lstm ? 2 : 4; }

enum class Kernel { kAvx512, kAvx2, kScalar, kOnednn };

InferenceEngine& engineSetting() {
    return detail::switchSetting("HLSTM_INFERENCE", "onednn", InferenceEngine::kOnednn, InferenceEngine::kLanes);
}
InferenceIsa& isaSetting() {
    return detail::switchSetting("HLSTM_INFERENCE_ISA", "portable", InferenceIsa::kPortable, InferenceIsa::kNative);
}

Kernel kernel() {
    static const bool avx512 = __builtin_cpu_supports("avx512f");
    static const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (engineSetting() == InferenceEngine::kOnednn) return Kernel::kOnednn;
    switch (isaSetting()) {
        case InferenceIsa::kNative: return avx512 ? Kernel::kAvx512 : avx2 ? Kernel::kAvx2 : Kernel::kOnednn;
        case InferenceIsa::kPortable: return avx2 ? Kernel::kAvx2 : Kernel::kScalar;
        case InferenceIsa::kScalar: break;
    }
    return Kernel::kScalar;
}

}  // namespace

InferenceEngine inferenceEngine() { return engineSetting(); }
void setInferenceEngine(InferenceEngine engine) { engineSetting() = engine; }
InferenceIsa inferenceIsa() { return isaSetting(); }
void setInferenceIsa(InferenceIsa isa) { isaSetting() = isa; }

std::string inferenceKernel() {
    switch (kernel()) {
        case Kernel::kAvx512: return "avx512";
        case Kernel::kAvx2: return "avx2";
        case Kernel::kScalar: return "scalar";
        case Kernel::kOnednn: break;
    }
    return "onednn";
}

LaneNetwork::LaneNetwork(const ModelConfig& config, const Parameters& parameters) {
    config.validate();
    Packed& p = packed_;
    p.G = gateCount(config.cell);
    p.S = config.units;
    p.K = config.layers;
    p.T = config.inputSteps();
    p.Y = config.horizon;
    p.C = config.inputChannels();
    p.lstm = config.cell == CellKind::kLstm;
    const Parameters shape = Parameters::zeros(config);
    bool ok = parameters.weightsLayer.size() == shape.weightsLayer.size() &&
              parameters.dense.size() == shape.dense.size() && parameters.denseBias.size() == shape.denseBias.size();
    for (int l = 0; ok && l < p.K; ++l) {
        ok = parameters.weightsLayer[l].size() == shape.weightsLayer[l].size() &&
             parameters.weightsIter[l].size() == shape.weightsIter[l].size() &&
             parameters.bias[l].size() == shape.bias[l].size();
    }
    if (!ok) throw InputError("model parameters do not match the model's shape (K, S, Y)");
    const int G = p.G, S = p.S, U = groupUnits(p.lstm);
    for (int l = 0; l < p.K; ++l) {
        const int in = l == 0 ? p.C : S;
        p.cellStart.push_back(p.cell.size());
        // Parameters' ldigo [i][g][o] -> per unit group [i][u][g].
        for (int o0 = 0; o0 < S;) {
            const int units = o0 + U <= S ? U : 1;
            for (int i = 0; i < in + S; ++i)
                for (int u = 0; u < units; ++u)
                    for (int g = 0; g < G; ++g) {
                        const std::size_t at = (static_cast<std::size_t>(i < in ? i : i - in) * G + g) * S + o0 + u;
                        p.cell.push_back(i < in ? parameters.weightsLayer[l][at] : parameters.weightsIter[l][at]);
                    }
            o0 += units;
        }
        for (int o = 0; o < S; ++o)
            for (int g = 0; g < G; ++g) p.bias.push_back(parameters.bias[l][static_cast<std::size_t>(g) * S + o]);
    }
    p.dense = parameters.dense;
    p.denseBias = parameters.denseBias;
}

void LaneNetwork::predict(const float* inputs, std::size_t n, float* outputs) const {
    const Packed& p = packed_;
    const Kernel k = kernel();
    if (k == Kernel::kOnednn) throw RuntimeError("LaneNetwork::predict: no lane kernel for this CPU");
    constexpr std::size_t L = kLanes;
    const std::size_t width = static_cast<std::size_t>(p.T) * p.C;
    std::vector<float> x(width * L), state(static_cast<std::size_t>(p.K) * 3 * p.S * L), out(p.Y * L);
    for (std::size_t first = 0; first < n; first += L) {
        // x[t][c][lane]; lanes past n repeat the last sample (lanes never mix).
        for (std::size_t lane = 0; lane < L; ++lane) {
            const float* row = inputs + std::min(first + lane, n - 1) * width;
            for (std::size_t j = 0; j < width; ++j) x[j * L + lane] = row[j];
        }
        switch (k) {
            case Kernel::kAvx512: avx512::block(p, x.data(), state.data(), out.data()); break;
            case Kernel::kAvx2: avx2::block(p, x.data(), state.data(), out.data()); break;
            default: scalar::block(p, x.data(), state.data(), out.data()); break;
        }
        const std::size_t count = std::min(L, n - first);
        for (std::size_t lane = 0; lane < count; ++lane)
            for (int y = 0; y < p.Y; ++y)
                outputs[(first + lane) * p.Y + y] = out[static_cast<std::size_t>(y) * L + lane];
    }
}

}  // namespace hlstm::model
