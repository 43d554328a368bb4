#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "hlstm/data/native_reader.hpp"
#include "hlstm/data/point_set.hpp"

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
