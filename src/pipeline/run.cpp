// `hlstm run`: the stages in order (each in its own file, declared in stages.hpp).
#include "hlstm/pipeline/run.hpp"

#include <optional>

#include "hlstm/core/coordinated.hpp"
#include "hlstm/core/hash.hpp"
#include "hlstm/data/input.hpp"
#include "hlstm/io/output_file.hpp"
#include "hlstm/pipeline/preflight.hpp"
#include "hlstm/version.hpp"
#include "stages.hpp"

namespace hlstm::pipeline {
namespace {

// Checkpoints next to the output, tied to this configuration, input and thread count; a
// rerun without --resume while they exist is refused (collective).
CheckpointStore openCheckpoints(const Comm& comm, const Config& config, RunConfig& rc, const RunArgs& args) {
    std::string fingerprint;
    coordinated(comm, "checkpoints", [&] {
        if (!comm.isRoot()) return;
        if (!rc.input.empty()) rc.inputChecksum = fileChecksum(rc.input);
        fingerprint = fnv1a64Hex(config.toToml() + "\nthreads=" + std::to_string(rc.threads) +
                                 "\ninput=" + (rc.input.empty() ? std::string("simulated") : rc.inputChecksum) +
                                 "\nversion=" + kVersion);
        fingerprint = CheckpointStore::begin(args.output, fingerprint, args.resume);  // + this run's id
    });
    comm.bcast(fingerprint);
    comm.bcast(rc.inputChecksum);
    return CheckpointStore(args.output, fingerprint);
}

}  // namespace

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
    const CheckpointStore store = args.dryRun ? CheckpointStore() : openCheckpoints(comm, config, rc, args);

    timer.start("read");
    LocalBlock block = readStage(comm, rc, args);
    const std::size_t m = block.points.nEpochs();
    const std::size_t visibleEpochs = m - static_cast<std::size_t>(rc.horizon);
    const model::TimeAxis axis = model::TimeAxis::fromDates(block.points.dates);
    // Before any training (preflight.hpp): only the L values and interval cuts the archive allows.
    const GridFit fit = fitGridToEpochs(rc.L, rc.shape.inputGap(), rc.shape.labelLead(), rc.intervalCuts, visibleEpochs,
                                        rc.trainEpochs(visibleEpochs), rc.horizon, rc.input);
    rc.L = fit.L, rc.intervalCuts = fit.intervalCuts;
    logPreflight(comm, fit.warnings,
                 args.dryRun ? "" : freeSpaceWarning(args.output, block.stats.fileRows, rc.horizon, m));

    // Partition on the visible epochs only (holdout protocol).
    timer.start("partition");
    partition::PartitionConfig pcfg = partition::PartitionConfig::fromConfig(config);
    pcfg.epochs = visibleEpochs;
    const partition::PartitionResult part = partition::run(comm, block.points, pcfg);
    const auto nSub = static_cast<std::int32_t>(part.summary.subregions.size());

    timer.start("plan");
    // The candidates train on the epochs before the out-of-time selection's (run.selection_cuts).
    const Plan plan = planStage(comm, rc, part.summary, block.keptTotal, rc.trainEpochs(visibleEpochs), args.dryRun);
    if (args.dryRun) {
        timer.report(comm);
        return 0;
    }
    std::vector<std::int32_t> pseudo;  // learned baselines: pseudo subregions of all points
    for (std::size_t j = 0; j < rc.learned().size(); ++j) pseudo.push_back(nSub + static_cast<std::int32_t>(j));

    timer.start("redistribute");
    // The owners keep only the held-out tail of their series; the rows go to the trainers.
    const HoldoutTail tail = holdoutTail(block.points, visibleEpochs);
    // Both grow when this rank takes a candidate of a subregion it does not hold (training).
    SubregionMap mine = redistribute(comm, block.points, part.subregion, plan, pseudo);
    HeldMap held = holdSubregions(mine, rc, axis, visibleEpochs);
    const Groups groups = makeGroups(comm, plan);
    const RunContext ctx{comm, rc, plan, groups, axis, visibleEpochs, m, nSub};

    timer.start("baselines");
    const BaselineSet baselines = makeBaselines(ctx, held);
    BaselineOutcome baselineOut = baselineStage(ctx, held, baselines);

    timer.start("train");
    TrainOutcome trained = trainStage(ctx, mine, held, store);

    // Select each subregion's winner among its candidates and the baselines.
    timer.start("select");
    const Selection selection = selectStage(ctx, trained, baselineOut, baselines);

    timer.start("forecast");
    const Returned back = forecastStage(ctx, block, held, selection, trained, baselineOut, baselines);

    timer.start("metrics");
    const Evaluation eval = metricsStage(ctx, block, tail, part, back, baselineNames(rc, baselines));

    // Write: one collective file, each block owner its rows; complete = 1 last, then rename.
    timer.start("write");
    const RunOutputs outputs{block, part, pcfg.dbDistance, selection, baselines, back, eval};
    output->write("write", [&](h5::File& out) { writeStage(ctx, config, outputs, out); });
    if (comm.isRoot()) store.removeAll();  // the output is complete: nothing to resume
    timer.stop();
    if (comm.isRoot()) report(ctx, outputs, args.output);
    if (rc.spatial.enabled) {  // Tables II and V of this output (hlstm spatial)
        timer.start("spatial");
        spatial::runSpatial(comm, args.output, spatial::defaultSpatialPath(args.output), rc.spatial);
        timer.stop();
    }
    timer.report(comm);
    return 0;
}

}  // namespace hlstm::pipeline
