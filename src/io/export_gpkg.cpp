// GeoPackage export through GDAL's C API, with the R-tree packed in memory (see
// export_table.hpp).
#include <cpl_conv.h>
#include <cpl_error.h>
#include <gdal.h>
#include <ogr_api.h>
#include <ogr_srs_api.h>
#include <sqlite3.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <type_traits>
#include <vector>

#include "export_table.hpp"
#include "gdal_util.hpp"
#include "hlstm/core/error.hpp"
#include "hlstm/core/log.hpp"

namespace hlstm::io::detail {
namespace {

// Points above which the GeoPackage gets no spatial index (packing it holds 24 bytes a point:
// 480 MB at this limit).
constexpr std::uint64_t kMaxIndexedPoints = 20'000'000;

// ---------------------------------------------------------------- GeoPackage (GDAL C API)

double seconds(std::chrono::steady_clock::time_point since) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

// A float32 as the double nearest its shortest decimal text (0.1f -> 0.1, not 0.100000001490116):
// what the CSV shows, and still exactly the same float when read back as one.
double decimalOf(float v) {
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    double d = v;
    std::from_chars(buf, r.ptr, d);
    return d;
}

// ---------------------------------------------------------------- GeoPackage spatial index
//
// GDAL 3.6 fills a GeoPackage's R-tree one row at a time through SQLite's R*Tree module
// (~20 us a point, CPU-bound: 25 of the 35 s of a 1,000,000-point export). Newer GDALs
// bulk-load it; here the same is done: the layer is written without an index, then the
// index is packed in memory (sort-tile-recursive: points sorted into x slices, each sorted
// by y and cut into full nodes, level by level) and its nodes written straight into the
// R*Tree's tables (rtree_<t>_<g>_node, _rowid, _parent; format of SQLite's rtree.c: a node
// is a big-endian int16 tree depth (root only), int16 cell count, then per cell an int64 id
// and float32 minx, maxx, miny, maxy; every node padded to the node size). The triggers and
// the gpkg_extensions row are those of the GeoPackage R-tree extension, as GDAL writes them.
// SELECT rtreecheck() and GDAL's validate_gpkg.py accept the result (tests/io/test_export).

// A cell of a node: its box (float32, rounded outwards), and the feature id (leaf) or child
// node number (interior).
struct Cell {
    float minx, maxx, miny, maxy;
    std::int64_t id;
};

float roundDown(double d) {
    float f = static_cast<float>(d);
    if (static_cast<double>(f) > d) f = std::nextafter(f, -std::numeric_limits<float>::infinity());
    return f;
}
float roundUp(double d) {
    float f = static_cast<float>(d);
    if (static_cast<double>(f) < d) f = std::nextafter(f, std::numeric_limits<float>::infinity());
    return f;
}

// Owns a SQLite connection; every failure is a RuntimeError naming the file.
class Sqlite {
public:
    explicit Sqlite(std::string path) : path_(std::move(path)) {
        if (sqlite3_open_v2(path_.c_str(), &db_, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) fail("cannot open");
    }
    ~Sqlite() { sqlite3_close_v2(db_); }
    Sqlite(const Sqlite&) = delete;
    Sqlite& operator=(const Sqlite&) = delete;
    void exec(const std::string& sql) {
        if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) fail(sql.substr(0, 80));
    }
    [[nodiscard]] sqlite3* get() const noexcept { return db_; }
    [[noreturn]] void fail(const std::string& what) const {
        throw RuntimeError(path_ + ": spatial index: " + what + ": " + (db_ ? sqlite3_errmsg(db_) : "out of memory"));
    }

private:
    std::string path_;
    sqlite3* db_ = nullptr;
};

// A prepared statement run once per row of (int64, int64) or (int64, blob).
class Insert {
public:
    Insert(Sqlite& db, const std::string& sql) : db_(db) {
        if (sqlite3_prepare_v2(db.get(), sql.c_str(), -1, &stmt_, nullptr) != SQLITE_OK) db.fail(sql);
    }
    ~Insert() { sqlite3_finalize(stmt_); }
    Insert(const Insert&) = delete;
    Insert& operator=(const Insert&) = delete;
    void run(std::int64_t a, std::int64_t b) {
        sqlite3_bind_int64(stmt_, 1, a);
        sqlite3_bind_int64(stmt_, 2, b);
        step();
    }
    void run(std::int64_t a, const std::vector<unsigned char>& blob) {
        sqlite3_bind_int64(stmt_, 1, a);
        sqlite3_bind_blob(stmt_, 2, blob.data(), static_cast<int>(blob.size()), SQLITE_STATIC);
        step();
    }

private:
    void step() {
        if (sqlite3_step(stmt_) != SQLITE_DONE) db_.fail("insert");
        sqlite3_reset(stmt_);
    }
    Sqlite& db_;
    sqlite3_stmt* stmt_ = nullptr;
};

std::string quoted(const std::string& name) {  // an SQL identifier
    std::string out = "\"";
    for (char c : name) out += c == '"' ? std::string("\"\"") : std::string(1, c);
    return out + "\"";
}
std::string literal(const std::string& text) {  // an SQL string
    std::string out = "'";
    for (char c : text) out += c == '\'' ? std::string("''") : std::string(1, c);
    return out + "'";
}

void putBigEndian(unsigned char* p, std::uint64_t v, int bytes) {
    for (int k = bytes - 1; k >= 0; --k, v >>= 8) p[k] = static_cast<unsigned char>(v & 0xff);
}

Cell pointCell(double x, double y, std::int64_t fid) {
    return {roundDown(x), roundUp(x), roundDown(y), roundUp(y), fid};
}

// Adds the GeoPackage R-tree spatial index of `table`.`geom` (feature ids `fid`) over `level`
// (a cell per point) to the closed GeoPackage at `path` (reorders `level`).
void bulkLoadRtree(const std::string& path, const std::string& table, const std::string& geom, const std::string& fid,
                   std::vector<Cell>& level) {
    Sqlite db(path);
    db.exec("PRAGMA synchronous = OFF");    // the file is fsynced before the rename
    db.exec("PRAGMA cache_size = -65536");  // 64 MiB
    db.exec("BEGIN");
    const std::string rtree = "rtree_" + table + "_" + geom;
    db.exec("CREATE VIRTUAL TABLE " + quoted(rtree) + " USING rtree(id, minx, maxx, miny, maxy)");
    // Node size: SQLite's choice for this page size, read from the empty root it wrote.
    int nodeSize = 0;
    {
        sqlite3_stmt* stmt = nullptr;
        const std::string sql = "SELECT length(data) FROM " + quoted(rtree + "_node") + " WHERE nodeno = 1";
        if (sqlite3_prepare_v2(db.get(), sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) db.fail(sql);
        if (sqlite3_step(stmt) == SQLITE_ROW) nodeSize = sqlite3_column_int(stmt, 0);
        sqlite3_finalize(stmt);
    }
    constexpr int kCellBytes = 8 + 4 * 4;
    const std::size_t fanout = nodeSize > 4 ? static_cast<std::size_t>((nodeSize - 4) / kCellBytes) : 0;
    if (fanout < 4) db.fail("unexpected R*Tree node size " + std::to_string(nodeSize));

    Insert nodeRow(db, "INSERT OR REPLACE INTO " + quoted(rtree + "_node") + " VALUES (?, ?)");
    Insert rowidRow(db, "INSERT INTO " + quoted(rtree + "_rowid") + " VALUES (?, ?)");
    Insert parentRow(db, "INSERT INTO " + quoted(rtree + "_parent") + " VALUES (?, ?)");
    std::vector<unsigned char> blob(static_cast<std::size_t>(nodeSize));
    // Leaf node of each feature id, and parent of each node: written in id order at the end
    // (in packing order they would land all over the tables' B-trees, 5x slower).
    std::int64_t maxFid = 0;
    for (const Cell& c : level) maxFid = std::max(maxFid, c.id);
    std::vector<std::uint32_t> leafOf(static_cast<std::size_t>(maxFid) + 1, 0);
    std::vector<std::pair<std::int64_t, std::int64_t>> parentOf;
    // Writes one node of `cells`; leaf: the rowid map, interior: the parent map of its children.
    const auto writeNode = [&](std::int64_t nodeno, const Cell* cells, std::size_t count, bool leaf, int depth) {
        std::fill(blob.begin(), blob.end(), 0);
        putBigEndian(blob.data(), static_cast<std::uint64_t>(depth), 2);
        putBigEndian(blob.data() + 2, count, 2);
        for (std::size_t k = 0; k < count; ++k) {
            unsigned char* p = blob.data() + 4 + k * kCellBytes;
            putBigEndian(p, static_cast<std::uint64_t>(cells[k].id), 8);
            const float coords[4] = {cells[k].minx, cells[k].maxx, cells[k].miny, cells[k].maxy};
            for (int c = 0; c < 4; ++c) {
                std::uint32_t bits = 0;
                std::memcpy(&bits, &coords[c], 4);
                putBigEndian(p + 8 + 4 * c, bits, 4);
            }
            if (leaf)
                leafOf[static_cast<std::size_t>(cells[k].id)] = static_cast<std::uint32_t>(nodeno);
            else
                parentOf.emplace_back(cells[k].id, nodeno);
        }
        nodeRow.run(nodeno, blob);
    };

    std::int64_t nextNode = 2;  // node 1 is the root
    int height = 0;
    while (level.size() > fanout) {
        // Sort-tile-recursive packing of this level into nodes of up to `fanout` cells.
        const std::size_t nodes = (level.size() + fanout - 1) / fanout;
        const auto slices = static_cast<std::size_t>(std::ceil(std::sqrt(static_cast<double>(nodes))));
        const auto centre = [](const Cell& c, bool y) { return y ? 0.5 * (c.miny + c.maxy) : 0.5 * (c.minx + c.maxx); };
        std::sort(level.begin(), level.end(),
                  [&](const Cell& a, const Cell& b) { return centre(a, false) < centre(b, false); });
        const std::size_t perSlice = (level.size() + slices - 1) / slices;
        std::vector<Cell> parents;
        for (std::size_t s0 = 0; s0 < level.size(); s0 += perSlice) {
            const std::size_t s1 = std::min(level.size(), s0 + perSlice);
            std::sort(level.begin() + static_cast<std::ptrdiff_t>(s0), level.begin() + static_cast<std::ptrdiff_t>(s1),
                      [&](const Cell& a, const Cell& b) { return centre(a, true) < centre(b, true); });
            // Nodes of the slice, as even as possible (no nearly empty last node).
            const std::size_t count = (s1 - s0 + fanout - 1) / fanout;
            for (std::size_t k = 0; k < count; ++k) {
                const std::size_t a = s0 + (s1 - s0) * k / count, b = s0 + (s1 - s0) * (k + 1) / count;
                Cell box{level[a].minx, level[a].maxx, level[a].miny, level[a].maxy, nextNode++};
                for (std::size_t i = a; i < b; ++i) {
                    box.minx = std::min(box.minx, level[i].minx);
                    box.maxx = std::max(box.maxx, level[i].maxx);
                    box.miny = std::min(box.miny, level[i].miny);
                    box.maxy = std::max(box.maxy, level[i].maxy);
                }
                writeNode(box.id, level.data() + a, b - a, height == 0, 0);
                parents.push_back(box);
            }
        }
        level.swap(parents);
        ++height;
    }
    writeNode(1, level.data(), level.size(), height == 0, height);  // the root, with the tree's depth
    for (std::size_t id = 0; id < leafOf.size(); ++id)
        if (leafOf[id] != 0) rowidRow.run(static_cast<std::int64_t>(id), leafOf[id]);
    std::sort(parentOf.begin(), parentOf.end());
    for (const auto& [node, parent] : parentOf) parentRow.run(node, parent);

    // The GeoPackage R-tree extension: its triggers keep the index in step with later edits.
    const std::string t = quoted(table), g = quoted(geom), f = quoted(fid), r = quoted(rtree);
    const std::string boxOfNew =
        "(NEW." + f + ",ST_MinX(NEW." + g + "), ST_MaxX(NEW." + g + "),ST_MinY(NEW." + g + "), ST_MaxY(NEW." + g + "))";
    const auto trigger = [&](const std::string& suffix, const std::string& body) {
        db.exec("CREATE TRIGGER " + quoted(rtree + "_" + suffix) + " " + body);
    };
    trigger("insert", "AFTER INSERT ON " + t + " WHEN (new." + g + " NOT NULL AND NOT ST_IsEmpty(NEW." + g +
                          ")) BEGIN INSERT OR REPLACE INTO " + r + " VALUES " + boxOfNew + "; END");
    trigger("update1", "AFTER UPDATE OF " + g + " ON " + t + " WHEN OLD." + f + " = NEW." + f + " AND (NEW." + g +
                           " NOTNULL AND NOT ST_IsEmpty(NEW." + g + ")) BEGIN INSERT OR REPLACE INTO " + r +
                           " VALUES " + boxOfNew + "; END");
    trigger("update2", "AFTER UPDATE OF " + g + " ON " + t + " WHEN OLD." + f + " = NEW." + f + " AND (NEW." + g +
                           " ISNULL OR ST_IsEmpty(NEW." + g + ")) BEGIN DELETE FROM " + r + " WHERE id = OLD." + f +
                           "; END");
    trigger("update3", "AFTER UPDATE ON " + t + " WHEN OLD." + f + " != NEW." + f + " AND (NEW." + g +
                           " NOTNULL AND NOT ST_IsEmpty(NEW." + g + ")) BEGIN DELETE FROM " + r + " WHERE id = OLD." +
                           f + "; INSERT OR REPLACE INTO " + r + " VALUES " + boxOfNew + "; END");
    trigger("update4", "AFTER UPDATE ON " + t + " WHEN OLD." + f + " != NEW." + f + " AND (NEW." + g +
                           " ISNULL OR ST_IsEmpty(NEW." + g + ")) BEGIN DELETE FROM " + r + " WHERE id IN (OLD." + f +
                           ", NEW." + f + "); END");
    trigger("delete", "AFTER DELETE ON " + t + " WHEN old." + g + " NOT NULL BEGIN DELETE FROM " + r +
                          " WHERE id = OLD." + f + "; END");
    db.exec(
        "CREATE TABLE IF NOT EXISTS gpkg_extensions (table_name TEXT, column_name TEXT, extension_name TEXT NOT NULL, "
        "definition TEXT NOT NULL, scope TEXT NOT NULL, CONSTRAINT ge_tce UNIQUE (table_name, column_name, "
        "extension_name))");
    db.exec("INSERT INTO gpkg_extensions VALUES (" + literal(table) + ", " + literal(geom) +
            ", 'gpkg_rtree_index', 'http://www.geopackage.org/spec120/#extension_rtree', 'write-only')");
    db.exec("COMMIT");
}

}  // namespace

void writeGpkg(Table& t, const std::string& path, const std::string& layerName, std::uint64_t blockRows,
               ExportSummary& summary) {
    const auto start = std::chrono::steady_clock::now();
    GdalErrors errors;
    const auto fail = [&](const std::string& what) { throw RuntimeError(path + ": " + what + ": " + errors.last()); };
    // The file is fsynced once, before the rename: SQLite need not sync every transaction.
    ScopedConfig sync("OGR_SQLITE_SYNCHRONOUS", "OFF");
    GDALAllRegister();
    GDALDriverH driver = GDALGetDriverByName("GPKG");
    if (driver == nullptr) fail("GDAL has no GPKG driver");

    Srs srs(OSRNewSpatialReference(nullptr));
    if (t.geographic) {
        if (OSRImportFromEPSG(srs.get(), 4326) != OGRERR_NONE) fail("cannot make EPSG:4326");
        summary.crs = "EPSG:4326";
    } else if (!t.crs.empty() && OSRSetFromUserInput(srs.get(), t.crs.c_str()) == OGRERR_NONE) {
        summary.crs = t.crs;
    } else {
        if (!t.crs.empty())
            log::warn() << t.path << ": crs \"" << t.crs
                        << "\" is not a CRS GDAL knows; x/y geometry written without one";
        summary.crs.clear();
        // GeoPackage's "undefined Cartesian" SRS (srs_id -1): without an SRS, GDAL would
        // declare the undefined *geographic* one (srs_id 0), wrong for metres.
        srs.reset(OSRNewSpatialReference(nullptr));
        if (OSRSetFromUserInput(srs.get(), "LOCAL_CS[\"Undefined cartesian SRS\"]") != OGRERR_NONE) srs.reset();
    }
    if (srs) OSRSetAxisMappingStrategy(srs.get(), OAMS_TRADITIONAL_GIS_ORDER);

    GdalDataset ds(GDALCreate(driver, path.c_str(), 0, 0, 0, GDT_Unknown, nullptr));
    if (!ds) fail("cannot create GeoPackage");
    // No index while writing (see bulkLoadRtree); explicit fids 1..n in row order.
    const char* layerOptions[] = {"SPATIAL_INDEX=NO", "FID=fid", "GEOMETRY_NAME=geom", nullptr};
    OGRLayerH layer = GDALDatasetCreateLayer(ds.get(), layerName.c_str(), srs.get(), wkbPoint, layerOptions);
    if (layer == nullptr) fail("cannot create layer " + layerName);
    const std::string table = OGR_L_GetName(layer);
    summary.layer = table;
    std::vector<Cell> indexCells;
    const bool indexed = t.n <= kMaxIndexedPoints;
    if (indexed)
        indexCells.reserve(t.n);
    else
        log::warn() << "layer " << table << ": " << t.n << " points, no spatial index (packing more than "
                    << kMaxIndexedPoints << " takes too much memory); GDAL can add it, slowly: ogrinfo FILE -sql "
                    << "\"SELECT CreateSpatialIndex('" << table << "', 'geom')\"";
    for (const Column& col : t.columns) {
        OGRFieldType type = OFTReal;
        if (col.src != nullptr && col.src->kind == Kind::kString)
            type = OFTString;
        else if (col.src != nullptr && col.src->kind == Kind::kInt)
            type = col.src->int64 ? OFTInteger64 : OFTInteger;
        OGRFieldDefnH field = OGR_Fld_Create(col.name.c_str(), type);
        const OGRErr err = OGR_L_CreateField(layer, field, TRUE);
        OGR_Fld_Destroy(field);
        if (err != OGRERR_NONE) fail("cannot create field " + col.name);
    }
    Feature feature(OGR_F_Create(OGR_L_GetLayerDefn(layer)));
    const Source* gx = t.geographic ? t.lon : t.x;
    const Source* gy = t.geographic ? t.lat : t.y;
    for (std::uint64_t row0 = 0; row0 < t.n; row0 += blockRows) {
        const std::uint64_t rows = std::min(blockRows, t.n - row0);
        t.loadBlock(row0, rows);
        if (GDALDatasetStartTransaction(ds.get(), FALSE) != OGRERR_NONE) fail("cannot start a transaction");
        for (std::uint64_t r = 0; r < rows; ++r) {
            OGRFeatureH f = feature.get();
            const auto fid = static_cast<std::int64_t>(row0 + r + 1);
            OGR_F_SetFID(f, fid);
            for (std::size_t c = 0; c < t.columns.size(); ++c) {
                const Column& col = t.columns[c];
                const int field = static_cast<int>(c);
                const std::size_t i = col.src != nullptr ? r * col.src->width + col.k : 0;
                if (col.src == nullptr || col.src->isNull(i)) {
                    OGR_F_SetFieldNull(f, field);
                    continue;
                }
                switch (col.src->kind) {
                    case Kind::kInt: OGR_F_SetFieldInteger64(f, field, col.src->ints[i]); break;
                    case Kind::kFloat32: OGR_F_SetFieldDouble(f, field, decimalOf(col.src->f32[i])); break;
                    case Kind::kFloat64: OGR_F_SetFieldDouble(f, field, col.src->f64[i]); break;
                    case Kind::kString: OGR_F_SetFieldString(f, field, col.src->strs[i].c_str()); break;
                }
            }
            const double px = gx->number(r), py = gy->number(r);
            if (std::isfinite(px) && std::isfinite(py)) {
                OGRGeometryH point = OGR_F_GetGeometryRef(f);
                if (point == nullptr) {
                    OGR_F_SetGeometryDirectly(f, OGR_G_CreateGeometry(wkbPoint));
                    point = OGR_F_GetGeometryRef(f);
                }
                OGR_G_SetPoint_2D(point, 0, px, py);
                if (indexed) indexCells.push_back(pointCell(px, py, fid));
            } else if (OGR_F_GetGeometryRef(f) != nullptr) {
                OGR_F_SetGeometryDirectly(f, nullptr);  // no position: null geometry
            }
            if (OGR_L_CreateFeature(layer, f) != OGRERR_NONE) fail("cannot write point " + std::to_string(row0 + r));
        }
        if (GDALDatasetCommitTransaction(ds.get()) != OGRERR_NONE) fail("cannot commit rows " + std::to_string(row0));
    }
    feature.reset();
    CPLErrorReset();
    GDALClose(ds.release());
    if (CPLGetLastErrorType() >= CE_Failure) fail("cannot close");
    log::debug() << "export: " << t.n << " features written in " << seconds(start) << " s";
    if (indexed) {
        bulkLoadRtree(path, table, "geom", "fid", indexCells);
        log::debug() << "export: spatial index packed, total " << seconds(start) << " s";
    }
}

}  // namespace hlstm::io::detail
