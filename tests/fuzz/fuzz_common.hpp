// Shared rules of the libFuzzer harnesses (tests/fuzz, run by tools/fuzz.sh).
//
// Expected outcome of a bad input: an hlstm::Error (ConfigError, InputError, H5Error, ...), as
// `main` turns it into exit code 1 or 2 with a message. A finding is anything else: a crash or
// sanitizer report (ASan/UBSan/LeakSanitizer, libFuzzer's OOM/timeout), or an exception of any
// other type (std::bad_alloc, std::length_error, std::bad_variant_access, toml::parse_error
// escaping, ...): those are printed and abort()ed here so that libFuzzer saves the input.
//
// Soft findings are wrong results without a crash (a printed configuration that does not read
// back, a reader result that breaks its documented invariants). They are counted and printed
// at exit; the first input of each kind is written to $HLSTM_FUZZ_SOFT_DIR (if set), and with
// HLSTM_FUZZ_STRICT=1 they abort like findings.
#pragma once

#include <cxxabi.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <typeinfo>

#include "hlstm/core/error.hpp"
#include "hlstm/core/hash.hpp"

namespace hlstm::fuzz {

inline std::string demangle(const char* name) {
    int status = 0;
    char* text = abi::__cxa_demangle(name, nullptr, nullptr, &status);
    std::string out = status == 0 && text != nullptr ? text : name;
    std::free(text);
    return out;
}

/// Outcome counts of this process, printed to stderr at exit.
inline std::map<std::string, std::uint64_t>& tally() {
    static auto* counts = new std::map<std::string, std::uint64_t>();  // outlives atexit handlers
    return *counts;
}

inline void printTally() {
    std::string line = "hlstm-fuzz outcomes:";
    for (const auto& [kind, n] : tally()) line += " " + kind + "=" + std::to_string(n);
    std::fprintf(stderr, "%s\n", line.c_str());
}

inline void installTally() {
    static std::once_flag once;
    std::call_once(once, [] { std::atexit(printTally); });
}

[[noreturn]] inline void finding(const std::string& step, const std::string& type, const std::string& what) {
    std::fprintf(stderr, "\nhlstm-fuzz FINDING in %s: unexpected exception %s: %s\n", step.c_str(), type.c_str(),
                 what.c_str());
    std::fflush(stderr);
    std::abort();
}

/// Runs `fn`: true when it returns, false when it throws an hlstm::Error (the expected way to
/// refuse bad input; counted by its type). Any other exception is a finding (abort).
template <class F> bool expected(const char* step, F&& fn) {
    try {
        fn();
        return true;
    } catch (const hlstm::Error& e) {
        ++tally()[demangle(typeid(e).name())];
        return false;
    } catch (const std::exception& e) {
        finding(step, demangle(typeid(e).name()), e.what());
    } catch (...) {
        finding(step, "(not a std::exception)", "");
    }
}

/// A wrong result that is not a crash: see the header comment.
inline void softFinding(const std::string& kind, const std::uint8_t* data, std::size_t size,
                        const std::string& message) {
    ++tally()["soft:" + kind];
    const char* strict = std::getenv("HLSTM_FUZZ_STRICT");
    if (strict != nullptr && std::string(strict) == "1") {
        std::fprintf(stderr, "\nhlstm-fuzz FINDING (strict) %s: %s\n", kind.c_str(), message.c_str());
        std::fflush(stderr);
        std::abort();
    }
    static std::set<std::string> written;
    if (!written.insert(kind).second) return;  // the first one of each kind per process
    std::fprintf(stderr, "hlstm-fuzz soft finding %s: %s\n", kind.c_str(), message.c_str());
    const char* dir = std::getenv("HLSTM_FUZZ_SOFT_DIR");
    if (dir == nullptr || *dir == '\0') return;
    const std::uint64_t hash = fnv1a64(data, size);  // the input's hash names the file
    char name[64];
    std::snprintf(name, sizeof name, "/%s-%016llx", kind.c_str(), static_cast<unsigned long long>(hash));
    const std::string path = std::string(dir) + name;
    if (std::FILE* f = std::fopen(path.c_str(), "wb")) {
        if (size > 0) std::fwrite(data, 1, size, f);
        std::fclose(f);
        std::fprintf(stderr, "hlstm-fuzz soft finding input written to %s\n", path.c_str());
    }
}

}  // namespace hlstm::fuzz
