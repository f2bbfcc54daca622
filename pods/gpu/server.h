/* pods/gpu/server.h — the GPU pod: executes CUDA driver API calls that
 * guests forward (guest/cuda) on this host's GPUs.
 *
 * Concepts: the real driver (libcuda.so.1) is loaded at run time with
 * dlopen, so poolvm neither needs the CUDA toolkit to build nor a GPU to
 * run; without a driver or a GPU every call is answered with what cuInit
 * returned (CUDA_ERROR_NO_DEVICE). Clients connect over TCP, authenticate
 * with the shared secret (net/auth.h) and get a thread each; with a
 * fabric address, clients over libfabric too (link.h), at the same time. Every context
 * a client creates or retains is a regular context of its own, so clients
 * are isolated from each other as two processes would be; handles travel
 * as checked table indexes, never as pointers; device pointers given to
 * memcpy/memset/free must lie in the client's own allocations or module
 * globals. When a client vanishes (also mid-call), its memory, modules,
 * streams, events and contexts are freed.
 */
#ifndef POOLVM_GPU_SERVER_H
#define POOLVM_GPU_SERVER_H

#include <stdint.h>

struct gpu_mem_ops;
struct gpu_server;

struct gpu_server_config {
	const char *listen;             /* HOST:PORT; port 0 picks one */
	const char *secret_file;
	const char *pod_id;             /* NULL: host name */
	int devices;                    /* -1: all; else the first N */
	uint64_t quota;                 /* device bytes per client; 0: none */
	unsigned int max_clients;       /* 0: 64 */
	const char *driver;             /* NULL: "libcuda.so.1" */
	const struct gpu_mem_ops *mem;  /* NULL: gpu_mem_direct_ops */
	const void *mem_config;         /* the backend's options (gpu_mem_client.config) */
	const char *fabric_listen;      /* HOST:PORT of the fabric endpoint; NULL: none */
	const char *fabric_provider;    /* tcp, verbs, shm, auto */
	unsigned int fabric_idle_ms;    /* a silent fabric client is dropped (0: 20 s) */
};

/**
 * gpu_server_create() - load the driver (a missing driver is not an
 * error), read the secret, listen. Return: 0, or -errno after a message.
 */
int gpu_server_create(const struct gpu_server_config *cfg, struct gpu_server **out);

/** gpu_server_address() - the address bound, "127.0.0.1:7400". */
const char *gpu_server_address(const struct gpu_server *s);

/**
 * gpu_server_fabric_address() - the fabric address clients use
 * ("fabric://10.0.0.5:7401"), NULL without one; @provider gets the
 * libfabric provider's name ("tcp;ofi_rxm") when not NULL.
 */
const char *gpu_server_fabric_address(const struct gpu_server *s, const char **provider);

/**
 * gpu_server_devices() - devices served; *@why is set to a sentence when
 * none is (no driver, cuInit failed).
 */
int gpu_server_devices(const struct gpu_server *s, const char **why);

/** gpu_server_run() - serve until gpu_server_request_stop(). Return: 0. */
int gpu_server_run(struct gpu_server *s);

/** gpu_server_request_stop() - make run() return; async-signal-safe. */
void gpu_server_request_stop(struct gpu_server *s);

/** gpu_server_destroy() - disconnect clients (freeing their memory), close. */
void gpu_server_destroy(struct gpu_server *s);

/** gpu_pod_main() - `poolvm pod --gpu ...` (pods/gpu/gpu_cli.c). */
int gpu_pod_main(int argc, char **argv);

#endif
