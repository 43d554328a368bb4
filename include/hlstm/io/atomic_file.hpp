/// The one atomic-file primitive of every output (no partial output, no lost input):
/// the path checks every command makes before any work, and a file written under a temporary
/// name, fsynced, renamed into place and removed on every failure path. Used by the HDF5
/// writer (h5::AtomicOutput), the GIS export and the checkpoint records. Not collective.
#pragma once

#include <string>
#include <vector>

namespace hlstm::io {

/// fsync of a file (O_RDONLY) or directory (O_RDONLY | O_DIRECTORY); a failure is a
/// RuntimeError naming the path (the data may not be on disk).
void syncPath(const std::string& path, int flags);

/// The paths next to an output that belong to it: `<path>.tmp`, `<path>.ckpt` (checkpoints,
/// a directory) and `<path>.lock` (the run's lock).
std::vector<std::string> outputSidePaths(const std::string& path);

/// Refuses, before any work, an output `path` that is empty (ConfigError), a directory, in a
/// missing directory, or that would replace or remove one of `inputs`: an input that is (or
/// resolves to, by inode or by normalised path) `path`, `<path>.tmp`, `<path>.lock`, or
/// `<path>.ckpt` or a file inside it, is an InputError naming both paths and the option
/// `what` of the input ("--input.mask", ...; `whats` parallel to `inputs`, may be shorter).
/// An existing regular file at `path` is allowed (the command replaces it when it completes) and
/// named in a warning with its size and modification time.
void checkOutputPath(const std::string& path, const std::vector<std::string>& inputs,
                     const std::vector<std::string>& whats = {});

/// A file written as `tmp` (default `<path>.tmp`) and renamed to `path` by commit(). The
/// destructor removes `tmp` (and `tmp` + each side suffix, e.g. SQLite's "-journal") unless
/// committed; it never throws.
class AtomicFile {
public:
    explicit AtomicFile(std::string path, std::string tmp = {}, std::vector<std::string> sideSuffixes = {});
    ~AtomicFile();
    AtomicFile(const AtomicFile&) = delete;
    AtomicFile& operator=(const AtomicFile&) = delete;

    /// Removes `tmp` and its side files now (a stale one from a killed run, or after a failure).
    void discard() noexcept;
    /// fsyncs `tmp`, renames it over `path` and fsyncs the directory. RuntimeError naming the
    /// path on a failure (then `tmp` is removed too). HLSTM_ENOSPC_INJECT=<path suffix> makes
    /// the commit of a path ending in it fail as a full disk would (tests).
    void commit();

    [[nodiscard]] const std::string& path() const noexcept { return path_; }
    [[nodiscard]] const std::string& tmpPath() const noexcept { return tmp_; }
    [[nodiscard]] bool committed() const noexcept { return committed_; }

private:
    std::string path_, tmp_;
    std::vector<std::string> sides_;
    bool committed_ = false;
};

/// One writer per output: an fcntl write lock on `<output>.lock`, held from construction to
/// destruction by this process (the kernel releases it when the process dies, so a killed
/// run never leaves a stale lock). A second process asking for the lock of the same output
/// gets an InputError naming the holder (pid and host); a directory where the lock file
/// cannot be created is an InputError too (the output could not be written there either).
class OutputLock {
public:
    explicit OutputLock(const std::string& output);
    ~OutputLock();
    OutputLock(const OutputLock&) = delete;
    OutputLock& operator=(const OutputLock&) = delete;
    [[nodiscard]] const std::string& path() const noexcept { return path_; }

private:
    std::string path_;
    int fd_ = -1;
};

/// Free bytes for an unprivileged writer on the file system of `path`'s directory (the
/// injected full disk counts as 0); +inf when unknown.
double freeBytes(const std::string& path);

/// Whether HLSTM_ENOSPC_INJECT names `path` (it ends in the variable's value): tests make a
/// write of that file fail as on a full disk.
bool enospcInjected(const std::string& path);

}  // namespace hlstm::io
