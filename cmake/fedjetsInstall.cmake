# `cmake --install build --prefix P` lays fedjets out as a CMake package
# (docs/PACKAGE.md):
#   P/bin/                    fedjets-coordinator, -client, -sim, -report, -certs
#   P/include/fedjets/        the public headers, repo-rooted:
#                             #include "common/data/dataset_registry.h"
#                             (plus proto/fedjets.pb.h, generated)
#   P/lib/                    the static libraries a federation needs
#   P/lib/cmake/fedjets/      fedjetsConfig.cmake, its version file and the
#                             exported targets: find_package(fedjets) gives
#                             fedjets::fedjets, which brings LibTorch, Boost,
#                             Protobuf, OpenSSL, fmt, spdlog, CLI11...
# Kept in one file, after every target is defined, so that the folders'
# CMakeLists.txt only say how to build.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# The umbrella target: everything a program that runs a coordinator or
# clients links (examples/custom_dataset). In the tree it is the alias
# fedjets::fedjets, so the example's CMakeLists.txt reads the same in and
# out of the tree.
add_library(fedjets INTERFACE)
target_link_libraries(fedjets INTERFACE
  fedjets_coordinator fedjets_client fedjets_cli)
add_library(fedjets::fedjets ALIAS fedjets)

# Exported as fedjets::<name without the fedjets_ prefix>. fedjets_warnings
# is exported only because static libraries carry their private link items
# ($<LINK_ONLY:...>); its flags never reach a user's code.
set(fedjets_exported_libraries
  fedjets fedjets_warnings fedjets_proto fedjets_base fedjets_net
  fedjets_data fedjets_aggregate fedjets_learn fedjets_cli fedjets_metrics
  fedjets_validation fedjets_checkpoint fedjets_prometheus
  fedjets_coordinator_flags fedjets_coordinator fedjets_client)
foreach(library IN LISTS fedjets_exported_libraries)
  string(REGEX REPLACE "^fedjets_" "" export_name ${library})
  set_target_properties(${library} PROPERTIES EXPORT_NAME ${export_name})
endforeach()

set(FEDJETS_INSTALL_INCLUDEDIR ${CMAKE_INSTALL_INCLUDEDIR}/fedjets)
set(FEDJETS_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/fedjets)

install(TARGETS ${fedjets_exported_libraries}
  EXPORT fedjetsTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${FEDJETS_INSTALL_INCLUDEDIR})
install(TARGETS
  fedjets-coordinator fedjets-client fedjets-sim fedjets-report fedjets-certs
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

# Headers keep their repo-rooted paths under include/fedjets/.
install(DIRECTORY common coordinator client
  DESTINATION ${FEDJETS_INSTALL_INCLUDEDIR}
  FILES_MATCHING PATTERN "*.h")
install(FILES ${CMAKE_BINARY_DIR}/proto/fedjets.pb.h proto/fedjets.proto
  DESTINATION ${FEDJETS_INSTALL_INCLUDEDIR}/proto)

install(EXPORT fedjetsTargets
  NAMESPACE fedjets::
  DESTINATION ${FEDJETS_INSTALL_CMAKEDIR})
configure_package_config_file(cmake/fedjetsConfig.cmake.in
  ${CMAKE_BINARY_DIR}/fedjetsConfig.cmake
  INSTALL_DESTINATION ${FEDJETS_INSTALL_CMAKEDIR})
# 0.x: a minor version may change the API.
write_basic_package_version_file(${CMAKE_BINARY_DIR}/fedjetsConfigVersion.cmake
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMinorVersion)
install(FILES
  ${CMAKE_BINARY_DIR}/fedjetsConfig.cmake
  ${CMAKE_BINARY_DIR}/fedjetsConfigVersion.cmake
  DESTINATION ${FEDJETS_INSTALL_CMAKEDIR})
