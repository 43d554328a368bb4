/// `hlstm backtest`: rolling-origin backtests of the run's method and every baseline (README:
/// "Backtest"): the input read once, the method refitted at each origin on the epochs before it
/// and its positions scored at the Y epochs after it, written to /backtest of one HDF5 file.
#pragma once

#include <string>

#include "hlstm/config/config.hpp"
#include "hlstm/core/comm.hpp"

namespace hlstm::pipeline {

/// Command-line level inputs of a backtest (the rest is in the Config, as for `hlstm run`).
struct BacktestArgs {
    std::string input;   ///< overrides input.path when not empty
    std::string output;  ///< BT.h5; written as <output>.tmp, then renamed
    int origins = 6;     ///< N: the last is the run's own holdout
    int stride = 0;      ///< S epochs between origins (0: Y = model.horizon)
    /// refit: the method is refitted at every origin; frozen: fitted at the first origin only,
    /// whose methods forecast the later ones (a model in service).
    std::string strategy = "refit";
};

/// Runs the backtest (collective). Returns the exit code (0); throws InputError/ConfigError
/// for bad input or configuration (e.g. too few epochs for N origins), agreed on by all ranks.
int backtest(const Comm& comm, const Config& config, const BacktestArgs& args);

}  // namespace hlstm::pipeline
