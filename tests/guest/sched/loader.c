// SPDX-License-Identifier: GPL-2.0
/* ktsched-loader: attaches the rig's test scheduler (ktsched.bpf.o) through a struct_ops BPF link and holds.
 *
 *   ktsched-loader [OBJECT]      (default /sched/ktsched.bpf.o)
 *
 * Signals:  SIGUSR1 -> set kt_shared.fail_req  (scheduler calls scx_bpf_error: SCX_EXIT_ERROR_BPF)
 *           SIGUSR2 -> set kt_shared.stall_req (scheduler stops dispatching: watchdog, SCX_EXIT_ERROR_STALL)
 *           SIGTERM/SIGINT -> destroy the link (kernel: SCX_EXIT_UNREG) and exit 0
 * When the kernel disables the scheduler on its own (sysrq-S, error, stall) the loader prints the exit record
 * that ops.exit stored, destroys the link and exits 0.
 *
 * Output (stdout, one write per line, machine-parsable):
 *   KTSCHED attached pid=<pid> ops=ktsched bss=<map name> timeout_ms=<n>
 *   KTSCHED request <error|stall> pid=<pid>
 *   KTSCHED exit pid=<pid> kind=<n> code=<n> reason=<text> msg=<text>
 *   KTSCHED stats pid=<pid> enqueued=<n> dispatched=<n> direct=<n>
 *   KTSCHED detached pid=<pid>
 *   KTSCHED fail pid=<pid> <what>: <error>        (exit status 1)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "ktsched.h"

static volatile sig_atomic_t g_stop;
static volatile sig_atomic_t g_fail;
static volatile sig_atomic_t g_stall;

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		g_fail = 1;
	else if (sig == SIGUSR2)
		g_stall = 1;
	else
		g_stop = 1;
}

/* one write(2) per line so lines from concurrent writers to the console do not interleave */
static void out(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(buf) - 2)
		n = (int)sizeof(buf) - 2;
	buf[n++] = '\n';
	(void)write(STDOUT_FILENO, buf, (size_t)n);
}

static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

/* printable, single-line copy of a string from the scheduler's record */
static void clean(char *dst, size_t cap, const char *src, size_t srccap)
{
	size_t i, j = 0;

	for (i = 0; i < srccap && src[i] != '\0' && j + 1 < cap; i++) {
		unsigned char c = (unsigned char)src[i];
		dst[j++] = (c < 0x20 || c > 0x7e) ? '_' : (char)c;
	}
	dst[j] = '\0';
}

/* locate `kt_shared` inside the object's .bss map through the object's BTF */
static struct kt_shared *find_shared(struct bpf_object *obj, struct bpf_map **bss_out)
{
	const struct btf *btf = bpf_object__btf(obj);
	const struct btf_type *sec;
	const struct btf_var_secinfo *vs;
	struct bpf_map *map;
	size_t size = 0;
	char *base;
	int id, i;

	if (!btf)
		return NULL;
	bpf_object__for_each_map(map, obj) {
		const char *n = bpf_map__name(map);
		size_t l = strlen(n);
		if (l >= 4 && strcmp(n + l - 4, ".bss") == 0)
			break;
	}
	if (!map)
		return NULL;
	id = btf__find_by_name_kind(btf, ".bss", BTF_KIND_DATASEC);
	if (id < 0)
		return NULL;
	sec = btf__type_by_id(btf, (unsigned int)id);
	vs = btf_var_secinfos(sec);
	base = bpf_map__initial_value(map, &size);
	if (!base)
		return NULL;
	for (i = 0; i < btf_vlen(sec); i++, vs++) {
		const struct btf_type *v = btf__type_by_id(btf, vs->type);
		if (strcmp(btf__name_by_offset(btf, v->name_off), "kt_shared") != 0)
			continue;
		if (vs->size != sizeof(struct kt_shared) || vs->offset + vs->size > size)
			return NULL;
		*bss_out = map;
		return (struct kt_shared *)(base + vs->offset);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "/sched/ktsched.bpf.o";
	struct bpf_object *obj;
	struct bpf_map *ops, *bss = NULL;
	struct bpf_link *link;
	volatile struct kt_shared *sh;
	struct sigaction sa;
	int pid = (int)getpid();
	int err, fail_sent = 0, stall_sent = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	libbpf_set_print(libbpf_log);

	obj = bpf_object__open_file(path, NULL);
	if (!obj) {
		out("KTSCHED fail pid=%d open %s: %s", pid, path, strerror(errno));
		return 1;
	}
	ops = bpf_object__find_map_by_name(obj, "ktsched_ops");
	if (!ops) {
		out("KTSCHED fail pid=%d find map ktsched_ops: not found", pid);
		return 1;
	}
	err = bpf_object__load(obj);
	if (err) {
		out("KTSCHED fail pid=%d load: %s", pid, strerror(-err));
		return 1;
	}
	sh = find_shared(obj, &bss);
	if (!sh) {
		out("KTSCHED fail pid=%d locate kt_shared in .bss: not found", pid);
		return 1;
	}
	link = bpf_map__attach_struct_ops(ops);
	if (!link) {
		out("KTSCHED fail pid=%d attach struct_ops: %s", pid, strerror(errno));
		return 1;
	}
	out("KTSCHED attached pid=%d ops=ktsched bss=%s timeout_ms=%u", pid, bpf_map__name(bss), KT_TIMEOUT_MS);

	while (!g_stop) {
		struct timespec ts = { 0, 20 * 1000 * 1000 };

		if (g_fail && !fail_sent) {
			sh->fail_req = 1;
			fail_sent = 1;
			out("KTSCHED request error pid=%d", pid);
		}
		if (g_stall && !stall_sent) {
			sh->stall_req = 1;
			stall_sent = 1;
			out("KTSCHED request stall pid=%d", pid);
		}
		if (sh->exited)
			break;
		nanosleep(&ts, NULL);
	}
	bpf_link__destroy(link); /* an attached scheduler is unregistered here (SCX_EXIT_UNREG) */
	if (sh->exited) {
		char reason[KT_REASON_LEN], msg[KT_MSG_LEN];

		clean(reason, sizeof(reason), (const char *)sh->exit_reason, sizeof(sh->exit_reason));
		clean(msg, sizeof(msg), (const char *)sh->exit_msg, sizeof(sh->exit_msg));
		out("KTSCHED exit pid=%d kind=%u code=%lld reason=%s msg=%s", pid, sh->exit_kind,
		    (long long)sh->exit_code, reason, msg);
	}
	out("KTSCHED stats pid=%d enqueued=%llu dispatched=%llu direct=%llu", pid,
	    (unsigned long long)sh->nr_enqueued, (unsigned long long)sh->nr_dispatched,
	    (unsigned long long)sh->nr_direct);
	out("KTSCHED detached pid=%d", pid);
	bpf_object__close(obj);
	return 0;
}
