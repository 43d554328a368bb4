/// The one owner of the hlstm-output format: the format name and version, the dataset names,
/// and the codes written to /points/status. Every reader and writer of the format (run,
/// predict, partition, export, the tests) takes the names from here.
#pragma once

#include <cstdint>
#include <string>

namespace hlstm::output {

/// Why an input point was or was not forecast (/points/status, int8). Every input point is a
/// row of /points: the kept points first (in input order), then the others (in input order).
enum class PointStatus : std::int8_t {
    kForecast = 0,            ///< forecast by its subregion's winner
    kTooFewEpochs = 1,        ///< fewer valid visible epochs than input.min_valid_fraction asks
    kMasked = 2,              ///< masked out by input.mask (mask = 0)
    kNoData = 3,              ///< no value in any epoch (the file's no-data value, or all NaN)
    kInvalidCoordinates = 4,  ///< non-finite or untransformable coordinates
    kFar = 5,                 ///< predict/update: farther from every trained point than the edge threshold
    kNoModel = 6,             ///< its subregion has no usable model or baseline
};
inline constexpr int kPointStatusCount = 7;

/// Short name of a status ("forecast", "too_few_epochs", ...), as export writes it.
inline const char* toString(PointStatus s) {
    switch (s) {
        case PointStatus::kForecast: return "forecast";
        case PointStatus::kTooFewEpochs: return "too_few_epochs";
        case PointStatus::kMasked: return "masked";
        case PointStatus::kNoData: return "no_data";
        case PointStatus::kInvalidCoordinates: return "invalid_coordinates";
        case PointStatus::kFar: return "far";
        case PointStatus::kNoModel: return "no_model";
    }
    return "unknown";
}

}  // namespace hlstm::output
