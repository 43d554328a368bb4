// Private to src/io's export: GDAL's C API as pointers loaded on first use (gdal_api.cpp);
// gdal_util.hpp calls GDAL through them.
#pragma once

#include <cpl_conv.h>
#include <cpl_error.h>
#include <gdal.h>
#include <ogr_api.h>
#include <ogr_srs_api.h>

// GDAL's C API is loaded on first use (gdal_api.cpp), not linked: libgdal and the ~110 libraries
// it needs cost every process ~0.04 s at start (every rank of every command, measured with an
// MPI_Init-only program: 0.155 -> 0.195 s under mpiexec -n 2), for the one command that uses it.
// Each function below is called through a pointer of its own declared type; the names are
// redirected to them at the end of this header (after every GDAL header, which it includes).
#define HLSTM_GDAL_FUNCTIONS(X)      \
    X(CPLErrorReset)                 \
    X(CPLGetErrorHandlerUserData)    \
    X(CPLGetLastErrorType)           \
    X(CPLGetThreadLocalConfigOption) \
    X(CPLPopErrorHandler)            \
    X(CPLPushErrorHandlerEx)         \
    X(CPLSetThreadLocalConfigOption) \
    X(GDALAllRegister)               \
    X(GDALClose)                     \
    X(GDALCreate)                    \
    X(GDALDatasetCommitTransaction)  \
    X(GDALDatasetCreateLayer)        \
    X(GDALDatasetStartTransaction)   \
    X(GDALGetDriverByName)           \
    X(GDALGetRasterBand)             \
    X(GDALRasterIO)                  \
    X(GDALSetDescription)            \
    X(GDALSetGeoTransform)           \
    X(GDALSetProjection)             \
    X(GDALSetRasterNoDataValue)      \
    X(OGR_F_Create)                  \
    X(OGR_F_Destroy)                 \
    X(OGR_F_GetGeometryRef)          \
    X(OGR_F_SetFID)                  \
    X(OGR_F_SetFieldDouble)          \
    X(OGR_F_SetFieldInteger64)       \
    X(OGR_F_SetFieldNull)            \
    X(OGR_F_SetFieldString)          \
    X(OGR_F_SetGeometryDirectly)     \
    X(OGR_Fld_Create)                \
    X(OGR_Fld_Destroy)               \
    X(OGR_G_CreateGeometry)          \
    X(OGR_G_SetPoint_2D)             \
    X(OGR_L_CreateFeature)           \
    X(OGR_L_CreateField)             \
    X(OGR_L_GetLayerDefn)            \
    X(OGR_L_GetName)                 \
    X(OSRDestroySpatialReference)    \
    X(OSRExportToWkt)                \
    X(OSRImportFromEPSG)             \
    X(OSRNewSpatialReference)        \
    X(OSRSetAxisMappingStrategy)     \
    X(OSRSetFromUserInput)           \
    X(VSIFree)

namespace hlstm::io::detail {

struct GdalApi {
#define HLSTM_GDAL_POINTER(name) decltype(&::name) name##_ = nullptr;
    HLSTM_GDAL_FUNCTIONS(HLSTM_GDAL_POINTER)
#undef HLSTM_GDAL_POINTER
};
/// The loaded API (the first call loads libgdal; RuntimeError naming the library and dlerror's
/// message when it cannot be loaded or lacks a function).
const GdalApi& gdalApi();

}  // namespace hlstm::io::detail
