#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# QD 1 4 KiB random-read latency on QEMU's emulated NVMe controller in a TCG guest: the kernel
# nvme driver (fio psync O_DIRECT) beside usk's user-space driver (usk_nvme_perf) on the same
# device in the same boot. Emulation-bound: compare the two figures, not with real hardware.
#   pcie_qd1_latency.sh [BUILD_DIR] [SECONDS]   (ROUNDS=3; DRV=uio_pci_generic HUGEMEM=256 for uio)
# Use a build without sanitizers (e.g. meson setup build-rel --buildtype=release).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD_DIR=${1:-$ROOT/build}
SECS=${2:-5}
DRV=${DRV:-vfio-pci}
TMP=$(mktemp -d /tmp/usk-bench-pcie-XXXXXX)
trap 'rm -rf "$TMP"' EXIT
truncate -s 256M "$TMP/nvme.raw"
IOMMU=()
# shellcheck disable=SC2054 # the commas are inside a QEMU -device argument
[ "$DRV" = vfio-pci ] && IOMMU=(--qemu-arg -device --qemu-arg intel-iommu,aw-bits=48 --append "intel_iommu=on iommu=pt")
"$ROOT/test/e2e/harness/guest-run.sh" --quiet --timeout 300 --nvme-pci "$TMP/nvme.raw" "${IOMMU[@]}" \
	--append no_timer_check \
	--file "$ROOT/scripts/setup.sh:/harness/setup.sh" --bin "$(command -v fio)" \
	--bin "$BUILD_DIR/app/usk_nvme_perf/usk_nvme_perf" --env "SECS=$SECS" --env "DRV=$DRV" \
	--env "HUGEMEM=${HUGEMEM:-0}" --env "ROUNDS=${ROUNDS:-3}" --log "$TMP/guest.log" --script "$HERE/pcie_qd1_guest.sh"
rc=$?
tr -d '\r' <"$TMP/guest.log" | grep RESULT
echo "host load: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores, QEMU $(qemu-system-x86_64 --version | head -1 | awk '{print $4}') TCG"
exit $rc
