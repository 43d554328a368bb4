#include "command.hpp"

#include "hlstm/core/log.hpp"

namespace hlstm::cli {

std::vector<Command>& commands() {
    static std::vector<Command> list;
    return list;
}

ConfigOptions::ConfigOptions(CLI::App& sub, bool requireFile)
    : overrides_(std::make_shared<std::vector<std::pair<std::string, std::string>>>()) {
    auto* opt = sub.add_option("--config", file_, "TOML configuration file (configs/*.toml)")->check(CLI::ExistingFile);
    if (requireFile) opt->required();
    for (const auto& key : configSchema()) {
        auto store = overrides_;
        std::string name = key.name;
        sub.add_option_function<std::string>(
               "--" + key.name, [store, name](const std::string& v) { store->emplace_back(name, v); },
               key.help + " (default: " + formatValue(key.value) + ")")
            ->group("Configuration overrides");
    }
}

Config ConfigOptions::resolve() const { return resolve(Config()); }

Config ConfigOptions::resolve(Config config) const {
    if (!file_.empty()) config.loadToml(file_);
    for (const auto& [key, value] : *overrides_) config.set(key, value, "--" + key);
    return config;
}

void InputOptions::add(CLI::App& sub) {
    sub.add_option("--format", format, "auto | native | mintpy | licsbas | egms (default: detected by content)");
    sub.add_option("--geometry", geometry, "MintPy radar geometry: geometryRadar.h5 with /latitude, /longitude");
    sub.add_option("--mask", mask, "gridded inputs: mask file with /mask, non-zero = keep (e.g. maskTempCoh.h5)");
    sub.add_option("--input.until", until, "YYYYMMDD: cut the input after this date (inclusive)");
    sub.add_option("--input.exclude_dates", excludeDates, "YYYYMMDD acquisitions left out at read")->delimiter(',');
}

ReadOptions InputOptions::readOptions(double minValidFraction, bool readTruth) const {
    ReadOptions o;
    o.format = inputFormatFromString(format);
    o.geometry = geometry;
    o.mask = mask;
    o.minValidFraction = minValidFraction;
    o.readTruth = readTruth;
    setEpochCut(o, until, excludeDates);
    return o;
}

void printConfig(const Comm& comm, const Config& config) {
    if (!comm.isRoot()) return;
    log::info() << "resolved configuration:\n" << config.toToml();
}

}  // namespace hlstm::cli
