// Per-point forecasting baselines: every expected value is computed by hand in the comments.
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/archive/binary_iarchive.hpp>
#include <boost/archive/binary_oarchive.hpp>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "hlstm/core/error.hpp"
#include "hlstm/model/baselines.hpp"

namespace hlstm::model {
namespace {

constexpr double kTol = 1e-5;

History history(const std::vector<float>& c, const std::vector<double>* steps = nullptr) {
    return History{c.data(), steps != nullptr ? steps->data() : nullptr, c.size()};
}

std::vector<float> run(BaselineKind kind, const std::vector<float>& c, int window, int horizon,
                       const std::vector<double>* steps = nullptr) {
    std::vector<float> out(horizon, -999.0f);
    forecastBaseline(kind, history(c, steps), window, horizon, out.data());
    return out;
}

void expectAll(const std::vector<float>& out, double value) {
    for (float v : out) EXPECT_NEAR(v, value, kTol);
}

// c = 0, 1, 3, 4, 8, 9, 12 at steps 0..6: rates 1, 2, 1, 4, 1, 3.
const std::vector<float> kSeries = {0, 1, 3, 4, 8, 9, 12};

TEST(Baselines, RatesDivideByTheStepGap) {
    // c = 0, 2, 5 at steps 0, 1, 3: (2-0)/1 = 2, (5-2)/(3-1) = 1.5.
    const std::vector<float> c = {0, 2, 5};
    const std::vector<double> steps = {0, 1, 3};
    EXPECT_EQ(rates(history(c, &steps)), (std::vector<double>{2.0, 1.5}));
    // Default steps 0, 1, 2: 2, 3.
    EXPECT_EQ(rates(history(c)), (std::vector<double>{2.0, 3.0}));
    EXPECT_TRUE(rates(history({7.0f})).empty());
}

TEST(Baselines, PersistenceRepeatsTheLastRate) {
    // Last rate 12 - 9 = 3.
    expectAll(run(BaselineKind::kPersistence, kSeries, 4, 3), 3.0);
}

TEST(Baselines, WindowMeanAveragesTheLastWindowMinusOneRates) {
    // L = 4: last 3 rates 4, 1, 3 -> 8/3.
    expectAll(run(BaselineKind::kWindowMean, kSeries, 4, 2), 8.0 / 3.0);
    // L = 10 > history: all 6 rates, (1+2+1+4+1+3)/6 = 2.
    expectAll(run(BaselineKind::kWindowMean, kSeries, 10, 2), 2.0);
}

TEST(Baselines, VelocityIsTheSlopeOverTheWholeHistory) {
    // t mean 3, Sxx = 9+4+1+0+1+4+9 = 28; Sxy = sum (t-3) c = -2 - 3 + 0 + 8 + 18 + 36 = 57; 57/28.
    expectAll(run(BaselineKind::kVelocity, kSeries, 4, 3), 57.0 / 28.0);
    // c = 0, 2, 5 at steps 0, 1, 3: s mean 4/3, c mean 7/3; ds = -4/3, -1/3, 5/3;
    // Sxx = (16+1+25)/9 = 42/9; Sxy = (0*(-4) + 2*(-1) + 5*5)/3 = 23/3 = 69/9; slope 69/42.
    const std::vector<float> c = {0, 2, 5};
    const std::vector<double> steps = {0, 1, 3};
    expectAll(run(BaselineKind::kVelocity, c, 4, 1, &steps), 69.0 / 42.0);
}

TEST(Baselines, LinearTrendFitsTheLastWindowEpochs) {
    // L = 4: epochs 3..6, c = 4, 8, 9, 12; dt = -1.5, -0.5, 0.5, 1.5; Sxx = 5;
    // Sxy = -6 - 4 + 4.5 + 18 = 12.5; slope 2.5.
    expectAll(run(BaselineKind::kLinearTrend, kSeries, 4, 3), 2.5);
    // L = 20 > history: the whole history, as velocity (57/28).
    expectAll(run(BaselineKind::kLinearTrend, kSeries, 20, 1), 57.0 / 28.0);
}

TEST(Baselines, ShortHistoryGivesNaNAndBadArgumentsThrow) {
    for (float v : run(BaselineKind::kPersistence, {1.0f}, 4, 2)) EXPECT_TRUE(std::isnan(v));
    std::vector<float> out(2);
    EXPECT_THROW(forecastBaseline(BaselineKind::kMlr, history(kSeries), 4, 2, out.data()), std::invalid_argument);
    EXPECT_THROW(forecastBaseline(BaselineKind::kPersistence, history(kSeries), 1, 2, out.data()),
                 std::invalid_argument);
}

TEST(Baselines, SesPicksTheAlphaWithTheSmallestOneStepErrors) {
    // Rates 0, 1, 2, 3, 4 (a steady ramp). a = 1: l_{t-1} = r_{t-1}, errors 1, 1, 1, 1 -> SSE 4.
    // a = 0.5: l = 0, 0.5, 1.25, 2.125; errors 1, 1.5, 1.75, 1.875 -> SSE 9.828125; any a < 1 lags behind the
    // ramp (every error > 1), so a = 1 wins and the final level is the last rate, 4.
    EXPECT_NEAR(sesAlpha({0, 1, 2, 3, 4}), 1.0, 1e-12);
    // Rates 0, 3, 1: SSE(a) = (3-0)^2 + (1 - 3a)^2, smallest on the grid at a = 0.33: (1-0.99)^2 = 1e-4,
    // against a = 0.34: (1-1.02)^2 = 4e-4 and a = 0.5: (1-1.5)^2 = 0.25.
    EXPECT_NEAR(sesAlpha({0, 3, 1}), 0.33, 1e-12);
    // Final level with a = 0.33: l_1 = 0.33*3 = 0.99, l_2 = 0.33*1 + 0.67*0.99 = 0.9933 (not the last rate 1).
    const std::vector<float> c = {0, 0, 3, 4};  // rates 0, 3, 1
    expectAll(run(BaselineKind::kSes, c, 4, 3), 0.9933);
}

TEST(Baselines, SesOfAConstantRateIsThatRate) {
    // Rates all 2: every a has SSE 0, the tie keeps the smallest a = 0.01, and the level stays 2.
    EXPECT_NEAR(sesAlpha({2, 2, 2, 2}), 0.01, 1e-12);
    expectAll(run(BaselineKind::kSes, {0, 2, 4, 6, 8}, 4, 2), 2.0);
}

TEST(Baselines, SesAlphaEqualsOneScalarPassPerAlpha) {
    // sesAlpha scans the 100 constants side by side in one vectorised pass; each lane must give
    // the sum of squared one-step errors that a pass of its own gives, bit for bit, so the chosen
    // a is the scalar scan's on noisy series of every length (near-ties included).
    std::uint64_t state = 12345;
    auto uniform = [&state] {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        return static_cast<double>(state >> 11) / 9007199254740992.0 - 0.5;
    };
    int differentFromFirst = 0;
    for (int series = 0; series < 300; ++series) {
        std::vector<double> r(2 + static_cast<std::size_t>(series) % 250);
        const double trend = uniform(), persistence = uniform() + 0.5;
        double x = 0;
        for (auto& v : r) v = x = persistence * x + trend + uniform();
        double best = 0, bestSse = std::numeric_limits<double>::infinity();
        for (int k = 1; k <= 100; ++k) {
            const double a = static_cast<double>(k) / 100;
            double level = r[0], sse = 0;
            for (std::size_t t = 1; t < r.size(); ++t) {
                const double e = r[t] - level;
                sse += e * e;
                level += a * e;
            }
            if (sse < bestSse) bestSse = sse, best = a;
        }
        EXPECT_EQ(sesAlpha(r), best) << "series " << series;
        differentFromFirst += best != 0.01 ? 1 : 0;
    }
    EXPECT_GT(differentFromFirst, 100);  // the series exercise the whole grid, not one corner
}

TEST(Baselines, ArOnTheStackEqualsTheDynamicPath) {
    // Orders up to 5 use stack matrices, higher ones heap matrices: on the same series with
    // P = 5 both paths must choose the same order and coefficients (maxOrder 6 on a series too
    // short for P = 6 takes the heap path with P = 5).
    std::vector<double> r;
    double x = 0.3, y = -0.2;
    for (int t = 0; t < 12; ++t) {
        const double next = 0.4 + 0.5 * x - 0.3 * y + 0.05 * ((t * 7919) % 13 - 6);
        y = x, x = next;
        r.push_back(next);
    }
    const ArFit stack = fitAr(r, 5), heap = fitAr(r, 6);  // m = 12: P = min(6, 5) = 5 for both
    EXPECT_EQ(stack.p, heap.p);
    EXPECT_GE(stack.p, 1);
    EXPECT_EQ(stack.coefficients, heap.coefficients);
}

TEST(Baselines, ArSmallSolverEqualsEigensLdlt) {
    // The fixed-size solver (src/model/ar_solve.cpp) does Eigen's LDLT operations in Eigen's
    // order: on 3,000 noisy AR series of 8..200 rates (orders 0..5 chosen, near-collinear and
    // constant stretches among them) the chosen order and phi_1..phi_p are Eigen's bit for bit;
    // so is the intercept, unless Eigen's vector sits at another address, which changes the
    // order Eigen adds phi_1..phi_p in (p >= 3; src/model/ar_solve.hpp): then to ~1e-13 only.
    std::uint64_t state = 4242;
    auto uniform = [&state] {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        return static_cast<double>(state >> 11) / 9007199254740992.0 - 0.5;
    };
    int orders[6] = {}, interceptsDiffer = 0;
    double largest = 0;
    for (int series = 0; series < 3000; ++series) {
        const std::size_t m = 8 + static_cast<std::size_t>(series) % 193;
        std::vector<double> r(m);
        const double a1 = uniform() * 1.6, a2 = uniform() * 0.8, a3 = uniform() * 0.5, noise = uniform() + 0.5;
        for (std::size_t t = 0; t < m; ++t) {
            const double x1 = t > 0 ? r[t - 1] : 0, x2 = t > 1 ? r[t - 2] : 0, x3 = t > 2 ? r[t - 3] : 0;
            r[t] = 0.3 + a1 * x1 + a2 * x2 + a3 * x3 + noise * uniform();
            if (series % 17 == 0 && t % 5 != 0) r[t] = r[t > 0 ? t - 1 : 0];  // flat stretches
            if (series % 29 == 0) r[t] = 1.5;                                 // a constant series
        }
        setArSolver(ArSolver::kEigen);
        const ArFit want = fitAr(r);
        setArSolver(ArSolver::kSmall);
        const ArFit got = fitAr(r);
        ASSERT_EQ(got.p, want.p) << "series " << series;
        ASSERT_EQ(got.coefficients.size(), want.coefficients.size());
        ++orders[got.p];
        for (std::size_t k = 1; k < got.coefficients.size(); ++k)
            ASSERT_EQ(got.coefficients[k], want.coefficients[k]) << "series " << series << " phi_" << k;
        const double d = std::abs(got.coefficients[0] - want.coefficients[0]);
        if (d != 0) ++interceptsDiffer;
        if (got.p < 3) {
            EXPECT_EQ(got.coefficients[0], want.coefficients[0]) << "series " << series;
        } else {
            EXPECT_LE(d, 1e-12 * (1.0 + std::abs(want.coefficients[0]))) << "series " << series;
        }
        largest = std::max(largest, d);
    }
    for (int p = 0; p <= 5; ++p) EXPECT_GT(orders[p], 10) << "order " << p << " among the fits";
    std::cout << "intercepts differing from Eigen's: " << interceptsDiffer << " of 3000, largest by " << largest
              << "\n";
}

TEST(Baselines, PortableKernelsEqualTheAvx512Ones) {
    // HLSTM_BASELINES_ISA=portable (setBaselineIsa) runs what a CPU without AVX-512 runs: SES's
    // scan, the cuts' OLS slopes and AR's Gram sums must give every kind's forecasts, one call
    // and every cut, bit for bit as the AVX-512 kernels (on a CPU without them both are portable).
    std::uint64_t state = 99;
    auto uniform = [&state] {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        return static_cast<double>(state >> 11) / 9007199254740992.0 - 0.5;
    };
    const MlrModel mlr{3, {0.1, 0.5, -0.2, 0.1}};
    std::size_t compared = 0, nonzero = 0;
    for (int series = 0; series < 150; ++series) {
        const std::size_t n = 3 + static_cast<std::size_t>(series * 7) % 200;
        std::vector<float> c(n);
        std::vector<double> steps(n);
        double x = 0, level = 0;
        const double trend = uniform(), persistence = uniform() + 0.5;
        for (std::size_t t = 0; t < n; ++t) {
            steps[t] = (t == 0 ? 0.0 : steps[t - 1]) + (uniform() > 0.3 ? 1.0 : 2.0);
            x = persistence * x + trend + uniform();
            level += x;
            c[t] = static_cast<float>(level);
        }
        const std::vector<std::size_t> cuts = {n, n - 1, n / 2, 2, (2 * n) / 3, n - 2, 9, n / 3, n + 3, 5};
        for (BaselineKind kind : allBaselines()) {
            std::vector<float> got[2];
            for (int isa = 0; isa < 2; ++isa) {
                setBaselineIsa(isa == 0 ? BaselineIsa::kNative : BaselineIsa::kPortable);
                got[isa].assign(cuts.size() * 2 + 2, -999.0f);
                forecastAtCuts(kind, {c.data(), steps.data(), n}, cuts.data(), cuts.size(), 20, 2, &mlr,
                               got[isa].data());
                if (kind != BaselineKind::kMlr)
                    forecastBaseline(kind, {c.data(), steps.data(), n}, 20, 2, got[isa].data() + cuts.size() * 2);
            }
            setBaselineIsa(BaselineIsa::kNative);
            for (std::size_t k = 0; k < got[0].size(); ++k) {
                const float a = got[0][k], b = got[1][k];
                EXPECT_TRUE(std::isnan(a) ? std::isnan(b) : a == b)
                    << toString(kind) << " series " << series << " value " << k << ": " << a << " vs " << b;
                ++compared;
                if (std::isfinite(a) && a != 0) ++nonzero;
            }
        }
    }
    EXPECT_GT(nonzero, compared / 2);
}

TEST(Baselines, ArFitsSolvedEightSideBySideEqualTheScalarOnes) {
    // forecastBaselines solves the AR fits of 8 points at a time in AVX-512 lanes (ar_lanes.cpp),
    // and forecastAtCuts 8 cuts' fits; HLSTM_BASELINES_ISA=portable solves them one by one. On
    // 2,999 series (a partial last block of 8) of 0..200 epochs - too short for any rate, for the
    // order bound 5 (mixed with it in a block), noisy AR of orders 0..5, flat stretches, constant
    // series, a NaN value, uneven steps - every fit (fitArs) and forecast is the scalar one bit for bit.
    std::uint64_t state = 2024;
    auto uniform = [&state] {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        return static_cast<double>(state >> 11) / 9007199254740992.0 - 0.5;
    };
    constexpr std::size_t kSeriesCount = 2999;
    constexpr int kHorizon = 3;
    std::vector<std::vector<float>> c(kSeriesCount);
    std::vector<std::vector<double>> steps(kSeriesCount);
    std::vector<History> histories(kSeriesCount);
    int orders[6] = {};
    std::size_t nanSeries = 0;
    for (std::size_t i = 0; i < kSeriesCount; ++i) {
        const std::size_t n = (i * 37) % 201;
        const double a1 = uniform() * 1.6, a2 = uniform() * 0.8, a3 = uniform() * 0.5, noise = uniform() + 0.5;
        double x1 = 0, x2 = 0, x3 = 0, level = 0;
        for (std::size_t t = 0; t < n; ++t) {
            steps[i].push_back((t == 0 ? 0.0 : steps[i].back()) + (i % 3 == 0 && uniform() > 0.3 ? 2.0 : 1.0));
            double r = 0.3 + a1 * x1 + a2 * x2 + a3 * x3 + noise * uniform();
            if (i % 17 == 0 && t % 5 != 0) r = x1;  // flat stretches
            if (i % 29 == 0) r = 1.5;               // a constant rate
            x3 = x2, x2 = x1, x1 = r;
            level += r;
            c[i].push_back(static_cast<float>(level));
        }
        if (i % 101 == 7 && n > 20) c[i][n / 2] = std::numeric_limits<float>::quiet_NaN(), ++nanSeries;
        histories[i] = {c[i].data(), steps[i].data(), n};
        if (n >= 2 && i % 101 != 7) ++orders[fitAr(rates(histories[i])).p];
    }
    // The fits themselves (doubles, before the forecasts' rounding to float): order and coefficients.
    std::vector<std::vector<double>> r(kSeriesCount);
    for (std::size_t i = 0; i < kSeriesCount; ++i) r[i] = rates(histories[i]);
    std::vector<ArFit> fits(kSeriesCount);
    fitArs(r.data(), kSeriesCount, fits.data());
    for (std::size_t i = 0; i < kSeriesCount; ++i) {
        const ArFit want = fitAr(r[i]);
        ASSERT_EQ(fits[i].p, want.p) << "series " << i;
        ASSERT_EQ(fits[i].coefficients.size(), want.coefficients.size()) << "series " << i;
        for (std::size_t k = 0; k < want.coefficients.size(); ++k) {
            const double a = fits[i].coefficients[k], b = want.coefficients[k];
            ASSERT_TRUE(std::isnan(b) ? std::isnan(a) : a == b) << "series " << i << " coefficient " << k;
        }
    }
    std::vector<float> got[2];
    for (int isa = 0; isa < 2; ++isa) {
        setBaselineIsa(isa == 0 ? BaselineIsa::kNative : BaselineIsa::kPortable);
        got[isa].assign(kSeriesCount * kHorizon, -999.0f);
        forecastBaselines(BaselineKind::kAr, histories.data(), kSeriesCount, 20, kHorizon, got[isa].data());
    }
    setBaselineIsa(BaselineIsa::kNative);
    std::size_t finite = 0, nan = 0;
    for (std::size_t i = 0; i < kSeriesCount; ++i) {
        std::vector<float> one(kHorizon, -999.0f);
        forecastBaseline(BaselineKind::kAr, histories[i], 20, kHorizon, one.data());  // one point, one fit
        for (std::size_t y = 0; y < kHorizon; ++y) {
            const float a = got[0][i * kHorizon + y], b = got[1][i * kHorizon + y], w = one[y];
            ASSERT_TRUE(std::isnan(a) ? std::isnan(b) && std::isnan(w) : a == b && a == w)
                << "series " << i << " (" << histories[i].n << " epochs) step " << y << ": " << a << " vs " << b
                << " vs " << w;
            ++(std::isnan(a) ? nan : finite);
        }
    }
    for (int p = 0; p <= 5; ++p) EXPECT_GT(orders[p], 10) << "order " << p << " among the fits";
    EXPECT_GT(nanSeries, 10u);
    EXPECT_GT(finite, kSeriesCount * kHorizon * 9 / 10);
    EXPECT_GT(nan, 0u);  // the series without a rate, and those with a NaN
}

TEST(Baselines, ArRecoversANoiselessAr1) {
    // r_0 = 5, r_t = 0.5 + 0.6 r_{t-1}: r_t - 1.25 = 3.75 * 0.6^t (fixed point 0.5/0.4 = 1.25).
    std::vector<double> r = {5.0};
    for (int t = 1; t < 20; ++t) r.push_back(0.5 + 0.6 * r.back());
    const ArFit fit = fitAr(r);
    // Exact at p = 1; p >= 2 is collinear (lags 1 and 2 both span 1 and 0.6^t), so p = 1.
    EXPECT_EQ(fit.p, 1);
    ASSERT_EQ(fit.coefficients.size(), 2u);
    EXPECT_NEAR(fit.coefficients[0], 0.5, 1e-8);
    EXPECT_NEAR(fit.coefficients[1], 0.6, 1e-8);
    // Two iterated steps: r_20 = 1.25 + 3.75*0.6^20, r_21 = 0.5 + 0.6 r_20 = 1.25 + 3.75*0.6^21.
    // 0.6^20 = 3.6561584e-5, 0.6^21 = 2.1936950e-5: 1.2501371, 1.2500823.
    std::vector<float> out(2);
    forecastAr(fit, r, 2, out.data());
    EXPECT_NEAR(out[0], 1.2501371, 1e-6);
    EXPECT_NEAR(out[1], 1.2500823, 1e-6);
}

TEST(Baselines, ArWithoutDependenceIsTheMeanOfTheTargets) {
    // Fixed iid-like rates (uniform draws rounded to 0.1); AIC of p = 0 beats p = 1..5 by >= 1.7
    // (checked with an independent least-squares script). Targets t = 5..19 sum to 1.5 over 15: mean 0.1
    // (the mean of all 20 rates is 0.11).
    const std::vector<double> r = {0.9,  -1.0, 0.5, -0.7, 1.0,  -1.0, 0.8, 0.4, 0.7, 1.0,
                                   -0.5, -0.3, 0.4, -0.4, -0.5, -0.5, 0.7, 0.7, 0.6, -0.6};
    const ArFit fit = fitAr(r);
    EXPECT_EQ(fit.p, 0);
    ASSERT_EQ(fit.coefficients.size(), 1u);
    EXPECT_NEAR(fit.coefficients[0], 0.1, 1e-12);
    // Through forecastBaseline on the cumulative sums (float): the same mean, repeated.
    std::vector<float> c = {0.0f};
    for (double v : r) c.push_back(c.back() + static_cast<float>(v));
    expectAll(run(BaselineKind::kAr, c, 4, 3), 0.1);
}

// Three points from y = 1 + 2 r[t-1] - 0.5 r[t-2] (dyadic values: every sum is exact).
// A: 0, 1 -> 1+2-0 = 3 -> 1+6-0.5 = 6.5 -> 1+13-1.5 = 12.5
// B: 2, -1 -> 1-2-1 = -2 -> 1-4+0.5 = -2.5 -> 1-5+1 = -3
// C: 0.5, 0.25 -> 1+0.5-0.25 = 1.25 -> 1+2.5-0.125 = 3.375
const std::vector<double> kA = {0, 1, 3, 6.5, 12.5};
const std::vector<double> kB = {2, -1, -2, -2.5, -3};
const std::vector<double> kC = {0.5, 0.25, 1.25, 3.375};

TEST(Baselines, MlrSumsMergeLikeOneAccumulation) {
    MlrSums all(2);
    all.addPoint(kA);
    all.addPoint(kB);
    all.addPoint(kC);
    MlrSums first(2), second(2);
    first.addPoint(kA);
    second.addPoint(kB);
    second.addPoint(kC);
    first.merge(second);
    EXPECT_EQ(first.n, all.n);
    EXPECT_EQ(first.xtx, all.xtx);
    EXPECT_EQ(first.xty, all.xty);
    // Targets t >= 2: 3 + 3 + 2 = 8 samples; sum of targets (22) + (-7.5) + (4.625) = 19.125.
    EXPECT_EQ(all.n, 8u);
    EXPECT_EQ(all.xtx[0], 8.0);
    EXPECT_EQ(all.xty[0], 19.125);
    // Sum of r[t-2]^2 (entry [2][2]): A 0+1+9, B 4+1+4, C 0.25+0.0625 -> 19.3125.
    EXPECT_EQ(all.xtx[2 * 3 + 2], 19.3125);
    EXPECT_THROW(all.merge(MlrSums(3)), std::invalid_argument);
}

TEST(Baselines, MlrSolvesANoiselessSystemAndRoundTripsThroughBoost) {
    MlrSums sums(2);
    sums.addPoint(kA);
    sums.addPoint(kB);
    sums.addPoint(kC);
    const MlrModel model = solveMlr(sums);
    ASSERT_EQ(model.coefficients.size(), 3u);
    EXPECT_NEAR(model.coefficients[0], 1.0, 1e-6);
    EXPECT_NEAR(model.coefficients[1], 2.0, 1e-6);
    EXPECT_NEAR(model.coefficients[2], -0.5, 1e-6);
    EXPECT_EQ(solveMlr(MlrSums(2)).coefficients, (std::vector<double>{0, 0, 0}));

    std::stringstream bytes;
    {
        boost::archive::binary_oarchive out(bytes);
        out << sums;
    }
    MlrSums back;
    {
        boost::archive::binary_iarchive in(bytes);
        in >> back;
    }
    EXPECT_EQ(back.lags, 2);
    EXPECT_EQ(back.n, 8u);
    EXPECT_EQ(back.xtx, sums.xtx);
    EXPECT_EQ(back.xty, sums.xty);
}

TEST(Baselines, MlrForecastIsIterated) {
    // y = 1 + 2 r[t-1] - 0.5 r[t-2] after ..., 1, 3: 1+6-0.5 = 6.5, 1+13-1.5 = 12.5, 1+25-3.25 = 22.75.
    const MlrModel model{2, {1.0, 2.0, -0.5}};
    std::vector<float> out(3);
    forecastMlr(model, {7.0, 1.0, 3.0}, 3, out.data());
    EXPECT_NEAR(out[0], 6.5, kTol);
    EXPECT_NEAR(out[1], 12.5, kTol);
    EXPECT_NEAR(out[2], 22.75, kTol);
    // Fewer rates than lags: NaN.
    forecastMlr(model, {3.0}, 1, out.data());
    EXPECT_TRUE(std::isnan(out[0]));
}

TEST(Baselines, ForecastAtCutsEqualsOneCallPerCut) {
    // The validation cuts of a point are prefixes of one series: forecastAtCuts forecasts every cut
    // in one pass (the rates once, SES's scan once with a snapshot per cut) and must give each
    // cut exactly what a call on the first `cut` epochs gives (AR up to rounding), for every kind, on noisy series
    // with uneven steps, unsorted and repeated cuts, cuts below 2 epochs and beyond the series.
    std::uint64_t state = 777;
    auto uniform = [&state] {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        return static_cast<double>(state >> 11) / 9007199254740992.0 - 0.5;
    };
    const MlrModel mlr{3, {0.1, 0.5, -0.2, 0.1}};
    int sesDiffers = 0, arOrders = 0;
    float arLargest = 0;
    for (int series = 0; series < 200; ++series) {
        const std::size_t n = 3 + static_cast<std::size_t>(series) % 180;
        std::vector<float> c(n);
        std::vector<double> steps(n);
        double x = 0, level = 0;
        const double trend = uniform(), persistence = uniform() + 0.5;
        for (std::size_t t = 0; t < n; ++t) {
            steps[t] = (t == 0 ? 0.0 : steps[t - 1]) + (uniform() > 0.4 ? 1.0 : 2.0);
            x = persistence * x + trend + uniform();
            level += x;
            c[t] = static_cast<float>(level);
        }
        // 12 cuts: more than the 8 lanes of the velocity's and linear trend's slopes side by side.
        const std::vector<std::size_t> cuts = {n, n - 1, 1, n / 2, n + 5, n - 1, 2, 0, n / 3, n - 2, (2 * n) / 3, 3};
        for (BaselineKind kind : allBaselines()) {
            std::vector<float> got(cuts.size() * 2, -999.0f);
            forecastAtCuts(kind, {c.data(), steps.data(), n}, cuts.data(), cuts.size(), 20, 2, &mlr, got.data());
            for (std::size_t k = 0; k < cuts.size(); ++k) {
                const History prefix{c.data(), steps.data(), std::min(cuts[k], n)};
                std::vector<float> want(2, -999.0f);
                if (kind == BaselineKind::kMlr)
                    forecastMlr(mlr, rates(prefix), 2, want.data());
                else
                    forecastBaseline(kind, prefix, 20, 2, want.data());
                for (std::size_t y = 0; y < 2; ++y) {
                    const float g = got[k * 2 + y], w = want[y];
                    // AR's cuts share incremental normal equations, centred on one constant instead
                    // of each prefix's mean: the same fit up to rounding.
                    const double tolerance = kind == BaselineKind::kAr ? 1e-4 * (1.0 + std::abs(w)) : 0.0;
                    EXPECT_TRUE(std::isnan(g) ? std::isnan(w) : std::abs(g - w) <= tolerance)
                        << toString(kind) << " series " << series << " cut " << cuts[k] << ": " << g << " vs " << w;
                    if (kind == BaselineKind::kAr && !std::isnan(g)) arLargest = std::max(arLargest, std::abs(g - w));
                }
                if (kind == BaselineKind::kSes && cuts[k] >= 3 && cuts[k] <= n && got[k * 2] != got[0]) ++sesDiffers;
                if (kind == BaselineKind::kAr && cuts[k] == n) arOrders += fitAr(rates(prefix)).p > 0 ? 1 : 0;
            }
        }
    }
    EXPECT_GT(sesDiffers, 100);  // the cuts' forecasts differ: each cut's own alpha and level
    EXPECT_GT(arOrders, 20);     // AR fits of order >= 1 are among the cases
    std::cout << "largest |AR at cuts - AR per cut| " << arLargest << " mm per step\n";
    EXPECT_THROW(forecastAtCuts(BaselineKind::kMlr, history(kSeries), nullptr, 0, 20, 1, nullptr, nullptr),
                 std::invalid_argument);
}

TEST(Baselines, MlrSumsEqualTheScalarAccumulation) {
    // addPoint sums a row of the upper triangle side by side (vectorised): every entry must still
    // be the plain sum in t order, bit for bit, so the global MLR does not change.
    std::uint64_t state = 99;
    auto uniform = [&state] {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        return static_cast<double>(state >> 11) / 9007199254740992.0 - 0.5;
    };
    const int lags = 12, size = lags + 1;
    MlrSums sums(lags);
    std::vector<double> xtx(size * size, 0.0), xty(size, 0.0);
    std::uint64_t n = 0;
    for (int point = 0; point < 50; ++point) {
        std::vector<double> r(5 + static_cast<std::size_t>(point) * 3);
        for (auto& v : r) v = 3 * uniform() + 0.1 * point;
        sums.addPoint(r);
        for (std::size_t t = lags; t < r.size(); ++t, ++n) {
            std::vector<double> x(size, 1.0);
            for (int k = 1; k <= lags; ++k) x[k] = r[t - k];
            for (int i = 0; i < size; ++i) {
                for (int j = i; j < size; ++j) xtx[i * size + j] += x[i] * x[j];
                xty[i] += x[i] * r[t];
            }
        }
    }
    for (int i = 0; i < size; ++i)
        for (int j = 0; j < i; ++j) xtx[i * size + j] = xtx[j * size + i];
    EXPECT_EQ(sums.n, n);
    EXPECT_EQ(sums.xtx, xtx);
    EXPECT_EQ(sums.xty, xty);
    // The same points through the portable code (what a CPU without AVX-512 runs).
    setBaselineIsa(BaselineIsa::kPortable);
    MlrSums portable(lags);
    state = 99;
    for (int point = 0; point < 50; ++point) {
        std::vector<double> r(5 + static_cast<std::size_t>(point) * 3);
        for (auto& v : r) v = 3 * uniform() + 0.1 * point;
        portable.addPoint(r);
    }
    setBaselineIsa(BaselineIsa::kNative);
    EXPECT_EQ(portable.xtx, xtx);
    EXPECT_EQ(portable.xty, xty);
}

TEST(Baselines, LocalAnnualFollowsTheRecentTrendAndTheSeason) {
    // A funnel that accelerates at epoch 60 of 120 (-0.1 then -0.6 mm a step) under an annual
    // term of 4 mm, 12-day epochs, no noise: local_annual fits the epochs of the last 576 days (48,
    // all after the change) and its rates are the signal's changes over the next steps exactly;
    // linear_trend (the last 20 epochs' slope) misses the season's part of each step.
    const std::size_t n = 120;
    constexpr int Y = 6;
    constexpr double kTwoPi = 6.283185307179586, kPerStep = kTwoPi * 12.0 / 365.25;
    std::vector<double> steps(n + Y), phase(n + Y);
    for (std::size_t t = 0; t < n + Y; ++t) steps[t] = static_cast<double>(t), phase[t] = 0.3 + kPerStep * t;
    const auto signal = [&](std::size_t t) {
        return (t < 60 ? -0.1 * t : -6.0 - 0.6 * (t - 60.0)) + 4.0 * std::sin(phase[t]);
    };
    std::vector<float> c(n);
    for (std::size_t t = 0; t < n; ++t) c[t] = static_cast<float>(signal(t));
    const History h{c.data(), steps.data(), n, phase.data(), 12.0};
    float got[Y], trend[Y];
    forecastBaseline(BaselineKind::kLocalAnnual, h, 20, Y, got);
    forecastBaseline(BaselineKind::kLinearTrend, h, 20, Y, trend);
    double worstTrend = 0;
    for (std::size_t y = 0; y < static_cast<std::size_t>(Y); ++y) {
        const double want = signal(n + y) - signal(n + y - 1);
        EXPECT_NEAR(got[y], want, 2e-3) << "step " << y + 1;
        worstTrend = std::max(worstTrend, std::abs(trend[y] - want));
    }
    EXPECT_GT(worstTrend, 0.3);
    // The same at the cuts of one pass as alone; 25 epochs (288 days) span less than a year: NaN.
    const std::size_t cuts[] = {n, 25, 90};
    float atCuts[3 * Y];
    forecastAtCuts(BaselineKind::kLocalAnnual, h, cuts, 3, 20, Y, nullptr, atCuts);
    for (std::size_t y = 0; y < static_cast<std::size_t>(Y); ++y) {
        EXPECT_EQ(atCuts[y], got[y]);
        EXPECT_TRUE(std::isnan(atCuts[Y + y]));
        EXPECT_TRUE(std::isfinite(atCuts[2 * Y + y]));
    }
}

TEST(Baselines, NamesRoundTripAndUnknownNamesAreConfigErrors) {
    ASSERT_EQ(allBaselines().size(), 8u);
    EXPECT_EQ(toString(allBaselines()[3]), "linear_trend");
    for (BaselineKind kind : allBaselines()) EXPECT_EQ(baselineFromString(toString(kind)), kind);
    try {
        baselineFromString("arima");
        FAIL() << "no exception";
    } catch (const ConfigError& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("'arima'"), std::string::npos) << what;
        EXPECT_NE(what.find("persistence"), std::string::npos) << what;
        EXPECT_NE(what.find("mlr"), std::string::npos) << what;
    }
}

}  // namespace
}  // namespace hlstm::model
