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
  # fuzzing: clang with libFuzzer and the sanitizer runtimes
  clang-14 libclang-rt-14-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  nlohmann-json3-dev libcli11-dev libfmt-dev libmosquitto-dev libmodbus-dev
  # placement: the MILP solver (Coin-OR CBC)
  coinor-libcbc-dev
  # the service: config (TOML), store (SQLite), HTTP server (Boost.Beast, OpenSSL for TLS);
  # cpp-httplib is the tests' and benchmarks' HTTP client; openssl and curl for the HTTPS test
  libtomlplusplus-dev libsqlite3-dev libboost-dev libboost-system-dev libssl-dev
  libcpp-httplib-dev openssl curl
  # the libvirt driver reads domains' and storage pools' XML: libxml2
  libxml2-dev
  # the live feeds (weather forecasts, carbon intensity): libcurl
  libcurl4-openssl-dev
  # times: RFC 3339 parsing on a real calendar (Howard Hinnant's date, header-only)
  libhowardhinnant-date-dev tzdata
  # the dashboard: its charts (Chart.js), and headless Chromium for its browser test
  libjs-chart.js chromium
  # sensors: an MQTT broker and clients for the integration tests
  mosquitto mosquitto-clients
  # lab: hypervisor, guest image, network namespaces, probes
  busybox-static cpio kmod xz-utils zstd
  iproute2 iputils-ping apache2-utils jq procps
  # the WAN link test measures TCP throughput through the delay relay; the vxlan lab sets its
  # links' offloads with ethtool
  iperf3 ethtool
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

export DEBIAN_FRONTEND=noninteractive
updated=0
apt_update() {
  if ((updated == 0)); then
    apt-get update -qq
    updated=1
  fi
}

# QEMU comes from bookworm-backports (10.0): bookworm's QEMU 7.2 loses guest memory writes when
# it live-migrates a TCG guest over several dirty-tracking passes (guest kernels panicked after
# 6 of 11 migrations here; 0 of 8 with 10.0). See docs/lab.md.
QEMU_MIN=1:10.0
BACKPORTS=/etc/apt/sources.list.d/greenshift-bookworm-backports.list
if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
  echo "deb http://deb.debian.org/debian bookworm-backports main" >"$BACKPORTS"
  updated=0
fi
qemu_version=$(dpkg-query -W -f='${Version}' qemu-system-x86 2>/dev/null || true)
if [[ -z $qemu_version ]] || dpkg --compare-versions "$qemu_version" lt "$QEMU_MIN"; then
  echo "setup.sh: installing QEMU from bookworm-backports (have: ${qemu_version:-none})"
  apt_update
  apt-get install -y -qq --no-install-recommends -t bookworm-backports \
    qemu-system-x86 qemu-utils >/dev/null
fi

# QEMU's iSCSI and NFS block drivers (libiscsi, libnfs) are modules in qemu-block-extra, which
# must be exactly QEMU's version (QEMU refuses modules of another build).
qemu_version=$(dpkg-query -W -f='${Version}' qemu-system-x86)
extra_version=$(dpkg-query -W -f='${Version}' qemu-block-extra 2>/dev/null || true)
if [[ $extra_version != "$qemu_version" ]]; then
  echo "setup.sh: installing qemu-block-extra $qemu_version (have: ${extra_version:-none})"
  apt_update
  apt-get install -y -qq --no-install-recommends -t bookworm-backports \
    "qemu-block-extra=$qemu_version" >/dev/null
fi

# The lab's shared storage servers (lab up --storage) run in the lab's own namespace, started by
# greenshift: tgtd (iSCSI), nfs-ganesha with rpcbind (NFS). Where the packages start services of
# their own on the machine (systemd), those are stopped and disabled again: greenshift does not
# need them, and an operator did not ask for an NFS server on the host.
STORAGE_PACKAGES=(tgt nfs-ganesha nfs-ganesha-vfs rpcbind)
storage_missing=()
for p in "${STORAGE_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    storage_missing+=("$p")
  fi
done
if ((${#storage_missing[@]})); then
  echo "setup.sh: installing ${storage_missing[*]} (the lab's iSCSI and NFS servers)"
  apt_update
  apt-get install -y -qq --no-install-recommends -t bookworm-backports "${storage_missing[@]}" \
    >/dev/null
  if [[ -d /run/systemd/system ]]; then
    systemctl disable --now nfs-ganesha.service tgt.service rpcbind.service rpcbind.socket \
      >/dev/null 2>&1 || true
  fi
fi

# Routed labs (lab up --network bgp) run BIRD 2 in every site and in the WAN, started by
# greenshift with configurations of its own; the host's own bird service is not wanted.
if ! dpkg-query -W -f='${Status}' bird2 2>/dev/null | grep -q "install ok installed"; then
  echo "setup.sh: installing bird2 (the routed lab's BGP routers)"
  apt_update
  apt-get install -y -qq --no-install-recommends bird2 >/dev/null
  if [[ -d /run/systemd/system ]]; then
    systemctl disable --now bird.service >/dev/null 2>&1 || true
  fi
fi

# libvirt comes from bookworm-backports too (11.3): bookworm's 9.0 is older than QEMU 10. The
# lab runs its own daemons (one per site, `lab up --hypervisor libvirt`); nothing is started here.
LIBVIRT_MIN=11.0
libvirt_version=$(dpkg-query -W -f='${Version}' libvirt-daemon-system 2>/dev/null || true)
if [[ -z $libvirt_version ]] || dpkg --compare-versions "$libvirt_version" lt "$LIBVIRT_MIN"; then
  echo "setup.sh: installing libvirt from bookworm-backports (have: ${libvirt_version:-none})"
  apt_update
  apt-get install -y -qq --no-install-recommends -t bookworm-backports \
    libvirt-dev libvirt-daemon-system libvirt-daemon-driver-qemu libvirt-clients >/dev/null
fi

# The guest image build finds the cloud kernel package through apt's lists.
if ! apt-cache show linux-image-cloud-amd64 >/dev/null 2>&1; then
  apt_update
fi

if ((${#missing[@]})); then
  echo "setup.sh: installing ${missing[*]}"
  apt_update
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "setup.sh: all packages present"
fi
