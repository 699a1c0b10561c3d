/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for lib/env PCI: address parsing and formatting, allow/block lists, the
 * cross-process claim (two processes, one lock file), and attach errors on this host's sysfs.
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "usk/pci.h"
#include "pci_internal.h"

static void
test_addr_parse(void **state)
{
	struct usk_pci_addr a;
	char buf[USK_PCI_ADDR_STRLEN];

	assert_int_equal(usk_pci_addr_parse(&a, "0000:00:04.0"), 0);
	assert_int_equal(a.domain, 0);
	assert_int_equal(a.bus, 0);
	assert_int_equal(a.dev, 4);
	assert_int_equal(a.func, 0);
	assert_int_equal(usk_pci_addr_parse(&a, "0001:AF:1f.7"), 0);
	assert_int_equal(a.domain, 1);
	assert_int_equal(a.bus, 0xaf);
	assert_int_equal(a.dev, 0x1f);
	assert_int_equal(a.func, 7);
	assert_int_equal(usk_pci_addr_fmt(buf, sizeof(buf), &a), 0);
	assert_string_equal(buf, "0001:af:1f.7");
	/* short forms */
	assert_int_equal(usk_pci_addr_parse(&a, "05:00.1"), 0);
	assert_int_equal(a.domain, 0);
	assert_int_equal(a.bus, 5);
	assert_int_equal(a.func, 1);
	assert_int_equal(usk_pci_addr_parse(&a, "0000.82.00.0"), 0);
	assert_int_equal(a.bus, 0x82);
	assert_int_equal(usk_pci_addr_parse(&a, "0000:03:00"), 0);
	assert_int_equal(a.dev, 0);
	/* bad */
	assert_int_equal(usk_pci_addr_parse(&a, ""), -EINVAL);
	assert_int_equal(usk_pci_addr_parse(&a, "0000:00:20.0"), -EINVAL); /* dev > 0x1f */
	assert_int_equal(usk_pci_addr_parse(&a, "0000:00:04.8"), -EINVAL); /* func > 7 */
	assert_int_equal(usk_pci_addr_parse(&a, "0000:100:04.0"), -EINVAL);
	assert_int_equal(usk_pci_addr_parse(&a, "0000:00:04.0x"), -EINVAL);
	assert_int_equal(usk_pci_addr_parse(&a, "0000:00:04.0.1"), -EINVAL);
	assert_int_equal(usk_pci_addr_parse(&a, "00.04:0"), -EINVAL);
	assert_int_equal(usk_pci_addr_parse(&a, "123456789:00:04.0"), -EINVAL);
	assert_int_equal(usk_pci_addr_parse(&a, NULL), -EINVAL);
	/* compare */
	{
		struct usk_pci_addr x, y;

		usk_pci_addr_parse(&x, "0000:00:04.0");
		usk_pci_addr_parse(&y, "0000:00:04.1");
		assert_true(usk_pci_addr_compare(&x, &y) < 0);
		assert_true(usk_pci_addr_compare(&y, &x) > 0);
		usk_pci_addr_parse(&y, "00:04.0");
		assert_int_equal(usk_pci_addr_compare(&x, &y), 0);
	}
}

static void
test_lists(void **state)
{
	struct usk_pci_addr a, b, c;

	usk_pci_addr_parse(&a, "0000:00:04.0");
	usk_pci_addr_parse(&b, "0000:00:05.0");
	usk_pci_addr_parse(&c, "0000:00:06.0");
	assert_true(usk_pci_addr_is_allowed(&a));
	assert_int_equal(usk_pci_set_allowed("0000:00:04.0, 00:05.0"), 0);
	assert_true(usk_pci_addr_is_allowed(&a));
	assert_true(usk_pci_addr_is_allowed(&b));
	assert_false(usk_pci_addr_is_allowed(&c));
	/* a blocked address wins over the allow list */
	assert_int_equal(usk_pci_set_blocked("0000:00:05.0"), 0);
	assert_false(usk_pci_addr_is_allowed(&b));
	/* a bad entry is refused and leaves the list as it was */
	assert_int_equal(usk_pci_set_blocked("0000:00:04.0 nonsense"), -EINVAL);
	assert_true(usk_pci_addr_is_allowed(&a));
	assert_false(usk_pci_addr_is_allowed(&b));
	assert_int_equal(usk_pci_set_allowed(NULL), 0);
	assert_int_equal(usk_pci_set_blocked(""), 0);
	assert_true(usk_pci_addr_is_allowed(&b));
	assert_true(usk_pci_addr_is_allowed(&c));
}

static void
fake_dev(struct usk_pci_device *dev, const char *name)
{
	memset(dev, 0, sizeof(*dev));
	memcpy(dev->name, name, strnlen(name, sizeof(dev->name) - 1));
	dev->lock_fd = -1;
}

/* A second process cannot claim what the first holds; it can once the first lets go. */
static void
test_claim_two_processes(void **state)
{
	struct usk_pci_device dev;
	char name[USK_PCI_ADDR_STRLEN], path[64];
	pid_t pid;
	int status;

	snprintf(name, sizeof(name), "ut%d", (int)getpid() % 1000000);
	snprintf(path, sizeof(path), USK_PCI_LOCK_PREFIX "%s", name);
	fake_dev(&dev, name);
	assert_int_equal(pci_claim(&dev), 0);
	assert_true(dev.lock_fd >= 0);
	assert_int_equal(access(path, F_OK), 0);

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct usk_pci_device other;

		fake_dev(&other, name);
		_exit(pci_claim(&other) == -EBUSY ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	pci_unclaim(&dev);
	assert_int_equal(dev.lock_fd, -1);
	assert_int_equal(access(path, F_OK), -1);

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct usk_pci_device other;
		int rc;

		fake_dev(&other, name);
		rc = pci_claim(&other);
		pci_unclaim(&other);
		_exit(rc == 0 ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* A claim dies with its process: no stale lock after a crash. */
static void
test_claim_released_on_exit(void **state)
{
	struct usk_pci_device dev;
	char name[USK_PCI_ADDR_STRLEN];
	pid_t pid;
	int status;

	snprintf(name, sizeof(name), "ux%d", (int)getpid() % 1000000);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct usk_pci_device other;

		fake_dev(&other, name);
		_exit(pci_claim(&other) == 0 ? 0 : 1); /* exits holding it, file left behind */
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	fake_dev(&dev, name);
	assert_int_equal(pci_claim(&dev), 0);
	pci_unclaim(&dev);
}

static int
never_called(void *ctx, struct usk_pci_device *dev)
{
	fail_msg("enum callback called for %s", usk_pci_device_get_name(dev));
	return 1;
}

static int
count_scan(void *ctx, const struct usk_pci_addr *addr, const struct usk_pci_id *id)
{
	(*(int *)ctx)++;
	return 0;
}

static void
test_attach_errors(void **state)
{
	struct usk_pci_addr a;
	struct dirent *e;
	DIR *d;
	int n = 0;

	/* no such device */
	usk_pci_addr_parse(&a, "ffff:ff:1f.7");
	assert_int_equal(usk_pci_device_attach(&a, never_called, NULL), -ENODEV);
	/* blocked */
	assert_int_equal(usk_pci_set_blocked("ffff:ff:1f.7"), 0);
	assert_int_equal(usk_pci_device_attach(&a, never_called, NULL), -EPERM);
	assert_int_equal(usk_pci_set_blocked(NULL), 0);
	/* a device of this host bound to some other driver (or none) is refused with -ENXIO */
	d = opendir(PCI_SYSFS_DEVICES);
	if (d == NULL) {
		skip();
	}
	while ((e = readdir(d)) != NULL) {
		enum usk_pci_kdriver kd;

		if (usk_pci_addr_parse(&a, e->d_name) != 0) {
			continue;
		}
		kd = pci_sysfs_kdriver(e->d_name, NULL, 0);
		if (kd == USK_PCI_KDRIVER_OTHER || kd == USK_PCI_KDRIVER_NONE) {
			assert_int_equal(usk_pci_device_attach(&a, never_called, NULL), -ENXIO);
			break;
		}
	}
	closedir(d);
	/* scan never lists devices that are not bound to vfio-pci / uio_pci_generic */
	assert_true(usk_pci_scan(USK_PCI_ANY_CLASS, count_scan, &n) >= 0);
	assert_int_equal(usk_pci_enumerate(USK_PCI_CLASS_NVME, never_called, NULL) >= 0, 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addr_parse),
		cmocka_unit_test(test_lists),
		cmocka_unit_test(test_claim_two_processes),
		cmocka_unit_test(test_claim_released_on_exit),
		cmocka_unit_test(test_attach_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
