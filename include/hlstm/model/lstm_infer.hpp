/// Inference of a trained stacked LSTM/RNN with its dense head, 16 samples at a time in the 16
/// lanes of a vector (weights broadcast, no padding of S or C): what Network::predict runs.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "hlstm/model/model_config.hpp"
#include "hlstm/model/parameters.hpp"

namespace hlstm::model {

/// Which engine Network::predict uses: the lane kernel (default) or oneDNN's forward_inference
/// (HLSTM_INFERENCE=onednn; a test and comparison hook). Training has its own lane kernel and switch
/// (hlstm/model/lstm_train.hpp, HLSTM_TRAINING).
enum class InferenceEngine { kLanes, kOnednn };
InferenceEngine inferenceEngine();
void setInferenceEngine(InferenceEngine engine);

/// The lane kernel's instruction set. kNative: AVX-512F where the CPU has it, else AVX2 + FMA,
/// else (neither) oneDNN. kPortable (HLSTM_INFERENCE_ISA=portable): what a CPU without AVX-512
/// runs, AVX2 + FMA (or kScalar without them). kScalar: plain C++ with std::fma. All three do the
/// same operations in the same order per lane: the same bits.
enum class InferenceIsa { kNative, kPortable, kScalar };
InferenceIsa inferenceIsa();
void setInferenceIsa(InferenceIsa isa);

/// The kernel the current settings run on this CPU: "avx512", "avx2", "scalar" or "onednn".
std::string inferenceKernel();

/// The network's weights repacked for the lane kernel (unit groups, gates innermost).
class LaneNetwork {
public:
    LaneNetwork(const ModelConfig& config, const Parameters& parameters);

    /// Predictions (z units, n x Y) for n inputs (n x (L - Y) x C, z units), by
    /// inferenceKernel() (which must not be "onednn"). A sample's outputs do not depend on n or
    /// on which samples share its block (a short last block repeats the last sample). A
    /// non-finite input gives non-finite predictions for that sample only.
    void predict(const float* inputs, std::size_t n, float* outputs) const;

    /// Samples per block: an AVX-512 register's lanes (two AVX2 registers). Two registers per
    /// block (32 lanes) measured no faster: 331k against 338k windows/s (tools/bench/lstm_infer.sh).
    static constexpr int kLanes = 16;

    /// Shapes and packed weights, read by the kernels (src/model/lstm_infer_kernel.inc).
    struct Packed {
        int G = 0, S = 0, K = 0, T = 0, Y = 0, C = 0;
        bool lstm = true;
        /// Layer l, the group of U units from o0 (U = 2 LSTM, 4 RNN units; the last S mod U one
        /// at a time): [in_l + S][U][G] from cell[cellStart[l] + o0 * (in_l + S) * G], the
        /// layer's inputs first, then the recurrent ones.
        std::vector<float> cell;
        std::vector<std::size_t> cellStart;
        std::vector<float> bias;       ///< [K][S][G]
        std::vector<float> dense;      ///< [S][Y]
        std::vector<float> denseBias;  ///< [Y]
    };
    /// The packing of the constructor (also the lane training kernel's forward weights).
    static Packed pack(const ModelConfig& config, const Parameters& parameters);

private:
    Packed packed_;
};

}  // namespace hlstm::model
