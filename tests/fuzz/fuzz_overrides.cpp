// libFuzzer harness 2: one command-line override `--section.key VALUE`, as
// ConfigOptions::resolve (src/cli/command.cpp) applies it with Config::set. The input is split
// at its first NUL or '=' byte into key and value text (no separator: all key, empty value);
// an accepted override is then printed, read through every typed getter and turned into
// training/model settings (fuzz_config_checks.hpp). Expected: success or an hlstm::Error.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_config_checks.hpp"

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
    hlstm::fuzz::maybeWriteSeeds(/*overrides=*/true);
    hlstm::fuzz::installTally();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string input(reinterpret_cast<const char*>(data), size);
    const std::size_t cut = input.find_first_of(std::string("\0=", 2));
    const std::string key = input.substr(0, cut);
    const std::string value = cut == std::string::npos ? std::string() : input.substr(cut + 1);
    hlstm::Config config;  // schema defaults
    if (!hlstm::fuzz::expected("Config::set", [&] { config.set(key, value, "command line"); })) return 0;
    ++hlstm::fuzz::tally()["accepted"];
    hlstm::fuzz::exerciseResolved(config, data, size);
    return 0;
}
