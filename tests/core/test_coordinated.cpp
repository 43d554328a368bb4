#include <gtest/gtest.h>

#include "hlstm/core/coordinated.hpp"

using hlstm::Comm;

TEST(Coordinated, FailureOnLastRankReachesEveryRank) {
    Comm comm;
    const int bad = comm.size() - 1;
    bool threw = false;
    try {
        hlstm::coordinated(comm, "unit-phase", [&] {
            if (comm.rank() == bad) throw hlstm::InputError("file.h5: dataset /x index 7: boom");
        });
    } catch (const hlstm::RemoteError& e) {
        threw = true;
        EXPECT_NE(comm.rank(), bad);
        EXPECT_EQ(e.failedRank(), bad);
        EXPECT_EQ(e.code(), hlstm::ExitCode::kBadInput);
        EXPECT_NE(std::string(e.what()).find("boom"), std::string::npos);
        EXPECT_NE(std::string(e.what()).find("unit-phase"), std::string::npos);
    } catch (const hlstm::InputError& e) {
        threw = true;
        EXPECT_EQ(comm.rank(), bad);
    }
    EXPECT_TRUE(threw);
    // The ranks are still in step: a collective after the failure completes.
    EXPECT_EQ(comm.allreduce(1, hlstm::Reduce::kSum), comm.size());
}

TEST(Coordinated, NoFailureRunsTheBodyOnce) {
    Comm comm;
    int calls = 0;
    hlstm::setCurrentPhase("before");
    hlstm::coordinated(comm, "ok-phase", [&] { ++calls; });
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(hlstm::currentPhase(), "before");  // restored after success
}
