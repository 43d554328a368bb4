// The holdout does not see the future: `hlstm run`'s forecasts of its held-out epochs, and a
// backtest origin's, do not depend on the values of the epochs after that origin, even where a
// gap in the input runs across the last visible epoch (the reader fills gaps over the whole
// archive; src/data/visible_fill.cpp refills them from the left at the cut). End to end through
// the real program under mpiexec, on scenes that differ only after the cut.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "hlstm/io/hdf5.hpp"
#include "hlstm/io/output_format.hpp"
#include "test_support.hpp"

using namespace hlstm;
using namespace hlstm::test;

namespace {

// A small scene and a fast grid, Y = 3 hidden epochs (S = Y between backtest origins).
constexpr int kY = 3, kEpochs = 40;
constexpr std::size_t kVisible = kEpochs - kY, kFirstOrigin = kVisible - kY;  // visible epochs
constexpr float kShiftMm = 50;
const std::string kFast =
    " --partition.min_points 300 --grid.L 8,12 --grid.K 1 --grid.S 6 --train.epochs 4 --train.batch 64 "
    "--train.threads 1 --run.baselines all --run.holdout 3 --model.horizon 3";

// Copies a native scene, `edit` changing its displacement (points x epochs, NaN = missing).
void writeEdited(const std::string& in, const std::string& out,
                 const std::function<void(std::vector<float>&, std::size_t, std::size_t)>& edit) {
    h5::File src(in, h5::Access::kReadOnly);
    h5::File dst(out, h5::Access::kCreate);
    dst.writeSmall<double>("/x", src.openDataset("/x").readAll<double>());
    dst.writeSmall<double>("/y", src.openDataset("/y").readAll<double>());
    dst.writeSmall<std::int64_t>("/id", src.openDataset("/id").readAll<std::int64_t>());
    dst.writeSmall<std::int32_t>("/dates", src.openDataset("/dates").readAll<std::int32_t>());
    const auto dims = src.openDataset("/displacement").dims();
    auto d = src.openDataset("/displacement").readAll<float>();
    edit(d, dims[0], dims[1]);
    const auto t = src.openDataset("/truth").readAll<float>();
    dst.createDataset<float>("/displacement", {dims[0], dims[1]}).writeRows(0, dims[0], d.data());
    dst.createDataset<float>("/truth", {dims[0], dims[1]}).writeRows(0, dims[0], t.data());
    dst.writeObjectStringAttribute("/displacement", "unit",
                                   src.openDataset("/displacement").readStringAttribute("unit"));
    if (src.hasAttribute("crs")) dst.writeAttribute("crs", src.readStringAttribute("crs"));
}

// Gaps that run across the last visible epoch of the run and of the first backtest origin (on
// top of the simulator's 2 % missing values): epochs V-2..V missing, V-1 alone missing (the gap
// ends at the last visible epoch), and the same around the first origin's cut.
void addGaps(std::vector<float>& d, std::size_t n, std::size_t m) {
    const float nan = std::nanf("");
    for (std::size_t i = 0; i < n; ++i) {
        float* s = d.data() + i * m;
        switch (i % 20) {
            case 0: s[kVisible - 2] = s[kVisible - 1] = s[kVisible] = nan; break;
            case 7: s[kVisible - 1] = nan; break;
            case 10: s[kFirstOrigin - 2] = s[kFirstOrigin - 1] = s[kFirstOrigin] = nan; break;
            case 13: s[kFirstOrigin - 1] = nan; break;
            case 17:  // 18 of 37 visible values, under input.min_valid_fraction 0.5 but for the hidden ones
                for (std::size_t t = 0; t < kVisible - 18; ++t) s[t] = nan;
                break;
            default: break;
        }
    }
}

// Every observed value from epoch `from` on moves by kShiftMm.
void shiftFrom(std::vector<float>& d, std::size_t n, std::size_t m, std::size_t from) {
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t t = from; t < m; ++t)
            if (std::isfinite(d[i * m + t])) d[i * m + t] += kShiftMm;
}

class HoldoutLeakTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        dir_ = new TempDir();
        const std::string sim = dir_->file("sim.h5");
        auto r = run(hlstmUnderMpi(2) + " simulate --points 2000 --epochs " + std::to_string(kEpochs) +
                     " --seed 11 -o " + sim);
        ASSERT_EQ(r.exitCode, 0) << r.output;
        writeEdited(sim, file("base.h5"), addGaps);
        writeEdited(sim, file("held.h5"), [](std::vector<float>& d, std::size_t n, std::size_t m) {
            addGaps(d, n, m);
            shiftFrom(d, n, m, kVisible);
        });
        writeEdited(sim, file("origin.h5"), [](std::vector<float>& d, std::size_t n, std::size_t m) {
            addGaps(d, n, m);
            shiftFrom(d, n, m, kFirstOrigin);
        });
    }
    static void TearDownTestSuite() { delete dir_; }
    static std::string file(const std::string& name) { return dir_->file(name); }
    static CommandResult hlstm(int ranks, const std::string& command, const std::string& input,
                               const std::string& out) {
        return run("env OMP_NUM_THREADS=1 " + hlstmUnderMpi(ranks) + " " + command + " --input " + file(input) +
                       " -o " + file(out) + kFast,
                   300);
    }
    static TempDir* dir_;
};
TempDir* HoldoutLeakTest::dir_ = nullptr;

template <class T> std::vector<T> values(const std::string& path, const std::string& ds) {
    h5::File f(path, h5::Access::kReadOnly);
    return f.openDataset(ds).readAll<T>();
}

// Equal to 1e-6 (NaN equals NaN); the first difference is named.
void expectSame(const std::string& a, const std::string& b, const std::string& ds) {
    const auto x = values<double>(a, ds), y = values<double>(b, ds);
    ASSERT_EQ(x.size(), y.size()) << ds;
    ASSERT_FALSE(x.empty()) << ds;
    std::size_t differ = 0, first = 0;
    for (std::size_t k = 0; k < x.size(); ++k) {
        const bool same = (std::isnan(x[k]) && std::isnan(y[k])) || std::abs(x[k] - y[k]) <= 1e-6;
        if (!same && differ++ == 0) first = k;
    }
    EXPECT_EQ(differ, 0u) << ds << ": " << differ << " of " << x.size() << " values differ, the first at " << first
                          << ": " << x[first] << " vs " << y[first];
}

// Differs by more than 1 (mm) somewhere: the edit did reach what is compared.
void expectDiffer(const std::string& a, const std::string& b, const std::string& ds) {
    const auto x = values<double>(a, ds), y = values<double>(b, ds);
    ASSERT_EQ(x.size(), y.size()) << ds;
    double most = 0;
    for (std::size_t k = 0; k < x.size(); ++k)
        if (std::isfinite(x[k]) && std::isfinite(y[k])) most = std::max(most, std::abs(x[k] - y[k]));
    EXPECT_GT(most, 1.0) << ds;
}

}  // namespace

// The held-out epochs' values move by 50 mm (the visible ones do not): every forecast of the
// held-out epochs, the levels, the partition, the choices and the selection scores stay the
// same (at 2 and 3 ranks); what is judged against the observations moves.
TEST_F(HoldoutLeakTest, RunsHoldoutForecastsDoNotDependOnTheHeldOutValues) {
    auto r = hlstm(2, "run", "base.h5", "base_run.h5");
    ASSERT_EQ(r.exitCode, 0) << r.output;
    r = hlstm(3, "run", "held.h5", "held_run.h5");
    ASSERT_EQ(r.exitCode, 0) << r.output;
    const std::string a = file("base_run.h5"), b = file("held_run.h5");
    using namespace output;
    for (const char* ds : {forecast::kHoldoutPred,
                           forecast::kHoldoutCumulative,
                           forecast::kHoldoutIntervalLow,
                           forecast::kHoldoutIntervalHigh,
                           forecast::kPersistencePred,
                           baselines::kHoldoutPred,
                           points::kVelocity,
                           points::kZone,
                           points::kSubregion,
                           points::kSplit,
                           subregions::kSelectionScore,
                           subregions::kBestCandidateScore,
                           subregions::kBestBaselineScore,
                           subregions::kIntervalHalfwidth,
                           subregions::kValidationMae,
                           subregions::kL,
                           subregions::kS,
                           grid_search::kSelectionScore,
                           grid_search::kValidationMae,
                           baselines::kSubregionSelectionScore,
                           metrics::kPositionStepMaeTruth,
                           baselines::kPositionStepMaeTruth,
                           metrics::kStepMaeTruth,
                           baselines::kStepMaeTruth})
        expectSame(a, b, ds);
    {
        h5::File fa(a, h5::Access::kReadOnly), fb(b, h5::Access::kReadOnly);
        EXPECT_EQ(fa.readStrings(subregions::kMethod), fb.readStrings(subregions::kMethod));
        EXPECT_EQ(fa.readStrings(subregions::kCombinedWith), fb.readStrings(subregions::kCombinedWith));
    }
    // A point is kept on its visible epochs (input.min_valid_fraction 0.5 of 37), not on the
    // hidden ones, as a read cut there would keep it.
    {
        h5::File in(file("base.h5"), h5::Access::kReadOnly), out(a, h5::Access::kReadOnly);
        const auto d = in.openDataset("/displacement").readAll<float>();
        const auto inIds = in.openDataset("/id").readAll<std::int64_t>();
        const auto ids = out.openDataset(points::kId).readAll<std::int64_t>();
        const auto status = out.openDataset(points::kStatus).readAll<std::int8_t>();
        ASSERT_EQ(ids.size(), inIds.size());
        std::map<std::int64_t, std::size_t> rowOf;
        for (std::size_t i = 0; i < inIds.size(); ++i) rowOf[inIds[i]] = i;
        std::size_t dropped = 0, keptBefore = 0;  // keptBefore: enough values counting the hidden epochs
        for (std::size_t k = 0; k < ids.size(); ++k) {
            const std::size_t i = rowOf.at(ids[k]);
            std::size_t visible = 0, all = 0;
            for (std::size_t t = 0; t < static_cast<std::size_t>(kEpochs); ++t) {
                const bool valid = std::isfinite(d[i * kEpochs + t]);
                visible += valid && t < kVisible ? 1 : 0;
                all += valid ? 1 : 0;
            }
            const bool tooFew = 2 * visible < kVisible;
            EXPECT_EQ(status[k], tooFew ? 1 : 0) << "id " << ids[k] << ": " << visible << " visible values";
            dropped += tooFew ? 1 : 0;
            keptBefore += tooFew && 2 * all >= static_cast<std::size_t>(kEpochs) ? 1 : 0;
        }
        EXPECT_GE(dropped, 100u);
        EXPECT_GE(keptBefore, 50u);
    }
    // The forecast beyond the archive sees every epoch, gaps filled from both sides as the reader
    // fills them: `hlstm predict` with the run's models forecasts the same next differentials.
    r = run("env OMP_NUM_THREADS=1 " + hlstmUnderMpi(2) + " predict --models " + a + " --input " + file("base.h5") +
            " -o " + file("base_pred.h5"));
    ASSERT_EQ(r.exitCode, 0) << r.output;
    {
        // predict keeps the points the run dropped for too few visible values: compare by id.
        const std::string p = file("base_pred.h5");
        const auto runIds = values<std::int64_t>(a, points::kId), predIds = values<std::int64_t>(p, points::kId);
        const auto runNext = values<float>(a, forecast::kNextDiff), predNext = values<float>(p, forecast::kNextDiff);
        std::map<std::int64_t, std::size_t> predRow;
        for (std::size_t k = 0; k < predIds.size(); ++k) predRow[predIds[k]] = k;
        std::size_t compared = 0, differ = 0;
        for (std::size_t k = 0; k < runIds.size(); ++k)
            for (std::size_t y = 0; y < static_cast<std::size_t>(kY); ++y) {
                const float x = runNext[k * kY + y], z = predNext[predRow.at(runIds[k]) * kY + y];
                if (!std::isfinite(x)) continue;
                ++compared;
                differ += x == z ? 0 : 1;
            }
        EXPECT_GT(compared, 5000u);
        EXPECT_EQ(differ, 0u) << "of " << compared << " next differentials";
    }
    // The edit reached the held-out observations and the forecast beyond the archive.
    expectDiffer(a, b, forecast::kHoldoutTrue);
    expectDiffer(a, b, forecast::kNextCumulative);
    expectDiffer(a, b, metrics::kPositionStepMae);
}

// The same with the common-mode filter on (input.common_mode = all, common_mode.hpp): its field
// is estimated from the visible epochs only, so the held-out values still move nothing, and
// `hlstm predict` with the run's models filters the whole archive as the run's forecast beyond
// it did (the same next differentials bit for bit).
TEST_F(HoldoutLeakTest, CommonModeFilterDoesNotSeeTheHeldOutValues) {
    auto r = hlstm(2, "run --input.common_mode all", "base.h5", "cm_base_run.h5");
    ASSERT_EQ(r.exitCode, 0) << r.output;
    EXPECT_NE(r.output.find("common mode (input.common_mode = all)"), std::string::npos) << r.output;
    r = hlstm(3, "run --input.common_mode all", "held.h5", "cm_held_run.h5");
    ASSERT_EQ(r.exitCode, 0) << r.output;
    const std::string a = file("cm_base_run.h5"), b = file("cm_held_run.h5");
    using namespace output;
    for (const char* ds : {forecast::kHoldoutPred, forecast::kHoldoutCumulative, forecast::kHoldoutIntervalLow,
                           baselines::kHoldoutPred, points::kVelocity, points::kSubregion, subregions::kSelectionScore,
                           metrics::kPositionStepMaeTruth, baselines::kPositionStepMaeTruth})
        expectSame(a, b, ds);
    {
        h5::File f(a, h5::Access::kReadOnly);
        EXPECT_EQ(f.readStringAttribute(attr::kCommonMode), "all");
    }
    r = run("env OMP_NUM_THREADS=1 " + hlstmUnderMpi(2) + " predict --models " + a + " --input " + file("base.h5") +
            " -o " + file("cm_base_pred.h5"));
    ASSERT_EQ(r.exitCode, 0) << r.output;
    EXPECT_NE(r.output.find("common mode (all) removed"), std::string::npos) << r.output;
    const std::string p = file("cm_base_pred.h5");
    const auto runIds = values<std::int64_t>(a, points::kId), predIds = values<std::int64_t>(p, points::kId);
    const auto runNext = values<float>(a, forecast::kNextDiff), predNext = values<float>(p, forecast::kNextDiff);
    std::map<std::int64_t, std::size_t> predRow;
    for (std::size_t k = 0; k < predIds.size(); ++k) predRow[predIds[k]] = k;
    // predict estimates the field from every point of its input, the run from the points it
    // kept (at least half of the visible epochs valid; about 5 % of this scene's are not): the
    // fields and so the next differentials differ a little, not as without the filter.
    std::size_t compared = 0, same = 0;
    double sumDiff = 0, sumNext = 0;
    for (std::size_t k = 0; k < runIds.size(); ++k)
        for (std::size_t y = 0; y < static_cast<std::size_t>(kY); ++y) {
            const float x = runNext[k * kY + y], z = predNext[predRow.at(runIds[k]) * kY + y];
            if (!std::isfinite(x)) continue;
            ++compared;
            same += x == z ? 1 : 0;
            sumDiff += std::abs(x - z), sumNext += std::abs(x);
        }
    EXPECT_GT(compared, 5000u);
    std::printf(
        "next differentials, run vs predict: %zu of %zu identical, mean |difference| %.4f mm, mean |value| "
        "%.4f mm\n",
        same, compared, sumDiff / static_cast<double>(compared), sumNext / static_cast<double>(compared));
    EXPECT_LT(sumDiff / static_cast<double>(compared), 0.05);
}

// A backtest's first origin is judged on a forecast made from its visible epochs only: moving
// every value after it by 50 mm leaves its errors against the truth unchanged for every method,
// while the last origin (whose visible epochs moved) and the observed errors change.
TEST_F(HoldoutLeakTest, BacktestOriginsForecastsDoNotDependOnLaterValues) {
    for (const std::string strategy : {"refit", "frozen"}) {
        const std::string cmd = "backtest --origins 2 --strategy " + strategy;
        auto r = hlstm(2, cmd, "base.h5", "base_bt_" + strategy + ".h5");
        ASSERT_EQ(r.exitCode, 0) << r.output;
        r = hlstm(3, cmd, "origin.h5", "origin_bt_" + strategy + ".h5");
        ASSERT_EQ(r.exitCode, 0) << r.output;
        const std::string a = file("base_bt_" + strategy + ".h5"), b = file("origin_bt_" + strategy + ".h5");
        const auto truthA = values<double>(a, output::backtest::kMaeTruth);
        const auto truthB = values<double>(b, output::backtest::kMaeTruth);
        const auto obsA = values<double>(a, output::backtest::kMae), obsB = values<double>(b, output::backtest::kMae);
        ASSERT_EQ(truthA.size(), truthB.size());
        const std::size_t methods = truthA.size() / (2 * kY);
        ASSERT_GT(methods, 4u);
        for (std::size_t k = 0; k < methods; ++k)
            for (std::size_t y = 0; y < static_cast<std::size_t>(kY); ++y) {
                const std::size_t first = (k * 2 + 0) * kY + y, last = (k * 2 + 1) * kY + y;
                EXPECT_NEAR(truthA[first], truthB[first], 1e-6) << strategy << " method " << k << " step " << y + 1;
                if (std::isnan(truthA[last]) && std::isnan(truthB[last])) continue;  // frozen: the learned baselines
                EXPECT_GT(std::abs(truthA[last] - truthB[last]), 1.0) << strategy << " method " << k;
                EXPECT_GT(std::abs(obsA[first] - obsB[first]), 1.0) << strategy << " method " << k;
            }
    }
}

// hlstm update scores the previous forecast on the new epochs beside the baselines recomputed on
// the epochs PREV saw: those are filled as PREV's read filled them (from the left at PREV's last
// epoch), so moving every new value by 50 mm leaves every method's error against the truth as it
// was, and moves the errors against the observations.
TEST_F(HoldoutLeakTest, UpdateScoresThePreviousForecastWithoutTheNewValuesInTheBaselines) {
    const auto dates = values<std::int32_t>(file("base.h5"), "/dates");
    // PREV ends at the first origin's last visible epoch, across which base.h5 has gaps.
    auto r = hlstm(2, "run --input.until " + std::to_string(dates[kFirstOrigin - 1]), "base.h5", "prev.h5");
    ASSERT_EQ(r.exitCode, 0) << r.output;
    const std::string until =
        " --input.until " + std::to_string(dates[kFirstOrigin + 1]) + " --models " + file("prev.h5");
    r = hlstm(2, "update" + until, "base.h5", "update_base.h5");
    ASSERT_EQ(r.exitCode, 0) << r.output;
    r = hlstm(3, "update" + until, "origin.h5", "update_moved.h5");  // every value from PREV's end on moved
    ASSERT_EQ(r.exitCode, 0) << r.output;
    const std::string a = file("update_base.h5"), b = file("update_moved.h5");
    ASSERT_EQ(values<std::int32_t>(a, output::update::kScoredDates).size(), 2u);
    expectSame(a, b, output::update::kMaeTruth);
    expectDiffer(a, b, output::update::kMae);
}
