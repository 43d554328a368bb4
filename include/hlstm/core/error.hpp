/// Typed exceptions of hlstm and the exit codes `main` maps them to.
#pragma once

#include <stdexcept>
#include <string>

namespace hlstm {

/// Process exit codes (README: exit codes).
enum class ExitCode : int { kOk = 0, kBadInput = 1, kRuntime = 2, kRequeue = 3 };

/// Base of every hlstm exception; carries the exit code it should end the program with.
class Error : public std::runtime_error {
public:
    Error(ExitCode code, const std::string& what) : std::runtime_error(what), code_(code) {}
    [[nodiscard]] ExitCode code() const noexcept { return code_; }

private:
    ExitCode code_;
};

/// Bad input data: the message names the file, dataset/column and index. Exit code 1.
class InputError : public Error {
public:
    explicit InputError(const std::string& what) : Error(ExitCode::kBadInput, what) {}
};

/// Bad configuration or command line. Exit code 1.
class ConfigError : public Error {
public:
    explicit ConfigError(const std::string& what) : Error(ExitCode::kBadInput, what) {}
};

/// Failure while running (library error, I/O, numerical breakdown). Exit code 2.
class RuntimeError : public Error {
public:
    explicit RuntimeError(const std::string& what) : Error(ExitCode::kRuntime, what) {}
};

/// An HDF5 call failed; the message holds HDF5's own error stack.
class H5Error : public RuntimeError {
public:
    using RuntimeError::RuntimeError;
};

/// An MPI call failed; the message holds MPI's error string.
class MpiError : public RuntimeError {
public:
    using RuntimeError::RuntimeError;
};

/// Another rank failed in a coordinated phase; this rank stops too.
class RemoteError : public Error {
public:
    RemoteError(ExitCode code, int rank, const std::string& what) : Error(code, what), rank_(rank) {}
    [[nodiscard]] int failedRank() const noexcept { return rank_; }

private:
    int rank_;
};

}  // namespace hlstm
