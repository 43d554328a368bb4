// `hlstm run`: the stages in order (each in its own file, declared in stages.hpp).
#include "hlstm/pipeline/run.hpp"

#include <optional>

#include "hlstm/core/coordinated.hpp"
#include "hlstm/core/hash.hpp"
#include "hlstm/data/input.hpp"
#include "hlstm/io/atomic_file.hpp"
#include "hlstm/io/output_file.hpp"
#include "hlstm/pipeline/preflight.hpp"
#include "hlstm/version.hpp"
#include "stages.hpp"

namespace hlstm::pipeline {
CheckpointStore openCheckpoints(const Comm& comm, const Config& config, RunConfig& rc, const std::string& output,
                                bool resume, const std::string& also) {
    std::string fingerprint;
    coordinated(comm, "checkpoints", [&] {
        if (!comm.isRoot()) return;
        if (!rc.input.empty()) rc.inputChecksum = fileChecksum(rc.input);
        fingerprint = fnv1a64Hex(config.toToml() + "\nthreads=" + std::to_string(rc.threads) +
                                 "\ninput=" + (rc.input.empty() ? std::string("simulated") : rc.inputChecksum) +
                                 "\nversion=" + kVersion + also);
        fingerprint = CheckpointStore::begin(output, fingerprint, resume);  // + this run's id
    });
    comm.bcast(fingerprint);
    comm.bcast(rc.inputChecksum);
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
    const CheckpointStore store =
        args.dryRun ? CheckpointStore() : openCheckpoints(comm, config, rc, args.output, args.resume);

    timer.start("read");
    LocalBlock block = readStage(comm, rc, args);
    const std::string space =
        args.dryRun ? "" : freeSpaceWarning(args.output, block.stats.fileRows, rc.horizon, block.points.nEpochs());
    // Partition, plan, train, select, forecast and judge the hidden epochs (origin.cpp).
    // Tables wait beside the output while a phase needs the memory (origin.cpp).
    const std::string scratch = args.dryRun ? "" : args.output + ".scratch";
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
