/// Counter-based, platform-independent random numbers (SplitMix64): a stream is a pure
/// function of its key, so results never depend on rank count or scheduling.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <utility>
#include <vector>

namespace hlstm {

/// One SplitMix64 step: a well-mixed 64-bit hash of `x`.
constexpr std::uint64_t splitmix64(std::uint64_t x) noexcept {
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

/// The one list of random stream names: each random quantity of the project has its own
/// stream, keyed with (seed, stream, ...). The values are part of every result (changing one
/// changes simulated scenes or trained models), so they never change; names of different
/// consumers may share a value because their keys differ in the other parts.
namespace stream {
// model training (model::detail::streamOf(seed, stream), seed per candidate)
inline constexpr std::uint64_t kTrainValidationSplit = 1;  ///< the 70/30 split of one training call
inline constexpr std::uint64_t kWeightInit = 2;            ///< initial weights
inline constexpr std::uint64_t kShuffle = 3;               ///< minibatch order
// pipeline (mixKey({model.seed, stream, subregion}))
inline constexpr std::uint64_t kSubregionSplit = 0x5e11;  ///< the validation points of a subregion
// simulate (mixKey({simulate.seed, stream, ...}))
inline constexpr std::uint64_t kSceneLayout = 1;      ///< funnels, uplift, seasonal field
inline constexpr std::uint64_t kScenePoint = 2;       ///< a point's position and noise
inline constexpr std::uint64_t kSceneAtmosphere = 3;  ///< an epoch's atmosphere
inline constexpr std::uint64_t kScenePatterns = 4;    ///< Table I pattern sequences
inline constexpr std::uint64_t kSceneDrop = 5;        ///< dropped acquisitions
}  // namespace stream

/// A key built from several integers, e.g. (seed, subregion, L, K, S).
inline std::uint64_t mixKey(std::initializer_list<std::uint64_t> parts) noexcept {
    std::uint64_t h = 0x6A09E667F3BCC908ULL;
    for (auto p : parts) h = splitmix64(h ^ splitmix64(p));
    return h;
}

/// The project's one generator (the simulator's scenes, training's splits, initial weights and
/// minibatch order): SplitMix64 outputs of a counter started at a hash of the key, so a stream
/// is a pure function of its key and identical on every platform and standard library (std::
/// distributions are not).
class Rng {
public:
    explicit Rng(std::uint64_t key) noexcept : state_(splitmix64(key)) {}
    /// The generator whose state() was `state`: it continues that stream exactly (checkpoints).
    [[nodiscard]] static Rng fromState(std::uint64_t state) noexcept {
        Rng r(0);
        r.state_ = state;
        return r;
    }
    /// The whole state (see fromState).
    [[nodiscard]] std::uint64_t state() const noexcept { return state_; }
    std::uint64_t next() noexcept { return splitmix64(state_++); }
    /// Uniform in [0, 1).
    double uniform() noexcept { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
    /// Uniform in [lo, hi).
    double uniform(double lo, double hi) noexcept { return lo + (hi - lo) * uniform(); }
    /// Standard normal (Box-Muller, no cached second value: stateless per call pair).
    double normal() noexcept {
        constexpr double kTwoPi = 6.283185307179586;
        double u1 = uniform();
        double u2 = uniform();
        if (u1 < 1e-300) u1 = 1e-300;
        return std::sqrt(-2.0 * std::log(u1)) * std::cos(kTwoPi * u2);
    }
    /// Uniform integer in [0, n).
    std::uint64_t below(std::uint64_t n) noexcept { return n == 0 ? 0 : next() % n; }

private:
    std::uint64_t state_;
};

/// Independent stream `stream` of a seed: the generator keyed by (seed, stream).
inline Rng streamOf(std::uint64_t seed, std::uint64_t stream) noexcept { return Rng(mixKey({seed, stream})); }

/// Fisher-Yates shuffle.
template <class T> void shuffle(std::vector<T>& values, Rng& rng) noexcept {
    for (std::size_t i = values.size(); i > 1; --i) {
        const auto j = static_cast<std::size_t>(rng.below(i));
        std::swap(values[i - 1], values[j]);
    }
}

}  // namespace hlstm
