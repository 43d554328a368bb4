// `hlstm report` end to end: one self-contained HTML file (no external reference) opened in a real
// headless Chromium (Debian's) with the network off: no console error, the method table shows
// /metrics MAE, and a click on a point draws a forecast series whose last value is that point's
// /forecast/next_cumulative. puppeteer-core comes from the npm registry into the build directory
// at test time; the test is skipped ("SKIP: ") only when the registry cannot be reached.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "hlstm/io/hdf5.hpp"
#include "hlstm/io/output_format.hpp"
#include "plot_fixture.hpp"
#include "test_support.hpp"

namespace hlstm::test {
namespace {
namespace fs = std::filesystem;

constexpr char kPuppeteer[] = "puppeteer-core@24.43.1";

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

std::string field(const std::string& json, const std::string& key) {
    std::smatch m;
    if (std::regex_search(json, m, std::regex("\"" + key + "\":\"([^\"]*)\""))) return m[1];
    if (std::regex_search(json, m, std::regex("\"" + key + "\":([-0-9.eE+]+)"))) return m[1];
    return {};
}

// puppeteer-core in HLSTM_NODE_DIR; "" when ready, else why not (a SKIP only for an unreachable registry).
std::string ensurePuppeteer(bool& skip) {
    skip = false;
    const std::string dir = HLSTM_NODE_DIR;
    if (fs::exists(dir + "/node_modules/puppeteer-core/package.json")) return {};
    if (run("sh -c 'command -v node && command -v npm'", 30).exitCode != 0)
        return "node and npm are needed (apt-get install nodejs npm)";
    fs::create_directories(dir);
    auto r = run("npm install --prefix " + dir + " --no-audit --no-fund --no-save --loglevel=error " + kPuppeteer, 600);
    if (r.exitCode == 0 && fs::exists(dir + "/node_modules/puppeteer-core/package.json")) return {};
    if (run("npm ping", 60).exitCode != 0) {
        skip = true;
        return "the npm registry is unreachable (npm ping failed), puppeteer-core cannot be installed: " + r.output;
    }
    return "npm install " + std::string(kPuppeteer) + " failed although the registry answers: " + r.output;
}

TEST(Report, SelfContainedOfflineHtmlWithMethodTableAndAClickablePoint) {
    const RunOutput& o = smallRunOutput();
    ASSERT_TRUE(fs::exists(o.out));
    TempDir dir;
    const std::string html = dir.file("report.html");
    auto r = run(hlstmBinary() + " report " + o.out + " -o " + html, 300);
    ASSERT_EQ(r.exitCode, 0) << r.output;
    ASSERT_FALSE(fs::exists(html + ".tmp"));
    const std::string page = slurp(html);
    // self-contained: no reference to anything outside the file
    EXPECT_EQ(page.find("src=\"http"), std::string::npos);
    EXPECT_EQ(page.find("href=\"http"), std::string::npos);
    EXPECT_EQ(page.find("<link"), std::string::npos);
    EXPECT_EQ(page.find("src=\"file"), std::string::npos);
    EXPECT_NE(page.find("data:image/png;base64,"), std::string::npos);
    for (const char* section : {"Input", "Partition", "Subregions: winner and why", "Methods", "Intervals", "Backtest",
                                "Interactive map", "Figures"})
        EXPECT_NE(page.find(std::string("<h2>") + section), std::string::npos) << section;

    h5::File f(o.out, h5::Access::kReadOnly);
    const double mae = f.readObjectAttribute<double>(output::metrics::kGroup, output::metrics::kAttrMae);
    const auto ids = f.openDataset(output::points::kId).readAll<std::int64_t>();
    const auto next = f.openDataset(output::forecast::kNextCumulative).readAll<float>();
    const auto steps = f.openDataset(output::forecast::kNextDates).readAll<std::int32_t>().size();
    const auto names = f.readStrings(output::baselines::kName);

    bool skip = false;
    const std::string why = ensurePuppeteer(skip);
    if (skip) GTEST_SKIP() << "SKIP: " << why;
    ASSERT_TRUE(why.empty()) << why;
    ASSERT_TRUE(fs::exists("/usr/bin/chromium")) << "Debian's chromium is needed: tools/setup.sh --with-browser";

    // a point on the map: the report holds a sample plus the representative points; take one of those
    std::smatch m;
    ASSERT_TRUE(std::regex_search(page, m, std::regex("\"representative\":\\[(-?[0-9]+),(-?[0-9]+)")));
    const std::int64_t preferred = std::stoll(m[2]);

    const std::string shot = std::string(HLSTM_NODE_DIR) + "/report.png";
    auto b = run("env NODE_PATH=" + std::string(HLSTM_NODE_DIR) + "/node_modules node " + HLSTM_PLOT_TEST_DIR +
                     "/report_browser.cjs " + html + " " + std::to_string(preferred) + " " + shot,
                 300);
    ASSERT_EQ(b.exitCode, 0) << b.output;
    const auto at = b.output.find("RESULT ");
    ASSERT_NE(at, std::string::npos) << b.output;
    const std::string json = b.output.substr(at);
    SCOPED_TRACE(json);
    EXPECT_NE(json.find("\"consoleErrors\":[]"), std::string::npos);
    EXPECT_NE(json.find("\"blocked\":[]"), std::string::npos);
    EXPECT_DOUBLE_EQ(std::stod(field(json, "hlstmMae")), mae);
    for (const auto& n : names) EXPECT_NE(json.find("\"" + n + "\""), std::string::npos) << "method row " << n;
    // the point clicked (the preferred one unless another lies within 4 px of it) is the one drawn
    const std::int64_t id = std::stoll(field(json, "target"));
    std::size_t row = 0;
    while (row < ids.size() && ids[row] != id) ++row;
    ASSERT_LT(row, ids.size());
    EXPECT_EQ(field(json, "clickedId"), std::to_string(id));
    EXPECT_NE(field(json, "before"), std::to_string(id));  // the click changed the drawn point
    EXPECT_EQ(std::stod(field(json, "last")), static_cast<double>(next[row * steps + steps - 1]));
    EXPECT_EQ(field(json, "band"), "1");
    EXPECT_GT(std::stoi(field(json, "history")), 50);  // the observed history was drawn
    EXPECT_EQ(json.find("[0,0]"), std::string::npos);  // every embedded figure decoded
    RecordProperty("screenshot", shot);
}

TEST(Report, BadOutputPathExitsOne) {
    const RunOutput& o = smallRunOutput();
    TempDir dir;
    auto r = run(hlstmBinary() + " report " + o.out + " -o " + dir.path(), 60);
    EXPECT_EQ(r.exitCode, 1) << r.output;
    EXPECT_NE(r.output.find("is a directory"), std::string::npos) << r.output;
    r = run(hlstmBinary() + " report " + o.out + " -o " + dir.file("no/such/dir/r.html"), 60);
    EXPECT_EQ(r.exitCode, 1) << r.output;
    EXPECT_NE(r.output.find("does not exist"), std::string::npos) << r.output;
    r = run(hlstmBinary() + " report " + o.out + " -o " + o.out, 60);
    EXPECT_EQ(r.exitCode, 1) << r.output;
    EXPECT_NE(r.output.find("same file as the input"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace hlstm::test
