// One holdout origin: the stages of `hlstm run` from the partition to the metrics, on a block
// whose last rc.horizon epochs are hidden. `hlstm run` calls it once on the whole input,
// `hlstm backtest` once per origin on the input cut after that origin's hidden epochs.
#include <map>
#include <memory>
#include <utility>

#include "hlstm/core/coordinated.hpp"
#include "hlstm/core/log.hpp"
#include "hlstm/core/memory.hpp"
#include "hlstm/core/scratch_spill.hpp"
#include "hlstm/pipeline/preflight.hpp"
#include "stages.hpp"

namespace hlstm::pipeline {
namespace {

// Vectors wait in a scratch file at `path` while phases that do not read them run (peak
// memory; none if `path` is empty; collective).
using Parked = std::unique_ptr<ScratchSpill>;
template <class... V> Parked park(const Comm& comm, const std::string& path, V&... vectors) {
    Parked spill;
    if (path.empty()) return spill;
    coordinated(comm, "park", [&] {
        auto s = std::make_unique<ScratchSpill>(path);
        (s->add(vectors), ...);
        s->write();
        spill = std::move(s);
    });
    return spill;
}

// Back in memory (collective).
void unpark(const Comm& comm, Parked& spill) {
    coordinated(comm, "unpark", [&] {
        if (spill) spill->restore();
    });
    spill.reset();
}

}  // namespace

void forecastOrigin(const Comm& comm, const Config& config, RunConfig& rc, LocalBlock& block,
                    const CheckpointStore& store, const OriginOptions& options, PhaseTimer& timer,
                    const OriginUse& use) {
    const std::size_t m = block.points.nEpochs();
    const std::size_t visibleEpochs = m - static_cast<std::size_t>(rc.horizon);
    const model::TimeAxis axis = model::TimeAxis::fromDates(block.points.dates);
    // Before any training (preflight.hpp): only the L values and interval cuts the archive allows.
    const GridFit fit = fitGridToEpochs(rc.L, rc.shape.inputGap(), rc.shape.labelLead(), rc.intervalCuts, visibleEpochs,
                                        rc.trainEpochs(visibleEpochs), rc.horizon, rc.input);
    rc.L = fit.L, rc.intervalCuts = fit.intervalCuts;
    logPreflight(comm, fit.warnings, options.freeSpace);
    // A gap across the cut was filled towards a hidden epoch: refill it from the left.
    CommonModeField wholeField = options.dryRun ? CommonModeField{} : wholeCommonMode(comm, rc, block);
    ReaderFill readerFill = fillFromLeft(block, visibleEpochs);
    readerFill.share(comm);
    // The held-out tail stays as observed; the atmosphere filter changes the visible epochs only.
    const HoldoutTail tail = holdoutTail(block.points, visibleEpochs);
    const CommonModeState commonMode = commonModeStage(comm, rc, block, visibleEpochs, std::move(wholeField));

    // Partition on the visible epochs only (holdout protocol).
    timer.start("partition");
    partition::PartitionConfig pcfg = partition::PartitionConfig::fromConfig(config);
    pcfg.epochs = visibleEpochs;
    // This rank's scratch files next to the output (none if options.scratch is empty).
    const auto scratch = [&](const char* what) {
        return options.scratch.empty() ? std::string()
                                       : options.scratch + ".r" + std::to_string(comm.rank()) + "." + what + ".tmp";
    };
    const partition::PartitionResult part = partition::run(comm, block.points, pcfg, scratch("series"));
    const auto nSub = static_cast<std::int32_t>(part.summary.subregions.size());

    timer.start("plan");
    // The candidates train on the epochs before the out-of-time selection's (run.selection_cuts).
    const Plan plan = planStage(comm, rc, part.summary, block.keptTotal, rc.trainEpochs(visibleEpochs), options.dryRun);
    if (options.dryRun) return;
    std::vector<std::int32_t> pseudo;  // learned baselines: pseudo subregions of all points
    for (std::size_t j = 0; j < rc.learned().size(); ++j) pseudo.push_back(nSub + static_cast<std::int32_t>(j));

    timer.start("redistribute");
    // The owners keep only the held-out tail of their series (above); the rows go to the trainers.
    // Both grow when this rank takes a candidate of a subregion it does not hold (training).
    SubregionMap mine =
        redistribute(comm, block.points, part.subregion, plan, pseudo, slicedSubregions(plan, rc, nSub));
    const Groups groups = makeGroups(comm, plan);
    HeldMap held = holdSubregions(mine, rc, axis, visibleEpochs, &groups);
    const RunContext ctx{comm, rc, plan, groups, axis, visibleEpochs, m, nSub, &readerFill, &commonMode};

    // The block's coordinates and ids wait from here to the forecast stage (peak memory).
    Parked parkedPoints =
        park(comm, scratch("points"), block.points.x, block.points.y, block.points.ids, block.points.rows);

    timer.start("baselines");
    const BaselineSet baselines = makeBaselines(ctx, held);
    // The baselines' tables wait while the rank trains: their rates at the cuts from the moment
    // each is made until the position choice reads its subregion's (not all at once: at 5,000,000
    // points they were the baselines' and the select phase's peak), their holdout forecasts and
    // positions until the winners are forecast.
    Parked parkedRates;
    std::map<std::pair<std::int32_t, std::size_t>, std::size_t> ratePart;  // (subregion, baseline) -> part
    KeepTable keepRates;
    if (!scratch("cut_rates").empty()) {
        parkedRates = std::make_unique<ScratchSpill>(scratch("cut_rates"));
        keepRates = [&](std::int32_t s, std::size_t b, std::vector<float>& rates) {
            ratePart[{s, b}] = parkedRates->append(rates);
        };
    }
    BaselineOutcome baselineOut = baselineStage(ctx, held, baselines, keepRates);
    Parked parkedHoldout = park(comm, scratch("holdout"), baselineOut.holdout, baselineOut.positions);
    releaseFreeMemory();
    logMemory("baselines: tables parked");

    timer.start("train");
    TrainOutcome trained = trainStage(ctx, mine, held, store);

    // Select each subregion's winner among its candidates and the baselines.
    timer.start("select");
    const double selectStart = log::elapsed();
    Selection selection = selectStage(ctx, trained, baselineOut, baselines);
    const double selected = log::elapsed();
    combineStage(ctx, held, trained, baselines, selection);
    const double combined = log::elapsed();
    // A subregion's tables come back for its position choice; then only the one its forecast
    // reads stays (forecastBaseline; forecast_stage.cpp forecasts any other it needs again).
    std::function<void(std::int32_t, bool)> rateTables;
    if (parkedRates)
        rateTables = [&](std::int32_t s, bool back) {
            const auto tables = baselineOut.cutRates.find(s);
            if (tables == baselineOut.cutRates.end()) return;
            auto& kept = tables->second;
            const std::int32_t used = forecastBaseline(selection.choice[static_cast<std::size_t>(s)]);
            for (std::size_t b = 0; b < kept.size(); ++b) {
                const auto part = ratePart.find({s, b});
                if (part == ratePart.end()) continue;
                if (back) {
                    parkedRates->restoreInto(part->second, kept[b]);
                } else if (static_cast<std::int32_t>(b) != used) {
                    std::vector<float>().swap(kept[b]);
                }
            }
        };
    positionStage(ctx, held, trained, baselines, selection, &baselineOut, rateTables);
    parkedRates.reset();  // its file
    log::debug() << "select: winners " << selected - selectStart << " s, combination " << combined - selected
                 << " s, positions " << log::elapsed() - combined << " s";
    if (rc.refitEpochs > 0) {  // run.refit: the winners fine-tuned once everything is judged
        timer.start("refit");
        refitStage(ctx, held, trained, selection);
    }

    timer.start("forecast");
    unpark(comm, parkedPoints);
    // Once the winners are forecast no stage reads the trainers' rows (each rank's share of the
    // archive): freed before the values travel to their owners (peak memory).
    Returned back = forecastStage(ctx, block, held, selection, trained, baselineOut, baselines, [&] {
        held.clear();
        mine.clear();
        releaseFreeMemory();
        unpark(comm, parkedHoldout);
    });

    poolRunForecasts(comm, rc, block, part.subregion, selection.choice, back);
    timer.start("metrics");
    const Evaluation eval = metricsStage(ctx, block, tail, part, back, baselineNames(rc, baselines));
    use(ctx, RunOutputs{block, part, pcfg.dbDistance, selection, baselines, back, eval});
}

}  // namespace hlstm::pipeline
