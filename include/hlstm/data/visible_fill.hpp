/// Gap filling at a cut (a holdout, a backtest origin, the epochs an earlier forecast saw): the
/// reader fills gaps linearly over the whole archive, so a gap that runs across the last visible
/// epoch was interpolated towards a hidden epoch. fillFromLeft refills the visible part of such a
/// gap from the left only, as the reader fills the end of an archive cut by input.until, and
/// keeps the reader's values so that a forecast made when every epoch is visible can use them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "hlstm/core/comm.hpp"
#include "hlstm/data/native_reader.hpp"

namespace hlstm {

/// The reader's (both-sided) values that fillFromLeft replaced, by global row, ascending.
struct ReaderFill {
    std::vector<std::uint64_t> rows;     ///< global row of each refilled point
    std::vector<std::uint32_t> first;    ///< its first refilled epoch
    std::vector<std::uint64_t> offsets;  ///< its values are values[offsets[k], offsets[k + 1])
    std::vector<float> values;           ///< the reader's values of those epochs (mm)

    [[nodiscard]] std::size_t size() const noexcept { return rows.size(); }
    /// Every rank's refilled points, in global row order (collective): after it, any rank can
    /// restore the rows it holds, whoever owned them.
    void share(const Comm& comm);
    /// Writes the reader's values back into the series of the given global rows (points x
    /// `epochs`, row-major, in any order) where they were refilled; returns how many points.
    std::size_t restore(const std::vector<std::uint64_t>& seriesRows, float* series, std::size_t epochs) const;
};

/// For every point of `block` whose epoch visibleEpochs - 1 was not observed, the epochs from
/// its last observed epoch before the cut to the cut take that epoch's value (from the left
/// only: nothing at or after the cut is used). A point with no observed epoch before the cut
/// keeps the reader's values (counted in `leftover`, when given). Only this rank's rows change.
ReaderFill fillFromLeft(LocalBlock& block, std::size_t visibleEpochs, std::size_t* leftover = nullptr);

}  // namespace hlstm
