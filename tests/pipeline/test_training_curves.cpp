// `hlstm run`'s training curves (issue 20 item 3): /grid_search/train_loss and
// validation_mae_curve (candidates x train.epochs) agree with the candidates' recorded last loss
// and validation MAE, and /grid_search/converged with the log's warning separate a converged
// training (lr 0.005, 20 epochs) from one that cannot have converged (2 epochs) and one whose
// learning rate is far too high (lr 0.3: the curves oscillate). Real MPI, 3 ranks.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "hlstm/io/hdf5.hpp"
#include "hlstm/io/output_format.hpp"
#include "test_support.hpp"

using namespace hlstm;
using namespace hlstm::test;

namespace {

namespace og = output::grid_search;

struct Curves {
    std::size_t candidates = 0, epochs = 0;
    std::vector<double> loss, mae, last, validationMae;
    std::vector<std::int32_t> status, ran, best, subregion, L, K, S;
    std::vector<std::int8_t> converged;
    std::vector<std::int32_t> subL, subK, subS;
    std::string log;
};

// A scene shared by every case of this file.
const std::string& scene() {
    static TempDir* dir = new TempDir;
    static const std::string path = [] {
        const std::string p = dir->file("scene.h5");
        const auto r = run(hlstmUnderMpi(2) + " simulate --points 3000 --epochs 45 --seed 5 -o " + p);
        EXPECT_EQ(r.exitCode, 0) << r.output;
        return p;
    }();
    return path;
}

// One run of the paper's selection (eq. 3 among the candidates: a learned model wins every
// subregion, so every subregion's winner is judged).
Curves runWith(const std::string& extra) {
    TempDir dir;
    const std::string out = dir.file("out.h5");
    const auto r = run("env OMP_NUM_THREADS=1 " + hlstmUnderMpi(3) + " run --input " + scene() + " -o " + out +
                           " --partition.min_points 300 --grid.L 8,12 --grid.K 1 --grid.S 6 --train.batch 64 "
                           "--train.threads 1 --run.select paper --run.cut_stride 1 " +
                           extra,
                       300);
    EXPECT_EQ(r.exitCode, 0) << r.output;
    Curves c;
    c.log = r.output;
    if (r.exitCode != 0) return c;
    const h5::File f(out, h5::Access::kReadOnly);
    const auto dims = f.openDataset(og::kTrainLossCurve).dims();
    EXPECT_EQ(dims.size(), 2u);
    c.candidates = dims[0];
    c.epochs = dims[1];
    EXPECT_EQ(f.openDataset(og::kValidationMaeCurve).dims(), dims);
    c.loss = f.openDataset(og::kTrainLossCurve).readAll<double>();
    c.mae = f.openDataset(og::kValidationMaeCurve).readAll<double>();
    c.last = f.openDataset(og::kFinalTrainLoss).readAll<double>();
    c.validationMae = f.openDataset(og::kValidationMae).readAll<double>();
    c.status = f.openDataset(og::kStatus).readAll<std::int32_t>();
    c.ran = f.openDataset(og::kEpochs).readAll<std::int32_t>();
    c.best = f.openDataset(og::kBestEpoch).readAll<std::int32_t>();
    c.subregion = f.openDataset(og::kSubregion).readAll<std::int32_t>();
    c.L = f.openDataset(og::kL).readAll<std::int32_t>();
    c.K = f.openDataset(og::kK).readAll<std::int32_t>();
    c.S = f.openDataset(og::kS).readAll<std::int32_t>();
    c.converged = f.openDataset(og::kConverged).readAll<std::int8_t>();
    c.subL = f.openDataset(output::subregions::kL).readAll<std::int32_t>();
    c.subK = f.openDataset(output::subregions::kK).readAll<std::int32_t>();
    c.subS = f.openDataset(output::subregions::kS).readAll<std::int32_t>();
    EXPECT_DOUBLE_EQ(f.readObjectAttribute<double>(og::kConverged, og::kAttrConvergenceTol), 0.05);
    return c;
}

// The curves agree with what each candidate recorded: the last epoch's loss is the final loss,
// the validation MAE at the kept epoch is the candidate's validation MAE, NaN after its last epoch.
void expectCurvesMatchTheRecords(const Curves& c, std::size_t epochs) {
    ASSERT_EQ(c.epochs, epochs);
    ASSERT_EQ(c.candidates, 2u * c.subL.size()) << "2 L values x 1 K x 1 S per subregion";
    for (std::size_t i = 0; i < c.candidates; ++i) {
        SCOPED_TRACE("candidate " + std::to_string(i));
        ASSERT_EQ(c.status[i], 0);
        const auto ran = static_cast<std::size_t>(c.ran[i]);
        ASSERT_GE(ran, 1u);
        ASSERT_LE(ran, epochs);
        EXPECT_EQ(c.loss[i * epochs + ran - 1], c.last[i]);
        ASSERT_GE(c.best[i], 1);
        EXPECT_EQ(c.mae[i * epochs + static_cast<std::size_t>(c.best[i]) - 1], c.validationMae[i]);
        for (std::size_t e = 0; e < ran; ++e) {
            EXPECT_TRUE(std::isfinite(c.loss[i * epochs + e]) && c.loss[i * epochs + e] > 0) << "epoch " << e + 1;
            EXPECT_TRUE(std::isfinite(c.mae[i * epochs + e]) && c.mae[i * epochs + e] > 0) << "epoch " << e + 1;
        }
        for (std::size_t e = ran; e < epochs; ++e) EXPECT_TRUE(std::isnan(c.loss[i * epochs + e]));
    }
}

// Subregions whose winner has not converged, by /grid_search/converged.
std::size_t unconvergedWinners(const Curves& c) {
    std::size_t n = 0;
    for (std::size_t s = 0; s < c.subL.size(); ++s) {
        EXPECT_GE(c.subL[s], 1) << "the paper's selection: a learned model wins subregion " << s;
        for (std::size_t i = 0; i < c.candidates; ++i)
            if (c.subregion[i] == static_cast<std::int32_t>(s) && c.L[i] == c.subL[s] && c.K[i] == c.subK[s] &&
                c.S[i] == c.subS[s] && c.converged[i] == 0)
                ++n;
    }
    return n;
}

std::size_t count(const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
}

TEST(TrainingCurves, ConvergedTrainingIsNotFlagged) {
    const Curves c = runWith("--train.epochs 20 --train.lr 0.005");
    expectCurvesMatchTheRecords(c, 20);
    for (std::size_t i = 0; i < c.candidates; ++i) EXPECT_EQ(c.converged[i], 1) << "candidate " << i;
    EXPECT_EQ(unconvergedWinners(c), 0u);
    EXPECT_EQ(count(c.log, "has not converged"), 0u) << c.log;
}

TEST(TrainingCurves, TwoEpochsCannotShowConvergence) {
    const Curves c = runWith("--train.epochs 2");
    expectCurvesMatchTheRecords(c, 2);
    for (std::size_t i = 0; i < c.candidates; ++i) EXPECT_EQ(c.converged[i], 0) << "candidate " << i;
    EXPECT_EQ(unconvergedWinners(c), c.subL.size());
    EXPECT_EQ(count(c.log, "has not converged"), c.subL.size()) << c.log;
    EXPECT_NE(c.log.find("2 epochs are too few to show convergence"), std::string::npos) << c.log;
}

TEST(TrainingCurves, ALearningRateFarTooHighIsFlagged) {
    // Early stopping keeps the best epoch: the validation MAE is then the curve's value there.
    const Curves c = runWith("--train.epochs 20 --train.lr 0.3 --train.early_stop_patience 6");
    expectCurvesMatchTheRecords(c, 20);
    const std::size_t flagged = unconvergedWinners(c);
    EXPECT_GE(flagged, 1u);
    EXPECT_EQ(count(c.log, "has not converged"), flagged) << c.log;
}

}  // namespace
