/// The learnable parameters of a stacked recurrent network with a dense head, in their
/// logical (unpadded) shapes, and their seeded initialisation.
#pragma once

#include <boost/serialization/vector.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "hlstm/model/model_config.hpp"

namespace hlstm::model {

/// Gates per cell: 4 for the LSTM (order i, f, c~, o = PyTorch's i, f, g, o), 1 for the RNN.
int gateCount(CellKind cell) noexcept;

/// A named block of parameters (for Adam, gradient checks and printing).
struct ParameterGroup {
    std::string name;  ///< e.g. "layer1.weights_iter"
    float* data;
    std::size_t size;
};

/// Weights of K layers (G gates, S units, layer 0 has 1 input channel, the others S) and the
/// dense head S -> Y. Layouts follow oneDNN's plain ones:
/// - weightsLayer[l]: [in][G][S]  (ldigo; PyTorch's weight_ih_l{l} [G*S][in] transposed)
/// - weightsIter[l]:  [S][G][S]   (ldigo; PyTorch's weight_hh_l{l} transposed)
/// - bias[l]:         [G][S]      (PyTorch's bias_ih + bias_hh)
/// - dense: [S][Y], denseBias: [Y]  (PyTorch's Linear weight [Y][S] transposed)
struct Parameters {
    std::vector<std::vector<float>> weightsLayer;
    std::vector<std::vector<float>> weightsIter;
    std::vector<std::vector<float>> bias;
    std::vector<float> dense;
    std::vector<float> denseBias;

    /// Zero-filled parameters of this shape.
    static Parameters zeros(const ModelConfig& config);
    /// PyTorch's default initialisation: U(-1/sqrt(S), 1/sqrt(S)) for every weight, the sum
    /// of two such draws for a cell bias, from a generator seeded with `seed`.
    static Parameters initial(const ModelConfig& config, std::uint64_t seed);

    /// Every group, in a fixed order (layers first, then the head).
    std::vector<ParameterGroup> groups();
    [[nodiscard]] std::size_t count() const;
    /// Whether every value is finite.
    [[nodiscard]] bool finite() const;

    template <class Archive> void serialize(Archive& ar, unsigned /*version*/) {
        ar& weightsLayer& weightsIter& bias& dense& denseBias;
    }
};

}  // namespace hlstm::model
