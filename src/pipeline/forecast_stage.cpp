#include <algorithm>
#include <chrono>
#include <cmath>
#include <iterator>
#include <memory>
#include <stdexcept>

#include "forecast_split.hpp"
#include "hlstm/core/coordinated.hpp"
#include "hlstm/core/log.hpp"
#include "hlstm/core/memory.hpp"
#include "hlstm/pipeline/position_choice.hpp"
#include "stages.hpp"

namespace hlstm::pipeline {
namespace {

double secondsSince(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

struct WinnerForecasts {
    std::vector<std::uint64_t> rows;
    std::vector<float> values;  // rows x (4 Y + 2), see forecastWinners
    std::vector<std::int32_t> modelSubregions;
    std::vector<std::string> modelBytes;
    std::vector<std::pair<std::int32_t, std::vector<float>>> halfWidths;  // subregion -> per step
};

// The stored model holds what prediction and a warm start need; its wall time lives in /timing,
// so that the file does not depend on the machine or rank count.
std::string storedBytes(const model::Model& m) {
    model::Model stored = m;
    stored.summary.seconds = 0;
    stored.summary.trainSeconds = 0;
    return model::toBytes(stored);
}

// Up to this many bytes of series per holder are shared among the ranks (forecast_split.hpp):
// the exchange holds them twice at a time (packed and sent, received and unpacked) beside the
// held rows, so a national run's large subregions are forecast by their holders alone (peak
// memory). The 30,000-point scene's largest subregion is 3.7 MB.
constexpr std::size_t kSplitBytes = std::size_t{16} << 20;

// What a shared subregion's holder keeps for its intervals until the ranks' values are back.
struct SplitReplay {
    std::int32_t subregion = 0;
    const ValidationCut* cut = nullptr;
    const std::vector<float>* known = nullptr;
    std::shared_ptr<const std::vector<float>> mixed;  // a combined winner's known rates (owned here)
    const Choice* choice = nullptr;
};

// A winner's forecaster: the model's, mixed with the baseline a combined winner mixes in.
Forecaster winnerForecaster(const model::Model& m, const Choice& c, const BaselineSet& baselines, const RunConfig& rc) {
    Forecaster f = modelForecaster(m, rc.threads);
    if (c.combineBaseline < 0) return f;  // combine_stage.cpp
    return combinedForecaster(f, baselines.forecaster(static_cast<std::size_t>(c.combineBaseline), rc.horizon),
                              c.combineWeights);
}

// The winner's values of `count` rows (`series`: count x all epochs, as held, restored in place
// for the next epochs), appended to `out` in forecastWinners' layout.
void forecastRows(const RunContext& ctx, const Choice& c, const Forecaster& f, const BaselineSet& baselines,
                  const std::uint64_t* rows, float* series, const std::int8_t* validation, std::size_t count,
                  log::Line& timing, WinnerForecasts& out, std::int32_t s) {
    const RunConfig& rc = ctx.rc;
    const model::TimeAxis& axis = ctx.axis;
    const std::size_t V = ctx.visibleEpochs, m = ctx.epochs, Y = static_cast<std::size_t>(rc.horizon);
    auto start = std::chrono::steady_clock::now();
    const auto done = [&](const std::string& what) {  // where the seconds and the memory go
        timing << ", " << what << " " << secondsSince(start) << " s";
        logMemory("forecast: " + what + " of subregion " + std::to_string(s));
        start = std::chrono::steady_clock::now();
    };
    std::vector<float> holdout;
    const model::SeriesView seen{series, count, V, &axis, m};
    const model::SeriesView whole{series, count, m, &axis, m};
    const std::vector<float> holdoutRates = f(seen);
    ratesToDifferentials(holdoutRates, rc.horizon, axis, V - 1, holdout);
    done("holdout");
    const std::vector<float> holdoutPos =
        positionsOf(c.positionSteps, seen, holdoutRates, baselines, rc.level, rc.horizon, rc.positionHedge);
    done("holdout positions");
    const std::vector<std::uint64_t> rowIds(rows, rows + count);
    if (ctx.commonMode != nullptr)  // the next epochs see every epoch: the reader's fill, the whole field
        ctx.commonMode->toWhole(rowIds, series, m, ctx.readerFill);
    else if (ctx.readerFill != nullptr)  // (visible_fill.hpp, common_mode_stage.cpp)
        ctx.readerFill->restore(rowIds, series, m);
    const std::vector<float> next = f(whole);
    done("next");
    const std::vector<float> nextPos =
        positionsOf(c.positionSteps, whole, next, baselines, rc.level, rc.horizon, rc.positionHedge);
    done("next positions");
    for (std::size_t k = 0; k < count; ++k) {
        out.rows.push_back(rows[k]);
        const double level = localLevel(series + k * m, axis, m, rc.level);
        for (std::size_t y = 0; y < Y; ++y) out.values.push_back(holdout[k * Y + y]);
        for (std::size_t y = 0; y < Y; ++y) out.values.push_back(next[k * Y + y]);
        for (std::size_t y = 0; y < Y; ++y) out.values.push_back(nextPos[k * Y + y]);
        out.values.push_back(validation[k]);
        out.values.push_back(static_cast<float>(level));
        for (std::size_t y = 0; y < Y; ++y) out.values.push_back(holdoutPos[k * Y + y]);
    }
}

// The views an interval calibration forecasts (ValidationCut::positionHalfWidths with `known`):
// its calls recorded in order, answered with NaN (the widths of this pass are not used).
std::vector<SeriesBlock> intervalViews(const ValidationCut& cut, const RunConfig& rc, const std::vector<float>* known) {
    std::vector<SeriesBlock> views;
    const std::size_t Y = static_cast<std::size_t>(rc.horizon);
    const PositionForecaster record = [&views, Y](const model::SeriesView& v) {
        SeriesBlock b{v.points, v.epochs, std::vector<float>(v.points * v.epochs)};
        for (std::size_t i = 0; i < v.points; ++i) std::copy_n(v.row(i), v.epochs, b.values.data() + i * v.epochs);
        views.push_back(std::move(b));
        return std::vector<float>(v.points * Y, kNaN);
    };
    const auto nothing = [](std::size_t, const model::SeriesView&, const std::vector<float>& rates) {
        return std::vector<float>(rates.size(), kNaN);
    };
    (void)cut.positionHalfWidths(record, rc.interval, rc.intervalCuts, known, nothing);
    return views;
}

// The rank holding each subregion's winner forecasts all its points: the hidden epochs (from
// the visible part), the Y epochs beyond the archive, and the conformal interval half-widths.
// A model trained alone shares that work with every rank (forecast_split.hpp).
WinnerForecasts forecastWinners(const RunContext& ctx, const HeldMap& held, const std::vector<Choice>& choice,
                                const std::map<std::int32_t, model::Model>& models,
                                const std::map<std::int32_t, model::Model>& refitted, const BaselineSet& baselines,
                                const std::map<std::int32_t, std::vector<float>>& taskCutRates,
                                const std::map<std::int32_t, std::vector<std::vector<float>>>& baselineCutRates) {
    const Comm& comm = ctx.comm;
    const RunConfig& rc = ctx.rc;
    const Plan& plan = ctx.plan;
    const std::size_t m = ctx.epochs;
    WinnerForecasts out;
    const std::size_t Y = static_cast<std::size_t>(rc.horizon);
    std::vector<SplitSource> sources;  // the subregions this rank shares, and their intervals' state
    std::vector<SplitReplay> replays;
    std::size_t splitBytes = 0;
    // A winner's row for its owner: [holdout differentials | next rates | next positions |
    // split | level at the last epoch | holdout positions], 4 Y + 2 floats; the interval
    // half-widths travel per subregion. Positions are the level (a line through the last
    // run.level_epochs epochs, not the last noisy value) plus the forecast increments, or at a
    // step the position method chosen out of time (position_choice.cpp).
    coordinated(comm, "forecast", [&] {
        for (const auto& [s, h] : held) {
            if (s >= static_cast<std::int32_t>(choice.size())) continue;  // learned baselines: see learnedStage
            const Choice& c = choice[static_cast<std::size_t>(s)];
            const std::size_t n = h.rows->rows.size();
            // A data-parallel subregion's rows (and a data-parallel winner) are on every rank of
            // its group: each forecasts a slice of its rows, and they compute the intervals
            // together. A rank outside the group holds the rows for a candidate of its own.
            const Comm* group = groupOf(ctx.groups, s);
            bool shared = spread(plan, s) && group != nullptr;
            bool owner = leads(plan, s, comm.rank());  // keeps the intervals (and the model)
            Forecaster f, judged;  // judged: the selected model's, for the out-of-time residuals (run.refit)
            // The interval's own method's rates at the selection's cuts, where its score kept them
            // (train_stage.cpp, finetune_stage.cpp, baseline_stage.cpp): not forecast again.
            const std::vector<float>* known = nullptr;
            auto mixed =
                std::make_shared<std::vector<float>>();  // a combined winner's: the model's mixed with its baseline's
            // A baseline's one-pass rates at the cuts are its per-cut ones bit for bit, but AR's
            // (up to rounding: tests/model/test_baselines.cpp), which is forecast again.
            const auto baselineRates = [&](std::int32_t b) -> const std::vector<float>* {
                const auto r = baselineCutRates.find(s);
                if (b < 0 || r == baselineCutRates.end() || static_cast<std::size_t>(b) >= r->second.size() ||
                    baselines.kinds.at(static_cast<std::size_t>(b)) == model::BaselineKind::kAr)
                    return nullptr;
                const std::vector<float>& v = r->second[static_cast<std::size_t>(b)];
                return v.empty() ? nullptr : &v;
            };
            if (c.task < 0 && c.learned >= 0) {
                // A baseline won: the best candidate is stored all the same (for hlstm update).
                const Task& task = plan.tasks[static_cast<std::size_t>(c.learned)];
                const auto it = models.find(c.learned);
                if (it != models.end() && (!task.sharded || task.rank == comm.rank())) {
                    out.modelSubregions.push_back(s);
                    out.modelBytes.push_back(storedBytes(it->second));
                }
            }
            const model::Model* mdl = nullptr;  // the winning model, if one won
            const model::Model* selected = nullptr;
            if (c.task >= 0) {
                auto it = models.find(c.task);
                if (it == models.end()) continue;
                const Task& task = plan.tasks[static_cast<std::size_t>(c.task)];
                // A candidate trained alone is held by the rank that trained it (maybe not the
                // planned one); a data-parallel one by its group, the first rank keeping it.
                owner = !task.sharded || task.rank == comm.rank();
                // A group of one rank forecasts like a candidate trained alone: its rows are
                // split among every rank below, instead of leaving the others idle meanwhile.
                shared = task.sharded && group != nullptr && group->size() > 1;
                const auto refit = refitted.find(c.task);  // refit_stage.cpp
                mdl = refit != refitted.end() ? &refit->second : &it->second;
                if (refit != refitted.end()) selected = &it->second;
                f = winnerForecaster(*mdl, c, baselines, rc);
                if (selected != nullptr) judged = winnerForecaster(*selected, c, baselines, rc);
                if (owner) {
                    out.modelSubregions.push_back(s);
                    out.modelBytes.push_back(storedBytes(*mdl));
                }
                const auto r = taskCutRates.find(c.task);  // the selected model's (judged's) rates
                if (r != taskCutRates.end() && c.combineBaseline < 0) {
                    known = &r->second;
                } else if (r != taskCutRates.end()) {  // mixed as combinedForecaster mixes them
                    if (const std::vector<float>* b = baselineRates(c.combineBaseline)) {
                        *mixed = r->second;
                        mixRates(*mixed, *b, c.combineWeights, Y);
                        known = mixed.get();
                    }
                }
            } else if (c.baseline >= 0 && (shared || owner)) {
                f = baselines.forecaster(static_cast<std::size_t>(c.baseline), rc.horizon);
                known = baselineRates(c.baseline);
            } else {
                continue;
            }
            auto timing = log::debug();  // where the seconds go (HLSTM_LOG=debug)
            timing << "forecast of subregion " << s << " (" << n << " rows):";
            auto start = std::chrono::steady_clock::now();
            const std::size_t bytes = n * m * sizeof(float);
            if (mdl != nullptr && !shared && comm.size() > 1 && splitBytes + bytes <= kSplitBytes) {
                // Every rank forecasts a slice of its rows and of its intervals' views; the
                // intervals are computed here once their values are back (after the loop).
                splitBytes += bytes;
                SplitSource src;
                src.subregion = s;
                src.model = model::toBytes(*mdl);
                if (selected != nullptr) src.judged = model::toBytes(*selected);
                src.rows = h.rows->rows.data();
                src.series = h.rows->full;
                src.n = n;
                src.validation.assign(n, 0);
                for (auto v : h.split.validation) src.validation[v] = 1;
                src.views = intervalViews(*h.cut, rc, known);
                sources.push_back(std::move(src));
                replays.push_back({s, h.cut.get(), known, known == mixed.get() ? mixed : nullptr, &c});
                timing << " shared among " << comm.size() << " ranks, intervals' views " << secondsSince(start) << " s";
                continue;
            }
            if (owner || shared) {
                // The chosen position methods' own out-of-time residuals per step.
                PositionForecaster p = positionForecaster(c.positionSteps, judged ? judged : f, baselines, rc.level,
                                                          rc.horizon, rc.positionHedge);
                const auto onLevel = [&](std::size_t, const model::SeriesView& v, const std::vector<float>& rates) {
                    return positionsOf(c.positionSteps, v, rates, baselines, rc.level, rc.horizon, rc.positionHedge);
                };
                // A group forecasts its rows together (collective): each member the same calls. Sliced
                // rows: the cut forecasts this rank's rows of its subset and gathers the residuals.
                const std::vector<float> half =
                    shared && !sliced(h)
                        ? h.cut->positionHalfWidths(sharedAmong(*group, std::move(p)), rc.interval, rc.intervalCuts)
                        : h.cut->positionHalfWidths(p, rc.interval, rc.intervalCuts, known, onLevel);
                if (owner) out.halfWidths.emplace_back(s, half.empty() ? std::vector<float>(Y, kNaN) : half);
                timing << " intervals " << secondsSince(start) << " s";
                logMemory("forecast: intervals of subregion " + std::to_string(s));
            }
            const auto [first, last] = shared && !sliced(h) ? sliceOf(*group, n) : std::pair{std::size_t{0}, n};
            const std::size_t count = last - first;
            if (count == 0) continue;
            std::vector<std::int8_t> isValidation(n, 0);
            for (auto v : h.split.validation) isValidation[v] = 1;
            forecastRows(ctx, c, f, baselines, h.rows->rows.data() + first,
                         const_cast<float*>(h.rows->full) + first * m, isValidation.data() + first, count, timing, out,
                         s);
        }
    });
    if (comm.size() == 1) return out;
    // The shared subregions: every rank its slices (rows and intervals' views), then the
    // intervals on their holders from the values of every rank.
    std::vector<SplitPiece> pieces = shareSplit(comm, sources, m);
    logMemory("forecast: shared rows received");
    coordinated(comm, "forecast: shared rows", [&] {
        for (SplitPiece& piece : pieces) {
            const Choice& c = choice.at(static_cast<std::size_t>(piece.subregion));
            const model::Model mdl = model::modelFromBytes(piece.model);  // outlives its forecasters
            const model::Model selected = piece.judged.empty() ? model::Model{} : model::modelFromBytes(piece.judged);
            const Forecaster f = winnerForecaster(mdl, c, baselines, rc);
            const Forecaster judged = piece.judged.empty() ? f : winnerForecaster(selected, c, baselines, rc);
            auto timing = log::debug();
            timing << "forecast of subregion " << piece.subregion << ", " << piece.rows.size() << " rows of rank "
                   << piece.holder << ":";
            const auto start = std::chrono::steady_clock::now();
            const PositionForecaster p =
                positionForecaster(c.positionSteps, judged, baselines, rc.level, rc.horizon, rc.positionHedge);
            for (const SeriesBlock& v : piece.views)
                piece.viewResults.push_back(
                    v.points > 0 ? p(model::SeriesView{v.values.data(), v.points, v.epochs, &ctx.axis, v.epochs})
                                 : std::vector<float>());
            timing << " intervals' views " << secondsSince(start) << " s";
            forecastRows(ctx, c, f, baselines, piece.rows.data(), piece.series.data(), piece.validation.data(),
                         piece.rows.size(), timing, out, piece.subregion);
            piece.series = std::vector<float>();
        }
    });
    const auto viewValues = joinSplit(comm, pieces, sources.size());
    pieces.clear();
    coordinated(comm, "forecast: shared intervals", [&] {
        for (std::size_t k = 0; k < replays.size(); ++k) {
            const SplitReplay& r = replays[k];
            const Choice& c = *r.choice;
            std::size_t call = 0;
            const PositionForecaster replay = [&](const model::SeriesView& v) {
                if (call >= viewValues[k].size() || viewValues[k][call].size() != v.points * Y)
                    throw std::logic_error("shared intervals: the calibration's forecasts differ from the recorded");
                return viewValues[k][call++];
            };
            const auto onLevel = [&](std::size_t, const model::SeriesView& v, const std::vector<float>& rates) {
                return positionsOf(c.positionSteps, v, rates, baselines, rc.level, rc.horizon, rc.positionHedge);
            };
            const std::vector<float> half =
                r.cut->positionHalfWidths(replay, rc.interval, rc.intervalCuts, r.known, onLevel);
            out.halfWidths.emplace_back(r.subregion, half.empty() ? std::vector<float>(Y, kNaN) : half);
        }
    });
    return out;
}

// ---------------------------------------------------------------- learned baselines
// The rank that trained a learned baseline (one model of all points) forecasts the hidden
// epochs of every point with it; the values travel to the owners like the other baselines'.
std::vector<float> forecastLearned(const RunContext& ctx, const HeldMap& held,
                                   const std::map<std::int32_t, model::Model>& models,
                                   const std::vector<std::uint64_t>& ownerOffsets, const LocalBlock& block) {
    const Comm& comm = ctx.comm;
    const RunConfig& rc = ctx.rc;
    const model::TimeAxis& axis = ctx.axis;
    const std::size_t visibleEpochs = ctx.visibleEpochs;
    const std::size_t Y = static_cast<std::size_t>(rc.horizon), nL = rc.learned().size(), n = block.points.size();
    std::vector<float> out(n * nL * Y, kNaN);
    for (std::size_t j = 0; j < nL; ++j) {
        const std::int32_t pseudo = ctx.nSub + static_cast<std::int32_t>(j);
        std::vector<std::uint64_t> rows;
        std::vector<float> values;
        coordinated(comm, "learned baselines", [&] {
            for (const auto& t : ctx.plan.tasks) {
                if (t.subregion != pseudo || t.rank != comm.rank()) continue;
                auto it = models.find(t.index);
                if (it == models.end() || !it->second.summary.ok()) continue;
                const Held& h = held.at(pseudo);
                rows = h.rows->rows;
                ratesToDifferentials(
                    model::forecast(it->second, h.visible(axis, visibleEpochs), rc.threads).differential, rc.horizon,
                    axis, visibleEpochs - 1, values);
            }
        });
        const std::vector<float> got = toOwners(comm, ownerOffsets, block, rows, values, Y);
        for (std::size_t i = 0; i < n; ++i) std::copy_n(got.data() + i * Y, Y, out.data() + (i * nL + j) * Y);
    }
    return out;
}

}  // namespace

Returned forecastStage(const RunContext& ctx, const LocalBlock& block, const HeldMap& held, const Selection& sel,
                       TrainOutcome& trained, BaselineOutcome& baselineOut, const BaselineSet& baselines,
                       const std::function<void()>& winnersForecast) {
    const Comm& comm = ctx.comm;
    // The position choice is made: only the winners' rates at the cuts (and a combined
    // winner's baseline's) are kept, for their intervals (forecastWinners), then freed.
    for (auto it = trained.cutRates.begin(); it != trained.cutRates.end();) {
        const auto& t = ctx.plan.tasks[static_cast<std::size_t>(it->first)];
        const bool won = t.subregion < ctx.nSub && sel.choice[static_cast<std::size_t>(t.subregion)].task == it->first;
        it = won ? std::next(it) : trained.cutRates.erase(it);
    }
    for (auto it = baselineOut.cutRates.begin(); it != baselineOut.cutRates.end();) {
        const Choice* c = it->first < ctx.nSub ? &sel.choice[static_cast<std::size_t>(it->first)] : nullptr;
        const std::int32_t used = c == nullptr ? -1 : forecastBaseline(*c);
        if (used < 0) {
            it = baselineOut.cutRates.erase(it);
            continue;
        }
        for (std::size_t b = 0; b < it->second.size(); ++b)
            if (b != static_cast<std::size_t>(used)) it->second[b] = std::vector<float>();
        ++it;
    }
    releaseFreeMemory();  // their pages, before the forecasts (peak memory)
    const std::vector<std::uint64_t> offsets = ownerOffsets(comm, block.points.size());
    const std::vector<float> learnedVals = forecastLearned(ctx, held, trained.models, offsets, block);
    for (auto it = trained.models.begin(); it != trained.models.end();) {  // keep each subregion's best
        const auto& t = ctx.plan.tasks[static_cast<std::size_t>(it->first)];
        const bool kept =
            t.subregion < ctx.nSub && sel.choice[static_cast<std::size_t>(t.subregion)].learned == it->first;
        it = kept ? std::next(it) : trained.models.erase(it);
    }
    logMemory("forecast: learned baselines");
    WinnerForecasts fc = forecastWinners(ctx, held, sel.choice, trained.models, trained.refitted, baselines,
                                         trained.cutRates, baselineOut.cutRates);
    trained.cutRates = {};
    baselineOut.cutRates = {};
    const std::size_t Y = static_cast<std::size_t>(ctx.rc.horizon);
    const std::size_t nPerPoint = baselines.kinds.size(), nL = ctx.rc.learned().size(), nB = nPerPoint + nL;
    Returned back;
    back.nBaselines = nB;
    logMemory("forecast: winners forecast");
    if (winnersForecast) winnersForecast();  // `held` is not read below
    releaseFreeMemory();                     // the network passes' buffers, before the values travel
    // Each table is freed once it reached its owners: no two copies of one are held beside the
    // next one's exchange (peak memory).
    back.winner = toOwners(comm, offsets, block, fc.rows, fc.values, 4 * Y + 2);
    fc.rows = std::vector<std::uint64_t>();
    fc.values = std::vector<float>();
    back.positions = toOwners(comm, offsets, block, baselineOut.rows, baselineOut.positions,
                              1 + static_cast<std::size_t>(kPositionBaselines) * Y);
    baselineOut.positions = std::vector<float>();
    // Every baseline's holdout differentials per owned row: the per-point ones, then the learned.
    back.baselines.assign(block.points.size() * nB * Y, kNaN);
    {
        const std::vector<float> perPoint =
            toOwners(comm, offsets, block, baselineOut.rows, baselineOut.holdout, nPerPoint * Y);
        baselineOut.holdout = std::vector<float>();
        for (std::size_t i = 0; i < block.points.size(); ++i) {
            std::copy_n(perPoint.data() + i * nPerPoint * Y, nPerPoint * Y, back.baselines.data() + i * nB * Y);
            std::copy_n(learnedVals.data() + i * nL * Y, nL * Y, back.baselines.data() + i * nB * Y + nPerPoint * Y);
        }
    }
    baselineOut = {};
    logMemory("forecast: values at their owners");
    back.halfWidths = gatherHalfWidths(comm, fc.halfWidths, ctx.nSub, Y);
    back.models = gatherModels(comm, fc.modelSubregions, fc.modelBytes);
    return back;
}

}  // namespace hlstm::pipeline
