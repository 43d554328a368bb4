#include <gtest/gtest.h>

#include <cmath>

#include "hlstm/pipeline/metrics.hpp"

using namespace hlstm::pipeline;

TEST(Metrics, PaperEquationsOnAHandExample) {
    // errors: +1, -3, +2 (and one skipped NaN); truths 2, 4, 6.
    std::vector<float> truth{2, 4, 6, 1};
    std::vector<float> pred{3, 1, 8, std::nanf("")};
    auto m = groupMetrics(pred, truth, {}, 1);
    ASSERT_EQ(m.size(), 1u);
    EXPECT_EQ(m[0].n, 3u);
    EXPECT_DOUBLE_EQ(m[0].mae, 2.0);
    EXPECT_DOUBLE_EQ(m[0].mse, 14.0 / 3.0);
    // SD of |e| = {1, 3, 2}: population std = sqrt(2/3); MSE = MAE^2 + SD^2.
    EXPECT_NEAR(m[0].sd, std::sqrt(2.0 / 3.0), 1e-12);
    EXPECT_NEAR(m[0].mse, m[0].mae * m[0].mae + m[0].sd * m[0].sd, 1e-12);
    // MAD = 4: accuracy = 100 (1 - 2/4) = 50 %.
    EXPECT_DOUBLE_EQ(m[0].accuracy, 50.0);
}

TEST(Metrics, GroupsAreSeparate) {
    std::vector<float> truth{1, 1, 10, 10};
    std::vector<float> pred{2, 0, 10, 13};
    auto m = groupMetrics(pred, truth, {0, 0, 1, 1}, 3);
    ASSERT_EQ(m.size(), 3u);
    EXPECT_DOUBLE_EQ(m[0].mae, 1.0);
    EXPECT_DOUBLE_EQ(m[1].mae, 1.5);
    EXPECT_DOUBLE_EQ(m[1].accuracy, 85.0);
    EXPECT_EQ(m[2].n, 0u);
    EXPECT_TRUE(std::isnan(m[2].mae));
}
