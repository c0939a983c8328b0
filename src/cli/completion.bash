# Bash completion for ait-llm's `ait`. `cmake --install` and pip install it as
# PREFIX/share/bash-completion/completions/ait, where bash-completion finds it for a prefix on
# XDG_DATA_DIRS (and, from bash-completion 2.12, beside the program); else source this file.
# The words come from the program itself, so they always match its flags:
#   ait __complete                  llm, --help, --version
#   ait llm __complete              the commands
#   ait llm COMMAND __complete      the command's options (short aliases and long names)
# Anything that is not an option completes as a file name.
_ait() {
    local cur=${COMP_WORDS[COMP_CWORD]}
    local prog=${COMP_WORDS[0]}
    local IFS=$'\n'
    local words
    if ((COMP_CWORD == 1)); then
        words=$("$prog" __complete 2>/dev/null)
    elif ((COMP_CWORD == 2)) && [[ ${COMP_WORDS[1]} == llm ]]; then
        words=$("$prog" llm __complete 2>/dev/null)
    elif [[ ${COMP_WORDS[1]} == llm && $cur == -* ]]; then
        words=$("$prog" llm "${COMP_WORDS[2]}" __complete 2>/dev/null)
    else
        COMPREPLY=()
        return 0
    fi
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -o bashdefault -o default -F _ait ait
