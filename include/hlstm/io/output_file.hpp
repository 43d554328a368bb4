/// The one atomic writer of every command's output file (DESIGN 5: no partial output, no
/// lost input): refuses a path that is, or resolves to, one of the command's inputs, writes
/// `<path>.tmp` (the caller writes `complete = 1` last), fsyncs it, renames it into place,
/// and removes `<path>.tmp` on every failure path. Collective over the communicator.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "hlstm/core/comm.hpp"
#include "hlstm/io/hdf5.hpp"

namespace hlstm::h5 {

/// fsync of a file (O_RDONLY) or directory (O_RDONLY | O_DIRECTORY); a failure is a
/// RuntimeError (the data may not be on disk).
void syncPath(const std::string& path, int flags);

class AtomicOutput {
public:
    /// Checks on root, agreed by every rank: `path` is not empty, not a directory, not (the
    /// same file as) any of `inputs`, and its directory exists. Throws ConfigError / InputError
    /// on every rank. Call it before the expensive work, so a bad path fails at once.
    AtomicOutput(const Comm& comm, std::string path, const std::vector<std::string>& inputs);
    /// Removes `<path>.tmp` unless the file was committed (root; never throws).
    ~AtomicOutput();
    AtomicOutput(const AtomicOutput&) = delete;
    AtomicOutput& operator=(const AtomicOutput&) = delete;

    /// Creates `<path>.tmp` as a parallel file, lets `fill` write it (collective), closes it,
    /// fsyncs and renames it to `path`. A failure on any rank reaches every rank (`phase`
    /// names it) and leaves neither file.
    void write(const std::string& phase, const std::function<void(File&)>& fill);

    [[nodiscard]] const std::string& path() const noexcept { return path_; }
    [[nodiscard]] const std::string& tmpPath() const noexcept { return tmp_; }

private:
    const Comm& comm_;
    std::string path_, tmp_;
    bool committed_ = false;
};

}  // namespace hlstm::h5
