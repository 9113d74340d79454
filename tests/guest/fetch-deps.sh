#!/usr/bin/env bash
# Fetches and builds, once, the third-party pieces the guest images need, into the cache dir:
#
#   $KTMON_CACHE/src/libbpf_<ver>.dsc ...        Debian trixie's libbpf source package (apt-get source, verified)
#   $KTMON_CACHE/deps/libbpf-<ver>/<arch>/       static libbpf.a + headers (BUILD_STATIC_ONLY), arch = x86_64, arm64
#   $KTMON_CACHE/deps/arm64/sysroot/             bookworm arm64 libelf.a, libz.a, libzstd.a (+ headers), for the
#                                                static arm64 loader (same glibc as the host's arm64 cross libc)
#   $KTMON_CACHE/deps/arm64/busybox              trixie busybox-static:arm64
#   $KTMON_CACHE/deps/current.env                KEY=VALUE paths for tests/guest/Makefile
#
# Usage: fetch-deps.sh [--refresh]. A second run with everything in place only checks a stamp and exits.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=apt-env.sh
. "$here/apt-env.sh"
KT_LOG_TAG=fetch-deps
refresh=${KTMON_APT_UPDATE:-0}
if [ "${1:-}" = "--refresh" ]; then refresh=1; export KTMON_APT_UPDATE=1; fi
D=$KTMON_CACHE/deps
mkdir -p "$D" "$KTMON_CACHE/src"
exec 9>"$KTMON_CACHE/.fetch-deps.lock"
flock 9

if [ "$refresh" != 1 ] && [ -f "$D/current.env" ]; then
  ok=1
  while IFS='=' read -r k v; do
    case $k in KT_*) [ -e "$v" ] || ok=0 ;; esac
  done <"$D/current.env"
  if [ "$ok" = 1 ]; then
    kt_log "up to date ($D; --refresh to re-resolve)"
    exit 0
  fi
fi
t0=$(date +%s.%N)
for tool in apt-get dpkg-deb dpkg-source make gcc aarch64-linux-gnu-gcc ar; do
  command -v "$tool" >/dev/null || { echo "missing tool: $tool (run scripts/deps.sh)" >&2; exit 1; }
done
kt_apt_setup

# ---- libbpf source (trixie) ---------------------------------------------------------------------------------
LIBBPF_VER=$(kt_apt_cache showsrc libbpf 2>/dev/null | awk -F': ' '$1=="Version"{print $2}' | sort -rV | head -1)
[ -n "$LIBBPF_VER" ] || { echo "libbpf source package not found in the private index" >&2; exit 1; }
upver=${LIBBPF_VER#*:}
upver=${upver%-*}
case $upver in 0.* | 1.[01].*) echo "libbpf $upver is too old (need >= 1.2)" >&2; exit 1 ;; esac
srcdir=$KTMON_CACHE/src/libbpf-$upver
if [ ! -f "$srcdir/.extracted" ]; then
  kt_log "libbpf: downloading source $LIBBPF_VER"
  (cd "$KTMON_CACHE/src" && kt_apt_get -qq source --download-only "libbpf=$LIBBPF_VER")
  dsc=$(ls "$KTMON_CACHE/src"/libbpf_"${LIBBPF_VER#*:}".dsc)
  rm -rf "$srcdir"
  (cd "$KTMON_CACHE/src" && dpkg-source --no-check -x "$dsc" "$srcdir" >/dev/null)
  touch "$srcdir/.extracted"
fi

# ---- arm64 static libraries (bookworm) and busybox-static:arm64 (trixie) -----------------------------------
suite_version() { # pkg:arch suite -> version in that suite
  kt_apt_cache madison "$1" 2>/dev/null | awk -F'|' -v s="$2" '$3 ~ (" " s "/") {gsub(/ /, "", $2); print $2; exit}'
}
sysroot=$D/arm64/sysroot
if [ ! -f "$sysroot/.complete" ]; then
  rm -rf "$sysroot"
  mkdir -p "$sysroot"
  for p in libelf-dev zlib1g-dev libzstd-dev; do
    v=$(suite_version "$p:arm64" bookworm)
    [ -n "$v" ] || { echo "$p:arm64 not found in bookworm" >&2; exit 1; }
    deb=$(kt_apt_fetch "$p:arm64" "$v")
    dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$sysroot" --wildcards './usr/include/*' './usr/lib/aarch64-linux-gnu/*.a'
    printf '%s  %s\n' "$(sha256sum "$deb" | cut -d' ' -f1)" "${deb##*/}" >>"$sysroot/MANIFEST"
  done
  touch "$sysroot/.complete"
  kt_log "arm64 sysroot: $(cd "$sysroot/usr/lib/aarch64-linux-gnu" && echo *.a)"
fi
bb=$D/arm64/busybox
if [ ! -f "$bb" ]; then
  v=$(suite_version busybox-static:arm64 trixie)
  [ -n "$v" ] || { echo "busybox-static:arm64 not found in trixie" >&2; exit 1; }
  deb=$(kt_apt_fetch busybox-static:arm64 "$v")
  dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/bin/busybox >"$bb.tmp"
  chmod 755 "$bb.tmp"
  mv "$bb.tmp" "$bb"
  kt_log "busybox-static:arm64 $v"
fi

# ---- libbpf.a for x86_64 and arm64 ---------------------------------------------------------------------------
build_libbpf() { # arch cc extra-cflags
  local arch=$1 cc=$2 extra=$3 out=$D/libbpf-$upver/$1
  [ -f "$out/.complete" ] && return 0
  rm -rf "$out"
  mkdir -p "$out/obj"
  kt_log "libbpf $upver: building static library for $arch"
  make -s -C "$srcdir/src" -j"$(nproc)" BUILD_STATIC_ONLY=1 CC="$cc" AR="${cc%gcc}ar" \
    EXTRA_CFLAGS="-O2 -g0 $extra" OBJDIR="$out/obj" DESTDIR="$out" PREFIX=/ LIBDIR=/lib INCLUDEDIR=/include \
    UAPIDIR=/include install install_uapi_headers >/dev/null
  rm -rf "$out/obj"
  [ -f "$out/lib/libbpf.a" ] || { echo "libbpf build for $arch produced no libbpf.a" >&2; exit 1; }
  touch "$out/.complete"
}
build_libbpf x86_64 gcc "" &
p1=$!
build_libbpf arm64 aarch64-linux-gnu-gcc "-I$sysroot/usr/include" &
p2=$!
wait $p1
wait $p2

{
  echo "KT_LIBBPF_VERSION_DIR=$D/libbpf-$upver"
  echo "KT_LIBBPF_X86_64=$D/libbpf-$upver/x86_64"
  echo "KT_LIBBPF_ARM64=$D/libbpf-$upver/arm64"
  echo "KT_ARM64_SYSROOT=$sysroot"
  echo "KT_ARM64_BUSYBOX=$bb"
} >"$D/current.env.new"
mv "$D/current.env.new" "$D/current.env"
kt_log "done in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s (libbpf $LIBBPF_VER)"
