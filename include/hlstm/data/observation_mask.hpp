/// Which values of a block of series were observed (not gap-filled by the reader): one bit per
/// point and epoch, every epoch (ceil(m / 64) words per point: 1/25 of the float32 series at 200 epochs).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace hlstm {

class ObservationMask {
public:
    /// An empty mask: every value counts as observed.
    ObservationMask() = default;

    /// Appends a point: epoch t is observed when series[t] is finite (before gap filling).
    void append(const float* series, std::size_t epochs) {
        words_ = wordsFor(epochs);
        const std::size_t at = bits_.size();
        bits_.resize(at + words_, 0);
        for (std::size_t t = 0; t < epochs; ++t)
            if (std::isfinite(series[t])) bits_[at + t / 64] |= std::uint64_t{1} << (t % 64);
    }

    /// Whether epoch t of point i was observed; points beyond the mask (or an empty mask) count
    /// as observed.
    [[nodiscard]] bool at(std::size_t i, std::size_t t) const noexcept {
        const std::size_t k = i * words_ + t / 64;
        return words_ == 0 || k >= bits_.size() || ((bits_[k] >> (t % 64)) & 1u) != 0;
    }

    /// Points in the mask.
    [[nodiscard]] std::size_t size() const noexcept { return words_ == 0 ? 0 : bits_.size() / words_; }
    [[nodiscard]] bool empty() const noexcept { return bits_.empty(); }

    /// Point `from`'s bits become point `to`'s (compaction in place, to <= from).
    void move(std::size_t to, std::size_t from) {
        for (std::size_t w = 0; w < words_; ++w) bits_[to * words_ + w] = bits_[from * words_ + w];
    }
    /// Keeps the first `points` points.
    void resize(std::size_t points) { bits_.resize(points * words_); }

    /// The mask of the first `epochs` epochs of every point (an archive cut after them).
    [[nodiscard]] ObservationMask firstEpochs(std::size_t epochs) const {
        ObservationMask c;
        if (words_ == 0) return c;
        c.words_ = wordsFor(epochs);
        const std::size_t n = size();
        c.bits_.assign(n * c.words_, 0);
        for (std::size_t i = 0; i < n; ++i)
            for (std::size_t w = 0; w < c.words_; ++w) {
                const std::size_t bitsHere = std::min<std::size_t>(64, epochs - w * 64);
                const std::uint64_t keep = bitsHere == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << bitsHere) - 1;
                c.bits_[i * c.words_ + w] = bits_[i * words_ + w] & keep;
            }
        return c;
    }

    /// The words, point after point (for gathering in tests).
    [[nodiscard]] const std::vector<std::uint64_t>& words() const noexcept { return bits_; }
    [[nodiscard]] std::size_t wordsPerPoint() const noexcept { return words_; }

private:
    static std::size_t wordsFor(std::size_t epochs) { return (epochs + 63) / 64; }
    std::size_t words_ = 0;
    std::vector<std::uint64_t> bits_;
};

}  // namespace hlstm
