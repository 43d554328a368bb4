#include "plot_fixture.hpp"

#include <gtest/gtest.h>

#include <memory>

#include "test_support.hpp"

namespace hlstm::test {

const RunOutput& smallRunOutput() {
    static std::unique_ptr<TempDir> dir;
    static RunOutput made;
    if (dir) return made;
    dir = std::make_unique<TempDir>();
    made.dir = dir->path();
    made.out = dir->file("run.h5");
    made.input = made.out + ".input.h5";
    auto r = run("env OMP_NUM_THREADS=1 " + hlstmUnderMpi(2) + " run --config " + std::string(HLSTM_SOURCE_DIR) +
                     "/configs/demo.toml -o " + made.out +
                     " --simulate.points 3000 --partition.min_points 300 --grid.L 24 --grid.K 1 --train.epochs 2",
                 300);
    if (r.exitCode != 0) ADD_FAILURE() << "hlstm run for the plot tests failed:\n" << r.output;
    return made;
}

}  // namespace hlstm::test
