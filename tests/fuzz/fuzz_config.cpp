// libFuzzer harness 1: a TOML configuration file, as `hlstm run --config FILE` reads it.
// The input is the file's text, loaded over the schema defaults (ConfigOptions::resolve in
// src/cli/command.cpp builds the Config the same way); a loaded configuration is then printed,
// read through every typed getter and turned into training/model settings
// (fuzz_config_checks.hpp). Expected: success or an hlstm::Error; see fuzz_common.hpp.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_config_checks.hpp"

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
    hlstm::fuzz::maybeWriteSeeds(/*overrides=*/false);
    hlstm::fuzz::installTally();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    hlstm::Config config;  // schema defaults
    if (!hlstm::fuzz::expected("Config::loadTomlText", [&] { config.loadTomlText(text, "fuzz"); })) return 0;
    ++hlstm::fuzz::tally()["loaded"];
    hlstm::fuzz::exerciseResolved(config, data, size);
    return 0;
}
