# Sourced by the install_*.sh scripts:
#     apt_install SCRIPT "what the packages are for" PACKAGE...
# installs Debian packages with apt-get, as root or with password-less sudo. Where it cannot
# (no apt-get, no root) it says how to install them and returns 1, and the caller goes on
# without them; when apt-get itself fails it says so and exits 1.

apt_install() {
    local script="$1" purpose="$2"
    shift 2
    local sudo=()
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "$script: no apt-get here; install $* with your package manager ($purpose)" >&2
        return 1
    fi
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            sudo=(sudo -n)
        else
            echo "$script: installing $* needs root: run 'sudo apt-get install $*' ($purpose)" >&2
            return 1
        fi
    fi
    echo "Installing $* ($purpose) ..."
    if ! { "${sudo[@]}" apt-get update -qq &&
           DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "$@" >/dev/null; }; then
        echo "$script: apt-get could not install $* (its error is above): $purpose" >&2
        exit 1
    fi
}
