#include "hlstm/core/hash.hpp"

#include <cstdio>
#include <filesystem>
#include <system_error>
#include <vector>

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
}  // namespace

std::string fnv1a64Hex(const std::string& bytes) { return hex16(fnv1a64(bytes.data(), bytes.size())); }

std::string fileChecksum(const std::string& path) {
    // A pipe would block here (and be consumed): only regular files have a checksum.
    std::error_code ec;
    if (std::filesystem::exists(path, ec) && !std::filesystem::is_regular_file(path, ec)) return "";
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (f == nullptr) return "";
    std::uint64_t h = kFnvOffset;
    std::vector<unsigned char> buf(1 << 20);
    std::size_t n = 0;
    while ((n = std::fread(buf.data(), 1, buf.size(), f)) > 0) h = fnv1a64(buf.data(), n, h);
    std::fclose(f);
    return "fnv1a64:" + hex16(h);
}

}  // namespace hlstm
