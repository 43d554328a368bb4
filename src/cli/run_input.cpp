#include "run_input.hpp"

#include <filesystem>

#include "hlstm/config/config.hpp"
#include "hlstm/core/error.hpp"
#include "hlstm/core/hash.hpp"
#include "hlstm/data/input.hpp"
#include "hlstm/io/hdf5.hpp"
#include "hlstm/io/output_format.hpp"

namespace hlstm::cli {
namespace fs = std::filesystem;

namespace {
std::string rootString(const h5::File& f, const char* name) {
    return f.hasAttribute(name) ? f.readStringAttribute(name) : std::string();
}
}  // namespace

std::string runInputOf(const std::string& out, const std::string& given, const std::string& escape) {
    std::string input, checksum;
    {
        h5::File f(out, h5::Access::kReadOnly);
        input = rootString(f, output::attr::kInput);
        checksum = rootString(f, output::attr::kInputChecksum);
    }
    const bool byOption = !given.empty();
    const std::string path = byOption ? given : input;
    const std::string origin = byOption ? "--input" : out + "'s root attribute input";
    std::error_code ec;
    if (path.empty())
        throw InputError(out +
                         ": no root attribute input naming the run's input: pass --input FILE (the input the run "
                         "read), " +
                         escape);
    if (!fs::exists(path, ec) || fs::is_directory(path, ec))
        throw InputError(path + " (" + origin +
                         "): no such input file; the observed histories come from it: pass --input FILE with the "
                         "run's input, " +
                         escape);
    if (!checksum.empty()) {
        const std::string actual = fileChecksumLike(path, checksum);  // an older output's FNV too
        if (actual.empty()) throw InputError(path + " (" + origin + "): cannot be read");
        if (actual != checksum)
            throw InputError(path + " (" + origin + "): changed since the run: its checksum is " + actual + ", " + out +
                             " was made from " + checksum + "; pass --input FILE with the run's input, " + escape);
    }
    return path;
}

ReadOptions runReadOptionsOf(const std::string& out) {
    std::string text;
    {
        h5::File f(out, h5::Access::kReadOnly);
        text = rootString(f, output::attr::kConfig);
    }
    Config config;
    if (!text.empty()) config.loadTomlText(text, out + " (root attribute config)");
    return readOptionsFromConfig(config);
}

}  // namespace hlstm::cli
