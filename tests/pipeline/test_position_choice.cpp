// Issue 23: positions chosen per step out of time among the subregion's own method (its rates on
// the robust level), the per-point baselines on the same level and the position baselines.
#include <gtest/gtest.h>
#include <Eigen/Dense>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <random>

#include "hlstm/core/comm.hpp"
#include "hlstm/pipeline/position_choice.hpp"

using namespace hlstm;
using namespace hlstm::pipeline;

namespace {

constexpr std::size_t kPoints = 50, kEpochs = 60, kY = 4, kCut = kEpochs - kY;
constexpr double kJump = 2.0;  // the first future epoch lies this far above the line (mm)

// Each point moves on a line of v_i mm/step. Its history (before the cut) carries +-0.4 mm of
// alternating noise that leaves the whole-history OLS slope exactly v_i and the last value on
// the line, so "last value + OLS velocity" is exact wherever the future stays on the line, and
// nothing that uses a level, a window or the last differentials is. The future is on the line
// except the first epoch, kJump above it.
struct Scene {
    model::TimeAxis axis = model::TimeAxis::regular(kEpochs);
    std::vector<float> c = std::vector<float>(kPoints * kEpochs);
    std::vector<double> future = std::vector<double>(kPoints * kY);  // the exact positions after the cut
    static double rate(std::size_t i) { return 0.3 + 0.01 * static_cast<double>(i); }
    Scene() {
        std::vector<double> noise(kCut, 0.0);
        for (std::size_t t = 0; t + 1 < kCut; ++t) noise[t] = t % 2 == 0 ? 0.4 : -0.4;
        // Remove the noise's OLS slope through its first epoch: sum (t - mean) n_t = 0, n_last = 0.
        const double mean = (static_cast<double>(kCut) - 1) / 2;
        double s = 0;
        for (std::size_t t = 0; t < kCut; ++t) s += (static_cast<double>(t) - mean) * noise[t];
        noise[0] -= s / (0.0 - mean);
        for (std::size_t i = 0; i < kPoints; ++i) {
            for (std::size_t t = 0; t < kEpochs; ++t) {
                double v = rate(i) * static_cast<double>(t);
                if (t < kCut) v += noise[t];
                if (t == kCut) v += kJump;
                c[i * kEpochs + t] = static_cast<float>(v);
            }
            for (std::size_t y = 0; y < kY; ++y) future[i * kY + y] = c[i * kEpochs + kCut + y];
        }
    }
    [[nodiscard]] model::SeriesView view() const { return {c.data(), kPoints, kEpochs, &axis, kEpochs}; }
};

// A "learned model" exact at step 1 (it knows the jump) and 1.5 mm/step too fast after it.
Forecaster jumpKnower() {
    return [](const model::SeriesView& v) {
        std::vector<float> out(v.points * kY);
        for (std::size_t i = 0; i < v.points; ++i) {
            const float* r = v.row(i);
            const double level = localLevel(r, v.time->steps.data(), v.epochs, 8);
            const double slope = model::seriesVelocity(v, i);
            out[i * kY] = static_cast<float>(r[v.epochs - 1] + slope + kJump - level);
            for (std::size_t y = 1; y < kY; ++y) out[i * kY + y] = static_cast<float>(slope + 1.5);
        }
        return out;
    };
}

BaselineSet someBaselines() {
    BaselineSet b;
    b.kinds = {model::BaselineKind::kPersistence, model::BaselineKind::kWindowMean, model::BaselineKind::kVelocity,
               model::BaselineKind::kLinearTrend, model::BaselineKind::kSes};
    b.window = 20;
    return b;
}

}  // namespace

TEST(PositionChoice, EachStepTakesTheMethodThatIsExactThereAndTheForecastIsTheExactFuture) {
    const Scene s;
    std::vector<std::size_t> rows(kPoints);
    for (std::size_t i = 0; i < kPoints; ++i) rows[i] = i;
    // One cut, the reference the observed position itself (smoothing 1): the Y epochs after it.
    const ValidationCut cut(s.view(), rows, static_cast<int>(kY), 1, 0, 1);
    ASSERT_EQ(cut.cuts(), std::vector<std::size_t>{kCut});
    const BaselineSet baselines = someBaselines();
    const PositionVerdict v =
        choosePositionSteps(cut, jumpKnower(), baselines, LevelRule{8, false, 1}, static_cast<int>(kY));
    ASSERT_EQ(v.steps.size(), kY);
    EXPECT_EQ(v.steps[0], kOwnPosition) << positionStepName(v.steps[0], baselines);
    EXPECT_LT(v.chosenError[0], 1e-4);
    EXPECT_GT(v.ownError[1], 1.0);  // the model is 1.5 mm off at step 2
    for (std::size_t y = 1; y < kY; ++y) {
        EXPECT_EQ(positionStepName(v.steps[y], baselines), "last_value+velocity") << "step " << y + 1;
        EXPECT_LT(v.chosenError[y], 1e-4) << "step " << y + 1;
    }
    // The per-step forecast from the cut equals the exact future.
    const model::SeriesView seen = s.view().firstEpochs(kCut);
    const std::vector<float> pos =
        positionsOf(v.steps, seen, jumpKnower()(seen), baselines, LevelRule{8, false, 1}, static_cast<int>(kY));
    for (std::size_t k = 0; k < kPoints * kY; ++k) EXPECT_NEAR(pos[k], s.future[k], 1e-5) << k;
    // Every method alone misses somewhere: the own method after step 1, the line at step 1.
    for (std::int32_t code : {kOwnPosition, kPositionBaselineCode + 0}) {
        const std::vector<float> alone = positionsOf(std::vector<std::int32_t>(kY, code), seen, jumpKnower()(seen),
                                                     baselines, LevelRule{8, false, 1}, static_cast<int>(kY));
        double worst = 0;
        for (std::size_t k = 0; k < kPoints * kY; ++k) worst = std::max(worst, std::abs(alone[k] - s.future[k]));
        EXPECT_GT(worst, 1.0) << positionStepName(code, baselines);
    }
}

TEST(PositionChoice, AtAStepGivenAwayTheOwnMethodKeepsItsHedgeShare) {
    // run.position_hedge: where the choice gave a step to another method, the position is hedge x
    // the own method's + (1 - hedge) x the chosen one's; a step the own method kept is its own.
    const Scene s;
    const BaselineSet baselines = someBaselines();
    const model::SeriesView seen = s.view().firstEpochs(kCut);
    const std::vector<float> ownRates = jumpKnower()(seen);
    const int Y = static_cast<int>(kY);
    // Step 1 the own method's (exact there), steps 2-4 last_value+velocity's (exact there; the own
    // method is 1.5 mm/step too fast after step 1).
    std::vector<std::int32_t> steps(kY, kPositionBaselineCode + 0);
    steps[0] = kOwnPosition;
    const std::vector<float> own =
        positionsOf(std::vector<std::int32_t>(kY, kOwnPosition), seen, ownRates, baselines, LevelRule{8, false, 1}, Y);
    const std::vector<float> chosen = positionsOf(steps, seen, ownRates, baselines, LevelRule{8, false, 1}, Y);
    for (const double hedge : {0.25, 0.6}) {
        const std::vector<float> pos = positionsOf(steps, seen, ownRates, baselines, LevelRule{8, false, 1}, Y, hedge);
        // The same through the forecaster of positions (the intervals' and the backtest's path).
        const std::vector<float> viaForecaster =
            positionForecaster(steps, jumpKnower(), baselines, LevelRule{8, false, 1}, Y, hedge)(seen);
        for (std::size_t i = 0; i < kPoints; ++i) {
            EXPECT_NEAR(pos[i * kY], s.future[i * kY], 1e-5) << "step 1 stays the own method's, point " << i;
            for (std::size_t y = 1; y < kY; ++y) {
                const std::size_t k = i * kY + y;
                // last_value+velocity is exact: the error is the hedge's share of the own method's.
                const double ownError = own[k] - s.future[k];
                EXPECT_GT(std::abs(ownError), 1.0);
                EXPECT_NEAR(pos[k] - s.future[k], hedge * ownError, 1e-4) << "hedge " << hedge << ", k " << k;
                EXPECT_NEAR(pos[k], hedge * own[k] + (1 - hedge) * chosen[k], 1e-4);
                EXPECT_EQ(viaForecaster[k], pos[k]);
            }
        }
    }
    // hedge 0: the chosen method's alone (the choice before run.position_hedge).
    EXPECT_EQ(positionsOf(steps, seen, ownRates, baselines, LevelRule{8, false, 1}, Y, 0.0), chosen);
}

TEST(PositionChoice, TheChoiceIsTheSameWhateverRanksForecastTheRows) {
    Comm comm;
    const Scene s;
    std::vector<std::size_t> rows(kPoints);
    for (std::size_t i = 0; i < kPoints; ++i) rows[i] = i;
    // The out-of-time cuts of a run (5 epochs smoothing, 3 cuts) on the same scene.
    const ValidationCut cut(s.view(), rows, static_cast<int>(kY), 5, 40, 3);
    const BaselineSet baselines = someBaselines();
    const PositionVerdict alone =
        choosePositionSteps(cut, jumpKnower(), baselines, LevelRule{8, false, 1}, static_cast<int>(kY));
    const PositionVerdict shared =
        choosePositionSteps(cut, jumpKnower(), baselines, LevelRule{8, false, 1}, static_cast<int>(kY), &comm);
    EXPECT_EQ(shared.steps, alone.steps);
    EXPECT_EQ(shared.ownError, alone.ownError);
    EXPECT_EQ(shared.chosenError, alone.chosenError);
    // Every rank has the same verdict as rank 0.
    std::vector<std::int32_t> first = shared.steps;
    comm.bcastVector(first);
    EXPECT_EQ(first, shared.steps);
    for (double e : shared.chosenError) EXPECT_TRUE(std::isfinite(e));
}

TEST(PositionChoice, TheFileColumnDecodesByName) {
    const BaselineSet baselines = someBaselines();
    // /baselines/position_name: the baselines (learned ones too), then the position baselines.
    std::vector<std::string> names{"persistence", "window_mean", "velocity", "linear_trend", "ses", "global_lstm"};
    for (const auto& n : positionBaselineNames()) names.push_back(n);
    const std::vector<std::int32_t> values{-1, 2, 6, 9};
    const auto steps = positionStepsFromFile(values.data(), 4, names, baselines);
    EXPECT_EQ(steps,
              (std::vector<std::int32_t>{kOwnPosition, 2, kPositionBaselineCode + 0, kPositionBaselineCode + 3}));
    EXPECT_EQ(positionStepName(steps[3], baselines), "line+annual");
    const std::vector<std::int32_t> bad{5, -1, -1, -1};  // global_lstm: not a per-point baseline
    EXPECT_THROW(positionStepsFromFile(bad.data(), 4, names, baselines), std::exception);
}

namespace {

// The scene with uniform noise in [-0.5, 0.5) mm from `seed`, so that no two methods tie.
Scene noisyScene(std::uint64_t seed) {
    Scene s;
    std::uint64_t state = seed;
    for (float& v : s.c) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        v += static_cast<float>(static_cast<double>(state >> 40) / static_cast<double>(1ULL << 24) - 0.5);
    }
    return s;
}

}  // namespace

// Issue 22: the choice forecasts every method's rates once per cut and row (the baselines in one
// pass over a row's cuts, the own method's taken from its selection score where known). Its
// errors must be those of forecasting every method at every cut anew, bit for bit.
TEST(PositionChoice, RatesKnownOrForecastOnceGiveTheErrorsOfAForecastPerMethod) {
    const Scene s = noisyScene(7);
    std::vector<std::size_t> rows;
    for (std::size_t i = 0; i < kPoints; i += 2) rows.push_back(i);
    const ValidationCut cut(s.view(), rows, static_cast<int>(kY), 5, 40, 3);
    BaselineSet baselines = someBaselines();
    baselines.kinds.push_back(model::BaselineKind::kAr);
    const int Y = static_cast<int>(kY);
    const Forecaster own = combinedForecaster(jumpKnower(), baselines.forecaster(5, Y), {0.75, 0.5, 0.25, 0.5});
    // The selection score from kept rates is score()'s.
    EXPECT_EQ(cut.scoreOfRates(cut.ratesAtCuts(own)), cut.score(own));
    EXPECT_EQ(cut.scoreOfRates(cut.ratesAtCutsInOnePass(baselines.cutForecaster(5, Y))),
              cut.score(baselines.forecaster(5, Y)));
    // Every method forecast anew at every cut, as the choice did before.
    std::vector<PositionForecaster> methods{
        positionForecaster(std::vector<std::int32_t>(kY, kOwnPosition), own, baselines, LevelRule{8, false, 1}, Y)};
    for (std::int32_t b = 0; b < static_cast<std::int32_t>(baselines.kinds.size()); ++b)
        methods.push_back(
            positionForecaster(std::vector<std::int32_t>(kY, b), own, baselines, LevelRule{8, false, 1}, Y));
    for (std::int32_t j = 0; j < kPositionBaselines; ++j)
        methods.push_back(positionForecaster(std::vector<std::int32_t>(kY, kPositionBaselineCode + j), own, baselines,
                                             LevelRule{8, false, 1}, Y));
    const std::vector<double> err = cut.positionStepScores(methods);
    const std::vector<float> modelRates = cut.ratesAtCuts(jumpKnower());
    const KnownOwnRates known{&modelRates, 5, {0.75, 0.5, 0.25, 0.5}};
    for (const KnownOwnRates* k : {static_cast<const KnownOwnRates*>(nullptr), &known}) {
        const PositionVerdict v = choosePositionSteps(cut, own, baselines, LevelRule{8, false, 1}, Y, nullptr, k);
        for (std::size_t y = 0; y < kY; ++y) {
            // The chosen method's row of `err` (the own method, the baselines, the position
            // baselines); the paired test may keep the own method where a lower mean is not
            // significant, never a method with a higher one.
            const std::int32_t code = v.steps[y];
            const std::size_t m =
                code == kOwnPosition ? 0
                : code < kPositionBaselineCode
                    ? 1 + static_cast<std::size_t>(code)
                    : 1 + baselines.kinds.size() + static_cast<std::size_t>(code - kPositionBaselineCode);
            EXPECT_EQ(v.ownError[y], err[y]) << "step " << y + 1;
            EXPECT_EQ(v.chosenError[y], err[m * kY + y]) << "step " << y + 1;
            EXPECT_LE(v.chosenError[y], v.ownError[y]) << "step " << y + 1;
        }
    }
}

// Issue 22: a data-parallel group's ranks each score a slice of every block's rows and gather the
// errors; every rank then has the sums one rank alone computes, per step and per cut, bit for bit.
TEST(PositionChoice, AGroupsRanksScoreSlicesOfTheRowsAndGetOneRanksSums) {
    Comm comm;
    const Scene s = noisyScene(11);
    std::vector<std::size_t> rows(kPoints);
    for (std::size_t i = 0; i < kPoints; ++i) rows[i] = i;
    const ValidationCut cut(s.view(), rows, static_cast<int>(kY), 5, 40, 3);
    const BaselineSet baselines = someBaselines();
    const int Y = static_cast<int>(kY);
    std::vector<std::vector<float>> rates;  // each baseline's at the cuts (rows x cuts x Y)
    for (std::size_t b = 0; b < baselines.kinds.size(); ++b)
        rates.push_back(cut.ratesAtCutsInOnePass(baselines.cutForecaster(b, Y)));
    std::vector<const std::vector<float>*> known;
    for (const auto& r : rates) known.push_back(&r);
    std::size_t calls = 0, rowsSeen = 0;
    const auto onLevel = [&](std::size_t, const model::SeriesView& v, const std::vector<float>& values) {
        ++calls;
        rowsSeen += v.points;
        return positionsOf({}, v, values, baselines, LevelRule{8, false, 1}, Y, 0.0);
    };
    const std::vector<PositionForecaster> methods(known.size());
    std::vector<double> perCutAlone, perCutShared;
    const std::vector<double> alone = cut.positionStepScores(methods, known, onLevel, &perCutAlone);
    const std::size_t rowsAlone = rowsSeen;
    rowsSeen = 0;
    const std::vector<double> shared = cut.positionStepScores(methods, known, onLevel, &perCutShared, &comm);
    ASSERT_EQ(alone.size(), known.size() * kY);
    ASSERT_EQ(shared.size(), alone.size());
    ASSERT_EQ(perCutShared.size(), perCutAlone.size());
    for (std::size_t i = 0; i < alone.size(); ++i) {
        EXPECT_TRUE(std::isfinite(alone[i])) << i;
        EXPECT_EQ(std::memcmp(&shared[i], &alone[i], sizeof(double)), 0)
            << i << ": " << shared[i] << " vs " << alone[i];
    }
    for (std::size_t i = 0; i < perCutAlone.size(); ++i)
        EXPECT_EQ(std::memcmp(&perCutShared[i], &perCutAlone[i], sizeof(double)), 0) << i;
    // The methods differ (the comparison can fail), and each rank saw only its slice of the rows.
    EXPECT_NE(alone[0], alone[kY]);
    if (comm.size() > 1) {
        EXPECT_LT(rowsSeen, rowsAlone);
        EXPECT_EQ(comm.allreduce<std::uint64_t>(rowsSeen, Reduce::kSum), rowsAlone);
    } else {
        EXPECT_EQ(rowsSeen, rowsAlone);
    }
    EXPECT_GT(calls, 0u);
}

// Issue 22: a subregion's rows sliced over a group (hlstm run's train.slice_rows): each rank holds
// only its slice of the series and its validation rows, and every table, score, interval width
// and position score of the cut is the one of a cut holding every row, bit for bit.
TEST(PositionChoice, ACutSlicedOverAGroupJudgesAsOneRankHoldingEveryRow) {
    Comm comm;
    const Scene s = noisyScene(13);
    std::vector<std::size_t> rows;  // every third point is a validation row
    for (std::size_t i = 0; i < kPoints; i += 3) rows.push_back(i);
    const int Y = static_cast<int>(kY);
    const ValidationCut alone(s.view(), rows, Y, 5, 40, 3);
    // This rank's slice of the series and its validation rows there, re-based.
    const auto [a, b] = shareOf(kPoints, static_cast<std::size_t>(comm.rank()), static_cast<std::size_t>(comm.size()));
    const model::SeriesView all = s.view();
    const model::SeriesView mine{all.row(a), b - a, kEpochs, &s.axis, kEpochs};
    std::vector<std::size_t> local;
    for (const std::size_t r : rows)
        if (r >= a && r < b) local.push_back(r - a);
    const ValidationCut sliced(mine, local, Y, 5, 40, 3, 1, &comm);
    EXPECT_EQ(sliced.points(), alone.points());
    EXPECT_EQ(sliced.sliced(), comm.size() > 1);
    const auto same = [](const auto& x, const auto& y, const char* what) {
        ASSERT_EQ(x.size(), y.size()) << what;
        for (std::size_t i = 0; i < x.size(); ++i)
            EXPECT_EQ(std::memcmp(&x[i], &y[i], sizeof(x[i])), 0) << what << " " << i << ": " << x[i] << " vs " << y[i];
    };
    const BaselineSet baselines = someBaselines();
    std::vector<std::vector<float>> tables, ownTables;  // every baseline's rates at the cuts
    for (std::size_t k = 0; k < baselines.kinds.size(); ++k) {
        const std::vector<float> once = sliced.ratesAtCutsInOnePass(baselines.cutForecaster(k, Y));
        tables.push_back(alone.ratesAtCutsInOnePass(baselines.cutForecaster(k, Y)));
        same(once, tables.back(), "rates in one pass");
        ownTables.push_back(sliced.ownRows(once));
        EXPECT_EQ(ownTables.back().size(), local.size() * alone.cuts().size() * kY);
        const CutScores perCut = sliced.cutScoresOfRates(once), perCutAlone = alone.cutScoresOfRates(tables.back());
        EXPECT_EQ(std::memcmp(&perCut, &perCutAlone, sizeof(CutScores)), 0);
    }
    const Forecaster own = jumpKnower();
    same(sliced.ratesAtCuts(own), alone.ratesAtCuts(own), "rates per cut");
    same(std::vector<double>{sliced.score(own)}, std::vector<double>{alone.score(own)}, "score");
    same(sliced.stepScores(own), alone.stepScores(own), "step scores");
    EXPECT_NE(alone.score(own), alone.score(baselines.forecaster(2, Y)));  // the methods differ
    same(sliced.intervalHalfWidths(own, 0.9, 3, LevelRule{8, false, 1}),
         alone.intervalHalfWidths(own, 0.9, 3, LevelRule{8, false, 1}), "interval half-widths");
    // Positions judged with the kept tables: each rank's own rows of them when sliced.
    const auto onLevel = [&](std::size_t, const model::SeriesView& v, const std::vector<float>& values) {
        return positionsOf({}, v, values, baselines, LevelRule{8, false, 1}, Y, 0.0);
    };
    std::vector<const std::vector<float>*> knownAlone, knownSliced;
    for (std::size_t k = 0; k < tables.size(); ++k)
        knownAlone.push_back(&tables[k]), knownSliced.push_back(&ownTables[k]);
    const std::vector<PositionForecaster> methods(tables.size());
    std::vector<double> perCutAlone, perCutSliced;
    same(sliced.positionStepScores(methods, knownSliced, onLevel, &perCutSliced, &comm),
         alone.positionStepScores(methods, knownAlone, onLevel, &perCutAlone), "position step scores");
    same(perCutSliced, perCutAlone, "position scores per cut");
    const PositionForecaster p = [&](const model::SeriesView& v) {
        return positionsOf({}, v, baselines.forecaster(3, Y)(v), baselines, LevelRule{8, false, 1}, Y, 0.0);
    };
    same(sliced.positionHalfWidths(p, 0.9, 3, &ownTables[3], onLevel),
         alone.positionHalfWidths(p, 0.9, 3, &tables[3], onLevel), "position half-widths (known)");
    same(sliced.positionHalfWidths(p, 0.9, 3), alone.positionHalfWidths(p, 0.9, 3), "position half-widths");
}

// The kept baseline tables may wait elsewhere (origin.cpp: a scratch file) until the choice asks
// for them (`bring`), after it judged the position baselines: the verdict is the one with the
// tables in memory from the start, bit for bit, and they are asked for once.
TEST(PositionChoice, KeptTablesBroughtBackOnRequestGiveTheSameVerdict) {
    const Scene s = noisyScene(11);
    std::vector<std::size_t> rows;
    for (std::size_t i = 1; i < kPoints; i += 2) rows.push_back(i);
    const ValidationCut cut(s.view(), rows, static_cast<int>(kY), 5, 40, 3);
    const BaselineSet baselines = someBaselines();
    const int Y = static_cast<int>(kY);
    std::vector<std::vector<float>> tables;
    for (std::size_t b = 0; b < baselines.kinds.size(); ++b)
        tables.push_back(cut.ratesAtCutsInOnePass(baselines.cutForecaster(b, Y)));
    const std::vector<float> modelRates = cut.ratesAtCuts(jumpKnower());
    KnownOwnRates inMemory;
    inMemory.model = &modelRates;
    inMemory.baselines = &tables;
    const PositionVerdict before =
        choosePositionSteps(cut, jumpKnower(), baselines, LevelRule{8, false, 1}, Y, nullptr, &inMemory);
    std::vector<std::vector<float>> away(tables.size());  // the tables' places, empty until asked for
    KnownOwnRates later = inMemory;
    later.baselines = &away;
    int asked = 0;
    const PositionVerdict after =
        choosePositionSteps(cut, jumpKnower(), baselines, LevelRule{8, false, 1}, Y, nullptr, &later, [&] {
            ++asked;
            away = tables;
        });
    EXPECT_EQ(asked, 1);
    EXPECT_EQ(after.steps, before.steps);
    EXPECT_EQ(after.ownError, before.ownError);
    EXPECT_EQ(after.chosenError, before.chosenError);
    for (double e : after.chosenError) EXPECT_TRUE(std::isfinite(e));
}

namespace {

// Points on exact lines (no noise): every line-based baseline is exact at every cut. An own
// method exact at every cut except `badCuts`, where its positions are `miss` mm too high at every
// step; and one that misses by `miss` at every cut.
struct Lines {
    model::TimeAxis axis = model::TimeAxis::regular(kEpochs);
    std::vector<float> c = std::vector<float>(kPoints * kEpochs);
    Lines() {
        for (std::size_t i = 0; i < kPoints; ++i)
            for (std::size_t t = 0; t < kEpochs; ++t)
                c[i * kEpochs + t] = static_cast<float>(Scene::rate(i) * static_cast<double>(t));
    }
    [[nodiscard]] model::SeriesView view() const { return {c.data(), kPoints, kEpochs, &axis, kEpochs}; }
};

Forecaster missesAt(std::vector<std::size_t> badCuts, double miss) {
    return [badCuts = std::move(badCuts), miss](const model::SeriesView& v) {
        const bool bad = badCuts.empty() || std::find(badCuts.begin(), badCuts.end(), v.epochs) != badCuts.end();
        std::vector<float> out(v.points * kY);
        for (std::size_t i = 0; i < v.points; ++i)
            for (std::size_t y = 0; y < kY; ++y)  // the first step's rate carries the miss
                out[i * kY + y] = static_cast<float>(model::seriesVelocity(v, i) + (bad && y == 0 ? miss : 0.0));
        return out;
    };
}

}  // namespace

TEST(PositionChoice, ABaselineAheadAtOneCutOnlyDoesNotReplaceTheOwnMethod) {
    Comm comm;
    const Lines s;
    std::vector<std::size_t> rows(kPoints);
    for (std::size_t i = 0; i < kPoints; ++i) rows[i] = i;
    // Six out-of-time cuts (51..56), each step judged against the observed position itself.
    const ValidationCut cut(s.view(), rows, static_cast<int>(kY), 1, 40, 6);
    ASSERT_EQ(cut.cuts().size(), 6u);
    const BaselineSet baselines = someBaselines();
    constexpr double kMiss = 3.0;
    // Off by 3 mm at one cut: the exact baselines' mean error is 0.5 mm lower at every step, but
    // the per-cut differences (0 x 5, -3) are -0.5 +- 0.5 (one standard error): not significant.
    for (const Comm* group : {static_cast<const Comm*>(nullptr), static_cast<const Comm*>(&comm)}) {
        const PositionVerdict v = choosePositionSteps(cut, missesAt({cut.cuts()[2]}, kMiss), baselines,
                                                      LevelRule{8, false, 1}, static_cast<int>(kY), group);
        for (std::size_t y = 0; y < kY; ++y) {
            EXPECT_EQ(v.steps[y], kOwnPosition) << "step " << y + 1 << ": " << positionStepName(v.steps[y], baselines);
            EXPECT_NEAR(v.ownError[y], kMiss / 6, 1e-4) << "step " << y + 1;
            EXPECT_NEAR(v.chosenError[y], kMiss / 6, 1e-4) << "step " << y + 1;
        }
    }
    // Off at four of the six cuts: -2 +- 0.447 mm, 4.5 standard errors; an exact baseline wins.
    const std::size_t* k = cut.cuts().data();
    const PositionVerdict most = choosePositionSteps(cut, missesAt({k[0], k[1], k[3], k[5]}, kMiss), baselines,
                                                     LevelRule{8, false, 1}, static_cast<int>(kY), &comm);
    for (std::size_t y = 0; y < kY; ++y) {
        EXPECT_NE(most.steps[y], kOwnPosition) << "step " << y + 1;
        EXPECT_NEAR(most.ownError[y], 2 * kMiss / 3, 1e-4) << "step " << y + 1;
        EXPECT_LT(most.chosenError[y], 1e-4) << "step " << y + 1 << ": " << positionStepName(most.steps[y], baselines);
    }
}

namespace {

// n points scattered over 20 x 20 km in two subregions (west and east halves).
struct PoolScene {
    std::vector<float> x, y;
    std::vector<double> xd, yd;
    std::vector<std::int32_t> sub;
    explicit PoolScene(std::size_t n, std::uint32_t seed = 7) {
        std::mt19937 rng(seed);
        std::uniform_real_distribution<double> u(0.0, 20000.0);
        for (std::size_t i = 0; i < n; ++i) {
            xd.push_back(500000.0 + u(rng));
            yd.push_back(4200000.0 + u(rng));
            x.push_back(static_cast<float>(xd.back()));
            y.push_back(static_cast<float>(yd.back()));
            sub.push_back(xd.back() < 510000.0 ? 0 : 1);
        }
    }
    // A different plane per subregion (mm), in km from the scene's corner.
    [[nodiscard]] double plane(std::size_t i, std::size_t column) const {
        const double kx = (xd[i] - 500000.0) / 1000.0, ky = (yd[i] - 4200000.0) / 1000.0;
        return sub[i] == 0 ? 1.0 + 0.3 * kx - 0.2 * ky + static_cast<double>(column)
                           : -4.0 - 0.1 * kx + 0.5 * ky - static_cast<double>(column);
    }
};

}  // namespace

TEST(PooledIncrements, APlanePerSubregionIsKeptAndWhiteNoiseShrinksAsOverKPoints) {
    const std::size_t n = 4000, C = 2, k = 32;
    const PoolScene s(n);
    std::vector<float> exact(n * C), noisy(n * C);
    std::mt19937 rng(11);
    std::normal_distribution<double> noise(0.0, 1.0);
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t c = 0; c < C; ++c) {
            exact[i * C + c] = static_cast<float>(s.plane(i, c));
            noisy[i * C + c] = static_cast<float>(s.plane(i, c) + noise(rng));
        }
    // A plane is its own local-linear fit: unchanged but for float rounding.
    const std::vector<float> flat = pooledIncrements(s.x, s.y, s.sub, exact, C, k);
    for (std::size_t j = 0; j < flat.size(); ++j) ASSERT_NEAR(flat[j], exact[j], 2e-3) << j;
    // White noise of sd 1: a plane through k points, evaluated at one of them near their centre,
    // keeps sqrt(h) of it, h >= 1 / k its leverage (1 / k at the centre, more at a subregion's
    // edge, where the point is off its neighbours' centre); each point alone keeps all of it.
    const std::vector<float> pooled = pooledIncrements(s.x, s.y, s.sub, noisy, C, k);
    double before = 0, after = 0;
    for (std::size_t j = 0; j < pooled.size(); ++j) {
        before += std::pow(noisy[j] - exact[j], 2);
        after += std::pow(pooled[j] - exact[j], 2);
    }
    before = std::sqrt(before / static_cast<double>(pooled.size()));
    after = std::sqrt(after / static_cast<double>(pooled.size()));
    EXPECT_NEAR(before, 1.0, 0.05);
    EXPECT_GT(after, 0.95 / std::sqrt(static_cast<double>(k)));
    EXPECT_LT(after, 0.26);
    // k = 1: each point is its own neighbourhood.
    EXPECT_EQ(pooledIncrements(s.x, s.y, s.sub, noisy, C, 1), noisy);
}

TEST(PooledIncrements, OnlyTheSameSubregionCountsAndMissingValuesAreSkipped) {
    const std::size_t n = 1000, C = 1, k = 16;
    const PoolScene s(n, 3);
    std::vector<float> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<float>(s.plane(i, 0));
    // The east subregion far off, a west point without a forecast and one west neighbour missing.
    std::vector<float> w = v;
    std::size_t west = 0, west2 = 0;
    while (s.sub[west] != 0) ++west;
    west2 = west + 1;
    while (s.sub[west2] != 0) ++west2;
    for (std::size_t i = 0; i < n; ++i)
        if (s.sub[i] == 1) w[i] = 1e6f;
    w[west] = std::nanf("");
    const std::vector<float> got = pooledIncrements(s.x, s.y, s.sub, w, C, k);
    EXPECT_TRUE(std::isnan(got[west])) << "nothing forecast at a point: nothing pooled there";
    for (std::size_t i = 0; i < n; ++i)
        if (s.sub[i] == 0 && i != west) {
            ASSERT_NEAR(got[i], v[i], 2e-3) << i;
        }
    // A point whose subregion is -1 (not forecast) keeps its value.
    std::vector<std::int32_t> sub = s.sub;
    sub[west2] = -1;
    EXPECT_EQ(pooledIncrements(s.x, s.y, sub, v, C, k)[west2], v[west2]);
}

TEST(PooledIncrements, TheGridFindsTheExactKNearestWithTiesToTheSmallerRow) {
    // Two lattices of 10 m spacing 30 km apart in one subregion (it fills a small part of its
    // bounding box, as a velocity zone does) and a scattered second subregion; on a lattice the
    // k-th nearest ties with others at the same distance. Random values: a wrong neighbour moves
    // the plane by a visible amount. Reference: every point of the subregion sorted by
    // (distance, row), the first k, the same least-squares plane.
    std::mt19937 rng(5);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    std::vector<float> x, y, v;
    std::vector<std::int32_t> sub;
    for (int block = 0; block < 2; ++block)
        for (int i = 0; i < 30; ++i)
            for (int j = 0; j < 25; ++j) {
                x.push_back(static_cast<float>(500000 + 30000 * block + 10 * i));
                y.push_back(static_cast<float>(4200000 + 10 * j));
                sub.push_back(0);
            }
    for (int i = 0; i < 400; ++i) {
        x.push_back(static_cast<float>(560000 + 2000 * u(rng)));
        y.push_back(static_cast<float>(4200000 + 2000 * u(rng)));
        sub.push_back(1);
    }
    const std::size_t n = x.size(), k = 12;
    for (std::size_t i = 0; i < n; ++i) v.push_back(static_cast<float>(10 * u(rng)));
    const std::vector<float> got = pooledIncrements(x, y, sub, v, 1, k);
    std::size_t checked = 0;
    for (std::size_t q = 0; q < n; q += 7) {
        std::vector<std::pair<double, std::size_t>> all;
        for (std::size_t j = 0; j < n; ++j) {
            if (sub[j] != sub[q]) continue;
            const double dx = static_cast<double>(x[j]) - x[q], dy = static_cast<double>(y[j]) - y[q];
            all.emplace_back(dx * dx + dy * dy, j);
        }
        std::sort(all.begin(), all.end());
        all.resize(k);
        const double scale = std::sqrt(all.back().first);
        Eigen::Matrix3d a = Eigen::Matrix3d::Zero();
        Eigen::Vector3d b = Eigen::Vector3d::Zero();
        for (const auto& [d2, j] : all) {
            const Eigen::Vector3d r(1.0, (static_cast<double>(x[j]) - x[q]) / scale,
                                    (static_cast<double>(y[j]) - y[q]) / scale);
            a += r * r.transpose();
            b += r * static_cast<double>(v[j]);
        }
        const double want = a.colPivHouseholderQr().solve(b)(0);
        ASSERT_NEAR(got[q], want, 1e-4) << "row " << q;
        ++checked;
    }
    EXPECT_GT(checked, 200u);
}

TEST(PooledIncrements, ThePoolStageGivesTheSerialResultAtAnyRankCountAndMovesPositionsByTheOwnShare) {
    // Rows split over the ranks in order; each rank's slice of the serial result, the
    // differentials those of the pooled sums and the positions moved by share x change.
    Comm comm;
    const std::size_t n = 900, Y = 3, k = 12;
    const PoolScene s(n, 5);
    std::mt19937 rng(2);
    std::normal_distribution<double> noise(0.0, 0.5);
    std::vector<float> diff(n * Y), pos(n * Y), cum(n * Y);
    for (std::size_t i = 0; i < n; ++i) {
        double acc = 0;
        for (std::size_t t = 0; t < Y; ++t) {
            diff[i * Y + t] = static_cast<float>(s.plane(i, t) * 0.1 + noise(rng));
            acc += diff[i * Y + t];
            cum[i * Y + t] = static_cast<float>(acc);
            pos[i * Y + t] = static_cast<float>(100.0 + acc);
        }
    }
    const std::vector<float> serial = pooledIncrements(s.x, s.y, s.sub, cum, Y, k);
    const auto r = static_cast<std::size_t>(comm.rank()), size = static_cast<std::size_t>(comm.size());
    const std::size_t first = n * r / size, last = n * (r + 1) / size;
    std::vector<double> x(s.xd.begin() + first, s.xd.begin() + last), y(s.yd.begin() + first, s.yd.begin() + last);
    std::vector<std::int32_t> sub(s.sub.begin() + first, s.sub.begin() + last);
    std::vector<float> d(diff.begin() + first * Y, diff.begin() + last * Y),
        p(pos.begin() + first * Y, pos.begin() + last * Y);
    const std::map<std::int32_t, std::vector<double>> share{{0, {1.0, 0.5, 1.0}}};  // subregion 1: own throughout
    poolStage(comm, k, Y, x, y, sub, share, {{d.data(), p.data(), Y}});
    for (std::size_t i = first; i < last; ++i) {
        double acc = 0;
        for (std::size_t t = 0; t < Y; ++t) {
            const std::size_t j = (i - first) * Y + t;
            acc += d[j];
            ASSERT_NEAR(acc, serial[i * Y + t], 1e-4) << i << " " << t;
            const double w = s.sub[i] == 0 ? share.at(0)[t] : 1.0;
            ASSERT_NEAR(p[j], pos[i * Y + t] + w * (serial[i * Y + t] - cum[i * Y + t]), 1e-3) << i << " " << t;
        }
    }
    // k = 0: nothing changes.
    std::vector<float> d0(diff.begin() + first * Y, diff.begin() + last * Y);
    poolStage(comm, 0, Y, x, y, sub, share, {{d0.data(), nullptr, Y}});
    EXPECT_TRUE(std::equal(d0.begin(), d0.end(), diff.begin() + static_cast<std::ptrdiff_t>(first * Y)));
}
