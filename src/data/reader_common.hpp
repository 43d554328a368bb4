// Private to src/data: the steps every input format shares after its own parsing.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "hlstm/core/comm.hpp"
#include "hlstm/data/native_reader.hpp"
#include "hlstm/io/output_format.hpp"

namespace hlstm::detail {

/// One rank's points as a format reader found them, before the common checks: values in the
/// file's unit (NaN = missing), in the global point order (this rank's part of it).
struct RawPoints {
    std::vector<double> x, y;  ///< in stats.crs (degrees when geographic)
    std::vector<std::int64_t> ids;
    std::vector<std::string> pids;  ///< EGMS only
    /// Empty (every point is a candidate), or per point a PointStatus: kForecast for a
    /// candidate, else why the reader already left it out (masked, no data, no coordinates).
    std::vector<std::int8_t> status;
    std::vector<float> values;  ///< candidates() x m, row-major (candidates only)
    std::vector<float> truth;   ///< empty, or candidates() x truthEpochs (the last epochs)
    std::size_t truthEpochs = 0;
    float toMm = 1.0f;  ///< factor from the file's unit to mm
    [[nodiscard]] std::size_t size() const noexcept { return x.size(); }
    /// Appends a point the reader leaves out (no values), keeping the input order.
    void skip(double px, double py, std::int64_t id, output::PointStatus why) {
        if (status.empty()) status.assign(x.size(), static_cast<std::int8_t>(output::PointStatus::kForecast));
        x.push_back(px), y.push_back(py), ids.push_back(id);
        status.push_back(static_cast<std::int8_t>(why));
    }
    /// Appends a candidate point; its m values follow in `values`.
    void add(double px, double py, std::int64_t id) {
        x.push_back(px), y.push_back(py), ids.push_back(id);
        if (!status.empty()) status.push_back(static_cast<std::int8_t>(output::PointStatus::kForecast));
    }
};

/// The shared tail of every reader (collective): outliers beyond kOutlierMm become missing,
/// points with too few valid epochs are dropped (with the reader's skipped points they form
/// block.dropped, in input order, counted per reason in stats.droppedBy and logged), values converted to mm, gaps filled, the
/// held-out mask kept; global row numbers and totals; then geographic coordinates (stats.crs
/// geographic) are projected to the UTM zone of the scene centre. `stats` carries what the
/// reader found (format, unit, crs, layout); fileRows, dropped, missing, outliers are set here.
/// Cuts the epochs after options.until and those of options.excludeDates from every row of
/// `raw` (and its /truth) and from `dates` (collective: InputError naming the file when a date
/// lies outside the archive or fewer than 2 epochs are left). Called first by finishBlock.
void cutEpochs(const Comm& comm, const std::string& path, RawPoints& raw, std::vector<std::int32_t>& dates,
               const ReadOptions& options);

LocalBlock finishBlock(const Comm& comm, const std::string& path, RawPoints&& raw, std::vector<std::int32_t> dates,
                       ReadStats stats, const ReadOptions& options);

/// Projects a block whose stats.crs is geographic to the WGS84 UTM zone of the scene centre
/// (the same zone on every rank; collective); stats.sourceCrs keeps the file's CRS.
void projectGeographic(const Comm& comm, const std::string& path, LocalBlock& block);

/// Checks a date list: real calendar dates, strictly increasing; `where` names the source
/// ("x.h5: dataset /date"). Throws InputError naming the index and value.
void checkDates(const std::vector<std::int32_t>& dates, const std::string& where);

/// "YYYYMMDD" text to its integer, or -1 when it is not 8 digits.
std::int32_t parseDate8(const std::string& text);

}  // namespace hlstm::detail
