# Writes the C++ header that names the git revision the program is built from, at every
# build (an always-run target), but replaces the file only when the text changes, so nothing
# recompiles until the revision does:
#   cmake -DSOURCE_DIR=repo -DOUTPUT=ait_revision.h -P git_revision.cmake
# "abc123def456", with "-dirty" when tracked files differ from that commit; "unknown" outside
# a git checkout or without git.
set(revision "unknown")
find_program(GIT git)
if(GIT AND EXISTS "${SOURCE_DIR}/.git")
  execute_process(COMMAND "${GIT}" -C "${SOURCE_DIR}" rev-parse --short=12 HEAD
                  OUTPUT_VARIABLE head OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE head_rc ERROR_QUIET)
  if(head_rc EQUAL 0 AND head)
    set(revision "${head}")
    execute_process(COMMAND "${GIT}" -C "${SOURCE_DIR}" diff --quiet HEAD -- RESULT_VARIABLE dirty_rc ERROR_QUIET)
    if(NOT dirty_rc EQUAL 0)
      string(APPEND revision "-dirty")
    endif()
  endif()
endif()
set(text "// Generated at build time (cmake/git_revision.cmake): do not edit.\n#pragma once\ninline constexpr char kAitRevision[] = \"${revision}\";\n")
if(EXISTS "${OUTPUT}")
  file(READ "${OUTPUT}" old)
endif()
if(NOT old STREQUAL text)
  file(WRITE "${OUTPUT}" "${text}")
endif()
