// `hlstm partition`: velocity, exact K-means with the Davies-Bouldin choice of k, and KDP
// subregions of an archive, written to one .h5 (via <out>.tmp, renamed when complete).
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "command.hpp"
#include "hlstm/core/coordinated.hpp"
#include "hlstm/core/log.hpp"
#include "hlstm/data/input.hpp"
#include "hlstm/io/hdf5.hpp"
#include "hlstm/io/output_file.hpp"
#include "hlstm/io/output_format.hpp"
#include "hlstm/partition/output.hpp"
#include "hlstm/partition/partition.hpp"
#include "hlstm/version.hpp"

namespace hlstm::cli {
namespace {

struct PartitionArgs {
    std::string input;
    std::string output;
};

std::string fixed(double v, int digits) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", digits, v);
    return buf;
}

void logResult(const partition::PartitionSummary& s, partition::DbDistance by) {
    std::ostringstream curve;
    for (std::size_t q = 0; q < s.kValues.size(); ++q)
        curve << " k=" << s.kValues[q] << ":" << fixed(s.dbVelocity[q], 4) << "/" << fixed(s.dbPearson[q], 4);
    log::info() << "DB index velocity/pearson:" << curve.str();
    log::info() << "chosen k = " << s.kChosen << " (smallest DB, "
                << (by == partition::DbDistance::kPearson ? "pearson" : "velocity") << " distance)";
    for (std::size_t z = 0; z < s.zoneCenters.size(); ++z)
        log::info() << "zone " << z << ": " << s.zoneSizes[z] << " points, centre " << fixed(s.zoneCenters[z], 2)
                    << " mm/yr, from " << fixed(s.zoneStarts[z], 2) << " mm/yr";
    log::info() << "Delaunay: " << s.nEdges << " edges, mean " << fixed(s.edgeMean, 2) << ", std "
                << fixed(s.edgeStd, 2) << ", threshold " << fixed(s.edgeThreshold, 2) << " (alpha " << s.alpha
                << "); cut " << s.nCutEdges << " (" << s.nCutLong << " long); " << s.nDuplicates
                << " duplicate coordinates";
    log::info() << s.subregions.size() << " subregions from " << s.nComponents << " components, " << s.nNoise
                << " points in the noise subregion";
    for (const auto& r : s.subregions)
        log::info() << "subregion " << r.id << (r.noise ? " (noise)" : "") << ": " << r.nPoints << " points, zone "
                    << r.zone << ", mean velocity " << fixed(r.meanVelocity, 2) << " mm/yr";
}

Action setupPartition(CLI::App& sub) {
    auto args = std::make_shared<PartitionArgs>();
    auto config = std::make_shared<ConfigOptions>(sub);
    sub.add_option("input", args->input, "input .h5 (native layout); default: --input.path");
    sub.add_option("-o,--output", args->output, "output .h5 (/points/*, /partition/*)")->required();
    return [args, config](const Comm& comm) {
        using Clock = std::chrono::steady_clock;
        const auto t0 = Clock::now();
        auto seconds = [](Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); };

        const Config cfg = config->resolve();
        printConfig(comm, cfg);
        const std::string input = args->input.empty() ? cfg.getString("input.path") : args->input;
        if (input.empty()) throw ConfigError("partition: no input file (give FILE or --input.path)");
        ReadOptions readOptions = readOptionsFromConfig(cfg);
        const FilesRead reads = filesRead(input, readOptions, &cfg);
        h5::AtomicOutput atomic(comm, args->output, reads.paths, reads.options);
        partition::PartitionConfig pc = partition::PartitionConfig::fromConfig(cfg);
        const std::int64_t holdout = cfg.getInt("run.holdout");
        if (holdout < 0) throw ConfigError("run.holdout = " + std::to_string(holdout) + ": must be >= 0");

        auto t = Clock::now();
        readOptions.readTruth = false;  // the partition never looks at the noise-free signal
        LocalBlock block = readInput(comm, input, readOptions);
        const double readSeconds = seconds(t);
        const std::size_t m = block.points.nEpochs();
        if (static_cast<std::int64_t>(m) - holdout < 2)
            throw InputError(input + ": " + std::to_string(m) + " epochs leave fewer than 2 after the holdout of " +
                             std::to_string(holdout) + " (run.holdout)");
        pc.epochs = m - static_cast<std::size_t>(holdout);
        if (comm.isRoot())
            log::info() << "partition " << input << ": " << block.keptTotal << " points (" << block.stats.dropped
                        << " dropped), velocity over the first " << pc.epochs << " of " << m << " epochs (holdout "
                        << holdout << "), " << comm.size() << " rank(s)";

        const partition::PartitionResult result = partition::run(comm, block.points, pc);
        if (comm.isRoot()) logResult(result.summary, pc.dbDistance);

        t = Clock::now();
        atomic.write("partition:write", [&](h5::File& file) {
            const auto& p = block.points;
            writePointGeography(comm, file, block);
            partition::writePartition(file, result, pointRowsOf(block), pc.dbDistance);
            // Kept points are partitioned; the others carry the reader's reason.
            output::writePointRows(
                file, output::points::kStatus, pointRowsOf(block),
                std::vector<std::int8_t>(p.size(), static_cast<std::int8_t>(output::PointStatus::kForecast)),
                block.dropped.status);
            file.writeAttribute(output::attr::kVersion, std::string(kVersion));
            file.writeAttribute(output::attr::kProducer, std::string("hlstm partition"));
            file.writeAttribute(output::attr::kInput, std::filesystem::absolute(input).string());
            file.writeAttribute(output::attr::kConfig, cfg.toToml());
            if (!block.stats.crs.empty()) file.writeAttribute(output::attr::kCrs, block.stats.crs);
            file.writeAttribute(output::attr::kComplete, std::int32_t{1});
        });
        if (comm.isRoot()) {
            std::ostringstream phases;
            phases << "read " << fixed(readSeconds, 3);
            for (const auto& [phase, s] : result.summary.timings) phases << ", " << phase << " " << fixed(s, 3);
            phases << ", write " << fixed(seconds(t), 3) << ", command " << fixed(seconds(t0), 3);
            log::info() << "phase timings (s): " << phases.str();
            log::info() << "wrote " << args->output;
        }
        return 0;
    };
}

const Registrar kRegistrar({"partition",
                            "Velocity, K-means zones (Davies-Bouldin k) and Delaunay subregions of an archive (KDP)",
                            setupPartition});

}  // namespace
}  // namespace hlstm::cli
