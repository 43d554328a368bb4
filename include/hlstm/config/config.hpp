/// Configuration: a schema of every key (type, default, help), loaded from TOML files
/// (toml++) and overridden from the command line as `--section.key value`.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

namespace hlstm {

/// One configuration value: bool, integer, real, string or integer list (grid ranges).
using ConfigValue = std::variant<bool, std::int64_t, double, std::string, std::vector<std::int64_t>>;

/// A key of the schema.
struct ConfigKey {
    std::string name;   ///< dotted "section.key"
    ConfigValue value;  ///< default (its alternative is the key's type)
    std::string help;
};

/// Every key hlstm knows, with defaults (one table in src/config/schema.cpp).
const std::vector<ConfigKey>& configSchema();
/// A value as TOML text (`0.5`, `"off"`, `[24, 48]`): the printed configuration and `--help`.
std::string formatValue(const ConfigValue& value);

/// A resolved configuration. Unknown keys and wrong types are ConfigErrors naming the source.
class Config {
public:
    /// Schema defaults.
    Config();
    /// Reads a TOML file over the current values (ConfigError names file and key).
    void loadToml(const std::string& path);
    /// Parses TOML text (`source` names it in errors).
    void loadTomlText(const std::string& text, const std::string& source);
    /// Sets one key from command-line text, parsed by the key's type.
    void set(const std::string& key, const std::string& text, const std::string& source = "command line");

    [[nodiscard]] bool getBool(const std::string& key) const;
    [[nodiscard]] std::int64_t getInt(const std::string& key) const;
    [[nodiscard]] double getDouble(const std::string& key) const;
    [[nodiscard]] const std::string& getString(const std::string& key) const;
    [[nodiscard]] const std::vector<std::int64_t>& getIntList(const std::string& key) const;

    /// The resolved configuration as TOML text (printed at start, stored in outputs).
    [[nodiscard]] std::string toToml() const;

    [[nodiscard]] const std::map<std::string, ConfigValue>& values() const noexcept { return values_; }
    /// The TOML files loaded (--config), in order: inputs a command's output must never replace.
    [[nodiscard]] const std::vector<std::string>& files() const noexcept { return files_; }

private:
    const ConfigValue& lookup(const std::string& key) const;
    std::map<std::string, ConfigValue> values_;
    std::vector<std::string> files_;
};

}  // namespace hlstm
