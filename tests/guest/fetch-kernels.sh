#!/usr/bin/env bash
# Fetches the sched_ext-capable Debian kernels the e2e rig boots, into the cache dir:
#
#   $KTMON_CACHE/kernels/<kver>-<flavour>/
#       vmlinuz (x86_64 bzImage) or Image (arm64 raw Image)
#       vmlinux      symbols + BTF (debug info stripped with objcopy --strip-debug)
#       System.map   from the -dbg package
#       config       from the linux-base package
#       VERSION      KEY=VALUE facts (kernel release, Debian version, arch, page size, image name)
#       MANIFEST     sha256 of every .deb used (also checked against the signed apt index)
#   $KTMON_CACHE/kernels/current.env   which directories the rig uses (KEY=VALUE, sourced by make/python)
#
# Resolution: the newest 7.x version V in trixie-backports for which linux-binary-V-cloud-amd64,
# linux-binary-V-cloud-arm64, linux-binary-V-arm64-16k, their -dbg images and linux-base packages all exist
# with one Debian version, and whose config has CONFIG_SCHED_CLASS_EXT=y and CONFIG_DEBUG_INFO_BTF=y.
#
# Usage: fetch-kernels.sh [--refresh]     (--refresh or KTMON_APT_UPDATE=1: update lists and re-resolve)
# A second run with everything in place only checks stamps and exits.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=apt-env.sh
. "$here/apt-env.sh"
KT_LOG_TAG=fetch-kernels
refresh=${KTMON_APT_UPDATE:-0}
if [ "${1:-}" = "--refresh" ]; then refresh=1; export KTMON_APT_UPDATE=1; fi
KDIR=$KTMON_CACHE/kernels
mkdir -p "$KDIR"
exec 9>"$KTMON_CACHE/.fetch-kernels.lock"
flock 9

FLAVOURS=(cloud-amd64 cloud-arm64 arm64-16k)
flavour_arch() { case $1 in *amd64) echo amd64 ;; *) echo arm64 ;; esac; }

# ---- fast path: everything recorded in current.env is complete --------------------------------------------
if [ "$refresh" != 1 ] && [ -f "$KDIR/current.env" ]; then
  ok=1
  while IFS='=' read -r k v; do
    case $k in KT_*_DIR) [ -f "$v/COMPLETE" ] || ok=0 ;; esac
  done <"$KDIR/current.env"
  if [ "$ok" = 1 ]; then
    kt_log "up to date: $(sed -n 's/^KT_KVER=//p' "$KDIR/current.env") ($KDIR; --refresh to re-resolve)"
    exit 0
  fi
fi

t0=$(date +%s.%N)
for tool in apt-get apt-cache dpkg-deb tar sha256sum md5sum objcopy readelf; do
  command -v "$tool" >/dev/null || { echo "missing tool: $tool (run scripts/deps.sh)" >&2; exit 1; }
done
if command -v aarch64-linux-gnu-objcopy >/dev/null; then OBJCOPY_ARM64=aarch64-linux-gnu-objcopy
elif command -v llvm-objcopy >/dev/null; then OBJCOPY_ARM64=llvm-objcopy
else echo "missing aarch64-linux-gnu-objcopy or llvm-objcopy" >&2; exit 1; fi

kt_apt_setup

# ---- resolve ----------------------------------------------------------------------------------------------
pkgs_for() { # version -> "name:arch" list
  local v=$1 f a
  for f in "${FLAVOURS[@]}"; do
    a=$(flavour_arch "$f")
    echo "linux-binary-$v-$f:$a linux-image-$v-$f-dbg:$a linux-base-$v-$f:$a"
  done
}
candidates=$(kt_apt_cache pkgnames linux-binary-7. |
  sed -n 's/^linux-binary-\(7\.[0-9][0-9]*\.[0-9][0-9]*+deb[0-9][0-9]*\)-cloud-amd64$/\1/p' | sort -rV)
[ -n "$candidates" ] || { echo "no linux-binary-7.*-cloud-amd64 in the private index" >&2; exit 1; }
KVER= DEBVER=
for v in $candidates; do
  dv= good=1
  for p in $(pkgs_for "$v"); do
    pv=$(kt_apt_cache madison "$p" 2>/dev/null | awk -F'|' '$3 ~ / trixie-backports\// {gsub(/ /, "", $2); print $2; exit}')
    if [ -z "$pv" ] || { [ -n "$dv" ] && [ "$pv" != "$dv" ]; }; then good=0; break; fi
    dv=$pv
  done
  if [ "$good" = 1 ]; then
    # sched_ext + BTF, from the config in linux-base (about 1 MB per flavour)
    for f in "${FLAVOURS[@]}"; do
      a=$(flavour_arch "$f")
      deb=$(kt_apt_fetch "linux-base-$v-$f:$a" "$dv")
      cfg=$(dpkg-deb --fsys-tarfile "$deb" | tar -xO "./usr/lib/modules/$v-$f/config")
      if ! grep -qx 'CONFIG_SCHED_CLASS_EXT=y' <<<"$cfg" || ! grep -qx 'CONFIG_DEBUG_INFO_BTF=y' <<<"$cfg"; then
        kt_log "skip $v: $f lacks CONFIG_SCHED_CLASS_EXT/DEBUG_INFO_BTF"
        good=0
        break
      fi
    done
  fi
  if [ "$good" = 1 ]; then KVER=$v DEBVER=$dv; break; fi
  kt_log "skip $v: incomplete set of packages in trixie-backports"
done
[ -n "$KVER" ] || { echo "no complete sched_ext-capable 7.x kernel set found" >&2; exit 1; }
kt_log "resolved kernel $KVER (Debian $DEBVER)"

# ---- fetch + extract one flavour ---------------------------------------------------------------------------
# deb_md5 DEB PATH -> md5 recorded in the package's md5sums for PATH (without leading ./)
deb_md5() { dpkg-deb --ctrl-tarfile "$1" | tar -xO ./md5sums | awk -v p="$2" '$2==p {print $1; exit}'; }

do_flavour() {
  local f=$1 a out tmp bin dbg base rel t1
  t1=$(date +%s)
  a=$(flavour_arch "$f")
  rel=$KVER-$f
  out=$KDIR/$rel
  if [ -f "$out/COMPLETE" ] && grep -qx "DEBVER=$DEBVER" "$out/VERSION" 2>/dev/null; then
    kt_log "$rel: already complete"
    return 0
  fi
  rm -rf "$out" "$out.tmp"
  tmp=$out.tmp
  mkdir -p "$tmp"
  bin=$(kt_apt_fetch "linux-binary-$rel:$a" "$DEBVER")
  base=$(kt_apt_fetch "linux-base-$rel:$a" "$DEBVER")
  dbg=$(kt_apt_fetch "linux-image-$rel-dbg:$a" "$DEBVER")
  : >"$tmp/MANIFEST"
  local d
  for d in "$bin" "$base" "$dbg"; do
    printf '%s  %s\n' "$(sha256sum "$d" | cut -d' ' -f1)" "${d##*/}" >>"$tmp/MANIFEST"
  done

  # kernel image
  local img=vmlinuz
  [ "$a" = arm64 ] && img=Image
  dpkg-deb --fsys-tarfile "$bin" | tar -xO "./usr/lib/modules/$rel/vmlinuz" >"$tmp/$img.raw"
  [ "$(md5sum <"$tmp/$img.raw" | cut -d' ' -f1)" = "$(deb_md5 "$bin" "usr/lib/modules/$rel/vmlinuz")" ] ||
    { echo "$rel: vmlinuz md5 mismatch" >&2; return 1; }
  if [ "$a" = arm64 ]; then
    case $(head -c 2 "$tmp/$img.raw" | od -An -tx1 | tr -d ' ') in
      1f8b) gzip -dc <"$tmp/$img.raw" >"$tmp/$img"; rm -f "$tmp/$img.raw" ;;
      *) mv "$tmp/$img.raw" "$tmp/$img" ;;
    esac
    [ "$(dd if="$tmp/$img" bs=1 skip=56 count=4 status=none)" = $'ARM\x64' ] ||
      { echo "$rel: Image lacks the arm64 magic" >&2; return 1; }
  else
    mv "$tmp/$img.raw" "$tmp/$img"
    [ "$(dd if="$tmp/$img" bs=1 skip=514 count=4 status=none)" = HdrS ] ||
      { echo "$rel: vmlinuz is not a bzImage" >&2; return 1; }
  fi

  # config from linux-base
  dpkg-deb --fsys-tarfile "$base" | tar -xO "./usr/lib/modules/$rel/config" >"$tmp/config"

  # vmlinux + System.map from the -dbg package: only these two members are extracted
  local dpath=usr/lib/debug/lib/modules/$rel
  mkdir -p "$tmp/x"
  set +o pipefail
  dpkg-deb --fsys-tarfile "$dbg" 2>/dev/null |
    tar -x -C "$tmp/x" --occurrence "./$dpath/vmlinux" "./$dpath/System.map"
  local trc=${PIPESTATUS[1]}
  set -o pipefail
  [ "$trc" = 0 ] || { echo "$rel: tar failed extracting vmlinux" >&2; return 1; }
  [ "$(md5sum <"$tmp/x/$dpath/vmlinux" | cut -d' ' -f1)" = "$(deb_md5 "$dbg" "$dpath/vmlinux")" ] ||
    { echo "$rel: vmlinux md5 mismatch" >&2; return 1; }
  local full_sz
  full_sz=$(stat -c %s "$tmp/x/$dpath/vmlinux")
  mv "$tmp/x/$dpath/System.map" "$tmp/System.map"
  local oc=objcopy
  [ "$a" = arm64 ] && oc=$OBJCOPY_ARM64
  "$oc" --strip-debug "$tmp/x/$dpath/vmlinux" "$tmp/vmlinux"
  rm -rf "$tmp/x"
  local secs
  secs=$(readelf -SW "$tmp/vmlinux")
  grep -q ' \.BTF ' <<<"$secs" && grep -q ' \.symtab ' <<<"$secs" ||
    { echo "$rel: stripped vmlinux lacks .BTF or .symtab" >&2; return 1; }

  local pagesize=4k
  grep -qx 'CONFIG_ARM64_16K_PAGES=y' "$tmp/config" && pagesize=16k
  grep -qx 'CONFIG_ARM64_64K_PAGES=y' "$tmp/config" && pagesize=64k
  cat >"$tmp/VERSION" <<EOF
KRELEASE=$rel
KVER=$KVER
DEBVER=$DEBVER
FLAVOUR=$f
ARCH=$a
PAGESIZE=$pagesize
IMAGE=$img
EOF
  touch "$tmp/COMPLETE"
  mv "$tmp" "$out"
  kt_log "$rel: $img $(stat -c %s "$out/$img") B, vmlinux $(stat -c %s "$out/vmlinux") B (from $full_sz B), $(($(date +%s) - t1)) s"
}

# the three flavours in parallel (xz decompression of the -dbg packages dominates)
pids=()
for f in "${FLAVOURS[@]}"; do
  do_flavour "$f" &
  pids+=($!)
done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
[ "$rc" = 0 ] || { echo "fetch-kernels: failed" >&2; exit 1; }

{
  echo "KT_KVER=$KVER"
  echo "KT_DEBVER=$DEBVER"
  echo "KT_X86_64_DIR=$KDIR/$KVER-cloud-amd64"
  echo "KT_ARM64_DIR=$KDIR/$KVER-cloud-arm64"
  echo "KT_ARM64_16K_DIR=$KDIR/$KVER-arm64-16k"
} >"$KDIR/current.env.new"
mv "$KDIR/current.env.new" "$KDIR/current.env"
kt_log "done in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s: $KDIR/current.env"
