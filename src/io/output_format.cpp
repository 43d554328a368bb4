#include "hlstm/io/output_format.hpp"

namespace hlstm::output {

const char* toString(PointStatus s) {
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

void writePointCoordinates(const h5::File& file, std::uint64_t total, std::uint64_t offset,
                           const std::vector<double>& x, const std::vector<double>& y,
                           const std::vector<std::int64_t>& ids) {
    writePointRows(file, points::kX, total, offset, x);
    writePointRows(file, points::kY, total, offset, y);
    writePointRows(file, points::kId, total, offset, ids);
}

}  // namespace hlstm::output
