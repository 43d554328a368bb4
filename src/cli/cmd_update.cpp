// `hlstm update`: a new acquisition scored, learned and forecast with an earlier output's models.
#include "command.hpp"
#include "hlstm/core/signals.hpp"
#include "hlstm/pipeline/update.hpp"

namespace hlstm::cli {
namespace {

struct UpdateOptions {
    pipeline::UpdateArgs args;
    std::string assignFar = "none";
};

Action setupUpdate(CLI::App& sub) {
    auto a = std::make_shared<UpdateOptions>();
    auto options = std::make_shared<ConfigOptions>(sub);
    sub.add_option("--models", a->args.models, "PREV: hlstm-output of hlstm run or of an earlier update")->required();
    sub.add_option("--input", a->args.input, "NEW: PREV's epochs and later ones (any input format)")->required();
    sub.add_option("-o,--output", a->args.output, "NEXT: a complete hlstm-output with /update and /models")->required();
    sub.add_option("--assign-far", a->assignFar,
                   "new points farther than the partition's edge threshold from every trained point: none (status "
                   "far, NaN forecasts) or nearest (the nearest trained point's subregion)")
        ->check(CLI::IsMember({"none", "nearest"}))
        ->capture_default_str();
    sub.add_flag("--resume", a->args.resume,
                 "continue an interrupted update from its checkpoints (<out>.ckpt); same PREV, input and "
                 "configuration required");
    sub.footer(
        "The configuration is PREV's (input.until and input.exclude_dates cleared), then --config, then the\n"
        "overrides. Example: mpirun -n 2 hlstm update --models run.h5 --input new.h5 -o next.h5 --update.epochs 3\n"
        "Exit codes: 0 done, 1 bad input or configuration (NEW does not extend PREV's dates), 2 runtime failure,\n"
        "3 stopped by SIGUSR1/SIGTERM (each fine-tuned subregion is kept in <out>.ckpt: rerun with --resume).");
    return [a, options](const Comm& comm) {
        installStopHandlers();  // as run: stop at a subregion's boundary with exit code 3
        a->args.far = a->assignFar == "nearest" ? pipeline::FarPoints::kNearest : pipeline::FarPoints::kNaN;
        Config config = options->resolve(pipeline::updateBaseConfig(comm, a->args.models));
        printConfig(comm, config);
        return pipeline::update(comm, config, a->args);
    };
}

const Registrar kRegistrar({"update", "Score an earlier forecast on new epochs, fine-tune its models, forecast again",
                            setupUpdate});

}  // namespace
}  // namespace hlstm::cli
