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
 * and once attached, the BPF objects as the kernel reports them (bpf_obj_get_info_by_fd), then the record in .bss:
 *   KTSCHED map pid=<pid> id=<n> name=<s> type=<n> tname=<s> key=<n> value=<n> max=<n> flags=<n>
 *   KTSCHED prog pid=<pid> id=<n> name=<s> type=<n> tname=<s> insns=<verified_insns> run_cnt=<n> run_ns=<n>
 *   KTSCHED shared pid=<pid> map=<name> map_id=<n> off=<offset of kt_shared> size=<n> cookie=0x<hex> initialised=<n>
 *   KTSCHED objects pid=<pid> maps=<n> progs=<n> stats=<0|1>
 * With KTSCHED_BPF_STATS=1 in the environment the loader holds a BPF_ENABLE_STATS (run time) file descriptor, so
 * the kernel counts program runs (stats=1).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
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
static struct kt_shared *find_shared(struct bpf_object *obj, struct bpf_map **bss_out, unsigned int *off_out)
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
		*off_out = vs->offset;
		return (struct kt_shared *)(base + vs->offset);
	}
	return NULL;
}

/* a type name or "-" */
static const char *or_dash(const char *s)
{
	return s ? s : "-";
}

/* the object's maps and programs as the kernel sees them; returns the .bss map's id */
static unsigned int report_objects(struct bpf_object *obj, int pid, int stats_fd)
{
	struct bpf_program *prog;
	struct bpf_map *map;
	unsigned int nmaps = 0, nprogs = 0, bss_id = 0;

	bpf_object__for_each_map(map, obj) {
		struct bpf_map_info info;
		__u32 len = sizeof(info);
		int fd = bpf_map__fd(map);

		memset(&info, 0, sizeof(info));
		if (fd < 0 || bpf_map_get_info_by_fd(fd, &info, &len)) {
			out("KTSCHED fail pid=%d map info %s: %s", pid, bpf_map__name(map), strerror(errno));
			continue;
		}
		out("KTSCHED map pid=%d id=%u name=%s type=%u tname=%s key=%u value=%u max=%u flags=%u", pid, info.id,
		    info.name, info.type, or_dash(libbpf_bpf_map_type_str((enum bpf_map_type)info.type)), info.key_size,
		    info.value_size, info.max_entries, info.map_flags);
		if (strlen(info.name) >= 4 && strcmp(info.name + strlen(info.name) - 4, ".bss") == 0)
			bss_id = info.id;
		nmaps++;
	}
	bpf_object__for_each_program(prog, obj) {
		struct bpf_prog_info info;
		__u32 len = sizeof(info);
		int fd = bpf_program__fd(prog);

		memset(&info, 0, sizeof(info));
		if (fd < 0 || bpf_prog_get_info_by_fd(fd, &info, &len)) {
			out("KTSCHED fail pid=%d prog info %s: %s", pid, bpf_program__name(prog), strerror(errno));
			continue;
		}
		out("KTSCHED prog pid=%d id=%u name=%s type=%u tname=%s insns=%u run_cnt=%llu run_ns=%llu", pid, info.id,
		    info.name, info.type, or_dash(libbpf_bpf_prog_type_str((enum bpf_prog_type)info.type)),
		    info.verified_insns, (unsigned long long)info.run_cnt, (unsigned long long)info.run_time_ns);
		nprogs++;
	}
	out("KTSCHED objects pid=%d maps=%u progs=%u stats=%d", pid, nmaps, nprogs, stats_fd >= 0 ? 1 : 0);
	return bss_id;
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
	int err, fail_sent = 0, stall_sent = 0, stats_fd = -1;
	unsigned int sh_off = 0, bss_id;
	const char *stats_env = getenv("KTSCHED_BPF_STATS");

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
	sh = find_shared(obj, &bss, &sh_off);
	if (!sh) {
		out("KTSCHED fail pid=%d locate kt_shared in .bss: not found", pid);
		return 1;
	}
	link = bpf_map__attach_struct_ops(ops);
	if (!link) {
		out("KTSCHED fail pid=%d attach struct_ops: %s", pid, strerror(errno));
		return 1;
	}
	if (stats_env && strcmp(stats_env, "1") == 0) {
		stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
		if (stats_fd < 0)
			out("KTSCHED fail pid=%d enable stats: %s", pid, strerror(errno));
	}
	out("KTSCHED attached pid=%d ops=ktsched bss=%s timeout_ms=%u", pid, bpf_map__name(bss), KT_TIMEOUT_MS);
	{
		/* a value only this loader run writes: pid and time */
		struct timespec now;
		unsigned long long cookie;

		clock_gettime(CLOCK_MONOTONIC, &now);
		cookie = 0x4b54000000000000ULL ^ ((unsigned long long)pid << 24) ^ (unsigned long long)now.tv_nsec;
		sh->loader_cookie = cookie;
		bss_id = report_objects(obj, pid, stats_fd);
		out("KTSCHED shared pid=%d map=%s map_id=%u off=%u size=%u cookie=0x%llx initialised=%u", pid,
		    bpf_map__name(bss), bss_id, sh_off, (unsigned int)sizeof(struct kt_shared), cookie, sh->initialised);
	}

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
	if (stats_fd >= 0)
		close(stats_fd);
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
