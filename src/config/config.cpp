#include "hlstm/config/config.hpp"

#include <toml++/toml.h>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "hlstm/core/error.hpp"

namespace hlstm {
namespace {

const char* typeName(const ConfigValue& v) {
    switch (v.index()) {
        case 0: return "a boolean";
        case 1: return "an integer";
        case 2: return "a number";
        case 3: return "a string";
        case 4: return "a list of integers";
    }
    return "?";
}

// Converts a TOML node to the type of `like`; throws ConfigError naming source and key.
ConfigValue fromNode(const toml::node& node, const ConfigValue& like, const std::string& key,
                     const std::string& source) {
    auto bad = [&]() { return ConfigError(source + ": key '" + key + "' must be " + typeName(like)); };
    switch (like.index()) {
        case 0:
            if (auto v = node.value_exact<bool>()) return *v;
            throw bad();
        case 1:
            if (auto v = node.value_exact<std::int64_t>()) return *v;
            throw bad();
        case 2:
            if (auto v = node.value_exact<double>()) return *v;
            if (auto v = node.value_exact<std::int64_t>()) return static_cast<double>(*v);
            throw bad();
        case 3:
            if (auto v = node.value_exact<std::string>()) return *v;
            throw bad();
        case 4: {
            std::vector<std::int64_t> out;
            if (auto v = node.value_exact<std::int64_t>()) return std::vector<std::int64_t>{*v};
            const auto* arr = node.as_array();
            if (arr == nullptr) throw bad();
            for (const auto& item : *arr) {
                auto v = item.value_exact<std::int64_t>();
                if (!v) throw bad();
                out.push_back(*v);
            }
            if (out.empty()) throw ConfigError(source + ": key '" + key + "' must not be empty");
            return out;
        }
    }
    throw bad();
}

void flatten(const toml::table& table, const std::string& prefix, std::map<std::string, ConfigValue>& values,
             const std::string& source) {
    for (const auto& [k, node] : table) {
        std::string key = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
        if (const auto* sub = node.as_table()) {
            flatten(*sub, key, values, source);
            continue;
        }
        auto it = values.find(key);
        if (it == values.end()) throw ConfigError(source + ": unknown configuration key '" + key + "'");
        it->second = fromNode(node, it->second, key, source);
    }
}

// A TOML basic string that reads back as `s`: quotes, backslashes and control characters
// escaped (found by fuzzing: a newline printed raw made the printed config unreadable).
std::string quote(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out.push_back('\\');
            out.push_back(c);
        } else if (u < 0x20 || u == 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04X", static_cast<unsigned>(u));
            out += buf;
        } else {
            out.push_back(c);
        }
    }
    return out + "\"";
}

}  // namespace

std::string formatValue(const ConfigValue& v) {
    std::ostringstream os;
    os.precision(17);
    switch (v.index()) {
        case 0: os << (std::get<bool>(v) ? "true" : "false"); break;
        case 1: os << std::get<std::int64_t>(v); break;
        case 2: {
            std::ostringstream num;
            num.precision(15);
            num << std::get<double>(v);
            std::string s = num.str();
            if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
            os << s;
            break;
        }
        case 3: os << quote(std::get<std::string>(v)); break;
        case 4: {
            os << "[";
            const auto& l = std::get<std::vector<std::int64_t>>(v);
            for (std::size_t i = 0; i < l.size(); ++i) os << (i ? ", " : "") << l[i];
            os << "]";
            break;
        }
    }
    return os.str();
}

Config::Config() {
    for (const auto& key : configSchema()) values_[key.name] = key.value;
}

void Config::loadToml(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw ConfigError(path + ": cannot read configuration file");
    std::stringstream buffer;
    buffer << in.rdbuf();
    loadTomlText(buffer.str(), path);
    files_.push_back(path);
}

void Config::loadTomlText(const std::string& text, const std::string& source) {
    toml::table table;
    try {
        table = toml::parse(text, source);
    } catch (const toml::parse_error& err) {
        std::ostringstream os;
        os << source << ":" << err.source().begin.line << ": " << err.description();
        throw ConfigError(os.str());
    }
    flatten(table, "", values_, source);
}

void Config::set(const std::string& key, const std::string& text, const std::string& source) {
    auto it = values_.find(key);
    if (it == values_.end()) throw ConfigError(source + ": unknown configuration key '" + key + "'");
    // Parse as a TOML value so that lists, strings and numbers follow one syntax.
    std::string literal = text;
    if (it->second.index() == 3 && (text.empty() || text.front() != '"')) literal = quote(text);
    if (it->second.index() == 4 && !text.empty() && text.front() != '[') literal = "[" + text + "]";
    toml::table table;
    try {
        table = toml::parse("v = " + literal, source);
    } catch (const toml::parse_error&) {
        throw ConfigError(source + ": key '" + key + "' must be " + typeName(it->second) + ", got '" + text + "'");
    }
    it->second = fromNode(*table.get("v"), it->second, key, source);
}

const ConfigValue& Config::lookup(const std::string& key) const {
    auto it = values_.find(key);
    if (it == values_.end()) throw ConfigError("unknown configuration key '" + key + "'");
    return it->second;
}

bool Config::getBool(const std::string& key) const { return std::get<bool>(lookup(key)); }
std::int64_t Config::getInt(const std::string& key) const { return std::get<std::int64_t>(lookup(key)); }
double Config::getDouble(const std::string& key) const { return std::get<double>(lookup(key)); }
const std::string& Config::getString(const std::string& key) const { return std::get<std::string>(lookup(key)); }
const std::vector<std::int64_t>& Config::getIntList(const std::string& key) const {
    return std::get<std::vector<std::int64_t>>(lookup(key));
}

std::string Config::toToml() const {
    std::ostringstream os;
    std::string section;
    for (const auto& [key, value] : values_) {
        auto dot = key.find('.');
        std::string sec = key.substr(0, dot);
        if (sec != section) {
            os << (section.empty() ? "" : "\n") << "[" << sec << "]\n";
            section = sec;
        }
        os << key.substr(dot + 1) << " = " << formatValue(value) << "\n";
    }
    return os.str();
}

}  // namespace hlstm
