/// Collective reader of the native input format (DESIGN section 3): /x, /y float64 (n),
/// /dates int32 YYYYMMDD (m), /displacement float32 (n, m) with attr unit "mm" or "m",
/// optional /id int64 (n) and /truth float32 (n, m) (noise-free signal of simulated scenes).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "hlstm/core/comm.hpp"
#include "hlstm/data/point_set.hpp"

namespace hlstm {

/// Reader settings.
struct ReadOptions {
    /// Points with fewer valid (finite) epochs than this fraction of all epochs are dropped.
    double minValidFraction = 0.5;
    /// Whether /truth (simulated scenes' noise-free signal) is read too, when present.
    bool readTruth = true;
};

/// Counts over all ranks.
struct ReadStats {
    std::uint64_t fileRows = 0;      ///< points in the file
    std::uint64_t epochs = 0;
    std::uint64_t dropped = 0;       ///< points dropped for too few valid epochs
    std::uint64_t missing = 0;       ///< missing values among kept points (before filling)
    std::uint64_t outliers = 0;      ///< values beyond +-kOutlierMm, treated as missing
    std::string unit;                ///< unit found in the file ("mm" or "m")
    std::string crs;                 ///< root attribute crs, if any
    bool hasTruth = false;           ///< /truth was read (present and ReadOptions::readTruth)
};

/// What one rank holds after a collective read: its block of kept points.
struct LocalBlock {
    PointSet points;                 ///< points.rows = global index among kept points
    std::vector<float> truth;        ///< same shape as points.displacement, empty if absent
    std::uint64_t keptOffset = 0;    ///< global index of this rank's first kept point
    std::uint64_t keptTotal = 0;     ///< kept points over all ranks
    /// Per kept point: bit k set when epoch m - 1 - k was observed (not gap-filled), k < 32;
    /// the metrics judge held-out epochs only where they were observed.
    std::vector<std::uint32_t> tailObserved;
    ReadStats stats;

    /// Whether epoch t of local point i was observed; epochs before the last 32 count as observed.
    [[nodiscard]] bool observed(std::size_t i, std::size_t t) const noexcept {
        const std::size_t m = points.nEpochs();
        return t + 32 < m || i >= tailObserved.size() || ((tailObserved[i] >> (m - 1 - t)) & 1u) != 0;
    }
};

/// A displacement beyond this (mm, i.e. 100 m) is not ground motion: it is treated as a missing
/// value (unwrapping blunders, fill values such as 1e30 or 9999 m), counted and logged.
inline constexpr double kOutlierMm = 1e5;

/// Reads `path` collectively: each rank reads its contiguous block of rows (hyperslab), no
/// rank reads the whole file when there are several. Converts m to mm, drops points with
/// too few valid epochs, fills remaining gaps by linear interpolation along time.
/// Throws InputError naming file, dataset and index on every rank (collective).
LocalBlock readNative(const Comm& comm, const std::string& path, const ReadOptions& options);

/// Fills NaN gaps of one series in place by linear interpolation in time (`days` per
/// epoch); leading/trailing gaps take the nearest valid value. Returns the number filled.
std::size_t fillGaps(float* series, const std::int64_t* days, std::size_t m);

}  // namespace hlstm
