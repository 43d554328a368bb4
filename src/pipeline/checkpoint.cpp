#include "hlstm/pipeline/checkpoint.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <boost/archive/binary_iarchive.hpp>
#include <boost/archive/binary_oarchive.hpp>
#include <boost/serialization/string.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#include "hlstm/core/error.hpp"
#include "hlstm/core/hash.hpp"
#include "hlstm/core/log.hpp"
#include "hlstm/io/atomic_file.hpp"

namespace hlstm::pipeline {
namespace {

namespace fs = std::filesystem;

constexpr char kMagic[8] = {'H', 'L', 'S', 'T', 'M', 'C', 'K', '1'};
constexpr const char* kManifest = "manifest";
// Separates the fingerprint from the run id in an identity and in the manifest.
constexpr const char* kRunTag = "\nrun=";

std::optional<std::string> readFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

}  // namespace

CheckpointStore::CheckpointStore(const std::string& output, std::string identity) : dir_(output + ".ckpt") {
    const auto cut = identity.rfind(kRunTag);
    fingerprint_ = identity.substr(0, cut);
    if (cut != std::string::npos) runId_ = identity.substr(cut + std::strlen(kRunTag));
}

std::string CheckpointStore::begin(const std::string& output, const std::string& fingerprint, bool resume) {
    CheckpointStore probe(output, fingerprint);
    std::string run;
    if (probe.open(resume, &run)) return fingerprint + kRunTag + run;
    // A new run: an id no other run has (host, pid, time).
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    const auto now = std::chrono::system_clock::now().time_since_epoch().count();
    return fingerprint + kRunTag +
           fnv1a64Hex(std::string(host) + ":" + std::to_string(::getpid()) + ":" + std::to_string(now));
}

bool CheckpointStore::open(bool resume, std::string* runId) const {
    if (!enabled()) return false;
    std::error_code ec;
    const bool exists = fs::exists(dir_, ec);
    if (!resume) {
        if (exists)
            throw InputError(dir_ +
                             ": checkpoints of an interrupted run with this output are here; add --resume to "
                             "continue that run, or remove the directory to start over");
        return false;
    }
    if (!exists) {
        log::info() << "--resume: no checkpoints at " << dir_ << ", starting from the beginning";
        return false;
    }
    if (!fs::is_directory(dir_, ec)) throw InputError(dir_ + ": not a directory (expected the run's checkpoints)");
    const auto manifest = getRecord(kManifest);
    if (!manifest) {
        log::warn() << dir_ << ": no readable manifest; its records are ignored and the run starts over";
        removeAll();
        return false;
    }
    const auto cut = manifest->rfind(kRunTag);
    const std::string theirs = manifest->substr(0, cut);
    if (theirs != fingerprint_)
        throw ConfigError(dir_ +
                          ": the checkpoints belong to a run with another configuration, input or thread "
                          "count (fingerprint " +
                          theirs + ", this run " + fingerprint_ +
                          "); resume with the original settings, or remove the directory to start over");
    if (runId != nullptr)
        *runId = cut == std::string::npos ? std::string() : manifest->substr(cut + std::strlen(kRunTag));
    log::info() << "--resume: continuing from the checkpoints in " << dir_;
    return true;
}

void CheckpointStore::put(const std::string& name, const std::string& bytes) const {
    if (!enabled()) return;
    std::error_code ec;
    const fs::path manifestPath = fs::path(dir_) / kManifest;
    if (name != kManifest) {
        if (!fs::exists(manifestPath, ec)) {
            fs::create_directories(dir_, ec);
            if (ec) throw RuntimeError(dir_ + ": cannot create the checkpoint directory: " + ec.message());
            put(kManifest, fingerprint_ + kRunTag + runId_);
        } else if (const auto manifest = getRecord(kManifest);
                   manifest && manifest->substr(manifest->rfind(kRunTag) == std::string::npos
                                                    ? manifest->size()
                                                    : manifest->rfind(kRunTag) + std::strlen(kRunTag)) != runId_) {
            // Another run's directory (a second run with this output, without the lock): never mix.
            throw RuntimeError(dir_ +
                               ": the checkpoints here belong to another run with this output; two runs "
                               "must not share an output");
        }
    }
    const std::string path = (fs::path(dir_) / name).string();
    // Unique per process: ranks may write the manifest at the same time.
    io::AtomicFile file(path, path + ".tmp." + std::to_string(::getpid()));
    {
        // The payload starts with the run's id, so a record of another run is never loaded.
        const std::string payload = (name == kManifest ? std::string() : runLine()) + bytes;
        std::ofstream out(file.tmpPath(), std::ios::binary | std::ios::trunc);
        const std::uint64_t size = payload.size(), sum = fnv1a64(payload.data(), payload.size());
        out.write(kMagic, sizeof kMagic);
        out.write(reinterpret_cast<const char*>(&size), sizeof size);
        out.write(reinterpret_cast<const char*>(&sum), sizeof sum);
        out.write(payload.data(), static_cast<std::streamsize>(payload.size()));
        out.flush();
        if (!out) throw RuntimeError(file.tmpPath() + ": cannot write the checkpoint (disk full?)");
    }
    file.commit();
}

std::optional<std::string> CheckpointStore::get(const std::string& name) const {
    if (!enabled()) return std::nullopt;
    const std::string line = runLine();
    auto data = getRecord(name);
    if (!data) return std::nullopt;
    if (data->compare(0, line.size(), line) != 0) {
        log::warn() << (fs::path(dir_) / name).string() << ": a checkpoint of another run, ignored";
        return std::nullopt;
    }
    return data->substr(line.size());
}

std::optional<std::string> CheckpointStore::getRecord(const std::string& name) const {
    const std::string path = (fs::path(dir_) / name).string();
    auto data = readFile(path);
    if (!data) return std::nullopt;
    constexpr std::size_t kHeader = sizeof kMagic + 2 * sizeof(std::uint64_t);
    std::uint64_t size = 0, sum = 0;
    if (data->size() >= kHeader) {
        std::memcpy(&size, data->data() + sizeof kMagic, sizeof size);
        std::memcpy(&sum, data->data() + sizeof kMagic + sizeof size, sizeof sum);
    }
    if (data->size() < kHeader || std::memcmp(data->data(), kMagic, sizeof kMagic) != 0 ||
        size != data->size() - kHeader || fnv1a64(data->data() + kHeader, size) != sum) {
        log::warn() << path << ": damaged checkpoint (length or checksum), ignored";
        return std::nullopt;
    }
    return data->substr(kHeader);
}

std::string CheckpointStore::runLine() const { return "run=" + runId_ + "\n"; }

void CheckpointStore::remove(const std::string& name) const {
    if (!enabled()) return;
    std::error_code ec;
    fs::remove(fs::path(dir_) / name, ec);
}

void CheckpointStore::removeAll() const {
    if (!enabled()) return;
    std::error_code ec;
    fs::remove_all(dir_, ec);
    if (ec) log::warn() << dir_ << ": could not remove the checkpoints: " << ec.message();
}

std::string stateRecord(const model::TrainState& state) {
    std::ostringstream stream(std::ios::binary);
    {
        boost::archive::binary_oarchive archive(stream);
        archive << state;
    }
    return stream.str();
}

model::TrainState stateFromRecord(const std::string& bytes, const std::string& where) {
    try {
        std::istringstream stream(bytes, std::ios::binary);
        boost::archive::binary_iarchive archive(stream);
        model::TrainState state;
        archive >> state;
        return state;
    } catch (const std::exception& e) {
        throw InputError(where + ": unreadable training state (" + e.what() + ")");
    }
}

}  // namespace hlstm::pipeline
