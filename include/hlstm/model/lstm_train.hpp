/// Training of a stacked LSTM with its dense head, 16 samples at a time in the 16 lanes of a
/// vector (weights broadcast, S and C unpadded): forward with saved state, backpropagation through
/// time and the head's gradients. What Network's training steps run for the LSTM cell.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "hlstm/model/lstm_infer.hpp"
#include "hlstm/model/model_config.hpp"
#include "hlstm/model/parameters.hpp"

namespace hlstm::model {

/// Which engine Network's training steps use for the LSTM cell: the lane kernel (default) or
/// oneDNN's lstm_forward / lstm_backward (HLSTM_TRAINING=onednn). The tanh RNN cell always
/// trains on oneDNN.
enum class TrainingEngine { kLanes, kOnednn };
TrainingEngine trainingEngine();
void setTrainingEngine(TrainingEngine engine);

/// The kernel training of `cell` runs with the current settings on this CPU: "avx512", "avx2",
/// "scalar" (the lane kernel, its instruction set chosen by inferenceIsa() as for inference) or
/// "onednn".
std::string trainingKernel(CellKind cell = CellKind::kLstm);

/// Adds the loss terms of `count` predictions to `sum` (double, in order) and, when `gradient` is
/// non-null, writes d(term)/d(prediction) / n per value: what batchLoss computes with n = count.
void accumulateLoss(const float* prediction, const float* label, std::size_t count, LossKind loss, double huberDelta,
                    double n, float* gradient, double& sum);

/// The LSTM's weights repacked for the lane training kernel, and its per-lane gradient sums.
class LaneTrainer {
public:
    /// Throws InputError unless config's cell is the LSTM.
    explicit LaneTrainer(const ModelConfig& config);

    /// Repacks the weights: Network does it after every Adam step (with extracting the logical
    /// weights 13-18 us at S = 10, K = 3, C = 1, Y = 1; a 256-sample step takes ~3.8 ms).
    void setWeights(const Parameters& parameters);

    /// Gradient buffers in Network's padded layouts (S padded to paddedUnits): layer / iter
    /// [K][Sp][4][Sp], bias [K][4][Sp], dense [Sp][Y], denseBias [Y]. Overwritten (padding zero).
    struct Gradients {
        float *layer, *iter, *bias, *dense, *denseBias;
        int paddedUnits;
    };

    /// Mean loss of n samples (inputs n x (L - Y) x C, labels n x Y, z units) and its gradient,
    /// by trainingKernel() (which must not be "onednn"). Every sample's contribution is summed
    /// per lane over steps and blocks, then over the 16 lanes, in a fixed order: the result
    /// depends only on the samples and their order (and is the same on every instruction set).
    /// The lanes of a short last block hold zeros and contribute nothing.
    double lossAndGradient(const float* inputs, const float* labels, std::size_t n, LossKind loss, double huberDelta,
                           const Gradients& out);

    /// Seconds in the forward and backward parts (loss and lane reduction count as backward).
    struct Timing {
        double forward = 0, backward = 0;
    };
    [[nodiscard]] const Timing& timing() const noexcept { return timing_; }

    static constexpr int kLanes = LaneNetwork::kLanes;

    /// Shapes, weights and one block's saved state, read by the kernels (lstm_train_kernel.inc);
    /// every state array is [..][kLanes].
    struct State {
        LaneNetwork::Packed forward;  ///< the inference kernel's packing (groups of 2 units)
        std::vector<float> back;      ///< per layer [in_l + S][S][4] (ldigo, unit-major)
        std::vector<std::size_t> backStart;
        std::vector<float> x;                ///< [T][C]
        std::vector<float> h, c;             ///< [K][T + 1][S]: step t's output at t + 1, zero at 0
        std::vector<float> tanhC;            ///< [K][T][S]
        std::vector<float> gates;            ///< [K][T][S][4]: i, f, c~, o; then their pre-activation gradients
        std::vector<float> dhRec, dcNext;    ///< [K][S]: gradients flowing to step t - 1
        std::vector<float> dhAbove, dhHead;  ///< [S]: to the layer below at step t; from the head
        std::vector<float> prediction, dy;   ///< [Y]
        std::vector<float> accW;             ///< per layer (at backStart) [in_l + S][S][4] per-lane sums
        std::vector<float> accBias;          ///< [K][S][4]
        std::vector<float> accDense;         ///< [S][Y]
        std::vector<float> accDenseBias;     ///< [Y]
    };

private:
    ModelConfig config_;
    State state_;
    std::vector<float> prediction_, gradient_;  // one block's, sample-major
    Timing timing_;
};

}  // namespace hlstm::model
