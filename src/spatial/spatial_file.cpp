// The hlstm-spatial file and the printed Tables II and V (include/hlstm/spatial/analysis.hpp).
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>

#include "hlstm/core/log.hpp"
#include "hlstm/io/output_file.hpp"
#include "hlstm/io/output_format.hpp"
#include "hlstm/spatial/analysis.hpp"
#include "hlstm/version.hpp"

namespace hlstm::spatial {
namespace {

namespace sp = output::spatial;

std::string num(double v, const char* format) {
    if (!std::isfinite(v)) return "nan";
    char b[64];
    std::snprintf(b, sizeof b, format, v);
    return b;
}

// Writes the summary (every rank holds it) and root's per-point Gi* values (collective).
void fill(const Comm& comm, h5::File& file, const std::string& input, const SpatialOptions& o, const SpatialResult& r) {
    const SpatialSummary& s = r.summary;
    file.writeStrings(sp::kMoranVariable, s.moranVariable);
    file.writeSmall(sp::kMoranI, s.moranI);
    file.writeSmall(sp::kMoranExpected, s.moranExpected);
    file.writeSmall(sp::kMoranVariance, s.moranVariance);
    file.writeSmall(sp::kMoranZ, s.moranZ);
    file.writeSmall(sp::kMoranP, s.moranP);
    file.writeSmall(sp::kMoranN, s.moranN);
    for (std::size_t v = 0; v < s.moranVariable.size(); ++v) {
        const auto ds = file.createDataset<double>(sp::kGiStarPrefix + s.moranVariable[v], {s.points});
        const double none = 0;
        if (comm.isRoot())
            ds.writeRows(0, s.points, r.giStar[v].data());
        else
            ds.writeRows(0, 0, &none);
    }
    file.writeStrings(sp::kGiStarVariable, s.moranVariable);
    file.writeSmall(sp::kGiStarHot, s.hot);
    file.writeSmall(sp::kGiStarCold, s.cold);
    file.writeSmall(sp::kGiStarHotFdr, s.hotFdr);
    file.writeSmall(sp::kGiStarColdFdr, s.coldFdr);
    file.writeObjectAttribute(sp::kGiStarGroup, sp::kAttrAgreement, s.agreementShare);
    file.writeObjectAttribute(sp::kGiStarGroup, sp::kAttrKappa, s.agreementKappa);
    file.writeObjectAttribute(sp::kGiStarGroup, sp::kAttrAgreementFdr, s.agreementShareFdr);
    file.writeObjectAttribute(sp::kGiStarGroup, sp::kAttrKappaFdr, s.agreementKappaFdr);
    file.writeStrings(sp::kGeodetectorVariable, s.gdVariable);
    file.writeStrings(sp::kGeodetectorStrata, s.gdStrata);
    file.writeSmall(sp::kGeodetectorSubregion, s.gdSubregion);
    file.writeSmall(sp::kGeodetectorN, s.gdN);
    file.writeSmall(sp::kGeodetectorNStrata, s.gdNStrata);
    file.writeSmall(sp::kGeodetectorQ, s.gdQ);
    file.writeSmall(sp::kGeodetectorP, s.gdP);
    const Nni& n = s.nni;
    file.writeSmall(sp::kNniR, std::vector<double>{n.R});
    file.writeSmall(sp::kNniZ, std::vector<double>{n.z});
    file.writeSmall(sp::kNniP, std::vector<double>{n.p});
    file.writeSmall(sp::kNniArea, std::vector<double>{n.area});
    file.writeSmall(sp::kNniN, std::vector<std::int64_t>{static_cast<std::int64_t>(n.n)});
    file.writeSmall(sp::kNniPerimeter, std::vector<double>{n.perimeter});
    file.writeSmall(sp::kNniMeanDistance, std::vector<double>{n.meanDistance});
    file.writeSmall(sp::kNniRPlain, std::vector<double>{n.rPlain});
    file.writeSmall(sp::kNniZPlain, std::vector<double>{n.zPlain});
    file.writeSmall(sp::kNniPPlain, std::vector<double>{n.pPlain});
    file.writeAttribute(output::attr::kFormat, std::string(sp::kFormatName));
    file.writeAttribute(output::attr::kFormatVersion, std::int32_t{sp::kFormatVersion});
    file.writeAttribute(output::attr::kHlstmVersion, std::string(kVersion));
    file.writeAttribute(output::attr::kInput, std::filesystem::absolute(input).string());
    file.writeAttribute(sp::kAttrK, static_cast<std::int64_t>(o.k));
    file.writeAttribute(sp::kAttrCell, o.cell);
    file.writeAttribute(sp::kAttrAlpha, o.alpha);
    file.writeAttribute(sp::kAttrHoldoutSteps, std::int32_t{s.holdoutSteps});
    file.writeAttribute(sp::kAttrPoints, static_cast<std::int64_t>(s.points));
    file.writeAttribute(sp::kAttrMoranWeights,
                        "k = " + std::to_string(o.k) +
                            " nearest neighbours (the point excluded), row-standardised; E[I], Var[I] under "
                            "randomisation; p one-sided (greater), as spdep moran.test");
    file.writeAttribute(sp::kAttrGiStarWeights,
                        "k = " + std::to_string(o.k) +
                            " nearest neighbours and the point itself, binary; as spdep localG on include.self");
    file.writeAttribute(sp::kAttrNniCorrection,
                        std::string("R, z, p: Donnelly's edge correction over the convex hull (area, perimeter); "
                                    "R_plain, z_plain, p_plain: none (ArcGIS Average Nearest Neighbor)"));
    file.writeAttribute(output::attr::kComplete, std::int32_t{1});
}

std::size_t rowOf(const SpatialSummary& s, const std::string& variable) {
    for (std::size_t i = 0; i < s.moranVariable.size(); ++i)
        if (s.moranVariable[i] == variable) return i;
    return s.moranVariable.size();
}

std::size_t gdRowOf(const SpatialSummary& s, const std::string& variable, const std::string& strata,
                    std::int32_t within) {
    for (std::size_t i = 0; i < s.gdVariable.size(); ++i)
        if (s.gdVariable[i] == variable && s.gdStrata[i] == strata && s.gdSubregion[i] == within) return i;
    return s.gdVariable.size();
}

}  // namespace

void logTables(const Comm& comm, const SpatialOptions& o, const SpatialSummary& s) {
    if (!comm.isRoot()) return;
    auto sig = [&](double p) { return !std::isfinite(p) ? std::string("-") : p < o.alpha ? "Yes" : "No"; };
    // Table II: q of the velocity on grid strata, before (whole scene) and after partitioning.
    log::info() << "Table II: heterogeneity before and after partitioning (geodetector q of the velocity, strata: "
                << num(o.cell, "%.0f") << " m grid cells)";
    log::info() << "  status       area            n          strata    q        p       significant (" << o.alpha
                << ")";
    for (std::size_t i = 0; i < s.gdVariable.size(); ++i) {
        if (s.gdVariable[i] != "velocity" || s.gdStrata[i] != "grid") continue;
        const bool global = s.gdSubregion[i] < 0;
        char line[256];
        std::snprintf(line, sizeof line, "  %-12s %-15s %-10lld %-9lld %-8s %-7s %s",
                      global ? "Initially" : "Partitioned",
                      global ? "Global" : ("Subregion " + std::to_string(s.gdSubregion[i])).c_str(),
                      static_cast<long long>(s.gdN[i]), static_cast<long long>(s.gdNStrata[i]),
                      num(s.gdQ[i], "%.4f").c_str(), num(s.gdP[i], "%.4f").c_str(), sig(s.gdP[i]).c_str());
        log::info() << line;
    }
    // Table V: the observed and predicted holdout maps.
    const std::size_t ob = rowOf(s, "holdout_observed"), pr = rowOf(s, "holdout_predicted");
    if (ob >= s.moranVariable.size() || pr >= s.moranVariable.size()) {
        log::info() << "Table V: no holdout in the output (run.holdout = 0): only the velocity was analysed";
        return;
    }
    log::info() << "Table V: spatial characteristics of the holdout (sum of " << s.holdoutSteps
                << " step(s)): observed ('real image') and predicted";
    log::info()
        << "  characteristic             metric        real image                    predicted image            "
           "   change";
    auto row = [](const std::string& a, const std::string& b, const std::string& c, const std::string& d,
                  const std::string& e) {
        char line[512];
        std::snprintf(line, sizeof line, "  %-26s %-13s %-29s %-29s %s", a.c_str(), b.c_str(), c.c_str(), d.c_str(),
                      e.c_str());
        log::info() << line;
    };
    auto moran = [&](std::size_t i) { return "p = " + num(s.moranP[i], "%.3g") + ", z = " + num(s.moranZ[i], "%.1f"); };
    const bool bothSig = s.moranP[ob] < o.alpha && s.moranP[pr] < o.alpha;
    row("Global autocorrelation", "Moran's I", moran(ob), moran(pr), bothSig ? "Consistent" : "Differs");
    row("", "", "I = " + num(s.moranI[ob], "%.4f"), "I = " + num(s.moranI[pr], "%.4f"), "");
    auto spots = [&](std::size_t i) {
        return std::to_string(s.hot[i]) + " hot, " + std::to_string(s.cold[i]) + " cold";
    };
    row("Local autocorrelation", "Getis G*", spots(ob), spots(pr),
        "same class " + num(100 * s.agreementShare, "%.1f") + " %, kappa " + num(s.agreementKappa, "%.3f"));
    auto spotsFdr = [&](std::size_t i) {
        return std::to_string(s.hotFdr[i]) + " hot, " + std::to_string(s.coldFdr[i]) + " cold (FDR)";
    };
    row("", "", spotsFdr(ob), spotsFdr(pr),
        "same class " + num(100 * s.agreementShareFdr, "%.1f") + " %, kappa " + num(s.agreementKappaFdr, "%.3f"));
    const std::size_t qo = gdRowOf(s, "holdout_observed", "subregion", -1);
    const std::size_t qp = gdRowOf(s, "holdout_predicted", "subregion", -1);
    if (qo < s.gdQ.size() && qp < s.gdQ.size()) {
        auto q = [&](std::size_t i) { return "p = " + num(s.gdP[i], "%.3g") + ", q = " + num(s.gdQ[i], "%.4f"); };
        row("Stratified heterogeneity", "q (subregions)", q(qo), q(qp),
            (s.gdP[qo] < o.alpha) == (s.gdP[qp] < o.alpha) ? "Consistent" : "Differs");
    }
    const std::string nni = "R = " + num(s.nni.R, "%.3f") + " (plain " + num(s.nni.rPlain, "%.3f") + ")";
    row("Point pattern", "NNI", nni, nni, "Identical (the same points)");
    log::info() << "  NNI over " << s.nni.n << " points with a velocity: z = " << num(s.nni.z, "%.1f") << " (plain "
                << num(s.nni.zPlain, "%.1f") << "), hull area " << num(s.nni.area / 1e6, "%.2f")
                << " km^2; Moran's I of the velocity " << num(s.moranI[0], "%.4f")
                << " (z = " << num(s.moranZ[0], "%.1f") << ")";
}

void runSpatial(const Comm& comm, const std::string& input, const std::string& output, const SpatialOptions& options) {
    h5::AtomicOutput atomic(comm, output, {input}, {"the run output"});
    const SpatialResult result = analyse(comm, input, options);
    atomic.write("spatial:write", [&](h5::File& file) { fill(comm, file, input, options, result); });
    logTables(comm, options, result.summary);
    if (comm.isRoot()) log::info() << "wrote " << output;
}

}  // namespace hlstm::spatial
