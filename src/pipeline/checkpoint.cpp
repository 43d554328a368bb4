#include "hlstm/pipeline/checkpoint.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <boost/archive/binary_iarchive.hpp>
#include <boost/archive/binary_oarchive.hpp>
#include <boost/serialization/string.hpp>
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
#include "hlstm/io/output_file.hpp"

namespace hlstm::pipeline {
namespace {

namespace fs = std::filesystem;

constexpr char kMagic[8] = {'H', 'L', 'S', 'T', 'M', 'C', 'K', '1'};
constexpr const char* kManifest = "manifest";

std::optional<std::string> readFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

}  // namespace

CheckpointStore::CheckpointStore(const std::string& output, std::string fingerprint)
    : dir_(output + ".ckpt"), fingerprint_(std::move(fingerprint)) {}

bool CheckpointStore::open(bool resume) const {
    if (!enabled()) return false;
    std::error_code ec;
    const bool exists = fs::exists(dir_, ec);
    if (!resume) {
        if (exists)
            throw InputError(dir_ + ": checkpoints of an interrupted run with this output are here; add --resume to "
                             "continue that run, or remove the directory to start over");
        return false;
    }
    if (!exists) {
        log::info() << "--resume: no checkpoints at " << dir_ << ", starting from the beginning";
        return false;
    }
    if (!fs::is_directory(dir_, ec)) throw InputError(dir_ + ": not a directory (expected the run's checkpoints)");
    const auto manifest = get(kManifest);
    if (!manifest) {
        log::warn() << dir_ << ": no readable manifest; its records are ignored and the run starts over";
        removeAll();
        return false;
    }
    if (*manifest != fingerprint_)
        throw ConfigError(dir_ + ": the checkpoints belong to a run with another configuration, input or thread "
                          "count (fingerprint " + *manifest + ", this run " + fingerprint_ +
                          "); resume with the original settings, or remove the directory to start over");
    log::info() << "--resume: continuing from the checkpoints in " << dir_;
    return true;
}

void CheckpointStore::put(const std::string& name, const std::string& bytes) const {
    if (!enabled()) return;
    std::error_code ec;
    if (!fs::exists(fs::path(dir_) / kManifest, ec) && name != kManifest) {
        fs::create_directories(dir_, ec);
        if (ec) throw RuntimeError(dir_ + ": cannot create the checkpoint directory: " + ec.message());
        put(kManifest, fingerprint_);
    }
    const std::string path = (fs::path(dir_) / name).string();
    // Unique per process: ranks may write the manifest at the same time.
    const std::string tmp = path + ".tmp." + std::to_string(::getpid());
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        const std::uint64_t size = bytes.size(), sum = fnv1a64(bytes.data(), bytes.size());
        out.write(kMagic, sizeof kMagic);
        out.write(reinterpret_cast<const char*>(&size), sizeof size);
        out.write(reinterpret_cast<const char*>(&sum), sizeof sum);
        out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
        out.flush();
        if (!out) {
            fs::remove(tmp, ec);
            throw RuntimeError(tmp + ": cannot write the checkpoint (disk full?)");
        }
    }
    h5::syncPath(tmp, O_RDONLY);
    fs::rename(tmp, path, ec);
    if (ec) {
        fs::remove(tmp, ec);
        throw RuntimeError(path + ": cannot rename the checkpoint into place");
    }
    h5::syncPath(dir_, O_RDONLY | O_DIRECTORY);
}

std::optional<std::string> CheckpointStore::get(const std::string& name) const {
    if (!enabled()) return std::nullopt;
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
