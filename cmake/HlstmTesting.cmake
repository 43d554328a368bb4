# Test registration helpers (GROMACS' TestMacros.cmake in spirit).
#   hlstm_add_test(name SOURCES a.cpp ... [LABELS l ...] [TIMEOUT s])
#   hlstm_add_mpi_test(name SOURCES a.cpp ... RANKS 1 2 3 4 [LABELS ...] [TIMEOUT s])
# An MPI test is one executable run through ${MPIEXEC_EXECUTABLE} once per rank count,
# oversubscribed, with a timeout so that nothing can hang CI.
find_package(GTest REQUIRED)

set(HLSTM_TEST_TIMEOUT 120 CACHE STRING "Default per-test timeout (s)")
set(HLSTM_MPIEXEC_FLAGS --oversubscribe --bind-to none)
execute_process(COMMAND id -u OUTPUT_VARIABLE _hlstm_uid OUTPUT_STRIP_TRAILING_WHITESPACE)
if(_hlstm_uid STREQUAL "0")
  list(APPEND HLSTM_MPIEXEC_FLAGS --allow-run-as-root)
endif()

function(_hlstm_test_executable name)
  cmake_parse_arguments(T "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE hlstm_core hlstm_test_support ${T_LIBS} hlstm_warnings)
  add_dependencies(${name} hlstm)
endfunction()

function(hlstm_add_test name)
  cmake_parse_arguments(T "" "TIMEOUT" "SOURCES;LABELS;LIBS" ${ARGN})
  _hlstm_test_executable(${name} SOURCES ${T_SOURCES} LIBS GTest::gtest_main ${T_LIBS})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT ${HLSTM_TEST_TIMEOUT})
  endif()
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES TIMEOUT ${T_TIMEOUT} LABELS "unit;${T_LABELS}"
    ENVIRONMENT "OMP_NUM_THREADS=1")
endfunction()

function(hlstm_add_mpi_test name)
  cmake_parse_arguments(T "" "TIMEOUT" "SOURCES;RANKS;LABELS;LIBS" ${ARGN})
  _hlstm_test_executable(${name} SOURCES ${T_SOURCES} LIBS hlstm_mpi_gtest_main ${T_LIBS})
  if(NOT T_RANKS)
    set(T_RANKS 1 2 3 4)
  endif()
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT ${HLSTM_TEST_TIMEOUT})
  endif()
  foreach(n IN LISTS T_RANKS)
    add_test(NAME ${name}.np${n}
      COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} ${n} ${HLSTM_MPIEXEC_FLAGS}
              $<TARGET_FILE:${name}>)
    set_tests_properties(${name}.np${n} PROPERTIES TIMEOUT ${T_TIMEOUT}
      LABELS "mpi;${T_LABELS}" PROCESSORS ${n} ENVIRONMENT "OMP_NUM_THREADS=1")
  endforeach()
endfunction()
