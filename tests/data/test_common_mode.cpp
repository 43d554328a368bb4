// The common-mode (atmosphere) filter recovers a known per-epoch field from linear motion plus
// white noise, at interior epochs and at the last one, the same at any rank count, and uses
// nothing after the epochs it is given.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "atmosphere_scene.hpp"
#include "hlstm/core/comm.hpp"
#include "hlstm/core/error.hpp"
#include "hlstm/data/common_mode.hpp"

using namespace hlstm;
using hlstm::test::blockOf;

namespace {

constexpr double kWidth = 40000, kHeight = 30000;  // m
constexpr std::size_t kPoints = 12000, kEpochs = 60;
constexpr double kNoiseMm = 2.0, kFieldMm = 5.0;

struct Scene {
    PointSet points;           // every point (each rank builds the whole scene)
    std::vector<float> field;  // the true common mode, points x epochs (mm)
};

// A field per epoch: three Gaussian blobs of 3-10 km and +-kFieldMm, new at every epoch.
Scene makeScene() {
    std::mt19937_64 rng(23);
    std::uniform_real_distribution<double> uni(0.0, 1.0);
    std::normal_distribution<double> normal(0.0, 1.0);
    const auto blobs = test::blobFields(rng, kEpochs, kWidth, kHeight, kFieldMm);
    Scene s;
    for (std::size_t t = 0; t < kEpochs; ++t) s.points.dates.push_back(dates::fromDays(18000 + 12 * t));
    for (std::size_t i = 0; i < kPoints; ++i) {
        const double x = uni(rng) * kWidth, y = uni(rng) * kHeight;
        const double rate = -30 * uni(rng);  // mm/yr, a different line per point
        s.points.ids.push_back(static_cast<std::int64_t>(i));
        s.points.rows.push_back(i);
        s.points.x.push_back(x), s.points.y.push_back(y);
        for (std::size_t t = 0; t < kEpochs; ++t) {
            const double a = test::blobField(blobs[t], x, y);
            s.field.push_back(static_cast<float>(a));
            s.points.displacement.push_back(
                static_cast<float>(rate * static_cast<double>(t) * 12 / 365.25 + a + kNoiseMm * normal(rng)));
        }
    }
    return s;
}

// RMS over the points of (estimated - true field) at the epochs [a, b).
double rmsError(const CommonModeField& f, const Scene& s, std::size_t a, std::size_t b, bool zero = false) {
    double sq = 0;
    std::size_t n = 0;
    for (std::size_t i = 0; i < s.points.size(); ++i) {
        const auto c = f.cellOf(s.points.x[i], s.points.y[i]);
        for (std::size_t t = a; t < b; ++t, ++n) {
            const double e = (zero ? 0.0 : f.at(c, t)) - s.field[i * kEpochs + t];
            sq += e * e;
        }
    }
    return std::sqrt(sq / static_cast<double>(n));
}

}  // namespace

TEST(CommonMode, RecoversAKnownFieldAtInteriorEpochsAndAtTheLast) {
    Comm comm;
    const Scene s = makeScene();
    // What a cell's estimate keeps: the white noise of the ~250 points of its box (5 x 5 cells
    // of 1 km at 10 points per km2), 2 / sqrt(250) = 0.13 mm, and the other epochs' fields seen
    // through each point's fit. The default (a quadratic through 12 epochs, 4 passes, chosen for
    // the simulated scenes' accelerating and seasonal motion) leaks at the first pass 0.21 of
    // their variance inside the series (field rms 1.9 mm: 0.9 mm) and more at the end (a
    // one-sided extrapolation); each later pass fits the series corrected by the previous field
    // and leaks less. A line through 16 epochs, 3 passes, leaks 1/16 inside the series (0.48 mm)
    // and about 4/16 at the end (0.96 mm) at its first pass. Bounds below these first-pass
    // leaks, and at the last epoch at most 2/3 (quadratic) or 1/2 (line) of the field there.
    struct Case {
        int degree, window, passes;
        double interior, last, lastShare;
    };
    for (const Case& k : {Case{2, 12, 4, 0.85, 1.3, 0.67}, Case{1, 16, 3, 0.55, 0.9, 0.5}}) {
        CommonModeOptions o;
        o.use = CommonModeUse::kAll;
        o.degree = k.degree, o.window = k.window, o.passes = k.passes;
        const CommonModeField f = estimateCommonMode(comm, blockOf(comm, s.points), kEpochs, o);
        const double raw = rmsError(f, s, 10, kEpochs - 10, true);
        const double interior = rmsError(f, s, 10, kEpochs - 10);
        const double last = rmsError(f, s, kEpochs - 1, kEpochs);
        const double lastRaw = rmsError(f, s, kEpochs - 1, kEpochs, true);
        if (comm.isRoot())
            std::printf(
                "degree %d, %d epochs, %d passes: field rms %.3f mm; error inside the series %.3f mm, at the "
                "last epoch %.3f mm (field there %.3f mm)\n",
                k.degree, k.window, k.passes, raw, interior, last, lastRaw);
        EXPECT_GT(raw, 1.5);
        EXPECT_LT(interior, k.interior);
        EXPECT_LT(last, k.last);
        EXPECT_LT(last, lastRaw * k.lastShare);
        // Estimated by one rank holding every point: the same field bit for bit.
        const auto alone = comm.split(comm.isRoot());
        if (alone) {
            const CommonModeField g = estimateCommonMode(*alone, s.points, kEpochs, o);
            EXPECT_EQ(g.values, f.values);
        }
    }
}

TEST(CommonMode, NothingAfterTheEpochsItIsGivenMovesTheField) {
    Comm comm;
    Scene s = makeScene();
    CommonModeOptions o;
    o.use = CommonModeUse::kAll;
    const std::size_t cut = kEpochs - 6;
    const CommonModeField f = estimateCommonMode(comm, blockOf(comm, s.points), cut, o);
    for (std::size_t i = 0; i < s.points.size(); ++i)
        for (std::size_t t = cut; t < kEpochs; ++t) s.points.series(i)[t] += 50.0f;
    const CommonModeField g = estimateCommonMode(comm, blockOf(comm, s.points), cut, o);
    ASSERT_EQ(f.epochs, cut);
    EXPECT_EQ(f.values, g.values);
    EXPECT_EQ(commonModeEpochs(CommonModeUse::kHistory, 60, 12), (std::pair<std::size_t, std::size_t>{0, 48}));
    EXPECT_EQ(commonModeEpochs(CommonModeUse::kRecent, 60, 12), (std::pair<std::size_t, std::size_t>{48, 60}));
    EXPECT_THROW(commonModeUseFromString("yes"), ConfigError);
}
