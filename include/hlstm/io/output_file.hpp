/// The one atomic writer of every command's output file (no partial output, no
/// lost input): refuses a path that is, or resolves to, one of the command's inputs, writes
/// `<path>.tmp` (the caller writes `complete = 1` last), fsyncs it, renames it into place,
/// and removes `<path>.tmp` on every failure path. Collective over the communicator.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "hlstm/core/comm.hpp"
#include "hlstm/io/atomic_file.hpp"
#include "hlstm/io/hdf5.hpp"

namespace hlstm::h5 {

using io::syncPath;

class AtomicOutput {
public:
    /// Checks on root, agreed by every rank (io::checkOutputPath): `path` is not empty, not a
    /// directory, its directory exists, and neither it nor `<path>.tmp`, `.ckpt`, `.lock` is
    /// (or holds) any of `inputs` (every file the command reads: input, config, mask, geometry,
    /// models; `whats` names their options). Then root takes `<path>.lock` (io::OutputLock) for
    /// the object's life: a second command writing the same output is refused. Throws
    /// ConfigError / InputError on every rank. Call it before the expensive work.
    AtomicOutput(const Comm& comm, std::string path, const std::vector<std::string>& inputs,
                 const std::vector<std::string>& whats = {});
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
    std::unique_ptr<io::OutputLock> lock_;  // root only
    bool committed_ = false;
};

}  // namespace hlstm::h5
