#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# setup.sh - prepare a machine for usk's user-space NVMe driver, as SPDK's scripts/setup.sh:
# reserve hugepages and bind NVMe controllers to vfio-pci (when an IOMMU is active) or
# uio_pci_generic, or give them back to the kernel nvme driver. POSIX sh: it also runs under
# busybox (the QEMU test guest).
#
#   setup.sh [config]   hugepages + bind every NVMe device that has no mounted filesystem
#   setup.sh reset      rebind them to the kernel nvme driver (CLEAR_HUGE=yes frees hugepages)
#   setup.sh status     hugepages and every NVMe device with its driver and block devices
#   setup.sh help
#
# Environment:
#   HUGEMEM=MB          hugepage memory to reserve (default 2048); HUGEMEM=0 reserves none
#   DRIVER_OVERRIDE=    vfio-pci or uio_pci_generic instead of the automatic choice
#   PCI_ALLOWED="bdf.." only these devices (space or comma separated); PCI_BLOCKED: never these
#   HUGE_DIR=           hugetlbfs mount point (default /dev/hugepages)
#   CLEAR_HUGE=yes      reset also frees the hugepages
set -u

SYSPCI=/sys/bus/pci
HUGE_DIR=${HUGE_DIR:-/dev/hugepages}
HUGEMEM=${HUGEMEM:-2048}
PCI_ALLOWED=$(echo "${PCI_ALLOWED:-${PCI_WHITELIST:-}}" | tr ',' ' ')
PCI_BLOCKED=$(echo "${PCI_BLOCKED:-${PCI_BLACKLIST:-}}" | tr ',' ' ')
NVME_CLASS=0x010802

usage() {
	sed -n '3,19p' "$0" | sed 's/^# \{0,1\}//'
}

die() {
	echo "$*" >&2
	exit 1
}

[ "$(id -u)" = 0 ] || die "setup.sh must run as root"

# "0000:00:04.0" also given as "00:04.0"
norm_bdf() {
	case "$1" in
	????:??:??.?) echo "$1" ;;
	??:??.?) echo "0000:$1" ;;
	*) echo "$1" ;;
	esac
}

pci_can_use() {
	_b=$1
	for _x in $PCI_BLOCKED; do
		[ "$(norm_bdf "$_x")" = "$_b" ] && return 1
	done
	[ -z "$PCI_ALLOWED" ] && return 0
	for _x in $PCI_ALLOWED; do
		[ "$(norm_bdf "$_x")" = "$_b" ] && return 0
	done
	return 1
}

nvme_devices() {
	for _d in "$SYSPCI"/devices/*; do
		[ -e "$_d/class" ] || continue
		[ "$(cat "$_d/class")" = "$NVME_CLASS" ] && echo "${_d##*/}"
	done
}

driver_of() {
	if [ -e "$SYSPCI/devices/$1/driver" ]; then
		basename "$(readlink "$SYSPCI/devices/$1/driver")"
	else
		echo "no driver"
	fi
}

ids_of() {
	echo "$(sed 's/^0x//' "$SYSPCI/devices/$1/vendor") $(sed 's/^0x//' "$SYSPCI/devices/$1/device")"
}

# Block devices (namespaces) of the controller at BDF while the kernel nvme driver has it.
# Multipath kernels name the per-path node nvme0c0n1; its disk is nvme0n1.
block_devs_of() {
	for _n in "$SYSPCI/devices/$1"/nvme/nvme*/nvme*n*; do
		[ -e "$_n" ] || continue
		basename "$_n" | sed 's/c[0-9]*n/n/'
	done | sort -u
}

ctrl_name_of() {
	for _c in "$SYSPCI/devices/$1"/nvme/nvme*; do
		[ -e "$_c" ] && { basename "$_c"; return; }
	done
	echo "-"
}

# Why a device must stay with the kernel: "mount@nvme0n1:nvme0n1p1" etc., empty if unused.
active_uses() {
	_uses=""
	for _blk in $(block_devs_of "$1"); do
		# shellcheck disable=SC2010 # sysfs block and partition names are plain words
		for _p in "$_blk" $(ls "/sys/block/$_blk" 2>/dev/null | grep "^${_blk}p"); do
			if grep -q "^/dev/$_p " /proc/mounts 2>/dev/null; then
				_uses="$_uses mount@$_blk:$_p"
			fi
			if grep -q "^/dev/$_p " /proc/swaps 2>/dev/null; then
				_uses="$_uses swap@$_blk:$_p"
			fi
			for _h in /sys/block/"$_blk"/"$_p"/holders/* /sys/block/"$_p"/holders/*; do
				[ -e "$_h" ] && _uses="$_uses holder@$_blk:$_p:$(basename "$_h")"
			done
		done
	done
	echo "$_uses" | sed 's/^ //'
}

iommu_active() {
	[ -n "$(ls /sys/kernel/iommu_groups 2>/dev/null)" ]
}

driver_loaded() {
	[ -d "$SYSPCI/drivers/$1" ]
}

# Load a driver module (busybox modprobe ignores softdeps: vfio needs vfio_iommu_type1).
load_driver() {
	case "$1" in
	vfio-pci)
		modprobe vfio_iommu_type1 >/dev/null 2>&1
		modprobe vfio-pci >/dev/null 2>&1 || modprobe vfio_pci >/dev/null 2>&1
		;;
	uio_pci_generic)
		modprobe uio_pci_generic >/dev/null 2>&1
		;;
	nvme)
		modprobe nvme >/dev/null 2>&1
		;;
	esac
	driver_loaded "$1"
}

pick_driver() {
	if [ -n "${DRIVER_OVERRIDE:-}" ]; then
		case "$DRIVER_OVERRIDE" in
		vfio-pci|vfio_pci|*/vfio-pci.ko*) echo vfio-pci ;;
		uio_pci_generic|*/uio_pci_generic.ko*) echo uio_pci_generic ;;
		*) echo "$DRIVER_OVERRIDE" ;;
		esac
		return
	fi
	if iommu_active && load_driver vfio-pci; then
		echo vfio-pci
	elif load_driver uio_pci_generic; then
		echo uio_pci_generic
	elif load_driver vfio-pci && iommu_active; then
		echo vfio-pci
	fi
}

# bind BDF DRIVER: through driver_override, so no other device with the same ids is affected
bind_to() {
	_b=$1 _drv=$2 _old=$(driver_of "$1")
	if [ "$_old" = "$_drv" ]; then
		echo "$_b ($(ids_of "$_b")): Already using the $_drv driver"
		return 0
	fi
	if [ -e "$SYSPCI/devices/$_b/driver" ]; then
		echo "$_b" > "$SYSPCI/devices/$_b/driver/unbind"
	fi
	echo "$_drv" > "$SYSPCI/devices/$_b/driver_override"
	echo "$_b" > "$SYSPCI/drivers_probe" 2>/dev/null
	if [ "$(driver_of "$_b")" != "$_drv" ]; then
		echo "$_b ($(ids_of "$_b")): failed to bind to $_drv" >&2
		return 1
	fi
	echo "$_b ($(ids_of "$_b")): $_old -> $_drv"
	if [ "$_drv" = vfio-pci ]; then
		_g=$(basename "$(readlink "$SYSPCI/devices/$_b/iommu_group" 2>/dev/null)" 2>/dev/null)
		[ -n "$_g" ] && [ ! -e "/dev/vfio/$_g" ] && echo "$_b: warning: /dev/vfio/$_g missing" >&2
	fi
	return 0
}

setup_hugepages() {
	_pages=$((HUGEMEM / 2))
	[ "$_pages" -gt 0 ] || return 0
	_nr=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
	[ -e "$_nr" ] || _nr=/proc/sys/vm/nr_hugepages
	if [ "$(cat "$_nr")" -lt "$_pages" ]; then
		echo "$_pages" > "$_nr"
	fi
	_got=$(cat "$_nr")
	if [ "$_got" -lt "$_pages" ]; then
		echo "warning: asked for $_pages 2 MiB hugepages, the kernel gave $_got" >&2
	fi
	mkdir -p "$HUGE_DIR"
	if ! grep -q " $HUGE_DIR hugetlbfs " /proc/mounts; then
		mount -t hugetlbfs -o pagesize=2M nodev "$HUGE_DIR" 2>/dev/null ||
			mount -t hugetlbfs nodev "$HUGE_DIR" || die "cannot mount hugetlbfs on $HUGE_DIR"
	fi
}

configure() {
	drv=$(pick_driver)
	if [ -z "$drv" ] || ! load_driver "$drv"; then
		die "No valid drivers found [vfio-pci, uio_pci_generic]. Please enable one of the kernel modules."
	fi
	if [ "$drv" = vfio-pci ] && ! iommu_active; then
		echo "warning: vfio-pci without an active IOMMU: boot with intel_iommu=on / amd_iommu=on" >&2
	fi
	rc=0
	for bdf in $(nvme_devices); do
		pci_can_use "$bdf" || { echo "$bdf ($(ids_of "$bdf")): skipped (PCI_ALLOWED/PCI_BLOCKED)"; continue; }
		uses=$(active_uses "$bdf")
		if [ -n "$uses" ]; then
			echo "$bdf ($(ids_of "$bdf")): Active devices: $uses, so not binding PCI dev"
			continue
		fi
		bind_to "$bdf" "$drv" || rc=1
	done
	setup_hugepages
	return $rc
}

reset() {
	load_driver nvme || echo "warning: cannot load the nvme driver" >&2
	rc=0
	for bdf in $(nvme_devices); do
		pci_can_use "$bdf" || continue
		old=$(driver_of "$bdf")
		if [ "$old" = nvme ]; then
			echo "$bdf ($(ids_of "$bdf")): Already using the nvme driver"
			continue
		fi
		[ -e "$SYSPCI/devices/$bdf/driver" ] && echo "$bdf" > "$SYSPCI/devices/$bdf/driver/unbind"
		# An empty override lets the id tables decide again.
		echo > "$SYSPCI/devices/$bdf/driver_override"
		echo "$bdf" > "$SYSPCI/drivers_probe" 2>/dev/null
		if [ "$(driver_of "$bdf")" = nvme ]; then
			echo "$bdf ($(ids_of "$bdf")): $old -> nvme"
		else
			echo "$bdf ($(ids_of "$bdf")): failed to bind to nvme" >&2
			rc=1
		fi
	done
	if [ "${CLEAR_HUGE:-no}" = yes ]; then
		echo 0 > /proc/sys/vm/nr_hugepages
		echo "hugepages freed"
	fi
	return $rc
}

status() {
	echo "Hugepages"
	printf '%-8s %12s %8s / %6s\n' node hugesize free total
	found=0
	for n in /sys/devices/system/node/node*; do
		[ -d "$n/hugepages" ] || continue
		for h in "$n"/hugepages/hugepages-*; do
			sz=${h##*hugepages-}
			printf '%-8s %12s %8s / %6s\n' "${n##*/}" "$sz" "$(cat "$h/free_hugepages")" \
				"$(cat "$h/nr_hugepages")"
			found=1
		done
	done
	if [ "$found" = 0 ]; then
		for h in /sys/kernel/mm/hugepages/hugepages-*; do
			[ -d "$h" ] || continue
			printf '%-8s %12s %8s / %6s\n' "-" "${h##*hugepages-}" "$(cat "$h/free_hugepages")" \
				"$(cat "$h/nr_hugepages")"
		done
	fi
	grep -q " hugetlbfs " /proc/mounts && echo "hugetlbfs: $(grep ' hugetlbfs ' /proc/mounts | cut -d' ' -f2 | tr '\n' ' ')"
	echo "IOMMU: $(iommu_active && echo active || echo "not active")"
	echo
	printf '%-6s %-14s %-6s %-6s %-6s %-16s %-8s %s\n' Type BDF Vendor Device NUMA Driver Device "Block devices"
	for bdf in $(nvme_devices); do
		numa=$(cat "$SYSPCI/devices/$bdf/numa_node" 2>/dev/null || echo -1)
		[ "$numa" = -1 ] && numa=unknown
		drv=$(driver_of "$bdf")
		# shellcheck disable=SC2012 # uio device names are plain words (uio0)
		case "$drv" in
		nvme) dev=$(ctrl_name_of "$bdf"); blk=$(block_devs_of "$bdf" | tr '\n' ' ') ;;
		vfio-pci) dev="vfio/$(basename "$(readlink "$SYSPCI/devices/$bdf/iommu_group" 2>/dev/null)" 2>/dev/null)"; blk="" ;;
		uio_pci_generic) dev=$(ls "$SYSPCI/devices/$bdf/uio" 2>/dev/null | head -1); blk="" ;;
		*) dev="-"; blk="" ;;
		esac
		# ids_of prints two words (vendor, device): word splitting wanted, 8 fields in all
		# shellcheck disable=SC2046,SC2183
		printf '%-6s %-14s %-6s %-6s %-6s %-16s %-8s %s\n' NVMe "$bdf" $(ids_of "$bdf") "$numa" "$drv" \
			"${dev:--}" "${blk:--}"
	done
}

case "${1:-config}" in
config) configure ;;
reset) reset ;;
status) status ;;
help|-h|--help) usage ;;
*) usage; exit 1 ;;
esac
