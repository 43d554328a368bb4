// Private to src/pipeline: a model-won subregion's forecasts shared by every rank
// (forecast_stage.cpp). The one rank holding its winner sends each rank a contiguous slice of
// its rows (series, validation flags), the model and a slice of each view its interval
// calibration forecasts; each rank forecasts its slices, and the intervals' values come back to
// the holder. Rows are forecast independently (fixed batch shapes: src/model/network.cpp's
// kPredictBatch), so every value is the one the holder would have computed alone. MPI only
// through Comm.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "hlstm/core/comm.hpp"

namespace hlstm::pipeline {

/// A block of series: points x epochs, row-major.
struct SeriesBlock {
    std::size_t points = 0, epochs = 0;
    std::vector<float> values;
};

/// What a holder shares of one subregion (its buffers must live until shareSplit returns).
struct SplitSource {
    std::int32_t subregion = 0;
    std::string model;   // the forecasting model (model::toBytes)
    std::string judged;  // the selected model for the intervals when it differs (run.refit), else empty
    const std::uint64_t* rows = nullptr;  // global rows, n
    const float* series = nullptr;        // n x the exchange's epochs
    std::size_t n = 0;
    std::vector<std::int8_t> validation;  // n: a validation row (1) or not (0)
    std::vector<SeriesBlock> views;       // the interval calibration's forecasts, in call order
};

/// This rank's slice (sliceOf) of one shared subregion.
struct SplitPiece {
    int holder = 0;
    std::int32_t subregion = 0;
    std::string model, judged;
    std::vector<std::uint64_t> rows;
    std::vector<float> series;  // rows x epochs
    std::vector<std::int8_t> validation;
    std::vector<SeriesBlock> views;               // the slice of each source view
    std::vector<std::vector<float>> viewResults;  // set by the caller: per view, its rows x a width
};

/// Every rank's sources, each sliced among all ranks; this rank's pieces in (holder, source)
/// order, one per source (maybe of no rows) (collective).
std::vector<SplitPiece> shareSplit(const Comm& comm, const std::vector<SplitSource>& sources, std::size_t epochs);

/// The pieces' viewResults back to their holders: per source of this rank (`nSources`, in order)
/// and view, the slices joined in rank order, i.e. the whole view's values (collective).
std::vector<std::vector<std::vector<float>>> joinSplit(const Comm& comm, const std::vector<SplitPiece>& pieces,
                                                       std::size_t nSources);

}  // namespace hlstm::pipeline
