// The reference acquisition's atmosphere (input.reference_atmosphere): a series referenced to one
// acquisition carries minus that acquisition's atmosphere at every other epoch; the estimate
// recovers a known field of it from seasonal linear motion, a new field at every other epoch and
// white noise, finds the reference epoch wherever it is, is the same at any rank count and uses
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
constexpr double kNoiseMm = 2.0, kFieldMm = 5.0, kTwoPi = 6.283185307179586;

struct Scene {
    PointSet points;               // every point (each rank builds the whole scene)
    std::vector<double> constant;  // what each point carries at every other epoch: minus the reference field (mm)
};

// Seasonal linear motion (0-4 mm annual amplitude, phase varying in space), zero at the
// reference epoch; at every epoch a field of three Gaussian blobs of 3-10 km and +-kFieldMm,
// minus the reference epoch's field (as an interferometric series is referenced); 2 mm white
// noise at every epoch but the reference one, where every value is 0.
Scene makeScene(std::size_t reference) {
    std::mt19937_64 rng(29);
    std::uniform_real_distribution<double> uni(0.0, 1.0);
    std::normal_distribution<double> normal(0.0, 1.0);
    const auto blobs = test::blobFields(rng, kEpochs, kWidth, kHeight, kFieldMm);
    const auto field = [&](std::size_t t, double x, double y) { return test::blobField(blobs[t], x, y); };
    Scene s;
    for (std::size_t t = 0; t < kEpochs; ++t) s.points.dates.push_back(dates::fromDays(18000 + 12 * t));
    for (std::size_t i = 0; i < kPoints; ++i) {
        const double x = uni(rng) * kWidth, y = uni(rng) * kHeight;
        const double rate = -30 * uni(rng), amp = 4 * uni(rng), phase = kTwoPi * x / kWidth;
        s.points.ids.push_back(static_cast<std::int64_t>(i));
        s.points.rows.push_back(i);
        s.points.x.push_back(x), s.points.y.push_back(y);
        const double a0 = field(reference, x, y);
        s.constant.push_back(-a0);
        const auto signal = [&](std::size_t t) {
            const double years = static_cast<double>(t) * 12 / 365.25;
            return rate * years + amp * std::sin(kTwoPi * years + phase);
        };
        for (std::size_t t = 0; t < kEpochs; ++t)
            s.points.displacement.push_back(
                t == reference
                    ? 0.0f
                    : static_cast<float>(signal(t) - signal(reference) + field(t, x, y) - a0 + kNoiseMm * normal(rng)));
    }
    return s;
}

// RMS over the points of (estimated - true constant), or of the true constant alone.
double rmsError(const ReferenceAtmosphere& ref, const Scene& s, bool zero = false) {
    double sq = 0;
    for (std::size_t i = 0; i < s.points.size(); ++i) {
        const double e = (zero ? 0.0 : ref.field.at(ref.field.cellOf(s.points.x[i], s.points.y[i]), 0)) - s.constant[i];
        sq += e * e;
    }
    return std::sqrt(sq / static_cast<double>(s.points.size()));
}

}  // namespace

TEST(ReferenceAtmosphere, RecoversAKnownReferenceFieldAtTheFirstEpochAndInTheMiddle) {
    Comm comm;
    // What a cell's estimate keeps: each point's fit (line and annual terms through 24 epochs)
    // extrapolated to the reference epoch sees the other epochs' fields (new at every epoch,
    // shared by the box's points, rms about 2 mm) with a large leverage from the end of its window
    // and a small one from its middle; the white noise of the box's ~250 points averages to about
    // 0.1 mm. Measured: 1.65 of 2.55 mm at the first epoch, 0.43 of 1.93 mm in the middle; a sign
    // error would double the constant, the reference epoch's 0 in the fit would halve the estimate.
    for (const std::size_t reference : {std::size_t{0}, std::size_t{30}}) {
        const Scene s = makeScene(reference);
        ReferenceAtmosphereOptions o;
        o.remove = true;
        PointSet mine = blockOf(comm, s.points);
        const ReferenceAtmosphere ref = estimateReferenceAtmosphere(comm, mine, kEpochs, o);
        ASSERT_EQ(ref.epoch, static_cast<std::int64_t>(reference));
        EXPECT_EQ(ref.points, static_cast<std::int64_t>(kPoints));
        const double raw = rmsError(ref, s, true), error = rmsError(ref, s);
        if (comm.isRoot())
            std::printf("reference epoch %zu: constant rms %.3f mm, error of the estimate %.3f mm\n", reference, raw,
                        error);
        EXPECT_GT(raw, 1.0);
        EXPECT_LT(error, (reference == 0 ? 0.75 : 0.35) * raw);
        // Removed from every epoch but the reference one.
        const float before1 = mine.series(0)[reference == 0 ? 1 : 0];
        removeReferenceAtmosphere(ref, mine);
        const float b = ref.field.at(ref.field.cellOf(mine.x[0], mine.y[0]), 0);
        EXPECT_FLOAT_EQ(mine.series(0)[reference == 0 ? 1 : 0], before1 - b);
        EXPECT_EQ(mine.series(0)[reference], 0.0f);
        // Estimated by one rank holding every point: the same field bit for bit.
        const auto alone = comm.split(comm.isRoot());
        if (alone) {
            const ReferenceAtmosphere g = estimateReferenceAtmosphere(*alone, s.points, kEpochs, o);
            EXPECT_EQ(g.field.values, ref.field.values);
        }
    }
}

TEST(ReferenceAtmosphere, NothingAfterTheVisibleEpochsMovesItAndNoReferenceRemovesNothing) {
    Comm comm;
    Scene s = makeScene(0);
    ReferenceAtmosphereOptions o;
    o.remove = true;
    const std::size_t visible = 30;
    const ReferenceAtmosphere f = estimateReferenceAtmosphere(comm, blockOf(comm, s.points), visible, o);
    for (std::size_t i = 0; i < s.points.size(); ++i)
        for (std::size_t t = visible; t < kEpochs; ++t) s.points.series(i)[t] += 50.0f;
    const ReferenceAtmosphere g = estimateReferenceAtmosphere(comm, blockOf(comm, s.points), visible, o);
    EXPECT_EQ(f.field.values, g.field.values);
    // No epoch at which every value is 0: no reference, nothing removed.
    s.points.series(kPoints - 1)[0] = 0.5f;
    PointSet mine = blockOf(comm, s.points);
    const PointSet before = mine;
    const ReferenceAtmosphere none = estimateReferenceAtmosphere(comm, mine, kEpochs, o);
    EXPECT_EQ(none.epoch, -1);
    removeReferenceAtmosphere(none, mine);
    EXPECT_EQ(mine.displacement, before.displacement);
}
