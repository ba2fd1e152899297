# Sourced by scripts/demo and scripts/bench-browser: starts, in "$work", a
# redis-server and the sample portal on free loopback ports, with one portal
# user per name in "${users[@]}" (a random password each, kept in a private
# credentials file), and writes the web portal config REPORTER_CONFIG.
# Needs: $work, $examples (the directory holding the built sample_portal),
# users=(...), pids=() (every started process is added), and PORTAL_FLAGS.

free_port() {
    local port=$(( 20000 + RANDOM % 20000 ))
    while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$(( port + 1 )); done
    echo "$port"
}

# GET on the sample portal, body only.
portal_get() {
    exec 3<>"/dev/tcp/127.0.0.1/$portal_port"
    printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$1" >&3
    sed '1,/^\r$/d' <&3
    exec 3<&-
}

# A number field of the portal's /_admin/stats.
portal_stat() {
    portal_get /_admin/stats | grep -o "\"$1\":[0-9]*" | cut -d: -f2
}

# The live Chromium browsers started under "$work/tmp", counted by profile
# among the processes that are not a browser's helpers (renderers and the like
# carry --type= and may show a shortened command line). The pattern's "[-]"
# keeps the grep from matching its own command line.
live_browsers() {
    local profiles
    profiles=$(ps -eo args= | grep -v -- '--type=' \
        | grep -o -- "[-]-user-data-dir=$work/tmp/[^ ]*" || true)
    if [ -n "$profiles" ]; then sort -u <<<"$profiles" | wc -l; else echo 0; fi
}

# Runs a check until it passes, for at most 20 s; gives up if the process
# started last has exited.
wait_until() {
    local what=$1 started=$! tries=0
    shift
    until "$@" >/dev/null 2>&1; do
        if ! kill -0 "$started" 2>/dev/null || [ "$tries" -ge 400 ]; then
            echo "$what did not start; see the messages above" >&2
            return 1
        fi
        tries=$(( tries + 1 ))
        sleep 0.05
    done
}

start_web_stack() {
    redis_port=$(free_port)
    redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" >/dev/null &
    pids+=($!)
    wait_until "redis-server on port $redis_port" redis-cli -p "$redis_port" ping
    # A Redis without the permit epoch grants nothing for one lease_ttl, for
    # holders it may have forgotten; this fresh server had none: write it.
    redis-cli -p "$redis_port" set reporter:permits-epoch 0 >/dev/null

    mkdir -m 700 "$work/credentials" "$work/tmp"
    local user password
    for user in "${users[@]}"; do
        password=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
        echo "$user:$password" >> "$work/portal-users.txt"
        (umask 077 && echo "$password" > "$work/credentials/$user")
    done
    portal_port=$(free_port)
    # shellcheck disable=SC2086 # PORTAL_FLAGS is a list of flags.
    "$examples/sample_portal" --listen "127.0.0.1:$portal_port" --users "$work/portal-users.txt" \
        $PORTAL_FLAGS > "$work/portal.out" &
    pids+=($!)
    wait_until "the sample portal" grep -q listening "$work/portal.out"

    export REPORTER_DB=$work/reporter.db REPORTER_CONFIG=$work/reporter.toml REPORTER_TIME_ZONE=UTC
    # Browser profiles and downloads go under $work/tmp, so they can be counted and are removed.
    export TMPDIR=$work/tmp
    cat > "$REPORTER_CONFIG" <<TOML
redis_url = "redis://127.0.0.1:$redis_port/"
max_active_browsers = 6
lease_ttl = 10
[retry]
report_delay = 2
download_delay = 2
[portal]
kind = "web"
base_url = "http://127.0.0.1:$portal_port"
credentials_dir = "$work/credentials"
report_statuses = ["disputed"]
TOML
}
