// SPDX-License-Identifier: GPL-2.0
/* ktsched: the e2e rig's minimal sched_ext scheduler.
 *
 * Policy: one shared FIFO. Wake-ups that find an idle CPU go straight to that CPU's local DSQ; everything
 * else is queued on KT_DSQ_ID and moved to a local DSQ from ops.dispatch.
 * Fault injection, driven by the loader through kt_shared (.bss):
 *   fail_req  -> the next enqueue/dispatch/tick calls scx_bpf_error()      => SCX_EXIT_ERROR_BPF
 *   stall_req -> no more direct inserts, ops.dispatch stops moving tasks  => watchdog, SCX_EXIT_ERROR_STALL
 * ops.exit copies the kernel's exit record into kt_shared so the loader can print it.
 *
 * Built against a vmlinux.h dumped from the target kernel's BTF (CO-RE); kfunc names are the 7.x ones
 * (scx_bpf_dsq_insert / scx_bpf_dsq_move_to_local / scx_bpf_error_bstr), checked in the kernel's BTF.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "ktsched.h"

char _license[] SEC("license") = "GPL";

/* kfuncs (declared here: the bookworm bpftool does not emit kfunc prototypes into vmlinux.h) */
extern s32 scx_bpf_create_dsq(u64 dsq_id, s32 node) __ksym;
extern s32 scx_bpf_select_cpu_dfl(struct task_struct *p, s32 prev_cpu, u64 wake_flags, bool *is_idle) __ksym;
extern void scx_bpf_dsq_insert(struct task_struct *p, u64 dsq_id, u64 slice, u64 enq_flags) __ksym;
extern bool scx_bpf_dsq_move_to_local(u64 dsq_id) __ksym;
extern void scx_bpf_error_bstr(char *fmt, unsigned long long *data, u32 data__sz) __ksym;

struct kt_shared kt_shared;

/* the recognisable message the e2e tests look for */
static char kt_error_fmt[] = "ktsched: error requested by loader (code %u)";

static __always_inline void kt_maybe_fail(void)
{
	unsigned long long args[1];

	if (!*(volatile unsigned int *)&kt_shared.fail_req)
		return;
	args[0] = KT_ERROR_CODE;
	scx_bpf_error_bstr(kt_error_fmt, args, sizeof(args));
}

static __always_inline bool kt_stalling(void)
{
	return *(volatile unsigned int *)&kt_shared.stall_req != 0;
}

SEC("struct_ops/kt_select_cpu")
s32 BPF_PROG(kt_select_cpu, struct task_struct *p, s32 prev_cpu, u64 wake_flags)
{
	bool idle = false;
	s32 cpu = scx_bpf_select_cpu_dfl(p, prev_cpu, wake_flags, &idle);

	if (idle && !kt_stalling()) {
		scx_bpf_dsq_insert(p, SCX_DSQ_LOCAL, SCX_SLICE_DFL, 0);
		__sync_fetch_and_add(&kt_shared.nr_direct, 1);
	}
	return cpu;
}

SEC("struct_ops/kt_enqueue")
void BPF_PROG(kt_enqueue, struct task_struct *p, u64 enq_flags)
{
	kt_maybe_fail();
	scx_bpf_dsq_insert(p, KT_DSQ_ID, SCX_SLICE_DFL, enq_flags);
	__sync_fetch_and_add(&kt_shared.nr_enqueued, 1);
}

SEC("struct_ops/kt_dispatch")
void BPF_PROG(kt_dispatch, s32 cpu, struct task_struct *prev)
{
	kt_maybe_fail();
	if (kt_stalling())
		return;
	if (scx_bpf_dsq_move_to_local(KT_DSQ_ID))
		__sync_fetch_and_add(&kt_shared.nr_dispatched, 1);
}

SEC("struct_ops/kt_tick")
void BPF_PROG(kt_tick, struct task_struct *p)
{
	kt_maybe_fail();
}

SEC("struct_ops.s/kt_init")
s32 BPF_PROG(kt_init)
{
	s32 ret = scx_bpf_create_dsq(KT_DSQ_ID, -1);

	if (ret == 0)
		kt_shared.initialised = 1;
	return ret;
}

SEC("struct_ops/kt_exit")
void BPF_PROG(kt_exit, struct scx_exit_info *ei)
{
	kt_shared.exit_kind = ei->kind;
	kt_shared.exit_code = ei->exit_code;
	bpf_probe_read_kernel_str(kt_shared.exit_reason, sizeof(kt_shared.exit_reason), ei->reason);
	bpf_probe_read_kernel_str(kt_shared.exit_msg, sizeof(kt_shared.exit_msg), ei->msg);
	__sync_fetch_and_add(&kt_shared.exited, 1);
}

SEC(".struct_ops.link")
struct sched_ext_ops ktsched_ops = {
	.select_cpu = (void *)kt_select_cpu,
	.enqueue = (void *)kt_enqueue,
	.dispatch = (void *)kt_dispatch,
	.tick = (void *)kt_tick,
	.init = (void *)kt_init,
	.exit = (void *)kt_exit,
	.timeout_ms = KT_TIMEOUT_MS,
	.name = "ktsched",
};
