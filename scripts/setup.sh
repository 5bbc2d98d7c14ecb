#!/usr/bin/env bash
# Installs everything greenshift needs to build, run the lab and run its tests on Debian bookworm.
# Idempotent: packages already present are not reinstalled. Must run as root.
set -euo pipefail

if [[ $(id -u) -ne 0 ]]; then
  echo "setup.sh: must run as root (it installs Debian packages)" >&2
  exit 1
fi

PACKAGES=(
  # build
  build-essential cmake ninja-build pkg-config clang-format
  libgtest-dev libgmock-dev libbenchmark-dev
  nlohmann-json3-dev libcli11-dev libfmt-dev
  # lab: hypervisor, guest image, network namespaces, probes
  qemu-system-x86 qemu-utils busybox-static cpio kmod xz-utils zstd
  iproute2 iputils-ping apache2-utils jq procps
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "setup.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "setup.sh: all packages present"
fi
