#!/usr/bin/env bash
# The package test (CI): builds the tarball and the .deb with scripts/package.sh (from the
# debug build; --release for the release one), installs the .deb into a scratch root with
# `dpkg -x`, checks its layout and control files, then starts the installed binary the way
# its systemd unit would (the unit's Environment= lines and WorkingDirectory=, paths moved
# into the scratch root, the first admin from a password file) and checks that it serves its
# version on /healthz, a page, the wasm built into it, and a sign-in.
#
#   scripts/package-test.sh [--release] [--no-build]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/sceneboard/target}"

profile=--debug
build=()
while [ $# -gt 0 ]; do
  case "$1" in
    --release) profile="" ;;
    --no-build) build=(--no-build) ;;
    *) echo "package-test: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

fail() { echo "package-test: FAIL: $*" >&2; exit 1; }
work="$(mktemp -d)"
server_pid=""
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

"$root/scripts/package.sh" $profile "${build[@]}" --out "$work/dist" >/dev/null
deb="$(ls "$work"/dist/*.deb)"
tarball="$(ls "$work"/dist/*.tar.gz)"

# The tarball: one folder with everything beside the binary.
listing="$(tar -tzf "$tarball")"
for f in sceneboard LICENSE README.md CHANGELOG.md sceneboard.toml sceneboard.service; do
  grep -q "^sceneboard-[^/]*/$f" <<< "$listing" || fail "the tarball has no $f"
done

# The .deb: control fields, the conffile, the maintainer scripts, the files.
dpkg-deb --field "$deb" Package | grep -qx sceneboard || fail "Package field"
dpkg-deb -e "$deb" "$work/control"
grep -qx /etc/sceneboard/sceneboard.toml "$work/control/conffiles" || fail "sceneboard.toml is not a conffile"
grep -q "adduser --system" "$work/control/postinst" || fail "postinst creates no system user"
sysroot="$work/root"
dpkg-deb -x "$deb" "$sysroot"
unit="$sysroot/lib/systemd/system/sceneboard.service"
for f in usr/bin/sceneboard etc/sceneboard/sceneboard.toml usr/share/doc/sceneboard/copyright; do
  [ -e "$sysroot/$f" ] || fail "the package installs no /$f"
done
[ -f "$unit" ] || fail "no systemd unit"
for option in NoNewPrivileges=yes ProtectSystem=strict StateDirectory=sceneboard User=sceneboard; do
  grep -qx "$option" "$unit" || fail "the unit lacks $option"
done
# systemd's own check of the unit (every key known, the command executable), with ExecStart
# pointed into the scratch root; it only warns about an unknown key, so any output fails.
if command -v systemd-analyze >/dev/null 2>&1; then
  sed "s|^ExecStart=/|ExecStart=$sysroot/|" "$unit" > "$work/sceneboard.service"
  verdict="$(systemd-analyze verify "$work/sceneboard.service" 2>&1)" || fail "systemd-analyze: $verdict"
  [ -z "$verdict" ] || fail "systemd-analyze: $verdict"
fi
[ ! -e "$sysroot/usr/share/sceneboard" ] || fail "the package installs a site folder: the site belongs in the binary"

# Start it as the unit would: its environment and working directory, paths in the scratch root.
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
env_args=()
while IFS= read -r line; do
  value="${line#Environment=}"
  key="${value%%=*}"
  path="${value#*=}"
  case "$path" in /*) path="$sysroot$path" ;; esac
  env_args+=("$key=$path")
done < <(grep '^Environment=' "$unit")
state="$sysroot/var/lib/sceneboard"
install -d -m 0700 "$state"
printf 'package-test-password\n' > "$work/admin-password"
workdir="$sysroot$(sed -n 's/^WorkingDirectory=//p' "$unit")"
exec_start="$(sed -n 's/^ExecStart=//p' "$unit")"
command=($sysroot$exec_start)
(cd "$workdir" && exec env -i PATH="$PATH" HOME="$work" "${env_args[@]}" \
  SCENEBOARD_ADDR="127.0.0.1:$port" SCENEBOARD_ADMIN_PASSWORD_FILE="$work/admin-password" RUST_LOG=warn \
  "${command[@]}" > "$work/server.log" 2>&1) &
server_pid=$!
base="http://127.0.0.1:$port"
for _ in $(seq 1 600); do
  curl -fsS -o /dev/null "$base/healthz" 2>/dev/null && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; fail "the installed binary exited"; }
  sleep 0.1
done
version="$("$sysroot/usr/bin/sceneboard" --version | awk '{print $2}')"
[ "$(curl -fsS "$base/healthz")" = "ok sceneboard $version" ] || fail "/healthz does not name version $version"
[ -f "$state/secret.key" ] || fail "no secret key in the unit's state directory"
wasm="$(curl -fsS "$base/login" | grep -o '/pkg/sceneboard\.[A-Za-z0-9_-]*\.wasm' | head -n1)"
[ -n "$wasm" ] || fail "the sign-in page does not load the site"
curl -fsS -o "$work/served.wasm" "$base$wasm" || fail "the wasm built into the binary is not served"
[ "$(head -c 4 "$work/served.wasm" | od -An -tx1 | tr -d ' ')" = 0061736d ] || fail "$wasm is not a wasm module"
curl -s -D - -o /dev/null -d 'username=admin&password=package-test-password' "$base/api/login" | grep -qi '^set-cookie: sb_session=' \
  || fail "the first admin cannot sign in"
echo "package-test: ok ($(basename "$deb"), $(basename "$tarball"))"
