// `hlstm update`: the fine-tuning that takes the place of run's grid search.
#include <chrono>
#include <cmath>

#include "hlstm/core/coordinated.hpp"
#include "hlstm/core/log.hpp"
#include "hlstm/core/random.hpp"
#include "hlstm/core/signals.hpp"
#include "update_stages.hpp"

namespace hlstm::pipeline {

TrainOutcome fineTuneStage(const RunContext& ctx, const HeldMap& held, const Previous& prev, const UpdateConfig& uc,
                           const Origins& origins, const CheckpointStore& store) {
    const RunConfig& rc = ctx.rc;
    TrainOutcome out;
    // PREV's models trained on the epochs before its selection cuts; those since are new.
    const std::size_t before = rc.trainEpochs(prev.epochs() - static_cast<std::size_t>(prev.horizon));
    const std::size_t now = rc.trainEpochs(ctx.visibleEpochs);
    const auto tasks = ctx.plan.tasksOf(ctx.comm.rank());
    std::size_t done = 0;
    const std::vector<double> noCurve(curveWidth(rc), std::numeric_limits<double>::quiet_NaN());
    for (const Task& task : tasks) {
        // Slurm's warning (USR1) or TERM: stop at this subregion's boundary, before the output
        // exists; the finished ones are checkpoints (exit code 3, as run's training).
        if (stopSignal() != 0)
            throw StopRequested(stopReason() + ": update stopped before subregion " + std::to_string(done + 1) + "/" +
                                std::to_string(tasks.size()) + " of this rank; the finished ones are in " +
                                store.dir() + ": rerun the same command with --resume to continue");
        ++done;
        const log::Context context("update subregion " + std::to_string(task.subregion));
        const Held& h = held.at(task.subregion);
        TaskResult r;
        r.index = task.index;
        r.rank = ctx.comm.rank();
        r.status = static_cast<std::int32_t>(model::FitStatus::kNoSamples);
        r.validationMae = r.score = std::numeric_limits<double>::quiet_NaN();
        const auto it = prev.models.find(origins.at(task.subregion));
        if (it == prev.models.end()) {  // a baseline won it: nothing to fine-tune
            out.local.push_back(r);
            out.curves.insert(out.curves.end(), noCurve.begin(), noCurve.end());
            continue;
        }
        const std::string record = "update-" + std::to_string(task.subregion) + ".done";
        if (const auto got = store.get(record)) {  // --resume: this subregion was finished
            model::Model restored = finishedFrom(*got, r);
            log::info() << "subregion " << task.subregion << ": restored from its checkpoint (selection score "
                        << r.score << ")";
            const auto curves = std::isnan(r.trainLoss) ? noCurve : curvesOf(rc, restored.summary);
            out.curves.insert(out.curves.end(), curves.begin(), curves.end());
            out.local.push_back(r);
            out.models.emplace(task.index, std::move(restored));
            continue;
        }
        model::Model tuned = it->second;
        bool fineTuned = false;  // else the model is PREV's, with PREV's training summary
        const auto t0 = std::chrono::steady_clock::now();
        if (uc.epochs > 0) {  // the windows the epochs since PREV's training complete (refit_stage.cpp)
            const std::uint64_t seed = mixKey({rc.seed, static_cast<std::uint64_t>(task.subregion),
                                               static_cast<std::uint64_t>(ctx.epochs), 0x75706474ULL});
            const model::ModelConfig& config = it->second.config;  // its scaling stays PREV's
            FineTuned fitted =
                fineTune(ctx, it->second, latestWindows(h, ctx.axis, config, h.split.train, before, now),
                         latestWindows(h, ctx.axis, config, h.split.validation, before, now), uc.epochs, seed);
            if (fitted.windows > 0) {
                tuned = std::move(fitted.model);
                fineTuned = fitted.trained;
                log::info() << "subregion " << task.subregion << ": fine-tuned on " << fitted.windows
                            << " new window(s) for " << tuned.summary.epochs << " epoch(s), validation MAE "
                            << tuned.summary.validationMae << " mm (" << model::toString(fitted.status) << ")";
            }
        }
        r.status = 0;
        r.epochs = uc.epochs;
        r.validationMae = tuned.summary.validationMae;
        // Its forecasts at the cut are kept: for the combination's mixes (forecast_cache.hpp) and,
        // as train_stage.cpp keeps a candidate's, for the position choice (TrainOutcome::cutRates).
        std::vector<float> rates = h.cut->ratesAtCuts(
            cachedForecaster(h.forecasts, taskMethod(task.index), modelForecaster(tuned, rc.threads)));
        r.score = h.cut->scoreOfRates(rates);
        if (rc.incumbent >= 0) r.cutScores = h.cut->cutScoresOfRates(rates);
        out.cutRates[task.index] = std::move(rates);
        r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        r.trainSamples = tuned.summary.trainSamples;
        r.validationSamples = tuned.summary.validationSamples;
        // The fine-tuning's curves, as a grid candidate's (/grid_search/train_loss, ...; cut at
        // train.epochs); none when the model was not trained here.
        r.trainLoss = fineTuned ? tuned.summary.trainLoss : std::numeric_limits<double>::quiet_NaN();
        r.bestEpoch = fineTuned ? tuned.summary.bestEpoch : 0;
        const auto curves = fineTuned ? curvesOf(rc, tuned.summary) : noCurve;
        out.curves.insert(out.curves.end(), curves.begin(), curves.end());
        store.put(record, finishedRecord(r, tuned));
        out.local.push_back(r);
        out.models.emplace(task.index, std::move(tuned));
    }
    return out;
}

void keepPreviousChoice(const RunContext& ctx, const Previous& prev, const BaselineSet& baselines,
                        const Origins& origins, Selection& sel) {
    for (const Task& t : ctx.plan.tasks) {
        if (t.subregion >= ctx.nSub) continue;
        const std::int32_t origin = origins.at(t.subregion);
        const int si = prev.subIndex(origin);
        if (si < 0) continue;
        Choice& c = sel.choice[static_cast<std::size_t>(t.subregion)];
        const std::string& method = prev.subMethod[static_cast<std::size_t>(si)];
        if (prev.modelWon(origin)) {
            c.task = t.index, c.baseline = -1;
            c.score = sel.results[static_cast<std::size_t>(t.index)].score;
            // PREV's forecast combination too, as predict applies it (combine_stage.cpp).
            const auto i = static_cast<std::size_t>(si), Y = static_cast<std::size_t>(ctx.rc.horizon);
            if (i < prev.subCombined.size() && !prev.subCombined[i].empty() && (i + 1) * Y <= prev.subWeight.size()) {
                const auto b = std::find(baselines.kinds.begin(), baselines.kinds.end(),
                                         model::baselineFromString(prev.subCombined[i]));
                if (b != baselines.kinds.end()) {
                    c.combineBaseline = static_cast<std::int32_t>(b - baselines.kinds.begin());
                    c.combineWeights.assign(prev.subWeight.begin() + static_cast<std::ptrdiff_t>(i * Y),
                                            prev.subWeight.begin() + static_cast<std::ptrdiff_t>((i + 1) * Y));
                }
            }
        } else if (method != "none") {
            const auto kind = model::baselineFromString(method);
            const auto b = std::find(baselines.kinds.begin(), baselines.kinds.end(), kind);
            if (b == baselines.kinds.end()) continue;
            c.task = -1, c.baseline = static_cast<std::int32_t>(b - baselines.kinds.begin());
        }
        c.why = "update.reselect = false: " + method + " of " + prev.path + " kept";
    }
}

}  // namespace hlstm::pipeline
