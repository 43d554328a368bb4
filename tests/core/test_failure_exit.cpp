// An exception injected on rank 1 only: every rank exits non-zero, quickly, no output.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>

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
