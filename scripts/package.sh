#!/usr/bin/env bash
# Builds what an operator installs (docs/deploy.md, "Packages") into dist/:
#   sceneboard-VERSION-x86_64-linux.tar.gz   the binary (the compiled site is built into it),
#                                            README, LICENSE, CHANGELOG, an example
#                                            sceneboard.toml, the systemd unit
#   sceneboard_VERSION_amd64.deb             the same installed: /usr/bin/sceneboard, the
#                                            systemd unit, the example config as
#                                            /etc/sceneboard/sceneboard.toml (a conffile), and
#                                            a system user `sceneboard`
#
#   scripts/package.sh [--debug] [--no-build] [--out DIR]
#
# Default: the release build first (scripts/build.sh: the site's files are embedded with
# brotli and gzip copies made at build time). --debug packages the debug build instead
# (scripts/package-test.sh in CI: the package's layout and start, not a shippable binary).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/sceneboard/target}"

profile=release
build=1
out="$root/dist"
while [ $# -gt 0 ]; do
  case "$1" in
    --debug) profile=debug ;;
    --no-build) build=0 ;;
    --out) out="$2"; shift ;;
    *) echo "package: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

if [ "$build" = 1 ]; then
  if [ "$profile" = release ]; then "$root/scripts/build.sh"; else "$root/scripts/build.sh" --debug; fi
fi
bin="$CARGO_TARGET_DIR/$profile/sceneboard"
[ -x "$bin" ] || { echo "package: $bin missing; build first" >&2; exit 1; }
version="$("$bin" --version | awk '{print $2}')"
arch="$(dpkg --print-architecture 2>/dev/null || echo amd64)"
# The debug binary is some 600 MB: packed fast, since it only serves the package test.
if [ "$profile" = debug ]; then gzip_level=-1; deb_compression=(-Zgzip -z1); else gzip_level=-9; deb_compression=(-Zxz); fi
mkdir -p "$out"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# The tarball: one folder, everything beside the binary.
name="sceneboard-$version-$(uname -m)-linux"
mkdir -p "$work/$name"
install -m 0755 "$bin" "$work/$name/sceneboard"
install -m 0644 README.md LICENSE CHANGELOG.md packaging/sceneboard.toml packaging/sceneboard.service "$work/$name/"
tar -C "$work" -cf - "$name" | gzip "$gzip_level" > "$out/$name.tar.gz"

# The Debian package.
deb="$work/deb"
install -D -m 0755 "$bin" "$deb/usr/bin/sceneboard"
install -D -m 0644 packaging/sceneboard.service "$deb/lib/systemd/system/sceneboard.service"
install -D -m 0644 packaging/sceneboard.toml "$deb/etc/sceneboard/sceneboard.toml"
install -D -m 0644 README.md "$deb/usr/share/doc/sceneboard/README.md"
install -D -m 0644 CHANGELOG.md "$deb/usr/share/doc/sceneboard/CHANGELOG.md"
install -D -m 0644 LICENSE "$deb/usr/share/doc/sceneboard/copyright"
mkdir -p "$deb/DEBIAN"
cat > "$deb/DEBIAN/control" <<CONTROL
Package: sceneboard
Version: $version
Architecture: $arch
Maintainer: The Sceneboard contributors <sceneboard@localhost>
Depends: libc6, adduser
Section: web
Priority: optional
Installed-Size: $(du -sk "$deb/usr" | cut -f1)
Description: where a WeChat Official Account's followers come from
 Parametric QR code campaigns, the WeChat callback that stores each scan and
 follow once, and charts of scans, new followers and unsubscribes per campaign.
CONTROL
echo /etc/sceneboard/sceneboard.toml > "$deb/DEBIAN/conffiles"
cat > "$deb/DEBIAN/postinst" <<'POSTINST'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
  if ! getent passwd sceneboard >/dev/null; then
    adduser --system --group --home /var/lib/sceneboard --no-create-home --shell /usr/sbin/nologin sceneboard
  fi
  if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null || true
  fi
fi
POSTINST
cat > "$deb/DEBIAN/postrm" <<'POSTRM'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null || true
fi
# The data dir (database, spool, secret key) stays unless the package is purged.
if [ "$1" = purge ]; then
  rm -rf /var/lib/sceneboard /etc/sceneboard
  deluser --system sceneboard >/dev/null 2>&1 || true
fi
POSTRM
chmod 0755 "$deb/DEBIAN/postinst" "$deb/DEBIAN/postrm"
dpkg-deb --root-owner-group "${deb_compression[@]}" --build "$deb" "$out/sceneboard_${version}_$arch.deb" >/dev/null

echo "$out/$name.tar.gz"
echo "$out/sceneboard_${version}_$arch.deb"
