#include "forecast_split.hpp"

#include <cstring>
#include <stdexcept>
#include <type_traits>

namespace hlstm::pipeline {
namespace {

// Values appended to one destination's bytes, and read back in the same order.
class Packer {
public:
    template <class T> void put(const T* data, std::size_t n) {
        static_assert(std::is_trivially_copyable_v<T>);
        const std::size_t at = bytes_.size();
        bytes_.resize(at + n * sizeof(T));
        if (n > 0) std::memcpy(bytes_.data() + at, data, n * sizeof(T));
    }
    void count(std::uint64_t n) { put(&n, 1); }
    void text(const std::string& s) {
        count(s.size());
        put(s.data(), s.size());
    }
    std::vector<char>& bytes() { return bytes_; }

private:
    std::vector<char> bytes_;
};

class Unpacker {
public:
    Unpacker(const char* data, std::size_t size) : data_(data), size_(size) {}
    template <class T> void get(T* out, std::size_t n) {
        if (at_ + n * sizeof(T) > size_) throw std::logic_error("shared forecasts: a message ends early");
        if (n > 0) std::memcpy(out, data_ + at_, n * sizeof(T));
        at_ += n * sizeof(T);
    }
    std::uint64_t count() {
        std::uint64_t n = 0;
        get(&n, 1);
        return n;
    }
    template <class T> std::vector<T> vector(std::size_t n) {
        std::vector<T> v(n);
        get(v.data(), n);
        return v;
    }
    std::string text() {
        std::string s(count(), '\0');
        get(s.data(), s.size());
        return s;
    }
    [[nodiscard]] bool done() const { return at_ == size_; }

private:
    const char* data_;
    std::size_t size_, at_ = 0;
};

// Each destination's bytes, concatenated, and the byte count of each.
std::vector<char> joined(std::vector<Packer>& to, std::vector<std::size_t>& counts) {
    std::size_t total = 0;
    for (auto& p : to) total += p.bytes().size();
    std::vector<char> send;
    send.reserve(total);
    counts.clear();
    for (auto& p : to) {
        counts.push_back(p.bytes().size());
        send.insert(send.end(), p.bytes().begin(), p.bytes().end());
        p.bytes() = std::vector<char>();
    }
    return send;
}

// Where each rank's bytes start in what alltoallv returned: every rank sent its count first.
std::vector<Unpacker> fromEach(const Comm& comm, const std::vector<char>& received,
                               const std::vector<std::size_t>& counts) {
    const std::vector<std::size_t> got = comm.alltoallv(counts, std::vector<std::size_t>(counts.size(), 1));
    std::vector<Unpacker> from;
    std::size_t at = 0;
    for (const std::size_t n : got) {
        from.emplace_back(received.data() + at, n);
        at += n;
    }
    if (at != received.size()) throw std::logic_error("shared forecasts: received sizes disagree");
    return from;
}

}  // namespace

std::vector<SplitPiece> shareSplit(const Comm& comm, const std::vector<SplitSource>& sources, std::size_t epochs) {
    const auto ranks = static_cast<std::size_t>(comm.size());
    std::vector<Packer> to(ranks);
    for (std::size_t r = 0; r < ranks; ++r) {
        Packer& p = to[r];
        p.count(sources.size());
        for (const SplitSource& s : sources) {
            const auto [first, last] = shareOf(s.n, r, ranks);
            const std::size_t count = last - first;
            p.put(&s.subregion, 1);
            p.text(s.model);
            p.text(s.judged);
            p.count(count);
            p.put(s.rows + first, count);
            p.put(s.validation.data() + first, count);
            p.put(s.series + first * epochs, count * epochs);
            p.count(s.views.size());
            for (const SeriesBlock& v : s.views) {  // the same slice of every view
                const auto [a, b] = shareOf(v.points, r, ranks);
                p.count(b - a);
                p.count(v.epochs);
                p.put(v.values.data() + a * v.epochs, (b - a) * v.epochs);
            }
        }
    }
    std::vector<std::size_t> counts;
    std::vector<char> send = joined(to, counts);
    const std::vector<char> received = comm.alltoallv(send, counts);
    send = std::vector<char>();  // not beside the pieces (peak memory)
    std::vector<Unpacker> from = fromEach(comm, received, counts);
    std::vector<SplitPiece> pieces;
    for (std::size_t r = 0; r < ranks; ++r) {
        Unpacker& u = from[r];
        const std::uint64_t n = u.count();
        for (std::uint64_t k = 0; k < n; ++k) {
            SplitPiece piece;
            piece.holder = static_cast<int>(r);
            u.get(&piece.subregion, 1);
            piece.model = u.text();
            piece.judged = u.text();
            const std::size_t count = u.count();
            piece.rows = u.vector<std::uint64_t>(count);
            piece.validation = u.vector<std::int8_t>(count);
            piece.series = u.vector<float>(count * epochs);
            piece.views.resize(u.count());
            for (SeriesBlock& v : piece.views) {
                v.points = u.count();
                v.epochs = u.count();
                v.values = u.vector<float>(v.points * v.epochs);
            }
            pieces.push_back(std::move(piece));
        }
        if (!u.done()) throw std::logic_error("shared forecasts: a message is longer than its pieces");
    }
    return pieces;
}

std::vector<std::vector<std::vector<float>>> joinSplit(const Comm& comm, const std::vector<SplitPiece>& pieces,
                                                       std::size_t nSources) {
    const auto ranks = static_cast<std::size_t>(comm.size());
    std::vector<Packer> to(ranks);
    for (const SplitPiece& piece : pieces) {  // in (holder, source) order: each holder's in its order
        Packer& p = to[static_cast<std::size_t>(piece.holder)];
        p.put(&piece.subregion, 1);
        p.count(piece.viewResults.size());
        for (const std::vector<float>& v : piece.viewResults) {
            p.count(v.size());
            p.put(v.data(), v.size());
        }
    }
    std::vector<std::size_t> counts;
    const std::vector<char> send = joined(to, counts);
    const std::vector<char> received = comm.alltoallv(send, counts);
    std::vector<Unpacker> from = fromEach(comm, received, counts);
    std::vector<std::vector<std::vector<float>>> out(nSources);
    std::vector<std::int32_t> subregions(nSources);
    for (std::size_t r = 0; r < ranks; ++r) {  // rank order: the slices in row order
        for (std::size_t k = 0; k < nSources; ++k) {
            std::int32_t subregion = 0;
            from[r].get(&subregion, 1);
            const std::size_t views = from[r].count();
            if (r == 0) out[k].resize(views), subregions[k] = subregion;
            if (out[k].size() != views || subregions[k] != subregion)
                throw std::logic_error("shared forecasts: the ranks' pieces of a subregion disagree");
            for (std::size_t v = 0; v < views; ++v) {
                const std::vector<float> part = from[r].vector<float>(from[r].count());
                out[k][v].insert(out[k][v].end(), part.begin(), part.end());
            }
        }
        if (!from[r].done()) throw std::logic_error("shared forecasts: a message is longer than its sources");
    }
    return out;
}

}  // namespace hlstm::pipeline
