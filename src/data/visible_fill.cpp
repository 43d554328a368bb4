#include "hlstm/data/visible_fill.hpp"

#include <algorithm>

namespace hlstm {

ReaderFill fillFromLeft(LocalBlock& block, std::size_t visibleEpochs, std::size_t* leftover) {
    ReaderFill fill;
    fill.offsets.push_back(0);
    PointSet& p = block.points;
    const std::size_t m = p.nEpochs(), n = p.size(), V = std::min(visibleEpochs, m);
    if (V == 0 || V == m || block.observedMask.empty()) return fill;  // nothing hidden, or no gap known
    std::size_t none = 0;
    for (std::size_t i = 0; i < n; ++i) {
        if (block.observed(i, V - 1)) continue;
        std::size_t a = V - 1;  // the last observed epoch before the cut
        while (a > 0 && !block.observed(i, a - 1)) --a;
        if (a == 0) {
            ++none;
            continue;
        }
        float* s = p.displacement.data() + i * m;
        const float level = s[a - 1];
        fill.rows.push_back(p.rows[i]);
        fill.first.push_back(static_cast<std::uint32_t>(a));
        fill.values.insert(fill.values.end(), s + a, s + V);
        fill.offsets.push_back(fill.values.size());
        std::fill(s + a, s + V, level);  // the reader's trailing-gap rule (fillGaps)
    }
    if (leftover != nullptr) *leftover = none;
    return fill;
}

void ReaderFill::share(const Comm& comm) {
    // Ranks hold consecutive blocks of rows, so rank order is global row order.
    std::vector<std::uint64_t> counts;
    for (std::size_t k = 0; k < rows.size(); ++k) counts.push_back(offsets[k + 1] - offsets[k]);
    rows = comm.allgatherv(rows);
    first = comm.allgatherv(first);
    values = comm.allgatherv(values);
    counts = comm.allgatherv(counts);
    offsets.assign(1, 0);
    for (std::uint64_t c : counts) offsets.push_back(offsets.back() + c);
}

std::size_t ReaderFill::restore(const std::vector<std::uint64_t>& seriesRows, float* series, std::size_t epochs) const {
    std::size_t restored = 0;
    if (rows.empty()) return 0;
    for (std::size_t i = 0; i < seriesRows.size(); ++i) {
        const auto it = std::lower_bound(rows.begin(), rows.end(), seriesRows[i]);
        if (it == rows.end() || *it != seriesRows[i]) continue;
        const auto k = static_cast<std::size_t>(it - rows.begin());
        const std::size_t count = offsets[k + 1] - offsets[k];
        if (first[k] + count > epochs) continue;  // another cut's series: not this fill's
        std::copy_n(values.begin() + static_cast<std::ptrdiff_t>(offsets[k]), count, series + i * epochs + first[k]);
        ++restored;
    }
    return restored;
}

}  // namespace hlstm
