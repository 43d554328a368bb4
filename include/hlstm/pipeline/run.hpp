/// `hlstm run`: the distributed HLSTM pipeline (README: "What a run does and reports"): collective read,
/// holdout, partition on rank 0, task plan, row redistribution (Alltoallv), grid search
/// across ranks, selection, prediction, and one collective hlstm-output HDF5 file.
#pragma once

#include <string>

#include "hlstm/config/config.hpp"
#include "hlstm/core/comm.hpp"

namespace hlstm::pipeline {

/// Command-line level inputs of a run (the rest is in the Config).
struct RunArgs {
    std::string input;    ///< overrides input.path when not empty
    std::string output;   ///< final output path; written as <output>.tmp, then renamed
    bool dryRun = false;  ///< print the plan and expected wall time, write nothing
    bool resume = false;  ///< continue from the checkpoints in <output>.ckpt
};

/// Runs the pipeline (collective). Returns the exit code (0); throws InputError/ConfigError
/// for bad input or configuration and RuntimeError otherwise, agreed on by all ranks.
int run(const Comm& comm, const Config& config, const RunArgs& args);

}  // namespace hlstm::pipeline
