# bash completion for dcpki(1)
#
# The commands, subcommands and options are read from dcpki's own help
# (`dcpki help`, `dcpki CMD --help`), so the completion never lists what the
# installed dcpki does not have. Answers are cached per shell.

declare -gA _dcpki_help_cache

# _dcpki_help WORDS...: the --help output of "dcpki WORDS..." (cached)
_dcpki_help()
{
    local key="dcpki $*"
    if [[ -z ${_dcpki_help_cache[$key]+set} ]]; then
        _dcpki_help_cache[$key]=$("$_dcpki_bin" "$@" --help 2>/dev/null)
    fi
    printf '%s\n' "${_dcpki_help_cache[$key]}"
}

# the command names listed under "Commands:" in a help text
_dcpki_commands()
{
    _dcpki_help "$@" | awk '/^Commands:/ {c = 1; next} c && /^  [a-z]/ {print $1} c && /^$/ {c = 0}'
}

# the --long options of a help text's usage and option lines, and the global ones
_dcpki_options()
{
    { _dcpki_help "$@" | grep -E '^(Usage:|[[:space:]]+-|[[:space:]]+dcpki )' | grep -oE -- '--[a-z][a-z0-9-]*'; printf '%s\n' --config --json --help; } | sort -u
}

# the word after OPTION in a help text's usage or option lines ("FILE", "DIR", ...)
_dcpki_option_arg()
{
    local opt=$1; shift
    _dcpki_help "$@" | grep -oE -- "(^|[ \[(|])$opt[ =][A-Z][A-Z0-9.:_-]*" | head -n 1 | sed -E 's/.*[ =]//'
}

_dcpki()
{
    local cur prev words cword
    if declare -F _init_completion >/dev/null; then
        _init_completion -n = || return
    else
        cur=${COMP_WORDS[COMP_CWORD]}
        prev=${COMP_WORDS[COMP_CWORD - 1]}
        words=("${COMP_WORDS[@]}")
        cword=$COMP_CWORD
    fi
    _dcpki_bin=${words[0]}

    # the command path so far (global options and their values skipped)
    local -a path=()
    local i w group=
    for ((i = 1; i < cword; i++)); do
        w=${words[i]}
        case $w in
        --config) ((i++)); continue ;;
        -*) continue ;;
        esac
        if ((${#path[@]} == 0)); then
            path=("$w")
            [[ -n $(_dcpki_commands "$w") ]] && group=$w
        elif [[ -n $group && ${#path[@]} == 1 ]]; then
            path+=("$w")
        else
            break
        fi
    done

    # the value of an option
    if [[ $prev == -* && $prev != "$cur" ]]; then
        local arg
        if [[ $prev == --config ]]; then
            arg=FILE
        else
            arg=$(_dcpki_option_arg "$prev" "${path[@]}")
        fi
        case $arg in
        "") ;;
        DIR) COMPREPLY=($(compgen -d -- "$cur")); return ;;
        REASON)
            COMPREPLY=($(compgen -W "unspecified keyCompromise CACompromise affiliationChanged superseded
                cessationOfOperation privilegeWithdrawn AACompromise" -- "$cur"))
            return ;;
        TYPE:VALUE) COMPREPLY=($(compgen -W "email: upn: othername:" -- "$cur")); compopt -o nospace 2>/dev/null; return ;;
        FILE | CERT | CERT.pem | OUT.p12 | F | PATH) COMPREPLY=($(compgen -f -- "$cur")); compopt -o filenames 2>/dev/null; return ;;
        *) return ;; # N, HEX, OID, DN, ID, TEXT: nothing to offer
        esac
    fi

    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$(_dcpki_options "${path[@]}")" -- "$cur"))
        return
    fi
    if ((${#path[@]} == 0)); then
        COMPREPLY=($(compgen -W "$(_dcpki_commands) help" -- "$cur"))
    elif [[ -n $group && ${#path[@]} == 1 ]]; then
        COMPREPLY=($(compgen -W "$(_dcpki_commands "$group")" -- "$cur"))
    else
        case ${path[*]} in
        "ra import") COMPREPLY=($(compgen -f -- "$cur")); compopt -o filenames 2>/dev/null ;;
        "keys show" | "keys ref")
            # aliases need the signing service; offer nothing rather than wait on the network
            ;;
        esac
    fi
} && complete -F _dcpki dcpki
