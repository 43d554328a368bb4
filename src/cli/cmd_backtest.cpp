// `hlstm backtest`: rolling-origin backtests of the run's method beside every baseline.
#include "command.hpp"
#include "hlstm/pipeline/backtest.hpp"

namespace hlstm::cli {
namespace {

Action setupBacktest(CLI::App& sub) {
    auto args = std::make_shared<pipeline::BacktestArgs>();
    auto options = std::make_shared<ConfigOptions>(sub);
    sub.add_option("--input", args->input, "input .h5 (overrides input.path; empty: simulate a scene)");
    sub.add_option("-o,--output", args->output, "output .h5 with /backtest (written as <out>.tmp then renamed)")
        ->required();
    sub.add_option("--origins", args->origins, "N rolling origins; the last is the run's own holdout")
        ->capture_default_str();
    sub.add_option("--origin-stride", args->stride, "S epochs between origins (0: model.horizon)")
        ->capture_default_str();
    sub.add_option("--strategy", args->strategy,
                   "refit: the method refitted at every origin | frozen: fitted at the first origin only, its "
                   "models forecast the later origins (a model in service)")
        ->capture_default_str();
    sub.footer(
        "At each origin the run's method is refitted on the epochs before it (partition, grid search, selection)\n"
        "and its positions are scored at the model.horizon epochs after it, beside every baseline.\n"
        "Example: mpirun -n 2 hlstm backtest --config configs/demo.toml --origins 6 -o bt.h5");
    return [args, options](const Comm& comm) {
        Config config = options->resolve();
        printConfig(comm, config);
        return pipeline::backtest(comm, config, *args);
    };
}

const Registrar kRegistrar({"backtest", "Rolling-origin backtest: refit at N origins, score positions per step",
                            setupBacktest});

}  // namespace
}  // namespace hlstm::cli
