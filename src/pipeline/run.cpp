#include "hlstm/pipeline/run.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <boost/serialization/string.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <map>
#include <sstream>

#include "hlstm/core/coordinated.hpp"
#include "hlstm/core/log.hpp"
#include "hlstm/core/random.hpp"
#include "hlstm/core/signals.hpp"
#include "hlstm/data/native_reader.hpp"
#include "hlstm/data/simulate.hpp"
#include "hlstm/io/hdf5.hpp"
#include "hlstm/model/model.hpp"
#include "hlstm/partition/output.hpp"
#include "hlstm/partition/partition.hpp"
#include "hlstm/pipeline/metrics.hpp"
#include "hlstm/pipeline/plan.hpp"
#include "hlstm/version.hpp"

namespace hlstm::pipeline {
namespace {

// Cost units (candidateCost's flop count) per second one rank with 1 thread trains at, as
// timed by `hlstm run` on this project's 2-core VMs (Cangzhou: 1.39e13 in 221 s); used only
// for the --dry-run wall-time estimate.
constexpr double kFlopsPerSecondPerRank = 6.3e10;
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// ---------------------------------------------------------------- phase timing
class PhaseTimer {
public:
    void start(const std::string& name) {
        stop();
        name_ = name;
        t0_ = std::chrono::steady_clock::now();
    }
    void stop() {
        if (name_.empty()) return;
        phases_.emplace_back(name_, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count());
        name_.clear();
    }
    // Root prints every phase's slowest rank; collective.
    void report(const Comm& comm) {
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
        if (comm.isRoot()) log::info() << os.str();
    }

private:
    std::string name_;
    std::chrono::steady_clock::time_point t0_;
    std::vector<std::pair<std::string, double>> phases_;
};

// ---------------------------------------------------------------- small records
// Result of one candidate, all-gathered (trivially copyable).
struct TaskResult {
    std::int32_t index = 0;
    std::int32_t status = 0;
    std::int32_t rank = 0;
    std::int32_t epochs = 0;
    double validationMae = 0;
    double seconds = 0;
    std::uint64_t trainSamples = 0;
    std::uint64_t validationSamples = 0;
};

// A row travelling to a trainer: global row and subregion; the series follows separately.
struct RowHeader {
    std::uint64_t row = 0;
    std::int32_t subregion = 0;
    std::int32_t pad = 0;
};

// A prediction travelling back to the row's owner.
struct PredHeader {
    std::uint64_t row = 0;
    std::int32_t split = 0;  // 0 train, 1 validation (of the winning candidate)
    std::int32_t pad = 0;
};

// Rows of one subregion held by a trainer, in ascending global row order.
struct SubregionRows {
    std::vector<std::uint64_t> rows;
    std::vector<float> full;     // rows x epochs (all epochs)
    std::vector<float> visible;  // rows x visible epochs
};

std::string fileSizeText(const std::string& path) {
    std::error_code ec;
    auto size = std::filesystem::file_size(path, ec);
    if (ec) return "?";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f MB", static_cast<double>(size) / 1e6);
    return buf;
}

// FNV-1a of the input file, for provenance in the output (root reads the file once).
std::string checksumOf(const std::string& path) {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (f == nullptr) return "";
    std::uint64_t h = 1469598103934665603ULL;
    std::vector<unsigned char> buf(1 << 20);
    std::size_t n = 0;
    while ((n = std::fread(buf.data(), 1, buf.size(), f)) > 0)
        for (std::size_t i = 0; i < n; ++i) h = (h ^ buf[i]) * 1099511628211ULL;
    std::fclose(f);
    char out[32];
    std::snprintf(out, sizeof out, "fnv1a64:%016llx", static_cast<unsigned long long>(h));
    return out;
}

template <class T>
void writeRowsOf(const h5::File& file, const std::string& path, std::uint64_t total, std::uint64_t offset,
                 const std::vector<T>& local, std::uint64_t width = 1) {
    std::vector<std::uint64_t> dims{total};
    if (width > 1) dims.push_back(width);
    file.createDataset<T>(path, dims).writeRows(offset, local.size() / std::max<std::uint64_t>(1, width), local.data());
}

// Block owners send each subregion's rows to the ranks that train it (two Alltoallv: row
// headers, then series). Rows arrive in rank order, each rank's ascending, so every
// subregion's rows are in global row order whatever the rank count (collective).
std::map<std::int32_t, SubregionRows> redistribute(const Comm& comm, const PointSet& points,
                                                   const std::vector<std::int32_t>& subregion, const Plan& plan,
                                                   std::size_t visibleEpochs) {
    const std::size_t m = points.nEpochs();
    const auto ranks = static_cast<std::size_t>(comm.size());
    std::vector<std::vector<std::size_t>> toRank(ranks);
    for (std::size_t i = 0; i < points.size(); ++i)
        for (auto r : plan.ranksOf(subregion[i])) toRank[static_cast<std::size_t>(r)].push_back(i);
    std::vector<RowHeader> sendHead;
    std::vector<float> sendSeries;
    std::vector<std::size_t> headCounts(ranks, 0), seriesCounts(ranks, 0);
    for (std::size_t r = 0; r < ranks; ++r) {
        for (std::size_t i : toRank[r]) {
            sendHead.push_back({points.rows[i], subregion[i], 0});
            sendSeries.insert(sendSeries.end(), points.series(i), points.series(i) + m);
        }
        headCounts[r] = toRank[r].size();
        seriesCounts[r] = toRank[r].size() * m;
    }
    toRank.clear();
    const std::vector<RowHeader> recvHead = comm.alltoallv(sendHead, headCounts);
    sendHead = {};
    std::vector<float> recvSeries = comm.alltoallv(sendSeries, seriesCounts);
    sendSeries = {};
    std::map<std::int32_t, SubregionRows> mine;
    for (std::size_t k = 0; k < recvHead.size(); ++k) {
        auto& sr = mine[recvHead[k].subregion];
        sr.rows.push_back(recvHead[k].row);
        const float* s = recvSeries.data() + k * m;
        sr.full.insert(sr.full.end(), s, s + m);
        sr.visible.insert(sr.visible.end(), s, s + visibleEpochs);
    }
    std::uint64_t heldRows = 0;
    for (const auto& [s, sr] : mine) heldRows += sr.rows.size();
    log::debug() << "holds " << heldRows << " rows of " << mine.size() << " subregion(s) for training";
    return mine;
}

// The eq. (5)-(7) columns of one metrics table: <prefix>{n,mae,sd,mse,accuracy}.
void writeMetricColumns(const h5::File& out, const std::string& prefix, const std::vector<Metrics>& table) {
    std::vector<std::uint64_t> n;
    std::vector<double> mae, sd, mse, accuracy;
    for (const auto& m : table) {
        n.push_back(m.n);
        mae.push_back(m.mae);
        sd.push_back(m.sd);
        mse.push_back(m.mse);
        accuracy.push_back(m.accuracy);
    }
    out.writeSmall(prefix + "n", n);
    out.writeSmall(prefix + "mae", mae);
    out.writeSmall(prefix + "sd", sd);
    out.writeSmall(prefix + "mse", mse);
    out.writeSmall(prefix + "accuracy", accuracy);
}

}  // namespace

int run(const Comm& comm, const Config& config, const RunArgs& args) {
    PhaseTimer timer;
    const int Y = static_cast<int>(config.getInt("model.horizon"));
    const int H = static_cast<int>(config.getInt("run.holdout"));
    if (Y < 1) throw ConfigError("model.horizon must be at least 1");
    if (H != Y) throw ConfigError("run.holdout (" + std::to_string(H) + ") must equal model.horizon (" +
                                  std::to_string(Y) + "): the hidden epochs are what the models forecast");
    if (args.output.empty() && !args.dryRun) throw ConfigError("run: -o OUTPUT is required");
    const model::TrainConfig trainConfig = model::trainConfigFrom(config);
    trainConfig.validate();
    const int threads = model::resolveThreads(trainConfig.threads);
    const std::string tmpPath = args.output + ".tmp";

    // ---- input (simulated when none is given)
    timer.start("read");
    std::string input = args.input.empty() ? config.getString("input.path") : args.input;
    if (input.empty()) {
        input = (args.output.empty() ? std::string("hlstm-dry-run") : args.output) + ".input.h5";
        SimulateOptions so;
        so.kind = config.getString("simulate.kind") == "patterns" ? SceneKind::kPatterns : SceneKind::kScene;
        so.points = static_cast<std::uint64_t>(config.getInt("simulate.points"));
        so.epochs = static_cast<std::uint64_t>(config.getInt("simulate.epochs"));
        so.seed = static_cast<std::uint64_t>(config.getInt("simulate.seed"));
        if (comm.isRoot())
            log::info() << "input.path is empty: simulating a " << config.getString("simulate.kind") << " of "
                        << so.points << " points x " << so.epochs << " epochs -> " << input;
        simulate(comm, so, input);
    }
    ReadOptions readOptions;
    readOptions.minValidFraction = config.getDouble("input.min_valid_fraction");
    LocalBlock block = readNative(comm, input, readOptions);
    const std::size_t m = block.points.nEpochs();
    const std::uint64_t nTotal = block.keptTotal;
    const std::size_t nLocal = block.points.size();
    if (comm.isRoot())
        log::info() << "read " << input << " (" << fileSizeText(input) << "): " << nTotal << " points x " << m
                    << " epochs, " << block.stats.dropped << " dropped, unit " << block.stats.unit << ", "
                    << comm.size() << " rank(s) x " << threads << " thread(s)";
    if (m < static_cast<std::size_t>(H) + 3)
        throw InputError(input + ": " + std::to_string(m) + " epochs leave fewer than 3 visible after holding out " +
                         std::to_string(H));
    const std::size_t visibleEpochs = m - static_cast<std::size_t>(H);
    const bool hasTruth = block.stats.hasTruth;  // a file-level fact, the same on every rank

    // ---- partition on the visible epochs only (holdout protocol)
    timer.start("partition");
    partition::PartitionConfig pcfg = partition::PartitionConfig::fromConfig(config);
    pcfg.epochs = visibleEpochs;
    partition::PartitionResult part = partition::run(comm, block.points, pcfg);
    const auto& subs = part.summary.subregions;
    const std::int32_t nSub = static_cast<std::int32_t>(subs.size());

    // ---- plan (rank 0 builds it, every rank receives it)
    timer.start("plan");
    Plan plan;
    PlanSettings settings;
    settings.L = config.getIntList("grid.L");
    settings.K = config.getIntList("grid.K");
    settings.S = config.getIntList("grid.S");
    settings.horizon = Y;
    settings.epochs = trainConfig.epochs;
    settings.validationFraction = trainConfig.validationFraction;
    settings.allWindows = trainConfig.sampling == model::Sampling::kAll;
    settings.stride = trainConfig.stride;
    settings.visibleEpochs = visibleEpochs;
    for (auto v : settings.L)
        if (v < Y + 1) throw ConfigError("grid.L: every L must exceed model.horizon (got " + std::to_string(v) + ")");
    for (auto v : settings.K)
        if (v < 1) throw ConfigError("grid.K: every K must be at least 1");
    for (auto v : settings.S)
        if (v < 1) throw ConfigError("grid.S: every S must be at least 1");
    if (comm.isRoot()) {
        std::vector<PlanSubregion> ps;
        for (const auto& s : subs) ps.push_back({s.id, s.nPoints});
        plan = buildPlan(ps, settings, comm.size());
    }
    comm.bcast(plan);
    for (std::int32_t s = 0; s < nSub; ++s)
        if (plan.ranksOf(s).empty())
            throw ConfigError("grid.L: no L leaves a training window in " + std::to_string(visibleEpochs) +
                              " visible epochs (need L + 1 <= visible epochs)");
    const double expected = expectedSeconds(plan, kFlopsPerSecondPerRank * threads);
    if (comm.isRoot()) {
        std::ostringstream os;
        os << "plan: " << nSub << " subregion(s), " << plan.tasks.size() << " candidate(s) on " << comm.size()
           << " rank(s)";
        for (const auto& s : subs)
            os << "\n  subregion " << s.id << (s.noise ? " (noise)" : "") << ": zone " << s.zone << ", " << s.nPoints
               << " points, mean velocity " << s.meanVelocity << " mm/yr, candidates on ranks [" << [&] {
                      std::string r;
                      for (auto x : plan.ranksOf(s.id)) r += (r.empty() ? "" : ",") + std::to_string(x);
                      return r;
                  }() << "]";
        for (int r = 0; r < comm.size(); ++r) {
            std::size_t count = 0;
            for (const auto& t : plan.tasks) count += t.rank == r ? 1 : 0;
            os << "\n  rank " << r << ": " << count << " candidate(s), " << plan.loadPerRank[static_cast<std::size_t>(r)] / 1e9
               << " GFLOP, ~" << plan.loadPerRank[static_cast<std::size_t>(r)] / (kFlopsPerSecondPerRank * threads)
               << " s";
        }
        os << "\n  expected training wall time: ~" << expected << " s (at " << kFlopsPerSecondPerRank / 1e9
           << " GFLOP/s per thread; add read/partition/write, and a margin, for sbatch --time)";
        log::info() << os.str();
    }
    if (args.dryRun) {
        timer.report(comm);
        return 0;
    }

    // ---- redistribute: block owners send each subregion's rows to the ranks that train it
    timer.start("redistribute");
    std::map<std::int32_t, SubregionRows> mine =
        redistribute(comm, block.points, part.subregion, plan, visibleEpochs);

    // ---- train this rank's candidates
    timer.start("train");
    const std::uint64_t modelSeed = static_cast<std::uint64_t>(config.getInt("model.seed"));
    auto splitSeed = [modelSeed](std::int32_t subregion) {
        constexpr std::uint64_t kSplitStream = 0x5e11;
        return mixKey({modelSeed, kSplitStream, static_cast<std::uint64_t>(subregion)});
    };
    std::vector<TaskResult> localResults;
    std::map<std::int32_t, model::Model> trained;  // task index -> model
    const auto myTasks = plan.tasksOf(comm.rank());
    coordinated(comm, "train", [&] {
        std::size_t done = 0;
        for (const auto& task : myTasks) {
            // Slurm's warning (USR1) or TERM: stop at this task boundary, before the output
            // exists, so that the job can be requeued (exit code 3).
            if (stopSignal() != 0)
                throw StopRequested("signal " + std::to_string(stopSignal()) + " received: stopped before candidate " +
                                    std::to_string(done + 1) + "/" + std::to_string(myTasks.size()) +
                                    " of this rank; nothing was written, resubmit to run again");
            const auto& sr = mine.at(task.subregion);
            const log::Context context("train subregion " + std::to_string(task.subregion) + " L=" +
                                       std::to_string(task.L) + " K=" + std::to_string(task.K) +
                                       " S=" + std::to_string(task.S));
            model::SeriesView view{sr.visible.data(), sr.rows.size(), visibleEpochs};
            model::ModelConfig mc = model::modelConfigFrom(config, task.L, task.K, task.S);
            model::TrainConfig tc = trainConfig;
            tc.threads = threads;
            const std::uint64_t seed = mixKey({modelSeed, static_cast<std::uint64_t>(task.subregion),
                                               static_cast<std::uint64_t>(task.L), static_cast<std::uint64_t>(task.K),
                                               static_cast<std::uint64_t>(task.S)});
            // One split per subregion: every candidate is judged on the same validation points.
            const auto split = model::splitPoints(sr.rows.size(), trainConfig.validationFraction,
                                                  splitSeed(task.subregion));
            model::Model fitted = model::fit(view, split, mc, tc, seed);
            const auto& sm = fitted.summary;
            TaskResult r;
            r.index = task.index;
            r.status = static_cast<std::int32_t>(sm.status);
            r.rank = comm.rank();
            r.epochs = sm.epochs;
            r.validationMae = sm.ok() ? sm.validationMae : std::numeric_limits<double>::quiet_NaN();
            r.seconds = sm.seconds;
            r.trainSamples = sm.trainSamples;
            r.validationSamples = sm.validationSamples;
            localResults.push_back(r);
            ++done;
            log::info() << "candidate " << done << "/" << myTasks.size() << " on this rank: "
                        << model::toString(sm.status) << ", validation MAE " << r.validationMae << " mm, "
                        << sm.epochs << " epochs, train loss " << sm.trainLoss << ", " << sm.seconds << " s";
            trained.emplace(task.index, std::move(fitted));
        }
    });

    // ---- select the best candidate per subregion (eq. 3: smallest validation MAE)
    timer.start("select");
    std::vector<TaskResult> results = comm.allgatherv(localResults);
    std::sort(results.begin(), results.end(), [](const TaskResult& a, const TaskResult& b) { return a.index < b.index; });
    std::vector<std::int32_t> winner(static_cast<std::size_t>(nSub), -1);
    for (const auto& r : results) {
        const auto& t = plan.tasks[static_cast<std::size_t>(r.index)];
        auto& w = winner[static_cast<std::size_t>(t.subregion)];
        if (r.status != 0 || !std::isfinite(r.validationMae)) continue;
        if (w < 0 || r.validationMae < results[static_cast<std::size_t>(w)].validationMae) w = r.index;
    }
    for (auto it = trained.begin(); it != trained.end();) {  // keep winners only
        const auto& t = plan.tasks[static_cast<std::size_t>(it->first)];
        it = winner[static_cast<std::size_t>(t.subregion)] == it->first ? std::next(it) : trained.erase(it);
    }

    // ---- predict: each winner's rank forecasts its subregion (holdout, then beyond the archive)
    timer.start("predict");
    const std::size_t Yn = static_cast<std::size_t>(Y);
    const std::size_t W = Yn * 3;  // holdout pred, next diff, next cumulative
    std::vector<std::uint64_t> ownerOffsets(static_cast<std::size_t>(comm.size()) + 1, 0);
    {
        auto counts = comm.allgather<std::uint64_t>(nLocal);
        for (int r = 0; r < comm.size(); ++r) ownerOffsets[static_cast<std::size_t>(r) + 1] = ownerOffsets[static_cast<std::size_t>(r)] + counts[static_cast<std::size_t>(r)];
    }
    auto ownerOf = [&](std::uint64_t row) {
        return static_cast<int>(std::upper_bound(ownerOffsets.begin(), ownerOffsets.end(), row) - ownerOffsets.begin()) - 1;
    };
    std::vector<std::vector<PredHeader>> predHead(static_cast<std::size_t>(comm.size()));
    std::vector<std::vector<float>> predValues(static_cast<std::size_t>(comm.size()));
    std::vector<std::int32_t> winnerSubregions;
    std::vector<std::string> winnerBytes;
    coordinated(comm, "predict", [&] {
        for (auto& [index, mdl] : trained) {
            const auto& task = plan.tasks[static_cast<std::size_t>(index)];
            const auto& sr = mine.at(task.subregion);
            const std::size_t n = sr.rows.size();
            auto holdout = model::forecast(mdl, {sr.visible.data(), n, visibleEpochs}, threads);
            auto next = model::forecast(mdl, {sr.full.data(), n, m}, threads);
            const auto split = model::splitPoints(n, trainConfig.validationFraction, splitSeed(task.subregion));
            std::vector<std::int32_t> isValidation(n, 0);
            for (auto v : split.validation) isValidation[v] = 1;
            for (std::size_t i = 0; i < n; ++i) {
                const int owner = ownerOf(sr.rows[i]);
                predHead[static_cast<std::size_t>(owner)].push_back({sr.rows[i], isValidation[i], 0});
                auto& out = predValues[static_cast<std::size_t>(owner)];
                for (int y = 0; y < Y; ++y) out.push_back(holdout.differential[i * Yn + static_cast<std::size_t>(y)]);
                for (int y = 0; y < Y; ++y) out.push_back(next.differential[i * Yn + static_cast<std::size_t>(y)]);
                for (int y = 0; y < Y; ++y) out.push_back(next.cumulative[i * Yn + static_cast<std::size_t>(y)]);
            }
            winnerSubregions.push_back(task.subregion);
            // The stored model holds what prediction needs; its wall time lives in /timing,
            // so that the file does not depend on the machine's speed or the rank count.
            model::Model stored = mdl;
            stored.summary.seconds = 0;
            stored.summary.trainSeconds = 0;
            winnerBytes.push_back(model::toBytes(stored));
        }
    });
    mine.clear();
    std::vector<PredHeader> sendPred;
    std::vector<float> sendVals;
    std::vector<std::size_t> predCounts(static_cast<std::size_t>(comm.size())), valCounts(static_cast<std::size_t>(comm.size()));
    for (int r = 0; r < comm.size(); ++r) {
        sendPred.insert(sendPred.end(), predHead[static_cast<std::size_t>(r)].begin(), predHead[static_cast<std::size_t>(r)].end());
        sendVals.insert(sendVals.end(), predValues[static_cast<std::size_t>(r)].begin(), predValues[static_cast<std::size_t>(r)].end());
        predCounts[static_cast<std::size_t>(r)] = predHead[static_cast<std::size_t>(r)].size();
        valCounts[static_cast<std::size_t>(r)] = predValues[static_cast<std::size_t>(r)].size();
    }
    auto gotHead = comm.alltoallv(sendPred, predCounts);
    auto gotVals = comm.alltoallv(sendVals, valCounts);
    const std::size_t yN = nLocal * Yn;
    std::vector<float> holdoutPred(yN, kNaN), nextDiff(yN, kNaN), nextCum(yN, kNaN);
    std::vector<std::int8_t> split(nLocal, -1);
    for (std::size_t k = 0; k < gotHead.size(); ++k) {
        const std::size_t i = gotHead[k].row - block.keptOffset;
        split[i] = static_cast<std::int8_t>(gotHead[k].split);
        for (int y = 0; y < Y; ++y) {
            const std::size_t o = k * W + static_cast<std::size_t>(y);
            holdoutPred[i * Yn + static_cast<std::size_t>(y)] = gotVals[o];
            nextDiff[i * Yn + static_cast<std::size_t>(y)] = gotVals[o + Yn];
            nextCum[i * Yn + static_cast<std::size_t>(y)] = gotVals[o + 2 * Yn];
        }
    }

    // ---- metrics at the owners, summed on root in global row order
    timer.start("metrics");
    std::vector<float> holdoutTrue(yN), holdoutTruth(yN, kNaN), persistence(yN), absError(yN);
    for (std::size_t i = 0; i < nLocal; ++i) {
        const float* c = block.points.series(i);
        const float lastVisibleDiff = c[visibleEpochs - 1] - c[visibleEpochs - 2];
        for (int y = 0; y < Y; ++y) {
            const std::size_t t = visibleEpochs + static_cast<std::size_t>(y);
            const std::size_t k = i * Yn + static_cast<std::size_t>(y);
            holdoutTrue[k] = c[t] - c[t - 1];
            if (hasTruth) holdoutTruth[k] = block.truth[i * m + t] - block.truth[i * m + t - 1];
            persistence[k] = lastVisibleDiff;  // the last visible differential, repeated
            absError[k] = std::abs(holdoutPred[k] - holdoutTrue[k]);
        }
    }
    std::vector<std::int32_t> groupSub, groupZone;
    for (std::size_t i = 0; i < nLocal; ++i)
        for (int y = 0; y < Y; ++y) {
            groupSub.push_back(part.subregion[i]);
            groupZone.push_back(part.zone[i]);
        }
    const auto allPred = comm.gatherv(holdoutPred), allTrue = comm.gatherv(holdoutTrue);
    const auto allTruth = comm.gatherv(holdoutTruth), allPersist = comm.gatherv(persistence);
    const auto allSub = comm.gatherv(groupSub), allZone = comm.gatherv(groupZone);
    const std::int32_t nZones = static_cast<std::int32_t>(part.summary.zoneCenters.size());
    struct Table {
        std::vector<Metrics> global, sub, zone, globalTruth, subTruth, zoneTruth, persistGlobal, persistTruth, persistSub;
    } tab;
    if (comm.isRoot()) {
        tab.global = groupMetrics(allPred, allTrue, {}, 1);
        tab.sub = groupMetrics(allPred, allTrue, allSub, nSub);
        tab.zone = groupMetrics(allPred, allTrue, allZone, nZones);
        tab.persistGlobal = groupMetrics(allPersist, allTrue, {}, 1);
        tab.persistSub = groupMetrics(allPersist, allTrue, allSub, nSub);
        if (hasTruth) {
            tab.globalTruth = groupMetrics(allPred, allTruth, {}, 1);
            tab.subTruth = groupMetrics(allPred, allTruth, allSub, nSub);
            tab.zoneTruth = groupMetrics(allPred, allTruth, allZone, nZones);
            tab.persistTruth = groupMetrics(allPersist, allTruth, {}, 1);
        }
    }
    // Every rank writes the same metric values: broadcast them as flat doubles.
    auto flatten = [](const std::vector<Metrics>& v) {
        std::vector<double> f;
        for (const auto& x : v) f.insert(f.end(), {static_cast<double>(x.n), x.mae, x.sd, x.mse, x.accuracy});
        return f;
    };
    auto unflatten = [](const std::vector<double>& f) {
        std::vector<Metrics> v(f.size() / 5);
        for (std::size_t i = 0; i < v.size(); ++i)
            v[i] = {static_cast<std::uint64_t>(f[5 * i]), f[5 * i + 1], f[5 * i + 2], f[5 * i + 3], f[5 * i + 4]};
        return v;
    };
    for (auto* v : {&tab.global, &tab.sub, &tab.zone, &tab.globalTruth, &tab.subTruth, &tab.zoneTruth,
                    &tab.persistGlobal, &tab.persistTruth, &tab.persistSub}) {
        std::vector<double> f = flatten(*v);
        comm.bcastVector(f);
        *v = unflatten(f);
    }

    // Models of the winners, gathered everywhere (small) so all ranks write the same bytes.
    std::vector<std::int32_t> modelSub = comm.allgatherv(winnerSubregions);
    std::vector<std::uint64_t> localSizes;
    std::vector<char> localBytes;
    for (const auto& b : winnerBytes) {
        localSizes.push_back(b.size());
        localBytes.insert(localBytes.end(), b.begin(), b.end());
    }
    std::vector<std::uint64_t> modelSizes = comm.allgatherv(localSizes);
    std::vector<char> modelBytesAll = comm.allgatherv(localBytes);
    // Order models by subregion id (gathering order depends on which rank won what).
    std::vector<std::size_t> morder(modelSub.size());
    for (std::size_t i = 0; i < morder.size(); ++i) morder[i] = i;
    std::sort(morder.begin(), morder.end(), [&](std::size_t a, std::size_t b) { return modelSub[a] < modelSub[b]; });
    std::vector<std::uint64_t> srcOffset(modelSub.size() + 1, 0);
    for (std::size_t i = 0; i < modelSub.size(); ++i) srcOffset[i + 1] = srcOffset[i] + modelSizes[i];
    std::vector<std::int32_t> mSub;
    std::vector<std::uint64_t> mOffset, mSize;
    std::vector<std::uint8_t> mBytes;
    for (std::size_t i : morder) {
        mSub.push_back(modelSub[i]);
        mOffset.push_back(mBytes.size());
        mSize.push_back(modelSizes[i]);
        mBytes.insert(mBytes.end(), modelBytesAll.begin() + static_cast<std::ptrdiff_t>(srcOffset[i]),
                      modelBytesAll.begin() + static_cast<std::ptrdiff_t>(srcOffset[i + 1]));
    }

    // ---- write: one collective file, each block owner its rows; complete = 1 last
    timer.start("write");
    coordinated(comm, "write", [&] {
        if (comm.isRoot() && std::filesystem::exists(tmpPath)) std::filesystem::remove(tmpPath);
    });
    coordinated(comm, "write", [&] {
        h5::File out(tmpPath, h5::Access::kCreate, &comm);
        const std::uint64_t off = block.keptOffset;
        const std::uint64_t yw = static_cast<std::uint64_t>(Y);
        writeRowsOf(out, "/points/x", nTotal, off, block.points.x);
        writeRowsOf(out, "/points/y", nTotal, off, block.points.y);
        writeRowsOf(out, "/points/id", nTotal, off, block.points.ids);
        writeRowsOf(out, "/points/split", nTotal, off, split);
        partition::writePartition(out, part, off, pcfg.dbDistance);
        writeRowsOf(out, "/forecast/holdout_true", nTotal, off, holdoutTrue, yw);
        writeRowsOf(out, "/forecast/holdout_pred", nTotal, off, holdoutPred, yw);
        writeRowsOf(out, "/forecast/abs_error", nTotal, off, absError, yw);
        writeRowsOf(out, "/forecast/persistence_pred", nTotal, off, persistence, yw);
        if (hasTruth) writeRowsOf(out, "/forecast/holdout_truth", nTotal, off, holdoutTruth, yw);
        writeRowsOf(out, "/forecast/next_diff", nTotal, off, nextDiff, yw);
        writeRowsOf(out, "/forecast/next_cumulative", nTotal, off, nextCum, yw);
        out.writeSmall<std::int32_t>("/forecast/next_dates", dates::following(block.points.dates, Y));
        out.writeSmall<std::int32_t>("/forecast/holdout_dates",
                                     std::vector<std::int32_t>(block.points.dates.begin() + static_cast<std::ptrdiff_t>(visibleEpochs),
                                                               block.points.dates.end()));

        // One row per subregion.
        std::vector<std::int32_t> sid, szone, sL, sK, sS, srank, sstatus;
        std::vector<std::uint64_t> sn;
        std::vector<double> svmae, ssec, struth, spersist;
        for (std::int32_t s = 0; s < nSub; ++s) {
            const auto& info = subs[static_cast<std::size_t>(s)];
            const std::int32_t w = winner[static_cast<std::size_t>(s)];
            sid.push_back(info.id);
            szone.push_back(info.zone);
            sn.push_back(info.nPoints);
            const Task* t = w >= 0 ? &plan.tasks[static_cast<std::size_t>(w)] : nullptr;
            sL.push_back(t ? t->L : -1);
            sK.push_back(t ? t->K : -1);
            sS.push_back(t ? t->S : -1);
            srank.push_back(t ? t->rank : -1);
            sstatus.push_back(w >= 0 ? 0 : 1);
            svmae.push_back(w >= 0 ? results[static_cast<std::size_t>(w)].validationMae : std::nan(""));
            ssec.push_back(w >= 0 ? results[static_cast<std::size_t>(w)].seconds : std::nan(""));
            spersist.push_back(tab.persistSub[static_cast<std::size_t>(s)].mae);
            struth.push_back(hasTruth ? tab.subTruth[static_cast<std::size_t>(s)].mae : std::nan(""));
        }
        out.writeSmall("/subregions/id", sid);
        out.writeSmall("/subregions/zone", szone);
        out.writeSmall("/subregions/n_points", sn);
        out.writeSmall("/subregions/L", sL);
        out.writeSmall("/subregions/K", sK);
        out.writeSmall("/subregions/S", sS);
        out.writeSmall("/subregions/failed", sstatus);
        out.writeSmall("/subregions/validation_mae", svmae);
        writeMetricColumns(out, "/subregions/", tab.sub);
        out.writeSmall("/subregions/mae_persistence", spersist);
        if (hasTruth) out.writeSmall("/subregions/mae_truth", struth);
        // Timing and placement depend on the run, not on the data: kept apart in /timing.
        out.writeSmall("/timing/subregion_seconds", ssec);
        out.writeSmall("/timing/subregion_rank", srank);

        // One row per candidate.
        std::vector<std::int32_t> gi, gs, gL, gK, gS, gst, gep, grank;
        std::vector<double> gmae, gsec;
        std::vector<std::uint64_t> gtr, gva;
        for (const auto& r : results) {
            const auto& t = plan.tasks[static_cast<std::size_t>(r.index)];
            gi.push_back(t.index);
            gs.push_back(t.subregion);
            gL.push_back(t.L);
            gK.push_back(t.K);
            gS.push_back(t.S);
            gst.push_back(r.status);
            gep.push_back(r.epochs);
            gmae.push_back(r.validationMae);
            gtr.push_back(r.trainSamples);
            gva.push_back(r.validationSamples);
            gsec.push_back(r.seconds);
            grank.push_back(r.rank);
        }
        out.writeSmall("/grid_search/task", gi);
        out.writeSmall("/grid_search/subregion", gs);
        out.writeSmall("/grid_search/L", gL);
        out.writeSmall("/grid_search/K", gK);
        out.writeSmall("/grid_search/S", gS);
        out.writeSmall("/grid_search/status", gst);
        out.writeSmall("/grid_search/epochs", gep);
        out.writeSmall("/grid_search/validation_mae", gmae);
        out.writeSmall("/grid_search/train_samples", gtr);
        out.writeSmall("/grid_search/validation_samples", gva);
        out.writeSmall("/grid_search/cost", [&] {
            std::vector<double> c;
            for (const auto& t : plan.tasks) c.push_back(t.cost);
            return c;
        }());
        out.writeSmall("/timing/candidate_seconds", gsec);
        out.writeSmall("/timing/candidate_rank", grank);

        out.writeSmall("/models/subregion", mSub);
        out.writeSmall("/models/offset", mOffset);
        out.writeSmall("/models/size", mSize);
        out.writeSmall("/models/bytes", mBytes);

        // Metrics: attributes of /metrics (global) and per-zone datasets.
        const auto& g = tab.global[0];
        out.writeObjectAttribute("/metrics", "n", g.n);
        out.writeObjectAttribute("/metrics", "mae", g.mae);
        out.writeObjectAttribute("/metrics", "sd", g.sd);
        out.writeObjectAttribute("/metrics", "mse", g.mse);
        out.writeObjectAttribute("/metrics", "accuracy", g.accuracy);
        out.writeObjectAttribute("/metrics", "mae_persistence", tab.persistGlobal[0].mae);
        if (hasTruth) {
            out.writeObjectAttribute("/metrics", "mae_truth", tab.globalTruth[0].mae);
            out.writeObjectAttribute("/metrics", "accuracy_truth", tab.globalTruth[0].accuracy);
            out.writeObjectAttribute("/metrics", "mae_truth_persistence", tab.persistTruth[0].mae);
        }
        writeMetricColumns(out, "/metrics/zone_", tab.zone);
        if (hasTruth) {
            std::vector<double> ztruth;
            for (const auto& m : tab.zoneTruth) ztruth.push_back(m.mae);
            out.writeSmall("/metrics/zone_mae_truth", ztruth);
        }

        out.writeAttribute("format", std::string("hlstm-output"));
        out.writeAttribute("format_version", static_cast<std::int32_t>(kOutputFormatVersion));
        out.writeAttribute("hlstm_version", std::string(kVersion));
        out.writeAttribute("config", config.toToml());
        out.writeAttribute("input", std::filesystem::absolute(input).string());
        std::string checksum = comm.isRoot() ? checksumOf(input) : std::string();
        comm.bcast(checksum);
        out.writeAttribute("input_checksum", checksum);
        out.writeAttribute("holdout", static_cast<std::int32_t>(H));
        out.writeAttribute("complete", static_cast<std::int32_t>(1));  // last
        out.close();
    });
    coordinated(comm, "write", [&] {
        if (comm.isRoot()) std::filesystem::rename(tmpPath, args.output);
    });
    timer.stop();

    // ---- report
    if (comm.isRoot()) {
        std::ostringstream os;
        char line[256];
        os << "holdout forecast of the last " << H << " epoch(s), per subregion:\n";
        std::snprintf(line, sizeof line, "  %4s %5s %8s %4s %3s %3s %9s %9s %9s %9s %10s %10s\n", "sub", "zone", "points",
                      "L", "K", "S", "MAE", "SD", "MSE", "acc %", "MAE truth", "persist");
        os << line;
        for (std::int32_t s = 0; s < nSub; ++s) {
            const auto& info = subs[static_cast<std::size_t>(s)];
            const std::int32_t w = winner[static_cast<std::size_t>(s)];
            const Task* t = w >= 0 ? &plan.tasks[static_cast<std::size_t>(w)] : nullptr;
            const auto& mt = tab.sub[static_cast<std::size_t>(s)];
            std::snprintf(line, sizeof line, "  %4d %5d %8llu %4d %3d %3d %9.3f %9.3f %9.3f %9.2f %10.3f %10.3f\n", info.id,
                          info.zone, static_cast<unsigned long long>(info.nPoints), t ? t->L : -1, t ? t->K : -1,
                          t ? t->S : -1, mt.mae, mt.sd, mt.mse, mt.accuracy,
                          hasTruth ? tab.subTruth[static_cast<std::size_t>(s)].mae : std::nan(""),
                          tab.persistSub[static_cast<std::size_t>(s)].mae);
            os << line;
        }
        const auto& g = tab.global[0];
        std::snprintf(line, sizeof line, "  %-10s %8llu %16s %9.3f %9.3f %9.3f %9.2f %10.3f %10.3f", "all",
                      static_cast<unsigned long long>(g.n), "", g.mae, g.sd, g.mse, g.accuracy,
                      hasTruth ? tab.globalTruth[0].mae : std::nan(""), tab.persistGlobal[0].mae);
        os << line;
        if (hasTruth) {
            std::snprintf(line, sizeof line,
                          "\n  against the noise-free truth: HLSTM MAE %.3f mm, persistence MAE %.3f mm",
                          tab.globalTruth[0].mae, tab.persistTruth[0].mae);
            os << line;
        }
        log::info() << os.str();
        log::info() << "wrote " << args.output << " (" << fileSizeText(args.output) << ")";
    }
    timer.report(comm);
    return 0;
}

}  // namespace hlstm::pipeline
