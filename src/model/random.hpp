// Private to src/model: the named training streams of the project's one generator
// (hlstm/core/random.hpp), for bit-reproducible training.
#pragma once

#include "hlstm/core/random.hpp"

namespace hlstm::model::detail {

using hlstm::Rng;
using hlstm::shuffle;
using hlstm::streamOf;

/// Named streams of one training seed (the values are in the project's one list).
enum Stream : std::uint64_t {
    kSplitStream = stream::kTrainValidationSplit,
    kInitStream = stream::kWeightInit,
    kShuffleStream = stream::kShuffle
};

}  // namespace hlstm::model::detail
