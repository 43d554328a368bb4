/// The in-memory data model: a block of InSAR points (ids, coordinates, dates and
/// cumulative displacement in mm, row-major per point) and read-only views of it.
#pragma once

#include <boost/serialization/vector.hpp>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace hlstm {

/// Calendar helpers for YYYYMMDD dates.
namespace dates {
/// Days since 1970-01-01 of a YYYYMMDD integer; throws nothing, checks nothing.
std::int64_t toDays(std::int32_t yyyymmdd);
/// YYYYMMDD of a day count since 1970-01-01.
std::int32_t fromDays(std::int64_t days);
/// Whether a YYYYMMDD integer is a real calendar date.
bool valid(std::int32_t yyyymmdd);
/// Decimal years since the first date, per date (for velocities in mm/yr).
std::vector<double> yearsSinceFirst(const std::vector<std::int32_t>& yyyymmdd);
/// Nominal acquisition spacing in days: the median interval (upper median; 12 with fewer than
/// two dates, at least 1).
std::int64_t nominalSpacing(const std::vector<std::int32_t>& yyyymmdd);
/// The `count` dates after the last one at the nominal (median) spacing (forecast epochs).
std::vector<std::int32_t> following(const std::vector<std::int32_t>& yyyymmdd, int count);
}  // namespace dates

/// A set of points held by one rank: a contiguous block [firstRow, firstRow + size()) of the
/// global point order, or any gathered subset (then `rows` says which global rows).
struct PointSet {
    std::vector<std::int64_t> ids;    ///< point identifiers (input /id or row index)
    std::vector<std::uint64_t> rows;  ///< global row index of each point
    std::vector<double> x;            ///< projected metres (or degrees, see crs)
    std::vector<double> y;
    std::vector<std::int32_t> dates;  ///< YYYYMMDD, strictly increasing, shared by all points
    std::vector<float> displacement;  ///< cumulative mm, size() x nEpochs(), row-major

    [[nodiscard]] std::size_t size() const noexcept { return x.size(); }
    [[nodiscard]] std::size_t nEpochs() const noexcept { return dates.size(); }
    /// Cumulative displacement series of point i (mm), nEpochs() values.
    [[nodiscard]] const float* series(std::size_t i) const noexcept { return displacement.data() + i * nEpochs(); }
    [[nodiscard]] float* series(std::size_t i) noexcept { return displacement.data() + i * nEpochs(); }

    /// Appends point i of `other` (same dates).
    void appendFrom(const PointSet& other, std::size_t i);
    /// Only the first `epochs` epochs (the visible part under the holdout protocol).
    [[nodiscard]] PointSet firstEpochs(std::size_t epochs) const;

    template <class Archive> void serialize(Archive& ar, unsigned /*version*/) {
        ar& ids& rows& x& y& dates& displacement;
    }
};

/// Least-squares slope of each point's cumulative displacement over the given epochs
/// (mm/yr); `years` are decimal years per epoch. NaN epochs are skipped.
std::vector<double> velocities(const PointSet& points, const std::vector<double>& years);

}  // namespace hlstm
