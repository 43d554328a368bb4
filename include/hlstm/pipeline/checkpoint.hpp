/// Checkpoints of one `hlstm run` (never lose cluster time): named records in the
/// directory `<output>.ckpt`, each written atomically (temporary file, fsync, rename, fsync of
/// the directory) with a length and a checksum, so that a record is either whole or ignored.
/// A manifest holds the run's fingerprint (configuration, input checksum, threads, version)
/// and its run id, and every record starts with the run id: `--resume` continues only the run
/// that wrote them, and a run never loads another run's records. Rank-local; any rank may write records
/// (the directory must be on a file system every rank sees, as the output's is).
#pragma once

#include <cstring>
#include <optional>
#include <string>
#include <type_traits>

#include "hlstm/model/model.hpp"

namespace hlstm::pipeline {

class CheckpointStore {
public:
    /// No checkpoints (a dry run): put/get do nothing.
    CheckpointStore() = default;
    /// The store of `output` for the run `identity` (begin()'s result; a bare fingerprint is a
    /// run with an empty id); nothing is created before the first put().
    CheckpointStore(const std::string& output, std::string identity);

    /// Run start, on one rank: open(resume), then this run's identity (the fingerprint and a
    /// run id: the manifest's when resuming, a new one otherwise). Broadcast it and construct
    /// every rank's store with it.
    static std::string begin(const std::string& output, const std::string& fingerprint, bool resume);

    /// Run start, on one rank. Without `resume`, existing checkpoints are an error (InputError
    /// naming the directory: add --resume or remove it). With `resume`, a manifest of another
    /// fingerprint is a ConfigError; no directory means nothing to resume (returns false).
    /// Returns whether there are checkpoints to continue from (and their run id in `runId`).
    bool open(bool resume, std::string* runId = nullptr) const;

    [[nodiscard]] bool enabled() const noexcept { return !dir_.empty(); }
    [[nodiscard]] const std::string& dir() const noexcept { return dir_; }

    /// Writes record `name` atomically (creating the directory and its manifest first); a
    /// directory whose manifest names another run is a RuntimeError (never mixed).
    void put(const std::string& name, const std::string& bytes) const;
    /// Record `name`, or nothing when it is missing; a damaged record (wrong length or
    /// checksum) or a record of another run is logged and treated as missing.
    [[nodiscard]] std::optional<std::string> get(const std::string& name) const;
    /// Removes record `name` if present.
    void remove(const std::string& name) const;
    /// Removes the whole directory (after the output is complete).
    void removeAll() const;

private:
    [[nodiscard]] std::optional<std::string> getRecord(const std::string& name) const;  // checked, with its run line
    [[nodiscard]] std::string runLine() const;
    std::string dir_, fingerprint_, runId_;
};

// ---------------------------------------------------------------- record formats
/// A training state's record (Boost binary archive).
std::string stateRecord(const model::TrainState& state);
/// The training state of a record; InputError naming `where` when it cannot be read.
model::TrainState stateFromRecord(const std::string& bytes, const std::string& where);

/// A finished candidate's record: its fixed-size result, then its model's bytes.
template <class Result> std::string finishedRecord(const Result& r, const model::Model& m) {
    static_assert(std::is_trivially_copyable_v<Result>);
    std::string bytes(sizeof r, '\0');
    std::memcpy(bytes.data(), &r, sizeof r);
    return bytes + model::toBytes(m);
}
/// The result (into `r`) and the model of a finished candidate's record (longer than the result).
template <class Result> model::Model finishedFrom(const std::string& record, Result& r) {
    static_assert(std::is_trivially_copyable_v<Result>);
    std::memcpy(&r, record.data(), sizeof r);
    return model::modelFromBytes(record.substr(sizeof r));
}

}  // namespace hlstm::pipeline
