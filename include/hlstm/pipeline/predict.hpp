/// `hlstm predict`: forecasts for a new input file from the models saved in an hlstm-output
/// file (e.g. after a new acquisition), each rank its own block of points.
#pragma once

#include <string>

#include "hlstm/core/comm.hpp"
#include "hlstm/data/native_reader.hpp"

namespace hlstm::pipeline {

/// Reads the models and the point -> subregion map of `modelsPath`, reads `inputPath`
/// collectively, forecasts every point with its subregion's model (points matched by id;
/// unknown ids take the subregion of the nearest known point) and writes `outputPath`
/// (via <out>.tmp, complete = 1 last). Collective. Returns the exit code.
int predict(const Comm& comm, const std::string& modelsPath, const std::string& inputPath,
            const std::string& outputPath, const ReadOptions& readOptions);

}  // namespace hlstm::pipeline
