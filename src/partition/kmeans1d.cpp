#include "hlstm/partition/kmeans1d.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "hlstm/core/error.hpp"

namespace hlstm::partition {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// Weighted prefix sums of the distinct values, shifted by the median so that the
// sum-of-squares identity loses little to cancellation (as Ckmeans.1d.dp does).
class Prefix {
public:
    explicit Prefix(const SortedSample& s) : sums_(s.values.size() + 1) {
        const std::size_t m = s.values.size();
        const double shift = m ? s.values[m / 2] : 0.0;
        for (std::size_t i = 0; i < m; ++i) {
            const double w = static_cast<double>(s.weights[i]), v = s.values[i] - shift;
            sums_[i + 1] = {sums_[i].w + w, sums_[i].s1 + w * v, sums_[i].s2 + w * v * v};
        }
    }
    // Within-cluster sum of squares of distinct values j..i (inclusive).
    [[nodiscard]] double cost(std::size_t j, std::size_t i) const noexcept {
        const Sums& a = sums_[j];
        const Sums& b = sums_[i + 1];
        const double s = b.s1 - a.s1;
        const double sse = (b.s2 - a.s2) - s * s / (b.w - a.w);
        return sse > 0.0 ? sse : 0.0;
    }

private:
    struct Sums {
        double w = 0, s1 = 0, s2 = 0;  // count, sum and sum of squares (one cache line per lookup)
    };
    std::vector<Sums> sums_;
};

// Row minima of A[i][j] = prev[j - 1] + cost(j, i) (j <= i; +inf above the diagonal) over
// rows i and columns j: A is totally monotone (the cost is Monge), so SMAWK finds every
// row's leftmost minimum with O(rows + columns) evaluations.
class RowMinima {
public:
    RowMinima(const Prefix& prefix, const double* prev, std::uint32_t* argmin, double* value)
        : prefix_(prefix), prev_(prev), argmin_(argmin), value_(value) {}

    void solve(std::size_t rowBegin, std::size_t rowStep, std::size_t rowCount, const std::uint32_t* cols,
               std::size_t nCols, std::size_t depth) {
        if (rowCount == 0) return;
        if (buffers_.size() <= depth) buffers_.resize(depth + 1);
        // REDUCE: keep at most rowCount columns that can still hold a row minimum.
        if (nCols > rowCount) {
            // A kept column at stack position p is only ever compared in row p, so its value
            // there is computed once.
            auto& keep = buffers_[depth];
            keep.resize(rowCount);
            if (keepValue_.size() < rowCount) keepValue_.resize(rowCount);
            std::size_t top = 0;
            for (std::size_t c = 0; c < nCols; ++c) {
                const std::uint32_t col = cols[c];
                while (top > 0) {
                    const std::size_t row = rowBegin + (top - 1) * rowStep;
                    if (at(row, col) < keepValue_[top - 1])
                        --top;
                    else
                        break;
                }
                if (top < rowCount) {
                    keepValue_[top] = at(rowBegin + top * rowStep, col);
                    keep[top++] = col;
                }
            }
            cols = keep.data();
            nCols = top;
        }
        // Odd rows recursively, then each even row between its neighbours' minima.
        solve(rowBegin + rowStep, rowStep * 2, rowCount / 2, cols, nCols, depth + 1);
        std::size_t start = 0;
        for (std::size_t r = 0; r < rowCount; r += 2) {
            const std::size_t row = rowBegin + r * rowStep;
            const std::uint32_t last = r + 1 < rowCount ? argmin_[row + rowStep] : cols[nCols - 1];
            std::uint32_t best = cols[start];
            double bestValue = at(row, best);
            std::size_t c = start;
            while (cols[c] != last) {
                ++c;
                const double v = at(row, cols[c]);
                if (v < bestValue) {
                    bestValue = v;
                    best = cols[c];
                }
            }
            argmin_[row] = best;
            value_[row] = bestValue;
            start = c;
        }
    }

private:
    [[nodiscard]] double at(std::size_t i, std::size_t j) const noexcept {
        return j > i ? kInf : prev_[j - 1] + prefix_.cost(j, i);
    }

    const Prefix& prefix_;
    const double* prev_;
    std::uint32_t* argmin_;
    double* value_;
    std::vector<std::vector<std::uint32_t>> buffers_;  // surviving columns per recursion depth
    std::vector<double> keepValue_;                    // REDUCE: value of each kept column in its row
};

// The clustering whose clusters start at the given distinct-value indices.
Clustering1d fromFirstIndices(const SortedSample& s, std::vector<std::size_t> first) {
    Clustering1d c;
    c.k = static_cast<int>(first.size());
    c.firstDistinct = std::move(first);
    const std::size_t m = s.values.size();
    for (int q = 0; q < c.k; ++q) {
        const std::size_t a = c.firstDistinct[static_cast<std::size_t>(q)];
        const std::size_t b = q + 1 < c.k ? c.firstDistinct[static_cast<std::size_t>(q) + 1] : m;
        std::uint64_t n = 0;
        double sum = 0.0;
        for (std::size_t i = a; i < b; ++i) {
            n += s.weights[i];
            sum += static_cast<double>(s.weights[i]) * s.values[i];
        }
        const double center = sum / static_cast<double>(n);
        double sse = 0.0;
        for (std::size_t i = a; i < b; ++i) {
            const double d = s.values[i] - center;
            sse += static_cast<double>(s.weights[i]) * d * d;
        }
        c.starts.push_back(s.values[a]);
        c.centers.push_back(center);
        c.sizes.push_back(n);
        c.sse += sse;
    }
    return c;
}

}  // namespace

SortedSample SortedSample::from(std::vector<double> sample) {
    SortedSample s;
    std::sort(sample.begin(), sample.end());
    for (double v : sample) {
        if (!s.values.empty() && s.values.back() == v)
            ++s.weights.back();
        else {
            s.values.push_back(v);
            s.weights.push_back(1);
        }
    }
    s.total = sample.size();
    return s;
}

int Clustering1d::clusterOf(double value) const {
    if (starts.size() <= 1) return 0;
    return static_cast<int>(std::upper_bound(starts.begin() + 1, starts.end(), value) - (starts.begin() + 1));
}

Clustering1d clusteringFromStarts(const SortedSample& sample, const std::vector<double>& starts) {
    if (starts.empty() || sample.values.empty() || starts.front() != sample.values.front())
        throw RuntimeError("clusteringFromStarts: the first start must be the sample minimum");
    std::vector<std::size_t> first;
    for (double v : starts) {
        auto it = std::lower_bound(sample.values.begin(), sample.values.end(), v);
        if (it == sample.values.end() || *it != v ||
            (!first.empty() && first.back() >= static_cast<std::size_t>(it - sample.values.begin())))
            throw RuntimeError("clusteringFromStarts: starts must be ascending members of the sample");
        first.push_back(static_cast<std::size_t>(it - sample.values.begin()));
    }
    return fromFirstIndices(sample, std::move(first));
}

std::vector<Clustering1d> kmeans1d(const SortedSample& sample, int kMin, int kMax) {
    if (kMin < 1 || kMax < kMin) throw RuntimeError("kmeans1d: need 1 <= kMin <= kMax");
    std::vector<Clustering1d> out(static_cast<std::size_t>(kMax - kMin + 1));
    const std::size_t m = sample.values.size();
    if (m >= std::numeric_limits<std::uint32_t>::max())
        throw RuntimeError("kmeans1d: more than 2^32 - 1 distinct values");
    const int kTop = static_cast<int>(std::min<std::size_t>(static_cast<std::size_t>(kMax), m));
    if (kTop < kMin) return out;  // every k needs more distinct values than there are

    const Prefix prefix(sample);
    // D_q[i]: least cost of the first i + 1 distinct values in q clusters; J_q[i]: start of
    // the last cluster. Rows 2..kTop - 1 are kept whole for backtracking; the last row
    // only needs its final entry.
    std::vector<double> prev(m), cur(m, kInf);
    for (std::size_t i = 0; i < m; ++i) prev[i] = prefix.cost(0, i);
    const std::size_t keptRows = kTop >= 3 ? static_cast<std::size_t>(kTop - 2) : 0;
    std::vector<std::uint32_t> back(keptRows * m);
    std::vector<double> finalCost(static_cast<std::size_t>(kTop) + 1, kInf);
    finalCost[1] = prev[m - 1];
    std::uint32_t lastStart = 0;
    std::vector<std::uint32_t> cols;

    for (int q = 2; q <= kTop; ++q) {
        const std::size_t lo = static_cast<std::size_t>(q - 1);
        if (q < kTop) {
            std::uint32_t* argmin = back.data() + static_cast<std::size_t>(q - 2) * m;
            cols.resize(m - lo);
            for (std::size_t j = lo; j < m; ++j) cols[j - lo] = static_cast<std::uint32_t>(j);
            RowMinima minima(prefix, prev.data(), argmin, cur.data());
            minima.solve(lo, 1, m - lo, cols.data(), cols.size(), 0);
            std::fill(cur.begin(), cur.begin() + static_cast<std::ptrdiff_t>(lo), kInf);
            finalCost[static_cast<std::size_t>(q)] = cur[m - 1];
            std::swap(prev, cur);
        } else {
            // Last row: one entry, a plain scan (leftmost minimum).
            double best = kInf;
            for (std::size_t j = lo; j < m; ++j) {
                const double v = prev[j - 1] + prefix.cost(j, m - 1);
                if (v < best) {
                    best = v;
                    lastStart = static_cast<std::uint32_t>(j);
                }
            }
            finalCost[static_cast<std::size_t>(q)] = best;
        }
    }

    // Backtrack each requested k from the last distinct value.
    for (int k = kMin; k <= kTop; ++k) {
        std::vector<std::size_t> first(static_cast<std::size_t>(k), 0);
        std::size_t i = m - 1;
        for (int q = k; q >= 2; --q) {
            const std::size_t j = q == kTop ? lastStart : back[static_cast<std::size_t>(q - 2) * m + i];
            first[static_cast<std::size_t>(q - 1)] = j;
            i = j - 1;
        }
        out[static_cast<std::size_t>(k - kMin)] = fromFirstIndices(sample, std::move(first));
    }
    return out;
}

}  // namespace hlstm::partition
