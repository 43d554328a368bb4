/// `hlstm update`: a new acquisition scored, learned and forecast (the paper's online use, end
/// of section II-C): the forecast of an earlier output judged on the new epochs, its models
/// fine-tuned from their weights on the windows those epochs complete, reselected against
/// the baselines, and a complete hlstm-output that the next update takes as --models.
#pragma once

#include <string>

#include "hlstm/config/config.hpp"
#include "hlstm/core/comm.hpp"
#include "hlstm/pipeline/predict.hpp"

namespace hlstm::pipeline {

/// Command-line level inputs of an update (the rest is in the Config).
struct UpdateArgs {
    std::string models;  ///< PREV: the hlstm-output of hlstm run or update
    std::string input;   ///< NEW: PREV's epochs and later ones, any input format
    std::string output;  ///< NEXT
    FarPoints far = FarPoints::kNaN;
    bool resume = false;  ///< continue from NEXT's checkpoints (NEXT.ckpt), as run --resume
};

/// The configuration an update starts from: the one stored in `models` with input.until and
/// input.exclude_dates cleared (collective; InputError naming the file when it is not an
/// hlstm-output of run or update). The command's --config and overrides go on top.
Config updateBaseConfig(const Comm& comm, const std::string& models);

/// Runs the update (collective). Returns the exit code (0); throws InputError when NEW does
/// not extend PREV's dates, ConfigError, RuntimeError, agreed on by all ranks.
int update(const Comm& comm, const Config& config, const UpdateArgs& args);

}  // namespace hlstm::pipeline
