// An exception injected on rank 1 only: every rank exits non-zero, quickly, no output.
#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <filesystem>

#include "hlstm/config/config.hpp"
#include "test_support.hpp"

using namespace hlstm::test;

TEST(FailureExit, InjectedFailureOnRankOneStopsAllRanks) {
    TempDir dir;
    const std::string out = dir.file("s.h5");
    const auto t0 = std::chrono::steady_clock::now();
    auto r = run("env HLSTM_FAIL_INJECT=simulate:generate@1 " + hlstmUnderMpi(3) +
                     " simulate --points 3000 --epochs 10 -o " + out,
                 60);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_EQ(r.exitCode, 2) << r.output;
    EXPECT_LT(seconds, 30.0);
    EXPECT_NE(r.output.find("rank 1"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("injected failure"), std::string::npos) << r.output;
    EXPECT_FALSE(std::filesystem::exists(out));
    EXPECT_FALSE(std::filesystem::exists(out + ".tmp"));
}

TEST(FailureExit, BadCommandLineIsExitOne) {
    auto r = run(hlstmBinary() + " simulate --kind nonsense -o /tmp/x.h5");
    EXPECT_EQ(r.exitCode, 1) << r.output;
    auto h = run(hlstmBinary() + " --help");
    EXPECT_EQ(h.exitCode, 0);
    EXPECT_NE(h.output.find("simulate"), std::string::npos);
}

TEST(FailureExit, HelpNamesEveryConfigurationKeysDefault) {
    // Every key of the schema is an option of `hlstm run` whose help ends with its default, as
    // the printed configuration writes it (a value a user can paste into a TOML file).
    const auto h = run(hlstmBinary() + " run --help");
    ASSERT_EQ(h.exitCode, 0) << h.output;
    std::size_t keys = 0;
    for (const auto& key : hlstm::configSchema()) {
        const std::string option = "--" + key.name + " ";
        const auto at = h.output.find(option);
        ASSERT_NE(at, std::string::npos) << option;
        const auto next = h.output.find("\n  --", at + option.size());  // the next option's line
        const std::string entry = h.output.substr(at, next == std::string::npos ? std::string::npos : next - at);
        EXPECT_NE(entry.find("(default: " + hlstm::formatValue(key.value) + ")"), std::string::npos) << entry;
        ++keys;
    }
    EXPECT_GT(keys, 50u);
    // Values a user would type: a fraction, a count, a word, a list.
    EXPECT_NE(h.output.find("(default: 0.5)"), std::string::npos);
    EXPECT_NE(h.output.find("(default: \"off\")"), std::string::npos);
    EXPECT_NE(h.output.find("(default: 32)"), std::string::npos);
}

namespace {

std::size_t countMessages(const std::string& output) {
    std::size_t count = 0;
    for (auto pos = output.find("hlstm: "); pos != std::string::npos; pos = output.find("hlstm: ", pos + 1)) ++count;
    return count;
}

// The run settings of the tests below: one candidate per subregion, one epoch.
const std::string kQuickRun =
    " --train.epochs 1 --grid.L 8 --grid.K 1 --grid.S 4 --partition.min_points 50"
    " --train.threads 1 --run.selection_cuts 0";

// What the checkpoints of a kQuickRun take on a tmpfs (4 KB pages per file) while the rows are
// written: measured with a failure injected at the write phase, which keeps them for --resume.
// Their size follows what a model carries (Adam's state, training curves), so it is not a constant.
std::uintmax_t checkpointKb(const std::string& scene, const std::string& probe, int ranks) {
    auto r = run("env OMP_NUM_THREADS=1 HLSTM_FAIL_INJECT=write@0 " + hlstmUnderMpi(ranks) + " run --input " + scene +
                     " -o " + probe + kQuickRun,
                 60);
    EXPECT_EQ(r.exitCode, 2) << r.output;
    std::uintmax_t kb = 0;
    for (const auto& e : std::filesystem::recursive_directory_iterator(probe + ".ckpt"))
        if (e.is_regular_file()) kb += (e.file_size() + 4095) / 4096 * 4;
    std::filesystem::remove_all(probe + ".ckpt");
    return kb;
}

}  // namespace

TEST(FailureExit, DiskFillingDuringTheDataWritesIsExitTwoAtEverySizeAndRankCount) {
    // A small file system that holds the 8 MB close reserve, the checkpoints and part of the
    // output: the disk fills while the rows are written. It hung (one rank saw the HDF5 error,
    // the others waited in the next collective, or one rank's MPI_File_sync failed alone).
    if (geteuid() != 0) GTEST_SKIP() << "mounting a tmpfs needs root";
    TempDir dir;
    const std::string scene = dir.file("scene.h5");
    ASSERT_EQ(run(hlstmUnderMpi(2) + " simulate --points 400 --epochs 20 --seed 3 -o " + scene, 120).exitCode, 0);
    const std::string small = dir.file("small");
    std::filesystem::create_directory(small);
    const std::string out = small + "/out.h5";
    // 8192 KB is the reserve, next to the checkpoints; this scene's output needs a few hundred KB
    // more (464 KB with the training curves), so every size below leaves it short.
    for (int ranks : {2, 3}) {
        const std::uintmax_t base = 8192 + checkpointKb(scene, dir.file("probe.h5"), ranks);
        ASSERT_GT(base, 8192u);
        for (std::uintmax_t extra : {24u, 48u, 72u, 96u, 108u}) {
            const std::uintmax_t kb = base + extra;
            SCOPED_TRACE(std::to_string(ranks) + " ranks, a " + std::to_string(kb) + " KB file system");
            ASSERT_EQ(run("mount -t tmpfs -o size=" + std::to_string(kb) + "k tmpfs " + small, 10).exitCode, 0);
            const auto t0 = std::chrono::steady_clock::now();
            auto r = run(
                "env OMP_NUM_THREADS=1 " + hlstmUnderMpi(ranks) + " run --input " + scene + " -o " + out + kQuickRun,
                60);
            const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            EXPECT_EQ(r.exitCode, 2) << r.output;
            EXPECT_LT(seconds, 30.0);
            EXPECT_EQ(countMessages(r.output), 1u) << r.output;
            EXPECT_NE(r.output.find(out + ": writing the output failed"), std::string::npos) << r.output;
            EXPECT_NE(r.output.find("nothing was written at " + out), std::string::npos) << r.output;
            if (extra >= 48) {  // past the reserve: the rows' writes met the full disk
                EXPECT_EQ(r.output.find("cannot reserve"), std::string::npos) << r.output;
            }
            EXPECT_FALSE(std::filesystem::exists(out));
            EXPECT_FALSE(std::filesystem::exists(out + ".tmp"));
            EXPECT_FALSE(std::filesystem::exists(out + ".tmp.reserve"));
            EXPECT_FALSE(std::filesystem::exists(out + ".lock"));
            std::filesystem::remove_all(out + ".ckpt");  // kept for --resume after a runtime failure
            EXPECT_EQ(run("umount " + small, 10).exitCode, 0);
        }
    }
}

TEST(FailureExit, FailureInsideADataParallelCandidateEndsTheJobWithinAMinute) {
    // Every candidate data-parallel (shard share 0.01) with one subregion: 3 ranks train it
    // as one group. Rank 1 fails inside the gradient exchange of a training step while ranks 0
    // and 2 are in it: the job ends (MPI_Abort from rank 1's main) with rank 1's one message.
    TempDir dir;
    const std::string scene = dir.file("scene.h5"), out = dir.file("out.h5");
    ASSERT_EQ(run(hlstmUnderMpi(2) + " simulate --points 400 --epochs 20 --seed 3 -o " + scene, 120).exitCode, 0);
    const auto t0 = std::chrono::steady_clock::now();
    auto r = run("env OMP_NUM_THREADS=1 HLSTM_FAIL_INJECT=train:data-parallel@1 " + hlstmUnderMpi(3) + " run --input " +
                     scene + " -o " + out + kQuickRun.substr(0, kQuickRun.find(" --partition")) +
                     " --partition.min_points 5000 --train.threads 1 --run.selection_cuts 0 --train.shard_share 0.01",
                 90);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_EQ(r.exitCode, 2) << r.output;  // MPI_Abort's code, returned by mpiexec
    EXPECT_LT(seconds, 60.0);
    EXPECT_EQ(countMessages(r.output), 1u) << r.output;
    EXPECT_NE(r.output.find("hlstm: error [rank 1 of 3, phase train]: injected failure"), std::string::npos)
        << r.output;
    EXPECT_NE(r.output.find("data-parallel on ranks 0..2"), std::string::npos) << "precondition: one group\n"
                                                                               << r.output;
    EXPECT_FALSE(std::filesystem::exists(out));
    EXPECT_FALSE(std::filesystem::exists(out + ".tmp"));
}
