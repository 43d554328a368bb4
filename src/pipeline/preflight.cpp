#include "hlstm/pipeline/preflight.hpp"

#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "hlstm/core/error.hpp"
#include "hlstm/core/log.hpp"

namespace hlstm::pipeline {
namespace {

std::string listText(const std::vector<std::int64_t>& v) {
    std::string s;
    for (auto x : v) s += (s.empty() ? "" : ", ") + std::to_string(x);
    return "[" + s + "]";
}

std::string gigabytes(double bytes) {
    char buf[32];
    if (bytes < 1e9)
        std::snprintf(buf, sizeof buf, "%.1f MB", bytes / 1e6);
    else
        std::snprintf(buf, sizeof buf, "%.1f GB", bytes / 1e9);
    return buf;
}

// Fewer interval cuts than this pin a 90 % quantile too loosely: an L that would force them
// is dropped instead (unless run.interval_cuts asks for fewer).
constexpr int kMinIntervalCuts = 3;

}  // namespace

std::size_t epochsForSelection(std::int64_t L, int gap, int lead) {
    return static_cast<std::size_t>(L + gap + lead + 1);
}

std::size_t epochsForIntervals(std::int64_t L, int gap, int cuts) { return static_cast<std::size_t>(L + gap + cuts); }

GridFit fitGridToEpochs(const std::vector<std::int64_t>& L, int gap, int lead, int intervalCuts,
                        std::size_t visibleEpochs, std::size_t trainEpochs, int horizon, const std::string& input) {
    GridFit fit;
    const bool inTime = trainEpochs >= visibleEpochs;
    const int floorCuts = inTime ? std::min(intervalCuts, kMinIntervalCuts) : 0;
    const std::string visible = std::to_string(visibleEpochs) + " visible epochs of " + input;
    const std::string training =
        inTime ? visible
               : std::to_string(trainEpochs) + " training epochs (of the " + visible + ", before run.selection_cuts)";
    for (auto l : L) {
        if (trainEpochs < epochsForSelection(l, gap, lead)) {
            fit.warnings.push_back("grid.L: L = " + std::to_string(l) +
                                   " dropped: its training window and label "
                                   "need " +
                                   std::to_string(epochsForSelection(l, gap, lead)) + " epochs (L + " +
                                   std::to_string(gap + lead + 1) + "), the archive has " + training);
            continue;
        }
        if (inTime && visibleEpochs < epochsForIntervals(l, gap, floorCuts)) {
            fit.warnings.push_back("grid.L: L = " + std::to_string(l) + " dropped: " + std::to_string(floorCuts) +
                                   " interval cuts need " + std::to_string(epochsForIntervals(l, gap, floorCuts)) +
                                   " epochs, the archive has " + visible);
            continue;
        }
        fit.L.push_back(l);
    }
    if (fit.L.empty()) {
        const std::int64_t shortest = *std::min_element(L.begin(), L.end());
        throw ConfigError("grid.L = " + listText(L) + ": no L fits the " + training +
                          " (the shortest, L = " + std::to_string(shortest) + ", needs " +
                          std::to_string(std::max(epochsForSelection(shortest, gap, lead),
                                                  epochsForIntervals(shortest, gap, floorCuts))) +
                          "); give a shorter grid.L");
    }
    const std::int64_t longest = *std::max_element(fit.L.begin(), fit.L.end());
    const auto room = inTime
                          ? static_cast<std::int64_t>(visibleEpochs) - longest - gap
                          : static_cast<std::int64_t>(visibleEpochs) - horizon - static_cast<std::int64_t>(trainEpochs);
    fit.intervalCuts = static_cast<int>(std::clamp<std::int64_t>(room, 0, intervalCuts));
    if (fit.intervalCuts < intervalCuts)
        fit.warnings.push_back(
            "run.interval_cuts = " + std::to_string(intervalCuts) + ": " + std::to_string(fit.intervalCuts) +
            " interval cuts are used, as many as " +
            (inTime ? "L = " + std::to_string(longest) + " leaves in the " + visible
                    : std::string("lie between the training epochs and the holdout in the ") + visible) +
            (fit.intervalCuts == 0 ? " (no interval)" : ""));
    return fit;
}

double candidateBytes(std::int64_t L, std::int64_t K, std::int64_t S, int horizon, int channels, int gates, int batch) {
    const double s = static_cast<double>(S), k = static_cast<double>(K);
    // Per layer: gates x S x (input + S) weights and gates x S biases; layer 0's input is the
    // channels, the others' the S hidden units below.
    const double weights = gates * s * (channels + s) + (k - 1) * gates * s * (s + s) + k * gates * s + s * horizon;
    // Weights, gradients and Adam's two moments; activations, gate workspace and their
    // gradients per time step, layer and sample.
    const double steps = static_cast<double>(std::max<std::int64_t>(1, L - horizon));
    const double activations = static_cast<double>(batch) * steps * k * s * (2.0 * gates + 4.0);
    return 4.0 * (4.0 * weights + activations);
}

void checkGridMemory(const std::vector<std::int64_t>& L, const std::vector<std::int64_t>& K,
                     const std::vector<std::int64_t>& S, int horizon, int channels, int gates, int batch,
                     double memoryBytes) {
    if (L.empty() || K.empty() || S.empty()) return;
    if (memoryBytes <= 0)
        memoryBytes = static_cast<double>(::sysconf(_SC_PHYS_PAGES)) * static_cast<double>(::sysconf(_SC_PAGE_SIZE));
    const auto maxL = *std::max_element(L.begin(), L.end()), maxK = *std::max_element(K.begin(), K.end()),
               maxS = *std::max_element(S.begin(), S.end());
    const double need = candidateBytes(maxL, maxK, maxS, horizon, channels, gates, batch);
    if (need > memoryBytes)
        throw ConfigError("grid.K = " + listText(K) + ", grid.S = " + listText(S) + ", grid.L = " + listText(L) +
                          ": the largest candidate (L " + std::to_string(maxL) + ", K " + std::to_string(maxK) +
                          ", S " + std::to_string(maxS) + ", train.batch " + std::to_string(batch) + ") needs about " +
                          gigabytes(need) + " to train, more than this machine's " + gigabytes(memoryBytes) +
                          "; give smaller grid.K / grid.S");
}

std::string freeSpaceWarning(const std::string& output, std::uint64_t points, int horizon, std::size_t epochs) {
    const std::string dir = std::filesystem::absolute(output).parent_path().string();
    struct statvfs st {};
    if (::statvfs(dir.c_str(), &st) != 0) return {};
    const double free = static_cast<double>(st.f_bavail) * static_cast<double>(st.f_frsize);
    // Per point: ~13 float datasets of `horizon` steps and ~10 scalars (the output, written as
    // OUT.tmp); checkpoints hold the training rows of candidates in flight (~ the series).
    const double perPoint = 4.0 * (13.0 * horizon + 10.0) + 8.0 * 4.0 + 4.0 * static_cast<double>(epochs);
    const double need = static_cast<double>(points) * perPoint;
    if (free >= need) return {};
    return dir + ": " + gigabytes(free) + " free, the output and its checkpoints are expected to need about " +
           gigabytes(need) + " (the write may fail with a full disk)";
}

void logPreflight(const Comm& comm, const std::vector<std::string>& warnings, const std::string& space) {
    if (!comm.isRoot()) return;
    for (const auto& w : warnings) log::warn() << w;
    if (!space.empty()) log::warn() << space;
}

}  // namespace hlstm::pipeline
