#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "hlstm/pipeline/plan.hpp"

using namespace hlstm::pipeline;

namespace {
PlanSettings grid(std::vector<std::int64_t> L, std::vector<std::int64_t> K, std::vector<std::int64_t> S) {
    PlanSettings s;
    s.L = std::move(L);
    s.K = std::move(K);
    s.S = std::move(S);
    s.visibleEpochs = 88;
    s.shardShare = 0;  // LPT alone; data-parallel candidates have their own tests
    return s;
}
}  // namespace

TEST(Plan, ADominantCandidateIsTrainedByEveryRankAndItsRowsGoToAll) {
    // Its share (90 %) asks for ceil(0.9 ranks) ranks: all of them, up to train.shards = 4.
    // One candidate per subregion; subregion 0 holds 90 % of the points.
    PlanSettings s = grid({20}, {2}, {10});
    s.shardShare = 0.3;
    for (int ranks : {1, 2, 4}) {
        Plan p = buildPlan({{0, 90000}, {1, 6000}, {2, 4000}}, s, ranks);
        ASSERT_EQ(p.tasks.size(), 3u);
        EXPECT_TRUE(p.tasks[0].sharded);
        EXPECT_FALSE(p.tasks[1].sharded);
        EXPECT_FALSE(p.tasks[2].sharded);
        std::vector<std::int32_t> all(static_cast<std::size_t>(ranks));
        for (int r = 0; r < ranks; ++r) all[static_cast<std::size_t>(r)] = r;
        EXPECT_EQ(p.ranksOf(0), all) << ranks << " ranks";
        // Its cost is shared evenly; the small ones are packed on the least-loaded ranks.
        double total = 0;
        for (const auto& t : p.tasks) total += t.cost;
        double sum = 0;
        for (double l : p.loadPerRank) sum += l;
        EXPECT_NEAR(sum, total, 1e-6 * total);
        EXPECT_TRUE(p.tasksOf(0).empty() || !p.tasksOf(0).front().sharded);
    }
    // The decision is the data's, not the rank count's; share 0 never shards.
    s.shardShare = 0;
    EXPECT_FALSE(buildPlan({{0, 90000}, {1, 6000}}, s, 4).tasks[0].sharded);
}

TEST(Plan, DataParallelGroupsAreSizedToTheirShareAndLeaveTheOtherRanksToOtherWork) {
    // Two dominant subregions (45 % and 35 % of the cost) and two small ones, one candidate each.
    PlanSettings s = grid({20}, {2}, {10});
    s.shardShare = 0.3;
    s.shards = 4;
    const std::vector<PlanSubregion> subs{{0, 45000}, {1, 35000}, {2, 10000}, {3, 10000}};
    const auto range = [](int first, int size) {
        std::vector<std::int32_t> r;
        for (int k = first; k < first + size; ++k) r.push_back(k);
        return r;
    };
    {
        // 8 ranks: ceil(0.45 x 8) = 4 ranks, ceil(0.35 x 8) = 3 beside them; rank 7 trains the rest.
        Plan p = buildPlan(subs, s, 8);
        EXPECT_EQ(p.groupOf(0), std::make_pair(0, 4));
        EXPECT_EQ(p.groupOf(1), std::make_pair(4, 3));
        EXPECT_EQ(p.groupOf(2).second, 0);
        EXPECT_EQ(p.ranksOf(0), range(0, 4));
        EXPECT_EQ(p.ranksOf(1), range(4, 3));
        EXPECT_EQ(p.ranksOf(2), range(7, 1));
        EXPECT_EQ(p.ranksOf(3), range(7, 1));
        for (int r = 0; r < 8; ++r) {
            EXPECT_EQ(p.groupTasksOf(r).size(), r < 7 ? 1u : 0u) << r;
            EXPECT_EQ(p.tasksOf(r).size(), r < 7 ? 0u : 2u) << r;
        }
        // A group's load per rank is at most the average.
        double total = 0;
        for (const auto& t : p.tasks) total += t.cost;
        for (int r = 0; r < 7; ++r) EXPECT_LE(p.loadPerRank[static_cast<std::size_t>(r)], total / 8 * 1.0001) << r;
    }
    {
        // The largest group is train.shards: with 2 shards a minibatch has no work for a third rank.
        s.shards = 2;
        Plan p = buildPlan(subs, s, 8);
        EXPECT_EQ(p.groupOf(0), std::make_pair(0, 2));
        EXPECT_EQ(p.groupOf(1), std::make_pair(2, 2));
        s.shards = 4;
    }
    {
        // 4 ranks: two groups of 2 side by side; 2 ranks: one rank each (still data-parallel, so
        // the weights are the same as with 8 ranks).
        Plan p4 = buildPlan(subs, s, 4);
        EXPECT_EQ(p4.groupOf(0), std::make_pair(0, 2));
        EXPECT_EQ(p4.groupOf(1), std::make_pair(2, 2));
        Plan p2 = buildPlan(subs, s, 2);
        EXPECT_EQ(p2.groupOf(0), std::make_pair(0, 1));
        EXPECT_EQ(p2.groupOf(1), std::make_pair(1, 1));
        EXPECT_TRUE(p2.tasks[0].sharded && p2.tasks[1].sharded);
    }
    {
        // A group grows when its smallest size would load its ranks above the average: 91 % and
        // 9 % at 2 ranks are both trained by both ranks (9 % on one rank would make it the
        // straggler at 54.5 % against 50 %).
        s.shardShare = 0.05;
        Plan p = buildPlan({{0, 91000}, {1, 9000}}, s, 2);
        EXPECT_EQ(p.groupOf(0), std::make_pair(0, 2));
        EXPECT_EQ(p.groupOf(1), std::make_pair(0, 2));
        EXPECT_NEAR(p.loadPerRank[0], p.loadPerRank[1], 1e-9 * p.loadPerRank[0]);
    }
}

TEST(Plan, CostGrowsWithSamplesStepsLayersAndSquareOfUnits) {
    const double base = candidateCost(1000, 11, 1, 10, 1, 30);
    EXPECT_DOUBLE_EQ(candidateCost(2000, 11, 1, 10, 1, 30), 2 * base);
    EXPECT_DOUBLE_EQ(candidateCost(1000, 21, 1, 10, 1, 30), 2 * base);
    EXPECT_DOUBLE_EQ(candidateCost(1000, 11, 3, 10, 1, 30), 3 * base);
    // Cost follows the padded S the engine runs: S = 10 runs as 16, S = 20 as 20.
    EXPECT_DOUBLE_EQ(candidateCost(1000, 11, 1, 20, 1, 30), base * 400.0 / 256.0);
    EXPECT_DOUBLE_EQ(candidateCost(1000, 11, 1, 8, 1, 30), base);
    // 1000 samples x 30 epochs x 3 (fwd+bwd) x 10 steps x (4 gates x 2 flops x 2 x 16^2)
    EXPECT_DOUBLE_EQ(base, 1000.0 * 30 * 3 * 10 * (4 * 2 * 2 * 256));
}

TEST(Plan, LargestFirstToLeastLoadedSpreadsABigSubregionsGrid) {
    // One big subregion with 4 candidates and a small one: the big grid must span both ranks.
    Plan p = buildPlan({{0, 100000}, {1, 1000}}, grid({10, 20}, {1, 2}, {8}), 2);
    ASSERT_EQ(p.tasks.size(), 8u);
    EXPECT_EQ(p.ranksOf(0), (std::vector<std::int32_t>{0, 1}));
    double l0 = 0, l1 = 0;
    for (const auto& t : p.tasks) (t.rank == 0 ? l0 : l1) += t.cost;
    EXPECT_DOUBLE_EQ(l0, p.loadPerRank[0]);
    EXPECT_DOUBLE_EQ(l1, p.loadPerRank[1]);
    // LPT on these costs: the imbalance is below the smallest big-subregion task.
    EXPECT_LT(std::abs(l0 - l1), candidateCost(70000, 10, 1, 8, 1, 30));
    // The biggest task goes to rank 0 (first, least-loaded, lowest rank on ties).
    auto biggest =
        std::max_element(p.tasks.begin(), p.tasks.end(), [](const Task& a, const Task& b) { return a.cost < b.cost; });
    EXPECT_EQ(biggest->rank, 0);
}

TEST(Plan, MoreRanksThanTasksLeavesRanksIdle) {
    Plan p = buildPlan({{0, 5000}, {1, 3000}}, grid({10}, {1}, {8}), 4);
    ASSERT_EQ(p.tasks.size(), 2u);
    EXPECT_EQ(p.tasksOf(0).size(), 1u);
    EXPECT_EQ(p.tasksOf(1).size(), 1u);
    EXPECT_TRUE(p.tasksOf(2).empty());
    EXPECT_TRUE(p.tasksOf(3).empty());
    EXPECT_DOUBLE_EQ(p.loadPerRank[3], 0.0);
}

TEST(Plan, WindowsLongerThanTheVisibleSeriesAreLeftOut) {
    PlanSettings s = grid({10, 88, 87}, {1}, {4});
    Plan p = buildPlan({{0, 100}}, s, 1);
    std::set<int> Ls;
    for (const auto& t : p.tasks) Ls.insert(t.L);
    EXPECT_EQ(Ls, (std::set<int>{10, 87}));  // L + 1 <= 88 visible epochs
}

TEST(Plan, IndependentOfRankCountExceptPlacement) {
    auto a = buildPlan({{0, 9000}, {1, 4000}, {2, 1200}}, grid({8, 16}, {1, 2}, {6, 12}), 1);
    auto b = buildPlan({{0, 9000}, {1, 4000}, {2, 1200}}, grid({8, 16}, {1, 2}, {6, 12}), 3);
    ASSERT_EQ(a.tasks.size(), b.tasks.size());
    for (std::size_t i = 0; i < a.tasks.size(); ++i) {
        EXPECT_EQ(a.tasks[i].subregion, b.tasks[i].subregion);
        EXPECT_EQ(a.tasks[i].L, b.tasks[i].L);
        EXPECT_DOUBLE_EQ(a.tasks[i].cost, b.tasks[i].cost);
    }
}

TEST(Plan, AGivenCostReplacesTheTrainingsAndIsPlacedLongestFirst) {
    // An update's fixed tasks carry their own cost (updatePlan): the points no longer decide it.
    // Costs 10, 3, 3, 2, 2 on 2 ranks: 10 alone on one rank, the four others (10) on the other.
    std::vector<PlanSubregion> subs;
    const std::vector<double> cost{3, 10, 2, 3, 2};
    for (std::size_t i = 0; i < cost.size(); ++i) {
        PlanSubregion ps{static_cast<std::int32_t>(i), 1000 * (cost.size() - i), true, 24, 2, 10};
        ps.cost = cost[i];
        subs.push_back(ps);
    }
    Plan p = buildPlan(subs, grid({8}, {1}, {6}), 2);
    ASSERT_EQ(p.tasks.size(), cost.size());
    for (std::size_t i = 0; i < cost.size(); ++i) EXPECT_EQ(p.tasks[i].cost, cost[i]);
    EXPECT_EQ(p.tasks[1].rank, 0);
    for (std::size_t i : {0, 2, 3, 4}) EXPECT_EQ(p.tasks[i].rank, 1) << i;
    EXPECT_EQ(p.loadPerRank, (std::vector<double>{10, 10}));
}
