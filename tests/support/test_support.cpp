#include "test_support.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <boost/serialization/string.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

namespace hlstm::test {

TempDir::TempDir() {
    std::string templ = (std::filesystem::temp_directory_path() / "hlstm-test-XXXXXX").string();
    if (mkdtemp(templ.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = templ;
}

TempDir::TempDir(const Comm& comm) : owner_(comm.isRoot()), comm_(&comm) {
    if (comm.isRoot()) {
        std::string templ = (std::filesystem::temp_directory_path() / "hlstm-test-XXXXXX").string();
        if (mkdtemp(templ.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
        path_ = templ;
    }
    comm.bcast(path_);
}

TempDir::~TempDir() {
    if (comm_ != nullptr) MPI_Barrier(comm_->raw());  // nobody still reads the files
    if (!owner_) return;
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
}

CommandResult run(const std::string& command, int timeoutSeconds) {
    CommandResult result;
    std::string full = "timeout -k 5 " + std::to_string(timeoutSeconds) + " " + command + " 2>&1";
    FILE* pipe = popen(full.c_str(), "r");
    if (pipe == nullptr) return result;
    std::array<char, 4096> buf{};
    std::size_t n = 0;
    while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) result.output.append(buf.data(), n);
    int status = pclose(pipe);
    result.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return result;
}

std::string hlstmBinary() { return HLSTM_BINARY; }

std::string hlstmUnderMpi(int ranks) {
    std::string cmd = std::string(HLSTM_MPIEXEC) + " -n " + std::to_string(ranks) + " --oversubscribe --bind-to none";
    if (geteuid() == 0) cmd += " --allow-run-as-root";
    return cmd + " " + hlstmBinary();
}

}  // namespace hlstm::test
