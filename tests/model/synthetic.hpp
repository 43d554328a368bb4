// Synthetic cumulative displacement series for the model tests and the LSTM benchmark:
// linear trend + annual cycle + white noise, the differential patterns the paper learns.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

#include "hlstm/model/model_config.hpp"
#include "hlstm/model/parameters.hpp"

namespace hlstm::model::test {

/// Cumulative series (mm), `points` x `epochs` row-major, 12-day epochs: a trend of
/// -30..-5 mm/yr, an annual cycle of 2..6 mm with a random phase and white noise of `sigma` mm.
inline std::vector<float> syntheticSeries(std::size_t points, std::size_t epochs, double sigma, unsigned seed) {
    constexpr double kTwoPi = 6.283185307179586;
    std::mt19937 rng(seed);
    std::uniform_real_distribution<double> velocity(-30.0, -5.0), amplitude(2.0, 6.0), phase(0.0, kTwoPi);
    std::normal_distribution<double> noise(0.0, sigma);
    std::vector<float> c(points * epochs);
    const double dt = 12.0 / 365.25;
    for (std::size_t p = 0; p < points; ++p) {
        const double v = velocity(rng), a = amplitude(rng), phi = phase(rng);
        for (std::size_t t = 0; t < epochs; ++t) {
            const double years = static_cast<double>(t) * dt;
            c[p * epochs + t] = static_cast<float>(v * years + a * std::sin(kTwoPi * years + phi) + noise(rng));
        }
    }
    return c;
}

/// PyTorch's initialisation of `c`'s network (seed `seed`) with every parameter times `gain`
/// (2: the gates leave their linear range): the lane kernels' tests.
inline Parameters weightsOf(const ModelConfig& c, std::uint64_t seed, float gain) {
    Parameters p = Parameters::initial(c, seed);
    for (ParameterGroup& g : p.groups())
        for (std::size_t i = 0; i < g.size; ++i) g.data[i] *= gain;
    return p;
}

}  // namespace hlstm::model::test
