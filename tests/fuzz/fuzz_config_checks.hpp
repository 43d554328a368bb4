// What `hlstm run` does with a resolved Config, shared by fuzz_config and fuzz_overrides:
// print it (toToml), read every key with its typed getter, build the training and model
// settings (model::trainConfigFrom, model::modelConfigFrom with the first grid point, as
// RunConfig::from in src/pipeline/run.cpp does), and check that the printed configuration reads
// back to the same values (tests/core/test_config.cpp: PrintedTomlReadsBackIdentically).
// Also writes seed corpora and dictionaries from the schema (tools/fuzz.sh asks for them).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "fuzz_common.hpp"
#include "hlstm/config/config.hpp"
#include "hlstm/model/model_config.hpp"

namespace hlstm::fuzz {

inline int clampToInt(std::int64_t v) {
    return static_cast<int>(
        std::clamp<std::int64_t>(v, std::numeric_limits<int>::min(), std::numeric_limits<int>::max()));
}

// Same value, doubles up to the 15 significant digits toToml prints (and NaN == NaN).
inline bool sameValue(const ConfigValue& a, const ConfigValue& b) {
    if (a.index() != b.index()) return false;
    if (a.index() != 2) return a == b;
    const double x = std::get<double>(a), y = std::get<double>(b);
    if (std::isnan(x) || std::isnan(y)) return std::isnan(x) && std::isnan(y);
    if (x == y) return true;
    return std::fabs(x - y) <= 1e-14 * std::max(std::fabs(x), std::fabs(y));
}

inline std::string printable(const std::string& s, std::size_t limit = 200) {
    std::string out;
    for (unsigned char c : s.substr(0, limit)) {
        if (c >= 0x20 && c < 0x7f) {
            out.push_back(static_cast<char>(c));
        } else {
            char hex[8];
            std::snprintf(hex, sizeof hex, "\\x%02x", c);
            out += hex;
        }
    }
    return s.size() > limit ? out + "..." : out;
}

inline void exerciseResolved(const Config& config, const std::uint8_t* data, std::size_t size) {
    std::string printed;
    expected("toToml", [&] { printed = config.toToml(); });

    // Every key through the getter of its schema type (a type changed by a load would throw
    // std::bad_variant_access: a finding).
    expected("typed getters", [&] {
        for (const auto& key : configSchema()) {
            switch (key.value.index()) {
                case 0: (void)config.getBool(key.name); break;
                case 1: (void)config.getInt(key.name); break;
                case 2: (void)config.getDouble(key.name); break;
                case 3: (void)config.getString(key.name).size(); break;
                case 4: (void)config.getIntList(key.name).size(); break;
            }
        }
    });

    expected("model::trainConfigFrom", [&] {
        const model::TrainConfig train = model::trainConfigFrom(config);
        (void)model::resolveThreads(train.threads);
    });
    expected("model::modelConfigFrom", [&] {
        const auto& L = config.getIntList("grid.L");
        const auto& K = config.getIntList("grid.K");
        const auto& S = config.getIntList("grid.S");
        if (L.empty() || K.empty() || S.empty()) return;  // run refuses these with a ConfigError
        (void)model::modelConfigFrom(config, clampToInt(L.front()), clampToInt(K.front()), clampToInt(S.front()));
    });

    if (printed.empty()) return;
    Config back;
    std::string why;
    try {
        back.loadTomlText(printed, "printed");
        for (const auto& [key, value] : config.values()) {
            auto it = back.values().find(key);
            if (it == back.values().end() || !sameValue(value, it->second)) {
                why = "key " + key + " reads back differently";
                break;
            }
        }
    } catch (const hlstm::Error& e) {
        why = std::string("printed configuration does not read back: ") + e.what();
    }
    if (!why.empty()) softFinding("roundtrip", data, size, printable(why));
}

// ---- seeds and dictionaries (HLSTM_FUZZ_SEEDS_OUT=DIR, HLSTM_FUZZ_DICT_OUT=FILE) ----

inline void writeFile(const std::string& path, const std::string& text) {
    if (std::FILE* f = std::fopen(path.c_str(), "wb")) {
        std::fwrite(text.data(), 1, text.size(), f);
        std::fclose(f);
    } else {
        std::fprintf(stderr, "hlstm-fuzz: cannot write %s\n", path.c_str());
        std::exit(1);
    }
}

inline std::string dictEntry(const std::string& token) {
    std::string out = "\"";
    for (unsigned char c : token) {
        if (c == '"' || c == '\\') {
            out.push_back('\\');
            out.push_back(static_cast<char>(c));
        } else if (c < 0x20 || c >= 0x7f) {
            char hex[8];
            std::snprintf(hex, sizeof hex, "\\x%02X", c);
            out += hex;
        } else {
            out.push_back(static_cast<char>(c));
        }
    }
    return out + "\"\n";
}

/// The value of a schema key as command-line text (`--section.key TEXT`).
inline std::string commandLineText(const ConfigValue& v) {
    std::ostringstream os;
    switch (v.index()) {
        case 0: os << (std::get<bool>(v) ? "true" : "false"); break;
        case 1: os << std::get<std::int64_t>(v); break;
        case 2: os << std::get<double>(v); break;
        case 3: os << std::get<std::string>(v); break;
        case 4: {
            const auto& l = std::get<std::vector<std::int64_t>>(v);
            for (std::size_t i = 0; i < l.size(); ++i) os << (i ? "," : "") << l[i];
            break;
        }
    }
    return os.str();
}

/// Exits after writing seeds / dictionary when tools/fuzz.sh asks for them. `overrides`:
/// "key=value" seeds (fuzz_overrides), else TOML documents (fuzz_config).
inline void maybeWriteSeeds(bool overrides) {
    const char* seedDir = std::getenv("HLSTM_FUZZ_SEEDS_OUT");
    const char* dictFile = std::getenv("HLSTM_FUZZ_DICT_OUT");
    if (seedDir == nullptr && dictFile == nullptr) return;
    std::string dict;
    std::vector<std::string> tokens = {"=", "\n", "true", "false", "[", "]", ",", "\"", "'", "#", "-", "."};
    if (!overrides) {
        for (const char* t : {"[[",
                              "]]",
                              "{",
                              "}",
                              "\"\"\"",
                              "'''",
                              "\\u",
                              "\\U",
                              "\\n",
                              "inf",
                              "nan",
                              "+inf",
                              "-nan",
                              "0x",
                              "0o",
                              "0b",
                              "1e308",
                              "_",
                              "1979-05-27T07:32:00Z",
                              "9223372036854775807"})
            tokens.emplace_back(t);
    } else {
        for (const char* t : {"\"\"\"", "'''", "\\n", "\\u0000", "inf", "nan", "-9223372036854775808",
                              "9223372036854775807", "1e308", "0x7f"})
            tokens.emplace_back(t);
    }
    std::string lastSection;
    for (const auto& key : configSchema()) {
        tokens.push_back(key.name);
        const auto dot = key.name.find('.');
        tokens.push_back(key.name.substr(dot + 1));
        if (key.name.substr(0, dot) != lastSection) {
            lastSection = key.name.substr(0, dot);
            tokens.push_back(lastSection);
            tokens.push_back("[" + lastSection + "]");
        }
    }
    for (const auto& t : tokens) dict += dictEntry(t);
    if (dictFile != nullptr) writeFile(dictFile, dict);
    if (seedDir != nullptr) {
        const std::string dir = seedDir;
        if (overrides) {
            int i = 0;
            for (const auto& key : configSchema()) {
                writeFile(dir + "/seed-" + std::to_string(i++), key.name + "=" + commandLineText(key.value));
            }
            writeFile(dir + "/seed-list", std::string("grid.L=[20, 40, 60]"));
            writeFile(dir + "/seed-quoted", std::string("input.path=\"a \\\"b\\\".h5\""));
            writeFile(dir + "/seed-nul", std::string("train.lr\0"
                                                     "1e-4",
                                                     13));
        } else {
            Config defaults;
            writeFile(dir + "/defaults.toml", defaults.toToml());
            writeFile(dir + "/small.toml",
                      "# inline table, dotted key, literal string\nmodel = { kind = \"rnn\", horizon = 2 }\n"
                      "run.holdout = 2\n[partition]\nalpha = 2\nk_max = 6\n[grid]\nL = [5, 10, 15]\nK = 2\n"
                      "[train]\nlr = 5e-4\nloss = 'huber'\n");
        }
    }
    std::exit(0);
}

}  // namespace hlstm::fuzz
