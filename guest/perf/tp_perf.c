// SPDX-License-Identifier: GPL-2.0
/*
 * tp_perf: perf's ftrace:function event, one state-machine step at a time,
 * for tramproof's guest (a static program: the initramfs has no libc).
 *
 *   tp_perf open    perf_event_open() of ftrace:function, disabled, on CPU 0;
 *                   a daemon is started that holds the event's fd
 *   tp_perf add     PERF_EVENT_IOC_ENABLE: the event is scheduled in
 *   tp_perf del     PERF_EVENT_IOC_DISABLE: the event is scheduled out
 *   tp_perf filter 'ip == GLOB'   PERF_EVENT_IOC_SET_FILTER: "ip == GLOB" is
 *                   ftrace_set_filter(ops, GLOB, reset=1), "ip != GLOB"
 *                   ftrace_set_notrace(ops, GLOB, reset=1) (3.17's
 *                   trace_events_filter.c, ftrace_function_set_filter)
 *   tp_perf read    the event's count (calls perf's callback counted)
 *   tp_perf close   close() of the fd; the daemon exits
 *
 * In the kernel (3.17, trace_event_perf.c) these are TRACE_REG_PERF_OPEN
 * (register_ftrace_function() of the event's CONTROL ops, disabled on every
 * CPU), TRACE_REG_PERF_ADD and _DEL (the ops enabled or disabled on this
 * CPU) and TRACE_REG_PERF_CLOSE (unregister_ftrace_function()).
 *
 * The daemon reads commands from the FIFO TP_CMD and answers each on TP_ACK
 * as "<seq> <status> <text>"; a client waits at most TIMEOUT_MS for its own
 * <seq>.  Each client prints the text and exits 0 when the status is 0,
 * else 1 (2 when no daemon answers).  Every wait is bounded.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define TP_CMD "/tp_perf.cmd" /* the initramfs root: the guest's own */
#define TP_ACK "/tp_perf.ack"
#define EVENT_ID "/sys/kernel/debug/tracing/events/ftrace/function/id"
#define TIMEOUT_MS 30000
#define LINE 256

static long now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000L + t.tv_nsec / 1000000L;
}

/* The event's id from tracefs, or -1 with errno set. */
static long event_id(void)
{
	char buf[32] = "";
	int fd = open(EVENT_ID, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0) {
		errno = EIO;
		return -1;
	}
	return strtol(buf, NULL, 10);
}

/*
 * perf_event_open() of ftrace:function as trace_event_perf.c lets it be
 * opened: the kernel refuses user callchains for this event
 * (exclude_callchain_user must be set, else EINVAL), and only root may
 * open it while perf_event_paranoid > -1; a CPU-wide event (pid -1, CPU 0)
 * also needs root then.  Disabled at first: open is TRACE_REG_PERF_OPEN
 * only, no ADD.
 */
static int perf_open(char *text, size_t len)
{
	struct perf_event_attr attr;
	long id = event_id();
	int fd;

	if (id < 0) {
		int err = errno;

		snprintf(text, len, "%s: %s", EVENT_ID, strerror(err));
		errno = err;
		return -1;
	}
	memset(&attr, 0, sizeof(attr));
	attr.type = PERF_TYPE_TRACEPOINT;
	attr.size = PERF_ATTR_SIZE_VER3; /* as far as 3.17 reads */
	attr.config = id;
	attr.disabled = 1;
	attr.exclude_callchain_user = 1;
	fd = syscall(SYS_perf_event_open, &attr, -1, 0, -1, 0);
	if (fd < 0) {
		int err = errno;

		snprintf(text, len, "perf_event_open(ftrace:function id %ld): %s", id,
			 strerror(err));
		errno = err;
	} else {
		snprintf(text, len, "opened ftrace:function (id %ld)", id);
	}
	return fd;
}

/* A failed call's answer: "<cmd>: <why>"; its errno. */
static int failed(const char *cmd, char *text, size_t len)
{
	int err = errno;

	snprintf(text, len, "%s: %s", cmd, strerror(err));
	return err;
}

/* One command on the open event's fd; the status (0 or an errno). */
static int serve(int *fd, const char *cmd, const char *arg, char *text, size_t len)
{
	uint64_t count;

	if (!strcmp(cmd, "filter")) {
		if (ioctl(*fd, PERF_EVENT_IOC_SET_FILTER, arg))
			return failed(cmd, text, len);
		snprintf(text, len, "filtered");
		return 0;
	}
	if (!strcmp(cmd, "add") || !strcmp(cmd, "del")) {
		int on = !strcmp(cmd, "add");

		if (ioctl(*fd, on ? PERF_EVENT_IOC_ENABLE : PERF_EVENT_IOC_DISABLE, 0))
			return failed(cmd, text, len);
		snprintf(text, len, on ? "enabled" : "disabled");
		return 0;
	}
	if (!strcmp(cmd, "read")) {
		ssize_t n = read(*fd, &count, sizeof(count));

		if (n < 0)
			return failed(cmd, text, len);
		if (n != sizeof(count)) {
			snprintf(text, len, "read: %zd bytes, not %zu", n, sizeof(count));
			return EIO;
		}
		snprintf(text, len, "%llu", (unsigned long long)count);
		return 0;
	}
	if (!strcmp(cmd, "close")) {
		if (close(*fd))
			return failed(cmd, text, len);
		*fd = -1;
		snprintf(text, len, "closed");
		return 0;
	}
	snprintf(text, len, "no command %s", cmd);
	return EINVAL;
}

/* The daemon: opens the event, then answers commands until it is closed. */
static void daemon_main(void)
{
	char line[LINE], text[LINE], reply[2 * LINE], cmd[32];
	int fd, in, ack, devnull;
	FILE *commands;
	long seq;

	setsid();
	devnull = open("/dev/null", O_RDWR);
	dup2(devnull, 0);
	dup2(devnull, 1);
	dup2(devnull, 2);
	signal(SIGPIPE, SIG_IGN);
	unlink(TP_CMD);
	unlink(TP_ACK);
	/* the ack FIFO first: a client that finds the command FIFO finds both */
	if (mkfifo(TP_ACK, 0600) || mkfifo(TP_CMD, 0600))
		_exit(1);
	/* read and write: neither open blocks, a write never meets a closed pipe */
	ack = open(TP_ACK, O_RDWR);
	in = open(TP_CMD, O_RDWR);
	if (ack < 0 || in < 0)
		_exit(1);
	commands = fdopen(in, "r");
	fd = -2; /* not opened yet: the first command must be open */
	while (fgets(line, sizeof(line), commands)) {
		int status, at = 0;

		if (sscanf(line, "%ld %31s %n", &seq, cmd, &at) != 2)
			continue;
		line[strcspn(line, "\n")] = '\0';
		if (!strcmp(cmd, "open")) {
			if (fd != -2) {
				status = EBUSY;
				snprintf(text, sizeof(text), "open already");
			} else {
				fd = perf_open(text, sizeof(text));
				status = fd < 0 ? errno : 0;
			}
		} else if (fd < 0) {
			status = EBADF;
			snprintf(text, sizeof(text), "%s: the event is not open", cmd);
		} else {
			status = serve(&fd, cmd, line + at, text, sizeof(text));
		}
		snprintf(reply, sizeof(reply), "%ld %d %s\n", seq, status, text);
		if (write(ack, reply, strlen(reply)) < 0)
			break;
		if (fd == -1 || (!strcmp(cmd, "open") && status && status != EBUSY))
			break; /* closed, or never opened: nothing left to hold */
	}
	unlink(TP_CMD);
	unlink(TP_ACK);
	_exit(0);
}

/* Send one command (and its argument) and wait for its answer; the exit status. */
static int client(const char *cmd, const char *arg, int wait_for_daemon)
{
	char buf[4 * LINE], line[LINE];
	long seq = getpid(), deadline = now_ms() + TIMEOUT_MS;
	size_t used = 0;
	int in = -1, ack = -1;

	/* the daemon's FIFOs (it may be starting: wait for them, bounded) */
	for (;;) {
		ack = open(TP_ACK, O_RDONLY | O_NONBLOCK);
		if (ack >= 0)
			in = open(TP_CMD, O_WRONLY | O_NONBLOCK);
		if (in >= 0)
			break;
		if (ack >= 0)
			close(ack);
		if (!wait_for_daemon || now_ms() > deadline) {
			fprintf(stderr, "tp_perf %s: no daemon (is the event open?)\n", cmd);
			return 2;
		}
		usleep(10000);
	}
	snprintf(line, sizeof(line), "%ld %s %s\n", seq, cmd, arg);
	if (write(in, line, strlen(line)) != (ssize_t)strlen(line)) {
		fprintf(stderr, "tp_perf %s: %s\n", cmd, strerror(errno));
		return 2;
	}
	close(in);
	for (;;) {
		struct pollfd p = { .fd = ack, .events = POLLIN };
		long left = deadline - now_ms();
		char *nl;
		ssize_t n;

		while ((nl = memchr(buf, '\n', used))) {
			long got;
			int status, off = 0;

			*nl = '\0';
			if (sscanf(buf, "%ld %d %n", &got, &status, &off) == 2 && got == seq) {
				printf("%s\n", buf + off);
				return status ? 1 : 0;
			}
			used -= nl + 1 - buf; /* another client's late answer */
			memmove(buf, nl + 1, used);
		}
		if (left <= 0 || poll(&p, 1, left) <= 0) {
			fprintf(stderr, "tp_perf %s: no answer in %d ms\n", cmd, TIMEOUT_MS);
			return 2;
		}
		n = read(ack, buf + used, sizeof(buf) - 1 - used);
		if (n > 0)
			used += n;
		else if (n == 0)
			usleep(1000); /* no writer for a moment: poll again */
		if (used == sizeof(buf) - 1)
			used = 0; /* a line longer than any answer: drop it */
	}
}

int main(int argc, char **argv)
{
	const char *cmd = argc >= 2 ? argv[1] : "";
	const char *arg = argc == 3 ? argv[2] : "";
	static const char *const known[] = { "open", "add", "del", "read", "close", "filter" };
	unsigned i;

	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (!strcmp(cmd, known[i]))
			break;
	if (i == sizeof(known) / sizeof(known[0]) || argc != 2 + !strcmp(cmd, "filter") ||
	    strlen(arg) > 128 || strchr(arg, '\n')) {
		fprintf(stderr, "usage: tp_perf open|add|del|read|close, tp_perf filter 'ip == GLOB'\n");
		return 2;
	}
	if (!strcmp(cmd, "open")) {
		int probe = open(TP_CMD, O_WRONLY | O_NONBLOCK);

		if (probe >= 0) { /* a daemon holds an event already: it says so */
			close(probe);
			return client(cmd, arg, 0);
		}
		switch (fork()) {
		case -1:
			perror("tp_perf: fork");
			return 2;
		case 0:
			daemon_main();
		}
		return client(cmd, arg, 1);
	}
	return client(cmd, arg, 0);
}
