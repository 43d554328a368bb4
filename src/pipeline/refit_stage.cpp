// The warm-started fine-tuning that `hlstm update` (finetune_stage.cpp) and the refit of the
// winners (run.refit = finetune) share, and the refit stage itself.
#include <algorithm>
#include <cstdio>
#include <limits>

#include "hlstm/core/coordinated.hpp"
#include "hlstm/core/log.hpp"
#include "hlstm/core/random.hpp"
#include "stages.hpp"

namespace hlstm::pipeline {
namespace {

// Appends `b`'s samples to `a` (same model shape).
void append(model::SampleSet& a, const model::SampleSet& b) {
    if (a.size() == 0) {
        a = b;
        return;
    }
    a.inputs.insert(a.inputs.end(), b.inputs.begin(), b.inputs.end());
    a.labels.insert(a.labels.end(), b.labels.begin(), b.labels.end());
    a.labelsMm.insert(a.labelsMm.end(), b.labelsMm.begin(), b.labelsMm.end());
    a.mean.insert(a.mean.end(), b.mean.begin(), b.mean.end());
    a.stepMean.insert(a.stepMean.end(), b.stepMean.begin(), b.stepMean.end());
    a.scale.insert(a.scale.end(), b.scale.begin(), b.scale.end());
    a.point.insert(a.point.end(), b.point.begin(), b.point.end());
}

// What the refit of one winner reports (all-gathered, trivially copyable).
struct RefitRecord {
    std::int32_t subregion = 0;
    std::int32_t status = 0;  // model::FitStatus of the fine-tuning
    std::int32_t epochs = 0;
    std::uint64_t windows = 0;  // training windows (0: nothing to fine-tune on)
    double validationMae = 0;   // on the new windows of the validation points, mm
};

}  // namespace

model::SampleSet latestWindows(const Held& h, const model::TimeAxis& axis, const model::ModelConfig& config,
                               const std::vector<std::size_t>& rows, std::size_t from, std::size_t to,
                               std::size_t step) {
    model::SampleSet out;
    step = std::max<std::size_t>(step, 1);
    std::size_t first = from + 1;  // the counts to, to - step, ... above from, in increasing order
    if (to > from) first = to - (to - from - 1) / step * step;
    for (std::size_t e = first; e <= to; e += step)
        append(out, model::makeSamples(h.visible(axis, e), rows, config, model::Sampling::kLatest, 1));
    return out;
}

FineTuned fineTune(const RunContext& ctx, const model::Model& start, const model::SampleSet& trainSet,
                   const model::SampleSet& validationSet, int epochs, std::uint64_t seed) {
    FineTuned out{start, false, trainSet.size(), model::FitStatus::kNoSamples};
    if (epochs <= 0 || trainSet.size() == 0) return out;
    model::TrainConfig tc = ctx.rc.train;
    tc.threads = ctx.rc.threads;
    tc.epochs = epochs;
    model::Model fitted = model::fit(trainSet, validationSet, start.config, tc, seed, &start);
    out.status = fitted.summary.status;
    if (fitted.summary.ok()) {
        out.model = std::move(fitted);
        out.trained = true;
    }
    return out;
}

void refitStage(const RunContext& ctx, const HeldMap& held, TrainOutcome& trained, Selection& sel) {
    const RunConfig& rc = ctx.rc;
    if (rc.refitEpochs <= 0) return;
    // The candidates trained on the windows whose labels end in the first trainEpochs; the
    // selection judged them at the later ones. Those windows now train the winner.
    const std::size_t from = rc.trainEpochs(ctx.visibleEpochs), to = ctx.visibleEpochs;
    // finetune: the windows after the training's, as the training samples its windows (every
    // model.stride-th end); all: every window of the visible epochs so sampled.
    const std::size_t step = rc.train.sampling == model::Sampling::kAll ? static_cast<std::size_t>(rc.train.stride) : 1;
    std::vector<RefitRecord> mine;
    coordinated(ctx.comm, "refit", [&] {
        for (const auto& [s, h] : held) {
            if (s >= ctx.nSub) continue;
            const Choice& c = sel.choice[static_cast<std::size_t>(s)];
            if (c.task < 0) continue;  // a baseline won: nothing to refit
            const auto it = trained.models.find(c.task);
            if (it == trained.models.end() || trained.refitted.count(c.task) != 0) continue;
            // Every rank holding the winner (its trainer, or each rank of its data-parallel group)
            // fine-tunes it alone, with the same windows and seed: the same weights at any rank count.
            const log::Context context("refit subregion " + std::to_string(s));
            const std::uint64_t seed = mixKey({rc.seed, static_cast<std::uint64_t>(s),
                                               static_cast<std::uint64_t>(ctx.visibleEpochs), 0x7265666974ULL});
            const model::ModelConfig& config = it->second.config;  // its scaling stays the model's
            auto windows = [&](const std::vector<std::size_t>& rows) {
                return rc.refitAll ? model::makeSamples(h.visible(ctx.axis, to), rows, config, rc.train.sampling,
                                                        rc.train.stride)
                                   : latestWindows(h, ctx.axis, config, rows, from, to, step);
            };
            FineTuned tuned =
                fineTune(ctx, it->second, windows(h.split.train), windows(h.split.validation), rc.refitEpochs, seed);
            const Task& task = ctx.plan.tasks[static_cast<std::size_t>(c.task)];
            if (!task.sharded || task.rank == ctx.comm.rank())
                mine.push_back(
                    {s, static_cast<std::int32_t>(tuned.status), tuned.trained ? tuned.model.summary.epochs : 0,
                     tuned.windows,
                     tuned.trained ? tuned.model.summary.validationMae : std::numeric_limits<double>::quiet_NaN()});
            if (tuned.trained) trained.refitted.emplace(c.task, std::move(tuned.model));
        }
    });
    std::vector<RefitRecord> all = ctx.comm.allgatherv(mine);
    std::sort(all.begin(), all.end(),
              [](const RefitRecord& a, const RefitRecord& b) { return a.subregion < b.subregion; });
    for (const RefitRecord& r : all) {
        Choice& c = sel.choice[static_cast<std::size_t>(r.subregion)];
        char line[256];
        if (r.epochs > 0)
            std::snprintf(line, sizeof line,
                          "; refitted (run.refit = %s): fine-tuned for %d epoch(s) on %llu window(s) ending at "
                          "every %zu-th of epochs %zu..%zu, validation MAE %.4f mm",
                          rc.refitAll ? "all" : "finetune", r.epochs, static_cast<unsigned long long>(r.windows), step,
                          rc.refitAll ? std::size_t{1} : from + 1, to, r.validationMae);
        else
            std::snprintf(line, sizeof line,
                          "; not refitted (run.refit): %s on %llu window(s), its selected model kept",
                          model::toString(static_cast<model::FitStatus>(r.status)).c_str(),
                          static_cast<unsigned long long>(r.windows));
        c.why += line;
        if (ctx.comm.isRoot()) log::info() << "subregion " << r.subregion << ":" << line + 1;
    }
}

}  // namespace hlstm::pipeline
