// `hlstm simulate`: write a simulated scene (realistic or the paper's Table I patterns).
#include <filesystem>

#include "command.hpp"
#include "hlstm/core/log.hpp"
#include "hlstm/data/simulate.hpp"

namespace hlstm::cli {
namespace {

struct SimulateArgs {
    std::string kind = "scene";
    std::uint64_t points = 0;
    std::uint64_t epochs = 0;
    std::uint64_t seed = 1;
    std::string output;
};

Action setupSimulate(CLI::App& sub) {
    auto args = std::make_shared<SimulateArgs>();
    sub.add_option("--kind", args->kind, "scene (realistic) | patterns (paper Table I)")
        ->check(CLI::IsMember({"scene", "patterns"}))
        ->capture_default_str();
    sub.add_option("--points", args->points, "points (default: 430476 for scene, 50000 for patterns)");
    sub.add_option("--epochs", args->epochs, "epochs at 12-day spacing (default: 89 for scene, 12 for patterns)");
    sub.add_option("--seed", args->seed, "random seed")->capture_default_str();
    sub.add_option("-o,--output", args->output, "output .h5 file")->required();
    return [args](const Comm& comm) {
        SimulateOptions o;
        const bool patterns = args->kind == "patterns";
        o.kind = patterns ? SceneKind::kPatterns : SceneKind::kScene;
        o.points = args->points ? args->points : (patterns ? 50000 : 430476);
        o.epochs = args->epochs ? args->epochs : (patterns ? 12 : 89);
        o.seed = args->seed;
        if (comm.isRoot())
            log::info() << "simulate " << args->kind << ": " << o.points << " points x " << o.epochs
                        << " epochs, seed " << o.seed << ", " << comm.size() << " rank(s) -> " << args->output;
        simulate(comm, o, args->output);
        if (comm.isRoot()) log::info() << "wrote " << args->output;
        return 0;
    };
}

const Registrar kRegistrar({"simulate", "Write a simulated InSAR scene with its noise-free /truth", setupSimulate});

}  // namespace
}  // namespace hlstm::cli
