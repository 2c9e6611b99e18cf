//go:build linux && cgo

package sandbox

// The seccomp trampoline: a C constructor of every program that links this
// package, run by the dynamic loader before the Go runtime starts (like
// libcontainer's nsexec). It does nothing unless the process was started
// as a trampoline: _SANDBOND_SECCOMP_FD in the environment and
// --sandbond-seccomp-exec as first argument (see seccompExecArgs). Then,
// still single-threaded and before anything else runs, it
//
//  1. reads the filter from that descriptor (a sealed memfd the launcher
//     wrote once per profile: see programFile),
//  2. closes that descriptor and every one above it, so that the
//     interpreter gets exactly the descriptors its bond passed,
//  3. sets no_new_privs (libcontainer's init set it already),
//  4. loads the filter the way libcontainer would have (prctl, or
//     seccomp(2) with the same flags),
//  5. execs the interpreter with its own command line and environment,
//     which came on the trampoline's command line.
//
// Any failure ends the process with status 127 and a message on stderr:
// the interpreter never runs without its filter.

/*
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#ifndef __NR_close_range
#define __NR_close_range 436
#endif

#define SANDBOND_SECCOMP_ENV "_SANDBOND_SECCOMP_FD"
#define SANDBOND_SECCOMP_ARG "--sandbond-seccomp-exec"
#define SANDBOND_SECCOMP_MAGIC "SBDBPF01"

static void sandbond_fail(const char *what, int err)
{
	dprintf(2, "sandbond: seccomp trampoline: %s: %s\n", what, strerror(err));
	_exit(127);
}

static long sandbond_number(const char *s, long lo, long hi)
{
	char *end;
	long n;

	if (s == NULL || *s == '\0')
		return -1;
	errno = 0;
	n = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || n < lo || n > hi)
		return -1;
	return n;
}

static int sandbond_read(int fd, void *buf, size_t n, off_t off)
{
	char *p = buf;

	while (n > 0) {
		ssize_t r = pread(fd, p, n, off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		off += r;
		n -= (size_t)r;
	}
	return 0;
}

__attribute__((constructor)) static void sandbond_seccomp_exec(int argc, char **argv, char **envp)
{
	struct {
		char magic[8];
		uint32_t flags;
		uint32_t len;
	} hdr;
	struct sock_fprog prog;
	struct stat st;
	char **args;
	long fd, n;
	int i;

	(void)envp;
	if (getenv(SANDBOND_SECCOMP_ENV) == NULL)
		return;
	if (argv == NULL || argc < 4 || strcmp(argv[1], SANDBOND_SECCOMP_ARG) != 0)
		sandbond_fail("bad command line", EINVAL);
	fd = sandbond_number(getenv(SANDBOND_SECCOMP_ENV), 3, INT_MAX);
	n = sandbond_number(argv[2], 1, argc - 3);
	if (fd < 0 || n < 0)
		sandbond_fail("bad command line", EINVAL);

	if (sandbond_read((int)fd, &hdr, sizeof(hdr), 0) < 0)
		sandbond_fail("reading the filter", errno ? errno : EIO);
	if (memcmp(hdr.magic, SANDBOND_SECCOMP_MAGIC, 8) != 0 || hdr.len == 0 || hdr.len > BPF_MAXINSNS)
		sandbond_fail("reading the filter", EINVAL);
	if (fstat((int)fd, &st) < 0)
		sandbond_fail("reading the filter", errno);
	if (st.st_size != (off_t)(sizeof(hdr) + (size_t)hdr.len * sizeof(struct sock_filter)))
		sandbond_fail("reading the filter", EINVAL);
	prog.len = (unsigned short)hdr.len;
	prog.filter = calloc(hdr.len, sizeof(struct sock_filter));
	args = calloc((size_t)n + 1, sizeof(char *));
	if (prog.filter == NULL || args == NULL)
		sandbond_fail("allocating", ENOMEM);
	if (sandbond_read((int)fd, prog.filter, (size_t)hdr.len * sizeof(struct sock_filter), sizeof(hdr)) < 0)
		sandbond_fail("reading the filter", errno ? errno : EIO);
	for (i = 0; i < n; i++)
		args[i] = argv[3 + i];
	args[n] = NULL;

	// The filter's descriptor is the last one libcontainer passed: close
	// it and anything above it.
	if (syscall(__NR_close_range, (unsigned int)fd, ~0U, 0) < 0) {
		if (errno != ENOSYS)
			sandbond_fail("closing descriptors", errno);
		if (close((int)fd) < 0)
			sandbond_fail("closing descriptors", errno);
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		sandbond_fail("prctl(PR_SET_NO_NEW_PRIVS)", errno);
	if (hdr.flags == 0) {
		if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0)
			sandbond_fail("loading the filter", errno);
	} else if (syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, (unsigned int)hdr.flags, &prog) < 0) {
		sandbond_fail("loading the filter", errno);
	}
	// The environment follows the arguments, NULL-terminated like argv.
	execve(args[0], args, &argv[3 + n]);
	sandbond_fail(args[0], errno);
}
*/
import "C"
