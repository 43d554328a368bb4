#include <sys/resource.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "hlstm/core/log.hpp"
#include "hlstm/core/memory.hpp"
#include "stages.hpp"

namespace hlstm::pipeline {

void PhaseTimer::start(const std::string& name) {
    stop();
    name_ = name;
    t0_ = std::chrono::steady_clock::now();
}

void PhaseTimer::stop() {
    if (name_.empty()) return;
    phases_.emplace_back(name_, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count());
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    highWater_.push_back(usage.ru_maxrss);
    releaseFreeMemory();  // what the phase freed is not resident in the next one
    logMemory("end of " + name_);
    name_.clear();
}

void PhaseTimer::report(const Comm& comm) {
    stop();
    double total = 0;
    std::ostringstream os;
    os << "phase timings (slowest rank):\n";
    for (const auto& [name, seconds] : phases_) {
        const double worst = comm.allreduce(seconds, Reduce::kMax);
        total += worst;
        char line[128];
        std::snprintf(line, sizeof line, "  %-14s %10.3f s\n", name.c_str(), worst);
        os << line;
    }
    char line[128];
    std::snprintf(line, sizeof line, "  %-14s %10.3f s", "total", total);
    os << line;
    // Peak resident memory of every rank (Linux reports ru_maxrss in KiB).
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    const auto peaks = comm.allgather<long>(usage.ru_maxrss);
    os << "\npeak memory per rank (MiB):";
    for (std::size_t r = 0; r < peaks.size(); ++r) os << (r ? ", " : " ") << "r" << r << " " << peaks[r] / 1024;
    // The phase in which each rank's high-water mark was reached (the first that ended at it),
    // and the mark after every phase: where memory grows, not only how far.
    const std::vector<long> marks = comm.allgatherv(highWater_);
    const std::size_t nPhases = highWater_.size();
    if (marks.size() == nPhases * peaks.size()) {
        os << "\npeak memory phase per rank:";
        for (std::size_t r = 0; r < peaks.size(); ++r) {
            std::size_t at = 0;
            while (at + 1 < nPhases && marks[r * nPhases + at] < marks[r * nPhases + nPhases - 1]) ++at;
            os << (r ? ", " : " ") << "r" << r << " " << (nPhases > 0 ? phases_[at].first : std::string("none"));
        }
        os << "\nmemory high-water mark after each phase (MiB, per rank):";
        for (std::size_t p = 0; p < nPhases; ++p) {
            os << (p ? "; " : " ") << phases_[p].first;
            for (std::size_t r = 0; r < peaks.size(); ++r) os << (r ? "/" : " ") << marks[r * nPhases + p] / 1024;
        }
    }
    if (comm.isRoot()) log::info() << os.str();
}

void report(const RunContext& ctx, const RunOutputs& r, const std::string& output) {
    const RunConfig& rc = ctx.rc;
    const MetricBook& book = r.eval.book;
    const bool hasTruth = r.block.stats.hasTruth;
    const auto& subs = r.part.summary.subregions;
    std::ostringstream os;
    char line[320];
    os << "holdout forecast of the last " << rc.horizon << " epoch(s), per subregion (MAE of the differential, mm):\n";
    std::snprintf(line, sizeof line, "  %4s %5s %8s %-12s %4s %3s %3s %9s %9s %9s %10s %10s\n", "sub", "zone", "points",
                  "method", "L", "K", "S", "MAE", "SD", "acc %", "MAE truth", "persist");
    os << line;
    for (std::size_t s = 0; s < subs.size(); ++s) {
        const Choice& c = r.selection.choice[s];
        const Task* t = c.task >= 0 ? &ctx.plan.tasks[static_cast<std::size_t>(c.task)] : nullptr;
        const std::string method = t ? model::toString(rc.shape.cell)
                                   : c.baseline >= 0
                                       ? model::toString(r.baselines.kinds[static_cast<std::size_t>(c.baseline)])
                                       : "none";
        const auto& mt = book["sub"][s];
        std::snprintf(line, sizeof line, "  %4d %5d %8llu %-12s %4d %3d %3d %9.3f %9.3f %9.2f %10.3f %10.3f\n",
                      subs[s].id, subs[s].zone, static_cast<unsigned long long>(subs[s].nPoints), method.c_str(),
                      t ? t->L : -1, t ? t->K : -1, t ? t->S : -1, mt.mae, mt.sd, mt.accuracy,
                      hasTruth ? book["sub_truth"][s].mae : std::nan(""), book["persistence/sub"][s].mae);
        os << line;
    }
    os << "methods on the same holdout and points (MAE, SD, MSE, accuracy vs observed; MAE vs the noise-free truth;\n"
          "compute seconds summed over ranks: HLSTM's grid candidates, each baseline's fit and forecasts):\n";
    std::snprintf(line, sizeof line, "  %-14s %9s %9s %9s %9s %10s %10s\n", "method", "MAE", "SD", "MSE", "acc %",
                  "MAE truth", "seconds");
    os << line;
    auto row = [&](const std::string& name, const Metrics& m, double truth, double seconds) {
        std::snprintf(line, sizeof line, "  %-14s %9.3f %9.3f %9.3f %9.2f %10.3f %10.2f\n", name.c_str(), m.mae, m.sd,
                      m.mse, m.accuracy, truth, seconds);
        os << line;
    };
    const auto nSub = static_cast<std::int32_t>(subs.size());
    double hlstmSeconds = 0;
    std::vector<double> baselineSeconds(r.eval.names.size(), 0.0);
    for (const auto& tr : r.selection.results) {
        const auto sub = ctx.plan.tasks[static_cast<std::size_t>(tr.index)].subregion;
        if (sub < nSub)
            hlstmSeconds += tr.seconds;
        else
            baselineSeconds[r.baselines.kinds.size() + static_cast<std::size_t>(sub - nSub)] += tr.seconds;
    }
    for (const auto& bs : r.selection.baselineScores)
        baselineSeconds[static_cast<std::size_t>(bs.baseline)] += bs.seconds;
    row("HLSTM", book["global"][0], hasTruth ? book["global_truth"][0].mae : std::nan(""), hlstmSeconds);
    for (std::size_t b = 0; b < r.eval.names.size(); ++b) {
        const std::string& name = r.eval.names[b];
        row(name, book[name][0], hasTruth ? book[name + "/truth"][0].mae : std::nan(""), baselineSeconds[b]);
    }
    os << errorTable(r.eval.errors, r.eval.names, hasTruth) << "\n";
    os << tableFour(ctx, r);
    std::size_t learned = 0, fallback = 0;
    std::uint64_t learnedPoints = 0, fallbackPoints = 0;
    for (std::size_t s = 0; s < subs.size(); ++s) {
        if (r.selection.choice[s].task >= 0) {
            ++learned;
            learnedPoints += subs[s].nPoints;
        } else {
            ++fallback;
            fallbackPoints += subs[s].nPoints;
        }
    }
    std::snprintf(line, sizeof line,
                  "selection: the learned model won %zu subregion(s) (%llu points), a baseline %zu (%llu points)",
                  learned, static_cast<unsigned long long>(learnedPoints), fallback,
                  static_cast<unsigned long long>(fallbackPoints));
    os << line;
    if (rc.interval > 0) {
        std::snprintf(line, sizeof line, "\n%.0f %% intervals: holdout coverage %.3f", rc.interval * 100,
                      r.eval.coverage);
        os << line;
    }
    if (rc.horizon > 1) {
        os << "\ncumulative displacement per step, MAE (mm)" << (hasTruth ? " vs truth" : "") << ":";
        const auto& steps = book[hasTruth ? "step_truth" : "step"];
        for (std::size_t y = 0; y < steps.size(); ++y) os << (y ? ", " : " ") << y + 1 << ": " << steps[y].mae;
    }
    {
        // Positions: the level + increments of every method, per step (a selection of steps
        // when Y is large), against the observed positions and the truth's.
        std::vector<std::size_t> steps;
        for (std::size_t y : {1, 2, 3, 6, 12, 24})
            if (y <= static_cast<std::size_t>(rc.horizon)) steps.push_back(y);
        if (steps.back() != static_cast<std::size_t>(rc.horizon)) steps.push_back(static_cast<std::size_t>(rc.horizon));
        os << "\nposition (absolute, mm) MAE per step h vs observed" << (hasTruth ? " | vs truth" : "")
           << "; every method on the same level (a " << (rc.level.degree == 2 ? "quadratic" : "line")
           << " through the last " << rc.level.epochs << " visible epochs"
           << (rc.level.season ? " less their local annual terms" : "") << ") but the last four:\n";
        std::snprintf(line, sizeof line, "  %-22s", "method");
        os << line;
        for (int pass = 0; pass < (hasTruth ? 2 : 1); ++pass) {
            os << (pass ? " |" : "");
            for (std::size_t y : steps) {
                std::snprintf(line, sizeof line, " %7s", ("h=" + std::to_string(y)).c_str());
                os << line;
            }
        }
        auto posRow = [&](const std::string& label, const std::string& key) {
            std::snprintf(line, sizeof line, "\n  %-22s", label.c_str());
            os << line;
            for (int pass = 0; pass < (hasTruth ? 2 : 1); ++pass) {
                const auto& v = book[key + (pass ? "_truth" : "")];
                os << (pass ? " |" : "");
                for (std::size_t y : steps) {
                    std::snprintf(line, sizeof line, " %7.3f", v[y - 1].mae);
                    os << line;
                }
            }
        };
        posRow("HLSTM", "pos_step");
        for (const auto& name : r.eval.positionNames) posRow(name, name + "/pos_step");
    }
    log::info() << os.str();
    log::info() << "wrote " << output << " (" << fileSizeText(output) << ")";
}

}  // namespace hlstm::pipeline
