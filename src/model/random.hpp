// Private to src/model: a small seeded generator whose streams are identical on every
// platform and standard library (std:: distributions are not), for bit-reproducible training.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "hlstm/core/random.hpp"

namespace hlstm::model::detail {

/// SplitMix64 (Steele, Lea, Flood 2014): 64-bit state, passes BigCrush, trivially seedable.
class SplitMix64 {
public:
    explicit SplitMix64(std::uint64_t seed) noexcept : state_(seed) {}
    std::uint64_t next() noexcept {
        std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        return z ^ (z >> 31);
    }
    /// The whole state: SplitMix64(state()) continues this stream exactly (checkpoints).
    [[nodiscard]] std::uint64_t state() const noexcept { return state_; }
    /// Uniform double in [0, 1) from the top 53 bits.
    double uniform() noexcept { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
    /// Uniform integer in [0, n) (Lemire's multiply-shift; bias < n / 2^64, irrelevant here).
    std::uint64_t below(std::uint64_t n) noexcept {
        __extension__ using Wide = unsigned __int128;  // GCC/Clang extension, fine under -Wpedantic
        return static_cast<std::uint64_t>((static_cast<Wide>(next()) * n) >> 64);
    }

private:
    std::uint64_t state_;
};

/// Independent stream `stream` of a seed (the seed and the stream index are mixed, so nearby
/// seeds and streams do not overlap).
inline SplitMix64 streamOf(std::uint64_t seed, std::uint64_t stream) noexcept {
    SplitMix64 mix(seed ^ (0xD1B54A32D192ED03ULL * (stream + 1)));
    return SplitMix64(mix.next());
}

/// Fisher-Yates shuffle with a SplitMix64.
template <class T> void shuffle(std::vector<T>& values, SplitMix64& rng) noexcept {
    for (std::size_t i = values.size(); i > 1; --i) {
        const std::size_t j = static_cast<std::size_t>(rng.below(i));
        std::swap(values[i - 1], values[j]);
    }
}

/// Named streams of one training seed (the values are in the project's one list).
enum Stream : std::uint64_t {
    kSplitStream = stream::kTrainValidationSplit,
    kInitStream = stream::kWeightInit,
    kShuffleStream = stream::kShuffle
};

}  // namespace hlstm::model::detail
