# Install rules, included at the end of the top-level CMakeLists.txt.
#
# `cmake --install build --prefix PREFIX` (docs/INSTALL.md):
#   bin/ait, bin/ait-engine
#   lib/libait_core.so, lib/libait_engine.so          the C++ API (include/ait, include/ait_engine)
#   lib/libait_probe_abi{0,1}.so                      the ATB probe, found by bin/ait as ../lib
#   lib/libait_pyalg.so, lib/libait_ggml_dump.so      when built (Python metrics; llama.cpp dump)
#   include/ait/*.h, include/ait_engine/*.h
#   lib/cmake/ait/aitConfig.cmake ...                 find_package(ait CONFIG): ait::core, ait::engine,
#                                                     ait::probe_abi0, ait::probe_abi1
#   lib/pkgconfig/ait.pc                              pkg-config --cflags --libs ait
#   share/bash-completion/completions/ait             completion of subcommands and flags
#   share/man/man1/ait.1, ait-llm-COMMAND.1           man pages, from each command's --help
#
# A wheel (pip install ., pyproject.toml; scikit-build-core sets SKBUILD) holds the same
# programs and libraries in the package, ait_llm/bin and ait_llm/lib, beside the extension
# ait_llm/_ait_core; the completion and the man pages go to the environment's share/.
# Everything finds what it needs relative to itself (RPATH $ORIGIN), so either tree can move.
include(CMakePackageConfigHelpers)

if(SKBUILD)
  set(AIT_INSTALL_DATADIR ${SKBUILD_DATA_DIR}/share)
else()
  set(AIT_INSTALL_DATADIR ${CMAKE_INSTALL_DATAROOTDIR})
endif()

# Libraries find each other in their own folder.
set(AIT_INSTALLED_LIBRARIES ait_core ait_probe_abi0 ait_probe_abi1)
if(TARGET ait_engine)
  list(APPEND AIT_INSTALLED_LIBRARIES ait_engine)
endif()
foreach(lib ${AIT_INSTALLED_LIBRARIES})
  set_target_properties(${lib} PROPERTIES INSTALL_RPATH "$ORIGIN")
endforeach()
set_target_properties(ait_core PROPERTIES EXPORT_NAME core)
set_target_properties(ait_probe_abi0 PROPERTIES EXPORT_NAME probe_abi0)
set_target_properties(ait_probe_abi1 PROPERTIES EXPORT_NAME probe_abi1)
if(TARGET ait_engine)
  set_target_properties(ait_engine PROPERTIES EXPORT_NAME engine)
endif()

install(TARGETS ${AIT_INSTALLED_LIBRARIES} EXPORT aitTargets
  LIBRARY DESTINATION ${AIT_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS ait RUNTIME DESTINATION ${AIT_INSTALL_BINDIR})
if(TARGET ait-engine)
  install(TARGETS ait-engine RUNTIME DESTINATION ${AIT_INSTALL_BINDIR})
endif()
if(TARGET ait_pyalg)
  install(TARGETS ait_pyalg LIBRARY DESTINATION ${AIT_INSTALL_LIBDIR})
endif()
if(TARGET ait_ggml_dump)
  # ggml's own libraries: those of the llama-cpp-python it was built against, which in a wheel
  # sits beside ait_llm in site-packages.
  if(SKBUILD)
    set_target_properties(ait_ggml_dump PROPERTIES INSTALL_RPATH "$ORIGIN;$ORIGIN/../../llama_cpp/lib")
  else()
    set_target_properties(ait_ggml_dump PROPERTIES INSTALL_RPATH "$ORIGIN;${AIT_GGML_LIBRARY_DIR}")
  endif()
  install(TARGETS ait_ggml_dump LIBRARY DESTINATION ${AIT_INSTALL_LIBDIR})
endif()

# The Python package (a wheel only): the extension, and the GE formats' generated modules.
# pyproject.toml copies the pure-Python sources (python/ait_llm) itself.
if(SKBUILD AND TARGET _ait_core)
  set_target_properties(_ait_core PROPERTIES INSTALL_RPATH "$ORIGIN/lib")
  install(TARGETS _ait_core LIBRARY DESTINATION ait_llm)
  foreach(proto ${AIT_PROTO_FILES})
    get_filename_component(stem ${proto} NAME_WE)
    install(FILES ${CMAKE_BINARY_DIR}/python/ait_llm/dump/ge_proto/${stem}_pb2.py DESTINATION ait_llm/dump/ge_proto)
  endforeach()
endif()

# Bash completion: asks the installed `ait` for its commands and flags (ait __complete).
install(FILES ${CMAKE_SOURCE_DIR}/src/cli/completion.bash DESTINATION ${AIT_INSTALL_DATADIR}/bash-completion/completions
  RENAME ait)

# Man pages, written at build time from the program's own --help (cmake/man_page.cmake): one
# for `ait`, one for each command it lists. They are rewritten whenever `ait` is relinked.
add_custom_command(OUTPUT ${CMAKE_BINARY_DIR}/man/ait.1
  COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/man
  COMMAND ${CMAKE_COMMAND} -DAIT=$<TARGET_FILE:ait> -DVERSION=${PROJECT_VERSION} -DOUTPUT_DIR=${CMAKE_BINARY_DIR}/man
          -P ${CMAKE_SOURCE_DIR}/cmake/man_page.cmake
  DEPENDS ait ${CMAKE_SOURCE_DIR}/cmake/man_page.cmake COMMENT "" VERBATIM)
add_custom_target(ait_man_pages ALL DEPENDS ${CMAKE_BINARY_DIR}/man/ait.1)
install(DIRECTORY ${CMAKE_BINARY_DIR}/man/ DESTINATION ${AIT_INSTALL_DATADIR}/man/man1 FILES_MATCHING PATTERN "*.1")

# The C++ package: headers, CMake config, pkg-config. Not in a wheel, which is for Python
# and the command line.
if(NOT SKBUILD)
  install(DIRECTORY ${CMAKE_SOURCE_DIR}/include/ait DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
    FILES_MATCHING PATTERN "*.h"
    # Their libraries are not installed: the ONNX export is internal to the program and the
    # Python package; the ggml dump's header goes with its library below.
    PATTERN "atb_onnx.h" EXCLUDE PATTERN "ggml_dump.h" EXCLUDE)
  if(TARGET ait_ggml_dump)
    install(FILES ${CMAKE_SOURCE_DIR}/include/ait/ggml_dump.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/ait)
  endif()
  if(TARGET ait_engine)
    install(DIRECTORY ${CMAKE_SOURCE_DIR}/engine/include/ait_engine DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
      FILES_MATCHING PATTERN "*.h")
  endif()

  set(AIT_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/ait)
  install(EXPORT aitTargets NAMESPACE ait:: DESTINATION ${AIT_CMAKE_DIR})
  configure_package_config_file(${CMAKE_SOURCE_DIR}/cmake/aitConfig.cmake.in ${CMAKE_BINARY_DIR}/cmake/aitConfig.cmake
    INSTALL_DESTINATION ${AIT_CMAKE_DIR})
  write_basic_package_version_file(${CMAKE_BINARY_DIR}/cmake/aitConfigVersion.cmake COMPATIBILITY SameMinorVersion)
  install(FILES ${CMAKE_BINARY_DIR}/cmake/aitConfig.cmake ${CMAKE_BINARY_DIR}/cmake/aitConfigVersion.cmake
    DESTINATION ${AIT_CMAKE_DIR})

  # ait.pc finds its prefix from its own folder, so `cmake --install --prefix` anywhere works.
  set(AIT_PC_DIR ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
  file(RELATIVE_PATH AIT_PC_TO_PREFIX /${AIT_PC_DIR} /)
  configure_file(${CMAKE_SOURCE_DIR}/cmake/ait.pc.in ${CMAKE_BINARY_DIR}/cmake/ait.pc @ONLY)
  install(FILES ${CMAKE_BINARY_DIR}/cmake/ait.pc DESTINATION ${AIT_PC_DIR})
endif()
