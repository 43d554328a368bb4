// `hlstm run`'s per-method evidence (issue 20): /baselines/holdout_pred, the error distribution in
// /baselines and /metrics recomputed from the per-point datasets, the paired comparison with the
// best baseline, and the spatial file written at the end with spatial.enabled.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "hlstm/io/hdf5.hpp"
#include "hlstm/io/output_format.hpp"
#include "test_support.hpp"

using namespace hlstm;
using namespace hlstm::test;

namespace {

// numpy's default (linear) quantile of sorted values.
double quantile(const std::vector<double>& s, double p) {
    const double h = p * static_cast<double>(s.size() - 1);
    const auto lo = static_cast<std::size_t>(std::floor(h));
    const std::size_t hi = std::min(lo + 1, s.size() - 1);
    return s[lo] + (h - static_cast<double>(lo)) * (s[hi] - s[lo]);
}

std::vector<double> absErrors(const std::vector<double>& pred, const std::vector<double>& ref) {
    std::vector<double> e;
    for (std::size_t i = 0; i < pred.size(); ++i)
        if (std::isfinite(pred[i]) && std::isfinite(ref[i])) e.push_back(std::fabs(pred[i] - ref[i]));
    std::sort(e.begin(), e.end());
    return e;
}

TEST(ErrorDistribution, RecomputedFromThePerPointDatasets) {
    TempDir dir;
    ASSERT_EQ(
        run(hlstmUnderMpi(2) + " simulate --points 3000 --epochs 45 --seed 5 -o " + dir.file("scene.h5")).exitCode, 0);
    const std::string out = dir.file("out.h5");
    const auto r =
        run("env OMP_NUM_THREADS=1 " + hlstmUnderMpi(3) + " run --input " + dir.file("scene.h5") + " -o " + out +
                " --partition.min_points 300 --grid.L 8 --grid.K 1 --grid.S 6 --train.epochs 3 "
                "--train.batch 64 --train.threads 1 --run.error_threshold 0.7 --spatial.enabled true",
            300);
    ASSERT_EQ(r.exitCode, 0) << r.output;
    EXPECT_NE(r.output.find("error distribution of the holdout differentials"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("Table V"), std::string::npos) << r.output;

    const h5::File f(out, h5::Access::kReadOnly);
    namespace ob = output::baselines;
    namespace om = output::metrics;
    const auto names = f.readStrings(ob::kName);
    const auto pred = f.openDataset(output::forecast::kHoldoutPred).readAll<double>();
    const auto obs = f.openDataset(output::forecast::kHoldoutTrue).readAll<double>();
    const auto truth = f.openDataset(output::forecast::kHoldoutTruth).readAll<double>();
    const auto persistence = f.openDataset(output::forecast::kPersistencePred).readAll<double>();
    const std::size_t n = pred.size();
    ASSERT_EQ(n, 3000u);  // Y = 1

    // Per-method predictions: methods x points x Y; persistence's row is /forecast/persistence_pred.
    const auto hp = f.openDataset(ob::kHoldoutPred);
    ASSERT_EQ(hp.dims(), (std::vector<std::uint64_t>{names.size(), n, 1}));
    const auto all = hp.readAll<double>();
    const auto p = static_cast<std::size_t>(std::find(names.begin(), names.end(), "persistence") - names.begin());
    ASSERT_LT(p, names.size());
    std::size_t finite = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const double v = all[p * n + i];
        ASSERT_EQ(std::isfinite(v), std::isfinite(persistence[i])) << "row " << i;
        if (!std::isfinite(v)) continue;
        ASSERT_DOUBLE_EQ(v, persistence[i]) << "row " << i;
        ++finite;
    }
    EXPECT_GT(finite, 2900u);

    // HLSTM's distribution from /forecast, each baseline's from its row, against observed and truth.
    EXPECT_DOUBLE_EQ(f.readObjectAttribute<double>(ob::kGroup, ob::kAttrErrorThreshold), 0.7);
    auto check = [&](const std::vector<double>& e, double within, const std::vector<double>& q,
                     const std::string& what) {
        SCOPED_TRACE(what);
        ASSERT_FALSE(e.empty());
        const auto inside = std::upper_bound(e.begin(), e.end(), 0.7) - e.begin();
        EXPECT_NEAR(within, static_cast<double>(inside) / static_cast<double>(e.size()), 1e-12);
        EXPECT_NEAR(q[0], e.back(), 1e-5);
        EXPECT_NEAR(q[1], quantile(e, 0.5), 1e-5);
        EXPECT_NEAR(q[2], quantile(e, 0.9), 1e-5);
        EXPECT_NEAR(q[3], quantile(e, 0.99), 1e-5);
        EXPECT_GT(within, 0.0);
        EXPECT_LT(within, 1.0);
    };
    check(absErrors(pred, obs), f.readObjectAttribute<double>(om::kGroup, om::kAttrWithinThreshold),
          f.openDataset(om::kAbsErrorQuantiles).readAll<double>(), "hlstm vs observed");
    check(absErrors(pred, truth), f.readObjectAttribute<double>(om::kGroup, om::kAttrWithinThresholdTruth),
          f.openDataset(om::kAbsErrorQuantilesTruth).readAll<double>(), "hlstm vs truth");
    const auto within = f.openDataset(ob::kWithinThreshold).readAll<double>();
    const auto quant = f.openDataset(ob::kAbsErrorQuantiles).readAll<double>();
    for (std::size_t b = 0; b < names.size(); ++b) {
        const std::vector<double> row(all.begin() + static_cast<std::ptrdiff_t>(b * n),
                                      all.begin() + static_cast<std::ptrdiff_t>((b + 1) * n));
        check(absErrors(row, obs), within[b], {quant.begin() + 4 * b, quant.begin() + 4 * b + 4}, names[b]);
    }

    // Paired: HLSTM's MAE minus the best baseline's (smallest /baselines/mae) over the same points.
    const auto mae = f.openDataset(ob::kMae).readAll<double>();
    const std::size_t best = static_cast<std::size_t>(std::min_element(mae.begin(), mae.end()) - mae.begin());
    double sum = 0, count = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const double b = all[best * n + i];
        if (!std::isfinite(pred[i]) || !std::isfinite(b) || !std::isfinite(obs[i])) continue;
        sum += std::fabs(pred[i] - obs[i]) - std::fabs(b - obs[i]);
        count += 1;
    }
    const double diff = f.readObjectAttribute<double>(om::kGroup, om::kAttrPairedDifference);
    EXPECT_NEAR(diff, sum / count, 1e-6);
    EXPECT_EQ(f.readObjectAttribute<std::uint64_t>(om::kGroup, om::kAttrPairedN), static_cast<std::uint64_t>(count));
    EXPECT_LE(f.readObjectAttribute<double>(om::kGroup, om::kAttrPairedLow), diff);
    EXPECT_GE(f.readObjectAttribute<double>(om::kGroup, om::kAttrPairedHigh), diff);
    EXPECT_GT(f.readObjectAttribute<std::uint64_t>(om::kGroup, om::kAttrPairedBlocks), 1u);

    // spatial.enabled: OUT.spatial.h5 over the points with a velocity.
    const h5::File s(dir.file("out.spatial.h5"), h5::Access::kReadOnly);
    const auto velocity = f.openDataset(output::points::kVelocity).readAll<double>();
    const auto nVelocity = std::count_if(velocity.begin(), velocity.end(), [](double v) { return std::isfinite(v); });
    EXPECT_EQ(s.openDataset(output::spatial::kMoranN).readAll<std::int64_t>()[0], nVelocity);
    EXPECT_EQ(s.openDataset(output::spatial::kNniN).readAll<std::int64_t>()[0], nVelocity);
}

}  // namespace
