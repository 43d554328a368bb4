/// Helpers shared by hlstm's tests: temporary directories and running the real program.
#pragma once

#include <string>

#include "hlstm/core/comm.hpp"

namespace hlstm::test {

/// A fresh directory removed on destruction. With a Comm, rank 0 creates it and every rank
/// gets the same path (collective).
class TempDir {
public:
    TempDir();
    explicit TempDir(const Comm& comm);
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    ~TempDir();
    [[nodiscard]] const std::string& path() const noexcept { return path_; }
    [[nodiscard]] std::string file(const std::string& name) const { return path_ + "/" + name; }

private:
    std::string path_;
    bool owner_ = true;
    const Comm* comm_ = nullptr;
};

/// Result of a finished command.
struct CommandResult {
    int exitCode = -1;
    std::string output;  ///< stdout and stderr together
};

/// Runs a shell command (with a `timeout` guard) and captures its output.
CommandResult run(const std::string& command, int timeoutSeconds = 120);

/// Absolute path of the built `hlstm` program.
std::string hlstmBinary();
/// "mpiexec -n <ranks> --oversubscribe ... <hlstm>" prefix for running the program.
std::string hlstmUnderMpi(int ranks);

}  // namespace hlstm::test
