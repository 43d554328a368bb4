#include "hlstm/partition/partition.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <memory>
#include <optional>

#include "hlstm/core/coordinated.hpp"
#include "hlstm/core/error.hpp"
#include "hlstm/core/log.hpp"
#include "hlstm/core/memory.hpp"
#include "hlstm/core/scratch_spill.hpp"
#include "hlstm/partition/davies_bouldin.hpp"
#include "hlstm/partition/kdp.hpp"
#include "hlstm/partition/kmeans1d.hpp"

namespace hlstm::partition {
namespace {

constexpr int kLargestK = 100;  // the DP keeps k_max back-pointer rows; beyond this is a typo
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

struct Coordinates {
    double x, y;
};

void validate(const PartitionConfig& c) {
    if (c.kMin < 2) throw ConfigError("partition.k_min = " + std::to_string(c.kMin) + ": must be at least 2");
    if (c.kMax < c.kMin)
        throw ConfigError("partition.k_max = " + std::to_string(c.kMax) +
                          ": must be at least partition.k_min = " + std::to_string(c.kMin));
    if (c.kMax > kLargestK)
        throw ConfigError("partition.k_max = " + std::to_string(c.kMax) + ": at most " + std::to_string(kLargestK));
    if (!(c.alpha >= 0.0) || !std::isfinite(c.alpha))
        throw ConfigError("partition.alpha = " + std::to_string(c.alpha) + ": must be a finite number >= 0");
}

// Rows of a spilled block read back in chunks of ~8 MiB: asked for in row order, the file is
// read once per pass.
class SpilledRows {
public:
    SpilledRows(ScratchSpill& spill, std::size_t rows, std::size_t epochs)
        : spill_(&spill), rows_(rows), epochs_(std::max<std::size_t>(epochs, 1)) {}
    const float* operator()(std::size_t i) {
        if (i < first_ || i >= first_ + count_) {
            const std::size_t perChunk = std::max<std::size_t>(1, kChunkBytes / sizeof(float) / epochs_);
            chunk_->resize(perChunk * epochs_);
            first_ = i;
            count_ = std::min(perChunk, rows_ - i);
            spill_->read(0, i * epochs_ * sizeof(float), count_ * epochs_ * sizeof(float), chunk_->data());
        }
        return chunk_->data() + (i - first_) * epochs_;
    }

private:
    static constexpr std::size_t kChunkBytes = std::size_t{8} << 20;
    ScratchSpill* spill_;
    std::size_t rows_, epochs_, first_ = 0, count_ = 0;
    std::shared_ptr<std::vector<float>> chunk_ = std::make_shared<std::vector<float>>();  // copies share it
};

// Index of the smallest finite value (first on ties), -1 if none.
int argminFinite(const std::vector<double>& v) {
    int best = -1;
    for (std::size_t i = 0; i < v.size(); ++i)
        if (std::isfinite(v[i]) && (best < 0 || v[i] < v[static_cast<std::size_t>(best)])) best = static_cast<int>(i);
    return best;
}

}  // namespace

PartitionConfig PartitionConfig::fromConfig(const Config& config) {
    PartitionConfig c;
    const std::int64_t kMin = config.getInt("partition.k_min"), kMax = config.getInt("partition.k_max");
    if (kMin < 2 || kMin > kLargestK)
        throw ConfigError("partition.k_min = " + std::to_string(kMin) + ": must be in 2.." + std::to_string(kLargestK));
    if (kMax < kMin || kMax > kLargestK)
        throw ConfigError("partition.k_max = " + std::to_string(kMax) + ": must be in partition.k_min (" +
                          std::to_string(kMin) + ").." + std::to_string(kLargestK));
    c.kMin = static_cast<int>(kMin);
    c.kMax = static_cast<int>(kMax);
    const std::string& distance = config.getString("partition.db_distance");
    if (distance == "velocity")
        c.dbDistance = DbDistance::kVelocity;
    else if (distance == "pearson")
        c.dbDistance = DbDistance::kPearson;
    else
        throw ConfigError("partition.db_distance = '" + distance + "': expected 'velocity' or 'pearson'");
    c.alpha = config.getDouble("partition.alpha");
    const std::int64_t minPoints = config.getInt("partition.min_points");
    if (minPoints < 0) throw ConfigError("partition.min_points = " + std::to_string(minPoints) + ": must be >= 0");
    c.minPoints = static_cast<std::uint64_t>(minPoints);
    validate(c);
    return c;
}

namespace {

// run()'s body; `spillable` is `block` when the root may move its series to `spillPath`.
PartitionResult runPartition(const Comm& comm, const PointSet& block, const PartitionConfig& config,
                             PointSet* spillable, const std::string& spillPath) {
    validate(config);  // same config on every rank: all throw alike
    const auto t0 = Clock::now();
    PartitionResult result;
    PartitionSummary& s = result.summary;
    const std::size_t n = block.size();
    const std::size_t epochs = config.epochs == 0 ? block.nEpochs() : std::min(config.epochs, block.nEpochs());
    for (int k = config.kMin; k <= config.kMax; ++k) s.kValues.push_back(k);
    s.alpha = config.alpha;
    auto timed = [&s](const char* phase, Clock::time_point start) { s.timings.emplace_back(phase, since(start)); };

    auto rowName = [&block](std::size_t i) {
        return "partition: point at row " + std::to_string(block.rows.empty() ? i : block.rows[i]) +
               (block.ids.empty() ? std::string() : " (id " + std::to_string(block.ids[i]) + ")");
    };
    coordinated(comm, "partition:check", [&] {
        if (block.x.size() != n || block.y.size() != n || block.displacement.size() != n * block.nEpochs())
            throw RuntimeError("partition: the point set's coordinates and series differ in length");
        for (std::size_t i = 0; i < n; ++i)
            if (!std::isfinite(block.x[i]) || !std::isfinite(block.y[i]))
                throw InputError(rowName(i) + " has a coordinate that is not finite");
    });

    // 1. Coordinates to root (the triangulation runs there after the DB index, step 5).
    auto t = Clock::now();
    std::vector<Coordinates> local(n);
    for (std::size_t i = 0; i < n; ++i) local[i] = {block.x[i], block.y[i]};
    std::vector<Coordinates> gathered = comm.gatherv(local);
    std::vector<Coordinates>().swap(local);
    std::vector<double> xs, ys;
    if (comm.isRoot()) {
        xs.resize(gathered.size());
        ys.resize(gathered.size());
        for (std::size_t i = 0; i < gathered.size(); ++i) {
            xs[i] = gathered[i].x;
            ys[i] = gathered[i].y;
        }
    }
    std::vector<Coordinates>().swap(gathered);
    timed("gather_coordinates", t);
    logMemory("partition: coordinates gathered");

    // 2. Velocity of this rank's points (eq.: OLS slope of cumulative displacement, mm/yr).
    t = Clock::now();
    coordinated(comm, "partition:velocity", [&] {
        std::vector<double> years = dates::yearsSinceFirst(block.dates);
        years.resize(epochs);
        result.velocity = velocities(block, years);
        for (std::size_t i = 0; i < n; ++i)
            if (!std::isfinite(result.velocity[i]))
                throw InputError(rowName(i) + " has no velocity: fewer than 2 finite values in the first " +
                                 std::to_string(epochs) + " epochs");
    });
    timed("velocity", t);
    logMemory("partition: velocities");

    // The root's series wait in a scratch file until the triangulation is cut (peak memory:
    // its block beside the K-means tables, then beside CGAL's triangulation, was the run's
    // peak); the Pearson sums read them back in row order.
    std::optional<ScratchSpill> spill;
    t = Clock::now();
    coordinated(comm, "partition:spill", [&] {
        if (!comm.isRoot() || spillable == nullptr || spillPath.empty() || n == 0) return;
        spill.emplace(spillPath);
        spill->add(spillable->displacement);
        try {
            spill->write();
        } catch (...) {
            spill.reset();
            throw;
        }
    });
    if (spill) {
        timed("spill", t);
        logMemory("partition: series spilled");
    }

    // 3. Velocities to root; exact K-means for every k (one DP to k_max).
    t = Clock::now();
    std::vector<double> allVelocity = comm.gatherv(result.velocity);
    s.nPoints = comm.allreduce<std::uint64_t>(n, Reduce::kSum);
    SortedSample sample;
    std::vector<Clustering1d> clusterings;
    std::vector<double> boundaries;
    coordinated(comm, "partition:kmeans", [&] {
        if (!comm.isRoot() || allVelocity.empty()) return;
        sample = SortedSample::from(allVelocity);
        clusterings = kmeans1d(sample, config.kMin, config.kMax);
        for (const auto& c : clusterings)
            if (c.k > 0) boundaries.insert(boundaries.end(), c.starts.begin() + 1, c.starts.end());
        std::sort(boundaries.begin(), boundaries.end());
        boundaries.erase(std::unique(boundaries.begin(), boundaries.end()), boundaries.end());
    });
    comm.bcastVector(boundaries);
    timed("kmeans", t);
    logMemory("partition: k-means");

    // 4. DB index per k: velocity distance on root; Pearson distance from per-bin sums of
    //    every rank's series, reduced (each cluster is a run of bins).
    t = Clock::now();
    const PearsonSums pearson =
        spill ? PearsonSums::accumulate(comm, n, block.nEpochs(), SpilledRows(*spill, n, block.nEpochs()),
                                        result.velocity, boundaries, epochs)
              : PearsonSums::accumulate(comm, block, result.velocity, boundaries, epochs);
    coordinated(comm, "partition:spill", [&] {
        if (spill) spill->check();
    });
    if (config.dbDistance == DbDistance::kPearson && pearson.differentials() < 2)
        throw ConfigError("partition.db_distance = pearson needs at least 3 epochs; the partition sees " +
                          std::to_string(epochs));
    std::vector<std::int32_t> zoneAll;
    coordinated(comm, "partition:db_index", [&] {
        if (!comm.isRoot()) return;
        for (std::size_t q = 0; q < clusterings.size(); ++q) {
            const Clustering1d& c = clusterings[q];
            // scikit-learn's range: 2 <= k <= n - 1 (and k distinct values at least)
            const bool feasible = c.k > 0 && static_cast<std::uint64_t>(c.k) < s.nPoints;
            s.dbVelocity.push_back(feasible ? daviesBouldinVelocity(sample, c) : kNaN);
            s.dbPearson.push_back(feasible ? pearson.dbIndex(c) : kNaN);
        }
        if (s.dbVelocity.empty()) {  // no points at all
            s.dbVelocity.assign(s.kValues.size(), kNaN);
            s.dbPearson.assign(s.kValues.size(), kNaN);
        }
        const int best = argminFinite(config.dbDistance == DbDistance::kPearson ? s.dbPearson : s.dbVelocity);
        Clustering1d chosen;
        if (best >= 0) {
            chosen = clusterings[static_cast<std::size_t>(best)];
        } else if (!sample.values.empty()) {
            chosen = clusteringFromStarts(sample, {sample.values.front()});  // one zone
        }
        s.kChosen = chosen.k;
        s.zoneCenters = chosen.centers;
        s.zoneStarts = chosen.starts;
        s.zoneSizes = chosen.sizes;
        zoneAll.resize(allVelocity.size());
        for (std::size_t i = 0; i < allVelocity.size(); ++i) zoneAll[i] = chosen.clusterOf(allVelocity[i]);
        // Freed before the triangulation (peak memory: not the K-means tables beside it).
        sample = SortedSample();
        std::vector<Clustering1d>().swap(clusterings);
    });
    timed("db_index", t);
    logMemory("partition: DB index");

    // 5. Triangulate; cut long and cross-zone edges; components; numbering. The triangulation
    //    runs after the K-means and DB index, not beside them in a thread: the rank's peak
    //    memory is its block and the larger of the two, not both (1,000,000 points: ~165 MiB
    //    of CGAL triangulation and edges, ~100 MiB of K-means tables), for ~0.5 s.
    t = Clock::now();
    std::vector<std::int32_t> subregionAll;
    coordinated(comm, "partition:kdp", [&] {
        if (!comm.isRoot()) return;
        const DelaunayGraph graph = delaunayGraph(xs, ys);
        releaseFreeMemory();  // the triangulation's pages, before the cut
        timed("delaunay", t);
        logMemory("partition: triangulated");
        const auto tc = Clock::now();
        KdpResult kdp = kdpSubregions(graph, xs, ys, zoneAll, {config.alpha, config.minPoints});
        s.edgeMean = kdp.edgeMean;
        s.edgeStd = kdp.edgeStd;
        s.edgeThreshold = kdp.edgeThreshold;
        s.nEdges = kdp.nEdges;
        s.nCutEdges = kdp.nCutEdges;
        s.nCutLong = kdp.nCutLong;
        s.nComponents = kdp.nComponents;
        s.nNoise = kdp.nNoise;
        s.nDuplicates = graph.duplicates;
        if (graph.duplicates > 0)
            log::warn() << graph.duplicates << " point(s) share their coordinates with an earlier point: one Delaunay "
                        << "vertex each; " << kdp.nForeignDuplicates
                        << " of them lie in another velocity zone than that point and go to the noise subregion";
        s.noiseId = kdp.noiseId;
        s.subregions.resize(static_cast<std::size_t>(kdp.nSubregions));
        for (std::int32_t id = 0; id < kdp.nSubregions; ++id) {
            auto& info = s.subregions[static_cast<std::size_t>(id)];
            info.id = id;
            info.noise = id == kdp.noiseId;
        }
        std::vector<double> sum(s.subregions.size(), 0.0);
        for (std::size_t i = 0; i < kdp.subregion.size(); ++i) {
            auto& info = s.subregions[static_cast<std::size_t>(kdp.subregion[i])];
            if (info.nPoints == 0) {
                info.firstRow = i;
                info.zone = info.noise ? -1 : zoneAll[i];
            }
            ++info.nPoints;
            sum[static_cast<std::size_t>(kdp.subregion[i])] += allVelocity[i];
        }
        for (std::size_t id = 0; id < sum.size(); ++id)
            s.subregions[id].meanVelocity = sum[id] / static_cast<double>(s.subregions[id].nPoints);
        subregionAll = std::move(kdp.subregion);
        timed("cut_components", tc);
        logMemory("partition: components");
    });

    // The triangulation's pages given back, the series read back.
    t = Clock::now();
    coordinated(comm, "partition:spill", [&] {
        if (!spill) return;
        releaseFreeMemory();
        spill->restore();
        spill.reset();
        timed("read_back", t);
        logMemory("partition: series read back");
    });

    // 6. Summary to every rank, labels back to the owners of the rows.
    t = Clock::now();
    const std::vector<std::uint64_t> counts = comm.allgather<std::uint64_t>(n);
    std::vector<std::vector<std::int32_t>> parts;
    if (comm.isRoot()) {
        std::size_t offset = 0;
        for (std::uint64_t c : counts) {
            std::vector<std::int32_t> part(2 * c);
            for (std::size_t i = 0; i < c; ++i) {
                part[2 * i] = zoneAll[offset + i];
                part[2 * i + 1] = subregionAll[offset + i];
            }
            offset += c;
            parts.push_back(std::move(part));
        }
    }
    const std::vector<std::int32_t> mine = comm.scatter(parts);
    result.zone.resize(n);
    result.subregion.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
        result.zone[i] = mine[2 * i];
        result.subregion[i] = mine[2 * i + 1];
    }
    timed("scatter_labels", t);
    timed("total", t0);
    comm.bcast(s);
    return result;
}

}  // namespace

PartitionResult run(const Comm& comm, const PointSet& localBlock, const PartitionConfig& config) {
    return runPartition(comm, localBlock, config, nullptr, "");
}

PartitionResult run(const Comm& comm, PointSet& localBlock, const PartitionConfig& config,
                    const std::string& spillPath) {
    return runPartition(comm, localBlock, config, &localBlock, spillPath);
}

}  // namespace hlstm::partition
