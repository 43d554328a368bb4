// The project's one hash (FNV-1a 64): published test vectors, streaming, and file checksums.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <string>

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

TEST(Hash, FileChecksumIsTheHashOfItsBytes) {
    const std::string path = (std::filesystem::temp_directory_path() / "hlstm-test-hash.bin").string();
    std::string bytes(3 * (1 << 20) + 17, '\0');  // crosses the 1 MiB read pieces
    for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>((i * 131) % 251);
    std::FILE* f = std::fopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    ASSERT_EQ(std::fwrite(bytes.data(), 1, bytes.size(), f), bytes.size());
    std::fclose(f);
    EXPECT_EQ(fileChecksum(path), "fnv1a64:" + fnv1a64Hex(bytes));
    std::filesystem::remove(path);
    EXPECT_EQ(fileChecksum(path), "");  // unreadable: empty
}
