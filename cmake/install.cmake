# Install rules: public headers, libqwenedge as a static and a shared library, a CMake package
# (find_package(qwenedge) -> qwenedge::qwenedge) and a pkg-config file (qwenedge.pc).
#
# The in-tree `qwenedge` target is a static library that links the static qwenedge_kernels and
# qwenedge_tokenizer targets; an installed libqwenedge.a must stand alone, so the installed
# libraries are built here from the object files of all of them (compiled once, with -fPIC on
# every object, which the shared library needs):
#   qwenedge_static -> lib/libqwenedge.a    (exported as qwenedge::qwenedge_static)
#   qwenedge_shared -> lib/libqwenedge.so.* (exported as qwenedge::qwenedge_shared)
# qwenedge::qwenedge is made by the package config: the shared library, or the static one when
# the consumer sets QWENEDGE_USE_STATIC_LIBS.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# The C header carries the version too (QWEN_VERSION_*); it must agree with project().
file(STRINGS ${PROJECT_SOURCE_DIR}/include/qwenedge/qwenedge.h _qwenedge_h_version
     REGEX "^#define QWEN_VERSION_(MAJOR|MINOR|PATCH) [0-9]+$")
string(REGEX REPLACE "[^;]*_(MAJOR|MINOR|PATCH) ([0-9]+)" "\\2" _qwenedge_h_version "${_qwenedge_h_version}")
string(REPLACE ";" "." _qwenedge_h_version "${_qwenedge_h_version}")
if(NOT _qwenedge_h_version STREQUAL PROJECT_VERSION)
  message(FATAL_ERROR "include/qwenedge/qwenedge.h says version ${_qwenedge_h_version}, "
                      "project() says ${PROJECT_VERSION}: update QWEN_VERSION_* in the header")
endif()

# ABI: until 1.0 every minor version may break it, so the SONAME carries MAJOR.MINOR.
if(PROJECT_VERSION_MAJOR EQUAL 0)
  set(QWENEDGE_SOVERSION 0.${PROJECT_VERSION_MINOR})
else()
  set(QWENEDGE_SOVERSION ${PROJECT_VERSION_MAJOR})
endif()

# The parts: `qwenedge` and every static library of this project it links, directly or not
# (today qwenedge_tokenizer and qwenedge_kernels), so a new internal library is picked up too.
set(_qwenedge_parts qwenedge)
set(_qwenedge_queue qwenedge)
while(_qwenedge_queue)
  list(POP_FRONT _qwenedge_queue _target)
  get_target_property(_deps ${_target} LINK_LIBRARIES)
  foreach(_dep IN LISTS _deps)
    if(NOT TARGET "${_dep}")
      continue()  # a system library, a flag or a generator expression
    endif()
    get_target_property(_aliased ${_dep} ALIASED_TARGET)
    if(_aliased)
      set(_dep ${_aliased})
    endif()
    get_target_property(_type ${_dep} TYPE)
    get_target_property(_imported ${_dep} IMPORTED)
    if(_type STREQUAL "STATIC_LIBRARY" AND NOT _imported AND NOT _dep IN_LIST _qwenedge_parts)
      list(APPEND _qwenedge_parts ${_dep})
      list(APPEND _qwenedge_queue ${_dep})
    endif()
  endforeach()
endwhile()
set(_qwenedge_objects "")
foreach(_part IN LISTS _qwenedge_parts)
  list(APPEND _qwenedge_objects $<TARGET_OBJECTS:${_part}>)
endforeach()
# A C++ translation unit of its own gives each library its link language (and the exported
# static library IMPORTED_LINK_INTERFACE_LANGUAGES CXX, so C consumers link libstdc++).
set(_qwenedge_anchor ${PROJECT_BINARY_DIR}/install/qwenedge_library.cpp)
file(CONFIGURE OUTPUT ${_qwenedge_anchor}
     CONTENT "// Generated: gives the combined libqwenedge a C++ source of its own.\n")

foreach(kind static shared)
  string(TOUPPER ${kind} _kind_upper)
  add_library(qwenedge_${kind} ${_kind_upper} ${_qwenedge_anchor} ${_qwenedge_objects})
  set_target_properties(qwenedge_${kind} PROPERTIES
    OUTPUT_NAME qwenedge
    EXPORT_NAME qwenedge_${kind}
    ARCHIVE_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/lib
    LIBRARY_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/lib)
  target_include_directories(qwenedge_${kind} INTERFACE
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  # Private: the static library's export turns these into $<LINK_ONLY:...> for its consumers;
  # the shared library records them as DT_NEEDED.
  target_link_libraries(qwenedge_${kind} PRIVATE OpenMP::OpenMP_CXX Threads::Threads)
  target_compile_features(qwenedge_${kind} INTERFACE cxx_std_20)
endforeach()
set_target_properties(qwenedge_shared PROPERTIES
  VERSION ${PROJECT_VERSION}
  SOVERSION ${QWENEDGE_SOVERSION})
if(CMAKE_SYSTEM_NAME STREQUAL "Linux" AND NOT QWENEDGE_SANITIZE AND NOT QWENEDGE_BUILD_FUZZERS)
  # Every symbol must resolve inside the library or its declared dependencies.
  target_link_options(qwenedge_shared PRIVATE "LINKER:--no-undefined")
endif()

install(TARGETS qwenedge_static qwenedge_shared
  EXPORT qwenedgeTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/qwenedge
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  FILES_MATCHING PATTERN "*.h" PATTERN "*.hpp")

set(QWENEDGE_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/qwenedge)
install(EXPORT qwenedgeTargets
  NAMESPACE qwenedge::
  DESTINATION ${QWENEDGE_CMAKE_DIR}
  FILE qwenedgeTargets.cmake)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/qwenedgeConfig.cmake.in
  ${PROJECT_BINARY_DIR}/install/qwenedgeConfig.cmake
  INSTALL_DESTINATION ${QWENEDGE_CMAKE_DIR})
# Before 1.0 a minor version may break the API, so only the same MAJOR.MINOR is compatible.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/install/qwenedgeConfigVersion.cmake
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMinorVersion)
install(FILES
  ${PROJECT_BINARY_DIR}/install/qwenedgeConfig.cmake
  ${PROJECT_BINARY_DIR}/install/qwenedgeConfigVersion.cmake
  DESTINATION ${QWENEDGE_CMAKE_DIR})

# pkg-config. The prefix is found from the .pc file's own place (${pcfiledir}), so the file stays
# right when the tree is installed with `cmake --install --prefix` or moved afterwards.
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}" OR IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(QWENEDGE_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
  set(QWENEDGE_PC_LIBDIR "${CMAKE_INSTALL_FULL_LIBDIR}")
  set(QWENEDGE_PC_INCLUDEDIR "${CMAKE_INSTALL_FULL_INCLUDEDIR}")
else()
  file(RELATIVE_PATH _qwenedge_pc_up /${CMAKE_INSTALL_LIBDIR}/pkgconfig /)
  string(REGEX REPLACE "/$" "" _qwenedge_pc_up "${_qwenedge_pc_up}")
  set(QWENEDGE_PC_PREFIX "\${pcfiledir}/${_qwenedge_pc_up}")
  set(QWENEDGE_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
  set(QWENEDGE_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()
# What a static link needs beyond libqwenedge.a: the C++ runtime, the OpenMP runtime
# (libgomp for gcc, libomp for clang), threads and libm.
set(_qwenedge_pc_libs stdc++ ${OpenMP_CXX_LIB_NAMES} pthread m)
list(REMOVE_DUPLICATES _qwenedge_pc_libs)
list(TRANSFORM _qwenedge_pc_libs PREPEND "-l")
list(JOIN _qwenedge_pc_libs " " QWENEDGE_PC_LIBS_PRIVATE)
configure_file(${PROJECT_SOURCE_DIR}/cmake/qwenedge.pc.in ${PROJECT_BINARY_DIR}/install/qwenedge.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/install/qwenedge.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
