# shellcheck shell=bash
# Sourced by the rig's fetch scripts: a private apt configuration under the cache dir that is used only to
# resolve and download packages (never to install anything into the system).
#
#   KTMON_CACHE          cache root (default ~/.cache/ktmon)
#   KTMON_APT_UPDATE=1   force `apt-get update` of the private lists
#
# The configuration is (re)created idempotently: sources.list is rewritten only when its content changes,
# and the private lists are updated only when they are missing, when sources.list changed, or on request.

KTMON_CACHE=${KTMON_CACHE:-$HOME/.cache/ktmon}
KT_APT=$KTMON_CACHE/apt
KT_MIRROR=${KTMON_DEBIAN_MIRROR:-http://deb.debian.org/debian}
KT_KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

kt_apt_opts=(
  -o "Dir::Etc::SourceList=$KT_APT/etc/sources.list"
  -o "Dir::Etc::SourceParts=/dev/null"
  -o "Dir::State::Lists=$KT_APT/lists"
  -o "Dir::State::status=/dev/null"
  -o "Dir::Cache=$KT_APT/cache"
  -o "Dir::Cache::pkgcache=$KT_APT/cache/pkgcache.bin"
  -o "Dir::Cache::srcpkgcache=$KT_APT/cache/srcpkgcache.bin"
  -o "Dir::Cache::Archives=$KT_APT/archives"
  -o "APT::Architectures::=amd64"
  -o "APT::Architectures::=arm64"
  -o "APT::Sandbox::User=root"
  -o "Acquire::Retries=3"
)

kt_log() { printf '[%s] %s\n' "${KT_LOG_TAG:-rig}" "$*"; }

kt_apt_get() { apt-get -q "${kt_apt_opts[@]}" "$@"; }
kt_apt_cache() { apt-cache "${kt_apt_opts[@]}" "$@"; }

# Writes the private sources.list; runs `apt-get update` on the private lists when needed.
#  - trixie + trixie-backports (amd64, arm64): kernels, busybox-static:arm64
#  - deb-src trixie: libbpf source package
#  - bookworm (arm64 only): static libelf/zlib/zstd matching the host's arm64 cross glibc (2.36)
kt_apt_setup() {
  mkdir -p "$KT_APT/etc" "$KT_APT/lists/partial" "$KT_APT/archives/partial" "$KT_APT/cache" "$KT_APT/dl"
  local want="$KT_APT/etc/sources.list.new" opt="[signed-by=$KT_KEYRING]"
  {
    echo "# written by ktmon tests/guest/apt-env.sh (private: download only)"
    echo "deb [arch=amd64,arm64 signed-by=$KT_KEYRING] $KT_MIRROR trixie main"
    echo "deb [arch=amd64,arm64 signed-by=$KT_KEYRING] $KT_MIRROR trixie-backports main"
    echo "deb-src $opt $KT_MIRROR trixie main"
    echo "deb [arch=arm64 signed-by=$KT_KEYRING] $KT_MIRROR bookworm main"
  } >"$want"
  local need_update=${KTMON_APT_UPDATE:-0}
  if ! cmp -s "$want" "$KT_APT/etc/sources.list"; then
    mv "$want" "$KT_APT/etc/sources.list"
    need_update=1
  else
    rm -f "$want"
  fi
  local s
  for s in trixie trixie-backports bookworm; do
    compgen -G "$KT_APT/lists/*_dists_${s}_InRelease" >/dev/null || need_update=1
  done
  compgen -G "$KT_APT/lists/*_dists_trixie_main_source_Sources*" >/dev/null || need_update=1
  if [ "$need_update" = 1 ]; then
    kt_log "apt: updating private package lists in $KT_APT/lists"
    rm -f "$KT_APT/cache/pkgcache.bin" "$KT_APT/cache/srcpkgcache.bin"
    kt_apt_get -qq update
  fi
}

# kt_apt_field PKG[:ARCH][=VER] FIELD  -> value of FIELD from the candidate's index record
kt_apt_field() {
  kt_apt_cache show "$1" 2>/dev/null | awk -v f="$2" -F': ' '$1==f {print $2; exit}'
}

# kt_apt_fetch PKG:ARCH VERSION  -> prints the path of the verified .deb in $KT_APT/dl
# apt checks the Release signature and the .deb's hash against the signed index; a .deb already present
# is reused when its SHA256 matches the index.
kt_apt_fetch() {
  local pkg=$1 ver=$2 rec file sha size
  rec=$(kt_apt_cache show "$pkg=$ver" 2>/dev/null | awk 'BEGIN{RS=""} NR==1')
  [ -n "$rec" ] || { echo "apt: no index record for $pkg=$ver" >&2; return 1; }
  file=$(awk -F': ' '$1=="Filename"{print $2}' <<<"$rec")
  sha=$(awk -F': ' '$1=="SHA256"{print $2}' <<<"$rec")
  size=$(awk -F': ' '$1=="Size"{print $2}' <<<"$rec")
  # apt-get download names the file NAME_VERSION_ARCH.deb with ':' (epoch) written as %3a
  local name arch
  name=$(awk -F': ' '$1=="Package"{print $2}' <<<"$rec")
  arch=$(awk -F': ' '$1=="Architecture"{print $2}' <<<"$rec")
  local deb="$KT_APT/dl/${name}_${ver//:/%3a}_${arch}.deb"
  [ -n "$file" ] || { echo "apt: no Filename for $pkg=$ver" >&2; return 1; }
  if [ -f "$deb" ] && [ "$(stat -c %s "$deb")" = "$size" ] && [ "$(sha256sum "$deb" | cut -d' ' -f1)" = "$sha" ]; then
    printf '%s\n' "$deb"
    return 0
  fi
  kt_log "apt: downloading $pkg=$ver ($(((size + 1048575) / 1048576)) MiB)" >&2
  (cd "$KT_APT/dl" && kt_apt_get -qq download "$pkg=$ver" >&2) || return 1
  [ -f "$deb" ] || { echo "apt: $deb missing after download" >&2; return 1; }
  [ "$(sha256sum "$deb" | cut -d' ' -f1)" = "$sha" ] || { echo "apt: sha256 mismatch for $deb" >&2; return 1; }
  printf '%s\n' "$deb"
}
