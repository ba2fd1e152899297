# Sourced by scripts/test and scripts/demo: installs missing Debian packages.
# Usage: ensure_packages PROGRAM:PACKAGE ...  (installs PACKAGE when PROGRAM is not on the PATH)

ensure_packages() {
    local missing=()
    local pair
    for pair in "$@"; do
        command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then
            sudo=(sudo)
        else
            echo "missing packages: ${missing[*]}; install them as root: apt-get update && apt-get install -y ${missing[*]}" >&2
            return 1
        fi
    fi
    echo "installing ${missing[*]} ..." >&2
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
}

# Installs a cargo subcommand from crates.io when `cargo SUBCOMMAND` is missing.
# Usage: ensure_cargo_tool SUBCOMMAND CRATE
ensure_cargo_tool() {
    cargo "$1" --version >/dev/null 2>&1 && return 0
    echo "installing $2 with cargo install (takes a few minutes) ..." >&2
    cargo install --locked --quiet "$2"
}

ensure_rust() {
    if ! command -v cargo >/dev/null 2>&1; then
        echo "cargo is not installed; install Rust from rustup (https://rustup.rs) and run this again" >&2
        return 1
    fi
}

# Fetches the Selenium Grid 4 server jar once into $target_dir/selenium (the
# browser tests look for it there): `npm pack` of @nightwatch/selenium-server,
# which carries it as package/lib/selenium-server-4.20.0.jar (no install script
# runs). Usage: ensure_selenium_jar TARGET_DIR
ensure_selenium_jar() {
    local dir=$1/selenium jar=selenium-server-4.20.0.jar
    [ -f "$dir/$jar" ] && return 0
    ensure_packages npm:npm
    echo "fetching $jar (npm pack @nightwatch/selenium-server@4.20.0) ..." >&2
    local tmp
    tmp=$(mktemp -d)
    (cd "$tmp" && npm pack --silent @nightwatch/selenium-server@4.20.0 >/dev/null \
        && tar -xzf nightwatch-selenium-server-4.20.0.tgz "package/lib/$jar")
    mkdir -p "$dir"
    mv "$tmp/package/lib/$jar" "$dir/$jar.part" && mv "$dir/$jar.part" "$dir/$jar"
    rm -rf "$tmp"
}
