// Positions chosen the way positions are judged (issue 23, position_choice.hpp). The learned
// model's increments on the robust level compete, step by step, with every baseline's position
// at the same out-of-time cuts and validation points as the selection; it forecasts a step only
// where it is at least as good there.
#include "hlstm/pipeline/position_choice.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>

#include "hlstm/core/coordinated.hpp"
#include "hlstm/core/error.hpp"
#include "hlstm/core/log.hpp"
#include "hlstm/io/hdf5.hpp"
#include "hlstm/io/output_format.hpp"
#include "stages.hpp"
#include "update_stages.hpp"

namespace hlstm::pipeline {
namespace {

// Standard errors by which a challenger's mean per-cut position error must lie below the own
// method's to replace it at a step (choosePositionSteps).
constexpr double kPairedT = 2.0;

std::int32_t codeAt(const std::vector<std::int32_t>& steps, std::size_t y) {
    return steps.empty() ? kOwnPosition : steps[std::min(y, steps.size() - 1)];
}

// Rates (rows x Y) as positions: each row's level plus the increments, into pos (rows x Y).
void ratesOnLevel(const std::vector<float>& rates, const std::vector<double>& levels, int horizon,
                  const model::TimeAxis& axis, std::size_t epochs, std::vector<float>& diff, std::vector<float>& pos) {
    const std::size_t Y = static_cast<std::size_t>(horizon);
    ratesToDifferentials(rates, horizon, axis, epochs - 1, diff);
    for (std::size_t i = 0; i < levels.size(); ++i) {
        double cum = levels[i];
        for (std::size_t y = 0; y < Y; ++y) {
            cum += diff[i * Y + y];
            pos[i * Y + y] = static_cast<float>(cum);
        }
    }
}

std::vector<double> levelsOf(const model::SeriesView& v, LevelRule levelRule) {
    std::vector<double> levels(v.points);
    for (std::size_t i = 0; i < v.points; ++i) levels[i] = localLevel(v.row(i), *v.time, v.epochs, levelRule);
    return levels;
}

}  // namespace

std::vector<float> positionsOf(const std::vector<std::int32_t>& steps, const model::SeriesView& v,
                               const std::vector<float>& ownRates, const BaselineSet& baselines, LevelRule levelRule,
                               int horizon, double hedge) {
    const std::size_t Y = static_cast<std::size_t>(horizon), P = v.points, E = v.epochs;
    std::vector<float> out(P * Y, kNaN);
    if (P == 0 || E == 0) return out;
    const model::TimeAxis& axis = *v.time;
    std::vector<float> diff;
    // A method of rates: its increments on the level (the product's positions).
    const auto onLevel = [&](const std::vector<float>& rates, std::vector<float>& pos) {
        ratesOnLevel(rates, levelsOf(v, levelRule), horizon, axis, E, diff, pos);
    };
    std::vector<std::int32_t> used;
    for (std::size_t y = 0; y < Y; ++y)
        if (std::find(used.begin(), used.end(), codeAt(steps, y)) == used.end()) used.push_back(codeAt(steps, y));
    std::vector<float> pos(P * Y), all(static_cast<std::size_t>(kPositionBaselines) * Y), own;
    for (const std::int32_t code : used) {
        std::fill(pos.begin(), pos.end(), kNaN);
        if (code < kPositionBaselineCode) {
            const std::vector<float> rates =
                code == kOwnPosition ? ownRates : baselines.forecaster(static_cast<std::size_t>(code), horizon)(v);
            if (rates.size() == P * Y) onLevel(rates, pos);
        } else {
            const auto j = static_cast<std::size_t>(code - kPositionBaselineCode);
            for (std::size_t i = 0; i < P; ++i) {
                forecastPositions(v.row(i), axis, E, horizon, levelRule, all.data());
                std::copy_n(all.data() + j * Y, Y, pos.data() + i * Y);
            }
        }
        for (std::size_t y = 0; y < Y; ++y)
            if (codeAt(steps, y) == code)
                for (std::size_t i = 0; i < P; ++i) out[i * Y + y] = pos[i * Y + y];
        if (code == kOwnPosition) own = pos;
    }
    // A row the chosen method cannot forecast (too few values for it) keeps the own method's
    // position where it has one; at a step the choice gave to another method, the own method
    // keeps the share `hedge` of the position (run.position_hedge).
    if (ownRates.size() == P * Y) {
        if (own.empty()) {
            own.assign(P * Y, kNaN);
            onLevel(ownRates, own);
        }
        for (std::size_t k = 0; k < out.size(); ++k) {
            if (!std::isfinite(out[k])) {
                out[k] = own[k];
            } else if (hedge > 0 && codeAt(steps, k % Y) != kOwnPosition && std::isfinite(own[k])) {
                out[k] = static_cast<float>(hedge * static_cast<double>(own[k]) +
                                            (1.0 - hedge) * static_cast<double>(out[k]));
            }
        }
    }
    return out;
}

PositionForecaster positionForecaster(std::vector<std::int32_t> steps, Forecaster own, const BaselineSet& baselines,
                                      LevelRule levelRule, int horizon, double hedge) {
    return [steps = std::move(steps), own = std::move(own), &baselines, levelRule, horizon,
            hedge](const model::SeriesView& v) {
        bool usesOwn = hedge > 0;  // a hedged step mixes the own method in
        for (std::size_t y = 0; y < static_cast<std::size_t>(horizon); ++y)
            usesOwn = usesOwn || codeAt(steps, y) == kOwnPosition;
        const std::vector<float> rates = usesOwn && own ? own(v) : std::vector<float>{};
        return positionsOf(steps, v, rates, baselines, levelRule, horizon, hedge);
    };
}

std::string positionStepName(std::int32_t code, const BaselineSet& baselines) {
    if (code == kOwnPosition) return "own";
    if (code >= kPositionBaselineCode)
        return positionBaselineNames().at(static_cast<std::size_t>(code - kPositionBaselineCode));
    return model::toString(baselines.kinds.at(static_cast<std::size_t>(code)));
}

std::vector<std::int32_t> positionChoiceColumn(const std::vector<Choice>& choice, std::size_t nNames,
                                               std::size_t horizon) {
    std::vector<std::int32_t> out;
    for (const Choice& c : choice)
        for (std::size_t y = 0; y < horizon; ++y) {
            const std::int32_t code = codeAt(c.positionSteps, y);
            out.push_back(code >= kPositionBaselineCode
                              ? static_cast<std::int32_t>(nNames) + (code - kPositionBaselineCode)
                              : code);
        }
    return out;
}

std::vector<std::int32_t> positionStepsFromFile(const std::int32_t* values, std::size_t horizon,
                                                const std::vector<std::string>& positionNames,
                                                const BaselineSet& baselines) {
    std::vector<std::int32_t> steps;
    const auto& pnames = positionBaselineNames();
    for (std::size_t y = 0; y < horizon; ++y) {
        const std::int32_t v = values[y];
        if (v < 0) {
            steps.push_back(kOwnPosition);
            continue;
        }
        if (static_cast<std::size_t>(v) >= positionNames.size())
            throw RuntimeError("position_choice " + std::to_string(v) + " is not a row of /baselines/position_name");
        const std::string& name = positionNames[static_cast<std::size_t>(v)];
        const auto p = std::find(pnames.begin(), pnames.end(), name);
        if (p != pnames.end()) {
            steps.push_back(kPositionBaselineCode + static_cast<std::int32_t>(p - pnames.begin()));
            continue;
        }
        const auto b = std::find(baselines.kinds.begin(), baselines.kinds.end(), model::baselineFromString(name));
        if (b == baselines.kinds.end()) throw RuntimeError("position_choice names an unknown method " + name);
        steps.push_back(static_cast<std::int32_t>(b - baselines.kinds.begin()));
    }
    return steps;
}

namespace {

// The position baselines of a block's rows at the cuts (rows x cuts x kPositionBaselines x Y),
// every cut of a row from one pass over it (forecastPositionsAtCuts).
CutForecaster positionBaselinesAtCuts(LevelRule levelRule, int horizon) {
    return [levelRule, horizon](const model::SeriesView& v, const std::vector<std::size_t>& cuts) {
        const std::size_t width = static_cast<std::size_t>(kPositionBaselines * horizon) * cuts.size();
        std::vector<float> out(v.points * width);
        for (std::size_t i = 0; i < v.points; ++i)
            forecastPositionsAtCuts(v.row(i), *v.time, cuts.data(), cuts.size(), horizon, levelRule,
                                    out.data() + i * width);
        return out;
    };
}

}  // namespace

PositionVerdict choosePositionSteps(const ValidationCut& cut, const Forecaster& own, const BaselineSet& baselines,
                                    LevelRule levelRule, int horizon, const Comm* group, const KnownOwnRates* known,
                                    const std::function<void()>& bring) {
    const std::size_t Y = static_cast<std::size_t>(horizon);
    // The candidates: the own method first (ties keep it), every per-point baseline, the
    // position baselines.
    std::vector<std::int32_t> codes{kOwnPosition};
    for (std::size_t b = 0; b < baselines.kinds.size(); ++b) codes.push_back(static_cast<std::int32_t>(b));
    for (int j = 0; j < kPositionBaselines; ++j) codes.push_back(kPositionBaselineCode + j);
    // The position baselines first, judged and freed before the baselines' kept tables are read
    // (bring): each method's errors are summed on their own (positionStepScores), so
    // judging them apart gives the same values, and the two sets of tables are never held at once
    // (at 5,000,000 points they were the select phase's peak memory). Their positions at every
    // cut of a row come from one pass over it, one array per method (rows x cuts x Y), split a
    // chunk of rows at a time: the first method's come back from the cut, the others' are
    // appended in row order (not held twice, interleaved and split).
    const std::size_t C = cut.cuts().size();
    // The forecasters shared among the group's ranks, unless the cut's rows are sliced over it
    // (then the cut forecasts this rank's rows and gathers the group's by itself).
    const Comm* wrap = cut.sliced() ? nullptr : group;
    std::vector<double> positionErr, positionPerCut;
    const auto start = std::chrono::steady_clock::now();
    auto timing = log::debug();  // where the seconds go (HLSTM_LOG=debug)
    timing << "position choice over " << cut.points() << " validation rows x " << C << " cuts"
           << (group != nullptr ? " (group of " + std::to_string(group->size()) + ")" : std::string()) << ":";
    auto lap = [&timing, last = start](const char* what) mutable {
        const auto now = std::chrono::steady_clock::now();
        timing << " " << what << " " << std::chrono::duration<double>(now - last).count() << " s";
        last = now;
    };
    {
        const CutForecaster f = positionBaselinesAtCuts(levelRule, horizon);
        const CutForecaster all = wrap != nullptr ? sharedCutsAmong(*wrap, f) : f;
        const std::size_t J = kPositionBaselines;
        std::vector<std::vector<float>> others(J - 1);
        for (auto& o : others) o.reserve(cut.points() * C * Y);
        const CutForecaster firstOfAll = [&](const model::SeriesView& v, const std::vector<std::size_t>& cuts) {
            const std::vector<float> got = all(v, cuts);  // rows x cuts x J x Y
            const std::size_t K = got.size() / (J * Y);
            std::vector<float> first(K * Y);
            for (std::size_t k = 0; k < K; ++k) {
                std::copy_n(got.data() + k * J * Y, Y, first.data() + k * Y);
                for (std::size_t j = 1; j < J; ++j)
                    others[j - 1].insert(others[j - 1].end(), got.data() + (k * J + j) * Y,
                                         got.data() + (k * J + j + 1) * Y);
            }
            return first;
        };
        // Sliced rows: the tables judged are this rank's rows (`others` got them only).
        const std::vector<float> first = cut.ratesAtCutsInOnePass(firstOfAll, 0, false);
        std::vector<const std::vector<float>*> values{&first};
        for (const auto& o : others) values.push_back(&o);
        positionErr = cut.positionStepScores(
            std::vector<PositionForecaster>(J), values,
            [](std::size_t, const model::SeriesView&, const std::vector<float>& positions) { return positions; },
            &positionPerCut, group);
        lap("position baselines");
    }
    if (bring) bring();
    // Every method is forecast once per cut and row: every baseline in one pass per row over its
    // cuts (the values of a forecast per cut), the own method's rates taken from the selection
    // score's forecasts where they are known; their positions are those rates on the level
    // (positionsOf), as a forecast per method gives them.
    const std::size_t nB = baselines.kinds.size();
    std::vector<std::vector<float>> rates(1 + nB);  // knownValues points into it
    // Each method's values: its entry of `rates`, or the kept rates themselves (not copied: at
    // 1,000,000 points they were the select phase's peak memory).
    std::vector<const std::vector<float>*> knownValues;
    for (const auto& r : rates) knownValues.push_back(&r);
    // The baselines' rates as the baseline stage forecast them for their scores, where it kept
    // them here (on every rank of the group, or none forecasts them alone: the rows are shared).
    const bool keptHere = known != nullptr && known->baselines != nullptr && known->baselines->size() == nB;
    const bool kept = group != nullptr ? group->allreduce<int>(keptHere ? 1 : 0, Reduce::kMin) == 1 : keptHere;
    for (std::size_t b = 0; b < nB; ++b) {
        if (kept) {
            knownValues[1 + b] = &(*known->baselines)[b];
            continue;
        }
        const CutForecaster f = baselines.cutForecaster(b, horizon);
        rates[1 + b] = cut.ratesAtCutsInOnePass(wrap != nullptr ? sharedCutsAmong(*wrap, f) : f, 0, false);
    }
    if (kept && known->model == nullptr && known->ownBaseline >= 0 &&
        static_cast<std::size_t>(known->ownBaseline) < nB) {
        knownValues[0] = knownValues[1 + static_cast<std::size_t>(known->ownBaseline)];
    } else if (known != nullptr && known->model != nullptr) {
        knownValues[0] = known->model;
        if (known->combineBaseline >= 0) {  // as combinedForecaster mixes them
            rates[0] = *known->model;
            mixRates(rates[0], *knownValues[1 + static_cast<std::size_t>(known->combineBaseline)], known->weights, Y);
            knownValues[0] = &rates[0];
        }
    } else {
        rates[0] = cut.ratesAtCuts(wrap != nullptr ? sharedAmong(*wrap, own) : own, false);
    }
    lap("rates");
    std::vector<PositionForecaster> methods(rates.size());
    std::vector<double> perCut;
    // Rates on the level, as positionsOf({}, ...) gives them; the rows' levels computed once per
    // block, not once per method: positionStepScores asks for the methods k = 0, 1, ... of one
    // block in turn, so a k not above the last one starts a new block (in a group, each rank
    // is given its slice of the block's rows: positionStepScores with `group`).
    std::vector<double> levels;
    std::vector<float> diff;
    std::size_t lastK = 0;
    std::vector<double> err = cut.positionStepScores(
        methods, knownValues,
        [&](std::size_t k, const model::SeriesView& v, const std::vector<float>& values) {
            std::vector<float> pos(v.points * Y, kNaN);
            if (v.points == 0 || v.epochs == 0) return pos;
            if (k <= lastK || levels.size() != v.points) levels = levelsOf(v, levelRule);
            lastK = k;
            if (values.size() == pos.size()) ratesOnLevel(values, levels, horizon, *v.time, v.epochs, diff, pos);
            return pos;
        },
        &perCut, group);
    lap("on the level");
    err.insert(err.end(), positionErr.begin(), positionErr.end());  // codes' order: the position baselines last
    perCut.insert(perCut.end(), positionPerCut.begin(), positionPerCut.end());
    // A paired test against the own method over the cuts: challenger k replaces it at step y only
    // if its per-cut errors are lower on average by more than kPairedT standard errors of the
    // per-cut differences (inflated for their autocorrelation, significantlyBetter). Every point of a subregion shares an epoch's atmosphere, so a mean
    // over the cuts can be won by one or two cuts' noise: on the demo scene line+annual took 57
    // of 72 subregion-steps on the mean alone, and HLSTM's h = 1 position lost against the truth
    // (1.388 vs local_level+velocity 1.371; 1.056 with the test, README "Positions chosen per step").
    const auto significant = [&](std::size_t k, std::size_t y) {
        return significantlyBetter(perCut.data() + k * C * Y + y, perCut.data() + y, C, Y, kPairedT);
    };
    PositionVerdict v;
    for (std::size_t y = 0; y < Y; ++y) {
        // The lowest mean error among the own method and the challengers that beat it significantly
        // (ties to the own method and the ones before).
        std::size_t best = 0;
        for (std::size_t k = 1; k < codes.size(); ++k)
            if (std::isfinite(err[k * Y + y]) && !(err[k * Y + y] >= err[best * Y + y]) && significant(k, y)) best = k;
        v.steps.push_back(codes[best]);
        v.ownError.push_back(err[y]);
        v.chosenError.push_back(err[best * Y + y]);
    }
    return v;
}

void positionStage(const RunContext& ctx, const HeldMap& held, const TrainOutcome& trained,
                   const BaselineSet& baselines, Selection& sel, const BaselineOutcome* baselineOut,
                   const std::function<void(std::int32_t, bool)>& tables) {
    const Comm& comm = ctx.comm;
    const RunConfig& rc = ctx.rc;
    if (!rc.choosePositions) return;
    const std::size_t Y = static_cast<std::size_t>(rc.horizon), R = 1 + 3 * Y;
    // Records of R doubles: subregion, the chosen code per step, the own method's and the
    // chosen one's error per step; one reporting rank per subregion.
    std::vector<double> local;
    coordinated(comm, "positions", [&] {
        for (std::int32_t s = 0; s < ctx.nSub; ++s) {
            const Choice& c = sel.choice[static_cast<std::size_t>(s)];
            const auto h = held.find(s);
            if (h == held.end()) continue;
            // The subregion's own method where it is held, as forecast_stage.cpp forecasts it.
            Forecaster own;
            const Comm* group = nullptr;
            bool reports = false;
            if (c.task >= 0) {
                const auto it = trained.models.find(c.task);
                if (it == trained.models.end()) continue;
                const Task& task = ctx.plan.tasks[static_cast<std::size_t>(c.task)];
                if (task.sharded && (group = groupOf(ctx.groups, s)) == nullptr) continue;
                reports = !task.sharded || task.rank == comm.rank();
                own = modelForecaster(it->second, rc.threads);
                if (c.combineBaseline >= 0)
                    own = combinedForecaster(
                        own, baselines.forecaster(static_cast<std::size_t>(c.combineBaseline), rc.horizon),
                        c.combineWeights);
            } else if (c.baseline >= 0) {
                const Comm* g = groupOf(ctx.groups, s);
                const bool shared = spread(ctx.plan, s) && g != nullptr;
                reports = leads(ctx.plan, s, comm.rank());
                if (!shared && !reports) continue;
                group = shared ? g : nullptr;
                own = baselines.forecaster(static_cast<std::size_t>(c.baseline), rc.horizon);
            } else {
                continue;
            }
            // The winner's rates at the cuts as its selection score forecast them (train_stage.cpp).
            KnownOwnRates known;
            if (c.task >= 0) {
                const auto r = trained.cutRates.find(c.task);
                if (r != trained.cutRates.end()) known = {&r->second, c.combineBaseline, c.combineWeights};
            } else {
                known.ownBaseline = c.baseline;
            }
            if (baselineOut != nullptr) {  // the baselines' rates at the cuts (baseline_stage.cpp)
                const auto r = baselineOut->cutRates.find(s);
                if (r != baselineOut->cutRates.end()) known.baselines = &r->second;
            }
            std::function<void()> bring;
            if (baselineOut != nullptr && tables) bring = [&tables, s] { tables(s, true); };
            const PositionVerdict v =
                choosePositionSteps(*h->second.cut, own, baselines, rc.level, rc.horizon, group, &known, bring);
            if (baselineOut != nullptr && tables) tables(s, false);
            if (!reports) continue;
            std::vector<double> rec{static_cast<double>(s)};
            rec.insert(rec.end(), v.steps.begin(), v.steps.end());
            rec.insert(rec.end(), v.ownError.begin(), v.ownError.end());
            rec.insert(rec.end(), v.chosenError.begin(), v.chosenError.end());
            local.insert(local.end(), rec.begin(), rec.end());
        }
    });
    const std::vector<double> all = comm.allgatherv(local);
    std::size_t kept = 0, keptLearned = 0, learnedSteps = 0, steps = 0;
    std::map<std::string, std::size_t> others;
    for (std::size_t o = 0; o + R <= all.size(); o += R) {
        Choice& c = sel.choice[static_cast<std::size_t>(all[o])];
        c.positionSteps.assign(Y, kOwnPosition);
        std::map<std::string, std::size_t> byName;
        for (std::size_t y = 0; y < Y; ++y) {
            c.positionSteps[y] = static_cast<std::int32_t>(all[o + 1 + y]);
            const std::string name = positionStepName(c.positionSteps[y], baselines);
            ++byName[name];
            ++steps;
            learnedSteps += c.task >= 0 ? 1 : 0;
            if (c.positionSteps[y] == kOwnPosition) {
                ++kept;
                keptLearned += c.task >= 0 ? 1 : 0;
            } else {
                ++others[name];
            }
        }
        double ownErr = 0, chosenErr = 0;
        for (std::size_t y = 0; y < Y; ++y) ownErr += all[o + 1 + Y + y] / Y, chosenErr += all[o + 1 + 2 * Y + y] / Y;
        std::string text = "; positions (out-of-time position error, mean over steps " + std::to_string(ownErr) +
                           " own -> " + std::to_string(chosenErr) + " mm):";
        for (const auto& [name, count] : byName) text += " " + name + " x" + std::to_string(count);
        c.why += text;
    }
    if (comm.isRoot()) {
        auto l = log::info();
        l << "positions chosen out of time: the subregion's own method kept " << kept << " of " << steps
          << " subregion-steps (the learned model " << keptLearned << " of the " << learnedSteps
          << " where it won the selection)";
        if (!others.empty()) {
            l << "; instead:";
            for (const auto& [name, count] : others) l << " " << name << " x" << count;
        }
    }
}

void keepPreviousPositions(const RunContext& ctx, const Previous& prev, const BaselineSet& baselines,
                           const Origins& origins, Selection& sel) {
    const std::size_t Y = static_cast<std::size_t>(ctx.rc.horizon);
    std::vector<std::int32_t> values;
    std::vector<std::string> names;
    coordinated(ctx.comm, "positions", [&] {
        const h5::File f(prev.path, h5::Access::kReadOnly);
        if (!f.exists(output::subregions::kPositionChoice)) return;  // older file: the own method
        values = f.openDataset(output::subregions::kPositionChoice).readAll<std::int32_t>();
        names = f.readStrings(output::baselines::kPositionName);
    });
    if (values.empty()) return;
    coordinated(ctx.comm, "positions", [&] {
        for (std::int32_t s = 0; s < ctx.nSub; ++s) {
            const auto o = origins.find(s);
            const int si = o == origins.end() ? -1 : prev.subIndex(o->second);
            if (si < 0 || (static_cast<std::size_t>(si) + 1) * Y > values.size()) continue;
            Choice& c = sel.choice[static_cast<std::size_t>(s)];
            c.positionSteps =
                positionStepsFromFile(values.data() + static_cast<std::size_t>(si) * Y, Y, names, baselines);
        }
    });
}

}  // namespace hlstm::pipeline
