/// Subcommand registry of the `hlstm` program: each src/cli/cmd_*.cpp registers itself.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "hlstm/config/config.hpp"
#include "hlstm/core/comm.hpp"
#include "hlstm/data/input.hpp"

namespace hlstm::cli {

/// What a subcommand does once parsed: runs on every rank, returns the exit code.
using Action = std::function<int(const Comm&)>;

/// A subcommand: adds its options to `sub` and returns the action that runs it.
struct Command {
    std::string name;
    std::string help;
    std::function<Action(CLI::App& sub)> setup;
};

/// All registered subcommands (in registration order).
std::vector<Command>& commands();

/// Registers a subcommand at static-initialisation time.
struct Registrar {
    explicit Registrar(Command command) { commands().push_back(std::move(command)); }
};

/// `--config FILE` plus one `--section.key VALUE` option per configuration key; `resolve()`
/// loads the file and applies the overrides in order (call it inside the action).
class ConfigOptions {
public:
    explicit ConfigOptions(CLI::App& sub, bool requireFile = false);
    /// The resolved configuration; ConfigError on a bad file, key or value.
    [[nodiscard]] Config resolve() const;
    /// The same on top of `base` instead of the defaults (update: the earlier run's configuration).
    [[nodiscard]] Config resolve(Config base) const;

private:
    std::string file_;
    std::shared_ptr<std::vector<std::pair<std::string, std::string>>> overrides_;
};

/// `--format`, `--geometry`, `--mask`, `--input.until`, `--input.exclude_dates` of a command that reads an input file (info, predict).
struct InputOptions {
    std::string format = "auto";
    std::string geometry, mask;
    std::int64_t until = 0;                  ///< --input.until
    std::vector<std::int64_t> excludeDates;  ///< --input.exclude_dates
    /// Adds the options to `sub`.
    void add(CLI::App& sub);
    /// The reader settings (ConfigError on an unknown format).
    [[nodiscard]] ReadOptions readOptions(double minValidFraction, bool readTruth) const;
};

/// Prints the resolved configuration on root (one block, at start).
void printConfig(const Comm& comm, const Config& config);

}  // namespace hlstm::cli
