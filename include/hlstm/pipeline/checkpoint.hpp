/// Checkpoints of one `hlstm run` (DESIGN 5: never lose cluster time): named records in the
/// directory `<output>.ckpt`, each written atomically (temporary file, fsync, rename, fsync of
/// the directory) with a length and a checksum, so that a record is either whole or ignored.
/// A manifest holds the run's fingerprint (configuration, input checksum, threads, version):
/// `--resume` continues only the run that wrote them. Rank-local; any rank may write records
/// (the directory must be on a file system every rank sees, as the output's is).
#pragma once

#include <optional>
#include <string>

namespace hlstm::pipeline {

class CheckpointStore {
public:
    /// No checkpoints (a dry run): put/get do nothing.
    CheckpointStore() = default;
    /// The store of `output`; nothing is created before the first put().
    CheckpointStore(const std::string& output, std::string fingerprint);

    /// Run start, on one rank. Without `resume`, existing checkpoints are an error (InputError
    /// naming the directory: add --resume or remove it). With `resume`, a manifest of another
    /// fingerprint is a ConfigError; no directory means nothing to resume (returns false).
    /// Returns whether there are checkpoints to continue from.
    bool open(bool resume) const;

    [[nodiscard]] bool enabled() const noexcept { return !dir_.empty(); }
    [[nodiscard]] const std::string& dir() const noexcept { return dir_; }

    /// Writes record `name` atomically (creating the directory and its manifest first).
    void put(const std::string& name, const std::string& bytes) const;
    /// Record `name`, or nothing when it is missing; a damaged record (wrong length or
    /// checksum) is logged and treated as missing.
    [[nodiscard]] std::optional<std::string> get(const std::string& name) const;
    /// Removes record `name` if present.
    void remove(const std::string& name) const;
    /// Removes the whole directory (after the output is complete).
    void removeAll() const;

private:
    std::string dir_, fingerprint_;
};

/// FNV-1a 64 of bytes, as 16 hex digits.
std::string fnv1a64(const std::string& bytes);

}  // namespace hlstm::pipeline
