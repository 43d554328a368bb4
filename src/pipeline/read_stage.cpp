#include <algorithm>
#include <cmath>
#include <filesystem>

#include "hlstm/core/log.hpp"
#include "hlstm/data/input.hpp"
#include "hlstm/data/simulate.hpp"
#include "hlstm/model/lstm_infer.hpp"
#include "hlstm/model/lstm_train.hpp"
#include "hlstm/model/network.hpp"
#include "stages.hpp"

namespace hlstm::pipeline {

HoldoutTail holdoutTail(const PointSet& points, std::size_t visibleEpochs) {
    HoldoutTail tail;
    const std::size_t m = points.nEpochs();
    tail.first = visibleEpochs - 2;
    tail.width = m - tail.first;
    tail.values.reserve(points.size() * tail.width);
    for (std::size_t i = 0; i < points.size(); ++i)
        tail.values.insert(tail.values.end(), points.series(i) + tail.first, points.series(i) + m);
    return tail;
}

std::string fileSizeText(const std::string& path) {
    std::error_code ec;
    auto size = std::filesystem::file_size(path, ec);
    if (ec) return "?";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f MB", static_cast<double>(size) / 1e6);
    return buf;
}

void referenceAtmosphereStage(const Comm& comm, const ReferenceAtmosphereOptions& options, PointSet& points,
                              std::size_t visibleEpochs) {
    if (!options.remove) return;
    const ReferenceAtmosphere ref = estimateReferenceAtmosphere(comm, points, visibleEpochs, options);
    removeReferenceAtmosphere(ref, points);
    if (!comm.isRoot()) return;
    if (ref.epoch < 0) {
        log::warn() << "input.reference_atmosphere = remove: no epoch of the visible ones is 0 at every point (no "
                       "reference acquisition found); nothing removed";
        return;
    }
    double sq = 0;
    for (const float v : ref.field.values) sq += static_cast<double>(v) * v;
    log::info() << "reference atmosphere (input.reference_atmosphere = remove): epoch " << ref.epoch << " ("
                << points.dates[static_cast<std::size_t>(ref.epoch)] << "), " << ref.points << " point fits, "
                << ref.field.nx << " x " << ref.field.ny << " cells of " << ref.field.cell << " m, constant rms "
                << std::sqrt(sq / static_cast<double>(std::max<std::size_t>(1, ref.field.values.size())))
                << " mm removed from every other epoch";
}

LocalBlock readStage(const Comm& comm, RunConfig& rc, const RunArgs& args) {
    if (rc.input.empty()) {
        rc.input = (args.output.empty() ? std::string("hlstm-dry-run") : args.output) + ".input.h5";
        if (comm.isRoot())
            log::info() << "input.path is empty: simulating a " << rc.simulateKind << " of " << rc.simulate.points
                        << " points x " << rc.simulate.epochs << " epochs -> " << rc.input;
        simulate(comm, rc.simulate, rc.input);
    }
    ReadOptions read = rc.read;
    read.hiddenEpochs = static_cast<std::size_t>(rc.horizon);  // kept on the visible epochs, as a read cut there
    LocalBlock block = readInput(comm, rc.input, read);
    if (comm.isRoot())
        log::info() << "read " << rc.input << " (" << fileSizeText(rc.input) << ", " << block.stats.layout
                    << "): " << block.keptTotal << " points x " << block.points.nEpochs() << " epochs, "
                    << block.stats.dropped << " dropped, unit " << block.stats.unit << ", " << comm.size()
                    << " rank(s) x " << rc.threads << " thread(s), oneDNN kernels " << model::cpuIsa() << ", inference "
                    << model::inferenceKernel() << ", training " << model::trainingKernel(rc.shape.cell);
    const std::size_t m = block.points.nEpochs();
    if (m < static_cast<std::size_t>(rc.horizon) + 3)
        throw InputError(rc.input + ": " + std::to_string(m) + " epochs leave fewer than 3 visible after holding out " +
                         std::to_string(rc.horizon));
    referenceAtmosphereStage(comm, rc.referenceAtmosphere, block.points, m - static_cast<std::size_t>(rc.horizon));
    return block;
}

}  // namespace hlstm::pipeline
