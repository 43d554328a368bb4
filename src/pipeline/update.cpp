// `hlstm update`: run's stages (stages.hpp) on the new input with the earlier output's
// partition (or a new one, update.repartition), its models fine-tuned in place of the grid
// search (update_stages.hpp).
#include "hlstm/pipeline/update.hpp"

#include <filesystem>

#include "hlstm/core/coordinated.hpp"
#include "hlstm/core/hash.hpp"
#include "hlstm/core/log.hpp"
#include "hlstm/core/memory.hpp"
#include "hlstm/data/input.hpp"
#include "hlstm/io/hdf5.hpp"
#include "hlstm/io/output_file.hpp"
#include "hlstm/io/output_format.hpp"
#include "update_stages.hpp"

namespace hlstm::pipeline {

Config updateBaseConfig(const Comm& comm, const std::string& models) {
    Config config;
    const std::string text = previousConfig(comm, models);
    coordinated(comm, "config", [&] {
        config.loadTomlText(text, models);
        // PREV may have been made as of an earlier date: NEW is read whole unless told otherwise.
        config.set("input.until", "0", models);
        config.set("input.exclude_dates", "0", models);
    });
    return config;
}

int update(const Comm& comm, const Config& config, const UpdateArgs& args) {
    // Its fine-tuning builds each model's training primitives again at every epoch: reused heap
    // blocks instead of new mappings (memory.hpp). Step 5 of the 30,000-point seed-2 chain, 2 ranks
    // (README "Online update"): its train phase 0.92 -> 0.78 s, peak 123 -> 133 MiB on rank 0.
    reuseLargeBlocks(kReusedBlockBytes);
    PhaseTimer timer;
    timer.start("read");
    RunConfig rc;
    UpdateConfig uc;
    const RunArgs runArgs{args.input, args.output, false, false};
    coordinated(comm, "config", [&] {
        rc = RunConfig::from(config, runArgs);
        uc = UpdateConfig::from(config);
    });
    // An update refits no learned baseline (global LSTM, RNN) and trains nothing data-parallel.
    rc.baselines.globalLstm = rc.baselines.rnn = false;
    rc.shardShare = 0;
    rc.refitEpochs = 0;       // its fine-tuning (finetune_stage.cpp) is the refit; run.refit is run's
    rc.read.truthEpochs = 0;  // the new epochs are judged against the truth too
    FilesRead reads = filesRead(rc.input, rc.read, &config);
    reads.add(args.models, "the models, --models");
    h5::AtomicOutput output(comm, args.output, reads.paths, reads.options);
    // As run's: each fine-tuned subregion is a checkpoint of this update (same PREV, input and
    // configuration), and --resume continues from them.
    std::string models;
    coordinated(comm, "checkpoints", [&] {
        if (comm.isRoot()) models = "\nmodels=" + fileChecksum(args.models);
    });
    const CheckpointStore store = openCheckpoints(comm, config, rc, args.output, args.resume, models);
    const Previous prev = readPrevious(comm, args.models);
    coordinated(comm, "update:models", [&] {  // PREV's models saw series filtered as PREV's run filtered them
        h5::File f(args.models, h5::Access::kReadOnly);
        if (!f.hasAttribute(output::attr::kConfig)) return;
        Config prevConfig;
        prevConfig.loadTomlText(f.readStringAttribute(output::attr::kConfig), args.models);
        rc.commonMode = commonModeFromConfig(prevConfig);
        rc.referenceAtmosphere = referenceAtmosphereFromConfig(prevConfig);
    });
    if (comm.isRoot()) {
        log::info() << "update of " << args.models << " (" << prev.models.size() << " model(s), "
                    << prev.inputDates.size() << " epochs to " << prev.inputDates.back() << ") with " << rc.input;
    }

    LocalBlock block = readStage(comm, rc, runArgs);
    coordinated(comm, "update:dates", [&] { checkExtends(prev, block.points.dates, rc.input); });
    PointMatch match;
    coordinated(comm, "update:match", [&] { match = matchPoints(prev.known, block, args.far, rc.input, args.models); });
    // PREV's baselines are recomputed on the epochs PREV saw, filled as PREV's read filled them.
    const ReaderFill prevFill = fillFromLeft(block, prev.epochs());
    timer.start("score");
    const UpdateScore score = scorePrevious(comm, prev, block, match, rc);
    prevFill.restore(block.points.rows, block.points.displacement.data(), block.points.nEpochs());
    coordinated(comm, "update:match", [&] { dropFar(comm, block, match); });

    const std::size_t m = block.points.nEpochs();
    const std::size_t visibleEpochs = m - static_cast<std::size_t>(rc.horizon);
    const model::TimeAxis axis = model::TimeAxis::fromDates(block.points.dates);
    CommonModeField wholeField = wholeCommonMode(comm, rc, block);  // as forecastOrigin does
    ReaderFill readerFill = fillFromLeft(block, visibleEpochs);     // as forecastOrigin does
    readerFill.share(comm);
    const HoldoutTail tail = holdoutTail(block.points, visibleEpochs);  // as observed (before the filter)
    const CommonModeState commonMode = commonModeStage(comm, rc, block, visibleEpochs, std::move(wholeField));
    timer.start("partition");
    partition::PartitionConfig pcfg = partition::PartitionConfig::fromConfig(config);
    pcfg.epochs = visibleEpochs;
    // PREV's partition, or (update.repartition) NEW's own, as a run would make it.
    const partition::PartitionResult part = uc.repartition ? partition::run(comm, block.points, pcfg)
                                                           : previousPartition(comm, prev, block, match, visibleEpochs);
    const Origins origins = originsOf(comm, prev, part, match, uc.repartition);
    const auto nSub = static_cast<std::int32_t>(part.summary.subregions.size());
    timer.start("plan");
    const Plan plan = updatePlan(comm, rc, uc, prev, part.summary, visibleEpochs, origins);

    timer.start("redistribute");
    SubregionMap mine = redistribute(comm, block.points, part.subregion, plan, {});
    const HeldMap held = holdSubregions(mine, rc, axis, visibleEpochs);
    const Groups groups = makeGroups(comm, plan);
    const RunContext ctx{comm, rc, plan, groups, axis, visibleEpochs, m, nSub, &readerFill, &commonMode};

    timer.start("baselines");
    BaselineSet baselines = makeBaselines(ctx, held);
    if (!uc.reselect) {  // the baselines PREV chose forecast as PREV's did (predict's MLR)
        baselines.mlr.coefficients = prev.mlrCoefficients;
        baselines.mlr.lags = static_cast<int>(prev.mlrCoefficients.size()) - 1;
    }
    // Each rank's baselines and fine-tuning in one phase, with no wait between them: the plan
    // balances their sum over the ranks (updatePlan).
    BaselineOutcome baselineOut;
    TrainOutcome trained;
    coordinated(comm, "train", [&] {
        baselineOut = baselineWork(ctx, held, baselines);
        timer.start("train");
        trained = fineTuneStage(ctx, held, prev, uc, origins, store);
    });

    timer.start("select");
    Selection selection = selectStage(ctx, trained, baselineOut, baselines);
    if (uc.reselect) {  // as run's (origin.cpp)
        timer.start("combine");
        combineStage(ctx, held, trained, baselines, selection);
    }
    if (!uc.reselect) keepPreviousChoice(ctx, prev, baselines, origins, selection);
    timer.start("positions");
    if (uc.reselect)                                                            // as run's (origin.cpp), else PREV's
        positionStage(ctx, held, trained, baselines, selection, &baselineOut);  // the baselines' cut rates kept
    else
        keepPreviousPositions(ctx, prev, baselines, origins, selection);
    timer.start("drift");
    const Drift drift = driftOf(comm, prev, uc, selection, part, origins);

    timer.start("forecast");
    Returned back = forecastStage(ctx, block, held, selection, trained, baselineOut, baselines);
    poolRunForecasts(comm, rc, block, part.subregion, selection.choice, back);
    timer.start("metrics");
    const Evaluation eval = metricsStage(ctx, block, tail, part, back, baselineNames(rc, baselines));

    timer.start("write");
    const RunOutputs outputs{block, part, pcfg.dbDistance, selection, baselines, back, eval};
    const std::string input = inputEntry(std::filesystem::absolute(rc.input).string(), block.points.dates);
    output.write("write", [&](h5::File& out) {
        writeUpdate(out, comm.isRoot(), prev, score, drift, input);
        writeStage(ctx, config, outputs, out);
    });
    if (comm.isRoot()) store.removeAll();  // complete: nothing to resume
    timer.stop();
    if (comm.isRoot()) report(ctx, outputs, args.output);
    timer.report(comm);
    return 0;
}

}  // namespace hlstm::pipeline
