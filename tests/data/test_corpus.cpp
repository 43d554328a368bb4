// A corpus of bad inputs, bad settings and bad output paths, each run through the real program
// (hlstm under mpiexec with 2 ranks). A failure must exit with the documented code, print one
// message (not one per rank) that says what is wrong and names the offending file, leave
// nothing at OUT, OUT.tmp or OUT.lock (nor OUT.ckpt for bad input: a runtime failure keeps
// the checkpoints for --resume), and leave every input byte for byte as it was. Handled inputs
// (documented handling) must exit 0, write OUT and log what was done.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <memory>
#include <utility>
#include <vector>

#include "hlstm/io/atomic_file.hpp"
#include "hlstm/io/hdf5.hpp"
#include "test_support.hpp"

using namespace hlstm;
using namespace hlstm::test;
namespace fs = std::filesystem;

namespace {

// ---------------------------------------------------------------------------------------------
// A native archive held in memory (read from a simulated scene), spoiled, written with h5::File.
struct Native {
    std::vector<double> x, y;
    std::vector<std::int64_t> id;
    std::vector<std::int32_t> dates;
    std::vector<float> disp, truth;  // n x m, row-major
    std::string unit = "mm";
    bool withX = true;
    bool xAsInt = false;
    std::uint64_t dispCols = 0;  // 0: m
    std::string crs = "EPSG:32650";
    std::int32_t crsCode = 0;  // > 0: the crs attribute as this integer instead

    [[nodiscard]] std::uint64_t n() const { return y.size(); }
    [[nodiscard]] std::uint64_t m() const { return dates.size(); }
    float& at(std::uint64_t i, std::uint64_t t) { return disp[i * m() + t]; }

    static Native read(const std::string& path) {
        Native s;
        h5::File f(path, h5::Access::kReadOnly);
        s.x = f.openDataset("/x").readAll<double>();
        s.y = f.openDataset("/y").readAll<double>();
        if (f.exists("/id")) s.id = f.openDataset("/id").readAll<std::int64_t>();
        s.dates = f.openDataset("/dates").readAll<std::int32_t>();
        s.disp = f.openDataset("/displacement").readAll<float>();
        if (f.exists("/truth")) s.truth = f.openDataset("/truth").readAll<float>();
        return s;
    }

    void write(const std::string& path) const {
        const std::uint64_t n = this->n(), m = this->m(), cols = dispCols == 0 ? m : dispCols;
        h5::File f(path, h5::Access::kCreate);
        if (withX) {
            if (xAsInt) {
                std::vector<std::int32_t> xi(x.size());
                std::transform(x.begin(), x.end(), xi.begin(), [](double v) { return static_cast<std::int32_t>(v); });
                auto ds = f.createDataset<std::int32_t>("/x", {n});
                if (n > 0) ds.writeRows(0, n, xi.data());
            } else {
                auto ds = f.createDataset<double>("/x", {n});
                if (n > 0) ds.writeRows(0, n, x.data());
            }
        }
        auto yd = f.createDataset<double>("/y", {n});
        if (n > 0) yd.writeRows(0, n, y.data());
        if (!id.empty() || n == 0) {
            auto ds = f.createDataset<std::int64_t>("/id", {n});
            if (n > 0) ds.writeRows(0, n, id.data());
        }
        f.writeSmall<std::int32_t>("/dates", dates);
        std::vector<float> d(n * cols, 1.0f);
        if (cols == m)
            d = disp;
        else
            for (std::uint64_t i = 0; i < n; ++i)
                for (std::uint64_t t = 0; t < std::min(cols, m); ++t) d[i * cols + t] = disp[i * m + t];
        auto ds = f.createDataset<float>("/displacement", {n, cols});
        if (n > 0) ds.writeRows(0, n, d.data());
        ds.writeAttribute("unit", unit);
        if (truth.size() == n * m && n > 0) {
            auto tr = f.createDataset<float>("/truth", {n, m});
            tr.writeRows(0, n, truth.data());
            tr.writeAttribute("unit", std::string("mm"));
        }
        if (crsCode > 0)
            f.writeAttribute("crs", crsCode);
        else
            f.writeAttribute("crs", crs);
    }
};

// ---------------------------------------------------------------------------------------------
// Files and their state.
std::string readBytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
void writeBytes(const std::string& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << bytes;
}
void copyFile(const std::string& from, const std::string& to) { writeBytes(to, readBytes(from)); }

/// What is at a path: missing, a symlink (and its target), a directory (and its entries) or a
/// regular file (and its bytes).
struct Snapshot {
    char kind = '-';
    std::string data;
    bool operator==(const Snapshot& o) const { return kind == o.kind && data == o.data; }
};
Snapshot snapshot(const std::string& path) {
    std::error_code ec;
    const auto st = fs::symlink_status(path, ec);
    if (ec || !fs::exists(st)) return {'-', ""};
    if (fs::is_symlink(st)) return {'l', fs::read_symlink(path, ec).string()};
    if (fs::is_fifo(st) || fs::is_socket(st) || fs::is_block_file(st) || fs::is_character_file(st))
        return {'o', ""};  // never opened: reading a pipe without a writer blocks
    if (fs::is_directory(st)) {
        std::vector<std::string> names;
        for (const auto& e : fs::directory_iterator(path, ec)) names.push_back(e.path().filename().string());
        std::sort(names.begin(), names.end());
        std::string all;
        for (const auto& s : names) all += s + "\n";
        return {'d', all};
    }
    return {'f', readBytes(path)};
}
bool lexists(const std::string& path) {
    std::error_code ec;
    return fs::exists(fs::symlink_status(path, ec));
}

std::size_t countMessages(const std::string& output) {
    std::size_t count = 0;
    for (auto pos = output.find("hlstm: "); pos != std::string::npos; pos = output.find("hlstm: ", pos + 1)) ++count;
    return count;
}

std::string firstLines(const std::string& text, std::size_t lines) {
    std::size_t pos = 0;
    for (std::size_t k = 0; k < lines && pos != std::string::npos; ++k) {
        pos = text.find('\n', pos);
        if (pos != std::string::npos) ++pos;
    }
    return pos == std::string::npos ? text : text.substr(0, pos);
}

/// The lines of the output that carry a message ("hlstm: ..."), or the last lines.
std::string messageLines(const std::string& output) {
    std::string lines;
    std::size_t start = 0;
    while (start < output.size()) {
        std::size_t end = output.find('\n', start);
        if (end == std::string::npos) end = output.size();
        const std::string line = output.substr(start, end - start);
        if (line.find("hlstm: ") != std::string::npos || line.find("WARN") != std::string::npos ||
            line.find("HDF5-DIAG") != std::string::npos)
            lines += line + "\n";
        start = end + 1;
    }
    if (lines.empty()) lines = firstLines(output, 6);
    return lines;
}

// ---------------------------------------------------------------------------------------------
// Commands.
using Overrides = std::vector<std::pair<std::string, std::string>>;

/// The fast settings of every run, with some keys replaced or added.
std::string settings(const Overrides& overrides = {}) {
    Overrides all = {{"train.epochs", "1"},
                     {"grid.L", "8"},
                     {"grid.K", "1"},
                     {"grid.S", "4"},
                     {"partition.min_points", "50"},
                     {"train.threads", "1"},
                     // In-time selection: the 20-epoch scene leaves the default out-of-time
                     // selection (8 cuts) 7 training epochs, too few for any window.
                     {"run.selection_cuts", "0"}};
    for (const auto& [key, value] : overrides) {
        auto it = std::find_if(all.begin(), all.end(), [&](const auto& kv) { return kv.first == key; });
        if (it != all.end())
            it->second = value;
        else
            all.emplace_back(key, value);
    }
    std::string s;
    for (const auto& [key, value] : all) s += " --" + key + " " + value;
    return s;
}

std::string runArgs(const std::string& in, const std::string& out, const Overrides& overrides = {}) {
    return "run --input " + in + " -o " + out + settings(overrides);
}

std::string underMpi(const std::string& args, const std::string& env = "") {
    return "env OMP_NUM_THREADS=1 " + env + " " + hlstmUnderMpi(2) + " " + args;
}

/// Runs a Python script (h5py, numpy) with arguments; empty on success, else the output.
std::string python(const std::string& dir, const std::string& script, const std::string& args) {
    const std::string path = dir + "/make.py";
    writeBytes(path, script);
    auto r = run("/usr/bin/python3 " + path + " " + args, 120);
    fs::remove(path);
    return r.exitCode == 0 ? "" : "python3 (h5py) failed: " + r.output;
}

// ---------------------------------------------------------------------------------------------
// The corpus.
struct Prepared {
    std::string env;                      ///< environment for the command ("NAME=value ...")
    std::shared_ptr<void> holdDuringRun;  ///< released right after the command (e.g. a lock it must meet)
    std::shared_ptr<void> holdToEnd;      ///< released after the checks (e.g. a small file system)
    std::string args;                     ///< hlstm arguments
    std::vector<std::string> inputs;      ///< paths that must be unchanged afterwards
    std::string out;                      ///< the output path (OUT)
    std::string named;                    ///< a path the message must name ("" none)
    std::string setupError;               ///< the case could not be prepared
};

struct Case {
    std::string name;
    std::function<Prepared(const std::string& dir)> make;
    int exit = 1;
    std::string fragment;  ///< text the output must contain
    bool pending = false;  ///< behaviour being implemented now
};

struct Outcome {
    std::string name;
    int expected = 0, exit = -1;
    bool pass = false, pending = false;
    std::vector<std::string> problems;
    std::string output;
};

}  // namespace

TEST(Corpus, EveryBadInputFailsCleanlyAndEveryHandledInputIsHandled) {
    TempDir dir;
    const std::string scene = dir.file("scene.h5");
    {
        auto r = run(underMpi("simulate --points 400 --epochs 20 --seed 3 -o " + scene), 120);
        ASSERT_EQ(r.exitCode, 0) << r.output;
    }
    const Native base = Native::read(scene);
    ASSERT_EQ(base.n(), 400u);
    ASSERT_EQ(base.m(), 20u);
    const std::string runOutput = dir.file("run-output.h5");
    {
        auto r = run(underMpi(runArgs(scene, runOutput)), 300);
        ASSERT_EQ(r.exitCode, 0) << r.output;
    }

    // The scene as an EGMS CSV (pid, easting, northing, one column per date) and a run on it.
    const std::string egmsScript =
        "import h5py, sys, csv, numpy as np\n"
        "with h5py.File(sys.argv[1]) as s:\n"
        "    x, y, d, v = s['x'][...], s['y'][...], s['dates'][...], s['displacement'][...]\n"
        "quoting = csv.QUOTE_ALL if sys.argv[3] == 'quoted' else csv.QUOTE_MINIMAL\n"
        "encoding = 'utf-8-sig' if sys.argv[3] == 'quoted' else 'utf-8'\n"
        "drop = int(sys.argv[4]) if len(sys.argv) > 4 else -1\n"
        "dup = sys.argv[3] == 'dup'\n"
        "with open(sys.argv[2], 'w', newline='', encoding=encoding) as f:\n"
        "    w = csv.writer(f, quoting=quoting)\n"
        "    w.writerow(['pid', 'easting', 'northing'] + [str(t) for t in d])\n"
        "    for i in range(len(x)):\n"
        "        if i == drop: continue\n"
        "        pid = 'P%07d' % (5 if dup and i == 20 else i)\n"
        "        w.writerow([pid, '%.3f' % x[i], '%.3f' % y[i]] + ['%.3f' % a for a in v[i]])\n";
    auto egmsCsv = [&](const std::string& d, const std::string& path, const std::string& mode,
                       const std::string& extra = "") {
        return python(d, egmsScript, scene + " " + path + " " + mode + " " + extra);
    };
    const std::string egmsScene = dir.file("egms.csv"), egmsRunOutput = dir.file("egms-run.h5");
    {
        ASSERT_EQ(egmsCsv(dir.path(), egmsScene, "plain"), "");
        auto r = run(underMpi(runArgs(egmsScene, egmsRunOutput)), 300);
        ASSERT_EQ(r.exitCode, 0) << r.output;
    }

    // A native archive spoiled in memory, written as DIR/in.h5 and run.
    auto native = [&](std::function<void(Native&)> spoil) {
        return [&base, spoil](const std::string& d) {
            Native s = base;
            spoil(s);
            Prepared p;
            p.out = d + "/out.h5";
            const std::string in = d + "/in.h5";
            s.write(in);
            p.args = runArgs(in, p.out);
            p.inputs = {in};
            p.named = in;
            return p;
        };
    };
    // A file made some other way, written to DIR/in.h5 and run.
    auto file = [&](std::function<std::string(const std::string& in, const std::string& d)> make) {
        return [make](const std::string& d) {
            Prepared p;
            p.out = d + "/out.h5";
            const std::string in = d + "/in.h5";
            p.setupError = make(in, d);
            p.args = runArgs(in, p.out);
            p.inputs = {in};
            p.named = in;
            return p;
        };
    };
    // The scene's datasets `keys` copied by h5py into the case's input, then `lines` of Python
    // (source `s`, new file `f`; h5py and numpy as np imported).
    auto copied = [&](const std::string& keys, const std::string& lines) {
        return file([&scene, keys, lines](const std::string& in, const std::string& d) {
            return python(d,
                          "import h5py, sys, numpy as np\n"
                          "with h5py.File(sys.argv[1]) as s, h5py.File(sys.argv[2], 'w') as f:\n"
                          "    for k in (" +
                              keys + "): f[k] = s[k][...]\n" + lines,
                          scene + " " + in);
        });
    };
    // `run` on a copy of the scene with other settings.
    auto config = [&](Overrides overrides, std::string prefix = "") {
        return [&scene, overrides, prefix](const std::string& d) {
            Prepared p;
            p.out = d + "/out.h5";
            const std::string in = d + "/in.h5";
            copyFile(scene, in);
            p.args = "run " + prefix + "--input " + in + " -o " + p.out + settings(overrides);
            p.inputs = {in};
            return p;
        };
    };
    auto simulate = [](std::string flags) {
        return [flags](const std::string& d) {
            Prepared p;
            p.out = d + "/sim.h5";
            p.args = "simulate " + flags + " --seed 3 -o " + p.out;
            return p;
        };
    };
    // A 20 x 20 MintPy timeseries.h5 (metres, 20 dates) with `kind`'s spoil: "zero-mask" (a
    // maskTempCoh.h5 of zeros as input.mask), "nan-geometry" (a radar-coded file whose
    // geometryRadar.h5 has NaN latitude and longitude), "epsg-99999" (EPSG = "99999").
    const std::string mintpyScript =
        "import h5py, sys, datetime, numpy as np\n"
        "kind, d = sys.argv[1], sys.argv[2]\n"
        "rows, cols, m = 20, 20, 20\n"
        "rng = np.random.default_rng(1)\n"
        "ds = [(datetime.date(2020, 1, 1) + datetime.timedelta(days=12 * k)).strftime('%Y%m%d') for k in range(m)]\n"
        "t = np.arange(m)[:, None, None] / 30.0\n"
        "ts = (-0.01 * t * (1 + rng.random((1, rows, cols))) + rng.normal(0, 0.001, (m, rows, cols))).astype('f4')\n"
        "radar = kind == 'nan-geometry'\n"
        "with h5py.File(d + '/timeseries.h5', 'w') as f:\n"
        "    f['timeseries'] = ts\n"
        "    f['date'] = np.array(ds, dtype=np.bytes_)\n"
        "    a = {'FILE_TYPE': 'timeseries', 'LENGTH': str(rows), 'WIDTH': str(cols), 'UNIT': 'm', 'REF_DATE': ds[0]}\n"
        "    if not radar:\n"
        "        a.update({'X_FIRST': '116.0', 'Y_FIRST': '38.5', 'X_STEP': '0.001', 'Y_STEP': '-0.001',\n"
        "                  'EPSG': '99999' if kind == 'epsg-99999' else '4326'})\n"
        "    for k, v in a.items(): f.attrs[k] = v\n"
        "if kind == 'zero-mask':\n"
        "    with h5py.File(d + '/maskTempCoh.h5', 'w') as f:\n"
        "        f['mask'] = np.zeros((rows, cols), dtype=bool)\n"
        "        f.attrs['FILE_TYPE'] = 'mask'\n"
        "if radar:\n"
        "    with h5py.File(d + '/geometryRadar.h5', 'w') as f:\n"
        "        f['latitude'] = np.full((rows, cols), np.nan, dtype='f4')\n"
        "        f['longitude'] = np.full((rows, cols), np.nan, dtype='f4')\n"
        "        f.attrs['FILE_TYPE'] = 'geometry'\n";
    auto mintpy = [&](const std::string& kind) {
        return [&mintpyScript, kind](const std::string& d) {
            Prepared p;
            p.setupError = python(d, mintpyScript, kind + " " + d);
            const std::string in = d + "/timeseries.h5";
            p.out = d + "/out.h5";
            p.inputs = {in};
            Overrides extra;
            if (kind == "zero-mask") {
                extra = {{"input.mask", d + "/maskTempCoh.h5"}};
                p.inputs.push_back(d + "/maskTempCoh.h5");
                p.named = d + "/maskTempCoh.h5";
            } else if (kind == "nan-geometry") {
                extra = {{"input.geometry", d + "/geometryRadar.h5"}};
                p.inputs.push_back(d + "/geometryRadar.h5");
                p.named = d + "/geometryRadar.h5";
            } else {
                p.named = in;
            }
            p.args = runArgs(in, p.out, extra);
            return p;
        };
    };
    const double kNaN = std::numeric_limits<double>::quiet_NaN();
    const std::vector<Case> cases = {
        // --- Native archive spoils ---------------------------------------------------------------
        {"missing-x", native([](Native& s) { s.withX = false; }), 1, "missing dataset /x"},
        {"displacement-shape", native([](Native& s) { s.dispCols = s.m() - 1; }), 1,
         "dataset /displacement has shape (400 x 19)"},
        {"x-integer", native([](Native& s) { s.xAsInt = true; }), 1, "dataset /x must be floating point"},
        {"dates-not-increasing", native([](Native& s) { std::swap(s.dates[2], s.dates[3]); }), 1,
         "dataset /dates index 3"},
        {"dates-duplicate", native([](Native& s) { s.dates[4] = s.dates[3]; }), 1, "duplicates the previous date"},
        {"unit-cm", native([](Native& s) { s.unit = "cm"; }), 1, "unit 'cm'"},
        {"nan-coordinate", native([kNaN](Native& s) { s.y[37] = kNaN; }), 1,
         "dataset /y index 37: coordinate is not finite"},
        {"text-file", file([](const std::string& in, const std::string&) {
             writeBytes(in, "not hdf5\n");
             return std::string();
         }),
         1, "not an HDF5 file"},
        {"empty-file", file([](const std::string& in, const std::string&) {
             writeBytes(in, "");
             return std::string();
         }),
         1, "not an HDF5 file"},
        {"truncated-half", file([&scene](const std::string& in, const std::string&) {
             const std::string bytes = readBytes(scene);
             writeBytes(in, bytes.substr(0, bytes.size() / 2));
             return std::string();
         }),
         1, "truncated or damaged", true},
        {"lzf-compressed",
         copied("'x', 'y', 'id', 'dates'",
                "    f.create_dataset('displacement', data=s['displacement'][...], compression='lzf')\n"
                "    f['displacement'].attrs['unit'] = 'mm'\n"),
         1, "compressed with filter 32000 (LZF"},
        // Fuzzing finding (regression): a 'unit' attribute holding several strings made HDF5
        // write all of them into room for one.
        {"unit-attribute-array",
         copied("'x', 'y', 'id', 'dates', 'displacement'",
                "    f['displacement'].attrs.create('unit', ['mm'] * 4, dtype=h5py.string_dtype())\n"),
         1, "attribute unit holds 4 values"},
        // Fuzzing finding (regression): a /dates of 10^12 entries (never written, no storage)
        // made every rank allocate terabytes.
        {"dates-implausible-length",
         copied("'x', 'y', 'id', 'displacement'",
                "    f['displacement'].attrs['unit'] = 'mm'\n"
                "    f.create_dataset('dates', shape=(10**12,), dtype='i4', chunks=(1000,))\n"),
         1, "is not an InSAR time series"},
        {"unit-attribute-fixed-array",
         copied("'x', 'y', 'id', 'dates', 'displacement'",
                "    f['displacement'].attrs['unit'] = np.array([b'm' * 40] * 8)\n"),
         1, "attribute unit holds 8 values"},
        {"zero-points", native([](Native& s) {
             s.x.clear();
             s.y.clear();
             s.id.clear();
             s.disp.clear();
             s.truth.clear();
         }),
         1, "no points", true},
        {"missing-input", file([](const std::string&, const std::string&) { return std::string(); }), 1,
         "no such file"},
        {"input-is-directory", file([](const std::string& in, const std::string&) {
             fs::create_directory(in);
             return std::string();
         }),
         1, "not an HDF5 file"},
        {"all-nan", native([kNaN](Native& s) { std::fill(s.disp.begin(), s.disp.end(), static_cast<float>(kNaN)); }), 1,
         "none of its 400 input point(s) can be used: 400 no_data (no value in any epoch)"},
        {"two-dates", native([](Native& s) {
             Native t = s;
             s.dates.resize(2);
             s.disp.clear();
             s.truth.clear();
             for (std::uint64_t i = 0; i < t.n(); ++i)
                 for (std::uint64_t k = 0; k < 2; ++k) s.disp.push_back(t.at(i, k));
         }),
         1, "2 epochs leave fewer than 3"},

        // --- Configuration and command line ------------------------------------------------------
        {"unknown-key", config({{"train.epochz", "3"}}), 1, "train.epochz"},
        {"wrong-type", config({{"train.epochs", "abc"}}), 1, "key 'train.epochs' must be an integer"},
        {"horizon-0", config({{"model.horizon", "0"}}), 1, "model.horizon must be in 1..30"},
        {"grid-L-1", config({{"grid.L", "1"}}), 1, "grid.L: every L must exceed model.horizon"},
        {"validation-fraction-0", config({{"model.validation_fraction", "0"}}), 1,
         "model.validation_fraction must be > 0"},
        {"holdout-ne-horizon", config({{"run.holdout", "2"}, {"model.horizon", "1"}}), 1,
         "run.holdout (2) must equal model.horizon (1)"},
        {"missing-config",
         [&](const std::string& d) {
             Prepared p = config({}, "--config " + d + "/missing.toml ")(d);
             p.named = d + "/missing.toml";
             return p;
         },
         1, "does not exist"},
        {"config-syntax-error",
         [&](const std::string& d) {
             const std::string toml = d + "/bad.toml";
             writeBytes(toml, "[train]\nepochs = = 3\n");
             Prepared p = config({}, "--config " + toml + " ")(d);
             p.inputs.push_back(toml);
             p.named = toml + ":2";  // file and line
             return p;
         },
         1, "bad.toml:2"},
        {"simulate-points-negative", simulate("--points -5 --epochs 20"), 1, "--points -5 is out of range"},
        {"simulate-epochs-negative", simulate("--points 400 --epochs -3"), 1, "--epochs -3 is out of range"},
        {"simulate-points-huge", simulate("--points 2000000000 --epochs 20"), 1, "--points 2000000000 is out of range"},

        // --- Output paths ------------------------------------------------------------------------
        {"out-is-input",
         [&](const std::string& d) {
             Prepared p;
             const std::string in = d + "/in.h5";
             copyFile(scene, in);
             p.out = in;
             p.args = runArgs(in, p.out);
             p.inputs = {in};
             p.named = in;
             return p;
         },
         1, "the output would replace the input"},
        {"out-symlink-to-input",
         [&](const std::string& d) {
             Prepared p;
             const std::string in = d + "/in.h5";
             copyFile(scene, in);
             p.out = d + "/link.h5";
             fs::create_symlink(in, p.out);
             p.args = runArgs(in, p.out);
             p.inputs = {in, p.out};
             p.named = p.out;
             return p;
         },
         1, "the output would replace the input"},
        {"out-is-directory",
         [&](const std::string& d) {
             Prepared p;
             const std::string in = d + "/in.h5";
             copyFile(scene, in);
             p.out = d + "/outdir";
             fs::create_directory(p.out);
             p.args = runArgs(in, p.out);
             p.inputs = {in, p.out};
             p.named = p.out;
             return p;
         },
         1, "is a directory"},
        {"out-in-missing-directory",
         [&](const std::string& d) {
             Prepared p;
             const std::string in = d + "/in.h5";
             copyFile(scene, in);
             p.out = d + "/nowhere/out.h5";
             p.args = runArgs(in, p.out);
             p.inputs = {in, d + "/nowhere"};
             p.named = p.out;
             return p;
         },
         1, "does not exist"},

        // --- predict -----------------------------------------------------------------------------
        {"predict-models-plain-scene",
         [&](const std::string& d) {
             Prepared p;
             const std::string models = d + "/models.h5", in = d + "/in.h5";
             copyFile(scene, models);
             copyFile(scene, in);
             p.out = d + "/pred.h5";
             p.args = "predict --models " + models + " --input " + in + " -o " + p.out;
             p.inputs = {models, in};
             p.named = models;
             return p;
         },
         1, "not an hlstm-output file"},
        {"predict-models-truncated",
         [&](const std::string& d) {
             Prepared p;
             const std::string models = d + "/models.h5", in = d + "/in.h5";
             const std::string bytes = readBytes(runOutput);
             writeBytes(models, bytes.substr(0, bytes.size() / 2));
             copyFile(scene, in);
             p.out = d + "/pred.h5";
             p.args = "predict --models " + models + " --input " + in + " -o " + p.out;
             p.inputs = {models, in};
             p.named = models;
             return p;
         },
         1, "truncated or damaged", true},
        {"predict-out-is-models",
         [&](const std::string& d) {
             Prepared p;
             const std::string models = d + "/models.h5", in = d + "/in.h5";
             copyFile(runOutput, models);
             copyFile(scene, in);
             p.out = models;
             p.args = "predict --models " + models + " --input " + in + " -o " + p.out;
             p.inputs = {models, in};
             p.named = models;
             return p;
         },
         1, "(the models, --models)"},
        {"predict-coordinates-differ",
         [&](const std::string& d) {
             Prepared p;
             const std::string models = d + "/models.h5", in = d + "/in.h5";
             copyFile(runOutput, models);
             copyFile(scene, in);
             p.setupError = python(d,
                                   "import h5py, sys\n"
                                   "with h5py.File(sys.argv[1], 'r+') as f:\n"
                                   "    f['x'][...] = f['x'][...] + 5000.0\n",
                                   in);
             p.out = d + "/pred.h5";
             p.args = "predict --models " + models + " --input " + in + " -o " + p.out;
             p.inputs = {models, in};
             p.named = in;
             return p;
         },
         1, "coordinates differ", true},

        // --- Handled: exit 0, output written, the handling logged ---------------------------------
        {"last-epoch-nan", native([kNaN](Native& s) {
             for (std::uint64_t i = 0; i < s.n(); ++i) s.at(i, s.m() - 1) = static_cast<float>(kNaN);
         }),
         0, "excluded from the metrics", true},
        {"one-value-1e30", native([](Native& s) { s.at(17, 9) = 1e30f; }), 0, "outlier", true},
        {"duplicate-coordinates", native([](Native& s) {
             for (std::uint64_t i = 0; i < 100; ++i) {
                 s.x[300 + i] = s.x[i];
                 s.y[300 + i] = s.y[i];
             }
         }),
         0, "share their coordinates", true},
        // --- issue 17: every file a command reads is protected -----------------------------------
        {"out-is-mask",
         [&](const std::string& d) {
             Prepared p = config({})(d);
             const std::string mask = d + "/mask.h5";
             copyFile(scene, mask);
             p.out = mask;
             p.args = runArgs(d + "/in.h5", mask, {{"input.mask", mask}});
             p.inputs.push_back(mask);
             p.named = mask;
             return p;
         },
         1, "(the mask, input.mask)"},
        {"out-is-geometry",
         [&](const std::string& d) {
             Prepared p = config({})(d);
             const std::string geometry = d + "/geometryRadar.h5";
             copyFile(scene, geometry);
             p.out = geometry;
             p.args = runArgs(d + "/in.h5", geometry, {{"input.geometry", geometry}});
             p.inputs.push_back(geometry);
             p.named = geometry;
             return p;
         },
         1, "(the geometry, input.geometry)"},
        {"out-is-config",
         [&](const std::string& d) {
             const std::string toml = d + "/run.toml";
             writeBytes(toml, "[train]\nepochs = 1\n");
             Prepared p = config({}, "--config " + toml + " ")(d);
             p.args = "run --config " + toml + " --input " + d + "/in.h5 -o " + toml + settings();
             p.out = toml;
             p.inputs.push_back(toml);
             p.named = toml;
             return p;
         },
         1, "(the configuration, --config)"},
        {"partition-out-is-config",
         [&](const std::string& d) {
             const std::string toml = d + "/run.toml", in = d + "/in.h5";
             writeBytes(toml, "[partition]\nmin_points = 50\n");
             copyFile(scene, in);
             Prepared p;
             p.args = "partition --config " + toml + " " + in + " -o " + toml;
             p.out = toml;
             p.inputs = {in, toml};
             p.named = toml;
             return p;
         },
         1, "(the configuration, --config)"},
        {"predict-out-is-mask",
         [&](const std::string& d) {
             Prepared p;
             const std::string models = d + "/models.h5", in = d + "/in.h5", mask = d + "/mask.h5";
             copyFile(runOutput, models);
             copyFile(scene, in);
             copyFile(scene, mask);
             p.out = mask;
             p.args = "predict --models " + models + " --input " + in + " --mask " + mask + " -o " + mask;
             p.inputs = {models, in, mask};
             p.named = mask;
             return p;
         },
         1, "(the mask, input.mask)"},
        {"input-is-out-tmp",
         [&](const std::string& d) {
             Prepared p;
             const std::string in = d + "/out.h5.tmp";
             copyFile(scene, in);
             p.out = d + "/out.h5";
             p.args = runArgs(in, p.out);
             p.inputs = {in};
             p.named = in;
             return p;
         },
         1, "the output's .tmp"},
        {"input-inside-out-ckpt",
         [&](const std::string& d) {
             Prepared p;
             fs::create_directory(d + "/out.h5.ckpt");
             const std::string in = d + "/out.h5.ckpt/in.h5";
             copyFile(scene, in);
             p.out = d + "/out.h5";
             p.args = runArgs(in, p.out);
             p.inputs = {in, d + "/out.h5.ckpt"};
             p.named = in;
             return p;
         },
         1, "the output's .ckpt"},
        {"export-input-is-out-tmp",
         [&](const std::string& d) {
             Prepared p;
             const std::string in = d + "/A.csv.tmp";
             copyFile(runOutput, in);
             p.out = d + "/A.csv";
             p.args = "export " + in + " -o " + p.out;
             p.inputs = {in};
             p.named = in;
             return p;
         },
         1, "the output's .tmp"},
        // --- one run per output ------------------------------------------------------------------
        {"out-locked-by-another-run",
         [&](const std::string& d) {
             Prepared p = config({})(d);
             p.holdDuringRun = std::make_shared<io::OutputLock>(p.out);  // this test process holds it
             p.named = p.out + ".lock";
             return p;
         },
         1, "is locked by pid " + std::to_string(::getpid())},
        // --- checked before training -------------------------------------------------------------
        {"grid-L-too-long", config({{"grid.L", "30"}}), 1, "grid.L = [30]: no L fits the 19 visible epochs"},
        {"grid-L-one-fits", config({{"grid.L", "8,30"}}), 0, "grid.L: L = 30 dropped"},
        {"fewer-interval-cuts", config({{"grid.L", "12"}}), 0, "run.interval_cuts = 12: 4 interval cuts are used"},
        {"unknown-crs", native([](Native& s) { s.crs = "EPSG:999999"; }), 1, "CRS 'EPSG:999999'"},
        {"unknown-crs-integer", native([](Native& s) { s.crsCode = 999999; }), 1, "is not known to PROJ"},
        {"output-directory-not-writable",
         [&](const std::string& d) {
             Prepared p = config({})(d);
             p.out = "/proc/hlstm-corpus-out.h5";  // exists, and no one may create files in it
             p.args = runArgs(d + "/in.h5", p.out);
             p.named = p.out;
             return p;
         },
         1, "the output directory is not writable"},
        {"threads-huge", config({{"train.threads", "100000"}}), 1, "train.threads = 100000 is out of range"},
        {"grid-shape-out-of-memory", config({{"grid.K", "64"}, {"grid.S", "4096"}}), 1, "GB to train, more than"},
        {"run-simulate-points-huge-dry-run",
         [&](const std::string& d) {
             Prepared p;
             p.out = d + "/out.h5";
             p.args = "run --dry-run -o " + p.out + " --simulate.points 99999999999" + settings();
             return p;
         },
         1, "99999999999 points (--points, simulate.points) is out of range"},
        {"simulate-points-zero", simulate("--points 0 --epochs 20"), 1, "--points 0 is out of range"},
        {"disk-full-during-write",
         [&](const std::string& d) {
             Prepared p = config({})(d);
             const std::string small = d + "/small";
             fs::create_directory(small);
             // A 128 KB file system (room for the checkpoints, not the output) when this test may mount one (root), else an injected ENOSPC.
             if (run("mount -t tmpfs -o size=128k tmpfs " + small, 10).exitCode == 0)
                 p.holdToEnd = std::shared_ptr<void>(nullptr, [small](void*) { run("umount " + small, 10); });
             else
                 p.env = "HLSTM_ENOSPC_INJECT=small/out.h5";
             p.out = small + "/out.h5";
             p.args = runArgs(d + "/in.h5", p.out);
             p.named = p.out;
             return p;
         },
         2, "writing the output failed"},
        // --- EGMS ----------------------------------------------------------------------------------
        {"egms-bom-quoted",
         [&](const std::string& d) {
             Prepared p;
             const std::string in = d + "/in.csv";
             p.setupError = egmsCsv(d, in, "quoted");
             p.out = d + "/out.h5";
             p.args = runArgs(in, p.out);
             p.inputs = {in};
             return p;
         },
         0, "coordinates from easting/northing (EPSG:3035), pid"},
        {"egms-duplicate-pid",
         [&](const std::string& d) {
             Prepared p;
             const std::string in = d + "/in.csv";
             p.setupError = egmsCsv(d, in, "dup");
             p.out = d + "/out.h5";
             p.args = runArgs(in, p.out);
             p.inputs = {in};
             p.named = in;
             return p;
         },
         0, "1 point(s) repeat a pid of an earlier line (first: pid 'P0000005' on data line 21)"},
        {"egms-next-release-one-point-removed",
         [&](const std::string& d) {
             Prepared p;
             const std::string in = d + "/in.csv", models = d + "/models.h5";
             p.setupError = egmsCsv(d, in, "plain", "10");
             copyFile(egmsRunOutput, models);
             p.out = d + "/pred.h5";
             p.args = "predict --models " + models + " --input " + in + " -o " + p.out;
             p.inputs = {in, models};
             return p;
         },
         0, "matched by pid"},
        {"egms-bad-longitude", file([](const std::string& in, const std::string&) {
             writeBytes(in,
                        "pid,latitude,longitude,20200101,20200113,20200125\n"
                        "A1,38.1,116.2,1.0,2.0,3.0\nA2,38.2,abc,1.0,2.0,3.0\n");
             return std::string();
         }),
         1, "line 3: longitude (column 3) 'abc' is not a number"},
        {"egms-header-only", file([](const std::string& in, const std::string&) {
             writeBytes(in, "pid,latitude,longitude,20200101,20200113,20200125\n");
             return std::string();
         }),
         1, "the file has no points"},
        {"input-is-a-pipe", file([](const std::string& in, const std::string&) {
             return run("mkfifo " + in, 10).exitCode == 0 ? std::string() : std::string("mkfifo failed");
         }),
         1, "not a regular file (a pipe or a device?)"},
        // --- predict on another scene --------------------------------------------------------------
        {"predict-scene-300-km-away",
         [&](const std::string& d) {
             Prepared p;
             const std::string models = d + "/models.h5", in = d + "/in.h5";
             copyFile(runOutput, models);
             Native s = base;
             for (auto& x : s.x) x += 300000.0;
             s.id.resize(s.n());
             for (std::uint64_t i = 0; i < s.n(); ++i) s.id[i] = 1000000 + static_cast<std::int64_t>(i);
             s.write(in);
             p.out = d + "/pred.h5";
             p.args = "predict --models " + models + " --input " + in + " -o " + p.out;
             p.inputs = {models, in};
             p.named = in;
             return p;
         },
         1, "is within the partition's edge threshold"},
        {"predict-some-points-far",
         [&](const std::string& d) {
             Prepared p;
             const std::string models = d + "/models.h5", in = d + "/in.h5";
             copyFile(runOutput, models);
             Native s = base;  // the trained scene's ids, but 10 points moved 300 km with new ids
             if (s.id.empty())
                 for (std::uint64_t i = 0; i < s.n(); ++i) s.id.push_back(static_cast<std::int64_t>(i));
             for (std::uint64_t i = 0; i < 10; ++i) {
                 s.x[i] += 300000.0;
                 s.id[i] = 1000000 + static_cast<std::int64_t>(i);
             }
             s.write(in);
             p.out = d + "/pred.h5";
             p.args = "predict --models " + models + " --input " + in + " -o " + p.out;
             p.inputs = {models, in};
             return p;
         },
         0, "10 point(s) of"},
        // --- MintPy grids: an all-zero mask, NaN geometry, an unknown EPSG ----------------------------
        {"mintpy-mask-all-zero", mintpy("zero-mask"), 1,
         "none of its 400 input point(s) can be used: 400 masked (mask = 0 in input.mask"},
        {"mintpy-geometry-all-nan", mintpy("nan-geometry"), 1,
         "400 invalid_coordinates (no finite latitude/longitude in input.geometry"},
        {"mintpy-epsg-99999", mintpy("epsg-99999"), 1,
         "CRS 'EPSG:99999' (the file's EPSG/crs attribute) is not known to PROJ"},
    };
    ASSERT_GE(cases.size(), 72u);

    std::vector<Outcome> outcomes;
    for (std::size_t k = 0; k < cases.size(); ++k) {
        const Case& c = cases[k];
        Outcome o;
        o.name = c.name;
        o.expected = c.exit;
        o.pending = c.pending;
        const std::string d = dir.file("case" + std::to_string(k) + "-" + c.name);
        fs::create_directory(d);
        Prepared p;
        try {
            p = c.make(d);
        } catch (const std::exception& e) {
            p.setupError = std::string("exception while preparing: ") + e.what();
        }
        if (!p.setupError.empty()) {
            p.holdDuringRun.reset();
            o.problems.push_back("setup: " + p.setupError);
            outcomes.push_back(o);
            ADD_FAILURE() << c.name << ": " << p.setupError;
            continue;
        }
        std::vector<Snapshot> before;
        for (const auto& in : p.inputs) before.push_back(snapshot(in));
        const bool outExisted = lexists(p.out);

        auto r = run(underMpi(p.args, p.env), 120);
        p.holdDuringRun.reset();
        o.exit = r.exitCode;
        o.output = r.output;
        auto problem = [&](const std::string& what) { o.problems.push_back(what); };

        if (r.exitCode != c.exit)
            problem("exit " + std::to_string(r.exitCode) + ", expected " + std::to_string(c.exit));
        if (r.output.find(c.fragment) == std::string::npos) problem("no \"" + c.fragment + "\" in the output");
        if (!p.named.empty() && r.output.find(p.named) == std::string::npos)
            problem("the message does not name " + p.named);
        if (r.output.find("HDF5-DIAG") != std::string::npos) problem("raw HDF5 error stack in the output");
        if (c.exit != 0) {
            const std::size_t messages = countMessages(r.output);
            if (messages != 1) problem(std::to_string(messages) + " \"hlstm: \" message(s), expected 1");
            if (!outExisted && lexists(p.out)) problem("something exists at OUT " + p.out);
        } else {
            if (!fs::is_regular_file(p.out)) {
                problem("no output at " + p.out);
            } else {
                try {
                    h5::File f(p.out, h5::Access::kReadOnly);
                    if (f.readAttribute<std::int32_t>("complete") != 1) problem("output not complete");
                } catch (const std::exception& e) {
                    problem(std::string("output unreadable: ") + e.what());
                }
            }
        }
        // (An input at OUT.tmp or in OUT.ckpt is checked below as an input: it must stay.)
        const auto isInput = [&](const std::string& path) {
            return std::any_of(p.inputs.begin(), p.inputs.end(),
                               [&](const std::string& in) { return in.rfind(path, 0) == 0; });
        };
        if (lexists(p.out + ".tmp") && !isInput(p.out + ".tmp")) problem("OUT.tmp left behind: " + p.out + ".tmp");
        // Bad input leaves no checkpoints; a runtime failure (exit 2) keeps them for --resume.
        if (c.exit == 1 && !outExisted && lexists(p.out + ".ckpt") && !isInput(p.out + ".ckpt"))
            problem("OUT.ckpt left behind: " + p.out + ".ckpt");
        if (lexists(p.out + ".lock")) problem("OUT.lock left behind: " + p.out + ".lock");
        for (std::size_t i = 0; i < p.inputs.size(); ++i)
            if (!(snapshot(p.inputs[i]) == before[i])) problem("input changed: " + p.inputs[i]);

        o.pass = o.problems.empty();
        for (const auto& what : o.problems)
            ADD_FAILURE() << c.name << (c.pending ? " (pending)" : "") << ": " << what << "\n$ hlstm " << p.args << "\n"
                          << messageLines(r.output);
        outcomes.push_back(o);
    }

    // Summary.
    std::size_t passed = 0;
    std::printf("\n%-28s %5s %5s  %-6s %s\n", "case", "want", "exit", "result", "problems");
    for (const auto& o : outcomes) {
        passed += o.pass ? 1 : 0;
        std::string problems;
        for (const auto& what : o.problems) problems += (problems.empty() ? "" : "; ") + what;
        std::printf("%-28s %5d %5d  %-6s %s%s\n", o.name.c_str(), o.expected, o.exit, o.pass ? "pass" : "FAIL",
                    o.pending && !o.pass ? "(pending) " : "", problems.c_str());
    }
    std::printf("%zu of %zu cases pass\n", passed, outcomes.size());
}

// /points/status on a MintPy grid (tests/data/make_fixtures.py: timeseries with no-data pixels,
// maskTempCoh.h5 masking the right quarter): `hlstm run` writes one row per pixel, and the
// counts per status equal those of the fixture's pixels (3 no data, 2 masked, 1 too few
// valid epochs, 0 forecast); the read log line names each count.
TEST(Corpus, MintPyGridStatusCountsEqualTheMaskedAndNoDataPixels) {
    TempDir dir;
    auto fx = run("/usr/bin/python3 " HLSTM_SOURCE_DIR "/tests/data/make_fixtures.py " + dir.path(), 120);
    ASSERT_EQ(fx.exitCode, 0) << fx.output;
    std::vector<std::int8_t> expected;
    {
        h5::File f(dir.file("expected.h5"), h5::Access::kReadOnly);
        expected = f.openDataset("/masked_status").readAll<std::int8_t>();
    }
    const std::string out = dir.file("out.h5");
    auto r = run(underMpi(runArgs(dir.file("mintpy_geo.h5"), out,
                                  {{"input.mask", dir.file("maskTempCoh.h5")}, {"input.min_valid_fraction", "0"}})),
                 300);
    ASSERT_EQ(r.exitCode, 0) << r.output;
    std::vector<std::int8_t> status;
    {
        h5::File f(out, h5::Access::kReadOnly);
        status = f.openDataset("/points/status").readAll<std::int8_t>();
    }
    ASSERT_EQ(status.size(), expected.size());  // every pixel is a row
    std::array<std::size_t, 8> want{}, got{};
    for (auto s : expected) ++want.at(static_cast<std::size_t>(s));
    for (auto s : status) ++got.at(static_cast<std::size_t>(s));
    EXPECT_EQ(got, want);
    ASSERT_GT(want[2], 0u);
    ASSERT_GT(want[3], 0u);
    const std::string line = std::to_string(want[2]) + " masked (mask = 0 in input.mask " + dir.file("maskTempCoh.h5") +
                             "), " + std::to_string(want[3]) + " no_data (no value in any epoch)";
    EXPECT_NE(r.output.find(line), std::string::npos) << r.output;
    std::printf("status counts: forecast %zu, too_few_epochs %zu, masked %zu, no_data %zu of %zu pixels\n", got[0],
                got[1], got[2], got[3], status.size());
}
