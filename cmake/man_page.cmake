# Writes the man pages from the program's own --help, as help2man does, so a page and --help
# never disagree: ait.1, and ait-llm-COMMAND.1 for each command the program lists
# (`ait llm __complete`, the words that are not options):
#   cmake -DAIT=bin/ait -DVERSION=0.1.0 -DOUTPUT_DIR=man -P man_page.cmake
execute_process(COMMAND "${AIT}" llm __complete OUTPUT_VARIABLE words RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${AIT} llm __complete failed (${rc})")
endif()
string(REGEX REPLACE "\n$" "" words "${words}")
string(REPLACE "\n" ";" words "${words}")
set(commands)
foreach(word ${words})
  if(NOT word MATCHES "^-")
    list(APPEND commands ${word})
  endif()
endforeach()

set(see_also ".BR ait (1)")
foreach(command ${commands})
  string(APPEND see_also ",\n.BR ait-llm-${command} (1)")
endforeach()

# Pages of commands the program no longer has must not be installed.
file(GLOB stale "${OUTPUT_DIR}/*.1")
if(stale)
  file(REMOVE ${stale})
endif()

foreach(command "" ${commands})
  if(command)
    set(args llm ${command})
    set(name "ait-llm-${command}")
    set(synopsis "ait llm ${command} [options]")
  else()
    set(args)
    set(name "ait")
    set(synopsis "ait llm <command> [options]")
  endif()
  string(TOUPPER "${name}" title)
  execute_process(COMMAND "${AIT}" ${args} --help OUTPUT_VARIABLE help RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${AIT} ${args} --help failed (${rc})")
  endif()

  # NAME: the first sentence of the first paragraph (`ait`: its tagline).
  string(REGEX REPLACE "^usage:[^\n]*\n\n" "" body "${help}")
  string(REGEX MATCH "^[^\n]+(\n[^\n]+)*" paragraph "${body}")
  string(REPLACE "\n" " " paragraph "${paragraph}")
  string(REGEX MATCH "^[^.]*" summary "${paragraph}")

  # roff: a backslash is \e; a line may not start with . or '; "-" is \- (a minus, not a hyphen:
  # options copied from the page must work).
  string(REPLACE "\\" "\\e" help "${help}")
  string(REPLACE "-" "\\-" help "${help}")
  string(REGEX REPLACE "(^|\n)([.'])" "\\1\\\\&\\2" help "${help}")
  string(REPLACE "-" "\\-" summary "${summary}")

  set(page ".TH ${title} 1 \"\" \"ait-llm ${VERSION}\" \"ait-llm manual\"\n")
  string(APPEND page ".SH NAME\n${name} \\- ${summary}\n")
  string(APPEND page ".SH SYNOPSIS\n.B ${synopsis}\n")
  string(APPEND page ".SH DESCRIPTION\n.nf\n${help}.fi\n")
  string(APPEND page ".SH SEE ALSO\n${see_also}\n")
  file(WRITE "${OUTPUT_DIR}/${name}.1" "${page}")
endforeach()
