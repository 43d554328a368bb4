// The project's hashes (FNV-1a 64, XXH64): published test vectors, streaming, and file checksums.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "hlstm/core/hash.hpp"

using namespace hlstm;

TEST(Hash, Fnv1a64TestVectors) {
    // From the FNV reference test suite (Noll): "", "a", "foobar".
    EXPECT_EQ(fnv1a64("", 0), 0xcbf29ce484222325ULL);
    EXPECT_EQ(fnv1a64("a", 1), 0xaf63dc4c8601ec8cULL);
    EXPECT_EQ(fnv1a64("foobar", 6), 0x85944171f73967e8ULL);
    EXPECT_EQ(fnv1a64Hex("foobar"), "85944171f73967e8");
    // Streaming in pieces gives the hash of the whole.
    EXPECT_EQ(fnv1a64("bar", 3, fnv1a64("foo", 3)), fnv1a64("foobar", 6));
}

namespace {
// (i * 131) mod 251: bytes that differ from their neighbours and repeat only after 251.
std::string patterned(std::size_t n) {
    std::string bytes(n, '\0');
    for (std::size_t i = 0; i < n; ++i) bytes[i] = static_cast<char>((i * 131) % 251);
    return bytes;
}
std::string written(const std::string& name, const std::string& bytes) {
    const std::string path = (std::filesystem::temp_directory_path() / name).string();
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (f == nullptr || std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size()) return "";
    std::fclose(f);
    return path;
}
}  // namespace

TEST(Hash, Xxh64TestVectors) {
    // xxHash's own: "" and "abc" (its documentation and xxhsum -H1), "a", "ABC", "xxhash"
    // (ClickHouse's and the Nim binding's tests); 37 and 100 patterned bytes (xxhsum 0.8.1 -H1:
    // the 32-byte stripes, then 8-, 4- and 1-byte tails).
    EXPECT_EQ(xxh64("", 0), 0xef46db3751d8e999ULL);
    EXPECT_EQ(xxh64("abc", 3), 0x44bc2cf5ad770999ULL);
    EXPECT_EQ(xxh64("a", 1), 15154266338359012955ULL);
    EXPECT_EQ(xxh64("ABC", 3), 0xe66ae7354fcfee98ULL);
    EXPECT_EQ(xxh64("xxhash", 6), 0x32dd38952c4bc720ULL);
    const std::string p = patterned(100);
    EXPECT_EQ(xxh64(p.data(), 37), 0x0638c972d673a35aULL);
    EXPECT_EQ(xxh64(p.data(), 100), 0xf16c2de419ab913cULL);
    EXPECT_NE(xxh64(p.data(), 100, 1), xxh64(p.data(), 100));  // the seed enters
}

TEST(Hash, FileChecksumIsTheHashOfItsBlocksDigests) {
    const std::string bytes = patterned(3 * kChecksumBlock + 17);  // three whole blocks and a short one
    const std::string path = written("hlstm-test-hash.bin", bytes);
    ASSERT_FALSE(path.empty());
    std::vector<unsigned char> digests;
    for (std::size_t at = 0; at < bytes.size(); at += kChecksumBlock) {
        const std::uint64_t d = xxh64(bytes.data() + at, std::min(kChecksumBlock, bytes.size() - at));
        for (int k = 0; k < 8; ++k) digests.push_back(static_cast<unsigned char>(d >> (8 * k)));
    }
    ASSERT_EQ(digests.size(), 32u);
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(xxh64(digests.data(), digests.size())));
    EXPECT_EQ(fileChecksum(path), std::string("xxh64b:") + hex);
    // One byte changed anywhere changes it.
    std::string changed = bytes;
    changed[2 * kChecksumBlock + 5] ^= 1;
    EXPECT_NE(fileChecksum(written("hlstm-test-hash2.bin", changed)), fileChecksum(path));
    // An older output's FNV-1a checksum is recomputed the same way to compare with it.
    EXPECT_EQ(fileChecksumLike(path, "fnv1a64:0123456789abcdef"), "fnv1a64:" + fnv1a64Hex(bytes));
    EXPECT_EQ(fileChecksumLike(path, "xxh64b:0123456789abcdef"), fileChecksum(path));
    // Empty: its hash is that of no digests.
    char none[17];
    std::snprintf(none, sizeof none, "%016llx", static_cast<unsigned long long>(xxh64("", 0)));
    EXPECT_EQ(fileChecksum(written("hlstm-test-hash3.bin", "")), std::string("xxh64b:") + none);
    for (const char* name : {"hlstm-test-hash.bin", "hlstm-test-hash2.bin", "hlstm-test-hash3.bin"})
        std::filesystem::remove(std::filesystem::temp_directory_path() / name);
    EXPECT_EQ(fileChecksum(path), "");  // unreadable: empty
    EXPECT_EQ(fileChecksumLike(path, "fnv1a64:0123456789abcdef"), "");
}
