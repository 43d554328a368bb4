#include "hlstm/pipeline/run.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <boost/archive/binary_iarchive.hpp>
#include <boost/archive/binary_oarchive.hpp>
#include <boost/serialization/string.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <thread>
#include <tuple>

#include "hlstm/core/coordinated.hpp"
#include "hlstm/core/log.hpp"
#include "hlstm/core/random.hpp"
#include "hlstm/core/signals.hpp"
#include "hlstm/data/input.hpp"
#include "hlstm/data/simulate.hpp"
#include "hlstm/io/hdf5.hpp"
#include "hlstm/io/output_file.hpp"
#include "hlstm/model/model.hpp"
#include "hlstm/model/network.hpp"
#include "hlstm/partition/output.hpp"
#include "hlstm/partition/partition.hpp"
#include "hlstm/pipeline/checkpoint.hpp"
#include "hlstm/pipeline/evaluate.hpp"
#include "hlstm/pipeline/metrics.hpp"
#include "hlstm/pipeline/plan.hpp"
#include "hlstm/version.hpp"

namespace hlstm::pipeline {
namespace {

// Cost units (candidateCost's flop count) per second one rank with 1 thread trains at, as
// timed on one of this project's VMs; only a fallback when a shape's timing fails (the plan
// log measures every candidate shape on the running machine).
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
    double validationMae = 0;  // eq. (3) on the candidate's own target
    double score = 0;          // selection score against the validation points' smoothed rates
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

// Rows of one subregion held by a trainer, in ascending global row order. The series of all
// subregions a rank holds are one received buffer (subregion-major), so they are held once.
struct SubregionRows {
    std::vector<std::uint64_t> rows;
    std::shared_ptr<const std::vector<float>> buffer;  // the received rows of every subregion
    const float* full = nullptr;  // this subregion's rows x epochs (all epochs) inside `buffer`; the
                                  // visible part is its first visible epochs (a strided view)
    std::size_t epochs = 0;
};

// What the owners of the points keep of their series once the subregions' rows are with the
// trainers: the last Y + 2 epochs (the last two visible and the held-out ones).
struct HoldoutTail {
    std::vector<float> values;  // points x width
    std::size_t width = 0;
    std::size_t first = 0;      // epoch of the first column
    [[nodiscard]] float at(std::size_t i, std::size_t t) const { return values[i * width + t - first]; }
};

HoldoutTail holdoutTail(const PointSet& points, std::size_t visibleEpochs) {
    HoldoutTail tail;
    const std::size_t m = points.nEpochs();
    tail.first = visibleEpochs - 2;
    tail.width = m - tail.first;
    tail.values.reserve(points.size() * tail.width);
    for (std::size_t i = 0; i < points.size(); ++i)
        tail.values.insert(tail.values.end(), points.series(i) + tail.first, points.series(i) + m);
    return tail;
}

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
std::map<std::int32_t, SubregionRows> redistribute(const Comm& comm, PointSet& points,
                                                   const std::vector<std::int32_t>& subregion, const Plan& plan,
                                                   const std::vector<std::int32_t>& pseudo) {
    // Every subregion's first rank also computes its baselines: it always gets the rows.
    const std::size_t m = points.nEpochs();
    const auto ranks = static_cast<std::size_t>(comm.size());
    // (row, subregion) pairs per destination: a point also goes to the trainers of every
    // pseudo subregion (learned baselines of all points).
    std::vector<std::vector<std::pair<std::size_t, std::int32_t>>> toRank(ranks);
    std::vector<std::vector<std::int32_t>> pseudoRanks;
    for (auto p : pseudo) pseudoRanks.push_back(plan.ranksOf(p));
    for (std::size_t i = 0; i < points.size(); ++i) {
        for (auto r : plan.ranksOf(subregion[i])) toRank[static_cast<std::size_t>(r)].emplace_back(i, subregion[i]);
        for (std::size_t k = 0; k < pseudo.size(); ++k)
            for (auto r : pseudoRanks[k]) toRank[static_cast<std::size_t>(r)].emplace_back(i, pseudo[k]);
    }
    std::vector<RowHeader> sendHead;
    std::vector<float> sendSeries;
    std::vector<std::size_t> headCounts(ranks, 0), seriesCounts(ranks, 0);
    for (std::size_t r = 0; r < ranks; ++r) {
        for (const auto& [i, s] : toRank[r]) {
            sendHead.push_back({points.rows[i], s, 0});
            sendSeries.insert(sendSeries.end(), points.series(i), points.series(i) + m);
        }
        headCounts[r] = toRank[r].size();
        seriesCounts[r] = toRank[r].size() * m;
    }
    toRank.clear();
    // The owners' series are in the send buffer now and nobody reads them again (the held-out
    // tail was kept before): release them, so the exchange holds the archive's share twice, not
    // three times.
    std::vector<float>().swap(points.displacement);
    const std::vector<RowHeader> recvHead = comm.alltoallv(sendHead, headCounts);
    sendHead = {};
    std::vector<float> recv = comm.alltoallv(sendSeries, seriesCounts);
    std::vector<float>().swap(sendSeries);
    // Subregion-major order, stable (rank order, each rank's rows ascending), by permuting the
    // received rows in place: row k goes to position dest[k].
    const std::size_t nRecv = recvHead.size();
    std::map<std::int32_t, std::size_t> start;
    for (const auto& h : recvHead) ++start[h.subregion];
    std::size_t at = 0;
    for (auto& [s, count] : start) std::swap(count, at), at += count;  // counts -> first positions
    std::map<std::int32_t, std::size_t> next = start;
    std::vector<std::size_t> dest(nRecv);
    for (std::size_t k = 0; k < nRecv; ++k) dest[k] = next[recvHead[k].subregion]++;
    {
        std::vector<float> tmp(m), carry(m);
        std::vector<bool> placed(nRecv, false);
        for (std::size_t k = 0; k < nRecv; ++k) {
            if (placed[k] || dest[k] == k) continue;
            // Follow the cycle k -> dest[k] -> ...: carry row k to its place, take what was there on.
            std::copy(recv.begin() + static_cast<std::ptrdiff_t>(k * m), recv.begin() + static_cast<std::ptrdiff_t>((k + 1) * m), carry.begin());
            std::size_t j = k;
            do {
                const std::size_t d = dest[j];
                std::copy(recv.begin() + static_cast<std::ptrdiff_t>(d * m), recv.begin() + static_cast<std::ptrdiff_t>((d + 1) * m), tmp.begin());
                std::copy(carry.begin(), carry.end(), recv.begin() + static_cast<std::ptrdiff_t>(d * m));
                placed[j] = true;
                std::swap(carry, tmp);
                j = d;
            } while (j != k);
        }
    }
    auto buffer = std::make_shared<const std::vector<float>>(std::move(recv));
    std::map<std::int32_t, SubregionRows> mine;
    for (const auto& [s, first] : start) {
        auto& sr = mine[s];
        sr.buffer = buffer;
        sr.full = buffer->data() + first * m;
        sr.epochs = m;
    }
    for (const auto& h : recvHead) mine[h.subregion].rows.push_back(h.row);
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


// ---------------------------------------------------------------- configuration, parsed once
// Every key the run needs, validated here; the stages below take the typed values.
struct RunConfig {
    int horizon = 1;  // Y = H: the hidden epochs are what the models forecast
    model::TrainConfig train;
    int threads = 1;
    model::ModelConfig shape;  // target, smoothing, floor, cell, Y; L, K, S per candidate
    std::vector<std::int64_t> L, K, S;
    std::uint64_t seed = 0;
    BaselineRequest baselines;
    bool selectSmoothed = true;
    double interval = 0.9;
    int shards = 4;           // train.shards
    double shardShare = 0.3;  // train.shard_share
    int intervalCuts = 12;  // validation cut epochs pooled for the conformal residuals (run.interval_cuts)
    double checkpointSeconds = 600;  // run.checkpoint_minutes
    std::string inputChecksum;       // of the input file, computed once (rank 0, broadcast)
    std::string input;
    SimulateOptions simulate;
    std::string simulateKind;
    ReadOptions read;                // input.*

    static RunConfig from(const Config& config, const RunArgs& args) {
        RunConfig rc;
        rc.horizon = static_cast<int>(config.getInt("model.horizon"));
        const int H = static_cast<int>(config.getInt("run.holdout"));
        if (rc.horizon < 1 || rc.horizon > 30) throw ConfigError("model.horizon must be in 1..30");
        if (H != rc.horizon)
            throw ConfigError("run.holdout (" + std::to_string(H) + ") must equal model.horizon (" +
                              std::to_string(rc.horizon) + "): the hidden epochs are what the models forecast");
        if (args.output.empty() && !args.dryRun) throw ConfigError("run: -o OUTPUT is required");
        rc.train = model::trainConfigFrom(config);
        rc.train.validate();
        if (!(rc.train.validationFraction > 0))
            throw ConfigError("model.validation_fraction must be > 0 for hlstm run: the validation points choose "
                              "each subregion's model and calibrate the intervals");
        rc.threads = model::resolveThreads(rc.train.threads);
        const auto shards = config.getInt("train.shards");
        if (shards < 1 || shards > 1024) throw ConfigError("train.shards must be in 1..1024");
        rc.shards = static_cast<int>(shards);
        rc.shardShare = config.getDouble("train.shard_share");
        if (!(rc.shardShare >= 0 && rc.shardShare <= 1)) throw ConfigError("train.shard_share must be in [0, 1]");
        rc.L = config.getIntList("grid.L");
        rc.K = config.getIntList("grid.K");
        rc.S = config.getIntList("grid.S");
        if (rc.L.empty() || rc.K.empty() || rc.S.empty()) throw ConfigError("grid.L, grid.K and grid.S need a value each");
        for (auto v : rc.L)
            if (v < rc.horizon + 1 || v > 100000)
                throw ConfigError("grid.L: every L must exceed model.horizon (got " + std::to_string(v) + ")");
        for (auto v : rc.K)
            if (v < 1 || v > 64) throw ConfigError("grid.K: every K must be in 1..64");
        for (auto v : rc.S)
            if (v < 1 || v > 4096) throw ConfigError("grid.S: every S must be in 1..4096");
        rc.shape = model::modelConfigFrom(config, static_cast<int>(rc.L.front()), static_cast<int>(rc.K.front()),
                                          static_cast<int>(rc.S.front()));
        rc.seed = static_cast<std::uint64_t>(config.getInt("model.seed"));
        rc.baselines = baselinesFromConfig(config.getString("run.baselines"));
        const std::string& select = config.getString("run.select");
        if (select != "smoothed" && select != "paper")
            throw ConfigError("run.select = \"" + select + "\": expected smoothed or paper");
        rc.selectSmoothed = select == "smoothed";
        rc.interval = config.getDouble("run.interval");
        if (!(rc.interval >= 0 && rc.interval < 1)) throw ConfigError("run.interval must be in [0, 1)");
        const auto cuts = config.getInt("run.interval_cuts");
        if (cuts < 1 || cuts > 1000) throw ConfigError("run.interval_cuts must be in 1..1000");
        rc.intervalCuts = static_cast<int>(cuts);
        const double minutes = config.getDouble("run.checkpoint_minutes");
        if (!(minutes >= 0 && minutes <= 1e6)) throw ConfigError("run.checkpoint_minutes must be in [0, 1e6]");
        rc.checkpointSeconds = 60.0 * minutes;
        if (args.resume && args.dryRun) throw ConfigError("run: --resume and --dry-run exclude each other");
        rc.input = args.input.empty() ? config.getString("input.path") : args.input;
        rc.read = readOptionsFromConfig(config);
        rc.read.truthEpochs = static_cast<std::size_t>(rc.horizon) + 1;  // the held-out differentials only
        rc.simulateKind = config.getString("simulate.kind");
        rc.simulate.kind = rc.simulateKind == "patterns" ? SceneKind::kPatterns : SceneKind::kScene;
        const auto points = config.getInt("simulate.points"), epochs = config.getInt("simulate.epochs");
        if (rc.input.empty() && (points < 1 || epochs < 3))
            throw ConfigError("simulate.points must be >= 1 and simulate.epochs >= 3");
        rc.simulate.points = static_cast<std::uint64_t>(std::max<std::int64_t>(points, 1));
        rc.simulate.epochs = static_cast<std::uint64_t>(std::max<std::int64_t>(epochs, 3));
        rc.simulate.seed = static_cast<std::uint64_t>(config.getInt("simulate.seed"));
        const auto drop = config.getInt("simulate.drop");
        if (drop < 0 || drop + 4 > epochs) throw ConfigError("simulate.drop must be in 0..simulate.epochs - 4");
        rc.simulate.drop = static_cast<std::uint64_t>(drop);
        return rc;
    }

    [[nodiscard]] model::ModelConfig shapeOf(const Task& t) const {
        model::ModelConfig m = shape;
        m.cell = static_cast<model::CellKind>(t.cell);
        m.window = t.L;
        m.layers = t.K;
        m.units = t.S;
        m.validate();
        return m;
    }
    // Learned baselines: one model of all points each (pseudo subregions after the real ones).
    struct Learned {
        std::string name;
        model::CellKind cell;
    };
    [[nodiscard]] std::vector<Learned> learned() const {
        std::vector<Learned> out;
        if (baselines.globalLstm) out.push_back({"global_lstm", model::CellKind::kLstm});
        if (baselines.rnn) out.push_back({"rnn", model::CellKind::kRnn});
        return out;
    }
    // The largest L: window_mean and linear_trend look back as far as the longest candidate.
    [[nodiscard]] int baselineWindow() const {
        return static_cast<int>(*std::max_element(L.begin(), L.end()));
    }
};

// ---------------------------------------------------------------- read
LocalBlock readStage(const Comm& comm, RunConfig& rc, const RunArgs& args) {
    if (rc.input.empty()) {
        rc.input = (args.output.empty() ? std::string("hlstm-dry-run") : args.output) + ".input.h5";
        if (comm.isRoot())
            log::info() << "input.path is empty: simulating a " << rc.simulateKind << " of " << rc.simulate.points
                        << " points x " << rc.simulate.epochs << " epochs -> " << rc.input;
        simulate(comm, rc.simulate, rc.input);
    }
    LocalBlock block = readInput(comm, rc.input, rc.read);
    if (comm.isRoot())
        log::info() << "read " << rc.input << " (" << fileSizeText(rc.input) << ", " << block.stats.layout
                    << "): " << block.keptTotal << " points x "
                    << block.points.nEpochs() << " epochs, " << block.stats.dropped << " dropped, unit "
                    << block.stats.unit << ", " << comm.size() << " rank(s) x " << rc.threads
                    << " thread(s), oneDNN kernels " << model::cpuIsa();
    const std::size_t m = block.points.nEpochs();
    if (m < static_cast<std::size_t>(rc.horizon) + 3)
        throw InputError(rc.input + ": " + std::to_string(m) + " epochs leave fewer than 3 visible after holding out " +
                         std::to_string(rc.horizon));
    return block;
}

// ---------------------------------------------------------------- plan
Plan planStage(const Comm& comm, const RunConfig& rc, const partition::PartitionSummary& summary,
               std::uint64_t totalPoints, std::size_t visibleEpochs, bool dryRun) {
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
        const auto maxOf = [](const std::vector<std::int64_t>& v) { return static_cast<std::int32_t>(*std::max_element(v.begin(), v.end())); };
        for (const auto& l : rc.learned())
            ps.push_back({static_cast<std::int32_t>(ps.size()), totalPoints, true, maxOf(rc.L), maxOf(rc.K), maxOf(rc.S),
                          static_cast<std::int32_t>(l.cell)});
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
        for (const auto& t : plan.tasks) {
            const int g = t.sharded ? t.groupSize : 0;
            const auto key = std::make_tuple(t.L, t.K, t.S, t.cell, g);
            if (speed.count(key) != 0) continue;
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
        const double calibration = std::chrono::duration<double>(std::chrono::steady_clock::now() - calibrationStart).count();
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
            os << "\n  rank " << r << ": " << count << " candidate(s), " << load / 1e9 << " GFLOP, ~" << seconds << " s";
        }
        double total = 0;
        for (const auto& t : plan.tasks) total += t.cost;
        for (const auto& t : plan.tasks)
            if (t.sharded)
                os << "\n  data-parallel on ranks " << t.rank << ".." << t.rank + t.groupSize - 1 << " ("
                   << rc.shards << " shards per minibatch): subregion " << t.subregion << " L=" << t.L
                   << " K=" << t.K << " S=" << t.S << ", " << 100.0 * t.cost / total << " % of the cost";
        os << "\n  expected training wall time: ~" << expectedSeconds(plan, taskSpeed, comm.size())
           << " s (measured on this machine in " << calibration << " s: " << slowest / 1e9 << " .. " << fastest / 1e9
           << " GFLOP/s per rank over " << speed.size()
           << " shape(s); add read/partition/write, and a margin, for sbatch --time)";
        if (dryRun || log::enabled(log::Level::kInfo)) log::info() << os.str();
    }
    return plan;
}

// ---------------------------------------------------------------- per-subregion state on a rank
// A subregion this rank trains or evaluates: its rows, its split and the validation cut.
struct Held {
    const SubregionRows* rows = nullptr;
    model::PointSplit split;
    std::unique_ptr<ValidationCut> cut;

    [[nodiscard]] model::SeriesView visible(const model::TimeAxis& axis, std::size_t epochs) const {
        return {rows->full, rows->rows.size(), epochs, &axis, rows->epochs};
    }
    [[nodiscard]] model::SeriesView full(const model::TimeAxis& axis, std::size_t epochs) const {
        return {rows->full, rows->rows.size(), epochs, &axis, epochs};
    }
};

std::uint64_t splitSeed(std::uint64_t modelSeed, std::int32_t subregion) {
    constexpr std::uint64_t kSplitStream = 0x5e11;
    return mixKey({modelSeed, kSplitStream, static_cast<std::uint64_t>(subregion)});
}

Held holdSubregion(std::int32_t s, const SubregionRows& sr, const RunConfig& rc, const model::TimeAxis& axis,
                   std::size_t visibleEpochs) {
    Held h;
    h.rows = &sr;
    // One split per subregion: every candidate and baseline is judged on the same points,
    // whichever rank holds them.
    h.split = model::splitPoints(sr.rows.size(), rc.train.validationFraction, splitSeed(rc.seed, s));
    h.cut = std::make_unique<ValidationCut>(h.visible(axis, visibleEpochs), h.split.validation, rc.horizon,
                                            rc.shape.smoothing);
    return h;
}

std::map<std::int32_t, Held> holdSubregions(const std::map<std::int32_t, SubregionRows>& mine, const RunConfig& rc,
                                            const model::TimeAxis& axis, std::size_t visibleEpochs) {
    std::map<std::int32_t, Held> held;
    for (const auto& [s, sr] : mine) held.emplace(s, holdSubregion(s, sr, rc, axis, visibleEpochs));
    return held;
}

// Whether subregion s has a data-parallel candidate: then every rank of its group holds its
// rows, and its forecasts (selection score, baselines, intervals, hidden and next epochs) are
// shared by the group too.
bool spread(const Plan& plan, std::int32_t s) { return plan.groupOf(s).second > 0; }

// The one rank that reports subregion s's scores and keeps its intervals: the first of its
// data-parallel group, else the first rank holding it.
bool leads(const Plan& plan, std::int32_t s, int rank) {
    if (spread(plan, s)) return plan.groupOf(s).first == rank;
    const auto r = plan.ranksOf(s);
    return !r.empty() && r.front() == rank;
}

// The communicators of the data-parallel groups, by subregion, on their members only.
using Groups = std::map<std::int32_t, std::shared_ptr<const Comm>>;

// Collective: every rank splits off every group, in subregion order.
Groups makeGroups(const Comm& comm, const Plan& plan) {
    std::set<std::int32_t> subregions;
    for (const auto& t : plan.tasks)
        if (t.sharded) subregions.insert(t.subregion);
    Groups groups;
    for (auto s : subregions) {
        const auto [first, size] = plan.groupOf(s);
        auto group = comm.split(comm.rank() >= first && comm.rank() < first + size);
        if (group) groups.emplace(s, std::move(group));
    }
    return groups;
}

// This rank's communicator of subregion s's group, or nullptr (not spread, or not a member).
const Comm* groupOf(const Groups& groups, std::int32_t s) {
    const auto it = groups.find(s);
    return it == groups.end() ? nullptr : it->second.get();
}

// The rows [first, last) of n that this rank takes when all ranks share n rows.
std::pair<std::size_t, std::size_t> sliceOf(const Comm& comm, std::size_t n) {
    const auto r = static_cast<std::size_t>(comm.rank()), R = static_cast<std::size_t>(comm.size());
    return {n * r / R, n * (r + 1) / R};
}

// `f` with its rows shared among all ranks: each forecasts a contiguous slice and the slices
// are all-gathered in rank order. Rows are forecast independently (fixed batch shapes), so
// every rank gets exactly what `f` gives for the whole block (collective).
Forecaster sharedAmong(const Comm& comm, Forecaster f) {
    return [&comm, f = std::move(f)](const model::SeriesView& v) {
        const auto [first, last] = sliceOf(comm, v.points);
        model::SeriesView slice = v;
        slice.cumulative = v.row(first);
        slice.points = last - first;
        slice.stride = v.stride != 0 ? v.stride : v.epochs;
        return comm.allgatherv(slice.points > 0 ? f(slice) : std::vector<float>{});
    };
}

// A grid model's forecaster; its network is built once for all the blocks it forecasts.
Forecaster modelForecaster(const model::Model& m, int threads) {
    auto predictor = std::make_shared<model::Predictor>(m, threads);
    return [predictor](const model::SeriesView& v) { return (*predictor)(v).differential; };
}

// ---------------------------------------------------------------- global MLR (the paper's baseline)
// Each subregion's first rank sums the normal equations of its training points (row order);
// the sums are added in subregion order, so the fit does not depend on the rank count.
model::MlrModel fitGlobalMlr(const Comm& comm, const Plan& plan, const std::map<std::int32_t, Held>& held,
                             std::int32_t nSub, const model::TimeAxis& axis, std::size_t visibleEpochs, int lags) {
    std::vector<double> local;
    for (const auto& [s, h] : held) {
        if (s >= nSub || !leads(plan, s, comm.rank())) continue;
        model::MlrSums sums(lags);
        const model::SeriesView view = h.visible(axis, visibleEpochs);
        for (std::size_t i : h.split.train) sums.addPoint(model::rates({view.row(i), axis.steps.data(), view.epochs}));
        local.push_back(static_cast<double>(s));
        local.push_back(static_cast<double>(sums.n));
        local.insert(local.end(), sums.xtx.begin(), sums.xtx.end());
        local.insert(local.end(), sums.xty.begin(), sums.xty.end());
    }
    const std::vector<double> all = comm.allgatherv(local);
    const std::size_t width = 2 + static_cast<std::size_t>((lags + 1) * (lags + 1) + lags + 1);
    std::map<std::int32_t, model::MlrSums> bySub;
    for (std::size_t o = 0; o + width <= all.size(); o += width) {
        model::MlrSums sums(lags);
        sums.n = static_cast<std::uint64_t>(all[o + 1]);
        std::copy_n(all.begin() + static_cast<std::ptrdiff_t>(o + 2), sums.xtx.size(), sums.xtx.begin());
        std::copy_n(all.begin() + static_cast<std::ptrdiff_t>(o + 2 + sums.xtx.size()), sums.xty.size(),
                    sums.xty.begin());
        bySub.emplace(static_cast<std::int32_t>(all[o]), std::move(sums));
    }
    model::MlrSums total(lags);
    for (const auto& [s, sums] : bySub) total.merge(sums);
    return model::solveMlr(total);
}

// ---------------------------------------------------------------- work stealing
// The candidates a rank trains alone start where the plan put them, largest first. A rank
// whose queue is empty asks the others in turn for one of theirs; the asked rank answers
// between two minibatches (or while it waits) with its smallest queued candidate and, when
// the asking rank does not hold that subregion, its rows. A candidate's seed and split are its
// own, so the results do not depend on who trains it: the schedule follows the real speeds,
// not the cost model. Learned baselines (a model of all points) are never handed over.
class WorkQueue {
public:
    WorkQueue(const Comm& comm, const Plan& plan, std::int32_t nSub, std::map<std::int32_t, SubregionRows>& rows)
        : comm_(comm), plan_(plan), nSub_(nSub), rows_(rows) {
        for (const auto& t : plan.tasksOf(comm.rank())) queue_.push_back(t);
        std::stable_sort(queue_.begin(), queue_.end(), [](const Task& a, const Task& b) { return a.cost > b.cost; });
        for (int k = 1; k < comm.size(); ++k) victims_.push_back((comm.rank() + k) % comm.size());
        planned_ = queue_.size();
    }

    /// How many candidates the plan gave this rank to train alone.
    [[nodiscard]] std::size_t planned() const noexcept { return planned_; }

    /// Answers every pending request of another rank (non-blocking; call often).
    void serve() {
        while (comm_.size() > 1) {
            int flag = 0;
            MPI_Status status;
            mpi::check(MPI_Iprobe(MPI_ANY_SOURCE, kAsk, comm_.raw(), &flag, &status), "MPI_Iprobe");
            if (flag == 0) return;
            const int thief = status.MPI_SOURCE;
            std::vector<std::int32_t> holds;  // the subregions the asking rank holds already
            comm_.recv(holds, thief, kAsk);
            auto it = std::find_if(queue_.rbegin(), queue_.rend(), [this](const Task& t) { return t.subregion < nSub_; });
            std::int32_t given = -1;
            if (it != queue_.rend() && !closed_) {
                given = it->index;
                queue_.erase(std::next(it).base());
            }
            comm_.send(given, thief, kGive);
            if (given < 0) continue;
            const Task& t = plan_.tasks[static_cast<std::size_t>(given)];
            const bool ship = std::find(holds.begin(), holds.end(), t.subregion) == holds.end();
            if (ship) {
                const SubregionRows& sr = rows_.at(t.subregion);
                comm_.send(sr.rows, thief, kGive);
                comm_.send(std::vector<float>(sr.full, sr.full + sr.rows.size() * sr.epochs), thief, kGive);
            }
            log::info() << "handed candidate (subregion " << t.subregion << " L=" << t.L << " K=" << t.K
                        << " S=" << t.S << ") to rank " << thief
                        << (ship ? " with its " + std::to_string(rows_.at(t.subregion).rows.size()) + " rows" : "");
        }
    }

    /// The next candidate this rank trains: its own, else one taken from another rank (whose
    /// rows are then added to `rows` if they were not there); nullopt when none is left
    /// anywhere. `from` is set to the rank it came from.
    std::optional<Task> next(int& from) {
        serve();
        from = comm_.rank();
        if (!queue_.empty() && !closed_) {
            Task t = queue_.front();
            queue_.pop_front();
            return t;
        }
        while (!victims_.empty() && !closed_) {
            const int victim = victims_.front();
            std::vector<std::int32_t> holds;
            for (const auto& [s, sr] : rows_) holds.push_back(s);
            comm_.send(holds, victim, kAsk);
            // Sleep while waiting (the victim answers between two of its minibatches), and
            // answer the others meanwhile: two ranks may ask each other at once.
            auto pause = std::chrono::microseconds(200);
            for (int flag = 0;;) {
                mpi::check(MPI_Iprobe(victim, kGive, comm_.raw(), &flag, MPI_STATUS_IGNORE), "MPI_Iprobe");
                if (flag != 0) break;
                serve();
                std::this_thread::sleep_for(pause);
                pause = std::min(pause * 2, std::chrono::microseconds(20000));
            }
            std::int32_t given = -1;
            comm_.recv(given, victim, kGive);
            if (given < 0) {  // its queue is empty for good: nobody adds to a queue
                victims_.pop_front();
                continue;
            }
            const Task& t = plan_.tasks[static_cast<std::size_t>(given)];
            if (rows_.count(t.subregion) == 0) {
                SubregionRows sr;
                comm_.recv(sr.rows, victim, kGive);
                auto series = std::make_shared<std::vector<float>>();
                comm_.recv(*series, victim, kGive);
                sr.epochs = sr.rows.empty() ? 0 : series->size() / sr.rows.size();
                sr.full = series->data();
                sr.buffer = std::move(series);
                rows_.emplace(t.subregion, std::move(sr));
            }
            from = victim;
            return t;
        }
        return std::nullopt;
    }

    /// Stops handing out and taking candidates (this rank is stopping).
    void close() { closed_ = true; }

    /// Waits for every rank, asleep, answering requests meanwhile (collective).
    void finish() { comm_.idleBarrier([this] { serve(); }); }

private:
    static constexpr int kAsk = 31001, kGive = 31002;
    const Comm& comm_;
    const Plan& plan_;
    std::int32_t nSub_;
    std::map<std::int32_t, SubregionRows>& rows_;
    std::deque<Task> queue_;
    std::deque<int> victims_;
    std::size_t planned_ = 0;
    bool closed_ = false;
};

// ---------------------------------------------------------------- train
struct TrainOutcome {
    std::vector<TaskResult> local;
    std::map<std::int32_t, model::Model> models;  // task index -> model
};

// A finished candidate's checkpoint record: its TaskResult, then its model's bytes.
std::string finishedRecord(const TaskResult& r, const model::Model& m) {
    std::string bytes(sizeof r, '\0');
    std::memcpy(bytes.data(), &r, sizeof r);
    return bytes + model::toBytes(m);
}

std::string stateBytes(const model::TrainState& state) {
    std::ostringstream stream(std::ios::binary);
    {
        boost::archive::binary_oarchive archive(stream);
        archive << state;
    }
    return stream.str();
}

model::TrainState stateFrom(const std::string& bytes, const std::string& where) {
    try {
        std::istringstream stream(bytes, std::ios::binary);
        boost::archive::binary_iarchive archive(stream);
        model::TrainState state;
        archive >> state;
        return state;
    } catch (const std::exception& e) {
        throw InputError(where + ": unreadable training state (" + e.what() + ")");
    }
}

TrainOutcome trainStage(const Comm& comm, const RunConfig& rc, const Plan& plan, const Groups& groups, std::int32_t nSub,
                        std::map<std::int32_t, SubregionRows>& rows, std::map<std::int32_t, Held>& held,
                        const model::TimeAxis& axis, std::size_t visibleEpochs, const CheckpointStore& store) {
    TrainOutcome out;
    WorkQueue queue(comm, plan, nSub, rows);
    const int slowdownMs = injectedSlowdownMs(comm.rank());
    // Fits one candidate (alone, or as one of its data-parallel group `team` when `sharded`)
    // and, on the rank that keeps it, records its result and model.
    auto trainOne = [&](const Task& task, const Comm& team, const model::ShardedTraining* sharded,
                        const std::string& position) {
        const Held& h = held.at(task.subregion);
        const log::Context context("train subregion " + std::to_string(task.subregion) + " L=" +
                                   std::to_string(task.L) + " K=" + std::to_string(task.K) +
                                   " S=" + std::to_string(task.S));
        model::TrainConfig tc = rc.train;
        tc.threads = rc.threads;
        const std::uint64_t seed = mixKey({rc.seed, static_cast<std::uint64_t>(task.subregion),
                                           static_cast<std::uint64_t>(task.L), static_cast<std::uint64_t>(task.K),
                                           static_cast<std::uint64_t>(task.S)});
        // Records the result and writes checkpoints: the rank training it alone, or the group's first.
        const bool keeper = sharded == nullptr || task.rank == comm.rank();
        // A data-parallel candidate's records are read by its keeper and sent to all.
        auto record = [&](const std::string& name) {
            std::optional<std::string> got = sharded == nullptr || keeper ? store.get(name) : std::nullopt;
            if (sharded != nullptr) {
                std::string bytes = got ? *got : std::string();
                std::int32_t have = got ? 1 : 0;
                team.bcast(have, Comm::kRoot);  // the keeper is the group's first rank
                team.bcast(bytes, Comm::kRoot);
                got = have != 0 ? std::optional<std::string>(bytes) : std::nullopt;
            }
            return got;
        };
        const std::string name = "task-" + std::to_string(task.index);
        if (const auto done = record(name + ".done"); done && done->size() > sizeof(TaskResult)) {
            TaskResult r;
            std::memcpy(&r, done->data(), sizeof r);
            model::Model restored = model::modelFromBytes(done->substr(sizeof r));
            if (keeper) {
                r.rank = comm.rank();
                out.local.push_back(r);
                log::info() << "candidate " << position << ": restored from its checkpoint (selection score "
                            << r.score << " mm)";
            }
            if (keeper || sharded != nullptr) out.models.emplace(task.index, std::move(restored));
            return;
        }
        std::optional<model::TrainState> resumeState;
        if (const auto st = record(name + ".state")) {
            resumeState = stateFrom(*st, store.dir() + "/" + name + ".state");
            log::info() << "candidate " << position << ": continuing from its checkpoint at epoch " << resumeState->epoch
                        << ", sample " << resumeState->next << "/" << resumeState->order.size();
        }
        // Checkpoints inside the candidate: every run.checkpoint_minutes and at a stop signal,
        // at a minibatch boundary (a data-parallel group agrees on it at every boundary).
        auto lastSave = std::chrono::steady_clock::now();
        model::Interruption interruption;
        interruption.resume = resumeState ? &*resumeState : nullptr;
        interruption.poll = [&] {
            queue.serve();  // other ranks asking for work are answered between two minibatches
            if (slowdownMs > 0) std::this_thread::sleep_for(std::chrono::milliseconds(slowdownMs));
            if (!store.enabled()) return model::Interruption::Action::kGoOn;
            int want = stopSignal() != 0 ? 2
                       : rc.checkpointSeconds > 0 &&
                               std::chrono::duration<double>(std::chrono::steady_clock::now() - lastSave).count() >=
                                   rc.checkpointSeconds
                           ? 1
                           : 0;
            if (sharded != nullptr) want = team.allreduce(want, Reduce::kMax);
            return want == 2 ? model::Interruption::Action::kStop
                   : want == 1 ? model::Interruption::Action::kSave
                               : model::Interruption::Action::kGoOn;
        };
        interruption.save = [&](const model::TrainState& state) {
            lastSave = std::chrono::steady_clock::now();
            if (!keeper) return;
            store.put(name + ".state", stateBytes(state));
            log::info() << "checkpoint: candidate " << position << " at epoch " << state.epoch << ", sample "
                        << state.next << "/" << state.order.size();
        };
        model::Model fitted;
        try {
            fitted = model::fit(h.visible(axis, visibleEpochs), h.split, rc.shapeOf(task), tc, seed, sharded,
                                &interruption);
        } catch (const StopRequested& e) {
            throw StopRequested("signal " + std::to_string(stopSignal()) + " received: candidate " + position +
                                " (subregion " + std::to_string(task.subregion) + " L=" + std::to_string(task.L) +
                                " K=" + std::to_string(task.K) + " S=" + std::to_string(task.S) + ") " + e.what() +
                                " in " + store.dir() + "; rerun the same command with --resume to continue");
        }
        const auto& sm = fitted.summary;
        // Every rank holds a data-parallel model: they score it and forecast its points together.
        const double score = !sm.ok() ? std::numeric_limits<double>::quiet_NaN()
                             : sharded != nullptr
                                 ? h.cut->score(sharedAmong(team, modelForecaster(fitted, rc.threads)))
                             : keeper ? h.cut->score(modelForecaster(fitted, rc.threads))
                                      : std::numeric_limits<double>::quiet_NaN();
        if (!keeper) {
            if (sharded != nullptr) out.models.emplace(task.index, std::move(fitted));
            return;
        }
        TaskResult r;
        r.index = task.index;
        r.status = static_cast<std::int32_t>(sm.status);
        r.rank = comm.rank();
        r.epochs = sm.epochs;
        r.validationMae = sm.ok() ? sm.validationMae : std::numeric_limits<double>::quiet_NaN();
        r.score = score;
        r.seconds = sm.seconds;
        r.trainSamples = sm.trainSamples;
        r.validationSamples = sm.validationSamples;
        out.local.push_back(r);
        log::info() << "candidate " << position << ": " << model::toString(sm.status) << ", validation MAE "
                    << r.validationMae << " mm, selection score " << r.score << " mm, " << sm.epochs
                    << " epochs, train loss " << sm.trainLoss << ", " << sm.seconds << " s";
        store.put(name + ".done", finishedRecord(r, fitted));
        store.remove(name + ".state");
        out.models.emplace(task.index, std::move(fitted));
    };
    auto stopMessage = [&store](std::size_t done, std::size_t of) {
        return "signal " + std::to_string(stopSignal()) + " received: stopped before candidate " +
               std::to_string(done + 1) + "/" + std::to_string(of) + " of this rank; the finished candidates are in " +
               store.dir() + ": rerun the same command with --resume to continue";
    };

    // Data-parallel candidates first, each by its group: shard k of each minibatch is computed
    // by group rank k % size, the shard records are all-gathered and summed in shard order.
    // Every rank takes its groups' candidates in plan order (so the groups' collectives never
    // wait on each other in a cycle), then the candidates it trains alone.
    const auto groupTasks = plan.groupTasksOf(comm.rank());
    const std::size_t planned = groupTasks.size() + queue.planned();
    // Before each data-parallel candidate its group agrees: 0 go, 1 stop (a signal), 2 a member
    // failed. A rank that stopped or failed still joins this agreement of each of its later
    // groups, so that no group waits for it.
    enum Verdict : int { kGo = 0, kStop = 1, kFailed = 2 };
    std::size_t visited = 0;  // group tasks whose agreement this rank has joined
    bool inGroupTask = false, abandoned = false;
    coordinated(comm, "train", [&] {
        std::size_t done = 0;
        std::exception_ptr stopped;
        for (; visited < groupTasks.size(); ++visited) {
            const Task& task = groupTasks[visited];
            const Comm& team = *groups.at(task.subregion);
            const int ranks = team.size();
            model::ShardedTraining sharded;
            sharded.shards = rc.shards;
            sharded.mine = [&](int k) { return k % ranks == team.rank(); };
            sharded.part = team.rank();
            sharded.parts = ranks;
            sharded.gather = [&](const std::vector<float>& mine) { return team.allgatherv(mine); };
            sharded.exchange = [&](const std::vector<float>& mine, std::size_t R, std::vector<float>& all) {
                // Rank r holds shards r, r + ranks, ...: every rank knows every rank's count.
                const std::size_t P = static_cast<std::size_t>(rc.shards);
                std::vector<std::size_t> counts(static_cast<std::size_t>(ranks));
                for (std::size_t r = 0; r < counts.size(); ++r) counts[r] = (P + counts.size() - 1 - r) / counts.size() * R;
                const std::vector<float> gathered = team.allgatherv(mine, counts);
                // Rank order -> shard order.
                all.assign(gathered.size(), 0.0f);
                std::size_t at = 0;
                for (int r = 0; r < ranks; ++r)
                    for (std::size_t k = static_cast<std::size_t>(r); k < P; k += static_cast<std::size_t>(ranks), at += R)
                        std::copy_n(gathered.data() + at, R, all.data() + k * R);
            };
            const int verdict = team.allreduce(
                static_cast<int>(abandoned ? kFailed : stopped || stopSignal() != 0 ? kStop : kGo), Reduce::kMax);
            if (verdict == kFailed) abandoned = true;  // the run fails: this rank trains nothing more
            if (verdict == kStop && !stopped) stopped = std::make_exception_ptr(StopRequested(stopMessage(done, planned)));
            if (verdict != kGo) continue;
            ++done;
            inGroupTask = true;
            try {
                trainOne(task, team, &sharded,
                         std::to_string(done) + "/" + std::to_string(planned) +
                             " on this rank (data-parallel on ranks " + std::to_string(task.rank) + ".." +
                             std::to_string(task.rank + task.groupSize - 1) + ")");
            } catch (const StopRequested&) {
                stopped = std::current_exception();  // the whole group stopped at the same minibatch
            }
            inGroupTask = false;
        }
        if (abandoned) {
            queue.close();  // another rank's failure is reported for all at the end of the phase
            return;
        }
        if (stopped) std::rethrow_exception(stopped);
        // Then the candidates trained alone: this rank's, then others' (work stealing).
        int from = comm.rank();
        while (true) {
            // Slurm's warning (USR1) or TERM: stop at this task boundary, before the output
            // exists, so that the job can be requeued (exit code 3).
            if (stopSignal() != 0) throw StopRequested(stopMessage(done, planned));
            std::optional<Task> task = queue.next(from);
            if (!task) break;
            if (held.count(task->subregion) == 0)  // its rows arrived with it
                held.emplace(task->subregion,
                             holdSubregion(task->subregion, rows.at(task->subregion), rc, axis, visibleEpochs));
            ++done;
            trainOne(*task, comm, nullptr,
                     from == comm.rank() ? std::to_string(done) + "/" + std::to_string(planned) + " on this rank"
                                         : std::to_string(done) + " on this rank (taken from rank " +
                                               std::to_string(from) + ", " + std::to_string(planned) + " planned here)");
        }
    }, [&](bool failed) {
        if (failed) {
            queue.close();  // hands out nothing more
            // Tell this rank's later groups (a failure inside a data-parallel candidate leaves
            // its group in that candidate's collectives: not recoverable here).
            for (std::size_t k = visited + (inGroupTask ? 1 : 0); k < groupTasks.size(); ++k)
                (void)groups.at(groupTasks[k].subregion)->allreduce(static_cast<int>(kFailed), Reduce::kMax);
        }
        queue.finish();  // ranks done early (or failed) sleep here, answering those still working
    });
    return out;
}

// ---------------------------------------------------------------- baselines
// A baseline's selection score on one subregion (all-gathered, trivially copyable).
struct BaselineScore {
    std::int32_t subregion = 0;
    std::int32_t baseline = 0;
    double score = 0;
    double seconds = 0;
};

struct BaselineOutcome {
    std::vector<BaselineScore> local;
    std::vector<std::uint64_t> rows;  // global rows whose holdout forecasts follow
    std::vector<float> holdout;       // rows x (baselines x Y) differentials, mm
};

// Each subregion's first rank scores every baseline on the validation cut and forecasts the
// hidden epochs of all the subregion's points with each (for the metrics beside HLSTM).
BaselineOutcome baselineStage(const Comm& comm, const RunConfig& rc, const Plan& plan, const Groups& groups,
                              const std::map<std::int32_t, Held>& held, std::int32_t nSub, const BaselineSet& baselines,
                              const model::TimeAxis& axis, std::size_t visibleEpochs) {
    BaselineOutcome out;
    const std::size_t nB = baselines.kinds.size(), Y = static_cast<std::size_t>(rc.horizon);
    coordinated(comm, "baselines", [&] {
        for (const auto& [s, h] : held) {
            if (s >= nSub) continue;
            // A data-parallel subregion's rows are on every rank of its group: each takes a slice
            // of them (a rank outside the group holds them for a candidate of its own only).
            const bool shared = spread(plan, s);
            const Comm* group = groupOf(groups, s);
            const bool lead = leads(plan, s, comm.rank());
            if (shared ? group == nullptr : !lead) continue;
            const auto [from, to] = shared ? sliceOf(*group, h.rows->rows.size()) : std::pair{std::size_t{0}, h.rows->rows.size()};
            const std::size_t n = to - from;
            const std::size_t first = out.holdout.size();
            out.holdout.resize(first + n * nB * Y);
            out.rows.insert(out.rows.end(), h.rows->rows.begin() + static_cast<std::ptrdiff_t>(from),
                            h.rows->rows.begin() + static_cast<std::ptrdiff_t>(to));
            const model::SeriesView all = h.visible(axis, visibleEpochs);
            const model::SeriesView mine{all.row(from), n, all.epochs, all.time, all.stride};
            for (std::size_t b = 0; b < nB; ++b) {
                const auto start = std::chrono::steady_clock::now();
                const Forecaster f = baselines.forecaster(b, rc.horizon);
                const double score = h.cut->score(shared ? sharedAmong(*group, f) : f);
                std::vector<float> diff;
                if (n > 0) ratesToDifferentials(f(mine), rc.horizon, axis, visibleEpochs - 1, diff);
                for (std::size_t i = 0; i < n; ++i)
                    std::copy_n(diff.data() + i * Y, Y, out.holdout.data() + first + (i * nB + b) * Y);
                const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
                // Every participant's time counts; the score once (the others' is NaN).
                out.local.push_back({s, static_cast<std::int32_t>(b), lead ? score : std::nan(""), seconds});
            }
        }
    });
    return out;
}

// ---------------------------------------------------------------- select
// What won a subregion: a grid candidate (task >= 0) or a baseline (baseline >= 0).
struct Choice {
    std::int32_t task = -1;
    std::int32_t baseline = -1;
    double score = std::numeric_limits<double>::quiet_NaN();
    double bestCandidate = std::numeric_limits<double>::quiet_NaN();
    std::int32_t bestBaseline = -1;
    double bestBaselineScore = std::numeric_limits<double>::quiet_NaN();
    std::string why;
};

std::vector<Choice> selectStage(const RunConfig& rc, const Plan& plan, const std::vector<TaskResult>& results,
                                const std::vector<BaselineScore>& baselineScores, const BaselineSet& baselines,
                                std::int32_t nSub) {
    std::vector<Choice> choice(static_cast<std::size_t>(nSub));
    auto better = [](double a, double b) { return std::isfinite(a) && (!std::isfinite(b) || a < b); };
    for (const auto& r : results) {
        const std::int32_t sub = plan.tasks[static_cast<std::size_t>(r.index)].subregion;
        if (sub >= nSub) continue;  // a learned baseline's model, not a candidate
        auto& c = choice[static_cast<std::size_t>(sub)];
        const double key = rc.selectSmoothed ? r.score : r.validationMae;
        if (r.status != 0) continue;
        if (better(key, c.task < 0 ? std::nan("") : c.score)) {
            c.task = r.index;
            c.score = key;
        }
        if (better(r.score, c.bestCandidate)) c.bestCandidate = r.score;
    }
    for (const auto& b : baselineScores) {
        auto& c = choice[static_cast<std::size_t>(b.subregion)];
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
    for (auto& c : choice) {
        char line[256];
        const std::string bname =
            c.bestBaseline >= 0 ? model::toString(baselines.kinds[static_cast<std::size_t>(c.bestBaseline)]) : "none";
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

// ---------------------------------------------------------------- forecast and return

// Sends `width` floats per global row to the rows' owners; returns nLocal x width, NaN where
// nothing arrived (collective).
std::vector<float> toOwners(const Comm& comm, const std::vector<std::uint64_t>& ownerOffsets, const LocalBlock& block,
                            const std::vector<std::uint64_t>& rows, const std::vector<float>& values, std::size_t width) {
    const auto ranks = static_cast<std::size_t>(comm.size());
    std::vector<std::vector<std::size_t>> byOwner(ranks);
    for (std::size_t k = 0; k < rows.size(); ++k) {
        const auto owner = static_cast<std::size_t>(
            std::upper_bound(ownerOffsets.begin(), ownerOffsets.end(), rows[k]) - ownerOffsets.begin() - 1);
        byOwner[owner].push_back(k);
    }
    std::vector<std::uint64_t> sendRows;
    std::vector<float> sendVals;
    std::vector<std::size_t> rowCounts(ranks), valCounts(ranks);
    for (std::size_t r = 0; r < ranks; ++r) {
        for (std::size_t k : byOwner[r]) {
            sendRows.push_back(rows[k]);
            sendVals.insert(sendVals.end(), values.begin() + static_cast<std::ptrdiff_t>(k * width),
                            values.begin() + static_cast<std::ptrdiff_t>((k + 1) * width));
        }
        rowCounts[r] = byOwner[r].size();
        valCounts[r] = byOwner[r].size() * width;
    }
    const auto gotRows = comm.alltoallv(sendRows, rowCounts);
    const auto gotVals = comm.alltoallv(sendVals, valCounts);
    std::vector<float> out(block.points.size() * width, kNaN);
    for (std::size_t k = 0; k < gotRows.size(); ++k)
        std::copy_n(gotVals.data() + k * width, width, out.data() + (gotRows[k] - block.keptOffset) * width);
    return out;
}

struct ForecastOutcome {
    std::vector<std::uint64_t> rows;
    std::vector<float> values;  // rows x (3 Y + 1), see forecastStage
    std::vector<std::int32_t> modelSubregions;
    std::vector<std::string> modelBytes;
    std::vector<std::pair<std::int32_t, std::vector<float>>> halfWidths;  // subregion -> per step
};

// The rank holding each subregion's winner forecasts all its points: the hidden epochs (from
// the visible part), the Y epochs beyond the archive, and the conformal interval half-widths.
ForecastOutcome forecastStage(const Comm& comm, const RunConfig& rc, const Plan& plan, const Groups& groups,
                              const std::map<std::int32_t, Held>& held, const std::vector<Choice>& choice,
                              const std::map<std::int32_t, model::Model>& models, const BaselineSet& baselines,
                              const model::TimeAxis& axis, std::size_t visibleEpochs, std::size_t m) {
    ForecastOutcome out;
    const std::size_t Y = static_cast<std::size_t>(rc.horizon);
    // A winner's row for its owner: [holdout differentials | next rates | next cumulative |
    // split], 3 Y + 1 floats; the interval half-widths travel per subregion.
    coordinated(comm, "forecast", [&] {
        for (const auto& [s, h] : held) {
            if (s >= static_cast<std::int32_t>(choice.size())) continue;  // learned baselines: see learnedStage
            const Choice& c = choice[static_cast<std::size_t>(s)];
            const std::size_t n = h.rows->rows.size();
            // A data-parallel subregion's rows (and a data-parallel winner) are on every rank of
            // its group: each forecasts a slice of its rows, and they compute the intervals
            // together. A rank outside the group holds the rows for a candidate of its own.
            const Comm* group = groupOf(groups, s);
            bool shared = spread(plan, s) && group != nullptr;
            bool owner = leads(plan, s, comm.rank());  // keeps the intervals (and the model)
            Forecaster f;
            if (c.task >= 0) {
                auto it = models.find(c.task);
                if (it == models.end()) continue;
                const Task& task = plan.tasks[static_cast<std::size_t>(c.task)];
                // A candidate trained alone is held by the rank that trained it (maybe not the
                // planned one); a data-parallel one by its group, the first rank keeping it.
                owner = !task.sharded || task.rank == comm.rank();
                shared = task.sharded;
                const model::Model& mdl = it->second;
                f = modelForecaster(mdl, rc.threads);
                if (owner) {
                    // The stored model holds what prediction needs; its wall time lives in
                    // /timing, so that the file does not depend on the machine or rank count.
                    model::Model stored = mdl;
                    stored.summary.seconds = 0;
                    stored.summary.trainSeconds = 0;
                    out.modelSubregions.push_back(s);
                    out.modelBytes.push_back(model::toBytes(stored));
                }
            } else if (c.baseline >= 0 && (shared || owner)) {
                f = baselines.forecaster(static_cast<std::size_t>(c.baseline), rc.horizon);
            } else {
                continue;
            }
            if (owner || shared) {
                const std::vector<float> half =
                    h.cut->intervalHalfWidths(shared ? sharedAmong(*group, f) : f, rc.interval, rc.intervalCuts);
                if (owner) out.halfWidths.emplace_back(s, half.empty() ? std::vector<float>(Y, kNaN) : half);
            }
            const auto [first, last] = shared ? sliceOf(*group, n) : std::pair{std::size_t{0}, n};
            const std::size_t count = last - first;
            if (count == 0) continue;
            const std::size_t V = visibleEpochs;
            std::vector<float> holdout;
            ratesToDifferentials(f({h.rows->full + first * m, count, V, &axis, m}), rc.horizon, axis, V - 1,
                                 holdout);
            const std::vector<float> next = f({h.rows->full + first * m, count, m, &axis, m});
            std::vector<std::int8_t> isValidation(n, 0);
            for (auto v : h.split.validation) isValidation[v] = 1;
            for (std::size_t i = first; i < last; ++i) {
                const std::size_t k = i - first;
                out.rows.push_back(h.rows->rows[i]);
                double cum = h.rows->full[i * m + m - 1];
                for (std::size_t y = 0; y < Y; ++y) out.values.push_back(holdout[k * Y + y]);
                for (std::size_t y = 0; y < Y; ++y) out.values.push_back(next[k * Y + y]);
                for (std::size_t y = 0; y < Y; ++y) {
                    cum += next[k * Y + y];
                    out.values.push_back(static_cast<float>(cum));
                }
                out.values.push_back(isValidation[i]);
            }
        }
    });
    return out;
}

// ---------------------------------------------------------------- learned baselines
// The rank that trained a learned baseline (one model of all points) forecasts the hidden
// epochs of every point with it; the values travel to the owners like the other baselines'.
// Returns nLocal x (learned x Y) differentials (collective).
std::vector<float> learnedStage(const Comm& comm, const RunConfig& rc, const Plan& plan, std::int32_t nSub,
                                const std::map<std::int32_t, Held>& held,
                                const std::map<std::int32_t, model::Model>& models,
                                const std::vector<std::uint64_t>& ownerOffsets, const LocalBlock& block,
                                const model::TimeAxis& axis, std::size_t visibleEpochs) {
    const std::size_t Y = static_cast<std::size_t>(rc.horizon), nL = rc.learned().size(), n = block.points.size();
    std::vector<float> out(n * nL * Y, kNaN);
    for (std::size_t j = 0; j < nL; ++j) {
        const std::int32_t pseudo = nSub + static_cast<std::int32_t>(j);
        std::vector<std::uint64_t> rows;
        std::vector<float> values;
        coordinated(comm, "learned baselines", [&] {
            for (const auto& t : plan.tasks) {
                if (t.subregion != pseudo || t.rank != comm.rank()) continue;
                auto it = models.find(t.index);
                if (it == models.end() || !it->second.summary.ok()) continue;
                const Held& h = held.at(pseudo);
                rows = h.rows->rows;
                ratesToDifferentials(model::forecast(it->second, h.visible(axis, visibleEpochs), rc.threads).differential,
                                     rc.horizon, axis, visibleEpochs - 1, values);
            }
        });
        const std::vector<float> got = toOwners(comm, ownerOffsets, block, rows, values, Y);
        for (std::size_t i = 0; i < n; ++i) std::copy_n(got.data() + i * Y, Y, out.data() + (i * nL + j) * Y);
    }
    return out;
}

// ---------------------------------------------------------------- metrics
// Named metric tables computed on root in global row order, then shared with every rank.
class MetricBook {
public:
    void add(const std::string& name, std::vector<Metrics> values) {
        names_.push_back(name);
        values_.push_back(std::move(values));
    }
    [[nodiscard]] const std::vector<Metrics>& operator[](const std::string& name) const {
        for (std::size_t i = 0; i < names_.size(); ++i)
            if (names_[i] == name) return values_[i];
        throw RuntimeError("metrics: no table " + name);
    }
    [[nodiscard]] bool has(const std::string& name) const {
        return std::find(names_.begin(), names_.end(), name) != names_.end();
    }
    // Root's values to every rank (every rank added the same names in the same order).
    void share(const Comm& comm) {
        std::vector<double> flat;
        for (const auto& v : values_) {
            flat.push_back(static_cast<double>(v.size()));
            for (const auto& x : v) flat.insert(flat.end(), {static_cast<double>(x.n), x.mae, x.sd, x.mse, x.accuracy});
        }
        comm.bcastVector(flat);
        std::size_t o = 0;
        for (auto& v : values_) {
            v.resize(static_cast<std::size_t>(flat[o++]));
            for (auto& x : v) {
                x = {static_cast<std::uint64_t>(flat[o]), flat[o + 1], flat[o + 2], flat[o + 3], flat[o + 4]};
                o += 5;
            }
        }
    }

private:
    std::vector<std::string> names_;
    std::vector<std::vector<Metrics>> values_;
};

// The forecasts of this rank's rows (owners' view) and what they are judged against.
struct OwnerForecasts {
    std::vector<float> pred, observed, truth;         // holdout differentials, rows x Y
    std::vector<float> predCum, observedCum, truthCum;  // increments since the last visible epoch
    std::vector<float> low, high;                      // holdout cumulative interval (absolute, mm)
    std::vector<float> nextDiff, nextCum, nextLow, nextHigh;
    std::vector<float> persistence;
    std::vector<std::vector<float>> baseline, baselineCum;  // per baseline, rows x Y
    std::vector<std::int8_t> split;
    std::vector<std::int8_t> covered;  // rows x Y: observed inside the holdout interval (1), not (0), no interval (-1)
};

OwnerForecasts ownerForecasts(const LocalBlock& block, const HoldoutTail& tail, const std::vector<float>& winner,
                              const std::vector<std::vector<float>>& halfWidths,
                              const std::vector<std::int32_t>& subregion, const std::vector<float>& baselineVals,
                              std::size_t nB, std::size_t Y, std::size_t visibleEpochs, bool hasTruth) {
    const std::size_t n = block.points.size(), m = block.points.nEpochs(), W = 3 * Y + 1;
    const std::size_t tw = block.truthEpochs, t0 = m - tw;  // truth holds the last tw epochs
    OwnerForecasts f;
    const std::size_t yN = n * Y;
    for (auto* v : {&f.pred, &f.observed, &f.truth, &f.predCum, &f.observedCum, &f.truthCum, &f.low, &f.high,
                    &f.nextDiff, &f.nextCum, &f.nextLow, &f.nextHigh, &f.persistence})
        v->assign(yN, kNaN);
    f.baseline.assign(nB, std::vector<float>(yN, kNaN));
    f.baselineCum = f.baseline;
    f.split.assign(n, -1);
    f.covered.assign(yN, -1);
    for (std::size_t i = 0; i < n; ++i) {
        const auto c = [&](std::size_t t) { return tail.at(i, t); };
        const float* w = winner.data() + i * W;
        const float* half = halfWidths[static_cast<std::size_t>(subregion[i])].data();
        const float last = c(visibleEpochs - 1);
        if (std::isfinite(w[3 * Y])) f.split[i] = static_cast<std::int8_t>(w[3 * Y]);
        double cum = 0, truthCum0 = hasTruth ? block.truth[i * tw + visibleEpochs - 1 - t0] : 0.0;
        std::vector<double> bcum(nB, 0.0);
        for (std::size_t y = 0; y < Y; ++y) {
            const std::size_t t = visibleEpochs + y, k = i * Y + y;
            f.pred[k] = w[y];
            // A held-out value missing from the input is not judged (gap filling would invent it).
            const bool seen = block.observed(i, t) && (t - 1 < visibleEpochs || block.observed(i, t - 1));
            f.observed[k] = seen ? c(t) - c(t - 1) : kNaN;
            if (hasTruth) {
                f.truth[k] = block.truth[i * tw + t - t0] - block.truth[i * tw + t - 1 - t0];
                f.truthCum[k] = static_cast<float>(block.truth[i * tw + t - t0] - truthCum0);
            }
            f.persistence[k] = c(visibleEpochs - 1) - c(visibleEpochs - 2);  // the last visible differential
            cum += w[y];
            f.predCum[k] = static_cast<float>(cum);
            f.observedCum[k] = block.observed(i, t) ? c(t) - last : kNaN;
            f.low[k] = static_cast<float>(last + cum - half[y]);
            f.high[k] = static_cast<float>(last + cum + half[y]);
            if (std::isfinite(half[y]) && std::isfinite(cum) && std::isfinite(f.observedCum[k]))
                f.covered[k] = std::abs(f.observedCum[k] - cum) <= half[y] ? 1 : 0;
            f.nextDiff[k] = w[Y + y];
            f.nextCum[k] = w[2 * Y + y];
            f.nextLow[k] = w[2 * Y + y] - half[y];
            f.nextHigh[k] = w[2 * Y + y] + half[y];
            for (std::size_t b = 0; b < nB; ++b) {
                const float v = baselineVals[i * nB * Y + b * Y + y];
                f.baseline[b][k] = v;
                bcum[b] += v;
                f.baselineCum[b][k] = static_cast<float>(bcum[b]);
            }
        }
    }
    return f;
}

MetricBook metricsStage(const Comm& comm, const OwnerForecasts& f, const std::vector<std::int32_t>& subregion,
                        const std::vector<std::int32_t>& zone, std::size_t Y, std::int32_t nSub, std::int32_t nZones,
                        const std::vector<std::string>& names, bool hasTruth, double* coverage) {
    std::vector<std::int32_t> groupSub, groupZone, groupStep;
    for (std::size_t i = 0; i < subregion.size(); ++i)
        for (std::size_t y = 0; y < Y; ++y) {
            groupSub.push_back(subregion[i]);
            groupZone.push_back(zone[i]);
            groupStep.push_back(static_cast<std::int32_t>(y));
        }
    const bool root = comm.isRoot();
    const auto sub = comm.gatherv(groupSub), zn = comm.gatherv(groupZone), step = comm.gatherv(groupStep);
    const auto pred = comm.gatherv(f.pred), obs = comm.gatherv(f.observed), truth = comm.gatherv(f.truth);
    const auto pCum = comm.gatherv(f.predCum), oCum = comm.gatherv(f.observedCum), tCum = comm.gatherv(f.truthCum);
    MetricBook book;
    auto table = [&](const std::vector<float>& p, const std::vector<float>& t, const std::vector<std::int32_t>& g,
                     std::int32_t groups) { return root ? groupMetrics(p, t, g, groups) : std::vector<Metrics>{}; };
    book.add("global", table(pred, obs, {}, 1));
    book.add("sub", table(pred, obs, sub, nSub));
    book.add("zone", table(pred, obs, zn, nZones));
    book.add("step", table(pCum, oCum, step, static_cast<std::int32_t>(Y)));
    if (hasTruth) {
        book.add("global_truth", table(pred, truth, {}, 1));
        book.add("sub_truth", table(pred, truth, sub, nSub));
        book.add("zone_truth", table(pred, truth, zn, nZones));
        book.add("step_truth", table(pCum, tCum, step, static_cast<std::int32_t>(Y)));
    }
    for (std::size_t b = 0; b < names.size(); ++b) {
        const std::string& name = names[b];
        const auto bp = comm.gatherv(f.baseline[b]), bc = comm.gatherv(f.baselineCum[b]);
        book.add(name, table(bp, obs, {}, 1));
        book.add(name + "/sub", table(bp, obs, sub, nSub));
        book.add(name + "/step", table(bc, oCum, step, static_cast<std::int32_t>(Y)));
        if (hasTruth) {
            book.add(name + "/truth", table(bp, truth, {}, 1));
            book.add(name + "/sub_truth", table(bp, truth, sub, nSub));
            book.add(name + "/step_truth", table(bc, tCum, step, static_cast<std::int32_t>(Y)));
        }
    }
    book.share(comm);
    // Holdout coverage of the cumulative intervals (the observed value inside [low, high]).
    std::uint64_t inside = 0, counted = 0;
    for (auto c : f.covered) {
        counted += c >= 0 ? 1 : 0;
        inside += c == 1 ? 1 : 0;
    }
    inside = comm.allreduce(inside, Reduce::kSum);
    counted = comm.allreduce(counted, Reduce::kSum);
    *coverage = counted > 0 ? static_cast<double>(inside) / static_cast<double>(counted) : std::nan("");
    return book;
}

// ---------------------------------------------------------------- write
template <class T>
void writeSmall2D(const h5::File& out, const std::string& path, const std::vector<T>& values, std::uint64_t rows,
                  std::uint64_t cols, bool writer) {
    auto ds = out.createDataset<T>(path, {rows, cols});
    ds.writeRows(0, writer ? rows : 0, values.data());
}

std::vector<double> maeOf(const std::vector<Metrics>& v) {
    std::vector<double> out;
    for (const auto& m : v) out.push_back(m.mae);
    return out;
}

struct RunResults {
    const RunConfig* rc;
    const LocalBlock* block;
    const partition::PartitionResult* part;
    const partition::PartitionConfig* pcfg;
    const Plan* plan;
    const std::vector<TaskResult>* results;
    const std::vector<Choice>* choice;
    const BaselineSet* baselines;
    std::vector<std::string> baselineNames;  // per-point baselines, then the learned ones
    const std::vector<BaselineScore>* baselineScores;
    const std::vector<std::vector<float>>* halfWidths;  // per subregion, Y
    const OwnerForecasts* f;
    const MetricBook* book;
    double coverage;
    std::size_t visibleEpochs;
    bool hasTruth;
    std::vector<std::int32_t> modelSub;
    std::vector<std::uint64_t> modelOffset, modelSize;
    std::vector<std::uint8_t> modelBytes;
};

void writeStage(const Comm& comm, const Config& config, const RunResults& r, h5::File& out) {
    const RunConfig& rc = *r.rc;
    const LocalBlock& block = *r.block;
    const auto& subs = r.part->summary.subregions;
    const auto nSub = static_cast<std::int32_t>(subs.size());
    const std::uint64_t nTotal = block.keptTotal, off = block.keptOffset, Y = static_cast<std::uint64_t>(rc.horizon);
    const bool root = comm.isRoot();
    const MetricBook& book = *r.book;
    const OwnerForecasts& f = *r.f;
    writeRowsOf(out, "/points/x", nTotal, off, block.points.x);
    writeRowsOf(out, "/points/y", nTotal, off, block.points.y);
    writeRowsOf(out, "/points/id", nTotal, off, block.points.ids);
    writePointGeography(comm, out, block);
    writeRowsOf(out, "/points/split", nTotal, off, f.split);
    partition::writePartition(out, *r.part, off, r.pcfg->dbDistance);
    std::vector<float> absError(f.pred.size());
    for (std::size_t k = 0; k < absError.size(); ++k) absError[k] = std::abs(f.pred[k] - f.observed[k]);
    writeRowsOf(out, "/forecast/holdout_true", nTotal, off, f.observed, Y);
    writeRowsOf(out, "/forecast/holdout_pred", nTotal, off, f.pred, Y);
    writeRowsOf(out, "/forecast/abs_error", nTotal, off, absError, Y);
    writeRowsOf(out, "/forecast/persistence_pred", nTotal, off, f.persistence, Y);
    if (r.hasTruth) writeRowsOf(out, "/forecast/holdout_truth", nTotal, off, f.truth, Y);
    writeRowsOf(out, "/forecast/holdout_interval_low", nTotal, off, f.low, Y);
    writeRowsOf(out, "/forecast/holdout_interval_high", nTotal, off, f.high, Y);
    writeRowsOf(out, "/forecast/next_diff", nTotal, off, f.nextDiff, Y);
    writeRowsOf(out, "/forecast/next_cumulative", nTotal, off, f.nextCum, Y);
    writeRowsOf(out, "/forecast/interval_low", nTotal, off, f.nextLow, Y);
    writeRowsOf(out, "/forecast/interval_high", nTotal, off, f.nextHigh, Y);
    out.writeSmall<std::int32_t>("/forecast/next_dates", dates::following(block.points.dates, rc.horizon));
    out.writeSmall<std::int32_t>("/forecast/holdout_dates",
                                 std::vector<std::int32_t>(block.points.dates.begin() + static_cast<std::ptrdiff_t>(r.visibleEpochs),
                                                           block.points.dates.end()));

    // One row per subregion: what won it and why.
    std::vector<std::int32_t> sid, szone, sL, sK, sS, srank, sstatus;
    std::vector<std::uint64_t> sn;
    std::vector<double> svmae, ssec, sscore, scand, sbscore;
    std::vector<std::string> smethod, swhy, sbest;
    std::vector<float> shalf;
    for (std::int32_t s = 0; s < nSub; ++s) {
        const auto& info = subs[static_cast<std::size_t>(s)];
        const Choice& c = (*r.choice)[static_cast<std::size_t>(s)];
        const Task* t = c.task >= 0 ? &r.plan->tasks[static_cast<std::size_t>(c.task)] : nullptr;
        const TaskResult* tr = c.task >= 0 ? &(*r.results)[static_cast<std::size_t>(c.task)] : nullptr;
        sid.push_back(info.id);
        szone.push_back(info.zone);
        sn.push_back(info.nPoints);
        sL.push_back(t ? t->L : -1);
        sK.push_back(t ? t->K : -1);
        sS.push_back(t ? t->S : -1);
        srank.push_back(t ? t->rank : -1);
        sstatus.push_back(c.task >= 0 || c.baseline >= 0 ? 0 : 1);
        svmae.push_back(tr ? tr->validationMae : std::nan(""));
        ssec.push_back(tr ? tr->seconds : std::nan(""));
        sscore.push_back(c.score);
        scand.push_back(c.bestCandidate);
        sbscore.push_back(c.bestBaselineScore);
        smethod.push_back(c.task >= 0 ? model::toString(rc.shape.cell)
                                      : c.baseline >= 0 ? model::toString(r.baselines->kinds[static_cast<std::size_t>(c.baseline)])
                                                        : "none");
        swhy.push_back(c.why);
        sbest.push_back(c.bestBaseline >= 0 ? model::toString(r.baselines->kinds[static_cast<std::size_t>(c.bestBaseline)]) : "");
        const auto& hw = (*r.halfWidths)[static_cast<std::size_t>(s)];
        shalf.insert(shalf.end(), hw.begin(), hw.end());
    }
    out.writeSmall("/subregions/id", sid);
    out.writeSmall("/subregions/zone", szone);
    out.writeSmall("/subregions/n_points", sn);
    out.writeSmall("/subregions/L", sL);
    out.writeSmall("/subregions/K", sK);
    out.writeSmall("/subregions/S", sS);
    out.writeSmall("/subregions/failed", sstatus);
    out.writeStrings("/subregions/method", smethod);
    out.writeStrings("/subregions/why", swhy);
    out.writeSmall("/subregions/selection_score", sscore);
    out.writeSmall("/subregions/best_candidate_score", scand);
    out.writeStrings("/subregions/best_baseline", sbest);
    out.writeSmall("/subregions/best_baseline_score", sbscore);
    out.writeSmall("/subregions/validation_mae", svmae);
    writeSmall2D(out, "/subregions/interval_halfwidth", shalf, static_cast<std::uint64_t>(nSub), Y, root);
    writeMetricColumns(out, "/subregions/", book["sub"]);
    out.writeSmall("/subregions/mae_persistence", maeOf(book["persistence/sub"]));
    if (r.hasTruth) out.writeSmall("/subregions/mae_truth", maeOf(book["sub_truth"]));
    // Timing and placement depend on the run, not on the data: kept apart in /timing.
    out.writeSmall("/timing/subregion_seconds", ssec);
    out.writeSmall("/timing/subregion_rank", srank);

    // One row per candidate.
    std::vector<std::int32_t> gi, gs, gL, gK, gS, gst, gep, grank;
    std::vector<double> gmae, gscore, gsec, gcost;
    std::vector<std::uint64_t> gtr, gva;
    for (const auto& tr : *r.results) {
        const auto& t = r.plan->tasks[static_cast<std::size_t>(tr.index)];
        gi.push_back(t.index);
        gs.push_back(t.subregion);
        gL.push_back(t.L);
        gK.push_back(t.K);
        gS.push_back(t.S);
        gst.push_back(tr.status);
        gep.push_back(tr.epochs);
        gmae.push_back(tr.validationMae);
        gscore.push_back(tr.score);
        gtr.push_back(tr.trainSamples);
        gva.push_back(tr.validationSamples);
        gsec.push_back(tr.seconds);
        grank.push_back(tr.rank);
        gcost.push_back(t.cost);
    }
    out.writeSmall("/grid_search/task", gi);
    out.writeSmall("/grid_search/subregion", gs);
    out.writeSmall("/grid_search/L", gL);
    out.writeSmall("/grid_search/K", gK);
    out.writeSmall("/grid_search/S", gS);
    out.writeSmall("/grid_search/status", gst);
    out.writeSmall("/grid_search/epochs", gep);
    out.writeSmall("/grid_search/validation_mae", gmae);
    out.writeSmall("/grid_search/selection_score", gscore);
    out.writeSmall("/grid_search/train_samples", gtr);
    out.writeSmall("/grid_search/validation_samples", gva);
    out.writeSmall("/grid_search/cost", gcost);
    out.writeSmall("/timing/candidate_seconds", gsec);
    out.writeSmall("/timing/candidate_rank", grank);

    // One row per baseline (Table III), per subregion and per step as 2-D datasets.
    const std::size_t nB = r.baselineNames.size(), nPerPoint = r.baselines->kinds.size();
    std::vector<std::string> bname;
    std::vector<double> bmae, bsd, bmse, bacc, btruth, bsec(nB, 0.0), bscore(nB * static_cast<std::size_t>(nSub), std::nan(""));
    std::vector<double> bsub, bsubTruth, bstep, bstepTruth;
    for (const auto& bs : *r.baselineScores) {
        if (std::isfinite(bs.score))
            bscore[static_cast<std::size_t>(bs.baseline) * static_cast<std::size_t>(nSub) + static_cast<std::size_t>(bs.subregion)] = bs.score;
        bsec[static_cast<std::size_t>(bs.baseline)] += bs.seconds;
    }
    for (const auto& tr : *r.results) {  // learned baselines: their model's training time
        const auto sub = r.plan->tasks[static_cast<std::size_t>(tr.index)].subregion;
        if (sub >= nSub) bsec[nPerPoint + static_cast<std::size_t>(sub - nSub)] += tr.seconds;
    }
    for (std::size_t b = 0; b < nB; ++b) {
        const std::string& name = r.baselineNames[b];
        const Metrics& g = book[name][0];
        bname.push_back(name);
        bmae.push_back(g.mae);
        bsd.push_back(g.sd);
        bmse.push_back(g.mse);
        bacc.push_back(g.accuracy);
        for (double v : maeOf(book[name + "/sub"])) bsub.push_back(v);
        for (double v : maeOf(book[name + "/step"])) bstep.push_back(v);
        if (r.hasTruth) {
            btruth.push_back(book[name + "/truth"][0].mae);
            for (double v : maeOf(book[name + "/sub_truth"])) bsubTruth.push_back(v);
            for (double v : maeOf(book[name + "/step_truth"])) bstepTruth.push_back(v);
        }
    }
    out.writeStrings("/baselines/name", bname);
    out.writeSmall("/baselines/mae", bmae);
    out.writeSmall("/baselines/sd", bsd);
    out.writeSmall("/baselines/mse", bmse);
    out.writeSmall("/baselines/accuracy", bacc);
    if (r.hasTruth) out.writeSmall("/baselines/mae_truth", btruth);
    writeSmall2D(out, "/baselines/subregion_mae", bsub, nB, static_cast<std::uint64_t>(nSub), root);
    writeSmall2D(out, "/baselines/subregion_selection_score", bscore, nB, static_cast<std::uint64_t>(nSub), root);
    writeSmall2D(out, "/baselines/step_mae", bstep, nB, Y, root);
    if (r.hasTruth) {
        writeSmall2D(out, "/baselines/subregion_mae_truth", bsubTruth, nB, static_cast<std::uint64_t>(nSub), root);
        writeSmall2D(out, "/baselines/step_mae_truth", bstepTruth, nB, Y, root);
    }
    out.writeObjectAttribute("/baselines", "window", static_cast<std::int32_t>(r.baselines->window));
    out.writeSmall("/baselines/mlr_coefficients", r.baselines->mlr.coefficients);
    out.writeSmall("/timing/baseline_seconds", bsec);

    out.writeSmall("/models/subregion", r.modelSub);
    out.writeSmall("/models/offset", r.modelOffset);
    out.writeSmall("/models/size", r.modelSize);
    out.writeSmall("/models/bytes", r.modelBytes);

    // Metrics: attributes of /metrics (global), per-zone and per-step datasets.
    const auto& g = book["global"][0];
    out.writeObjectAttribute("/metrics", "n", g.n);
    out.writeObjectAttribute("/metrics", "mae", g.mae);
    out.writeObjectAttribute("/metrics", "sd", g.sd);
    out.writeObjectAttribute("/metrics", "mse", g.mse);
    out.writeObjectAttribute("/metrics", "accuracy", g.accuracy);
    out.writeObjectAttribute("/metrics", "mae_persistence", book["persistence"][0].mae);
    out.writeObjectAttribute("/metrics", "interval_level", rc.interval);
    out.writeObjectAttribute("/metrics", "interval_coverage", r.coverage);
    if (r.hasTruth) {
        out.writeObjectAttribute("/metrics", "mae_truth", book["global_truth"][0].mae);
        out.writeObjectAttribute("/metrics", "accuracy_truth", book["global_truth"][0].accuracy);
        out.writeObjectAttribute("/metrics", "mae_truth_persistence", book["persistence/truth"][0].mae);
    }
    writeMetricColumns(out, "/metrics/zone_", book["zone"]);
    writeMetricColumns(out, "/metrics/step_", book["step"]);
    if (r.hasTruth) {
        out.writeSmall("/metrics/zone_mae_truth", maeOf(book["zone_truth"]));
        out.writeSmall("/metrics/step_mae_truth", maeOf(book["step_truth"]));
    }

    out.writeAttribute("format", std::string("hlstm-output"));
    out.writeAttribute("format_version", static_cast<std::int32_t>(kOutputFormatVersion));
    out.writeAttribute("hlstm_version", std::string(kVersion));
    out.writeAttribute("config", config.toToml());
    out.writeAttribute("input", std::filesystem::absolute(rc.input).string());
    // Computed at the start for the checkpoints (reading a national archive twice costs a minute).
    std::string checksum = rc.inputChecksum;
    if (checksum.empty()) {
        checksum = root ? checksumOf(rc.input) : std::string();
        comm.bcast(checksum);
    }
    out.writeAttribute("input_checksum", checksum);
    out.writeAttribute("holdout", static_cast<std::int32_t>(rc.horizon));
    out.writeAttribute("complete", static_cast<std::int32_t>(1));  // last
}

// ---------------------------------------------------------------- report
void report(const RunResults& r, const std::string& output) {
    const RunConfig& rc = *r.rc;
    const MetricBook& book = *r.book;
    const auto& subs = r.part->summary.subregions;
    std::ostringstream os;
    char line[320];
    os << "holdout forecast of the last " << rc.horizon << " epoch(s), per subregion (MAE of the differential, mm):\n";
    std::snprintf(line, sizeof line, "  %4s %5s %8s %-12s %4s %3s %3s %9s %9s %9s %10s %10s\n", "sub", "zone", "points",
                  "method", "L", "K", "S", "MAE", "SD", "acc %", "MAE truth", "persist");
    os << line;
    for (std::size_t s = 0; s < subs.size(); ++s) {
        const Choice& c = (*r.choice)[s];
        const Task* t = c.task >= 0 ? &r.plan->tasks[static_cast<std::size_t>(c.task)] : nullptr;
        const std::string method = t ? model::toString(rc.shape.cell)
                                     : c.baseline >= 0 ? model::toString(r.baselines->kinds[static_cast<std::size_t>(c.baseline)])
                                                       : "none";
        const auto& mt = book["sub"][s];
        std::snprintf(line, sizeof line, "  %4d %5d %8llu %-12s %4d %3d %3d %9.3f %9.3f %9.2f %10.3f %10.3f\n",
                      subs[s].id, subs[s].zone, static_cast<unsigned long long>(subs[s].nPoints), method.c_str(),
                      t ? t->L : -1, t ? t->K : -1, t ? t->S : -1, mt.mae, mt.sd, mt.accuracy,
                      r.hasTruth ? book["sub_truth"][s].mae : std::nan(""), book["persistence/sub"][s].mae);
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
    std::vector<double> baselineSeconds(r.baselineNames.size(), 0.0);
    for (const auto& tr : *r.results) {
        const auto sub = r.plan->tasks[static_cast<std::size_t>(tr.index)].subregion;
        if (sub < nSub) hlstmSeconds += tr.seconds;
        else baselineSeconds[r.baselines->kinds.size() + static_cast<std::size_t>(sub - nSub)] += tr.seconds;
    }
    for (const auto& bs : *r.baselineScores) baselineSeconds[static_cast<std::size_t>(bs.baseline)] += bs.seconds;
    row("HLSTM", book["global"][0], r.hasTruth ? book["global_truth"][0].mae : std::nan(""), hlstmSeconds);
    for (std::size_t b = 0; b < r.baselineNames.size(); ++b) {
        const std::string& name = r.baselineNames[b];
        row(name, book[name][0], r.hasTruth ? book[name + "/truth"][0].mae : std::nan(""), baselineSeconds[b]);
    }
    std::size_t learned = 0, fallback = 0;
    std::uint64_t learnedPoints = 0, fallbackPoints = 0;
    for (std::size_t s = 0; s < subs.size(); ++s) {
        if ((*r.choice)[s].task >= 0) {
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
        std::snprintf(line, sizeof line, "\n%.0f %% intervals: holdout coverage %.3f", rc.interval * 100, r.coverage);
        os << line;
    }
    if (rc.horizon > 1) {
        os << "\ncumulative displacement per step, MAE (mm)" << (r.hasTruth ? " vs truth" : "") << ":";
        const auto& steps = book[r.hasTruth ? "step_truth" : "step"];
        for (std::size_t y = 0; y < steps.size(); ++y) os << (y ? ", " : " ") << y + 1 << ": " << steps[y].mae;
    }
    log::info() << os.str();
    log::info() << "wrote " << output << " (" << fileSizeText(output) << ")";
}

}  // namespace

int run(const Comm& comm, const Config& config, const RunArgs& args) {
    PhaseTimer timer;
    RunConfig rc;  // every rank parses the same text; agreeing on a failure gives one message
    coordinated(comm, "config", [&] { rc = RunConfig::from(config, args); });
    // The output path is checked now (never an input), not after hours of training.
    std::optional<h5::AtomicOutput> output;
    if (!args.dryRun) output.emplace(comm, args.output, std::vector<std::string>{rc.input});
    // Checkpoints next to the output, tied to this configuration, input and thread count.
    CheckpointStore store;
    if (!args.dryRun) {
        std::string fingerprint;
        coordinated(comm, "checkpoints", [&] {
            if (!comm.isRoot()) return;
            if (!rc.input.empty()) rc.inputChecksum = checksumOf(rc.input);
            fingerprint = fnv1a64(config.toToml() + "\nthreads=" + std::to_string(rc.threads) + "\ninput=" +
                                  (rc.input.empty() ? std::string("simulated") : rc.inputChecksum) +
                                  "\nversion=" + kVersion);
            CheckpointStore(args.output, fingerprint).open(args.resume);
        });
        comm.bcast(fingerprint);
        comm.bcast(rc.inputChecksum);
        store = CheckpointStore(args.output, fingerprint);
    }

    timer.start("read");
    LocalBlock block = readStage(comm, rc, args);
    const std::size_t m = block.points.nEpochs();
    const std::size_t visibleEpochs = m - static_cast<std::size_t>(rc.horizon);
    const bool hasTruth = block.stats.hasTruth;  // a file-level fact, the same on every rank
    const model::TimeAxis axis = model::TimeAxis::fromDates(block.points.dates);

    // Partition on the visible epochs only (holdout protocol).
    timer.start("partition");
    partition::PartitionConfig pcfg = partition::PartitionConfig::fromConfig(config);
    pcfg.epochs = visibleEpochs;
    const partition::PartitionResult part = partition::run(comm, block.points, pcfg);
    const auto nSub = static_cast<std::int32_t>(part.summary.subregions.size());

    timer.start("plan");
    const Plan plan = planStage(comm, rc, part.summary, block.keptTotal, visibleEpochs, args.dryRun);
    std::vector<std::int32_t> pseudo;  // learned baselines: pseudo subregions of all points
    for (std::size_t j = 0; j < rc.learned().size(); ++j) pseudo.push_back(nSub + static_cast<std::int32_t>(j));
    if (args.dryRun) {
        timer.report(comm);
        return 0;
    }

    timer.start("redistribute");
    // The owners keep only the held-out tail of their series; the rows go to the trainers.
    const HoldoutTail tail = holdoutTail(block.points, visibleEpochs);
    // Both grow when this rank takes a candidate of a subregion it does not hold (training).
    std::map<std::int32_t, SubregionRows> mine = redistribute(comm, block.points, part.subregion, plan, pseudo);
    std::map<std::int32_t, Held> held = holdSubregions(mine, rc, axis, visibleEpochs);
    const Groups groups = makeGroups(comm, plan);

    timer.start("baselines");
    BaselineSet baselines;
    baselines.kinds = rc.baselines.kinds;
    baselines.window = rc.baselineWindow();
    constexpr int kMlrLags = 12;  // the paper's MLR on lagged differentials; 12 ~ 5 months at 12 days
    baselines.mlr = fitGlobalMlr(comm, plan, held, nSub, axis, visibleEpochs,
                                 std::min<int>(kMlrLags, static_cast<int>(visibleEpochs) - 3));
    BaselineOutcome baselineOut = baselineStage(comm, rc, plan, groups, held, nSub, baselines, axis, visibleEpochs);
    std::vector<std::string> names;
    for (auto kind : baselines.kinds) names.push_back(model::toString(kind));
    for (const auto& l : rc.learned()) names.push_back(l.name);

    timer.start("train");
    TrainOutcome trained = trainStage(comm, rc, plan, groups, nSub, mine, held, axis, visibleEpochs, store);

    // Select each subregion's winner among its candidates and the baselines.
    timer.start("select");
    std::vector<TaskResult> results = comm.allgatherv(trained.local);
    std::sort(results.begin(), results.end(), [](const TaskResult& a, const TaskResult& b) { return a.index < b.index; });
    std::vector<BaselineScore> baselineScores = comm.allgatherv(baselineOut.local);
    std::sort(baselineScores.begin(), baselineScores.end(), [](const BaselineScore& a, const BaselineScore& b) {
        return a.subregion != b.subregion ? a.subregion < b.subregion : a.baseline < b.baseline;
    });
    const std::vector<Choice> choice = selectStage(rc, plan, results, baselineScores, baselines, nSub);

    timer.start("forecast");
    std::vector<std::uint64_t> ownerOffsets(static_cast<std::size_t>(comm.size()) + 1, 0);
    {
        const auto counts = comm.allgather<std::uint64_t>(block.points.size());
        for (std::size_t r = 0; r < counts.size(); ++r) ownerOffsets[r + 1] = ownerOffsets[r] + counts[r];
    }
    const std::vector<float> learnedVals =
        learnedStage(comm, rc, plan, nSub, held, trained.models, ownerOffsets, block, axis, visibleEpochs);
    for (auto it = trained.models.begin(); it != trained.models.end();) {  // keep winners only
        const auto& t = plan.tasks[static_cast<std::size_t>(it->first)];
        const bool wins = t.subregion < nSub && choice[static_cast<std::size_t>(t.subregion)].task == it->first;
        it = wins ? std::next(it) : trained.models.erase(it);
    }
    ForecastOutcome fc =
        forecastStage(comm, rc, plan, groups, held, choice, trained.models, baselines, axis, visibleEpochs, m);
    const std::size_t Y = static_cast<std::size_t>(rc.horizon), nB = names.size();
    const std::size_t nPerPoint = baselines.kinds.size(), nL = nB - nPerPoint;
    const std::vector<float> winnerVals = toOwners(comm, ownerOffsets, block, fc.rows, fc.values, 3 * Y + 1);
    // Every baseline's holdout differentials per owned row: the per-point ones, then the learned.
    std::vector<float> baselineVals(block.points.size() * nB * Y, kNaN);
    {
        const std::vector<float> perPoint =
            toOwners(comm, ownerOffsets, block, baselineOut.rows, baselineOut.holdout, nPerPoint * Y);
        for (std::size_t i = 0; i < block.points.size(); ++i) {
            std::copy_n(perPoint.data() + i * nPerPoint * Y, nPerPoint * Y, baselineVals.data() + i * nB * Y);
            std::copy_n(learnedVals.data() + i * nL * Y, nL * Y, baselineVals.data() + i * nB * Y + nPerPoint * Y);
        }
    }
    baselineOut = {};
    // Interval half-widths per subregion, gathered in subregion order.
    std::vector<std::vector<float>> halfWidths(static_cast<std::size_t>(nSub), std::vector<float>(Y, kNaN));
    {
        std::vector<float> flat;
        for (const auto& [s, hw] : fc.halfWidths) {
            flat.push_back(static_cast<float>(s));
            flat.insert(flat.end(), hw.begin(), hw.end());
        }
        const auto all = comm.allgatherv(flat);
        for (std::size_t o = 0; o + Y + 1 <= all.size(); o += Y + 1)
            std::copy_n(all.begin() + static_cast<std::ptrdiff_t>(o + 1), Y,
                        halfWidths[static_cast<std::size_t>(all[o])].begin());
    }

    timer.start("metrics");
    const OwnerForecasts owned =
        ownerForecasts(block, tail, winnerVals, halfWidths, part.subregion, baselineVals, nB, Y, visibleEpochs, hasTruth);
    {
        std::uint64_t unseen = 0;
        for (std::size_t i = 0; i < block.points.size(); ++i)
            for (std::size_t t = visibleEpochs; t < m; ++t) unseen += block.observed(i, t) ? 0 : 1;
        unseen = comm.allreduce(unseen, Reduce::kSum);
        if (unseen > 0 && comm.isRoot())
            log::warn() << unseen << " held-out value(s) of " << block.keptTotal * Y
                        << " are missing in the input: they are excluded from the metrics (not gap-filled)";
    }
    double coverage = 0;
    const MetricBook book =
        metricsStage(comm, owned, part.subregion, part.zone, Y, nSub,
                     static_cast<std::int32_t>(part.summary.zoneCenters.size()), names, hasTruth, &coverage);

    // Models of the winners, gathered everywhere (small) so all ranks write the same bytes,
    // ordered by subregion id (gathering order depends on which rank won what).
    RunResults rr{&rc, &block, &part, &pcfg, &plan, &results, &choice, &baselines, names, &baselineScores, &halfWidths,
                  &owned, &book, coverage, visibleEpochs, hasTruth, {}, {}, {}, {}};
    {
        std::vector<std::int32_t> modelSub = comm.allgatherv(fc.modelSubregions);
        std::vector<std::uint64_t> localSizes;
        std::vector<char> localBytes;
        for (const auto& b : fc.modelBytes) {
            localSizes.push_back(b.size());
            localBytes.insert(localBytes.end(), b.begin(), b.end());
        }
        const std::vector<std::uint64_t> sizes = comm.allgatherv(localSizes);
        const std::vector<char> bytes = comm.allgatherv(localBytes);
        std::vector<std::size_t> order(modelSub.size());
        for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
        std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return modelSub[a] < modelSub[b]; });
        std::vector<std::uint64_t> src(modelSub.size() + 1, 0);
        for (std::size_t i = 0; i < modelSub.size(); ++i) src[i + 1] = src[i] + sizes[i];
        for (std::size_t i : order) {
            rr.modelSub.push_back(modelSub[i]);
            rr.modelOffset.push_back(rr.modelBytes.size());
            rr.modelSize.push_back(sizes[i]);
            rr.modelBytes.insert(rr.modelBytes.end(), bytes.begin() + static_cast<std::ptrdiff_t>(src[i]),
                                 bytes.begin() + static_cast<std::ptrdiff_t>(src[i + 1]));
        }
    }

    // Write: one collective file, each block owner its rows; complete = 1 last, then rename.
    timer.start("write");
    output->write("write", [&](h5::File& out) { writeStage(comm, config, rr, out); });
    if (comm.isRoot()) store.removeAll();  // the output is complete: nothing to resume
    timer.stop();
    if (comm.isRoot()) report(rr, args.output);
    timer.report(comm);
    return 0;
}

}  // namespace hlstm::pipeline
