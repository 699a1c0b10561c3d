# SPDX-License-Identifier: BSD-3-Clause
# shellcheck shell=sh source=../../test/e2e/harness/guest/lib.sh
# Guest side of pcie_qd1_latency.sh: QD 1 4 KiB random reads on the same emulated NVMe
# controller, alternating ROUNDS times between the kernel nvme driver (fio, psync, O_DIRECT)
# and usk (usk_nvme_perf) over vfio-pci (or DRV=uio_pci_generic), so that drift in the host's
# load hits both alike. busybox sh.
. /harness/lib.sh
mkdir -p /var/tmp
SECS=${SECS:-5}
BDF=$(pci_find_class 010802 | head -1)
wait_for /dev/nvme0n1 10
# Fill the range read so both read data, not a sparse file's holes.
dd if=/dev/urandom of=/dev/nvme0n1 bs=1M count=64 oflag=direct 2>/dev/null
for r in $(seq 1 "${ROUNDS:-3}"); do
	wait_for /dev/nvme0n1 10
	/harness/bin/fio --name=kernel --filename=/dev/nvme0n1 --direct=1 --rw=randread --bs=4k \
		--iodepth=1 --ioengine=psync --size=64M --runtime="$SECS" --time_based \
		--output-format=terse --terse-version=3 >/root/fio.txt 2>&1
	# terse v3: field 8 = read IOPS, 40 = read clat mean (us)
	awk -F';' -v r="$r" '{ printf "RESULT round %d kernel nvme: %d IOPS, mean completion latency %.1f us\n", r, $8, $40 }' /root/fio.txt
	DRIVER_OVERRIDE=${DRV:-vfio-pci} HUGEMEM=${HUGEMEM:-0} sh /harness/setup.sh >/dev/null
	/harness/bin/usk_nvme_perf -q 1 -o 4096 -w randread -t "$SECS" -r "trtype:PCIe traddr:$BDF" \
		>/root/perf.txt 2>&1 || cat /root/perf.txt
	awk -v r="$r" -v d="${DRV:-vfio-pci}" '/^Total/ { printf "RESULT round %d usk (%s): %d IOPS, mean latency %.1f us\n", r, d, $3, $5 }' /root/perf.txt
	sh /harness/setup.sh reset >/dev/null
done
