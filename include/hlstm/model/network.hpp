/// A stacked LSTM/RNN with a dense head on the last step: prediction, loss gradients and Adam
/// steps on z-scored samples, on hlstm's lane kernels (lstm_infer.hpp, lstm_train.hpp) or oneDNN's
/// primitives. Not thread-safe; one per thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "hlstm/model/model_config.hpp"
#include "hlstm/model/parameters.hpp"
#include "hlstm/model/samples.hpp"

namespace hlstm::model {

/// Mean loss over `count` predictions (double accumulation); when `gradient` is non-null it
/// receives d(loss)/d(prediction) per value. MSE: mean e^2; MAE: mean |e|; Huber: mean of
/// e^2/2 (|e| <= delta) or delta (|e| - delta/2).
double batchLoss(const float* prediction, const float* label, std::size_t count, LossKind loss, double huberDelta,
                 float* gradient);

/// Hidden units the engine computes with: S < 16 -> 16, 25..31 -> 32, others unchanged. The
/// extra units have zero weights, stay exactly zero and get exactly zero gradients, so the
/// model is the same; oneDNN 2.6's LSTM forward is 2-4x faster on whole 16-float vectors,
/// which outweighs the extra work for those S (measured; see network.cpp).
int paddedUnits(int units) noexcept;

/// The network with its oneDNN primitives (built once per batch size and reused), master
/// weights in the primitives' plain layout and Adam moments.
/// The instruction set oneDNN's kernels use on this CPU (e.g. "avx2", "avx512_core"), after
/// ONEDNN_MAX_CPU_ISA: logged by every run, since kernels of different sets round differently.
std::string cpuIsa();

class Network {
public:
    Network(const ModelConfig& config, const Parameters& parameters);
    ~Network();
    Network(Network&&) noexcept;
    Network& operator=(Network&&) noexcept;
    Network(const Network&) = delete;
    Network& operator=(const Network&) = delete;

    [[nodiscard]] const ModelConfig& config() const noexcept;
    /// Current weights in logical shapes.
    [[nodiscard]] Parameters parameters() const;
    /// Replaces the weights and resets Adam.
    void setParameters(const Parameters& parameters);

    /// Adam's moments (every slot's m then v, concatenated) and step count: with parameters(),
    /// what training needs to continue bit for bit after a checkpoint.
    struct OptimizerState {
        std::vector<float> moments;
        std::uint64_t step = 0;
    };
    [[nodiscard]] OptimizerState optimizerState() const;
    /// Restores them (after setParameters); throws InputError when the sizes do not match.
    void setOptimizerState(const OptimizerState& state);

    /// Predictions (z units, n x Y) for n inputs (n x (L - Y), z units). A non-finite input
    /// gives non-finite predictions for that sample only. Run by the lane kernel
    /// (hlstm/model/lstm_infer.hpp) unless inferenceKernel() is "onednn" (HLSTM_INFERENCE=onednn,
    /// or a CPU without AVX2): oneDNN's forward_inference in batches of 256.
    void predict(const float* inputs, std::size_t n, float* outputs);

    /// Mean loss of one batch and its gradient with respect to every parameter (logical shapes).
    /// Training steps run the lane training kernel unless trainingKernel(cell) is "onednn"
    /// (HLSTM_TRAINING=onednn, the tanh RNN cell, or a CPU without AVX2): oneDNN's primitives.
    double lossAndGradient(const float* inputs, const float* labels, std::size_t n, LossKind loss, double huberDelta,
                           Parameters& gradient);

    /// One Adam step on the samples `indices[0..n)` of `set`; returns the batch's mean loss
    /// (non-finite once training diverges; the weights are then not usable).
    double trainStep(const SampleSet& set, const std::uint32_t* indices, std::size_t n, const TrainConfig& train);

    /// Floats of one shard's gradient record: the loss, then every parameter's gradient in the
    /// engine's padded layout (padding entries are exactly zero).
    [[nodiscard]] std::size_t gradientRecordSize() const noexcept;
    /// Mean loss of the samples `indices[0..n)` of `set` and its gradient, written to `record`
    /// (gradientRecordSize() floats); the weights do not change. Data-parallel training sums
    /// such records of fixed shards of a minibatch in a fixed order, wherever they were computed.
    double shardGradient(const SampleSet& set, const std::uint32_t* indices, std::size_t n, const TrainConfig& train,
                         float* record);
    /// One Adam step with the gradient part of `record` (e.g. the weighted sum of shards').
    void applyGradient(const float* record, const TrainConfig& train);
    /// Frees the training primitives and their buffers (~40 MB per batch size at L = 60, K = 3,
    /// S = 10, batch 256); the next training step builds them again, zeroed as at first, so the
    /// results do not change. fit() calls it before an epoch's short last batch and after
    /// every epoch: one batch size's buffers are held at a time, not two.
    void releaseTrainingPlans();

    /// Seconds spent in forward, backward and the rest of trainStep since construction.
    struct Timing {
        double forward = 0, backward = 0, other = 0;
        std::uint64_t steps = 0;
    };
    [[nodiscard]] const Timing& timing() const noexcept;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace hlstm::model
