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
#include "lane_kernel.hpp"
#include "switch_setting.hpp"

namespace hlstm::model {

#define HLSTM_LANE_KERNEL "lstm_infer_kernel.inc"
#include "lane_isas.inc"
#undef HLSTM_LANE_KERNEL

namespace {

// Units per group: 2 LSTM units keep 8 gate sums in flight (FMA latency x throughput), 4 RNN units.
int groupUnits(bool lstm) { return lstm ? 2 : 4; }

using detail::LaneKernel;

InferenceEngine& engineSetting() {
    return detail::switchSetting("HLSTM_INFERENCE", "onednn", InferenceEngine::kOnednn, InferenceEngine::kLanes);
}
InferenceIsa& isaSetting() {
    return detail::switchSetting("HLSTM_INFERENCE_ISA", "portable", InferenceIsa::kPortable, InferenceIsa::kNative);
}

LaneKernel kernel() { return engineSetting() == InferenceEngine::kOnednn ? LaneKernel::kNone : detail::laneKernel(); }

}  // namespace

LaneKernel detail::laneKernel() {
    static const bool avx512 = __builtin_cpu_supports("avx512f");
    static const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    switch (isaSetting()) {
        case InferenceIsa::kNative: return avx512 ? LaneKernel::kAvx512 : avx2 ? LaneKernel::kAvx2 : LaneKernel::kNone;
        case InferenceIsa::kPortable: return avx2 ? LaneKernel::kAvx2 : LaneKernel::kScalar;
        case InferenceIsa::kScalar: break;
    }
    return LaneKernel::kScalar;
}

std::string detail::laneKernelName(LaneKernel kernel) {
    switch (kernel) {
        case LaneKernel::kAvx512: return "avx512";
        case LaneKernel::kAvx2: return "avx2";
        case LaneKernel::kScalar: return "scalar";
        case LaneKernel::kNone: break;
    }
    return "onednn";
}

InferenceEngine inferenceEngine() { return engineSetting(); }
void setInferenceEngine(InferenceEngine engine) { engineSetting() = engine; }
InferenceIsa inferenceIsa() { return isaSetting(); }
void setInferenceIsa(InferenceIsa isa) { isaSetting() = isa; }

std::string inferenceKernel() { return detail::laneKernelName(kernel()); }

LaneNetwork::LaneNetwork(const ModelConfig& config, const Parameters& parameters) : packed_(pack(config, parameters)) {}

LaneNetwork::Packed LaneNetwork::pack(const ModelConfig& config, const Parameters& parameters) {
    config.validate();
    Packed p;
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
    return p;
}

void LaneNetwork::predict(const float* inputs, std::size_t n, float* outputs) const {
    const Packed& p = packed_;
    const LaneKernel k = kernel();
    if (k == LaneKernel::kNone) throw RuntimeError("LaneNetwork::predict: no lane kernel for this CPU");
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
            case LaneKernel::kAvx512: avx512::block(p, x.data(), state.data(), out.data()); break;
            case LaneKernel::kAvx2: avx2::block(p, x.data(), state.data(), out.data()); break;
            default: scalar::block(p, x.data(), state.data(), out.data()); break;
        }
        const std::size_t count = std::min(L, n - first);
        for (std::size_t lane = 0; lane < count; ++lane)
            for (int y = 0; y < p.Y; ++y)
                outputs[(first + lane) * p.Y + y] = out[static_cast<std::size_t>(y) * L + lane];
    }
}

}  // namespace hlstm::model
