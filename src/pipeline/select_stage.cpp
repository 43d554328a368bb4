#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>

#include "hlstm/core/log.hpp"
#include "stages.hpp"

namespace hlstm::pipeline {
namespace {

// run.incumbent: a challenger must beat the incumbent by this many standard errors of the per-cut
// score differences (as the position choice's paired test, position_choice.cpp).
constexpr double kIncumbentT = 2.0;

// Each subregion's winner among its candidates and the baselines.
std::vector<Choice> choose(const RunConfig& rc, const Plan& plan, const std::vector<TaskResult>& results,
                           const std::vector<BaselineScore>& baselineScores, const BaselineSet& baselines,
                           std::int32_t nSub) {
    std::vector<Choice> choice(static_cast<std::size_t>(nSub));
    auto better = [](double a, double b) { return std::isfinite(a) && (!std::isfinite(b) || a < b); };
    std::vector<const CutScores*> bestCuts(static_cast<std::size_t>(nSub), nullptr);
    for (const auto& r : results) {
        const std::int32_t sub = plan.tasks[static_cast<std::size_t>(r.index)].subregion;
        if (sub >= nSub) continue;  // a learned baseline's model, not a candidate
        auto& c = choice[static_cast<std::size_t>(sub)];
        const double key = rc.selectSmoothed ? r.score : r.validationMae;
        if (r.status != 0) continue;
        if (better(key, c.task < 0 ? std::nan("") : c.score)) {
            c.task = c.learned = r.index;
            c.score = key;
            bestCuts[static_cast<std::size_t>(sub)] = &r.cutScores;
        }
        if (better(r.score, c.bestCandidate)) c.bestCandidate = r.score;
    }
    // Each subregion's judged baselines (the scoring rank's records: the others' scores are NaN).
    std::vector<std::vector<const BaselineScore*>> judged(static_cast<std::size_t>(nSub));
    for (const auto& b : baselineScores) {
        auto& c = choice[static_cast<std::size_t>(b.subregion)];
        if (std::isfinite(b.score)) judged[static_cast<std::size_t>(b.subregion)].push_back(&b);
        if (better(b.score, c.bestBaselineScore)) {
            c.bestBaselineScore = b.score;
            c.bestBaseline = b.baseline;
        }
    }
    // Velocity is the fallback when nothing can be judged (no validation point): in this
    // project's measurements it is the most robust baseline against the noise-free signal.
    const auto velocity = std::find(baselines.kinds.begin(), baselines.kinds.end(), model::BaselineKind::kVelocity);
    const std::int32_t fallback =
        velocity != baselines.kinds.end() ? static_cast<std::int32_t>(velocity - baselines.kinds.begin()) : 0;
    for (std::size_t s = 0; s < choice.size(); ++s) {
        auto& c = choice[s];
        char line[256];
        const std::string bname =
            c.bestBaseline >= 0 ? model::toString(baselines.kinds[static_cast<std::size_t>(c.bestBaseline)]) : "none";
        // run.incumbent: the incumbent baseline keeps the subregion unless the best candidate is
        // lower on average and significantly so, paired over the cuts (significantlyBetter): an
        // epoch's atmosphere is shared by every point of a subregion, so a mean over a few cuts
        // can be won on their noise. The other baselines do not challenge it: local_annual nests
        // velocity and linear_trend (a line), and on 17 atmosphere scenes letting them take
        // subregions on the same test cost 3 % at h = 12 (README, "The incumbent").
        const BaselineScore* inc = nullptr;
        for (const BaselineScore* b : judged[s])
            if (b->baseline == rc.incumbent) inc = b;
        if (rc.incumbent >= 0 && inc != nullptr) {
            const std::string iname = model::toString(baselines.kinds[static_cast<std::size_t>(rc.incumbent)]);
            const bool learned = c.task >= 0 && bestCuts[s] != nullptr && better(c.score, inc->score) &&
                                 significantlyBetter(*bestCuts[s], inc->cutScores, kIncumbentT);
            if (learned)
                std::snprintf(line, sizeof line,
                              "%s: validation error vs smoothed rates %.4f < incumbent %s's %.4f mm/step, by more "
                              "than %.0f standard errors over the cuts",
                              model::toString(rc.shape.cell).c_str(), c.score, iname.c_str(), inc->score, kIncumbentT);
            else
                std::snprintf(line, sizeof line,
                              "incumbent %s (%.4f mm/step): the best candidate (%.4f) does not beat it by %.0f "
                              "standard errors over the cuts (best other baseline %s %.4f)",
                              iname.c_str(), inc->score, c.bestCandidate, kIncumbentT, bname.c_str(),
                              c.bestBaselineScore);
            if (!learned) {
                c.task = -1;
                c.baseline = rc.incumbent;
                c.score = inc->score;
            }
            c.why = line;
            continue;
        }
        if (rc.selectSmoothed && c.bestBaseline >= 0 && better(c.bestBaselineScore, c.score)) {
            if (c.task >= 0)
                std::snprintf(line, sizeof line,
                              "baseline %s: validation error vs smoothed rates %.4f < best candidate's %.4f mm/step",
                              bname.c_str(), c.bestBaselineScore, c.score);
            else
                std::snprintf(line, sizeof line,
                              "baseline %s: no grid candidate trained; validation error vs smoothed rates %.4f mm/step",
                              bname.c_str(), c.bestBaselineScore);
            c.task = -1;
            c.baseline = c.bestBaseline;
            c.score = c.bestBaselineScore;
        } else if (c.task >= 0) {
            // Ties go to the learned model.
            if (rc.selectSmoothed)
                std::snprintf(line, sizeof line,
                              "%s: validation error vs smoothed rates %.4f <= best baseline's (%s) %.4f mm/step",
                              model::toString(rc.shape.cell).c_str(), c.score, bname.c_str(), c.bestBaselineScore);
            else
                std::snprintf(line, sizeof line, "%s: smallest next-step validation MAE (eq. 3) %.4f mm",
                              model::toString(rc.shape.cell).c_str(), c.score);
        } else if (c.bestBaseline >= 0) {
            // No usable candidate (paper selection): fall back to the best baseline and say so.
            std::snprintf(line, sizeof line, "baseline %s: no grid candidate trained (fallback)", bname.c_str());
            c.baseline = c.bestBaseline;
            c.score = c.bestBaselineScore;
        } else {
            c.baseline = fallback;
            std::snprintf(line, sizeof line, "baseline %s: no validation point to judge any method by (fallback)",
                          model::toString(baselines.kinds[static_cast<std::size_t>(fallback)]).c_str());
        }
        c.why = line;
        if (c.task < 0) log::debug() << "subregion fallback: " << line;
    }
    return choice;
}

// Paper II-C accepts a model when its train and test error curves have converged: every
// candidate is judged (model::convergence: 1 converged, 0 not, -1 no curve recorded), and a
// learned winner that has not converged is a warning on the log (root).
void judgeCurves(const RunContext& ctx, Selection& sel) {
    const std::size_t epochs = static_cast<std::size_t>(ctx.rc.train.epochs), width = curveWidth(ctx.rc);
    std::vector<std::string> why(sel.results.size());
    for (std::size_t i = 0; i < sel.results.size(); ++i) {
        const double* row = sel.curves.data() + i * width;
        const std::size_t n = std::min(epochs, static_cast<std::size_t>(std::max(sel.results[i].epochs, 0)));
        if (n == 0 || std::isnan(row[0])) {  // no curve recorded: not judged
            sel.converged.push_back(-1);
            continue;
        }
        const model::Convergence c =
            model::convergence({row, row + n}, {row + epochs, row + epochs + n}, ctx.rc.train.convergenceTol);
        sel.converged.push_back(sel.results[i].status == 0 && c.converged ? 1 : 0);
        why[i] = sel.results[i].status == 0 ? c.why : std::string("the candidate failed");
    }
    if (!ctx.comm.isRoot()) return;
    for (std::size_t s = 0; s < sel.choice.size(); ++s) {
        const std::int32_t task = sel.choice[s].task;
        if (task < 0) continue;
        for (std::size_t i = 0; i < sel.results.size(); ++i) {
            if (sel.results[i].index != task || sel.converged[i] != 0) continue;
            const Task& t = ctx.plan.tasks[static_cast<std::size_t>(task)];
            log::warn() << "subregion " << s << ": the winner (L=" << t.L << " K=" << t.K << " S=" << t.S
                        << ") has not converged after " << sel.results[i].epochs << " epochs: " << why[i]
                        << " (/grid_search/converged; more train.epochs or a smaller train.lr may help)";
        }
    }
}

}  // namespace

Selection selectStage(const RunContext& ctx, const TrainOutcome& trained, const BaselineOutcome& baselineOut,
                      const BaselineSet& baselines) {
    Selection sel;
    {
        // Results and their curve rows arrive in the same (rank) order; both go to task order.
        const std::vector<TaskResult> results = ctx.comm.allgatherv(trained.local);
        const std::size_t width = curveWidth(ctx.rc);
        // Results without curves (update's fine-tuning records none) get NaN rows.
        std::vector<double> mine = trained.curves;
        mine.resize(trained.local.size() * width, std::numeric_limits<double>::quiet_NaN());
        const std::vector<double> curves = ctx.comm.allgatherv(mine);
        std::vector<std::size_t> order(results.size());
        for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
        std::sort(order.begin(), order.end(),
                  [&](std::size_t a, std::size_t b) { return results[a].index < results[b].index; });
        for (std::size_t i : order) {
            sel.results.push_back(results[i]);
            sel.curves.insert(sel.curves.end(), curves.begin() + static_cast<std::ptrdiff_t>(i * width),
                              curves.begin() + static_cast<std::ptrdiff_t>((i + 1) * width));
        }
    }
    sel.baselineScores = ctx.comm.allgatherv(baselineOut.local);
    std::sort(sel.baselineScores.begin(), sel.baselineScores.end(), [](const BaselineScore& a, const BaselineScore& b) {
        return a.subregion != b.subregion ? a.subregion < b.subregion : a.baseline < b.baseline;
    });
    sel.choice = choose(ctx.rc, ctx.plan, sel.results, sel.baselineScores, baselines, ctx.nSub);
    judgeCurves(ctx, sel);
    return sel;
}

}  // namespace hlstm::pipeline
