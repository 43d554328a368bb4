/// The one hash of the project: FNV-1a 64 (checkpoint records, run fingerprints, the input
/// checksum stored in every output). Not cryptographic: it detects damage and change.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace hlstm {

/// FNV-1a 64 offset basis: the hash of nothing.
inline constexpr std::uint64_t kFnvOffset = 14695981039346656037ULL;  // 0xcbf29ce484222325

/// FNV-1a 64 of `n` bytes, continuing from `h` (kFnvOffset to start).
std::uint64_t fnv1a64(const void* data, std::size_t n, std::uint64_t h = kFnvOffset) noexcept;

/// FNV-1a 64 of `bytes` as 16 lower-case hex digits.
std::string fnv1a64Hex(const std::string& bytes);

/// "fnv1a64:" and the 16 hex digits of the whole file at `path`, read in 1 MiB pieces;
/// empty when the file cannot be opened.
std::string fileChecksum(const std::string& path);

}  // namespace hlstm
