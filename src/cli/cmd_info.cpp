// `hlstm info FILE`: a summary of an input archive.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "command.hpp"
#include "hlstm/data/input.hpp"

namespace hlstm::cli {
namespace {

std::string isoDate(std::int32_t d) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", d / 10000, (d / 100) % 100, d % 100);
    return buf;
}

Action setupInfo(CLI::App& sub) {
    auto path = std::make_shared<std::string>();
    auto input = std::make_shared<InputOptions>();
    sub.add_option("file", *path, "input: native .h5, MintPy timeseries.h5/.he5, LiCSBAS cum.h5 or EGMS .csv")
        ->required();
    input->add(sub);
    return [path, input](const Comm& comm) {
        // Count everything that has two valid epochs.
        LocalBlock block = readInput(comm, *path, input->readOptions(0.0, true));
        const auto& p = block.points;
        const auto v = velocities(p, dates::yearsSinceFirst(p.dates));
        double vmin = std::numeric_limits<double>::infinity(), vmax = -vmin;
        for (double x : v)
            if (std::isfinite(x)) {
                vmin = std::min(vmin, x);
                vmax = std::max(vmax, x);
            }
        vmin = comm.allreduce(vmin, Reduce::kMin);
        vmax = comm.allreduce(vmax, Reduce::kMax);
        double xmin = std::numeric_limits<double>::infinity(), xmax = -xmin, ymin = xmin, ymax = -xmin;
        for (std::size_t i = 0; i < p.size(); ++i) {
            xmin = std::min(xmin, p.x[i]);
            xmax = std::max(xmax, p.x[i]);
            ymin = std::min(ymin, p.y[i]);
            ymax = std::max(ymax, p.y[i]);
        }
        xmin = comm.allreduce(xmin, Reduce::kMin);
        xmax = comm.allreduce(xmax, Reduce::kMax);
        ymin = comm.allreduce(ymin, Reduce::kMin);
        ymax = comm.allreduce(ymax, Reduce::kMax);
        const bool truth = block.stats.hasTruth;
        if (comm.isRoot()) {
            const auto& s = block.stats;
            const double cells = static_cast<double>(block.keptTotal) * static_cast<double>(s.epochs);
            std::printf("file            %s\n", path->c_str());
            std::printf("format          %s: %s\n", s.format.c_str(), s.layout.c_str());
            std::printf("points          %llu (%llu in file, %llu not kept%s%s)\n",
                        static_cast<unsigned long long>(block.keptTotal), static_cast<unsigned long long>(s.fileRows),
                        static_cast<unsigned long long>(s.dropped), s.dropped ? ": " : "",
                        s.dropped ? droppedText(s, input->readOptions(0.0, true)).c_str() : "");
            std::printf("epochs          %llu\n", static_cast<unsigned long long>(s.epochs));
            std::printf("date range      %s .. %s\n", isoDate(p.dates.front()).c_str(),
                        isoDate(p.dates.back()).c_str());
            std::printf("unit            %s (read as mm)\n", s.unit.c_str());
            std::printf("crs             %s%s\n", s.crs.empty() ? "(none)" : s.crs.c_str(),
                        s.sourceCrs != s.crs ? (" (projected from " + s.sourceCrs + ")").c_str() : "");
            std::printf("extent x        %.3f .. %.3f\n", xmin, xmax);
            std::printf("extent y        %.3f .. %.3f\n", ymin, ymax);
            std::printf("missing         %.4f %% of values\n",
                        cells > 0 ? 100.0 * static_cast<double>(s.missing) / cells : 0.0);
            std::printf("velocity range  %.3f .. %.3f mm/yr\n", vmin, vmax);
            std::printf("truth           %s\n", truth ? "yes (/truth, noise-free signal)" : "no");
        }
        return 0;
    };
}

const Registrar kRegistrar({"info", "Summarise an input archive (format, points, epochs, dates, unit, gaps, velocity)",
                            setupInfo});

}  // namespace
}  // namespace hlstm::cli
