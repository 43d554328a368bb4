/// What `hlstm plot` and `hlstm report` share: the checks of the output file and of its input
/// (present, same checksum), and the call of the drawing script tools/plot/hlstm_plot.py
/// through Debian's Python (matplotlib, h5py, NumPy). Serial: call it on one rank.
#pragma once

#include <string>
#include <vector>

namespace hlstm::cli::plot {

struct ToolCall {
    std::string command;             ///< "plot" or "report"
    std::string file;                ///< the hlstm output (.h5)
    std::string output;              ///< plot: the directory; report: the .html file
    std::string input;               ///< --input (empty: OUT's root attribute `input`)
    bool noHistory = false;          ///< --no-history: do not read the input at all
    std::vector<std::string> extra;  ///< further arguments of the script
};

/// Checks `file` (an existing, complete hlstm-output file of hlstm run: InputError naming it
/// otherwise; a prediction file is refused, it has no partition, grid or holdout). Unless call.noHistory, also the input: present (InputError naming it and the
/// attribute it came from) and with OUT's `input_checksum` (InputError giving both checksums).
/// Returns the input path the script is to read ("" with noHistory).
std::string checkFiles(const ToolCall& call);

/// The Python interpreter: $HLSTM_PYTHON, else /usr/bin/python3 (RuntimeError naming the
/// Debian packages when it is not there).
std::string pythonPath();

/// The drawing script: $HLSTM_PLOT_SCRIPT, else <dir of the program>/../share/hlstm/hlstm_plot.py
/// (installed), else <source dir>/tools/plot/hlstm_plot.py (RuntimeError naming every path tried).
std::string scriptPath();

/// Runs the script on `input` (as checkFiles returned it) and waits for it. Its exit 1 is an InputError, every other
/// failure (a missing Python module: exit 3) a RuntimeError, with the script's one-line reason.
void run(const ToolCall& call, const std::string& input);

}  // namespace hlstm::cli::plot
