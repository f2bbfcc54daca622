/* pods/gpu/cuda_abi.h — the part of the CUDA driver API's binary interface
 * that poolvm's GPU remoting uses, written for poolvm (not NVIDIA's cuda.h).
 *
 * Concepts: the driver API is a C ABI: opaque handles are pointers, device
 * pointers are 64-bit integers, results are the CUresult enumeration. Its
 * numeric values are stable across CUDA releases, so the GPU pod (which
 * loads the real libcuda.so.1 with dlopen) and the guest shim
 * (guest/cuda, which replaces libcuda.so.1) need no CUDA toolkit to build.
 * Only what those two use is here. Never include this together with
 * NVIDIA's cuda.h in one file: both define the same names. Test programs
 * that stand for "unmodified CUDA programs" include cuda.h when the toolkit
 * is installed and this file otherwise (see docs/gpu.md).
 */
#ifndef POOLVM_GPU_CUDA_ABI_H
#define POOLVM_GPU_CUDA_ABI_H

#include <stddef.h>
#include <stdint.h>

#define CUDAAPI
#define PVM_CUDA_ABI_VERSION 12000      /* what cuDriverGetVersion means */

typedef int CUresult;
typedef int CUdevice;
typedef unsigned long long CUdeviceptr;
typedef uint64_t cuuint64_t;
typedef struct CUctx_st *CUcontext;
typedef struct CUmod_st *CUmodule;
typedef struct CUfunc_st *CUfunction;
typedef struct CUstream_st *CUstream;
typedef struct CUevent_st *CUevent;
typedef int CUdevice_attribute;
typedef int CUfunction_attribute;
typedef int CUjit_option;
typedef int CUdriverProcAddressQueryResult;
typedef struct CUuuid_st { char bytes[16]; } CUuuid;
typedef struct CUctxCreateParams_st CUctxCreateParams;

enum {
	CUDA_SUCCESS = 0,
	CUDA_ERROR_INVALID_VALUE = 1,
	CUDA_ERROR_OUT_OF_MEMORY = 2,
	CUDA_ERROR_NOT_INITIALIZED = 3,
	CUDA_ERROR_DEINITIALIZED = 4,
	CUDA_ERROR_DEVICE_UNAVAILABLE = 46,
	CUDA_ERROR_NO_DEVICE = 100,
	CUDA_ERROR_INVALID_DEVICE = 101,
	CUDA_ERROR_INVALID_IMAGE = 200,
	CUDA_ERROR_INVALID_CONTEXT = 201,
	CUDA_ERROR_NO_BINARY_FOR_GPU = 209,
	CUDA_ERROR_INVALID_PTX = 218,
	CUDA_ERROR_INVALID_SOURCE = 300,
	CUDA_ERROR_FILE_NOT_FOUND = 301,
	CUDA_ERROR_OPERATING_SYSTEM = 304,
	CUDA_ERROR_INVALID_HANDLE = 400,
	CUDA_ERROR_NOT_FOUND = 500,
	CUDA_ERROR_NOT_READY = 600,
	CUDA_ERROR_ILLEGAL_ADDRESS = 700,
	CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES = 701,
	CUDA_ERROR_LAUNCH_FAILED = 719,
	CUDA_ERROR_NOT_PERMITTED = 800,
	CUDA_ERROR_NOT_SUPPORTED = 801,
	CUDA_ERROR_UNKNOWN = 999,
};

#define CU_STREAM_LEGACY        ((CUstream)0x1)
#define CU_STREAM_PER_THREAD    ((CUstream)0x2)

#define CU_LAUNCH_PARAM_END             ((void *)0x00)
#define CU_LAUNCH_PARAM_BUFFER_POINTER  ((void *)0x01)
#define CU_LAUNCH_PARAM_BUFFER_SIZE     ((void *)0x02)

enum {
	CU_GET_PROC_ADDRESS_SUCCESS = 0,
	CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND = 1,
	CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT = 2,
};

/* JIT options whose outputs a caller may read back (cuModuleLoadDataEx). */
enum {
	CU_JIT_INFO_LOG_BUFFER = 3,
	CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES = 4,
	CU_JIT_ERROR_LOG_BUFFER = 5,
	CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES = 6,
};

#endif
