/// Collective reader of the native input format (README: "Input: the archives users have"): /x, /y float64 (n),
/// /dates int32 YYYYMMDD (m), /displacement float32 (n, m) with attr unit "mm" or "m",
/// optional /id int64 (n) and /truth float32 (n, m) (noise-free signal of simulated scenes).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "hlstm/core/comm.hpp"
#include "hlstm/data/observation_mask.hpp"
#include "hlstm/data/point_set.hpp"
#include "hlstm/io/output_format.hpp"

namespace hlstm {

/// Input formats (`input.format`); kAuto detects by content (data/input.hpp).
enum class InputFormat { kAuto, kNative, kMintPy, kLicsbas, kEgms };

/// Reader settings.
struct ReadOptions {
    /// Points with fewer valid (finite) epochs than this fraction of all epochs are dropped.
    double minValidFraction = 0.5;
    /// The last epochs held out (run.holdout): they do not count towards minValidFraction, so
    /// that a point is kept on its visible epochs, as a read cut there (input.until) keeps it
    /// (ignored when fewer than 3 epochs would be visible: the holdout is refused then).
    std::size_t hiddenEpochs = 0;
    /// Whether /truth (simulated scenes' noise-free signal) is read too, when present.
    bool readTruth = true;
    /// Only the last `truthEpochs` epochs of /truth are read (0: all); `run` judges the held-out
    /// epochs against it and needs no more, so it does not hold a second copy of the archive.
    std::size_t truthEpochs = 0;
    /// Input format (input.format).
    InputFormat format = InputFormat::kAuto;
    /// MintPy radar geometry: the geometry file with /latitude, /longitude (input.geometry).
    std::string geometry;
    /// Gridded inputs: a mask file (MintPy maskTempCoh.h5, dataset /mask; input.mask); only
    /// pixels where it is non-zero become points.
    std::string mask;
    /// Epochs after this YYYYMMDD (inclusive bound) are cut at read, as if the archive ended
    /// there (input.until); 0: none.
    std::int32_t until = 0;
    /// Acquisitions left out at read (input.exclude_dates, YYYYMMDD; each must be one of the
    /// archive's dates).
    std::vector<std::int32_t> excludeDates;
    /// Whether the epochs are cut (until or excludeDates set).
    [[nodiscard]] bool cutsEpochs() const noexcept { return until != 0 || !excludeDates.empty(); }
};

/// Counts over all ranks.
struct ReadStats {
    std::uint64_t fileRows = 0;  ///< points in the file
    std::uint64_t epochs = 0;
    std::uint64_t dropped = 0;  ///< input points not kept, for any reason (sum of droppedBy)
    /// Dropped points per hlstm::output::PointStatus code (index kForecast stays 0).
    std::array<std::uint64_t, output::kPointStatusCount> droppedBy{};
    std::uint64_t missing = 0;   ///< missing values among kept points (before filling)
    std::uint64_t outliers = 0;  ///< values beyond +-kOutlierMm, treated as missing
    std::string unit;            ///< unit found in the file ("mm" or "m")
    std::string crs;             ///< CRS of points.x/y ("EPSG:32650"; empty: unknown)
    std::string sourceCrs;       ///< CRS of the file's coordinates (before any projection)
    std::string format;          ///< "native", "mintpy", "licsbas", "egms"
    std::string layout;          ///< what was read, e.g. "geocoded grid 1500 x 1300"
    bool hasTruth = false;       ///< /truth was read (present and ReadOptions::readTruth)
};

/// What one rank holds after a collective read: its block of kept points.
struct LocalBlock {
    PointSet points;               ///< points.rows = global index among kept points
    std::vector<float> truth;      ///< size() x truthEpochs: the last epochs of /truth; empty if absent
    std::size_t truthEpochs = 0;   ///< epochs per point in `truth` (the last ones; all by default)
    std::uint64_t keptOffset = 0;  ///< global index of this rank's first kept point
    std::uint64_t keptTotal = 0;   ///< kept points over all ranks
    /// Per kept point and epoch: observed (not gap-filled); the metrics judge held-out epochs
    /// only where they were observed, and a cut refills its gaps from the left (visible_fill.hpp).
    ObservationMask observedMask;
    /// EGMS point ids (`pid` strings) per kept point; empty for the other formats, whose ids
    /// are numbers (native /id, or the pixel index row * width + col of a grid).
    std::vector<std::string> pids;
    /// Input points that are not among the kept points, in input order (every input point is a
    /// row of the output: the kept points first, then these).
    struct DroppedPoints {
        std::vector<double> x, y;         ///< in stats.crs like points.x/y (NaN when unknown)
        std::vector<std::int64_t> ids;    ///< same id rule as points.ids
        std::vector<std::string> pids;    ///< EGMS only (else empty)
        std::vector<std::int8_t> status;  ///< hlstm::output::PointStatus codes
        std::uint64_t offset = 0;         ///< global index of this rank's first dropped point
        std::uint64_t total = 0;          ///< dropped points over all ranks
        [[nodiscard]] std::size_t size() const noexcept { return x.size(); }
    } dropped;
    ReadStats stats;

    /// Whether epoch t of local point i was observed (true for a block read without a mask).
    [[nodiscard]] bool observed(std::size_t i, std::size_t t) const noexcept { return observedMask.at(i, t); }
};

/// A displacement beyond this (mm, i.e. 100 m) is not ground motion: it is treated as a missing
/// value (unwrapping blunders, fill values such as 1e30 or 9999 m), counted and logged.
inline constexpr double kOutlierMm = 1e5;

/// Reads `path` collectively: each rank reads its contiguous block of rows (hyperslab), no
/// rank reads the whole file when there are several. Converts m to mm, drops points with
/// too few valid epochs, fills remaining gaps by linear interpolation along time.
/// Throws InputError naming file, dataset and index on every rank (collective).
LocalBlock readNative(const Comm& comm, const std::string& path, const ReadOptions& options);

/// "3 masked (mask = 0 in input.mask m.h5), 2 no_data (no value in any epoch)": the input
/// points not kept, per reason (stats.droppedBy); "none" when every point was kept.
std::string droppedText(const ReadStats& stats, const ReadOptions& options);

/// Fills NaN gaps of one series in place by linear interpolation in time (`days` per
/// epoch); leading/trailing gaps take the nearest valid value. Returns the number filled.
std::size_t fillGaps(float* series, const std::int64_t* days, std::size_t m);

}  // namespace hlstm
