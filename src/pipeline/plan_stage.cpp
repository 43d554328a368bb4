#include <algorithm>
#include <chrono>
#include <limits>
#include <sstream>
#include <tuple>

#include "hlstm/core/log.hpp"
#include "hlstm/core/memory.hpp"
#include "hlstm/model/network.hpp"
#include "stages.hpp"

namespace hlstm::pipeline {
namespace {

// Cost units (candidateCost's flop count) per second one rank with 1 thread trains at, as
// timed on one of this project's VMs; only a fallback when a shape's timing fails (the plan
// log measures every candidate shape on the running machine).
constexpr double kFlopsPerSecondPerRank = 6.3e10;

}  // namespace

Plan planStage(const Comm& comm, const RunConfig& rc, const partition::PartitionSummary& summary,
               std::uint64_t totalPoints, std::size_t visibleEpochs, bool dryRun,
               const std::vector<PlanSubregion>* fixed) {
    const auto& subs = summary.subregions;
    PlanSettings settings;
    settings.L = rc.L;
    settings.K = rc.K;
    settings.S = rc.S;
    settings.horizon = rc.horizon;
    settings.labelReach = rc.shape.labelLead() + rc.shape.inputGap();
    settings.shardShare = rc.shardShare;
    settings.shards = rc.shards;
    settings.epochs = rc.train.epochs;
    settings.validationFraction = rc.train.validationFraction;
    settings.allWindows = rc.train.sampling == model::Sampling::kAll;
    settings.stride = rc.train.stride;
    settings.visibleEpochs = visibleEpochs;
    Plan plan;
    if (comm.isRoot()) {
        std::vector<PlanSubregion> ps;
        for (const auto& s : subs) ps.push_back({s.id, s.nPoints});
        // Learned baselines: the largest grid shape, trained on all points as one region.
        const auto maxOf = [](const std::vector<std::int64_t>& v) {
            return static_cast<std::int32_t>(*std::max_element(v.begin(), v.end()));
        };
        for (const auto& l : rc.learned())
            ps.push_back({static_cast<std::int32_t>(ps.size()), totalPoints, true, maxOf(rc.L), maxOf(rc.K),
                          maxOf(rc.S), static_cast<std::int32_t>(l.cell)});
        if (fixed != nullptr) ps = *fixed;
        plan = buildPlan(ps, settings, comm.size());
    }
    comm.bcast(plan);
    for (const auto& s : subs)
        if (plan.ranksOf(s.id).empty())
            throw ConfigError("grid.L: no L leaves a training window in " + std::to_string(visibleEpochs) +
                              " visible epochs (need L + 1 + " + std::to_string(rc.shape.labelLead()) +
                              " <= visible epochs)");
    {
        // Calibrated on this machine: time a few training steps of every candidate shape and
        // turn the flop costs into seconds at the measured speed (the plan itself stays
        // flop-based, so it never depends on timing). Every rank times every shape at the same
        // time and the speeds are averaged: a node whose cores all train runs slower than one
        // core alone (shared caches, memory bandwidth, clock), and so will the run.
        // A data-parallel candidate's minibatch is cut into train.shards shards; a rank of its
        // group of g computes ceil(shards / g) of them, each at the shard's batch size (small
        // batches run at a lower rate), so its speed is timed at that batch and counted per
        // group rank.
        const int shardBatch = std::max(1, rc.train.batch / rc.shards);
        std::map<std::tuple<int, int, int, int, int>, double> speed;  // (L, K, S, cell, group or 0) -> flop/s
        std::vector<double> taskSpeed(plan.tasks.size(), kFlopsPerSecondPerRank * rc.threads);
        const auto calibrationStart = std::chrono::steady_clock::now();
        // An update's fixed plan (one short fine-tuning per subregion) is not timed: the
        // calibration took longer than the fine-tuning itself (1.09 s of a 3.7 s update at 30,000
        // points); its expected time is at the nominal speed.
        const bool calibrate = fixed == nullptr;
        for (const auto& t : plan.tasks) {
            const int g = t.sharded ? t.groupSize : 0;
            const auto key = std::make_tuple(t.L, t.K, t.S, t.cell, g);
            if (speed.count(key) != 0) continue;
            if (!calibrate) {
                speed.emplace(key, kFlopsPerSecondPerRank * rc.threads);
                continue;
            }
            const int batch = t.sharded ? shardBatch : rc.train.batch;
            const double step = model::timeTrainingStep(rc.shapeOf(t), batch, rc.threads) *
                                (t.sharded ? (rc.shards + g - 1) / g * g : 1);
            const double flops =
                candidateCost(static_cast<std::uint64_t>(rc.train.batch), t.L, t.K, t.S, settings.horizon, 1);
            speed.emplace(key, step > 0 ? flops / step : kFlopsPerSecondPerRank * rc.threads);
        }
        {
            std::vector<double> local;  // in key order, the same on every rank
            for (const auto& [key, v] : speed) local.push_back(v);
            const std::vector<double> all = comm.allgatherv(local);
            for (std::size_t k = 0; k < local.size(); ++k) {
                double sum = 0;
                for (int r = 0; r < comm.size(); ++r) sum += all[static_cast<std::size_t>(r) * local.size() + k];
                local[k] = sum / comm.size();
            }
            std::size_t k = 0;
            for (auto& [key, v] : speed) v = local[k++];
        }
        for (const auto& t : plan.tasks)
            taskSpeed[static_cast<std::size_t>(t.index)] =
                speed.at(std::make_tuple(t.L, t.K, t.S, t.cell, t.sharded ? t.groupSize : 0));
        logMemory("plan: calibrated");
        const double calibration =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - calibrationStart).count();
        plan.expectedSeconds = expectedSeconds(plan, taskSpeed, comm.size());  // the same on every rank
        if (!comm.isRoot()) return plan;
        double slowest = std::numeric_limits<double>::infinity(), fastest = 0;
        for (const auto& [key, v] : speed) {
            slowest = std::min(slowest, v);
            fastest = std::max(fastest, v);
        }
        std::ostringstream os;
        os << "plan: " << subs.size() << " subregion(s), " << plan.tasks.size() << " candidate(s) on " << comm.size()
           << " rank(s); target " << model::toString(rc.shape.target) << ", selection "
           << (rc.selectSmoothed ? "smoothed (candidates and baselines)" : "paper (candidates only)");
        for (const auto& s : subs) {
            std::string r;
            for (auto x : plan.ranksOf(s.id)) r += (r.empty() ? "" : ",") + std::to_string(x);
            os << "\n  subregion " << s.id << (s.noise ? " (noise)" : "") << ": zone " << s.zone << ", " << s.nPoints
               << " points, mean velocity " << s.meanVelocity << " mm/yr, candidates on ranks [" << r << "]";
        }
        for (int r = 0; r < comm.size(); ++r) {
            std::size_t count = 0;
            double seconds = 0;
            for (const auto& t : plan.tasks) {
                const int g = t.sharded ? t.groupSize : 1;
                if (r < t.rank || r >= t.rank + g) continue;
                ++count;
                seconds += t.cost / taskSpeed[static_cast<std::size_t>(t.index)] / g;
            }
            const double load = plan.loadPerRank[static_cast<std::size_t>(r)];
            os << "\n  rank " << r << ": " << count << " candidate(s), " << load / 1e9 << " GFLOP, ~" << seconds
               << " s";
        }
        double total = 0;
        for (const auto& t : plan.tasks) total += t.cost;
        for (const auto& t : plan.tasks)
            if (t.sharded)
                os << "\n  data-parallel on ranks " << t.rank << ".." << t.rank + t.groupSize - 1 << " (" << rc.shards
                   << " shards per minibatch): subregion " << t.subregion << " L=" << t.L << " K=" << t.K
                   << " S=" << t.S << ", " << 100.0 * t.cost / total << " % of the cost";
        if (calibrate)
            os << "\n  expected training wall time: ~" << plan.expectedSeconds << " s (measured on this machine in "
               << calibration << " s: " << slowest / 1e9 << " .. " << fastest / 1e9 << " GFLOP/s per rank over "
               << speed.size() << " shape(s); add read/partition/write, and a margin, for sbatch --time)";
        if (dryRun || log::enabled(log::Level::kInfo)) log::info() << os.str();
    }
    return plan;
}

}  // namespace hlstm::pipeline
