// `hlstm spatial OUT.h5 -o SPATIAL.h5`: the paper's spatial evidence (Tables II and V) of a run.
#include <chrono>

#include "command.hpp"
#include "hlstm/core/log.hpp"
#include "hlstm/spatial/analysis.hpp"

namespace hlstm::cli {
namespace {

struct SpatialArgs {
    std::string input, output;
};

Action setupSpatial(CLI::App& sub) {
    auto a = std::make_shared<SpatialArgs>();
    auto config = std::make_shared<ConfigOptions>(sub);
    sub.add_option("file", a->input, "hlstm run output .h5 (complete = 1)")->required();
    sub.add_option("-o,--output", a->output, "hlstm-spatial .h5 (written as OUTPUT.tmp, then renamed)")->required();
    sub.footer(
        "Weights: spatial.k (8) nearest neighbours; row-standardised for Moran's I (E[I], Var[I] under\n"
        "randomisation, as R spdep's moran.test), binary with the point itself for Getis-Ord Gi* (spdep localG).\n"
        "Variables: velocity, holdout_observed and holdout_predicted (the held-out steps summed), residual\n"
        "(predicted - observed); each statistic uses the points with a finite value. Geodetector q with its\n"
        "F-test p (the geodetector R package) against subregions, zones and a grid of spatial.cell metres; Table II\n"
        "is the velocity's q on the grid, whole scene and inside each subregion. Clark-Evans NNI over the convex\n"
        "hull of the points with a velocity. Computed on rank 0 (it gathers nothing else: the other ranks wait).\n"
        "Example: hlstm spatial out.h5 -o out.spatial.h5 --spatial.k 8 --spatial.cell 1000\n"
        "Exit codes: 0 done, 1 not a complete hlstm run output or a bad option, 2 write failure.");
    return [a, config](const Comm& comm) {
        const auto start = std::chrono::steady_clock::now();
        const Config cfg = config->resolve();
        const spatial::SpatialOptions options = spatial::SpatialOptions::fromConfig(cfg);
        spatial::runSpatial(comm, a->input, a->output, options);
        if (comm.isRoot())
            log::info() << "spatial: "
                        << std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() << " s";
        return 0;
    };
}

const Registrar kRegistrar({"spatial", "Spatial statistics of a run (Moran's I, Gi*, geodetector q, NNI; Tables II, V)",
                            setupSpatial});

}  // namespace
}  // namespace hlstm::cli
