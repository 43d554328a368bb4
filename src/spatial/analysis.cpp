// `hlstm spatial`: read a run output on root, compute the statistics of each variable there,
// broadcast the summary (include/hlstm/spatial/analysis.hpp).
#include "hlstm/spatial/analysis.hpp"

#include <algorithm>
#include <boost/serialization/string.hpp>
#include <boost/serialization/vector.hpp>
#include <cmath>
#include <exception>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>

#include "hlstm/core/coordinated.hpp"
#include "hlstm/core/error.hpp"
#include "hlstm/io/hdf5.hpp"
#include "hlstm/io/output_format.hpp"

namespace hlstm::spatial {

template <class Archive> void SpatialSummary::serialize(Archive& ar, unsigned /*version*/) {
    ar& points& holdoutSteps& moranVariable& moranI& moranExpected& moranVariance& moranZ& moranP& moranN;
    ar& hot& cold& hotFdr& coldFdr& agreementShare& agreementKappa& agreementShareFdr& agreementKappaFdr;
    ar& gdVariable& gdStrata& gdSubregion& gdN& gdNStrata& gdQ& gdP;
    ar& nni.n& nni.meanDistance& nni.area& nni.perimeter& nni.R& nni.z& nni.p& nni.rPlain& nni.zPlain& nni.pPlain;
}

SpatialOptions SpatialOptions::fromConfig(const Config& config) {
    SpatialOptions o;
    const std::int64_t k = config.getInt("spatial.k");
    if (k < 1 || k > 1000) throw ConfigError("spatial.k = " + std::to_string(k) + ": must be 1 .. 1000");
    o.k = static_cast<std::size_t>(k);
    o.cell = config.getDouble("spatial.cell");
    if (!(o.cell > 0) || !std::isfinite(o.cell))
        throw ConfigError("spatial.cell = " + std::to_string(o.cell) + ": must be a positive number of metres");
    o.alpha = config.getDouble("spatial.alpha");
    if (!(o.alpha > 0 && o.alpha < 1))
        throw ConfigError("spatial.alpha = " + std::to_string(o.alpha) + ": must be in (0, 1)");
    o.enabled = config.getBool("spatial.enabled");
    return o;
}

std::string defaultSpatialPath(const std::string& runOutput) {
    std::filesystem::path p(runOutput);
    if (p.extension() == ".h5") p.replace_extension();
    return p.string() + ".spatial.h5";
}

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

[[noreturn]] void bad(const std::string& file, const std::string& what) { throw InputError(file + ": " + what); }

// The per-point columns of a run output that the statistics need (root only).
struct Columns {
    std::vector<double> x, y;
    std::vector<std::vector<double>> variables;  // variableNames() order; NaN where missing
    std::vector<std::int64_t> subregion, zone;   // -1 where not partitioned
    int holdoutSteps = 0;
};

std::vector<double> readColumn(const h5::File& file, const std::string& input, const std::string& path,
                               std::uint64_t n) {
    if (!file.exists(path)) bad(input, "no dataset " + path + " (expected the output of hlstm run)");
    const auto ds = file.openDataset(path);
    const auto dims = ds.dims();
    if (dims.size() != 1 || dims[0] != n)
        bad(input, path + " has not one value per row of /points/x (" + std::to_string(n) + ")");
    return ds.readAll<double>();
}

// The sum over the Y held-out steps of a points x Y dataset (NaN when a step is missing).
std::optional<std::vector<double>> readHoldout(const h5::File& file, const std::string& input, const std::string& path,
                                               std::uint64_t n, int& steps) {
    if (!file.exists(path)) return std::nullopt;
    const auto ds = file.openDataset(path);
    const auto dims = ds.dims();
    if (dims.empty() || dims[0] != n) bad(input, path + " has not one row per row of /points/x");
    const std::uint64_t y = dims.size() > 1 ? dims[1] : 1;
    const auto all = ds.readAll<double>();
    std::vector<double> out(n, 0.0);
    for (std::uint64_t i = 0; i < n; ++i)
        for (std::uint64_t s = 0; s < y; ++s) out[i] += all[i * y + s];
    steps = static_cast<int>(y);
    return out;
}

Columns readColumns(const std::string& input) {
    std::error_code ec;
    if (!std::filesystem::exists(input, ec)) bad(input, "no such file");
    if (std::filesystem::is_directory(input, ec)) bad(input, "is a directory, not an hlstm output file");
    if (!h5::isHdf5(input)) bad(input, "not an HDF5 file (expected the output of hlstm run)");
    const h5::File file(input, h5::Access::kReadOnly);
    const std::string format =
        file.hasAttribute(output::attr::kFormat) ? file.readStringAttribute(output::attr::kFormat) : "";
    if (format != output::kFormatName)
        bad(input, "not an hlstm run output (format = \"" + format + "\", expected \"" + output::kFormatName + "\")");
    if (!file.hasAttribute(output::attr::kComplete) || file.readAttribute<std::int32_t>(output::attr::kComplete) != 1)
        bad(input, "incomplete hlstm output (complete != 1): the run that wrote it did not finish");
    if (!file.exists(output::points::kX)) bad(input, "no dataset /points/x");
    const auto dims = file.openDataset(output::points::kX).dims();
    const std::uint64_t n = dims.empty() ? 0 : dims[0];
    Columns c;
    c.x = readColumn(file, input, output::points::kX, n);
    c.y = readColumn(file, input, output::points::kY, n);
    c.variables.assign(variableNames().size(), std::vector<double>(n, kNaN));
    c.variables[0] = readColumn(file, input, output::points::kVelocity, n);
    auto toLabels = [&](const std::string& path) {
        std::vector<std::int64_t> out(n, -1);
        if (!file.exists(path)) return out;
        const auto v = readColumn(file, input, path, n);
        for (std::uint64_t i = 0; i < n; ++i) out[i] = std::isfinite(v[i]) ? static_cast<std::int64_t>(v[i]) : -1;
        return out;
    };
    c.subregion = toLabels(output::points::kSubregion);
    c.zone = toLabels(output::points::kZone);
    int steps = 0;
    const auto observed = readHoldout(file, input, output::forecast::kHoldoutTrue, n, steps);
    const auto predicted = readHoldout(file, input, output::forecast::kHoldoutPred, n, steps);
    if (observed && predicted) {
        c.holdoutSteps = steps;
        c.variables[1] = *observed;
        c.variables[2] = *predicted;
        for (std::uint64_t i = 0; i < n; ++i) c.variables[3][i] = (*predicted)[i] - (*observed)[i];
    }
    for (std::uint64_t i = 0; i < n; ++i)
        if (!std::isfinite(c.x[i]) || !std::isfinite(c.y[i]))
            for (auto& v : c.variables) v[i] = kNaN;  // a point without coordinates is in no statistic
    return c;
}

// The rows with a finite value: their indices and their coordinates.
struct Subset {
    std::vector<std::uint32_t> rows;
    std::vector<double> x, y;
};
Subset finiteRows(const Columns& c, const std::vector<double>& v) {
    Subset s;
    for (std::size_t i = 0; i < v.size(); ++i)
        if (std::isfinite(v[i])) {
            s.rows.push_back(static_cast<std::uint32_t>(i));
            s.x.push_back(c.x[i]);
            s.y.push_back(c.y[i]);
        }
    return s;
}

// Regular grid cells of `cell` metres from the lower left of the points (a stratum id per row).
std::vector<std::int64_t> gridStrata(const Columns& c, double cell) {
    double x0 = std::numeric_limits<double>::infinity(), y0 = x0;
    for (std::size_t i = 0; i < c.x.size(); ++i)
        if (std::isfinite(c.x[i]) && std::isfinite(c.y[i])) x0 = std::min(x0, c.x[i]), y0 = std::min(y0, c.y[i]);
    std::vector<std::int64_t> out(c.x.size(), -1);
    constexpr std::int64_t kColumns = std::int64_t{1} << 31;
    for (std::size_t i = 0; i < c.x.size(); ++i)
        if (std::isfinite(c.x[i]) && std::isfinite(c.y[i]))
            out[i] = static_cast<std::int64_t>(std::floor((c.y[i] - y0) / cell)) * kColumns +
                     static_cast<std::int64_t>(std::floor((c.x[i] - x0) / cell));
    return out;
}

void addGeodetector(SpatialSummary& s, const std::string& variable, const std::string& strata, std::int32_t within,
                    const std::vector<double>& v, const std::vector<std::int64_t>& stratum,
                    const std::vector<std::int64_t>& subregion) {
    std::vector<double> values;
    std::vector<std::int64_t> labels;
    for (std::size_t i = 0; i < v.size(); ++i)
        if (std::isfinite(v[i]) && stratum[i] >= 0 && (within < 0 || subregion[i] == within)) {
            values.push_back(v[i]);
            labels.push_back(stratum[i]);
        }
    const Geodetector g = factorDetector(values, labels);
    s.gdVariable.push_back(variable);
    s.gdStrata.push_back(strata);
    s.gdSubregion.push_back(within);
    s.gdN.push_back(static_cast<std::int64_t>(g.n));
    s.gdNStrata.push_back(static_cast<std::int64_t>(g.strata));
    s.gdQ.push_back(g.q);
    s.gdP.push_back(g.p);
}

SpatialResult compute(const Columns& c, const SpatialOptions& o) {
    SpatialResult r;
    SpatialSummary& s = r.summary;
    s.points = c.x.size();
    s.holdoutSteps = c.holdoutSteps;
    const auto& names = variableNames();
    std::vector<std::vector<std::int8_t>> classes(names.size()), classesFdr(names.size());
    std::vector<std::uint32_t> lastRows;
    std::optional<Neighbours> nb;
    for (std::size_t v = 0; v < names.size(); ++v) {
        const Subset sub = finiteRows(c, c.variables[v]);
        if (sub.rows.empty()) continue;                                              // e.g. no holdout in the run
        if (!nb || sub.rows != lastRows) nb = nearestNeighbours(sub.x, sub.y, o.k);  // one graph per point set
        lastRows = sub.rows;
        std::vector<double> values(sub.rows.size());
        for (std::size_t i = 0; i < sub.rows.size(); ++i) values[i] = c.variables[v][sub.rows[i]];
        const Moran m = moranI(values, *nb);
        s.moranVariable.push_back(names[v]);
        s.moranI.push_back(m.I), s.moranExpected.push_back(m.expected), s.moranVariance.push_back(m.variance);
        s.moranZ.push_back(m.z), s.moranP.push_back(m.p), s.moranN.push_back(static_cast<std::int64_t>(m.n));
        const std::vector<double> g = giStar(values, *nb);
        std::vector<double> perRow(c.x.size(), kNaN);
        for (std::size_t i = 0; i < sub.rows.size(); ++i) perRow[sub.rows[i]] = g[i];
        const auto plain = hotColdClasses(g, o.alpha, Multiple::kNone);
        const auto fdr = hotColdClasses(g, o.alpha, Multiple::kFdr);
        auto count = [](const std::vector<std::int8_t>& cl, int which) {
            std::int64_t n = 0;
            for (auto x : cl) n += x == which;
            return n;
        };
        s.hot.push_back(count(plain, 1)), s.cold.push_back(count(plain, -1));
        s.hotFdr.push_back(count(fdr, 1)), s.coldFdr.push_back(count(fdr, -1));
        classes[v].assign(c.x.size(), -2), classesFdr[v].assign(c.x.size(), -2);  // -2: no value
        for (std::size_t i = 0; i < sub.rows.size(); ++i)
            classes[v][sub.rows[i]] = plain[i], classesFdr[v][sub.rows[i]] = fdr[i];
        r.giStar.push_back(std::move(perRow));
        if (v == 0) s.nni = clarkEvans(sub.x, sub.y, *nb);  // the NNI: the points with a finite velocity
    }
    // Agreement of the observed and predicted hot/cold maps over the points that have both.
    auto agree = [&](const std::vector<std::vector<std::int8_t>>& cl) {
        if (cl[1].empty() || cl[2].empty()) return Agreement{kNaN, kNaN};
        std::vector<std::int8_t> a, b;
        for (std::size_t i = 0; i < cl[1].size(); ++i)
            if (cl[1][i] > -2 && cl[2][i] > -2) a.push_back(cl[1][i]), b.push_back(cl[2][i]);
        return classAgreement(a, b);
    };
    const Agreement a = agree(classes), af = agree(classesFdr);
    s.agreementShare = a.share, s.agreementKappa = a.kappa, s.agreementShareFdr = af.share,
    s.agreementKappaFdr = af.kappa;

    // Geodetector: each variable against each stratification over the whole scene, then (Table II)
    // the velocity on the grid inside each subregion.
    const std::vector<std::int64_t> grid = gridStrata(c, o.cell);
    for (std::size_t v = 0; v + 1 < names.size(); ++v) {
        const auto& vv = c.variables[v];
        if (std::none_of(vv.begin(), vv.end(), [](double x) { return std::isfinite(x); })) continue;  // no holdout
        addGeodetector(s, names[v], "subregion", -1, c.variables[v], c.subregion, c.subregion);
        addGeodetector(s, names[v], "zone", -1, c.variables[v], c.zone, c.subregion);
        addGeodetector(s, names[v], "grid", -1, c.variables[v], grid, c.subregion);
    }
    std::int64_t maxSub = -1;
    for (auto id : c.subregion) maxSub = std::max(maxSub, id);
    for (std::int64_t id = 0; id <= maxSub; ++id)
        addGeodetector(s, names[0], "grid", static_cast<std::int32_t>(id), c.variables[0], grid, c.subregion);
    return r;
}

}  // namespace

SpatialResult analyse(const Comm& comm, const std::string& input, const SpatialOptions& options) {
    SpatialResult result;
    // Root computes while the others sleep (idleBarrier) instead of spinning in MPI; a failure
    // on root then reaches every rank.
    std::exception_ptr failure;
    if (comm.isRoot()) try {
            result = compute(readColumns(input), options);
        } catch (...) {
            failure = std::current_exception();
        }
    comm.idleBarrier();
    coordinated(comm, "spatial", [&] {
        if (failure) std::rethrow_exception(failure);
    });
    comm.bcast(result.summary);
    return result;
}

}  // namespace hlstm::spatial
