/* Shared between the test scheduler (ktsched.bpf.c) and its loader (loader.c).
 * The loader finds `kt_shared` in the object's .bss through the object's BTF (DATASEC ".bss"), so the layout
 * here is the only contract; the monitor under test may also read it from guest memory (map "ktsched.bss"). */
#ifndef KTSCHED_H
#define KTSCHED_H

#define KT_DSQ_ID 0x4b54ULL /* the scheduler's one shared FIFO DSQ ("KT") */
#define KT_TIMEOUT_MS 2500U /* ops.timeout_ms: watchdog stall timeout */
#define KT_REASON_LEN 128
#define KT_MSG_LEN 256
#define KT_ERROR_CODE 0x6b74U /* value passed to scx_bpf_error's format: "code 27508" */

struct kt_shared {
	/* written by the loader */
	unsigned int fail_req;  /* != 0: the next callback calls scx_bpf_error() (SCX_EXIT_ERROR_BPF) */
	unsigned int stall_req; /* != 0: stop moving tasks to local DSQs (watchdog: SCX_EXIT_ERROR_STALL) */
	/* written by the scheduler */
	unsigned int initialised; /* ops.init ran */
	unsigned int exited;      /* ops.exit ran; the fields below are valid */
	unsigned int exit_kind;   /* scx_exit_info.kind */
	unsigned int pad;
	long long exit_code;      /* scx_exit_info.exit_code */
	unsigned long long nr_enqueued;
	unsigned long long nr_dispatched;
	unsigned long long nr_direct;
	char exit_reason[KT_REASON_LEN];
	char exit_msg[KT_MSG_LEN];
	/* written by the loader once attached (a value the host can look for in the map) */
	unsigned long long loader_cookie;
};

#endif
