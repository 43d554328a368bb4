#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "hlstm/data/native_reader.hpp"
#include "hlstm/data/point_set.hpp"
#include "hlstm/data/visible_fill.hpp"

using namespace hlstm;

TEST(Dates, KnownDayNumbers) {
    EXPECT_EQ(dates::toDays(19700101), 0);
    EXPECT_EQ(dates::toDays(20000301), 11017);
    EXPECT_EQ(dates::fromDays(11017), 20000301);
    EXPECT_EQ(dates::toDays(20240301) - dates::toDays(20240228), 2);  // leap year
    EXPECT_TRUE(dates::valid(20240229));
    EXPECT_FALSE(dates::valid(20230229));
    EXPECT_FALSE(dates::valid(20231301));
    auto y = dates::yearsSinceFirst({20200101, 20200113, 20210101});
    EXPECT_DOUBLE_EQ(y[1], 12.0 / 365.25);
    EXPECT_DOUBLE_EQ(y[2], 366.0 / 365.25);
    // Forecast dates continue the nominal (median) spacing, across a month end: gaps of 12, 24
    // (a lost acquisition) and 12 days give 12, not the last gap.
    EXPECT_EQ(dates::following({20200101, 20200113, 20200206, 20200218}, 2),
              (std::vector<std::int32_t>{20200301, 20200313}));
    EXPECT_EQ(dates::following({20200101, 20200113, 20200125, 20200218}, 1), (std::vector<std::int32_t>{20200301}));
}

TEST(FillGaps, LinearInTimeNotInIndex) {
    const float nan = std::numeric_limits<float>::quiet_NaN();
    // Epochs at days 0, 10, 40, 50: the gap at day 10 lies 1/4 of the way from 0 to 40.
    std::vector<std::int64_t> days{0, 10, 40, 50, 60};
    std::vector<float> s{nan, nan, 8.0f, nan, 2.0f};
    s[0] = 0.0f;
    EXPECT_EQ(fillGaps(s.data(), days.data(), s.size()), 2u);
    EXPECT_FLOAT_EQ(s[1], 2.0f);
    EXPECT_FLOAT_EQ(s[3], 5.0f);
    std::vector<float> edge{nan, 3.0f, nan};
    EXPECT_EQ(fillGaps(edge.data(), days.data(), edge.size()), 2u);
    EXPECT_FLOAT_EQ(edge[0], 3.0f);
    EXPECT_FLOAT_EQ(edge[2], 3.0f);
}

// A cut after 4 of 7 epochs (days 0 .. 72, one lost acquisition): the gaps that run across it
// take, before the cut, the last observed value before them (what a read cut by input.until gives:
// fillGaps on the first 4 epochs); earlier gaps, the values after the cut and points observed at
// the cut keep the reader's both-sided fill, which restore() puts back.
TEST(FillFromLeft, GapsAcrossTheCutAreFilledAsAReadCutThereAndRestored) {
    const float nan = std::numeric_limits<float>::quiet_NaN();
    const std::vector<std::int64_t> days{0, 12, 24, 36, 60, 72, 84};
    const std::vector<std::vector<float>> raw{
        {1, nan, 3, nan, nan, 6, 7},    // gap 3..4 across the cut (epoch 3 is the last visible)
        {1, 2, nan, nan, 5, 6, 7},      // gap 2..3 ends at the last visible epoch
        {1, nan, 3, 4, nan, nan, 70},   // observed at the cut: unchanged
        {nan, nan, nan, nan, 5, 6, 7},  // nothing observed before the cut: the reader's values stay
    };
    constexpr std::size_t m = 7, V = 4;
    LocalBlock block;
    for (std::int64_t d : days) block.points.dates.push_back(dates::fromDays(dates::toDays(20200101) + d));
    for (std::size_t i = 0; i < raw.size(); ++i) {
        std::vector<float> s = raw[i];
        block.observedMask.append(s.data(), m);
        fillGaps(s.data(), days.data(), m);
        block.points.displacement.insert(block.points.displacement.end(), s.begin(), s.end());
        block.points.x.push_back(0), block.points.y.push_back(0), block.points.rows.push_back(100 + i);
    }
    const std::vector<float> reader = block.points.displacement;
    EXPECT_FALSE(block.observed(0, 3));
    EXPECT_TRUE(block.observed(0, 5));
    EXPECT_FALSE(block.observed(3, 0));
    std::size_t leftover = 0;
    const ReaderFill fill = fillFromLeft(block, V, &leftover);
    EXPECT_EQ(fill.rows, (std::vector<std::uint64_t>{100, 101}));
    EXPECT_EQ(leftover, 1u);
    for (std::size_t i = 0; i < raw.size(); ++i) {
        std::vector<float> cut(raw[i].begin(), raw[i].begin() + V);
        if (i < 3) fillGaps(cut.data(), days.data(), V);  // the point a read cut after V epochs keeps
        for (std::size_t t = 0; t < m; ++t) {
            const float got = block.points.displacement[i * m + t];
            if (t < V && i < 3)
                EXPECT_FLOAT_EQ(got, cut[t]) << "point " << i << " epoch " << t;
            else
                EXPECT_FLOAT_EQ(got, reader[i * m + t]) << "point " << i << " epoch " << t;
        }
    }
    EXPECT_FLOAT_EQ(block.points.displacement[3], 3.0f);  // not 3 + (6 - 3) / 4
    EXPECT_FLOAT_EQ(block.points.displacement[m + 3], 2.0f);
    // The reader's values come back for the rows given, in any order.
    std::vector<float> twoRows(block.points.displacement.begin() + m, block.points.displacement.begin() + 2 * m);
    twoRows.insert(twoRows.end(), block.points.displacement.begin(), block.points.displacement.begin() + m);
    EXPECT_EQ(fill.restore({101, 100}, twoRows.data(), m), 2u);
    for (std::size_t t = 0; t < m; ++t) {
        EXPECT_FLOAT_EQ(twoRows[t], reader[m + t]);
        EXPECT_FLOAT_EQ(twoRows[m + t], reader[t]);
    }
}

// The mask keeps every epoch (here 70, two words per point), and the first epochs of a cut.
TEST(ObservationMask, EveryEpochAndTheFirstEpochsOfACut) {
    std::vector<float> s(70, 1.0f);
    s[3] = s[64] = s[69] = std::numeric_limits<float>::quiet_NaN();
    ObservationMask one;
    one.append(s.data(), s.size());
    EXPECT_EQ(one.wordsPerPoint(), 2u);
    for (std::size_t t = 0; t < s.size(); ++t) EXPECT_EQ(one.at(0, t), std::isfinite(s[t])) << t;
    const ObservationMask cut = one.firstEpochs(65);
    EXPECT_EQ(cut.wordsPerPoint(), 2u);
    for (std::size_t t = 0; t < 65; ++t) EXPECT_EQ(cut.at(0, t), std::isfinite(s[t])) << t;
    const ObservationMask shorter = one.firstEpochs(40);
    EXPECT_EQ(shorter.wordsPerPoint(), 1u);
    EXPECT_FALSE(shorter.at(0, 3));
    EXPECT_TRUE(shorter.at(0, 39));
    EXPECT_TRUE(shorter.at(1, 3));  // beyond the mask: observed
}

TEST(Velocity, SlopeInMillimetresPerYearWithIrregularDates) {
    PointSet p;
    p.dates = {20200101, 20200201, 20200501, 20210101};
    const auto years = dates::yearsSinceFirst(p.dates);
    p.x = {0.0, 1.0};
    p.y = {0.0, 0.0};
    // Point 0: exactly -25 mm/yr; point 1: same with one missing epoch.
    for (double t : years) p.displacement.push_back(static_cast<float>(3.0 - 25.0 * t));
    for (std::size_t t = 0; t < years.size(); ++t)
        p.displacement.push_back(t == 2 ? std::numeric_limits<float>::quiet_NaN()
                                        : static_cast<float>(-25.0 * years[t]));
    auto v = velocities(p, years);
    EXPECT_NEAR(v[0], -25.0, 1e-4);
    EXPECT_NEAR(v[1], -25.0, 1e-4);
}
