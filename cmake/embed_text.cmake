# Writes a C++ header holding one text file as a string constant, at build time:
#   cmake -DINPUT=file.css -DOUTPUT=file.css.h -DNAME=kConstant -P embed_text.cmake
# The constant starts with a newline (the raw string's first line break) and ends with the
# file's own last one.
file(READ "${INPUT}" content)
if(content MATCHES "\\)ait_embed\"")
  message(FATAL_ERROR "${INPUT} contains the raw-string delimiter )ait_embed\"")
endif()
file(WRITE "${OUTPUT}.tmp"
  "// Generated from ${INPUT} at build time (cmake/embed_text.cmake): do not edit.\n"
  "#pragma once\n"
  "inline constexpr char ${NAME}[] = R\"ait_embed(\n${content})ait_embed\";\n")
file(RENAME "${OUTPUT}.tmp" "${OUTPUT}")
