# Sourced by bench/gpu_*.sh: `part NAME SECONDS COMMAND...` runs one part of a device
# call with its own time limit, logs it in $logs/NAME.log, says its exit status and the
# log's end, then calls `pack` (each script's own; a no-op unless PACK is set), so that a
# call cut short still returns what finished.
part() {
    local name=$1 limit=$2; shift 2
    local began=$SECONDS
    timeout "$limit" "$@" > "$logs/$name.log" 2>&1
    echo "$name: exit $? after $((SECONDS - began)) s"
    grep -v Warning "$logs/$name.log" | tail -n "${TAIL_LINES:-14}" | cut -c1-300
    [ -z "${PACK:-}" ] || pack
}
