#include "hlstm/core/hash.hpp"

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <vector>

#include "hlstm/core/comm.hpp"

namespace hlstm {

std::uint64_t fnv1a64(const void* data, std::size_t n, std::uint64_t h) noexcept {
    constexpr std::uint64_t kPrime = 1099511628211ULL;
    const auto* bytes = static_cast<const unsigned char*>(data);
    for (std::size_t i = 0; i < n; ++i) h = (h ^ bytes[i]) * kPrime;
    return h;
}

namespace {

std::string hex16(std::uint64_t h) {
    char out[17];
    std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(h));
    return out;
}

// XXH64's constants and steps (xxHash specification, "XXH64 algorithm description").
constexpr std::uint64_t kP1 = 0x9E3779B185EBCA87ULL, kP2 = 0xC2B2AE3D27D4EB4FULL, kP3 = 0x165667B19E3779F9ULL,
                        kP4 = 0x85EBCA77C2B2AE63ULL, kP5 = 0x27D4EB2F165667C5ULL;

inline std::uint64_t rotl(std::uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
// Little-endian words, as the specification reads them (the machines this builds for are).
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "xxh64 reads little-endian words with memcpy");
inline std::uint64_t read64(const unsigned char* p) {
    std::uint64_t v;
    std::memcpy(&v, p, sizeof v);
    return v;
}
inline std::uint32_t read32(const unsigned char* p) {
    std::uint32_t v;
    std::memcpy(&v, p, sizeof v);
    return v;
}
inline std::uint64_t round64(std::uint64_t acc, std::uint64_t lane) { return rotl(acc + lane * kP2, 31) * kP1; }
inline std::uint64_t merge64(std::uint64_t acc, std::uint64_t v) { return (acc ^ round64(0, v)) * kP1 + kP4; }

constexpr char kXxhTag[] = "xxh64b:";
constexpr char kFnvTag[] = "fnv1a64:";

bool regularOrAbsent(const std::string& path) {
    // A pipe would block here (and be consumed): only regular files have a checksum.
    std::error_code ec;
    return !(std::filesystem::exists(path, ec) && !std::filesystem::is_regular_file(path, ec));
}

// The digests of blocks [first, first + count) of the file (ok false when it cannot be read).
std::vector<std::uint64_t> blockDigests(const std::string& path, std::uint64_t first, std::uint64_t count, bool& ok) {
    std::vector<std::uint64_t> digests;
    ok = false;
    if (!regularOrAbsent(path)) return digests;
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (f == nullptr) return digests;
    ok = count == 0 || fseeko(f, static_cast<off_t>(first * kChecksumBlock), SEEK_SET) == 0;
    std::vector<unsigned char> buf(kChecksumBlock);
    for (std::uint64_t b = 0; ok && b < count; ++b) {
        const std::size_t n = std::fread(buf.data(), 1, buf.size(), f);
        if (n == 0) {
            ok = false;
            break;
        }
        digests.push_back(xxh64(buf.data(), n));
    }
    std::fclose(f);
    return digests;
}

std::string ofDigests(const std::vector<std::uint64_t>& digests) {
    std::vector<unsigned char> bytes(digests.size() * 8);
    for (std::size_t i = 0; i < digests.size(); ++i)
        for (int k = 0; k < 8; ++k) bytes[8 * i + k] = static_cast<unsigned char>(digests[i] >> (8 * k));
    return kXxhTag + hex16(xxh64(bytes.data(), bytes.size()));
}

// The file's size and block count; false when it is not a regular readable file.
bool blocksOf(const std::string& path, std::uint64_t& blocks) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) return false;
    const std::uintmax_t size = std::filesystem::file_size(path, ec);
    if (ec) return false;
    blocks = (size + kChecksumBlock - 1) / kChecksumBlock;
    return true;
}

}  // namespace

std::string fnv1a64Hex(const std::string& bytes) { return hex16(fnv1a64(bytes.data(), bytes.size())); }

std::uint64_t xxh64(const void* data, std::size_t n, std::uint64_t seed) noexcept {
    const auto* p = static_cast<const unsigned char*>(data);
    const unsigned char* const end = p + n;
    std::uint64_t h;
    if (n >= 32) {
        std::uint64_t v1 = seed + kP1 + kP2, v2 = seed + kP2, v3 = seed, v4 = seed - kP1;
        const unsigned char* const limit = end - 32;
        do {
            v1 = round64(v1, read64(p));
            v2 = round64(v2, read64(p + 8));
            v3 = round64(v3, read64(p + 16));
            v4 = round64(v4, read64(p + 24));
            p += 32;
        } while (p <= limit);
        h = rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18);
        h = merge64(merge64(merge64(merge64(h, v1), v2), v3), v4);
    } else {
        h = seed + kP5;
    }
    h += static_cast<std::uint64_t>(n);
    for (; p + 8 <= end; p += 8) h = rotl(h ^ round64(0, read64(p)), 27) * kP1 + kP4;
    if (p + 4 <= end) {
        h = rotl(h ^ (static_cast<std::uint64_t>(read32(p)) * kP1), 23) * kP2 + kP3;
        p += 4;
    }
    for (; p < end; ++p) h = rotl(h ^ (static_cast<std::uint64_t>(*p) * kP5), 11) * kP1;
    h ^= h >> 33;
    h *= kP2;
    h ^= h >> 29;
    h *= kP3;
    h ^= h >> 32;
    return h;
}

std::string fileChecksum(const std::string& path) {
    std::uint64_t blocks = 0;
    if (!blocksOf(path, blocks)) return "";
    bool ok = false;
    const std::vector<std::uint64_t> digests = blockDigests(path, 0, blocks, ok);
    return ok ? ofDigests(digests) : "";
}

std::string fileChecksum(const Comm& comm, const std::string& path) {
    std::uint64_t blocks = 0;
    int readable = comm.isRoot() && blocksOf(path, blocks) ? 1 : 0;
    comm.bcast(readable);
    comm.bcast(blocks);
    if (readable == 0) return "";
    // Rank r hashes its contiguous share of the blocks; the digests are gathered in rank (= file) order.
    const auto n = static_cast<std::uint64_t>(comm.size()), r = static_cast<std::uint64_t>(comm.rank());
    const std::uint64_t first = blocks * r / n, last = blocks * (r + 1) / n;
    bool ok = false;
    const std::vector<std::uint64_t> mine = blockDigests(path, first, last - first, ok);
    if (comm.allreduce(ok ? 1 : 0, Reduce::kMin) == 0) return "";
    std::string out;
    const std::vector<std::uint64_t> digests = comm.gatherv(mine);
    if (comm.isRoot()) out = ofDigests(digests);
    comm.bcast(out);
    return out;
}

std::string fileChecksumLike(const std::string& path, const std::string& stored) {
    if (stored.rfind(kFnvTag, 0) != 0) return fileChecksum(path);
    if (!regularOrAbsent(path)) return "";
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (f == nullptr) return "";
    std::uint64_t h = kFnvOffset;
    std::vector<unsigned char> buf(kChecksumBlock);
    std::size_t n = 0;
    while ((n = std::fread(buf.data(), 1, buf.size(), f)) > 0) h = fnv1a64(buf.data(), n, h);
    std::fclose(f);
    return kFnvTag + hex16(h);
}

}  // namespace hlstm
