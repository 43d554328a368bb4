/// A test suite's scene, simulated once by the real program, and hlstm run on it under mpiexec.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "test_support.hpp"

namespace hlstm::test {

/// Base of a fixture whose tests share one simulated scene (`hlstm simulate` at 2 ranks into a
/// temporary directory, removed after the suite). The derived fixture's SetUpTestSuite calls
/// simulate() with its scene's options.
template <class Suite> class SceneSuite : public ::testing::Test {
protected:
    static void simulate(const std::string& options) {
        dir_ = new TempDir();
        const auto r = run(hlstmUnderMpi(2) + " simulate " + options + " -o " + scene());
        ASSERT_EQ(r.exitCode, 0) << r.output;
    }
    static void TearDownTestSuite() {
        delete dir_;
        dir_ = nullptr;
    }
    static std::string scene() { return dir_->file("scene.h5"); }
    /// `hlstm COMMAND --input SCENE -o OUT OPTIONS` at `ranks` ranks, one thread each.
    static CommandResult hlstmOnScene(int ranks, const std::string& command, const std::string& out,
                                      const std::string& options) {
        return run("env OMP_NUM_THREADS=1 " + hlstmUnderMpi(ranks) + " " + command + " --input " + scene() + " -o " +
                       out + options,
                   300);
    }
    static inline TempDir* dir_ = nullptr;
};

}  // namespace hlstm::test
