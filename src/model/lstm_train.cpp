// The lane training kernel (include/hlstm/model/lstm_train.hpp): oneDNN's lstm_forward /
// lstm_backward run S = 10 padded to 16 and 1 input channel padded to 16 as small GEMMs; here a
// window costs about 3 T ((C + S) + (K - 1) 2S) 4 S multiply-adds (forward, the gradient through
// the weights, the weight gradients) and the activations, on 16 samples per instruction.
#include "hlstm/model/lstm_train.hpp"

#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "hlstm/core/error.hpp"
#include "hlstm/model/network.hpp"
#include "lane_kernel.hpp"
#include "switch_setting.hpp"

namespace hlstm::model {

#define HLSTM_LANE_KERNEL "lstm_train_kernel.inc"
#include "lane_isas.inc"
#undef HLSTM_LANE_KERNEL

namespace {

using Clock = std::chrono::steady_clock;

TrainingEngine& engineSetting() {
    return detail::switchSetting("HLSTM_TRAINING", "onednn", TrainingEngine::kOnednn, TrainingEngine::kLanes);
}

detail::LaneKernel kernelFor(CellKind cell) {
    if (engineSetting() == TrainingEngine::kOnednn || cell != CellKind::kLstm) return detail::LaneKernel::kNone;
    return detail::laneKernel();
}

double seconds(Clock::time_point since) { return std::chrono::duration<double>(Clock::now() - since).count(); }

}  // namespace

TrainingEngine trainingEngine() { return engineSetting(); }
void setTrainingEngine(TrainingEngine engine) { engineSetting() = engine; }
std::string trainingKernel(CellKind cell) { return detail::laneKernelName(kernelFor(cell)); }

void accumulateLoss(const float* prediction, const float* label, std::size_t count, LossKind loss, double huberDelta,
                    double n, float* gradient, double& sum) {
    for (std::size_t i = 0; i < count; ++i) {
        const double e = static_cast<double>(prediction[i]) - static_cast<double>(label[i]);
        double g = 0;
        switch (loss) {
            case LossKind::kMse:
                sum += e * e;
                g = 2 * e;
                break;
            case LossKind::kMae:
                sum += std::abs(e);
                g = e > 0 ? 1.0 : (e < 0 ? -1.0 : 0.0);
                break;
            case LossKind::kHuber:
                if (std::abs(e) <= huberDelta) {
                    sum += 0.5 * e * e;
                    g = e;
                } else {
                    sum += huberDelta * (std::abs(e) - 0.5 * huberDelta);
                    g = e > 0 ? huberDelta : -huberDelta;
                }
                break;
        }
        if (gradient != nullptr) gradient[i] = static_cast<float>(g / n);
    }
}

double batchLoss(const float* prediction, const float* label, std::size_t count, LossKind loss, double huberDelta,
                 float* gradient) {
    double sum = 0;
    const double n = static_cast<double>(count);
    accumulateLoss(prediction, label, count, loss, huberDelta, n, gradient, sum);
    return count > 0 ? sum / n : 0.0;
}

LaneTrainer::LaneTrainer(const ModelConfig& config) : config_(config) {
    if (config.cell != CellKind::kLstm) throw InputError("the lane training kernel runs the LSTM cell only");
    setWeights(Parameters::zeros(config));
    const LaneNetwork::Packed& p = state_.forward;
    const std::size_t SL = static_cast<std::size_t>(p.S) * kLanes, K = p.K, T = p.T;
    State& s = state_;
    s.x.assign(T * p.C * kLanes, 0.0f);
    s.h.assign(K * (T + 1) * SL, 0.0f);
    s.c.assign(s.h.size(), 0.0f);
    s.tanhC.assign(K * T * SL, 0.0f);
    s.gates.assign(4 * s.tanhC.size(), 0.0f);
    s.dhRec.assign(K * SL, 0.0f);
    s.dcNext.assign(K * SL, 0.0f);
    s.dhAbove.assign(SL, 0.0f);
    s.dhHead.assign(SL, 0.0f);
    s.prediction.assign(static_cast<std::size_t>(p.Y) * kLanes, 0.0f);
    s.dy.assign(s.prediction.size(), 0.0f);
    s.accW.assign(s.back.size() * kLanes, 0.0f);
    s.accBias.assign(K * 4 * SL, 0.0f);
    s.accDense.assign(static_cast<std::size_t>(p.Y) * SL, 0.0f);
    s.accDenseBias.assign(s.prediction.size(), 0.0f);
}

void LaneTrainer::setWeights(const Parameters& parameters) {
    State& s = state_;
    s.forward = LaneNetwork::pack(config_, parameters);
    const int S = s.forward.S, K = s.forward.K, C = s.forward.C;
    // Per layer [in_l + S][S][4] from Parameters' ldigo [i][g][o]: row i's gate sums, unit-major.
    s.back.clear();
    s.backStart.clear();
    for (int l = 0; l < K; ++l) {
        const int in = l == 0 ? C : S;
        s.backStart.push_back(s.back.size());
        for (int i = 0; i < in + S; ++i)
            for (int o = 0; o < S; ++o)
                for (int g = 0; g < 4; ++g) {
                    const std::size_t at = (static_cast<std::size_t>(i < in ? i : i - in) * 4 + g) * S + o;
                    s.back.push_back(i < in ? parameters.weightsLayer[l][at] : parameters.weightsIter[l][at]);
                }
    }
}

namespace {

// The sum of a value's kLanes per-lane sums, lane 0 first.
float laneSum(const float* lanes) {
    float sum = lanes[0];
    for (int i = 1; i < LaneTrainer::kLanes; ++i) sum += lanes[i];
    return sum;
}

}  // namespace

double LaneTrainer::lossAndGradient(const float* inputs, const float* labels, std::size_t n, LossKind loss,
                                    double huberDelta, const Gradients& out) {
    const detail::LaneKernel kernel = kernelFor(config_.cell);
    if (kernel == detail::LaneKernel::kNone) throw RuntimeError("LaneTrainer: no lane kernel for this CPU");
    if (n == 0) throw InputError("LaneTrainer::lossAndGradient: empty batch");
    State& s = state_;
    const LaneNetwork::Packed& p = s.forward;
    const int S = p.S, K = p.K, C = p.C, Y = p.Y, Sp = out.paddedUnits;
    constexpr std::size_t L = kLanes;
    const std::size_t width = static_cast<std::size_t>(p.T) * C;
    for (auto* a : {&s.accW, &s.accBias, &s.accDense, &s.accDenseBias}) std::fill(a->begin(), a->end(), 0.0f);
    prediction_.resize(L * Y);
    gradient_.resize(L * Y);
    const double total = static_cast<double>(n) * Y;
    double sum = 0;
    for (std::size_t first = 0; first < n; first += L) {
        const std::size_t count = std::min(L, n - first);
        auto start = Clock::now();
        // x[t][c][lane]; unused lanes hold zeros (finite states, zero loss gradient).
        for (std::size_t lane = 0; lane < L; ++lane) {
            const float* row = inputs + std::min(first + lane, n - 1) * width;
            for (std::size_t j = 0; j < width; ++j) s.x[j * L + lane] = lane < count ? row[j] : 0.0f;
        }
        switch (kernel) {
            case detail::LaneKernel::kAvx512: avx512::trainForward(s); break;
            case detail::LaneKernel::kAvx2: avx2::trainForward(s); break;
            default: scalar::trainForward(s); break;
        }
        timing_.forward += seconds(start);
        start = Clock::now();
        for (std::size_t lane = 0; lane < count; ++lane)
            for (int y = 0; y < Y; ++y) prediction_[lane * Y + y] = s.prediction[y * L + lane];
        accumulateLoss(prediction_.data(), labels + first * Y, count * Y, loss, huberDelta, total, gradient_.data(),
                       sum);
        for (std::size_t lane = 0; lane < L; ++lane)
            for (int y = 0; y < Y; ++y) s.dy[y * L + lane] = lane < count ? gradient_[lane * Y + y] : 0.0f;
        switch (kernel) {
            case detail::LaneKernel::kAvx512: avx512::trainBackward(s); break;
            case detail::LaneKernel::kAvx2: avx2::trainBackward(s); break;
            default: scalar::trainBackward(s); break;
        }
        timing_.backward += seconds(start);
    }
    // Per-lane sums -> the padded layouts; the padding stays zero.
    const auto start = Clock::now();
    const std::size_t nW = static_cast<std::size_t>(K) * Sp * 4 * Sp;
    std::fill_n(out.layer, nW, 0.0f);
    std::fill_n(out.iter, nW, 0.0f);
    std::fill_n(out.bias, static_cast<std::size_t>(K) * 4 * Sp, 0.0f);
    std::fill_n(out.dense, static_cast<std::size_t>(Sp) * Y, 0.0f);
    auto wIndex = [&](int l, int i, int g, int o) { return ((static_cast<std::size_t>(l) * Sp + i) * 4 + g) * Sp + o; };
    for (int l = 0; l < K; ++l) {
        const int in = l == 0 ? C : S;
        const float* acc = s.accW.data() + s.backStart[l] * L;
        for (int i = 0; i < in + S; ++i)
            for (int o = 0; o < S; ++o)
                for (int g = 0; g < 4; ++g) {
                    const float v = laneSum(acc + ((static_cast<std::size_t>(i) * S + o) * 4 + g) * L);
                    if (i < in)
                        out.layer[wIndex(l, i, g, o)] = v;
                    else
                        out.iter[wIndex(l, i - in, g, o)] = v;
                }
        for (int o = 0; o < S; ++o)
            for (int g = 0; g < 4; ++g)
                out.bias[(static_cast<std::size_t>(l) * 4 + g) * Sp + o] =
                    laneSum(s.accBias.data() + ((static_cast<std::size_t>(l) * S + o) * 4 + g) * L);
    }
    for (std::size_t j = 0; j < static_cast<std::size_t>(S) * Y; ++j) out.dense[j] = laneSum(s.accDense.data() + j * L);
    for (int y = 0; y < Y; ++y) out.denseBias[y] = laneSum(s.accDenseBias.data() + y * L);
    timing_.backward += seconds(start);
    return sum / total;
}

}  // namespace hlstm::model
