// Exact 1-D K-means against brute force and Lloyd's algorithm; the Davies-Bouldin index
// against numbers computed by scikit-learn 1.2.1 (davies_bouldin_score) on fixed data.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <random>

#include "hlstm/partition/davies_bouldin.hpp"
#include "hlstm/partition/kmeans1d.hpp"

using namespace hlstm::partition;

namespace {

double sseOfLabels(const std::vector<double>& v, const std::vector<int>& label, int k) {
    std::vector<double> sum(static_cast<std::size_t>(k), 0.0), n(static_cast<std::size_t>(k), 0.0);
    for (std::size_t i = 0; i < v.size(); ++i) {
        sum[static_cast<std::size_t>(label[i])] += v[i];
        n[static_cast<std::size_t>(label[i])] += 1;
    }
    double sse = 0.0;
    for (std::size_t i = 0; i < v.size(); ++i) {
        const auto c = static_cast<std::size_t>(label[i]);
        const double d = v[i] - sum[c] / n[c];
        sse += d * d;
    }
    return sse;
}

// Least SSE over every assignment of n points to k non-empty labels (k^n of them).
double bruteForceSse(const std::vector<double>& v, int k) {
    const std::size_t n = v.size();
    std::vector<int> label(n, 0);
    double best = std::numeric_limits<double>::infinity();
    while (true) {
        std::vector<bool> used(static_cast<std::size_t>(k), false);
        for (int l : label) used[static_cast<std::size_t>(l)] = true;
        if (std::all_of(used.begin(), used.end(), [](bool u) { return u; }))
            best = std::min(best, sseOfLabels(v, label, k));
        std::size_t i = 0;
        while (i < n && ++label[i] == k) label[i++] = 0;
        if (i == n) break;
    }
    return best;
}

// Lloyd's algorithm from k distinct random members; returns the converged SSE.
double lloydSse(const std::vector<double>& v, int k, std::mt19937_64& rng) {
    std::vector<double> centers;
    std::uniform_int_distribution<std::size_t> pick(0, v.size() - 1);
    while (centers.size() < static_cast<std::size_t>(k)) {
        const double c = v[pick(rng)];
        if (std::find(centers.begin(), centers.end(), c) == centers.end()) centers.push_back(c);
    }
    std::vector<int> label(v.size(), 0);
    for (int iter = 0; iter < 300; ++iter) {
        for (std::size_t i = 0; i < v.size(); ++i) {
            int best = 0;
            for (int c = 1; c < k; ++c)
                if (std::abs(v[i] - centers[static_cast<std::size_t>(c)]) <
                    std::abs(v[i] - centers[static_cast<std::size_t>(best)]))
                    best = c;
            label[i] = best;
        }
        std::vector<double> sum(static_cast<std::size_t>(k), 0.0), n(static_cast<std::size_t>(k), 0.0);
        for (std::size_t i = 0; i < v.size(); ++i) {
            sum[static_cast<std::size_t>(label[i])] += v[i];
            n[static_cast<std::size_t>(label[i])] += 1;
        }
        for (int c = 0; c < k; ++c)
            if (n[static_cast<std::size_t>(c)] > 0)
                centers[static_cast<std::size_t>(c)] =
                    sum[static_cast<std::size_t>(c)] / n[static_cast<std::size_t>(c)];
    }
    std::vector<int> used;
    for (int l : label)
        if (std::find(used.begin(), used.end(), l) == used.end()) used.push_back(l);
    for (int& l : label) l = static_cast<int>(std::find(used.begin(), used.end(), l) - used.begin());
    return sseOfLabels(v, label, static_cast<int>(used.size()));
}

// The textbook O(k n^2) dynamic programme over sorted values (no SMAWK, no weights).
std::vector<double> quadraticDpSse(std::vector<double> v, int kMax) {
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    auto cost = [&](std::size_t j, std::size_t i) {  // SSE of v[j..i], directly
        double mean = 0;
        for (std::size_t t = j; t <= i; ++t) mean += v[t] / static_cast<double>(i - j + 1);
        double sse = 0;
        for (std::size_t t = j; t <= i; ++t) sse += (v[t] - mean) * (v[t] - mean);
        return sse;
    };
    std::vector<std::vector<double>> D(static_cast<std::size_t>(kMax) + 1,
                                       std::vector<double>(n, std::numeric_limits<double>::infinity()));
    for (std::size_t i = 0; i < n; ++i) D[1][i] = cost(0, i);
    for (int q = 2; q <= kMax; ++q)
        for (std::size_t i = static_cast<std::size_t>(q) - 1; i < n; ++i)
            for (std::size_t j = static_cast<std::size_t>(q) - 1; j <= i; ++j)
                D[static_cast<std::size_t>(q)][i] =
                    std::min(D[static_cast<std::size_t>(q)][i], D[static_cast<std::size_t>(q) - 1][j - 1] + cost(j, i));
    std::vector<double> out;
    for (int q = 1; q <= kMax; ++q) out.push_back(D[static_cast<std::size_t>(q)][n - 1]);
    return out;
}

}  // namespace

TEST(KMeans1d, EqualsTheQuadraticDynamicProgramme) {
    std::mt19937_64 rng(19);
    for (int trial = 0; trial < 6; ++trial) {
        std::vector<double> v;
        std::normal_distribution<double> g(0.0, 20.0);
        for (int i = 0; i < 120; ++i) v.push_back(trial % 2 ? std::round(g(rng)) : g(rng));  // odd trials: many ties
        const auto expected = quadraticDpSse(v, 10);
        const auto path = kmeans1d(SortedSample::from(v), 1, 10);
        for (int k = 1; k <= 10; ++k)
            EXPECT_NEAR(path[static_cast<std::size_t>(k - 1)].sse, expected[static_cast<std::size_t>(k - 1)],
                        1e-9 * (1 + expected[static_cast<std::size_t>(k - 1)]))
                << "trial " << trial << " k " << k;
    }
}

TEST(KMeans1d, EqualsBruteForceOnSmallInputs) {
    std::mt19937_64 rng(7);
    std::normal_distribution<double> normal(0.0, 10.0);
    for (int trial = 0; trial < 40; ++trial) {
        const std::size_t n = 3 + static_cast<std::size_t>(trial % 6);  // 3..8 points
        std::vector<double> v(n);
        for (auto& x : v) x = std::round(normal(rng) * 4.0) / 4.0;  // some ties
        const SortedSample s = SortedSample::from(v);
        const int kMax = std::min<int>(4, static_cast<int>(s.values.size()));
        const auto path = kmeans1d(s, 1, kMax);
        for (int k = 1; k <= kMax; ++k) {
            const Clustering1d& c = path[static_cast<std::size_t>(k - 1)];
            ASSERT_EQ(c.k, k);
            EXPECT_NEAR(c.sse, bruteForceSse(v, k), 1e-9) << "trial " << trial << " k " << k;
            std::uint64_t members = 0;
            for (int q = 0; q < k; ++q) {
                members += c.sizes[static_cast<std::size_t>(q)];
                if (q > 0) {
                    EXPECT_LT(c.centers[static_cast<std::size_t>(q - 1)], c.centers[static_cast<std::size_t>(q)]);
                }
            }
            EXPECT_EQ(members, n);
        }
    }
}

TEST(KMeans1d, NeverWorseThanLloyd) {
    std::mt19937_64 rng(11);
    for (int trial = 0; trial < 12; ++trial) {
        // a mixture of a few Gaussians of different widths, 400..2600 points
        std::vector<double> v;
        const int parts = 2 + trial % 4;
        for (int p = 0; p < parts; ++p) {
            std::normal_distribution<double> g(30.0 * p - 40.0 + trial, 2.0 + 3.0 * p);
            for (int i = 0; i < 200 + 100 * trial; ++i) v.push_back(g(rng));
        }
        const SortedSample s = SortedSample::from(v);
        const auto path = kmeans1d(s, 2, 10);
        for (int k = 2; k <= 10; ++k) {
            const double exact = path[static_cast<std::size_t>(k - 2)].sse;
            for (int restart = 0; restart < 3; ++restart) {
                const double lloyd = lloydSse(v, k, rng);
                EXPECT_LE(exact, lloyd * (1 + 1e-12)) << "trial " << trial << " k " << k;
            }
        }
    }
}

TEST(KMeans1d, DuplicatesShareAClusterAndTooLargeKIsInfeasible) {
    // 3 distinct values, heavily repeated: k = 3 is exact (SSE 0), k = 4 is infeasible.
    std::vector<double> v;
    for (int i = 0; i < 50; ++i) v.push_back(-7.0);
    for (int i = 0; i < 3; ++i) v.push_back(1.5);
    for (int i = 0; i < 20; ++i) v.push_back(40.0);
    const SortedSample s = SortedSample::from(v);
    ASSERT_EQ(s.values.size(), 3u);
    EXPECT_EQ(s.total, 73u);
    const auto path = kmeans1d(s, 2, 4);
    EXPECT_EQ(path[0].k, 2);
    EXPECT_EQ(path[1].k, 3);
    EXPECT_DOUBLE_EQ(path[1].sse, 0.0);
    EXPECT_EQ(path[1].sizes, (std::vector<std::uint64_t>{50, 3, 20}));
    EXPECT_EQ(path[2].k, 0);  // infeasible
    // k = 2: {-7 x50, 1.5 x3} vs {40 x20} beats {-7 x50} vs {1.5 x3, 40 x20}
    EXPECT_EQ(path[0].sizes, (std::vector<std::uint64_t>{53, 20}));
    EXPECT_EQ(path[0].clusterOf(1.5), 0);
    EXPECT_EQ(path[0].clusterOf(39.0), 0);
    EXPECT_EQ(path[0].clusterOf(40.0), 1);
    EXPECT_EQ(path[0].clusterOf(-100.0), 0);
}

TEST(KMeans1d, DeterministicAndOrderIndependent) {
    std::mt19937_64 rng(3);
    std::uniform_real_distribution<double> u(-80.0, 20.0);
    std::vector<double> v(5000);
    for (auto& x : v) x = u(rng);
    const auto a = kmeans1d(SortedSample::from(v), 2, 8);
    std::shuffle(v.begin(), v.end(), rng);
    const auto b = kmeans1d(SortedSample::from(v), 2, 8);
    for (std::size_t q = 0; q < a.size(); ++q) {
        EXPECT_EQ(a[q].starts, b[q].starts);
        EXPECT_EQ(a[q].sse, b[q].sse);
    }
}

// scikit-learn 1.2.1: davies_bouldin_score(v.reshape(-1, 1), labels) on these 17 values.
TEST(DaviesBouldin, VelocityEqualsScikitLearn) {
    const std::vector<double> v = {-42.5, -40.1, -39.0, -37.7, -12.2, -10.0, -9.4, -8.8, -7.5,
                                   -1.1,  0.0,   0.3,   0.9,   2.4,   3.3,   15.0, 16.2};
    const SortedSample s = SortedSample::from(v);
    EXPECT_NEAR(daviesBouldinVelocity(s, clusteringFromStarts(s, {-42.5, -12.2})), 0.21134210336598216, 1e-12);
    EXPECT_NEAR(daviesBouldinVelocity(s, clusteringFromStarts(s, {-42.5, -12.2, -1.1})), 0.366819756031026, 1e-12);
    EXPECT_NEAR(daviesBouldinVelocity(s, clusteringFromStarts(s, {-42.5, -12.2, -1.1, 15.0})), 0.1711165369071247,
                1e-12);
}

// scikit-learn 1.2.1: davies_bouldin_score on 8 points in the plane, 3 labels.
TEST(DaviesBouldin, GeneralFormEqualsScikitLearn) {
    const std::vector<std::vector<std::array<double, 2>>> clusters = {
        {{0, 0}, {1, 0}, {0, 1.5}}, {{5, 5}, {6, 5}, {5, 7}}, {{10, 0}, {11, 1}}};
    std::vector<std::array<double, 2>> centroid;
    std::vector<double> intra;
    for (const auto& c : clusters) {
        std::array<double, 2> m{0, 0};
        for (const auto& p : c) {
            m[0] += p[0] / static_cast<double>(c.size());
            m[1] += p[1] / static_cast<double>(c.size());
        }
        double s = 0;
        for (const auto& p : c) s += std::hypot(p[0] - m[0], p[1] - m[1]) / static_cast<double>(c.size());
        centroid.push_back(m);
        intra.push_back(s);
    }
    std::vector<double> dist;
    for (const auto& a : centroid)
        for (const auto& b : centroid) dist.push_back(std::hypot(a[0] - b[0], a[1] - b[1]));
    EXPECT_NEAR(daviesBouldin(intra, dist), 0.2503934084267449, 1e-12);
    // scikit-learn's conventions: all S_i ~ 0 gives 0; fewer than 2 clusters is undefined
    EXPECT_EQ(daviesBouldin({0.0, 0.0}, {0.0, 3.0, 3.0, 0.0}), 0.0);
    EXPECT_TRUE(std::isnan(daviesBouldin({1.0}, {0.0})));
}

TEST(DaviesBouldin, ChoosesTheSeparatedNumberOfClusters) {
    // four well separated velocity groups: DB is smallest at k = 4
    std::mt19937_64 rng(5);
    std::vector<double> v;
    for (double c : {-60.0, -25.0, 0.0, 30.0}) {
        std::normal_distribution<double> g(c, 1.5);
        for (int i = 0; i < 300; ++i) v.push_back(g(rng));
    }
    const SortedSample s = SortedSample::from(v);
    const auto path = kmeans1d(s, 2, 10);
    int best = 0;
    std::vector<double> db;
    for (const auto& c : path) db.push_back(daviesBouldinVelocity(s, c));
    for (int q = 1; q < static_cast<int>(db.size()); ++q)
        if (db[static_cast<std::size_t>(q)] < db[static_cast<std::size_t>(best)]) best = q;
    EXPECT_EQ(path[static_cast<std::size_t>(best)].k, 4);
    EXPECT_EQ(path[2].sizes, (std::vector<std::uint64_t>{300, 300, 300, 300}));
}
