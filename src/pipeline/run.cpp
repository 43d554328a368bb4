// `hlstm run`: the stages in order (each in its own file, declared in stages.hpp).
#include "hlstm/pipeline/run.hpp"

#include <filesystem>
#include <optional>

#include "hlstm/core/coordinated.hpp"
#include "hlstm/core/hash.hpp"
#include "hlstm/core/log.hpp"
#include "hlstm/data/input.hpp"
#include "hlstm/io/atomic_file.hpp"
#include "hlstm/io/output_file.hpp"
#include "hlstm/pipeline/preflight.hpp"
#include "hlstm/version.hpp"
#include "stages.hpp"

namespace hlstm::pipeline {
namespace {

// run.scratch: where the tables wait (origin.cpp); "" = in memory.
std::string scratchPrefix(const std::string& setting, const std::string& output) {
    if (setting == "off") return "";
    if (setting == "output") return output + ".scratch";
    // A directory shared by several runs: the output's name and a hash of its whole path keep
    // two runs' files apart.
    const std::string absolute = std::filesystem::absolute(output).lexically_normal().string();
    return (std::filesystem::path(setting) /
            (std::filesystem::path(output).filename().string() + "." + fnv1a64Hex(absolute).substr(0, 8) + ".scratch"))
        .string();
}

}  // namespace

CheckpointStore openCheckpoints(const Comm& comm, const Config& config, RunConfig& rc, const std::string& output,
                                bool resume, const std::string& also) {
    std::string fingerprint;
    if (!rc.input.empty()) rc.inputChecksum = fileChecksum(comm, rc.input);  // the ranks share its blocks
    coordinated(comm, "checkpoints", [&] {
        if (!comm.isRoot()) return;
        fingerprint = fnv1a64Hex(config.toToml() + "\nthreads=" + std::to_string(rc.threads) +
                                 "\ninput=" + (rc.input.empty() ? std::string("simulated") : rc.inputChecksum) +
                                 "\nversion=" + kVersion + also);
        fingerprint = CheckpointStore::begin(output, fingerprint, resume);  // + this run's id
    });
    comm.bcast(fingerprint);
    return CheckpointStore(output, fingerprint);
}

int run(const Comm& comm, const Config& config, const RunArgs& args) {
    PhaseTimer timer;
    RunConfig rc;  // every rank parses the same text; agreeing on a failure gives one message
    coordinated(comm, "config", [&] { rc = RunConfig::from(config, args); });
    checkGridMemory(rc.L, rc.K, rc.S, rc.horizon, rc.shape.inputChannels(),  // preflight.hpp, on every rank alike
                    rc.shape.cell == model::CellKind::kLstm ? 4 : 1, rc.train.batch);
    // The output path is checked now (never a file the run reads), not after hours of training.
    std::optional<h5::AtomicOutput> output;
    const FilesRead reads = filesRead(rc.input, rc.read, &config);  // input, mask, geometry, --config
    if (!args.dryRun) output.emplace(comm, args.output, reads.paths, reads.options);
    if (!args.dryRun && rc.spatial.enabled)  // OUT.spatial.h5 is written at the end: checked now too
        coordinated(comm, "output", [&] {
            if (comm.isRoot())
                io::checkOutputPath(spatial::defaultSpatialPath(args.output), reads.paths, reads.options);
        });
    // run.scratch names a directory: every rank's must exist (a node-local $TMPDIR is per node),
    // checked before anything is read. Not at parse time: a stored configuration (update,
    // resume) may name a directory of a job that has ended.
    if (!args.dryRun && rc.scratch != "output" && rc.scratch != "off")
        coordinated(comm, "output", [&] {
            if (!std::filesystem::is_directory(rc.scratch))
                throw ConfigError("run.scratch = \"" + rc.scratch + "\": not a directory on rank " +
                                  std::to_string(comm.rank()) + " (expected output, off or a directory)");
        });
    if (!args.dryRun) timer.start("checksum");  // of the input (provenance, resume), before it is read
    const CheckpointStore store =
        args.dryRun ? CheckpointStore() : openCheckpoints(comm, config, rc, args.output, args.resume);

    timer.start("read");
    LocalBlock block = readStage(comm, rc, args);
    const std::string space =
        args.dryRun ? "" : freeSpaceWarning(args.output, block.stats.fileRows, rc.horizon, block.points.nEpochs());
    // Partition, plan, train, select, forecast and judge the hidden epochs (origin.cpp).
    // Tables wait in scratch files while a phase needs the memory (origin.cpp; run.scratch).
    const std::string scratch = args.dryRun ? "" : scratchPrefix(rc.scratch, args.output);
    if (!scratch.empty())
        log::info() << "scratch: tables wait in " << scratch << ".r<rank>.*.tmp while a phase needs the memory";
    forecastOrigin(comm, config, rc, block, store, {args.dryRun, space, scratch}, timer,
                   [&](const RunContext& ctx, const RunOutputs& outputs) {
                       // One collective file, each block owner its rows; complete = 1 last.
                       timer.start("write");
                       output->write("write", [&](h5::File& out) { writeStage(ctx, config, outputs, out); });
                       if (comm.isRoot()) store.removeAll();  // complete: nothing to resume
                       timer.stop();
                       if (comm.isRoot()) report(ctx, outputs, args.output);
                       if (rc.spatial.enabled) {  // Tables II and V of this output (hlstm spatial)
                           timer.start("spatial");
                           spatial::runSpatial(comm, args.output, spatial::defaultSpatialPath(args.output), rc.spatial);
                           timer.stop();
                       }
                   });
    timer.report(comm);
    return 0;
}

}  // namespace hlstm::pipeline
