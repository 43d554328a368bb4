#include "hlstm/model/parameters.hpp"

#include <cmath>

#include "random.hpp"

namespace hlstm::model {

int gateCount(CellKind cell) noexcept { return cell == CellKind::kLstm ? 4 : 1; }

Parameters Parameters::zeros(const ModelConfig& config) {
    const auto g = static_cast<std::size_t>(gateCount(config.cell));
    const auto s = static_cast<std::size_t>(config.units);
    const auto y = static_cast<std::size_t>(config.horizon);
    Parameters p;
    for (int l = 0; l < config.layers; ++l) {
        const std::size_t in = l == 0 ? static_cast<std::size_t>(config.inputChannels()) : s;
        p.weightsLayer.emplace_back(in * g * s, 0.0f);
        p.weightsIter.emplace_back(s * g * s, 0.0f);
        p.bias.emplace_back(g * s, 0.0f);
    }
    p.dense.assign(s * y, 0.0f);
    p.denseBias.assign(y, 0.0f);
    return p;
}

Parameters Parameters::initial(const ModelConfig& config, std::uint64_t seed) {
    Parameters p = zeros(config);
    auto rng = detail::streamOf(seed, detail::kInitStream);
    // PyTorch's LSTM/RNN/Linear defaults: U(-k, k) with k = 1/sqrt(fan), fan = S for the cells
    // and the head; the cell's two biases (b_ih + b_hh) are one oneDNN bias here.
    const double k = 1.0 / std::sqrt(static_cast<double>(config.units));
    auto draw = [&] { return static_cast<float>((2.0 * rng.uniform() - 1.0) * k); };
    for (int l = 0; l < config.layers; ++l) {
        for (float& w : p.weightsLayer[l]) w = draw();
        for (float& w : p.weightsIter[l]) w = draw();
        for (float& b : p.bias[l]) b = draw() + draw();
    }
    for (float& w : p.dense) w = draw();
    for (float& b : p.denseBias) b = draw();
    return p;
}

std::vector<ParameterGroup> Parameters::groups() {
    std::vector<ParameterGroup> out;
    for (std::size_t l = 0; l < weightsLayer.size(); ++l) {
        const std::string layer = "layer" + std::to_string(l);
        out.push_back({layer + ".weights_layer", weightsLayer[l].data(), weightsLayer[l].size()});
        out.push_back({layer + ".weights_iter", weightsIter[l].data(), weightsIter[l].size()});
        out.push_back({layer + ".bias", bias[l].data(), bias[l].size()});
    }
    out.push_back({"dense.weights", dense.data(), dense.size()});
    out.push_back({"dense.bias", denseBias.data(), denseBias.size()});
    return out;
}

std::size_t Parameters::count() const {
    std::size_t n = dense.size() + denseBias.size();
    for (std::size_t l = 0; l < weightsLayer.size(); ++l) {
        n += weightsLayer[l].size() + weightsIter[l].size() + bias[l].size();
    }
    return n;
}

bool Parameters::finite() const {
    auto ok = [](const std::vector<float>& v) {
        for (float x : v) {
            if (!std::isfinite(x)) return false;
        }
        return true;
    };
    for (std::size_t l = 0; l < weightsLayer.size(); ++l) {
        if (!ok(weightsLayer[l]) || !ok(weightsIter[l]) || !ok(bias[l])) return false;
    }
    return ok(dense) && ok(denseBias);
}

}  // namespace hlstm::model
