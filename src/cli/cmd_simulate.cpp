// `hlstm simulate`: write a simulated scene (realistic or the paper's Table I patterns).
#include <filesystem>

#include "command.hpp"
#include "hlstm/core/error.hpp"
#include "hlstm/core/log.hpp"
#include "hlstm/data/simulate.hpp"

namespace hlstm::cli {
namespace {

struct SimulateArgs {
    std::string kind = "scene";
    std::int64_t points = 0;
    std::int64_t epochs = 0;
    std::int64_t drop = 0;
    std::uint64_t seed = 1;
    double atmosphereMm = 5.0;
    std::string output;
};

Action setupSimulate(CLI::App& sub) {
    auto args = std::make_shared<SimulateArgs>();
    sub.add_option("--kind", args->kind, "scene (realistic) | patterns (paper Table I)")
        ->check(CLI::IsMember({"scene", "patterns"}))
        ->capture_default_str();
    auto* pointsOption =
        sub.add_option("--points", args->points, "points (default: 430476 for scene, 50000 for patterns)");
    auto* epochsOption =
        sub.add_option("--epochs", args->epochs, "epochs at 12-day spacing (default: 89 for scene, 12 for patterns)");
    sub.add_option("--drop", args->drop,
                   "acquisitions lost at seeded positions (gaps of twice the spacing; the dates stay real)")
        ->capture_default_str();
    sub.add_option("--seed", args->seed, "random seed")->capture_default_str();
    sub.add_option("--atmosphere-mm", args->atmosphereMm,
                   "scene: strength of the per-epoch atmosphere (blobs of 3-15 km, stronger in summer); 0: off")
        ->capture_default_str();
    sub.add_option("-o,--output", args->output, "output .h5 file")->required();
    return [args, pointsOption, epochsOption](const Comm& comm) {
        SimulateOptions o;
        const bool patterns = args->kind == "patterns";
        o.kind = patterns ? SceneKind::kPatterns : SceneKind::kScene;
        // Range checks before anything is allocated: a negative count is an error, not 2^64 - 5.
        // An explicit 0 is an error, not the default (only an absent option means the default).
        if (args->points < 0 || args->points > 1000000000 || (pointsOption->count() > 0 && args->points == 0))
            throw ConfigError("simulate: --points " + std::to_string(args->points) + " is out of range 1..1e9");
        if (args->epochs < 0 || args->epochs > 100000 || (epochsOption->count() > 0 && args->epochs < 3))
            throw ConfigError("simulate: --epochs " + std::to_string(args->epochs) + " is out of range 3..100000");
        o.points = args->points ? static_cast<std::uint64_t>(args->points) : (patterns ? 50000 : 430476);
        o.epochs = args->epochs ? static_cast<std::uint64_t>(args->epochs) : (patterns ? 12 : 89);
        if (args->drop < 0 || static_cast<std::uint64_t>(args->drop) + 4 > o.epochs)
            throw ConfigError("simulate: --drop " + std::to_string(args->drop) + " must be in 0..epochs - 4");
        o.drop = static_cast<std::uint64_t>(args->drop);
        o.seed = args->seed;
        o.atmosphereMm = args->atmosphereMm;
        if (comm.isRoot() && !patterns) log::info() << "simulate scene: atmosphere " << o.atmosphereMm << " mm";
        if (comm.isRoot())
            log::info() << "simulate " << args->kind << ": " << o.points << " points x " << o.epochs << " epochs, seed "
                        << o.seed << ", " << comm.size() << " rank(s) -> " << args->output;
        simulate(comm, o, args->output);
        if (comm.isRoot()) log::info() << "wrote " << args->output;
        return 0;
    };
}

const Registrar kRegistrar({"simulate", "Write a simulated InSAR scene with its noise-free /truth", setupSimulate});

}  // namespace
}  // namespace hlstm::cli
