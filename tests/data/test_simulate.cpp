// hlstm simulate: native layout plus /truth; identical files for 1 and 3 ranks; the
// Table I patterns follow their trends within the U(-1, 1) noise.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>

#include "hlstm/data/point_set.hpp"
#include "hlstm/io/hdf5.hpp"
#include "hlstm/model/samples.hpp"
#include "test_support.hpp"

using namespace hlstm;
using namespace hlstm::test;

TEST(Simulate, SameSeedSameFileForAnyRankCount) {
    TempDir dir;
    const std::string args = " simulate --kind scene --points 5000 --epochs 30 --seed 7 -o ";
    auto a = run(hlstmUnderMpi(1) + args + dir.file("n1.h5"));
    auto b = run(hlstmUnderMpi(3) + args + dir.file("n3.h5"));
    auto c =
        run(hlstmUnderMpi(2) + " simulate --kind scene --points 5000 --epochs 30 --seed 8 -o " + dir.file("s8.h5"));
    ASSERT_EQ(a.exitCode, 0) << a.output;
    ASSERT_EQ(b.exitCode, 0) << b.output;
    ASSERT_EQ(c.exitCode, 0) << c.output;
    auto same = run("h5diff " + dir.file("n1.h5") + " " + dir.file("n3.h5"));
    EXPECT_EQ(same.exitCode, 0) << same.output;
    EXPECT_EQ(same.output, "");
    auto differ = run("h5diff -q " + dir.file("n1.h5") + " " + dir.file("s8.h5"));
    EXPECT_EQ(differ.exitCode, 1) << "another seed must give another scene";

    auto header = run("h5dump -H " + dir.file("n1.h5"));
    for (const char* name : {"DATASET \"x\"", "DATASET \"y\"", "DATASET \"dates\"", "DATASET \"displacement\"",
                             "DATASET \"truth\"", "DATASET \"id\"", "ATTRIBUTE \"unit\""})
        EXPECT_NE(header.output.find(name), std::string::npos) << name << "\n" << header.output;
    EXPECT_NE(header.output.find("( 5000, 30 )"), std::string::npos) << header.output;
}

TEST(Simulate, SceneHasFunnelsGapsAndNoiseAroundTruth) {
    TempDir dir;
    const std::string path = dir.file("scene.h5");
    auto r = run(hlstmUnderMpi(2) + " simulate --points 20000 --epochs 40 --seed 3 -o " + path);
    ASSERT_EQ(r.exitCode, 0) << r.output;
    h5::File f(path, h5::Access::kReadOnly);
    auto disp = f.openDataset("/displacement").readAll<float>();
    auto truth = f.openDataset("/truth").readAll<float>();
    auto dates = f.openDataset("/dates").readAll<std::int32_t>();
    ASSERT_EQ(dates.size(), 40u);
    EXPECT_EQ(dates::toDays(dates[1]) - dates::toDays(dates[0]), 12);
    std::size_t nan = 0;
    double sq = 0;
    std::size_t cnt = 0;
    for (std::size_t i = 0; i < disp.size(); ++i) {
        if (!std::isfinite(disp[i])) {
            ++nan;
            continue;
        }
        ASSERT_TRUE(std::isfinite(truth[i]));
        sq += (disp[i] - truth[i]) * (disp[i] - truth[i]);
        ++cnt;
    }
    const double missing = static_cast<double>(nan) / static_cast<double>(disp.size());
    EXPECT_GT(missing, 0.01);
    EXPECT_LT(missing, 0.05);
    const double rms = std::sqrt(sq / static_cast<double>(cnt));
    EXPECT_GT(rms, 1.5);  // white + correlated noise
    EXPECT_LT(rms, 5.0);
    // Truth velocities: a funnel subsides faster than 20 mm/yr somewhere; an uplift exists.
    PointSet p;
    p.dates = dates;
    p.x.assign(20000, 0.0);
    p.y.assign(20000, 0.0);
    p.displacement = truth;
    auto v = velocities(p, dates::yearsSinceFirst(dates));
    double vmin = 0, vmax = 0;
    for (double x : v) {
        vmin = std::min(vmin, x);
        vmax = std::max(vmax, x);
    }
    EXPECT_LT(vmin, -20.0);
    EXPECT_GT(vmax, 3.0);
}

namespace {

struct Scene {
    std::vector<double> x, y;
    std::vector<float> disp, truth;
    std::vector<std::int32_t> dates;
};

Scene readScene(const std::string& path) {
    h5::File f(path, h5::Access::kReadOnly);
    return {f.openDataset("/x").readAll<double>(), f.openDataset("/y").readAll<double>(),
            f.openDataset("/displacement").readAll<float>(), f.openDataset("/truth").readAll<float>(),
            f.openDataset("/dates").readAll<std::int32_t>()};
}

// Correlation of the noise (observed - truth) increments of point pairs less than 300 m
// apart, over every epoch: the shared atmosphere makes them correlated, white noise does not.
// `months`: only increments ending in these months (1..12) count.
double neighbourNoiseCorrelation(const Scene& s, const std::set<int>& months, double* covariance = nullptr) {
    const std::size_t n = s.x.size(), m = s.dates.size();
    std::map<std::pair<long, long>, std::size_t> cell;  // one point per 300 m cell
    std::vector<std::pair<std::size_t, std::size_t>> pairs;
    for (std::size_t i = 0; i < n; ++i) {
        const auto key = std::make_pair(std::lround(s.x[i] / 300.0), std::lround(s.y[i] / 300.0));
        auto [it, added] = cell.emplace(key, i);
        if (!added && pairs.size() < 4000) pairs.emplace_back(it->second, i);
    }
    double sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0, cnt = 0;
    for (auto [i, j] : pairs)
        for (std::size_t t = 2; t < m; ++t) {
            if (months.count(s.dates[t] / 100 % 100) == 0) continue;
            auto e = [&](std::size_t p, std::size_t k) { return s.disp[p * m + k] - s.truth[p * m + k]; };
            const double a = e(i, t) - e(i, t - 1), b = e(j, t) - e(j, t - 1);
            if (!std::isfinite(a) || !std::isfinite(b)) continue;
            sa += a;
            sb += b;
            saa += a * a;
            sbb += b * b;
            sab += a * b;
            cnt += 1;
        }
    const double cov = sab / cnt - sa / cnt * sb / cnt;
    if (covariance != nullptr) *covariance = cov;
    return cov / std::sqrt((saa / cnt - sa / cnt * sa / cnt) * (sbb / cnt - sb / cnt * sb / cnt));
}

}  // namespace

TEST(Simulate, AtmosphereIsSharedByNeighboursStrongerInSummerAndOffAtZero) {
    TempDir dir;
    const std::string base = " simulate --points 20000 --epochs 60 --seed 4 ";
    auto on = run(hlstmUnderMpi(2) + base + "-o " + dir.file("on.h5"));
    auto off = run(hlstmUnderMpi(2) + base + "--atmosphere-mm 0 -o " + dir.file("off.h5"));
    ASSERT_EQ(on.exitCode, 0) << on.output;
    ASSERT_EQ(off.exitCode, 0) << off.output;
    const Scene a = readScene(dir.file("on.h5")), b = readScene(dir.file("off.h5"));
    // The atmosphere changes the observations only: same points, same truth.
    EXPECT_EQ(a.x, b.x);
    EXPECT_EQ(a.truth, b.truth);
    const std::set<int> all{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    const double shared = neighbourNoiseCorrelation(a, all), white = neighbourNoiseCorrelation(b, all);
    EXPECT_GT(shared, 0.25) << "neighbours share each epoch's atmosphere";
    EXPECT_LT(std::abs(white), 0.05) << "without atmosphere the noise is white";
    double summer = 0, winter = 0;
    neighbourNoiseCorrelation(a, {6, 7, 8}, &summer);
    neighbourNoiseCorrelation(a, {12, 1, 2}, &winter);
    std::printf("neighbour correlation %.3f (off %.3f), covariance summer %.3f winter %.3f mm^2\n", shared, white,
                summer, winter);
    EXPECT_GT(summer, 2.0 * winter) << "summer " << summer << " winter " << winter << " mm^2";
    // Relative to the first acquisition: epoch 0 is the reference (0) of every series.
    const std::size_t m = a.dates.size();
    for (std::size_t i = 0; i < a.x.size(); i += 97) EXPECT_EQ(a.disp[i * m], 0.0f);
    // White noise of varying size: the per-point sd of the noise increments (atmosphere off)
    // spreads over more than a factor 1.6 between the 10th and 90th percentile (lognormal 0.3: 2.2).
    std::vector<double> sd;
    for (std::size_t i = 0; i < b.x.size(); ++i) {
        double s2 = 0, c = 0;
        for (std::size_t t = 2; t < m; ++t) {
            const double d =
                (b.disp[i * m + t] - b.truth[i * m + t]) - (b.disp[i * m + t - 1] - b.truth[i * m + t - 1]);
            if (std::isfinite(d)) {
                s2 += d * d;
                c += 1;
            }
        }
        if (c > 40) sd.push_back(std::sqrt(s2 / c / 2.0));
    }
    std::sort(sd.begin(), sd.end());
    const double p10 = sd[sd.size() / 10], p50 = sd[sd.size() / 2], p90 = sd[sd.size() * 9 / 10];
    EXPECT_NEAR(p50, 2.0, 0.2);
    EXPECT_GT(p90 / p10, 1.6);
}

TEST(Simulate, FunnelsAccelerateAndDecelerate) {
    TempDir dir;
    auto r = run(hlstmUnderMpi(2) + " simulate --points 20000 --epochs 89 --seed 2 -o " + dir.file("s.h5"));
    ASSERT_EQ(r.exitCode, 0) << r.output;
    const Scene s = readScene(dir.file("s.h5"));
    const std::size_t n = s.x.size(), m = s.dates.size(), third = m / 3;
    // Mean truth rate over the first and the last third of fast-moving points.
    std::size_t faster = 0, slower = 0, moving = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const float* c = s.truth.data() + i * m;
        const double early = (c[third] - c[0]) / static_cast<double>(third);
        const double late = (c[m - 1] - c[m - 1 - third]) / static_cast<double>(third);
        if (std::abs(c[m - 1]) < 20.0) continue;
        ++moving;
        faster += late / early > 1.8 ? 1 : 0;
        slower += late / early < 0.6 && late / early > 0 ? 1 : 0;
    }
    EXPECT_GT(moving, 1000u);
    std::printf("moving %zu faster %zu slower %zu\n", moving, faster, slower);
    EXPECT_GT(faster, 100u) << "accelerating or logistic-onset funnels";
    EXPECT_GT(slower, 100u) << "decelerating funnels";
}

TEST(Simulate, TableOnePatternsFollowTheirTrends) {
    TempDir dir;
    const std::string path = dir.file("patterns.h5");
    auto r = run(hlstmUnderMpi(2) + " simulate --kind patterns --points 5000 -o " + path);
    ASSERT_EQ(r.exitCode, 0) << r.output;
    h5::File f(path, h5::Access::kReadOnly);
    auto disp = f.openDataset("/displacement").readAll<float>();
    auto truth = f.openDataset("/truth").readAll<float>();
    auto x = f.openDataset("/x").readAll<double>();
    const std::size_t n = 5000, m = 12;  // 11 differential steps
    ASSERT_EQ(disp.size(), n * m);
    // Per pattern: differential minus the trend's increment lies in (-1, 1); x blocks disjoint.
    std::vector<double> xmin(5, 1e18), xmax(5, -1e18), meanStep(5, 0);
    for (std::size_t i = 0; i < n; ++i) {
        const std::size_t p = i * 5 / n;
        xmin[p] = std::min(xmin[p], x[i]);
        xmax[p] = std::max(xmax[p], x[i]);
        for (std::size_t t = 1; t < m; ++t) {
            const double d = disp[i * m + t] - disp[i * m + t - 1];
            const double trend = truth[i * m + t] - truth[i * m + t - 1];
            ASSERT_LT(std::abs(d - trend), 1.0 + 1e-4) << i << " " << t;
            meanStep[p] += d / static_cast<double>((m - 1) * (n / 5));
        }
    }
    for (std::size_t p = 0; p + 1 < 5; ++p) EXPECT_LT(xmax[p], xmin[p + 1]);
    EXPECT_NEAR(meanStep[0], 0.0, 0.05);    // stable
    EXPECT_NEAR(meanStep[1], 10.0, 0.05);   // uniform uplift, Y = 10X
    EXPECT_NEAR(meanStep[2], -10.0, 0.05);  // uniform subsidence
    EXPECT_NEAR(meanStep[3], 18.0, 0.05);   // increased uplift: mean of 3t over t = 1..11
    EXPECT_NEAR(meanStep[4], -18.0, 0.05);  // increased subsidence
}

TEST(Simulate, DroppedAcquisitionsKeepLinearMotionAtEqualRates) {
    TempDir dir;
    const std::string path = dir.file("gaps.h5");
    auto r = run(hlstmUnderMpi(2) + " simulate --kind patterns --points 500 --epochs 30 --drop 4 --seed 2 -o " + path);
    ASSERT_EQ(r.exitCode, 0) << r.output;
    h5::File f(path, h5::Access::kReadOnly);
    const auto dateList = f.openDataset("/dates").readAll<std::int32_t>();
    ASSERT_EQ(dateList.size(), 30u);
    int gaps24 = 0;
    for (std::size_t t = 1; t < dateList.size(); ++t) {
        const auto gap = dates::toDays(dateList[t]) - dates::toDays(dateList[t - 1]);
        EXPECT_TRUE(gap == 12 || gap == 24 || gap == 36 || gap == 48) << gap;
        gaps24 += gap > 12 ? 1 : 0;
    }
    EXPECT_GE(gaps24, 1);  // four drops make at least one (adjacent drops merge) longer gap
    std::int64_t span = dates::toDays(dateList.back()) - dates::toDays(dateList.front());
    EXPECT_EQ(span, 12 * (30 + 4 - 1));  // the grid of 34 positions, first and last kept
    // Pattern 2 (points 200..299) is uniform subsidence -10 mm per 12-day step in time: its
    // noise-free rates are -10 before, across and after every gap.
    const auto truth = f.openDataset("/truth").readAll<float>();
    const model::TimeAxis axis = model::TimeAxis::fromDates(dateList);
    const model::SeriesView view{truth.data(), 500, 30, &axis};
    for (std::size_t i = 200; i < 300; ++i)
        for (float rate : model::seriesRates(view, i)) ASSERT_NEAR(rate, -10.0f, 1e-4f) << "point " << i;
    // Plain differentials do jump at a gap: the reason for rates.
    const auto d = model::differentials(view.row(250), 30);
    EXPECT_LE(*std::min_element(d.begin(), d.end()), -20.0f + 1e-3f);
}

TEST(Simulate, NegativeOrHugeSizesAreRejectedBeforeAnythingIsAllocated) {
    TempDir dir;
    for (const std::string bad : {"--points -5", "--epochs -3", "--points 2000000000", "--epochs 30 --drop 27"}) {
        auto r = run(hlstmUnderMpi(1) + " simulate " + bad + " -o " + dir.file("bad.h5"), 60);
        EXPECT_EQ(r.exitCode, 1) << bad << ": " << r.output;
        EXPECT_FALSE(std::filesystem::exists(dir.file("bad.h5"))) << bad;
    }
}
