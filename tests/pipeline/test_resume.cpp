// Checkpoint and resume of `hlstm run` (never lose cluster time): runs killed with
// SIGKILL at seeded random moments, or stopped with SIGUSR1, and continued with --resume must
// write the uninterrupted run's output bit for bit; a changed configuration is refused.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <thread>

#include "test_support.hpp"

using namespace hlstm::test;

namespace {

// One data-parallel candidate (shard share 0.2 of a 2-subregion plan) and ordinary ones, and
// a training-state checkpoint every ~0.1 s, so kills land inside candidates as well as
// between them.
const std::string kArgs =
    " --partition.min_points 300 --partition.k_min 2 --partition.k_max 2 --grid.L 8,12 --grid.K 1 --grid.S 6"
    " --train.epochs 60 --train.batch 32 --train.threads 1 --train.shard_share 0.2 --run.checkpoint_minutes 0.0015";

class ResumeTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        dir_ = new TempDir();
        auto r = run(hlstmUnderMpi(2) + " simulate --points 3000 --epochs 30 --seed 11 -o " + scene());
        ASSERT_EQ(r.exitCode, 0) << r.output;
    }
    static void TearDownTestSuite() { delete dir_; }
    static std::string scene() { return dir_->file("scene.h5"); }
    static std::string command(const std::string& out, const std::string& extra = "") {
        return "env OMP_NUM_THREADS=1 " + hlstmUnderMpi(2) + " run --input " + scene() + " -o " + out + kArgs + extra;
    }
    // Starts the run in its own session, sends `signal` to the whole session after `seconds`,
    // waits for it; returns the run's exit code.
    static int interrupted(const std::string& out, double seconds, const std::string& signal,
                           const std::string& extra = "") {
        const std::string script = "setsid " + command(out, extra) + " > " + out + ".log 2>&1 & pid=$!; sleep " +
                                   std::to_string(seconds) + "; kill -" + signal + " -- -$pid 2>/dev/null; wait $pid";
        const int code = run("bash -c '" + script + "'", 300).exitCode;
        waitUntilUnlocked(out + ".lock");
        return code;
    }
    // The ranks of a run killed through mpiexec die a moment after it (Open MPI gives them their
    // own process group), holding OUT.lock until then; a --resume started at once would be
    // refused as a second run (correctly: they are still running). Waits, as a user would,
    // until no process holds the lock (at most 30 s).
    static void waitUntilUnlocked(const std::string& lock) {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
        while (std::chrono::steady_clock::now() < deadline) {
            const int fd = ::open(lock.c_str(), O_RDWR | O_CLOEXEC);
            if (fd < 0) return;  // no lock file: nobody holds it
            struct flock fl {};
            fl.l_type = F_WRLCK;
            fl.l_whence = SEEK_SET;
            const bool held = ::fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK;
            ::close(fd);
            if (!held) return;
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    }
    static bool identical(const std::string& a, const std::string& b, std::string* diff) {
        auto d = run("h5diff --exclude-path /timing " + a + " " + b);
        *diff = d.output;
        return d.exitCode == 0;
    }
    static TempDir* dir_;
};
TempDir* ResumeTest::dir_ = nullptr;

}  // namespace

TEST_F(ResumeTest, KilledAtTenRandomMomentsAndResumedTheOutputIsTheUninterruptedRuns) {
    const std::string reference = dir_->file("reference.h5");
    const auto start = std::chrono::steady_clock::now();
    auto r = run(command(reference), 300);
    ASSERT_EQ(r.exitCode, 0) << r.output;
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EXPECT_FALSE(std::filesystem::exists(reference + ".ckpt")) << "a complete run leaves no checkpoints";

    std::uint64_t state = 0x5eed;  // seeded moments across the whole run
    int identicalRuns = 0, killedMidway = 0;
    for (int k = 0; k < 10; ++k) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        const double u = static_cast<double>(state >> 11) * 0x1.0p-53;
        const double at = wall * (0.1 + 0.8 * u);
        const std::string out = dir_->file("killed" + std::to_string(k) + ".h5");
        // A run faster than the reference (under ctest -j2 the reference may have shared the
        // cores with another test) can finish before the kill: then it is killed again at half
        // the moment, so that the kills land while the run is going.
        int code = 0;
        for (double t = at; t > 0.2; t /= 2) {
            std::filesystem::remove(out);
            code = interrupted(out, t, "9");
            if (code != 0) break;
        }
        if (code != 0) ++killedMidway;
        auto resumed = run(command(out, " --resume"), 300);
        ASSERT_EQ(resumed.exitCode, 0) << "kill at " << at << " s:\n" << resumed.output;
        std::string diff;
        if (identical(reference, out, &diff))
            ++identicalRuns;
        else
            ADD_FAILURE() << "kill at " << at << " s: the resumed output differs:\n" << diff;
        EXPECT_FALSE(std::filesystem::exists(out + ".ckpt"));
        EXPECT_FALSE(std::filesystem::exists(out + ".tmp"));
    }
    EXPECT_EQ(identicalRuns, 10);
    EXPECT_GE(killedMidway, 8) << "the kills must land while the run is going (wall " << wall << " s)";
}

TEST_F(ResumeTest, SigusrOneStopsWithExitThreeAndTheResumedOutputIsTheUninterruptedRuns) {
    const std::string reference = dir_->file("reference-usr1.h5");
    ASSERT_EQ(run(command(reference), 300).exitCode, 0);
    const std::string out = dir_->file("usr1.h5");
    // USR1 reaches mpiexec, which forwards it to the ranks (as Slurm's --signal does). It is
    // sent once training has checkpointed (the log says so), not after a fixed sleep: on a
    // loaded machine 2 s could still be before the first candidate, which stops cleanly with
    // nothing to checkpoint (seen in a CI run).
    // Rank 0 sleeps 1 ms between minibatches in the stopped run only (HLSTM_SLOW_INJECT: timing,
    // never values), so that training outlasts the signal's way from the log to the ranks: the
    // whole run takes under a second on this scene, and a CI run once finished before it arrived.
    const std::string log = out + ".log";
    const std::string script = "HLSTM_SLOW_INJECT=0:1 " + command(out) + " > " + log +
                               " 2>&1 & pid=$!; for i in $(seq 1 1200); do grep -q \"checkpoint: candidate\" " + log +
                               " && break; sleep 0.05; done; kill -USR1 $pid; wait $pid";
    const auto stop = run("bash -c '" + script + "'", 300);
    EXPECT_EQ(stop.exitCode, 3) << run("cat " + out + ".log").output;
    EXPECT_FALSE(std::filesystem::exists(out)) << "a stopped run writes no output";
    EXPECT_TRUE(std::filesystem::exists(out + ".ckpt"));
    // A rerun that forgets --resume would throw the checkpoints away: it is refused.
    auto forgot = run(command(out), 120);
    EXPECT_EQ(forgot.exitCode, 1);
    EXPECT_NE(forgot.output.find("--resume"), std::string::npos) << forgot.output;
    // A changed configuration cannot continue these checkpoints.
    auto changed = run(command(out, " --resume --train.lr 0.002"), 120);
    EXPECT_EQ(changed.exitCode, 1);
    EXPECT_NE(changed.output.find("another configuration"), std::string::npos) << changed.output;
    EXPECT_TRUE(std::filesystem::exists(out + ".ckpt")) << "a refused resume keeps the checkpoints";

    auto resumed = run(command(out, " --resume"), 300);
    ASSERT_EQ(resumed.exitCode, 0) << resumed.output;
    EXPECT_NE(resumed.output.find("from its checkpoint"), std::string::npos) << resumed.output;
    std::string diff;
    EXPECT_TRUE(identical(reference, out, &diff)) << diff;
}
