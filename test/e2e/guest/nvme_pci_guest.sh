# SPDX-License-Identifier: BSD-3-Clause
# shellcheck shell=sh source=../harness/guest/lib.sh
# Guest side of nvme_pci.sh: QEMU's emulated NVMe controller (serial HARNESS0) driven by usk's
# user-space PCIe driver. scripts/setup.sh binds it; usk_identify, hello_world, usk_nvme_perf
# and usk_bdevperf run on it; afterwards `setup.sh reset` gives it back to the kernel, which must
# read what usk wrote. busybox sh.
# Env: MODE=uio (uio_pci_generic + hugepages) or vfio (vfio-pci, with and without hugepages),
#      BDEV_NVME=1 when usk_bdevperf has the nvme bdev module,
#      ASAN_OPTIONS/UBSAN_OPTIONS/LSAN_OPTIONS for sanitizer builds.
. /harness/lib.sh
SETUP=/harness/setup.sh
B=/harness/bin
OUT=/root/out
mkdir -p "$OUT" /var/tmp  # /var/tmp holds the PCI claim lock files

BDF=$(pci_find_class 010802 | head -1)
check "NVMe controller present" test -n "$BDF"
[ -n "$BDF" ] || { summary; exit 1; }
TRID="trtype:PCIe traddr:$BDF"
echo "NVMe at $BDF driver=$(pci_driver "$BDF") mode=$MODE"

# run NAME CMD...: run a usk tool with its output in $OUT/NAME.log, echo it, return its rc;
# a sanitizer report fails it even when the tool exits 0.
run() {
	_n=$1; shift
	"$@" >"$OUT/$_n.log" 2>&1; _rc=$?
	sed "s/^/  [$_n] /" "$OUT/$_n.log" | tail -40
	if grep -qE "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$OUT/$_n.log"; then
		echo "  [$_n] sanitizer report"
		return 99
	fi
	return $_rc
}

# The kernel writes something else at LBA 0 first, so the md5 at the end proves usk's write.
wait_for /dev/nvme0n1 10
check "kernel nvme driver has the device first" test -b /dev/nvme0n1
dd if=/dev/urandom of=/dev/nvme0n1 bs=4k count=1 oflag=direct 2>/dev/null

# 1) no loadable driver: setup.sh says so. The modules are moved away (as on a kernel built
# without them; busybox runs its own modprobe applet, so a fake one on PATH would not do).
mkdir -p /root/hidden
find /lib/modules -name 'uio_pci_generic.ko*' -o -name 'vfio-pci.ko*' -o -name 'vfio_pci.ko*' |
	while read -r m; do
		mv "$m" /root/hidden/ && echo "$m" >> /root/hidden.list
	done
HUGEMEM=0 sh $SETUP >"$OUT/nodrv.log" 2>&1; NRC=$?
while read -r m; do mv "/root/hidden/$(basename "$m")" "$m"; done < /root/hidden.list
cat "$OUT/nodrv.log"
check "setup.sh without drivers fails" test "$NRC" -ne 0
check "setup.sh names the missing drivers" grep -qx \
	"No valid drivers found \[vfio-pci, uio_pci_generic\]. Please enable one of the kernel modules." \
	"$OUT/nodrv.log"
check "device still with the kernel" test "$(pci_driver "$BDF")" = nvme

# usk_on_device: identify, hello_world, perf, bdevperf against the bound device. $1 = label.
usk_on_device() {
	_l=$1; shift
	if [ -x $B/usk_identify ]; then
		run "identify-$_l" $B/usk_identify -r "$TRID" "$@"
		check "$_l: usk_identify runs" test $? -eq 0
		check "$_l: usk_identify shows model 'QEMU NVMe Ctrl'" grep -q "QEMU NVMe Ctrl" "$OUT/identify-$_l.log"
		check "$_l: usk_identify shows serial HARNESS0" grep -q "HARNESS0" "$OUT/identify-$_l.log"
	fi
	run "hello-$_l" $B/hello_world -r "$TRID" "$@"
	check "$_l: hello_world exits 0" test $? -eq 0
	check "$_l: hello_world prints its line" grep -qx "Hello world!" "$OUT/hello-$_l.log"
	if [ -x $B/usk_nvme_perf ]; then
		run "perf-$_l" $B/usk_nvme_perf -q 32 -o 4096 -w randrw -M 50 -t 3 -r "$TRID" "$@"
		check "$_l: usk_nvme_perf -q 32 -o 4096 -w randrw -t 3" test $? -eq 0
		check "$_l: usk_nvme_perf prints a Total line with IOPS" grep -qE "^Total +: +[0-9.]+ +[0-9.]+" "$OUT/perf-$_l.log"
	fi
	if [ -x $B/usk_bdevperf ] && [ "${BDEV_NVME:-0}" = 1 ]; then
		cat > /root/bdev_nvme.json <<JSON
{"subsystems": [{"subsystem": "bdev", "config": [
  {"method": "bdev_nvme_attach_controller",
   "params": {"name": "Nvme0", "trtype": "PCIe", "traddr": "$BDF"}}]}]}
JSON
		run "bdevperf-$_l" $B/usk_bdevperf --json /root/bdev_nvme.json -q 16 -o 4096 -w verify -t 3 "$@"
		check "$_l: usk_bdevperf verify on Nvme0n1" test $? -eq 0
		check "$_l: usk_bdevperf ran on Nvme0n1" grep -q "Nvme0n1" "$OUT/bdevperf-$_l.log"
	fi
}

case "$MODE" in
uio)
	# 2) uio without hugepages: the driver refuses with one line that says what to do
	DRIVER_OVERRIDE=uio_pci_generic HUGEMEM=0 sh $SETUP
	check "setup.sh DRIVER_OVERRIDE=uio_pci_generic binds it" test "$(pci_driver "$BDF")" = uio_pci_generic
	run hello-nohuge $B/hello_world -r "$TRID"; R=$?
	check "uio without hugepages: hello_world fails cleanly" test $R -ne 0 -a $R -ne 99
	check "uio without hugepages: the error says to mount hugetlbfs or bind vfio-pci" \
		grep -q "uio_pci_generic needs physical addresses.*hugetlbfs.*vfio-pci" "$OUT/hello-nohuge.log"
	# 3) with hugepages
	HUGEMEM=256 sh $SETUP
	check "setup.sh reserved hugepages" test "$(cat /proc/sys/vm/nr_hugepages)" -ge 128
	check "hugetlbfs mounted" grep -q " /dev/hugepages hugetlbfs " /proc/mounts
	sh $SETUP status >"$OUT/status.log"
	cat "$OUT/status.log"
	check "setup.sh status lists it on uio_pci_generic" grep -qE "^NVMe +$BDF .*uio_pci_generic" "$OUT/status.log"
	usk_on_device uio
	# -B blocks the device for a scan and for an explicit address; -A of another one hides it.
	run hello-blocked $B/hello_world -B "$BDF"; R=$?
	check "-B $BDF: scan finds no controller" test $R -ne 0 -a $R -ne 99
	check "-B: says no controllers were found" grep -q "no NVMe controllers found" "$OUT/hello-blocked.log"
	run hello-blocked2 $B/hello_world -r "$TRID" -B "$BDF"; R=$?
	check "-B with -r: refused, naming the lists" grep -q "not allowed by the PCI allow/block lists" "$OUT/hello-blocked2.log"
	run hello-allowed-other $B/hello_world -A 0000:00:1f.7; R=$?
	check "-A of another address: the device is left alone" test $R -ne 0 -a $R -ne 99
	run hello-allowed $B/hello_world -A "$BDF"; R=$?
	check "-A $BDF: scan attaches it" grep -qx "Hello world!" "$OUT/hello-allowed.log"
	;;
vfio)
	HUGEMEM=256 sh $SETUP
	check "setup.sh picks vfio-pci when an IOMMU is active" test "$(pci_driver "$BDF")" = vfio-pci
	sh $SETUP status
	usk_on_device vfio-huge
	# Interrupt mode: the I/O qpair's CQ raises MSI-X vector 1 into an eventfd; hello_world
	# sleeps in poll() on it between completions instead of spinning.
	run hello-intr $B/hello_world -r "$TRID" --interrupts
	check "vfio: hello_world --interrupts exits 0" test $? -eq 0
	check "vfio: hello_world --interrupts prints its line" grep -qx "Hello world!" "$OUT/hello-intr.log"
	W=$(sed -n 's/^INFO: interrupt mode: \([0-9]*\) wakeups.*/\1/p' "$OUT/hello-intr.log")
	# (the read may complete within the poll that reaped the write: one wakeup can be all)
	check "vfio: woken by MSI-X (wakeups=${W:-none}), never by a 5 s timeout" test "${W:-0}" -ge 1
	# The claim: a second process cannot take the device while one holds it.
	if [ -x $B/usk_nvme_perf ]; then
		$B/usk_nvme_perf -q 4 -o 4096 -w read -t 4 -r "$TRID" >"$OUT/perf-bg.log" 2>&1 &
		PP=$!
		sleep 2
		run hello-claimed $B/hello_world -r "$TRID"; R=$?
		check "second process refused while the device is claimed" test $R -ne 0 -a $R -ne 99
		check "the refusal names the owner's pid" grep -q "process $PP holds" "$OUT/hello-claimed.log"
		wait $PP
		check "background usk_nvme_perf exits 0" test $? -eq 0
	fi
	# no hugepages at all: pinned anonymous memory, IOVA = VA
	umount /dev/hugepages
	echo 0 > /proc/sys/vm/nr_hugepages
	check "no hugepages left" test "$(cat /proc/sys/vm/nr_hugepages)" -eq 0
	usk_on_device vfio-nohuge --no-huge
	# Hot remove under I/O: the kernel asks vfio for the device back (request eventfd), usk
	# fails the controller, perf's I/O completes with errors and it exits, which lets the
	# removal finish. Then a rescan brings the device back for the rest.
	if [ -x $B/usk_nvme_perf ]; then
		$B/usk_nvme_perf -q 8 -o 4096 -w randread -t 60 -r "$TRID" --no-huge >"$OUT/perf-hotremove.log" 2>&1 &
		PP=$!
		sleep 4
		echo 1 > "/sys/bus/pci/devices/$BDF/remove" &
		RP=$!
		i=0
		while kill -0 $PP 2>/dev/null && [ $i -lt 200 ]; do sleep 0.1; i=$((i + 1)); done
		if kill -0 $PP 2>/dev/null; then
			kill -9 $PP
			fail "hot remove: usk_nvme_perf still running 20 s after the device was removed"
		else
			pass "hot remove: usk_nvme_perf ended $((i / 10)) s after the removal"
		fi
		wait $PP
		PRC=$?
		wait $RP
		sed 's/^/  [perf-hotremove] /' "$OUT/perf-hotremove.log" | grep -v "^ *\[perf-hotremove\] *$" | tail -12
		check "hot remove: usk_nvme_perf reports failure (rc=$PRC)" test $PRC -ne 0 -a $PRC -lt 128
		check "hot remove: the driver saw the removal" grep -q "PCI device was removed" "$OUT/perf-hotremove.log"
		check "hot remove: no sanitizer report" sh -c "! grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' $OUT/perf-hotremove.log"
		check "hot remove: the device left sysfs" test ! -e "/sys/bus/pci/devices/$BDF"
		echo 1 > /sys/bus/pci/rescan
		wait_for "/sys/bus/pci/devices/$BDF" 10
		HUGEMEM=0 sh $SETUP
		check "after rescan: back on vfio-pci" test "$(pci_driver "$BDF")" = vfio-pci
	fi
	;;
esac

# 4) back to the kernel: it reads what hello_world wrote at LBA 0 ("Hello world!\n", zeros);
# perf and bdevperf wrote there too, so hello_world writes last.
run hello-final $B/hello_world -r "$TRID"
check "final hello_world" test $? -eq 0
sh $SETUP reset
check "setup.sh reset rebinds the kernel nvme driver" test "$(pci_driver "$BDF")" = nvme
wait_for /dev/nvme0n1 10
K=$(dd if=/dev/nvme0n1 bs=4k count=1 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)
{ printf 'Hello world!\n'; dd if=/dev/zero bs=1 count=$((4096 - 13)) 2>/dev/null; } > /root/expect.bin
E=$(md5sum < /root/expect.bin | cut -d' ' -f1)
echo "kernel read of LBA 0: $K   usk wrote: $E"
check "kernel driver reads back the data usk wrote (md5)" test "$K" = "$E"
sh $SETUP status
summary
