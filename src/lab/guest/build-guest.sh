#!/usr/bin/env bash
# Builds the lab guest image from Debian packages: the kernel of the Debian cloud kernel package
# (downloaded with apt, unpacked, never installed on the host) and a busybox initramfs with the
# virtio modules, the project's HTTP server, memory-dirtying and disk workloads.
# The result is cached: it is rebuilt only when one of its inputs changes.
#
# usage: build-guest.sh OUT_DIR GS_HTTPD GS_DIRTY GS_DISK INIT
set -euo pipefail

out_dir=$1 httpd=$2 dirty=$3 disk=$4 init=$5
cache_dir=${GREENSHIFT_CACHE_DIR:-/var/cache/greenshift}
modules=(virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci failover
         net_failover virtio_net virtio_blk)

die() { echo "build-guest: $*" >&2; exit 1; }

busybox=$(command -v busybox || true)
[ -n "$busybox" ] || die "busybox not found: install busybox-static (scripts/setup.sh does)"
if ldd "$busybox" >/dev/null 2>&1; then
  die "$busybox is dynamically linked: install busybox-static (scripts/setup.sh does)"
fi

# Which kernel: the package the cloud kernel meta-package points to, unless told.
package=${GREENSHIFT_KERNEL_PACKAGE:-}
if [ -z "$package" ]; then
  package=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
            awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
fi
if [ -z "$package" ]; then
  # No apt lists (offline): use the newest kernel already in the cache.
  cached=$(ls -1d "$cache_dir"/kernel/*/ 2>/dev/null | sort -V | tail -n 1 || true)
  [ -n "$cached" ] || die "cannot find linux-image-cloud-amd64 with apt-cache (run apt-get update)"
  kernel_dir=${cached%/}
else
  version=$(apt-cache policy "$package" | awk '/Candidate:/ {print $2; exit}')
  kernel_dir="$cache_dir/kernel/${package}_${version}"
fi

if [ ! -f "$kernel_dir/vmlinuz" ]; then
  echo "build-guest: fetching $package $version"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  chmod 755 "$work"
  (cd "$work" && apt-get download "$package" >/dev/null 2>"$work/apt.log") ||
    die "apt-get download $package failed: $(cat "$work/apt.log")"
  dpkg-deb -x "$work"/*.deb "$work/root"
  mkdir -p "$kernel_dir.partial/modules"
  cp "$work"/root/boot/vmlinuz-* "$kernel_dir.partial/vmlinuz"
  for module in "${modules[@]}"; do
    found=$(find "$work/root/lib/modules" -name "$module.ko*" | head -n 1)
    [ -n "$found" ] || die "module $module not in $package"
    case "$found" in
      *.xz) xz -dc "$found" >"$kernel_dir.partial/modules/$module.ko" ;;
      *.zst) zstd -qdc "$found" >"$kernel_dir.partial/modules/$module.ko" ;;
      *) cp "$found" "$kernel_dir.partial/modules/$module.ko" ;;
    esac
  done
  echo "$package $version" >"$kernel_dir.partial/package"
  rm -rf "$kernel_dir"
  mv "$kernel_dir.partial" "$kernel_dir"
fi

inputs_hash=$( (cat "$0" "$init" "$httpd" "$dirty" "$disk" "$busybox" "$kernel_dir/vmlinuz" \
                    "$kernel_dir"/modules/*.ko) | sha256sum | cut -d' ' -f1)
if [ -f "$out_dir/inputs.sha256" ] && [ "$(cat "$out_dir/inputs.sha256")" = "$inputs_hash" ] &&
   [ -f "$out_dir/vmlinuz" ] && [ -f "$out_dir/initramfs.cpio.gz" ]; then
  echo "build-guest: guest image is up to date ($(cat "$kernel_dir/package"))"
  exit 0
fi

echo "build-guest: building initramfs ($(cat "$kernel_dir/package"))"
mkdir -p "$out_dir"
staging=$(mktemp -d)
mkdir -p "$staging"/{bin,proc,sys,dev,tmp,lib/modules}
cp "$busybox" "$staging/bin/busybox"
cp "$init" "$staging/init"
cp "$httpd" "$staging/bin/gs-httpd"
cp "$dirty" "$staging/bin/gs-dirty"
cp "$disk" "$staging/bin/gs-disk"
chmod 755 "$staging/init" "$staging/bin/"*
cp "$kernel_dir"/modules/*.ko "$staging/lib/modules/"
(cd "$staging" && find . -print0 | cpio --null -o -H newc --quiet | gzip -1) \
  >"$out_dir/initramfs.cpio.gz.tmp"
rm -rf "$staging"
cp "$kernel_dir/vmlinuz" "$out_dir/vmlinuz.tmp"
mv "$out_dir/initramfs.cpio.gz.tmp" "$out_dir/initramfs.cpio.gz"
mv "$out_dir/vmlinuz.tmp" "$out_dir/vmlinuz"
cp "$kernel_dir/package" "$out_dir/kernel-package"
echo "$inputs_hash" >"$out_dir/inputs.sha256"
echo "build-guest: wrote $out_dir/vmlinuz and $out_dir/initramfs.cpio.gz"
