// Spatial statistics (include/hlstm/spatial/statistics.hpp) against R's spdep and hand-computed
// values, their behaviour on random patterns, and `hlstm spatial` end to end at 1-4 ranks.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "hlstm/io/hdf5.hpp"
#include "hlstm/io/output_format.hpp"
#include "hlstm/spatial/statistics.hpp"
#include "test_support.hpp"

namespace hlstm::test {
namespace {

namespace fs = std::filesystem;
using namespace hlstm::spatial;

constexpr double kRelative = 1e-8;

void expectRelative(double expected, double actual, const std::string& what) {
    EXPECT_LE(std::fabs(actual - expected), kRelative * std::max(1.0, std::fabs(expected)))
        << what << ": expected " << expected << ", got " << actual;
}

struct Field {
    std::vector<double> x, y, v;
};

// n points uniform in a 10 km square; a value with a smooth spatial part plus white noise.
Field smoothField(std::size_t n, unsigned seed, double noise) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> u(0, 10000);
    std::normal_distribution<double> g(0, 1);
    Field f;
    for (std::size_t i = 0; i < n; ++i) {
        f.x.push_back(u(rng)), f.y.push_back(u(rng));
        f.v.push_back(5 * std::sin(f.x.back() / 1500) + 3 * std::cos(f.y.back() / 2000) + noise * g(rng));
    }
    return f;
}

TEST(SpatialStatistics, MoranAndGiStarEqualSpdep) {
    const Field f = smoothField(2000, 7, 2.0);
    constexpr std::size_t k = 8;
    TempDir dir;
    {
        std::ofstream csv(dir.file("points.csv"));
        csv << "x,y,v\n";
        char line[128];
        for (std::size_t i = 0; i < f.x.size(); ++i) {
            std::snprintf(line, sizeof line, "%.17g,%.17g,%.17g\n", f.x[i], f.y[i], f.v[i]);
            csv << line;
        }
    }
    const CommandResult r = run("Rscript " + std::string(HLSTM_SOURCE_DIR) + "/tests/spatial/spdep_reference.R " +
                                    dir.file("points.csv") + " " + std::to_string(k) + " " + dir.file("spdep.txt"),
                                300);
    ASSERT_EQ(r.exitCode, 0) << "Rscript with spdep is needed (tools/setup.sh --with-spatial installs "
                                "r-cran-spdep): "
                             << r.output;
    std::ifstream in(dir.file("spdep.txt"));
    std::vector<double> ref;
    for (std::string s; in >> s;) ref.push_back(std::stod(s));
    ASSERT_EQ(ref.size(), 5 + f.x.size());

    const Neighbours nb = nearestNeighbours(f.x, f.y, k);
    const Moran m = moranI(f.v, nb);
    expectRelative(ref[0], m.I, "Moran's I");
    expectRelative(ref[1], m.expected, "E[I]");
    expectRelative(ref[2], m.variance, "Var[I]");
    expectRelative(ref[3], m.z, "z");
    EXPECT_GT(m.z, 10) << "the fixture is meant to be strongly autocorrelated";
    const std::vector<double> g = giStar(f.v, nb);
    std::size_t worst = 0;
    double worstRel = 0;
    for (std::size_t i = 0; i < g.size(); ++i) {
        const double rel = std::fabs(g[i] - ref[5 + i]) / std::max(1.0, std::fabs(ref[5 + i]));
        if (rel > worstRel) worstRel = rel, worst = i;
    }
    EXPECT_LE(worstRel, kRelative) << "Gi* of point " << worst << ": spdep " << ref[5 + worst] << ", hlstm "
                                   << g[worst];
}

TEST(SpatialStatistics, NeighboursEqualBruteForce) {
    Field f = smoothField(600, 3, 1.0);
    for (int i = 0; i < 20; ++i) f.x[100 + i] = f.x[i], f.y[100 + i] = f.y[i];  // duplicates
    const std::size_t k = 5;
    const Neighbours nb = nearestNeighbours(f.x, f.y, k);
    for (std::size_t i = 0; i < f.x.size(); ++i) {
        std::vector<std::pair<double, std::uint32_t>> all;
        for (std::size_t j = 0; j < f.x.size(); ++j)
            if (j != i) all.push_back({std::hypot(f.x[j] - f.x[i], f.y[j] - f.y[i]), static_cast<std::uint32_t>(j)});
        std::sort(all.begin(), all.end());
        for (std::size_t r = 0; r < k; ++r) {
            ASSERT_EQ(nb.index[i * k + r], all[r].second) << "point " << i << ", neighbour " << r;
            ASSERT_DOUBLE_EQ(nb.distance[i * k + r], all[r].first);
        }
    }
}

TEST(SpatialStatistics, GeodetectorHandComputed) {
    // Strata A = {1, 2, 3}, B = {5, 6, 10}: SST = 53.5, SSW = 2 + 14 = 16, q = 1 - 16 / 53.5;
    // F = (6 - 2) q / ((2 - 1)(1 - q)) = 9.375; s^2 = 53.5 / 5 = 10.7; lambda = (2^2 + 7^2 -
    // (sqrt(3) 2 + sqrt(3) 7)^2 / 6) / 10.7 = 12.5 / 10.7; p = P(F'(1, 4, lambda) > 9.375) =
    // 0.10576387357990984 (R: pf(9.375, 1, 4, ncp = 12.5 / 10.7, lower.tail = FALSE)).
    const Geodetector g = factorDetector({1, 2, 3, 5, 6, 10}, {0, 0, 0, 1, 1, 1});
    EXPECT_EQ(g.n, 6u);
    EXPECT_EQ(g.strata, 2u);
    expectRelative(1 - 16 / 53.5, g.q, "q");
    expectRelative(0.10576387357990984, g.p, "p");
}

TEST(SpatialStatistics, GeodetectorExtremes) {
    // Constant inside each stratum, different between: q = 1, p = 0.
    const Geodetector one = factorDetector({4, 4, 4, 9, 9, -2, -2, -2}, {1, 1, 1, 2, 2, 3, 3, 3});
    EXPECT_DOUBLE_EQ(one.q, 1.0);
    EXPECT_DOUBLE_EQ(one.p, 0.0);
    EXPECT_EQ(one.strata, 3u);
    // Every stratum has the same mean (2): q = 0, p = 1.
    const Geodetector zero = factorDetector({1, 3, 0, 4, 2, 2, -1, 5}, {0, 0, 1, 1, 2, 2, 3, 3});
    EXPECT_NEAR(zero.q, 0.0, 1e-15);
    EXPECT_NEAR(zero.p, 1.0, 1e-12);
    // One stratum: no test.
    EXPECT_TRUE(std::isnan(factorDetector({1, 2, 3}, {5, 5, 5}).q));
}

TEST(SpatialStatistics, ClarkEvansUniformAndClustered) {
    int near = 0;
    double meanR = 0;
    for (unsigned seed = 1; seed <= 100; ++seed) {
        std::mt19937_64 rng(seed);
        std::uniform_real_distribution<double> u(0, 1000);
        std::vector<double> x(1000), y(1000);
        for (std::size_t i = 0; i < x.size(); ++i) x[i] = u(rng), y[i] = u(rng);
        const Nni r = clarkEvans(x, y, nearestNeighbours(x, y, 1));
        near += std::fabs(r.z) < 1.96;
        meanR += r.R / 100;
        EXPECT_GT(r.area, 0.95e6);  // the hull of 1000 uniform points covers nearly the square
        EXPECT_LE(r.area, 1e6);
    }
    EXPECT_GE(near, 90);
    EXPECT_NEAR(meanR, 1.0, 0.02);

    std::mt19937_64 rng(11);
    std::normal_distribution<double> g(0, 15);
    std::uniform_real_distribution<double> u(0, 1000);
    std::vector<double> x, y;
    for (int c = 0; c < 10; ++c) {
        const double cx = u(rng), cy = u(rng);
        for (int i = 0; i < 100; ++i) x.push_back(cx + g(rng)), y.push_back(cy + g(rng));
    }
    const Nni clustered = clarkEvans(x, y, nearestNeighbours(x, y, 1));
    EXPECT_LT(clustered.R, 0.8);
    EXPECT_LT(clustered.z, -1.96);
    EXPECT_LT(clustered.p, 0.05);
}

TEST(SpatialStatistics, MoranOfShuffledValuesIsNotSignificant) {
    Field f = smoothField(2000, 5, 1.0);
    const Neighbours nb = nearestNeighbours(f.x, f.y, 8);
    ASSERT_GT(moranI(f.v, nb).z, 10);  // the unshuffled values are strongly autocorrelated
    std::mt19937_64 rng(99);
    int quiet = 0;
    for (int s = 0; s < 100; ++s) {
        std::shuffle(f.v.begin(), f.v.end(), rng);
        quiet += std::fabs(moranI(f.v, nb).z) < 1.96;
    }
    EXPECT_GE(quiet, 90);
}

TEST(SpatialStatistics, HotColdAndAgreement) {
    const std::vector<double> z{3.0, -2.5, 0.1, 1.97, -1.95, NAN};
    const auto c = hotColdClasses(z, 0.05, Multiple::kNone);
    EXPECT_EQ(c, (std::vector<std::int8_t>{1, -1, 0, 1, 0, 0}));
    // FDR over 6 tests: sorted p 0.0027, 0.0124, 0.049, ...: 0.0027 <= 0.05/6, 0.0124 <= 2*0.05/6,
    // 0.049 > 3*0.05/6: two discoveries.
    const auto f = hotColdClasses(z, 0.05, Multiple::kFdr);
    EXPECT_EQ(f, (std::vector<std::int8_t>{1, -1, 0, 0, 0, 0}));
    const Agreement a = classAgreement({1, 1, 0, 0, -1, -1}, {1, 0, 0, 0, -1, 1});
    EXPECT_DOUBLE_EQ(a.share, 4.0 / 6);
    // p_e = (2*1 + 2*3 + 2*2) / 36 = 1/3: kappa = (2/3 - 1/3) / (2/3) = 0.5.
    EXPECT_NEAR(a.kappa, 0.5, 1e-15);
}

// A small hlstm-output file as hlstm run writes it (the datasets hlstm spatial reads).
void writeRunOutput(const std::string& path, const Field& f, bool complete) {
    const std::size_t n = f.x.size();
    const h5::File file(path, h5::Access::kCreate);
    auto put = [&](const std::string& name, const std::vector<double>& v, std::uint64_t width = 1) {
        std::vector<std::uint64_t> dims{n};
        if (width > 1) dims.push_back(width);
        file.createDataset<double>(name, dims).writeRows(0, n, v.data());
    };
    put(output::points::kX, f.x);
    put(output::points::kY, f.y);
    std::vector<double> velocity = f.v, sub(n), zone(n), obs(2 * n), pred(2 * n);
    for (std::size_t i = 0; i < n; ++i) {
        sub[i] = f.x[i] < 5000 ? (f.y[i] < 5000 ? 0 : 1) : 2;
        zone[i] = sub[i] == 2 ? 1 : 0;
        obs[2 * i] = 0.1 * f.v[i], obs[2 * i + 1] = 0.1 * f.v[i] + std::sin(static_cast<double>(i));
        pred[2 * i] = 0.1 * f.v[i] + 0.2, pred[2 * i + 1] = 0.1 * f.v[i];
    }
    for (std::size_t i = n - 25; i < n; ++i) velocity[i] = NAN, sub[i] = -1, zone[i] = -1;  // not kept
    for (std::size_t i = n - 40; i < n; ++i) obs[2 * i] = pred[2 * i] = NAN;                // no forecast
    put(output::points::kVelocity, velocity);
    put(output::points::kSubregion, sub);
    put(output::points::kZone, zone);
    put(output::forecast::kHoldoutTrue, obs, 2);
    put(output::forecast::kHoldoutPred, pred, 2);
    file.writeAttribute(output::attr::kFormat, std::string(output::kFormatName));
    file.writeAttribute(output::attr::kComplete, std::int32_t{complete ? 1 : 0});
}

TEST(SpatialCommand, SameFileAtOneToFourRanksWithTheKernelsValues) {
    TempDir dir;
    const Field f = smoothField(3000, 21, 1.5);
    writeRunOutput(dir.file("out.h5"), f, true);
    for (int ranks = 1; ranks <= 4; ++ranks) {
        const std::string out = dir.file("s" + std::to_string(ranks) + ".h5");
        const CommandResult r =
            run(hlstmUnderMpi(ranks) + " spatial " + dir.file("out.h5") + " -o " + out + " --spatial.cell 2500", 300);
        ASSERT_EQ(r.exitCode, 0) << r.output;
        EXPECT_NE(r.output.find("Table II"), std::string::npos) << r.output;
        EXPECT_NE(r.output.find("Table V"), std::string::npos) << r.output;
        if (ranks > 1) {
            const CommandResult d = run("h5diff " + dir.file("s1.h5") + " " + out);
            EXPECT_EQ(d.exitCode, 0) << ranks << " ranks differ from 1: " << d.output;
        }
    }
    // The file holds what the kernels give on the points with a finite value.
    const h5::File s(dir.file("s2.h5"), h5::Access::kReadOnly);
    EXPECT_EQ(s.readStrings(output::spatial::kMoranVariable),
              (std::vector<std::string>{"velocity", "holdout_observed", "holdout_predicted", "residual"}));
    const auto n = s.openDataset(output::spatial::kMoranN).readAll<std::int64_t>();
    EXPECT_EQ(n, (std::vector<std::int64_t>{2975, 2960, 2960, 2960}));
    std::vector<double> x(f.x.begin(), f.x.end() - 25), y(f.y.begin(), f.y.end() - 25), v(f.v.begin(), f.v.end() - 25);
    const Neighbours nb = nearestNeighbours(x, y, 8);
    const Moran m = moranI(v, nb);
    const auto I = s.openDataset(output::spatial::kMoranI).readAll<double>();
    const auto z = s.openDataset(output::spatial::kMoranZ).readAll<double>();
    EXPECT_DOUBLE_EQ(I[0], m.I);
    EXPECT_DOUBLE_EQ(z[0], m.z);
    const auto g = giStar(v, nb);
    const auto gFile = s.openDataset(std::string(output::spatial::kGiStarPrefix) + "velocity").readAll<double>();
    ASSERT_EQ(gFile.size(), f.x.size());
    for (std::size_t i = 0; i < g.size(); ++i) ASSERT_DOUBLE_EQ(gFile[i], g[i]) << "row " << i;
    for (std::size_t i = g.size(); i < gFile.size(); ++i) EXPECT_TRUE(std::isnan(gFile[i])) << "row " << i;
    const Nni nni = clarkEvans(x, y, nb);
    EXPECT_DOUBLE_EQ(s.openDataset(output::spatial::kNniR).readAll<double>()[0], nni.R);
    EXPECT_EQ(s.openDataset(output::spatial::kNniN).readAll<std::int64_t>()[0], 2975);
    // Geodetector: velocity against the three subregions over the whole scene.
    const auto vars = s.readStrings(output::spatial::kGeodetectorVariable);
    const auto strata = s.readStrings(output::spatial::kGeodetectorStrata);
    const auto within = s.openDataset(output::spatial::kGeodetectorSubregion).readAll<std::int32_t>();
    const auto q = s.openDataset(output::spatial::kGeodetectorQ).readAll<double>();
    std::vector<std::int64_t> labels;
    for (std::size_t i = 0; i < x.size(); ++i) labels.push_back(x[i] < 5000 ? (y[i] < 5000 ? 0 : 1) : 2);
    const Geodetector expected = factorDetector(v, labels);
    bool found = false;
    for (std::size_t i = 0; i < vars.size(); ++i)
        if (vars[i] == "velocity" && strata[i] == "subregion" && within[i] == -1) {
            EXPECT_DOUBLE_EQ(q[i], expected.q);
            found = true;
        }
    EXPECT_TRUE(found);
    EXPECT_EQ(s.readAttribute<std::int64_t>(output::spatial::kAttrK), 8);
    EXPECT_DOUBLE_EQ(s.readAttribute<double>(output::spatial::kAttrCell), 2500.0);
}

TEST(SpatialCommand, RefusesAnIncompleteOutputWithNothingWritten) {
    TempDir dir;
    writeRunOutput(dir.file("out.h5"), smoothField(200, 1, 1.0), false);
    const CommandResult r = run(hlstmUnderMpi(2) + " spatial " + dir.file("out.h5") + " -o " + dir.file("s.h5"));
    EXPECT_EQ(r.exitCode, 1) << r.output;
    EXPECT_NE(r.output.find(dir.file("out.h5") + ": incomplete"), std::string::npos) << r.output;
    EXPECT_FALSE(fs::exists(dir.file("s.h5")));
    EXPECT_FALSE(fs::exists(dir.file("s.h5.tmp")));
    const CommandResult same = run(hlstmUnderMpi(1) + " spatial " + dir.file("out.h5") + " -o " + dir.file("out.h5"));
    EXPECT_EQ(same.exitCode, 1) << same.output;
}

}  // namespace
}  // namespace hlstm::test
