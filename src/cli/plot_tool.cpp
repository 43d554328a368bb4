#include "plot_tool.hpp"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "hlstm/core/error.hpp"
#include "hlstm/core/log.hpp"
#include "hlstm/io/hdf5.hpp"
#include "hlstm/io/output_format.hpp"
#include "run_input.hpp"

extern char** environ;

#ifndef HLSTM_PLOT_SCRIPT_DIR
#define HLSTM_PLOT_SCRIPT_DIR ""
#endif

namespace hlstm::cli::plot {
namespace fs = std::filesystem;

namespace {

constexpr char kPackages[] = "python3 python3-matplotlib python3-h5py python3-numpy";

std::string rootString(const h5::File& f, const char* name) {
    return f.hasAttribute(name) ? f.readStringAttribute(name) : std::string();
}

std::string readAll(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    std::string text = s.str();
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    return text;
}

}  // namespace

std::string checkFiles(const ToolCall& call) {
    const std::string& out = call.file;
    std::error_code ec;
    if (!fs::exists(out, ec)) throw InputError(out + ": no such file");
    if (fs::is_directory(out, ec)) throw InputError(out + ": is a directory, not an hlstm output file");
    if (!h5::isHdf5(out)) throw InputError(out + ": not an HDF5 file (expected the output of hlstm run)");
    {
        h5::File f(out, h5::Access::kReadOnly);
        const std::string format = rootString(f, output::attr::kFormat);
        if (format == output::kPredictionFormatName)
            throw InputError(out + ": an hlstm predict output (format '" + format +
                             "') holds only the next forecast; " + call.command +
                             " draws the output of hlstm run (its models' run: the root attribute models)");
        if (format != output::kFormatName)
            throw InputError(out + ": not an hlstm output file (root attribute format is '" + format + "', expected '" +
                             output::kFormatName + "')");
        if (!f.hasAttribute(output::attr::kComplete) || f.readAttribute<std::int32_t>(output::attr::kComplete) != 1)
            throw InputError(out + ": incomplete hlstm output (complete != 1): the run that wrote it did not finish");
        for (const char* needed :
             {output::points::kX, output::points::kY, output::points::kId, output::points::kVelocity})
            if (!f.exists(needed)) throw InputError(out + ": no dataset " + needed);
    }
    if (call.noHistory) return {};
    return runInputOf(out, call.input, "or --no-history to draw without the observed histories");
}

std::string pythonPath() {
    const char* env = std::getenv("HLSTM_PYTHON");
    const std::string python = env != nullptr && *env != '\0' ? env : "/usr/bin/python3";
    if (::access(python.c_str(), X_OK) != 0)
        throw RuntimeError("no Python interpreter at " + python + (env != nullptr ? " ($HLSTM_PYTHON)" : "") +
                           ": the figures are drawn with matplotlib; install the Debian packages " + kPackages +
                           " (tools/setup.sh --with-plot), or point HLSTM_PYTHON at a python3 that has them");
    return python;
}

std::string scriptPath() {
    std::vector<std::string> tried;
    if (const char* env = std::getenv("HLSTM_PLOT_SCRIPT"); env != nullptr && *env != '\0') {
        if (fs::is_regular_file(env)) return env;
        throw RuntimeError(std::string("$HLSTM_PLOT_SCRIPT names ") + env + ", which is not a file");
    }
    std::error_code ec;
    const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (!ec) tried.push_back((exe.parent_path() / ".." / "share" / "hlstm" / "hlstm_plot.py").lexically_normal());
    if (*HLSTM_PLOT_SCRIPT_DIR != '\0') tried.push_back(std::string(HLSTM_PLOT_SCRIPT_DIR) + "/hlstm_plot.py");
    for (const auto& p : tried)
        if (fs::is_regular_file(p, ec)) return p;
    std::string list;
    for (const auto& p : tried) list += (list.empty() ? "" : ", ") + p;
    throw RuntimeError("the drawing script hlstm_plot.py is missing (looked at " + list +
                       "); install hlstm (cmake --install) or set HLSTM_PLOT_SCRIPT");
}

void run(const ToolCall& call, const std::string& input) {
    const std::string python = pythonPath();
    const std::string script = scriptPath();

    std::string errorFile = (fs::temp_directory_path() / "hlstm-plot-XXXXXX").string();
    const int fd = ::mkstemp(errorFile.data());
    if (fd < 0) throw RuntimeError("cannot create a temporary file in " + fs::temp_directory_path().string());
    ::close(fd);
    struct Remove {
        std::string path;
        ~Remove() { std::remove(path.c_str()); }
    } removeLater{errorFile};

    std::vector<std::string> args{python, script,      call.command,   call.file,
                                  "-o",   call.output, "--error-file", errorFile};
    if (call.noHistory)
        args.emplace_back("--no-history");
    else
        args.insert(args.end(), {"--input", input});
    args.insert(args.end(), call.extra.begin(), call.extra.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);

    log::debug() << "running " << python << " " << script << " " << call.command;
    pid_t pid = 0;
    const int rc = ::posix_spawn(&pid, python.c_str(), nullptr, nullptr, argv.data(), environ);
    if (rc != 0) throw RuntimeError("cannot start " + python + ": " + std::strerror(rc));
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) throw RuntimeError(std::string("waiting for ") + python + ": " + std::strerror(errno));
    const std::string reason = readAll(errorFile);
    if (WIFSIGNALED(status)) throw RuntimeError(script + " was killed by signal " + std::to_string(WTERMSIG(status)));
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 2;
    if (code == 0) return;
    if (code == 1) throw InputError(reason.empty() ? call.file + ": refused by " + script : reason);
    if (code == 3)
        throw RuntimeError((reason.empty() ? python + " lacks a Python module" : reason) +
                           " (HLSTM_PYTHON overrides the interpreter)");
    throw RuntimeError(reason.empty() ? script + " failed with exit code " + std::to_string(code) : reason);
}

}  // namespace hlstm::cli::plot
