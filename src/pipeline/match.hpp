// Private to src/pipeline: matching the points of a new input to the points of an earlier
// hlstm-output (predict, update): by EGMS pid or id, checked against the coordinates, else
// the nearest known point within the partition's edge threshold.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "hlstm/data/native_reader.hpp"
#include "hlstm/pipeline/predict.hpp"

namespace hlstm::pipeline {

/// The points of an earlier output (its /points rows).
struct KnownPoints {
    std::vector<std::int64_t> ids;
    std::vector<std::string> pids;  ///< EGMS only
    std::vector<double> x, y;
    std::vector<std::int32_t> subregion;
    double edgeThreshold = std::numeric_limits<double>::infinity();  ///< metres: farther is another scene
};

/// Where each kept point of a block lies among the known points.
struct PointMatch {
    bool byPid = false;                    ///< matched by EGMS pid (else by id)
    std::vector<std::int32_t> subregion;   ///< per kept point; -1 when far
    std::vector<std::int64_t> known;       ///< the same point in the earlier output, or -1
    std::vector<std::int64_t> nearest;     ///< `known`, or the nearest known point (-1 when far)
    std::vector<std::int8_t> status;       ///< output::PointStatus: kForecast or kFar
    std::uint64_t byNearest = 0, far = 0;  ///< this rank's counts
};

/// Matches this rank's kept points (rank-local). Throws InputError naming `inputPath` and
/// `knownPath` when a known id or pid lies at other coordinates (another scene).
PointMatch matchPoints(const KnownPoints& known, const LocalBlock& block, FarPoints far, const std::string& inputPath,
                       const std::string& knownPath);

}  // namespace hlstm::pipeline
