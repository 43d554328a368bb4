/// The small real run output that the plot and report tests draw (made once per test program).
#pragma once

#include <string>

namespace hlstm::test {

/// Path of a complete `hlstm run` output of a 3000-point simulated scene (demo configuration, one
/// grid candidate, two epochs) and of its input (OUT.input.h5); made on first use in a temporary
/// directory that lives until the program ends.
struct RunOutput {
    std::string dir, out, input;
};
const RunOutput& smallRunOutput();

/// /usr/bin/python3 (what hlstm plot runs).
inline const char* kPython = "/usr/bin/python3";

}  // namespace hlstm::test
