#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# usk's user-space NVMe PCIe driver against QEMU's emulated NVMe controller in a guest:
#   uio:  scripts/setup.sh binds uio_pci_generic (a clear error without hugepages, then with
#         hugepages); usk_identify, hello_world, usk_nvme_perf, usk_bdevperf verify
#   vfio: emulated VT-d; setup.sh picks vfio-pci; the same tools with hugepages and without any,
#         and a second process is refused while the first holds the device
# and each time the kernel nvme driver reads back what usk wrote after `setup.sh reset` (md5).
# Also: setup.sh with no loadable driver prints SPDK's "No valid drivers found" line.
#   NVME_PCI_MODES="uio vfio"   the guest runs to do (default both); KEEP_TMP=1 keeps $TMP
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
HARNESS=$HERE/harness
. "$HERE/lib/guest_bins.sh"
GD=${GUEST_DIR:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/usk-guest}
if [ ! -f "$GD/vmlinuz" ] || [ ! -f "$GD/initramfs.cpio.gz" ]; then
	echo "SKIP: guest kernel not built (run test/e2e/harness/build-guest.sh)"
	exit 77
fi
command -v qemu-system-x86_64 >/dev/null || { echo "SKIP: qemu-system-x86_64 missing"; exit 77; }
[ -x "$BUILD_DIR/examples/hello_world/hello_world" ] || { echo "FAIL: hello_world not built"; exit 1; }

NAME=nvme_pci
# shellcheck source=lib/common.sh
. "$HERE/lib/common.sh"
guest_bins_args "$BUILD_DIR/examples/hello_world/hello_world" "$BUILD_DIR/app/usk_identify/usk_identify" \
	"$BUILD_DIR/app/usk_nvme_perf/usk_nvme_perf" "$BUILD_DIR/app/usk_bdevperf/usk_bdevperf"
[ -n "$GUEST_BINS_MISSING" ] && echo "note: not built, their checks are left out:$GUEST_BINS_MISSING"
# bdevperf verify needs the nvme bdev module (bdev_nvme_attach_controller).
BDEV_NVME=0
[ -f "$BUILD_DIR/module/bdev/nvme/libusk_bdev_nvme.a" ] && BDEV_NVME=1

rc=0
# MODE [guest-run.sh args...]
run_mode() {
	local mode=$1 log=$TMP/guest-$1.log r
	shift
	rm -f "$TMP/nvme.raw"
	truncate -s 256M "$TMP/nvme.raw"
	echo "=== $mode"
	# no_timer_check: on a loaded host the TCG guest's IO-APIC timer check can fail and panic
	# ("timer doesn't work through Interrupt-remapped IO-APIC").
	"$HARNESS/guest-run.sh" --quiet --timeout 600 --mem 1024 --nvme-pci "$TMP/nvme.raw" \
		--append no_timer_check \
		--file "$ROOT/scripts/setup.sh:/harness/setup.sh" "${GUEST_BIN_ARGS[@]}" \
		--env "MODE=$mode" --env "BDEV_NVME=$BDEV_NVME" --log "$log" --script "$HERE/guest/nvme_pci_guest.sh" "$@"
	r=$?
	tr -d '\r' <"$log" | grep -E "^(PASS|FAIL):|passed,|\[(identify|hello|perf|bdevperf)-[a-z-]*\]|kernel read"
	if [ $r -ne 0 ]; then
		echo "FAIL: guest ($mode) rc=$r; last lines of $log:"
		tr -d '\r' <"$log" | tail -40
		rc=1
	fi
}

for m in ${NVME_PCI_MODES:-uio vfio}; do
	case $m in
	uio) run_mode uio ;;
	# QEMU's intel-iommu translates 39 bits by default; real VT-d units (and aw-bits=48) 48,
	# which IOVA = VA needs when sanitizers place memory high.
	vfio) run_mode vfio --qemu-arg -device --qemu-arg intel-iommu,aw-bits=48 \
		--append "intel_iommu=on iommu=pt" ;;
	esac
done
[ $rc -eq 0 ] && echo "nvme_pci: all checks passed"
exit $rc
