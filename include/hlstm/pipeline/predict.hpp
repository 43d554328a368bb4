/// `hlstm predict`: forecasts for a new input file from the models saved in an hlstm-output
/// file (e.g. after a new acquisition), each rank its own block of points.
#pragma once

#include <string>

#include "hlstm/core/comm.hpp"
#include "hlstm/data/native_reader.hpp"

namespace hlstm::pipeline {

/// What predict does with a point that is not in the model file and farther from every
/// trained point than the partition's edge threshold (/partition/edge_threshold).
enum class FarPoints {
    kNaN,      ///< status far, NaN forecasts, counted in the log (default)
    kNearest,  ///< the nearest trained point's subregion, as for a near point (--assign-far nearest)
};

/// Reads the models and the point -> subregion map of `modelsPath`, reads `inputPath`
/// collectively, forecasts every point with its subregion's model (points matched by pid for
/// EGMS inputs, else by id; unknown points take the subregion of the nearest known point
/// unless they are far, see FarPoints; InputError when every point is far) and writes
/// `outputPath` (via <out>.tmp, complete = 1 last): next_cumulative from the run's robust level
/// (run.level_epochs), interval_low/high from its /subregions/interval_halfwidth. Collective.
/// Returns the exit code.
int predict(const Comm& comm, const std::string& modelsPath, const std::string& inputPath,
            const std::string& outputPath, const ReadOptions& readOptions, FarPoints far = FarPoints::kNaN);

}  // namespace hlstm::pipeline
