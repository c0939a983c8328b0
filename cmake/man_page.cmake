# Writes a man page from a command's own --help, as help2man does, so the page and --help
# never disagree:
#   cmake -DAIT=bin/ait -DCOMMAND=compare -DALL=compare,dump -DVERSION=0.1.0 -DOUTPUT=ait-llm-compare.1 -P man_page.cmake
# COMMAND empty: the page of `ait` itself (ait.1). ALL: every command, for SEE ALSO.
if(COMMAND)
  set(args llm ${COMMAND})
  set(name "ait-llm-${COMMAND}")
  set(title "AIT-LLM-${COMMAND}")
  set(synopsis "ait llm ${COMMAND} [options]")
else()
  set(args)
  set(name "ait")
  set(title "AIT")
  set(synopsis "ait llm <command> [options]")
endif()
string(TOUPPER "${title}" title)
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
set(see_also ".BR ait (1)")
string(REPLACE "," ";" all "${ALL}")
foreach(other ${all})
  string(APPEND see_also ",\n.BR ait-llm-${other} (1)")
endforeach()
string(APPEND page ".SH SEE ALSO\n${see_also}\n")
file(WRITE "${OUTPUT}" "${page}")
