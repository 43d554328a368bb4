/// The project's hashes. FNV-1a 64: checkpoint records and run fingerprints (short strings).
/// XXH64: the input checksum stored in every output, over a file's 1 MiB blocks so that ranks
/// share a national archive's bytes. Neither is cryptographic: they detect damage and change.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace hlstm {

class Comm;

/// FNV-1a 64 offset basis: the hash of nothing.
inline constexpr std::uint64_t kFnvOffset = 14695981039346656037ULL;  // 0xcbf29ce484222325

/// FNV-1a 64 of `n` bytes, continuing from `h` (kFnvOffset to start).
std::uint64_t fnv1a64(const void* data, std::size_t n, std::uint64_t h = kFnvOffset) noexcept;

/// FNV-1a 64 of `bytes` as 16 lower-case hex digits.
std::string fnv1a64Hex(const std::string& bytes);

/// XXH64 of `n` bytes (xxHash's 64-bit hash, Collet's specification) with `seed`.
std::uint64_t xxh64(const void* data, std::size_t n, std::uint64_t seed = 0) noexcept;

/// The input checksum's blocks: the file's bytes in pieces of this size (the last shorter).
inline constexpr std::size_t kChecksumBlock = std::size_t{1} << 20;

/// "xxh64b:" and 16 hex digits: XXH64 (seed 0) of the file's block digests (each block's
/// XXH64, seed 0, as 8 little-endian bytes, in file order). Empty when `path` is not a regular
/// file or cannot be read. About 10x faster than FNV-1a, whose byte-serial loop took 11 s of a
/// 5,000,000-point archive (8 GB) on one rank while the others waited.
std::string fileChecksum(const std::string& path);

/// fileChecksum with the blocks shared by the ranks of `comm` (collective; every rank returns
/// the same string, the one fileChecksum gives, for any number of ranks). Empty on every rank
/// when any rank cannot read the file.
std::string fileChecksum(const Comm& comm, const std::string& path);

/// The checksum of `path` made the way `stored` was, to compare with it: "fnv1a64:..." (outputs
/// written before the XXH64 checksum) or fileChecksum's.
std::string fileChecksumLike(const std::string& path, const std::string& stored);

}  // namespace hlstm
