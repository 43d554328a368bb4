// configs/table4.toml (issue 20 item 4): the run log's Table IV on the Table I patterns - the
// global LSTM row equals /baselines' global_lstm figures and has the largest grid shape, each
// subregion's HLSTM row its /subregions figures, the global row /metrics, and the noise floor
// (the truth's MAE against the observations) is recomputed from /forecast. Real MPI, 3 ranks.
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>
#include <string>

#include "hlstm/io/hdf5.hpp"
#include "hlstm/io/output_format.hpp"
#include "test_support.hpp"

using namespace hlstm;
using namespace hlstm::test;

namespace {

struct Row {
    std::string model, region;
    int L = 0, K = 0, S = 0;
    double mae = NAN, sd = NAN, acc = NAN, truth = NAN, floor = NAN, globalLstm = NAN, winnerS = NAN, gridS = NAN;
};

// The table's rows, as printed after its header line.
std::vector<Row> tableFour(const std::string& log) {
    std::vector<Row> rows;
    const auto at = log.find("Table IV (paper");
    if (at == std::string::npos) return rows;
    std::istringstream in(log.substr(at));
    std::string line;
    for (int skip = 0; skip < 4; ++skip) std::getline(in, line);  // three lines of title, the header
    while (std::getline(in, line)) {
        std::istringstream f(line);
        Row r;
        std::string word;
        f >> word;
        if (word != "LSTM" && word != "HLSTM") break;
        r.model = word;
        if (word == "LSTM") f >> word;  // "(global)"
        f >> r.region;
        if (r.region == "sub") {
            f >> word;
            r.region += " " + word;
        }
        f >> r.L >> r.K >> r.S >> r.mae >> r.sd >> r.acc >> r.truth >> r.floor >> r.globalLstm >> r.winnerS >> r.gridS;
        EXPECT_FALSE(f.fail()) << line;
        rows.push_back(r);
    }
    return rows;
}

double meanAbs(const std::vector<double>& a, const std::vector<double>& b, const std::vector<std::int32_t>* sub,
               std::int32_t s) {
    double sum = 0;
    std::size_t n = 0;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (std::isfinite(a[i]) && std::isfinite(b[i]) && (sub == nullptr || (*sub)[i] == s))
            sum += std::fabs(a[i] - b[i]), ++n;
    return sum / static_cast<double>(n);
}

TEST(TableFour, TheLogsRowsEqualTheOutputAndTheNoiseFloorIsRecomputed) {
    TempDir dir;
    const std::string out = dir.file("t4.h5");
    const auto r = run("env OMP_NUM_THREADS=1 " + hlstmUnderMpi(3) + " run --config " + std::string(HLSTM_SOURCE_DIR) +
                           "/configs/table4.toml -o " + out +
                           " --simulate.points 5000 --partition.min_points 300 --grid.L 4,5 --grid.S 5,25 "
                           "--train.epochs 4 --train.threads 1",
                       300);
    ASSERT_EQ(r.exitCode, 0) << r.output;
    const auto rows = tableFour(r.output);
    const h5::File f(out, h5::Access::kReadOnly);
    const auto subL = f.openDataset(output::subregions::kL).readAll<std::int32_t>();
    const std::size_t nSub = subL.size();
    EXPECT_EQ(nSub, 5u) << "one subregion per Table I pattern";
    ASSERT_EQ(rows.size(), nSub + 2) << r.output;

    // The global LSTM: L5 K2 S25 (the largest grid shape), its /baselines figures.
    const auto names = f.readStrings(output::baselines::kName);
    const auto g = static_cast<std::size_t>(std::find(names.begin(), names.end(), "global_lstm") - names.begin());
    ASSERT_LT(g, names.size());
    const auto bmae = f.openDataset(output::baselines::kMae).readAll<double>();
    const auto bsd = f.openDataset(output::baselines::kSd).readAll<double>();
    const auto btruth = f.openDataset(output::baselines::kMaeTruth).readAll<double>();
    const auto bsub = f.openDataset(output::baselines::kSubregionMae).readAll<double>();  // baselines x subregions
    EXPECT_EQ(rows[0].model, "LSTM");
    EXPECT_EQ(rows[0].L, 5);
    EXPECT_EQ(rows[0].K, 2);
    EXPECT_EQ(rows[0].S, 25);
    EXPECT_NEAR(rows[0].mae, bmae[g], 6e-5);
    EXPECT_NEAR(rows[0].sd, bsd[g], 6e-5);
    EXPECT_NEAR(rows[0].truth, btruth[g], 6e-5);
    EXPECT_GT(rows[0].gridS, 0);

    // The noise floor: mean |observed - truth| of the held-out differentials, overall and per subregion.
    const auto obs = f.openDataset(output::forecast::kHoldoutTrue).readAll<double>();
    const auto truth = f.openDataset(output::forecast::kHoldoutTruth).readAll<double>();
    const auto sub = f.openDataset(output::points::kSubregion).readAll<std::int32_t>();
    const double floorAll = meanAbs(obs, truth, nullptr, 0);
    EXPECT_NEAR(floorAll, 0.5, 0.02) << "E|U(-1, 1)| = 0.5";
    EXPECT_NEAR(rows[0].floor, floorAll, 6e-5);
    EXPECT_NEAR(rows[nSub + 1].floor, floorAll, 6e-5);

    // Each subregion's HLSTM row: its /subregions figures and the global LSTM on the same points.
    const auto smae = f.openDataset(std::string(output::subregions::kColumnPrefix) + "mae").readAll<double>();
    const auto struth = f.openDataset(output::subregions::kMaeTruth).readAll<double>();
    const auto subK = f.openDataset(output::subregions::kK).readAll<std::int32_t>();
    const auto subS = f.openDataset(output::subregions::kS).readAll<std::int32_t>();
    double winnersSum = 0, gridSum = 0;
    for (std::size_t s = 0; s < nSub; ++s) {
        const Row& row = rows[1 + s];
        SCOPED_TRACE(row.region);
        EXPECT_EQ(row.region, "sub " + std::to_string(s));
        EXPECT_EQ(row.L, subL[s]);
        EXPECT_EQ(row.K, subK[s]);
        EXPECT_EQ(row.S, subS[s]);
        EXPECT_NEAR(row.mae, smae[s], 6e-5);
        EXPECT_NEAR(row.truth, struth[s], 6e-5);
        EXPECT_NEAR(row.floor, meanAbs(obs, truth, &sub, static_cast<std::int32_t>(s)), 6e-5);
        EXPECT_NEAR(row.globalLstm, bsub[g * nSub + s], 6e-5);
        // A small winner can train in under a millisecond, so its seconds may print as 0.000.
        EXPECT_GE(row.winnerS, 0);
        EXPECT_GE(row.gridS, row.winnerS);
        winnersSum += row.winnerS;
        gridSum += row.gridS;
    }
    // The global HLSTM row: /metrics.
    const Row& all = rows[nSub + 1];
    EXPECT_EQ(all.region, "global");
    // Its seconds: the subregions' winners and grids summed (each printed to 0.0005 s); a run
    // trains at least one winner.
    EXPECT_GT(all.winnerS, 0);
    EXPECT_NEAR(all.winnerS, winnersSum, 0.0005 * static_cast<double>(nSub + 1));
    EXPECT_NEAR(all.gridS, gridSum, 0.0005 * static_cast<double>(nSub + 1));
    EXPECT_NEAR(all.mae, f.readObjectAttribute<double>(output::metrics::kGroup, output::metrics::kAttrMae), 6e-5);
    EXPECT_NEAR(all.truth, f.readObjectAttribute<double>(output::metrics::kGroup, output::metrics::kAttrMaeTruth),
                6e-5);
}

}  // namespace
