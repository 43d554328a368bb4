// partition::run at 1-4 ranks: the Pearson DB index against a NumPy reference, two blobs,
// the Table I patterns scene, a missing velocity, and the same partition as one process.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>

#include "hlstm/core/error.hpp"
#include "hlstm/core/random.hpp"
#include "hlstm/data/native_reader.hpp"
#include "hlstm/data/simulate.hpp"
#include "hlstm/partition/davies_bouldin.hpp"
#include "hlstm/partition/kmeans1d.hpp"
#include "hlstm/partition/partition.hpp"
#include "test_support.hpp"

using namespace hlstm;
using namespace hlstm::partition;

namespace {

std::vector<std::int32_t> twelveDayDates(std::size_t m) {
    std::vector<std::int32_t> d;
    for (std::size_t t = 0; t < m; ++t)
        d.push_back(dates::fromDays(dates::toDays(20200101) + 12 * static_cast<std::int64_t>(t)));
    return d;
}

// This rank's block of a global point set given by a function of the global index.
template <class F> PointSet blockOf(const Comm& comm, std::size_t n, std::size_t m, F&& pointAt) {
    PointSet p;
    p.dates = twelveDayDates(m);
    const BlockRange b = blockRange(n, comm.size(), comm.rank());
    for (std::size_t i = b.begin; i < b.end; ++i) {
        p.ids.push_back(static_cast<std::int64_t>(i));
        p.rows.push_back(i);
        double x = 0, y = 0;
        std::vector<float> series(m);
        pointAt(i, x, y, series);
        p.x.push_back(x);
        p.y.push_back(y);
        p.displacement.insert(p.displacement.end(), series.begin(), series.end());
    }
    return p;
}

double hashUnit(std::size_t i, std::size_t salt) {  // deterministic in [-1, 1)
    std::uint64_t h = (i + 1) * 0x9E3779B97F4A7C15ULL ^ (salt + 7) * 0xBF58476D1CE4E5B9ULL;
    h ^= h >> 31;
    h *= 0x94D049BB133111EBULL;
    h ^= h >> 29;
    return static_cast<double>(h >> 11) / static_cast<double>(1ULL << 52) - 1.0;
}

std::vector<std::int32_t> gatherAll(const Comm& comm, const std::vector<std::int32_t>& local) {
    return comm.allgatherv(local);
}

// Points spread over 1 km squares (x shifted by xOffset(i) m) whose cumulative series grow at
// rate(i) mm/yr plus deterministic noise of +-noise mm.
template <class Rate, class Offset>
PointSet linearScene(const Comm& comm, std::size_t n, std::size_t m, Rate rate, Offset xOffset, double noise) {
    const std::vector<double> years = dates::yearsSinceFirst(twelveDayDates(m));
    return blockOf(comm, n, m, [&](std::size_t i, double& x, double& y, std::vector<float>& s) {
        x = xOffset(i) + 1000.0 * (0.5 + 0.5 * hashUnit(i, 1));
        y = 1000.0 * (0.5 + 0.5 * hashUnit(i, 2));
        for (std::size_t t = 0; t < m; ++t) s[t] = static_cast<float>(rate(i) * years[t] + noise * hashUnit(i, 10 + t));
    });
}

}  // namespace

// NumPy reference (the definitions written out directly, see the test's data) for 9 points x
// 7 epochs: cumulative series below, clusters by velocity rank {0..2},{3..8} and
// {0,1},{2..4},{5..8}.
TEST(PartitionMpi, PearsonDbIndexEqualsNumPyReference) {
    Comm comm;
    const std::vector<std::vector<float>> series = {
        {-1.60000002f, 0.300000012f, -0.800000012f, 3.0999999f, 4.f, 5.9000001f, 12.8000002f},
        {0.f, -2.5333333f, -1.06666672f, -3.5999999f, -2.13333344f, -4.66666651f, -7.19999981f},
        {1.60000002f, -1.10000002f, -3.79999995f, -2.5f, -5.19999981f, -3.9000001f, -6.5999999f},
        {-0.800000012f, 1.93333328f, 1.66666663f, 2.4000001f, 8.13333321f, 10.8666668f, 18.6000004f},
        {0.800000012f, -0.933333337f, 1.33333337f, -0.400000006f, -2.13333344f, 0.13333334f, -1.60000002f},
        {-1.60000002f, 0.600000024f, -1.20000005f, 1.f, -0.800000012f, -2.5999999f, -0.400000006f},
        {0.f, -0.699999988f, 3.5999999f, 4.9000001f, 11.1999998f, 14.5f, 18.7999992f},
        {1.60000002f, 0.366666675f, -0.866666675f, 1.89999998f, 0.666666687f, 3.4333334f, 2.20000005f},
        {-0.800000012f, 2.0666666f, 0.933333337f, -0.200000003f, 2.66666675f, 1.5333333f, 4.4000001f}};
    PointSet block = blockOf(comm, 9, 7, [&](std::size_t i, double& x, double& y, std::vector<float>& s) {
        x = static_cast<double>(i);
        y = 0.0;
        s = series[i];
    });
    const std::vector<double> velocity = velocities(block, dates::yearsSinceFirst(block.dates));
    const SortedSample sample = SortedSample::from(comm.allgatherv(velocity));
    ASSERT_EQ(sample.values.size(), 9u);
    const auto& v = sample.values;
    const Clustering1d two = clusteringFromStarts(sample, {v[0], v[3]});
    const Clustering1d three = clusteringFromStarts(sample, {v[0], v[2], v[5]});
    const PearsonSums sums = PearsonSums::accumulate(comm, block, velocity, {v[2], v[3], v[5]}, 0);
    EXPECT_NEAR(sums.dbIndex(two), 0.5492554060973943, 1e-9);
    EXPECT_NEAR(sums.dbIndex(three), 1.0004651739273946, 1e-9);
    // the velocity curve on the same clusterings (scikit-learn 1.2.1 davies_bouldin_score)
    EXPECT_NEAR(daviesBouldinVelocity(sample, two), 0.6811201382228848, 1e-9);
    EXPECT_NEAR(daviesBouldinVelocity(sample, three), 0.4394311147048528, 1e-9);
}

// The Pearson sums of 8 rows side by side (AVX-512 lanes) against one row at a time
// (HLSTM_PARTITION_ISA=portable): 1,003 noisy points (a partial last block of 8 on any rank
// count) with NaN values, flat series (zero variance) and a NaN-only stretch give the same
// DB index bit for bit for every clustering of 2 to 6 zones.
TEST(PartitionMpi, PearsonSumsOfEightRowsSideBySideEqualOneRowAtATime) {
    Comm comm;
    const std::size_t n = 1003, m = 50;
    PointSet block = blockOf(comm, n, m, [&](std::size_t i, double& x, double& y, std::vector<float>& s) {
        Rng rng(1000 + i);
        x = static_cast<double>(i);
        y = 0.0;
        const double rate = -3.0 + 0.01 * static_cast<double>(i % 600), season = rng.normal();
        double level = 0;
        for (std::size_t t = 0; t < m; ++t) {
            level += rate + rng.normal();
            s[t] = static_cast<float>(level + season * std::sin(0.6 * static_cast<double>(t)));
            if (i % 7 == 3 && t % 9 == 4) s[t] = std::numeric_limits<float>::quiet_NaN();
            if (i % 50 == 11) s[t] = 2.5f;  // flat
            if (i % 97 == 5 && t > 10 && t < 20) s[t] = std::numeric_limits<float>::quiet_NaN();
        }
    });
    std::vector<double> velocity = velocities(block, dates::yearsSinceFirst(block.dates));
    for (double& v : velocity)
        if (!std::isfinite(v)) v = 0.0;
    const SortedSample sample = SortedSample::from(comm.allgatherv(velocity));
    const std::vector<Clustering1d> clusterings = kmeans1d(sample, 2, 6);
    std::vector<double> boundaries;
    for (const auto& c : clusterings) boundaries.insert(boundaries.end(), c.starts.begin() + 1, c.starts.end());
    std::sort(boundaries.begin(), boundaries.end());
    boundaries.erase(std::unique(boundaries.begin(), boundaries.end()), boundaries.end());
    std::vector<double> got[2];
    for (int isa = 0; isa < 2; ++isa) {
        PearsonSums::setIsa(isa == 0 ? PearsonSums::Isa::kNative : PearsonSums::Isa::kPortable);
        const PearsonSums sums = PearsonSums::accumulate(comm, block, velocity, boundaries, 0);
        for (const auto& c : clusterings) got[isa].push_back(sums.dbIndex(c));
    }
    PearsonSums::setIsa(PearsonSums::Isa::kNative);
    ASSERT_EQ(got[0].size(), 5u);
    for (std::size_t k = 0; k < got[0].size(); ++k) {
        EXPECT_TRUE(std::isfinite(got[0][k])) << k + 2 << " zones";
        EXPECT_EQ(got[0][k], got[1][k]) << k + 2 << " zones";
    }
}

// Two blobs 4 km apart, subsiding at -30 and rising at +5 mm/yr, their points interleaved
// in row order: two zones, two subregions, exactly.
TEST(PartitionMpi, TwoSeparatedBlobsGiveTheirTwoSubregions) {
    Comm comm;
    const std::size_t n = 650, m = 40;
    auto inA = [](std::size_t i) { return i % 3 != 2; };  // 434 in A, 216 in B
    PointSet block = linearScene(
        comm, n, m, [&](std::size_t i) { return inA(i) ? -30.0 : 5.0; },
        [&](std::size_t i) { return inA(i) ? 0.0 : 5000.0; }, 1.5);
    PartitionConfig config;
    config.minPoints = 100;
    const PartitionResult r = run(comm, block, config);
    const auto zone = gatherAll(comm, r.zone), sub = gatherAll(comm, r.subregion);
    EXPECT_EQ(r.summary.kChosen, 2);
    ASSERT_EQ(r.summary.subregions.size(), 2u);
    EXPECT_EQ(r.summary.noiseId, -1);
    for (std::size_t i = 0; i < n; ++i) {
        EXPECT_EQ(zone[i], inA(i) ? 0 : 1) << i;
        EXPECT_EQ(sub[i], inA(i) ? 0 : 1) << i;
    }
    EXPECT_EQ(r.summary.subregions[0].nPoints, 434u);
    EXPECT_EQ(r.summary.subregions[1].nPoints, 216u);
    EXPECT_EQ(r.summary.subregions[0].zone, 0);
    EXPECT_EQ(r.summary.subregions[1].firstRow, 2u);
    EXPECT_NEAR(r.summary.subregions[0].meanVelocity, -30.0, 1.0);
    EXPECT_NEAR(r.summary.subregions[1].meanVelocity, 5.0, 1.0);
    EXPECT_EQ(r.summary.kValues.size(), 9u);
    EXPECT_EQ(r.summary.nPoints, n);
    // the velocity curve's minimum is the chosen k
    for (double db : r.summary.dbVelocity) EXPECT_GE(db, r.summary.dbVelocity[0]);
}

// The paper's Table I scene: 5 patterns, each in its own 5 x 5 km block.
TEST(PartitionMpi, TableOnePatternsSplitIntoTheirFiveBlocks) {
    Comm comm;
    test::TempDir dir(comm);
    SimulateOptions options;
    options.kind = SceneKind::kPatterns;
    options.points = 5000;
    options.epochs = 12;
    simulate(comm, options, dir.file("patterns.h5"));
    const LocalBlock block = readNative(comm, dir.file("patterns.h5"), ReadOptions{});
    PartitionConfig config;
    config.minPoints = 500;
    const PartitionResult r = run(comm, block.points, config);
    const auto sub = gatherAll(comm, r.subregion);
    ASSERT_EQ(sub.size(), 5000u);
    EXPECT_EQ(r.summary.kChosen, 5);
    ASSERT_EQ(r.summary.subregions.size(), 5u);
    EXPECT_EQ(r.summary.nNoise, 0u);
    std::vector<std::int32_t> ofBlock(5, -1);
    for (std::size_t i = 0; i < 5000; ++i) {
        const std::size_t pattern = i * 5 / 5000;
        if (ofBlock[pattern] < 0) ofBlock[pattern] = sub[i];
        EXPECT_EQ(sub[i], ofBlock[pattern]) << "row " << i;
    }
    std::sort(ofBlock.begin(), ofBlock.end());
    EXPECT_EQ(ofBlock, (std::vector<std::int32_t>{0, 1, 2, 3, 4}));
}

// A realistic simulated scene: the world partition equals the single-process one exactly
// (labels, both DB curves bit for bit, subregion table).
namespace {
// A realistic simulated scene, 6,000 points x 30 epochs of the given seed, as dir's scene.h5,
// and the partition configuration its tests use.
PartitionConfig simulatedScene(const Comm& comm, test::TempDir& dir, std::uint64_t seed) {
    SimulateOptions options;
    options.points = 6000;
    options.epochs = 30;
    options.seed = seed;
    simulate(comm, options, dir.file("scene.h5"));
    PartitionConfig config;
    config.minPoints = 50;
    config.epochs = 29;  // the holdout hides the last epoch
    return config;
}
}  // namespace

TEST(PartitionMpi, SamePartitionAsOneProcess) {
    Comm comm;
    test::TempDir dir(comm);
    const PartitionConfig config = simulatedScene(comm, dir, 4);
    const LocalBlock block = readNative(comm, dir.file("scene.h5"), ReadOptions{});
    const PartitionResult world = run(comm, block.points, config);
    const auto zone = gatherAll(comm, world.zone), sub = gatherAll(comm, world.subregion);
    const auto velocity = comm.allgatherv(world.velocity);
    if (comm.isRoot()) {
        Comm self(MPI_COMM_SELF);
        const LocalBlock all = readNative(self, dir.file("scene.h5"), ReadOptions{});
        const PartitionResult one = run(self, all.points, config);
        EXPECT_EQ(one.zone, zone);
        EXPECT_EQ(one.subregion, sub);
        EXPECT_EQ(one.velocity, velocity);
        const auto& a = one.summary;
        const auto& b = world.summary;
        EXPECT_EQ(a.kChosen, b.kChosen);
        ASSERT_EQ(a.dbPearson.size(), b.dbPearson.size());
        for (std::size_t q = 0; q < a.dbPearson.size(); ++q) {
            EXPECT_EQ(std::memcmp(&a.dbPearson[q], &b.dbPearson[q], sizeof(double)), 0) << q;
            EXPECT_EQ(std::memcmp(&a.dbVelocity[q], &b.dbVelocity[q], sizeof(double)), 0) << q;
        }
        ASSERT_EQ(a.subregions.size(), b.subregions.size());
        for (std::size_t s = 0; s < a.subregions.size(); ++s) {
            EXPECT_EQ(a.subregions[s].nPoints, b.subregions[s].nPoints);
            EXPECT_EQ(a.subregions[s].firstRow, b.subregions[s].firstRow);
            EXPECT_EQ(a.subregions[s].meanVelocity, b.subregions[s].meanVelocity);
        }
        EXPECT_EQ(a.edgeThreshold, b.edgeThreshold);
        EXPECT_GE(a.subregions.size(), 2u);
        EXPECT_GE(a.kChosen, 2);
        for (double db : a.dbPearson) EXPECT_TRUE(std::isfinite(db));
    }
    comm.barrier();
}

// Rank 0's series moved to a scratch file during the partition (peak memory): the same
// partition bit for bit, the same series afterwards, and no scratch file left.
TEST(PartitionMpi, SpilledSeriesGiveTheSamePartition) {
    Comm comm;
    test::TempDir dir(comm);
    const PartitionConfig config = simulatedScene(comm, dir, 5);
    LocalBlock block = readNative(comm, dir.file("scene.h5"), ReadOptions{});
    const std::vector<float> before = block.points.displacement;
    const PartitionResult kept = run(comm, static_cast<const PointSet&>(block.points), config);
    const std::string scratch = dir.file("series.tmp");
    const PartitionResult spilled = run(comm, block.points, config, scratch);
    EXPECT_EQ(block.points.displacement.size(), before.size());
    EXPECT_EQ(std::memcmp(block.points.displacement.data(), before.data(), before.size() * sizeof(float)), 0);
    EXPECT_FALSE(std::filesystem::exists(scratch));
    EXPECT_EQ(spilled.zone, kept.zone);
    EXPECT_EQ(spilled.subregion, kept.subregion);
    EXPECT_EQ(spilled.velocity, kept.velocity);
    const auto& a = kept.summary;
    const auto& b = spilled.summary;
    EXPECT_EQ(a.kChosen, b.kChosen);
    ASSERT_EQ(a.dbPearson.size(), b.dbPearson.size());
    for (std::size_t q = 0; q < a.dbPearson.size(); ++q) {
        EXPECT_TRUE(std::isfinite(a.dbPearson[q])) << q;
        EXPECT_EQ(std::memcmp(&a.dbPearson[q], &b.dbPearson[q], sizeof(double)), 0) << q;
    }
    EXPECT_EQ(a.nEdges, b.nEdges);
    EXPECT_EQ(a.nCutEdges, b.nCutEdges);
    // The timings name the spill on rank 0 (the root's clock).
    const bool named =
        std::any_of(b.timings.begin(), b.timings.end(), [](const auto& p) { return p.first == "read_back"; });
    EXPECT_TRUE(named);
}

namespace {
// 40 points x 6 epochs along a strip (x = i, y = i mod 7), series t * (i mod 3); the row
// `nanRow`, if any, has no finite value.
PointSet smallLine(const Comm& comm, std::size_t nanRow = std::numeric_limits<std::size_t>::max()) {
    const std::size_t n = 40, m = 6;
    return blockOf(comm, n, m, [&](std::size_t i, double& x, double& y, std::vector<float>& s) {
        x = static_cast<double>(i);
        y = static_cast<double>(i % 7);
        for (std::size_t t = 0; t < m; ++t)
            s[t] = i == nanRow ? std::numeric_limits<float>::quiet_NaN() : static_cast<float>(t * (i % 3));
    });
}
}  // namespace

// A scratch file that cannot be created: an error naming it on rank 0, on every rank, and the
// series still in memory.
TEST(PartitionMpi, UnwritableScratchIsAnErrorNamingIt) {
    Comm comm;
    PointSet block = smallLine(comm);
    const std::size_t values = block.displacement.size();
    const std::string scratch = "/nonexistent-hlstm-dir/series.tmp";
    try {
        (void)run(comm, block, PartitionConfig{}, scratch);
        ADD_FAILURE() << "no exception";
    } catch (const RemoteError& e) {
        EXPECT_NE(comm.rank(), 0);
        EXPECT_NE(std::string(e.what()).find(scratch), std::string::npos) << e.what();
    } catch (const RuntimeError& e) {
        EXPECT_EQ(comm.rank(), 0);
        EXPECT_NE(std::string(e.what()).find(scratch), std::string::npos) << e.what();
    }
    EXPECT_EQ(block.displacement.size(), values);
}

// A point whose series has no finite value: an InputError naming its row, on every rank.
TEST(PartitionMpi, MissingVelocityIsAnInputErrorEverywhere) {
    Comm comm;
    PointSet block = smallLine(comm, 37);
    try {
        (void)run(comm, block, PartitionConfig{});
        ADD_FAILURE() << "no exception";
    } catch (const RemoteError& e) {
        EXPECT_NE(std::string(e.what()).find("row 37"), std::string::npos) << e.what();
    } catch (const InputError& e) {
        EXPECT_NE(std::string(e.what()).find("row 37"), std::string::npos) << e.what();
        EXPECT_EQ(comm.rank(), comm.size() - 1);
    }
}

// 0, 1, 2 and 3 points in total (most ranks hold none): no crash, no spurious subregion.
TEST(PartitionMpi, TinyPointSets) {
    Comm comm;
    const std::size_t m = 5;
    for (std::size_t n : {0u, 1u, 2u, 3u}) {
        PointSet block = blockOf(comm, n, m, [&](std::size_t i, double& x, double& y, std::vector<float>& s) {
            x = 100.0 * static_cast<double>(i);
            y = 0.0;
            for (std::size_t t = 0; t < m; ++t) s[t] = static_cast<float>(t * (i + 1));
        });
        PartitionConfig config;
        config.minPoints = 1;
        const PartitionResult r = run(comm, block, config);
        const auto sub = gatherAll(comm, r.subregion);
        ASSERT_EQ(sub.size(), n);
        EXPECT_EQ(r.summary.nPoints, n);
        EXPECT_EQ(r.summary.dbVelocity.size(), 9u);
        // k needs 2 <= k <= n - 1: only 3 points allow k = 2
        EXPECT_EQ(r.summary.kChosen, n == 0 ? 0 : (n == 3 ? 2 : 1)) << n;
        EXPECT_EQ(r.summary.nEdges, n <= 1 ? 0u : (n == 2 ? 1u : 2u)) << n;  // collinear
        std::size_t total = 0;
        for (const auto& s : r.summary.subregions) total += s.nPoints;
        EXPECT_EQ(total, n);
        if (n == 1 || n == 2) {
            EXPECT_EQ(r.summary.subregions.size(), 1u);
            for (auto s : sub) EXPECT_EQ(s, 0);
        }
    }
}

// Velocity outliers make clusters of one and two points inside a blob: they become noise,
// the blob stays one subregion.
TEST(PartitionMpi, OutlierClustersOfOneAndTwoPointsJoinTheNoise) {
    Comm comm;
    const std::size_t n = 403, m = 30;
    auto rateOf = [](std::size_t i) { return i == 17 ? 80.0 : (i == 200 || i == 201 ? -90.0 : -10.0); };
    PointSet block = linearScene(
        comm, n, m, rateOf, [](std::size_t) { return 0.0; }, 0.5);
    PartitionConfig config;
    config.minPoints = 10;
    const PartitionResult r = run(comm, block, config);
    const auto sub = gatherAll(comm, r.subregion), zone = gatherAll(comm, r.zone);
    EXPECT_EQ(r.summary.kChosen, 3);
    ASSERT_EQ(r.summary.subregions.size(), 2u);
    EXPECT_EQ(r.summary.noiseId, 1);
    EXPECT_EQ(r.summary.nNoise, 3u);
    for (std::size_t i = 0; i < n; ++i) {
        const bool outlier = rateOf(i) != -10.0;
        EXPECT_EQ(sub[i], outlier ? 1 : 0) << i;
        EXPECT_EQ(zone[i], rateOf(i) < -50 ? 0 : (rateOf(i) > 0 ? 2 : 1)) << i;
    }
    EXPECT_EQ(r.summary.subregions[0].zone, 1);
    EXPECT_EQ(r.summary.subregions[1].zone, -1);
    EXPECT_TRUE(r.summary.subregions[1].noise);
}
