// `hlstm run`: the distributed HLSTM pipeline.
#include "command.hpp"
#include "hlstm/core/signals.hpp"
#include "hlstm/pipeline/run.hpp"

namespace hlstm::cli {
namespace {

Action setupRun(CLI::App& sub) {
    auto args = std::make_shared<pipeline::RunArgs>();
    auto options = std::make_shared<ConfigOptions>(sub);
    sub.add_option("--input", args->input, "input .h5 (overrides input.path; empty: simulate a scene)");
    sub.add_option("-o,--output", args->output, "output .h5 (hlstm-output, written as <out>.tmp then renamed)");
    sub.add_flag("--dry-run", args->dryRun,
                 "read, partition and print the plan with its expected wall time; no training");
    sub.add_flag(
        "--resume", args->resume,
        "continue an interrupted run from its checkpoints (<out>.ckpt); same configuration and input required");
    sub.footer(
        "Example: mpirun -n 4 hlstm run --config configs/demo.toml -o out.h5 --train.epochs 10\n"
        "Exit codes: 0 done, 1 bad input or configuration, 2 runtime failure, 3 stopped by SIGUSR1/SIGTERM\n"
        "(checkpoints kept in <out>.ckpt: rerun with --resume).");
    return [args, options](const Comm& comm) {
        // Only run checks the stop flag (and checkpoints): the other commands keep the default
        // action of SIGTERM and SIGINT.
        installStopHandlers();
        Config config = options->resolve();
        printConfig(comm, config);
        return pipeline::run(comm, config, *args);
    };
}

const Registrar kRegistrar({"run", "Partition, grid-search one LSTM per subregion, forecast, write hlstm-output",
                            setupRun});

}  // namespace
}  // namespace hlstm::cli
