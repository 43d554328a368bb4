// `hlstm plot` end to end on a real (small) run: every figure is a valid PNG of at least 800 x 600
// pixels that is not blank; the point figure's forecast line ends at the point's /forecast values
// (the arrays drawn, written by the script with HLSTM_PLOT_DATA); PDF; bad files, a changed input,
// a missing Python or module exit 1 / 2 with a message naming what is wrong, leaving nothing behind.
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

const char* const kFigures[] = {"velocity",  "subregions", "db_index", "grid_mae", "forecast",
                                "abs_error", "scatter",    "step_mae", "curves"};

std::string plotCmd(const std::string& args) { return hlstmBinary() + " plot " + args; }

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

// Width and height from the PNG signature and IHDR chunk (checked independently of matplotlib).
bool pngSize(const std::string& path, std::uint32_t& w, std::uint32_t& h) {
    const std::string b = slurp(path);
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (b.size() < 33 || b.compare(0, 8, std::string(reinterpret_cast<const char*>(sig), 8)) != 0) return false;
    if (b.compare(12, 4, "IHDR") != 0) return false;
    auto be = [&](std::size_t o) {
        return (std::uint32_t(std::uint8_t(b[o])) << 24) | (std::uint32_t(std::uint8_t(b[o + 1])) << 16) |
               (std::uint32_t(std::uint8_t(b[o + 2])) << 8) | std::uint32_t(std::uint8_t(b[o + 3]));
    };
    w = be(16), h = be(20);
    return b.compare(b.size() - 8, 4, "IEND") == 0;
}

double jsonNumber(const std::string& json, const std::string& key) {
    std::smatch m;
    if (!std::regex_search(json, m, std::regex("\"" + key + "\": ([-0-9.eE+]+)"))) return NAN;
    return std::stod(m[1]);
}

void expectGoodPng(const std::string& path) {
    SCOPED_TRACE(path);
    ASSERT_TRUE(fs::exists(path));
    std::uint32_t w = 0, h = 0;
    ASSERT_TRUE(pngSize(path, w, h)) << "not a complete PNG";
    EXPECT_GE(w, 800u);
    EXPECT_GE(h, 600u);
    auto r = run(std::string(kPython) + " " + HLSTM_PLOT_TEST_DIR + "/check_png.py " + path, 60);
    ASSERT_EQ(r.exitCode, 0) << r.output;
    EXPECT_EQ(jsonNumber(r.output, "width"), w);
    EXPECT_EQ(jsonNumber(r.output, "height"), h);
    // a white page has variance 0; axes, text and one colour would stay far below 0.01
    EXPECT_GT(jsonNumber(r.output, "variance"), 0.01) << r.output;
    EXPECT_GT(jsonNumber(r.output, "distinct"), 50) << r.output;
}

int yyyymmdd(const std::string& iso) {  // "2020-12-04" -> 20201204
    return std::stoi(iso.substr(0, 4)) * 10000 + std::stoi(iso.substr(5, 2)) * 100 + std::stoi(iso.substr(8, 2));
}

TEST(Plot, EveryFigureIsANonBlankPngOfAtLeast800x600AndThePointLineEndsAtTheForecast) {
    const RunOutput& o = smallRunOutput();
    ASSERT_TRUE(fs::exists(o.out));
    TempDir dir;
    const std::string figs = dir.file("figs"), data = dir.file("data");
    fs::create_directory(data);
    auto r = run("env HLSTM_PLOT_DATA=" + data + " " + plotCmd(o.out + " -o " + figs), 300);
    ASSERT_EQ(r.exitCode, 0) << r.output;
    for (const char* name : kFigures) expectGoodPng(figs + "/" + name + ".png");

    h5::File f(o.out, h5::Access::kReadOnly);
    const auto ids = f.openDataset(output::points::kId).readAll<std::int64_t>();
    const auto next = f.openDataset(output::forecast::kNextCumulative).readAll<float>();
    const auto low = f.openDataset(output::forecast::kIntervalLow).readAll<float>();
    const auto nextDates = f.openDataset(output::forecast::kNextDates).readAll<std::int32_t>();
    const std::size_t steps = nextDates.size();
    ASSERT_EQ(next.size(), ids.size() * steps);
    ASSERT_TRUE(f.exists(output::forecast::kHoldoutCumulative));
    const auto holdout = f.openDataset(output::forecast::kHoldoutCumulative).readAll<float>();
    const auto holdoutDates = f.openDataset(output::forecast::kHoldoutDates).readAll<std::int32_t>();
    const std::size_t hsteps = holdoutDates.size();

    // scatter.png: HLSTM beside the best baseline (lowest /baselines/mae), its MAE from /baselines/holdout_pred
    {
        const std::string json = data + "/scatter.json";
        ASSERT_TRUE(fs::exists(json)) << json;
        auto q =
            run(std::string(kPython) + " -c \"import json; d=json.load(open('" + json +
                    "')); p=[x for x in d['panels'] if x['reference']=='observed']; "
                    "print(len(p), p[0]['method'], p[1]['method'].replace(' ', '_'), repr(p[1]['mae']), p[1]['n'])\"",
                60);
        ASSERT_EQ(q.exitCode, 0) << q.output;
        std::istringstream in(q.output);
        int panels = 0;
        std::string first, second;
        double mae = NAN;
        std::size_t n = 0;
        in >> panels >> first >> second >> mae >> n;
        const auto names = f.openDataset(output::baselines::kName)
                               .readStringRows(0, f.openDataset(output::baselines::kName).dims()[0]);
        const auto baseMae = f.openDataset(output::baselines::kMae).readAll<double>();
        std::size_t best = 0;
        for (std::size_t k = 1; k < names.size(); ++k)
            if (baseMae[k] < baseMae[best]) best = k;
        EXPECT_EQ(panels, 2) << q.output;
        EXPECT_EQ(first, "HLSTM");
        EXPECT_EQ(second, "best_baseline_(" + names[best] + ")") << q.output;
        const auto pred = f.openDataset(output::baselines::kHoldoutPred).readAll<double>();  // methods x points x Y
        const auto obs = f.openDataset(output::forecast::kHoldoutTrue).readAll<float>();
        const std::size_t Y = obs.size() / ids.size();
        double sum = 0;
        std::size_t count = 0;
        for (std::size_t i = 0; i < ids.size(); ++i) {
            const double p = pred[(best * ids.size() + i) * Y], o = obs[i * Y];
            if (std::isfinite(p) && std::isfinite(o)) sum += std::fabs(p - o), ++count;
        }
        EXPECT_EQ(n, count);
        EXPECT_NEAR(mae, sum / static_cast<double>(count), 1e-9);
    }

    // curves.png: one line per subregion (its learned winner or best candidate), the file's curve rows
    {
        const std::string json = data + "/curves.json";
        ASSERT_TRUE(fs::exists(json)) << json;
        auto q = run(std::string(kPython) + " -c \"import json; d=json.load(open('" + json +
                         "'))['curves']; print(len(d)); [print(c['subregion'], c['task'], int(c['converged']), "
                         "' '.join(repr(v) for v in c['loss'] + c['mae'])) for c in d]\"",
                     60);
        ASSERT_EQ(q.exitCode, 0) << q.output;
        const auto loss = f.openDataset(output::grid_search::kTrainLossCurve).readAll<double>();
        const auto mae = f.openDataset(output::grid_search::kValidationMaeCurve).readAll<double>();
        const auto gsub = f.openDataset(output::grid_search::kSubregion).readAll<std::int32_t>();
        const auto conv = f.openDataset(output::grid_search::kConverged).readAll<std::int8_t>();
        const std::size_t E = f.openDataset(output::grid_search::kTrainLossCurve).dims()[1];
        const std::size_t subs = f.openDataset(output::subregions::kId).dims()[0];
        std::istringstream in(q.output);
        std::size_t drawn = 0;
        in >> drawn;
        EXPECT_EQ(drawn, std::min<std::size_t>(subs, 12)) << q.output;
        for (std::size_t k = 0; k < drawn; ++k) {
            int sub = -1, conv01 = -1;
            std::size_t task = 0;
            in >> sub >> task >> conv01;
            ASSERT_LT(task, gsub.size());
            EXPECT_EQ(gsub[task], sub);
            EXPECT_EQ(conv01, conv[task]);
            for (std::size_t e = 0; e < 2 * E; ++e) {
                std::string v;
                in >> v;
                const double want = e < E ? loss[task * E + e] : mae[task * E + e - E];
                if (std::isfinite(want))
                    EXPECT_DOUBLE_EQ(std::stod(v), want) << "task " << task << " value " << e;
                else
                    EXPECT_EQ(v, "None");
            }
        }
    }

    // three representative points by default, each with its drawn arrays
    int points = 0;
    for (const auto& e : fs::directory_iterator(figs)) {
        const std::string name = e.path().filename().string();
        if (name.rfind("point_", 0) != 0) continue;
        ++points;
        expectGoodPng(e.path().string());
        const std::int64_t id = std::stoll(name.substr(6, name.size() - 10));
        std::size_t row = 0;
        while (row < ids.size() && ids[row] != id) ++row;
        ASSERT_LT(row, ids.size()) << name;
        const std::string json = data + "/point_" + std::to_string(id) + ".json";
        ASSERT_TRUE(fs::exists(json)) << json;
        // last x and y of the drawn line "next forecast (HLSTM)", of the history's last point and of the band
        auto q = run(std::string(kPython) + " -c \"import json,sys; d=json.load(open('" + json +
                         "')); l=d['next forecast (HLSTM)']; h=d['observed history']; o=d['holdout forecast (HLSTM)']; "
                         "print(l['x'][-1], repr(l['y'][-1]), len(h['y']), l['x'][0], o['x'][-1], repr(o['y'][-1]))\"",
                     60);
        ASSERT_EQ(q.exitCode, 0) << q.output;
        std::istringstream in(q.output);
        std::string lastDate, firstDate, holdoutDate;
        double lastValue = NAN, holdoutValue = NAN;
        int historyPoints = 0;
        in >> lastDate >> lastValue >> historyPoints >> firstDate >> holdoutDate >> holdoutValue;
        SCOPED_TRACE(name + ": " + q.output);
        EXPECT_EQ(yyyymmdd(lastDate), nextDates[steps - 1]);
        EXPECT_DOUBLE_EQ(lastValue, static_cast<double>(next[row * steps + steps - 1]));
        EXPECT_GT(historyPoints, 50);                    // the observed history was drawn (89 epochs - holdout)
        EXPECT_LT(yyyymmdd(firstDate), nextDates[0]);    // the line starts at the last observation
        EXPECT_LT(low[row * steps], next[row * steps]);  // a real band around it
        // the holdout forecast line ends at /forecast/holdout_cumulative on the last holdout date
        EXPECT_EQ(yyyymmdd(holdoutDate), holdoutDates[hsteps - 1]);
        EXPECT_DOUBLE_EQ(holdoutValue, static_cast<double>(holdout[row * hsteps + hsteps - 1]));
    }
    EXPECT_EQ(points, 3);
}

TEST(Plot, PointsByIdAndByLatLonAndPdf) {
    const RunOutput& o = smallRunOutput();
    TempDir dir;
    h5::File f(o.out, h5::Access::kReadOnly);
    const auto ids = f.openDataset(output::points::kId).readAll<std::int64_t>();
    const auto lon = f.openDataset(output::points::kLon).readAll<double>();
    const auto lat = f.openDataset(output::points::kLat).readAll<double>();
    const std::string two = std::to_string(ids[10]) + "," + std::to_string(ids[20]);
    auto r = run(plotCmd(o.out + " -o " + dir.file("a") + " --points " + two), 300);
    ASSERT_EQ(r.exitCode, 0) << r.output;
    expectGoodPng(dir.file("a/point_" + std::to_string(ids[10]) + ".png"));
    expectGoodPng(dir.file("a/point_" + std::to_string(ids[20]) + ".png"));

    char lalo[64];
    std::snprintf(lalo, sizeof lalo, "%.7f,%.7f", lat[33], lon[33]);
    r = run(plotCmd(o.out + " -o " + dir.file("b") + " --format pdf --lalo " + lalo), 300);
    ASSERT_EQ(r.exitCode, 0) << r.output;
    const std::string pdf = dir.file("b/point_" + std::to_string(ids[33]) + ".pdf");
    ASSERT_TRUE(fs::exists(pdf)) << r.output;
    EXPECT_EQ(slurp(pdf).substr(0, 5), "%PDF-");
    for (const char* name : kFigures)
        EXPECT_EQ(slurp(dir.file(std::string("b/") + name + ".pdf")).substr(0, 5), "%PDF-") << name;
}

TEST(Plot, BadFilesAndAChangedInputExitOneNamingTheFile) {
    const RunOutput& o = smallRunOutput();
    TempDir dir;
    // not there / not HDF5
    auto r = run(plotCmd(dir.file("none.h5") + " -o " + dir.file("f")), 60);
    EXPECT_EQ(r.exitCode, 1) << r.output;
    EXPECT_NE(r.output.find(dir.file("none.h5") + ": no such file"), std::string::npos) << r.output;
    std::ofstream(dir.file("text.h5")) << "not hdf5";
    r = run(plotCmd(dir.file("text.h5") + " -o " + dir.file("f")), 60);
    EXPECT_EQ(r.exitCode, 1) << r.output;
    EXPECT_NE(r.output.find("not an HDF5 file"), std::string::npos) << r.output;
    EXPECT_FALSE(fs::exists(dir.file("f")));  // nothing made for a bad file
    // a predict output: refused by name
    r = run(hlstmBinary() + " predict --models " + o.out + " --input " + o.input + " -o " + dir.file("pred.h5"), 120);
    ASSERT_EQ(r.exitCode, 0) << r.output;
    r = run(plotCmd(dir.file("pred.h5") + " -o " + dir.file("f")), 60);
    EXPECT_EQ(r.exitCode, 1) << r.output;
    EXPECT_NE(r.output.find(dir.file("pred.h5") + ": an hlstm predict output"), std::string::npos) << r.output;

    // the input changed since the run (one byte of a copy): refused with both checksums
    const std::string changed = dir.file("changed.h5");
    fs::copy_file(o.input, changed);
    {
        std::fstream io(changed, std::ios::in | std::ios::out | std::ios::binary);
        io.seekg(-1, std::ios::end);
        char c = 0;
        io.get(c);
        io.seekp(-1, std::ios::end);
        io.put(static_cast<char>(c ^ 0x5a));
    }
    r = run(plotCmd(o.out + " -o " + dir.file("f") + " --input " + changed), 60);
    EXPECT_EQ(r.exitCode, 1) << r.output;
    EXPECT_NE(r.output.find(changed + " (--input): changed since the run"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("xxh64b:"), std::string::npos) << r.output;
    // a missing input named by --input
    r = run(plotCmd(o.out + " -o " + dir.file("f") + " --input " + dir.file("gone.h5")), 60);
    EXPECT_EQ(r.exitCode, 1) << r.output;
    EXPECT_NE(r.output.find(dir.file("gone.h5") + " (--input): no such input file"), std::string::npos) << r.output;
    // the output's own input moved away: its root attribute is named
    const std::string moved = dir.file("moved.h5");
    fs::copy_file(o.out, dir.file("out.h5"));
    fs::rename(o.input, moved);
    r = run(plotCmd(dir.file("out.h5") + " -o " + dir.file("f")), 60);
    fs::rename(moved, o.input);
    EXPECT_EQ(r.exitCode, 1) << r.output;
    EXPECT_NE(r.output.find(o.input + " (" + dir.file("out.h5") + "'s root attribute input): no such input file"),
              std::string::npos)
        << r.output;
    // --no-history draws without it
    r = run(plotCmd(o.out + " -o " + dir.file("g") + " --no-history --input " + dir.file("gone.h5")), 300);
    EXPECT_EQ(r.exitCode, 0) << r.output;
    EXPECT_TRUE(fs::exists(dir.file("g/velocity.png")));
    // an unknown point id
    r = run(plotCmd(o.out + " -o " + dir.file("h") + " --points 987654321"), 300);
    EXPECT_EQ(r.exitCode, 1) << r.output;
    EXPECT_NE(r.output.find("no point with id 987654321"), std::string::npos) << r.output;
    // -o names a file
    std::ofstream(dir.file("afile")) << "x";
    r = run(plotCmd(o.out + " -o " + dir.file("afile")), 60);
    EXPECT_EQ(r.exitCode, 1) << r.output;
    EXPECT_NE(r.output.find("exists and is not a directory"), std::string::npos) << r.output;
}

TEST(Plot, MissingPythonOrModuleIsARuntimeErrorNamingThePackages) {
    const RunOutput& o = smallRunOutput();
    TempDir dir;
    auto r = run("env HLSTM_PYTHON=" + dir.file("no-python") + " " + plotCmd(o.out + " -o " + dir.file("f")), 60);
    EXPECT_EQ(r.exitCode, 2) << r.output;
    EXPECT_NE(r.output.find("no Python interpreter at " + dir.file("no-python")), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("python3-matplotlib"), std::string::npos) << r.output;
    // a python3 without Debian's site packages (-S): numpy, h5py, matplotlib cannot be imported
    const std::string bare = dir.file("bare-python");
    std::ofstream(bare) << "#!/bin/sh\nexec /usr/bin/python3 -S \"$@\"\n";
    fs::permissions(bare, fs::perms::owner_all);
    r = run("env HLSTM_PYTHON=" + bare + " " + plotCmd(o.out + " -o " + dir.file("f")), 60);
    EXPECT_EQ(r.exitCode, 2) << r.output;
    EXPECT_NE(r.output.find("cannot import the Python module 'numpy'"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("python3-matplotlib"), std::string::npos) << r.output;
    r = run("env HLSTM_PLOT_SCRIPT=" + dir.file("none.py") + " " + plotCmd(o.out + " -o " + dir.file("f")), 60);
    EXPECT_EQ(r.exitCode, 2) << r.output;
    EXPECT_NE(r.output.find("HLSTM_PLOT_SCRIPT names " + dir.file("none.py")), std::string::npos) << r.output;
}

// The observed history drawn for a point equals the input's values (tests/data/make_fixtures.py:
// the same scene in every form hlstm reads; expected.h5 holds it in mm by pixel id and EGMS pid).
TEST(Plot, HistoryFromEveryInputFormatEqualsTheInput) {
    TempDir dir;
    auto fx = run(std::string(kPython) + " " + HLSTM_SOURCE_DIR + "/tests/data/make_fixtures.py " + dir.path(), 120);
    ASSERT_EQ(fx.exitCode, 0) << fx.output;
    h5::File expected(dir.file("expected.h5"), h5::Access::kReadOnly);
    const auto eIds = expected.openDataset("/ids").readAll<std::int64_t>();
    const auto ePids = expected.readStrings("/pids");
    const auto eMm = expected.openDataset("/mm").readAll<float>();
    const std::size_t m = expected.openDataset("/dates").readAll<std::int32_t>().size();
    for (const char* name : {"native.h5", "mintpy_geo.h5", "mintpy.he5", "cum.h5", "egms_l3.csv"}) {
        SCOPED_TRACE(name);
        const std::string out = dir.file(std::string(name) + ".out.h5");
        auto r =
            run(hlstmBinary() + " run --input " + dir.file(name) + " -o " + out +
                    " --train.epochs 1 --grid.L 4 --grid.K 1 --grid.S 4 --partition.min_points 50 --train.threads 1",
                300);
        ASSERT_EQ(r.exitCode, 0) << r.output;
        h5::File f(out, h5::Access::kReadOnly);
        const auto ids = f.openDataset(output::points::kId).readAll<std::int64_t>();
        const bool egms = f.exists(output::points::kPid);
        const auto pids = egms ? f.readStrings(output::points::kPid) : std::vector<std::string>();
        for (std::size_t row : {std::size_t{7}, ids.size() / 2}) {
            std::size_t e = 0;
            while (e < eIds.size() && (egms ? ePids[e] != pids[row] : eIds[e] != ids[row])) ++e;
            ASSERT_LT(e, eIds.size()) << "point row " << row;
            const std::string data = dir.file(std::string(name) + ".data");
            fs::create_directories(data);
            const std::string id = std::to_string(ids[row]);
            r = run("env HLSTM_PLOT_DATA=" + data + " " +
                        plotCmd(out + " -o " + dir.file(std::string(name) + ".figs") + " --points " + id),
                    300);
            ASSERT_EQ(r.exitCode, 0) << r.output;
            auto q =
                run(std::string(kPython) + " -c \"import json; d=json.load(open('" + data + "/point_" + id +
                        ".json')); print(*[('nan' if v is None else repr(v)) for v in d['observed history']['y'] + "
                        "d['observed holdout (hidden from training)']['y']])\"",
                    60);
            ASSERT_EQ(q.exitCode, 0) << q.output;
            std::istringstream in(q.output);
            std::vector<double> drawn;
            for (std::string v; in >> v;) drawn.push_back(v == "nan" ? NAN : std::stod(v));
            ASSERT_EQ(drawn.size(), m) << q.output;
            for (std::size_t t = 0; t < m; ++t) {
                const double want = eMm[e * m + t];
                if (std::isnan(want))
                    EXPECT_TRUE(std::isnan(drawn[t])) << "epoch " << t;
                else
                    EXPECT_NEAR(drawn[t], want, 0.01) << "point " << id << " epoch " << t;
            }
        }
    }
}

TEST(Plot, HelpNamesTheFigures) {
    auto r = run(plotCmd("--help"), 60);
    EXPECT_EQ(r.exitCode, 0) << r.output;
    EXPECT_NE(r.output.find("grid_mae"), std::string::npos);
    EXPECT_NE(r.output.find("--lalo"), std::string::npos);
}

}  // namespace
}  // namespace hlstm::test
