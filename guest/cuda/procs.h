/* guest/cuda/procs.h — cuGetProcAddress (included by shim.c).
 *
 * Names are looked up without their _v2/_v3 suffix, as the driver API
 * asks; where an entry point changed its signature, the version asked for
 * (cudaVersion) picks the variant: the newest whose "since" is not above
 * it. The suffixed name itself is also accepted. Per-thread default stream
 * variants (flag CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM) get the
 * same functions: the pod runs each client's default-stream work on one
 * thread, in order. Any other name of the driver API (stubs.h) gets a
 * function returning CUDA_ERROR_NOT_SUPPORTED; a name that is not one,
 * CUDA_ERROR_NOT_FOUND.
 */

EXPORT CUresult cuGetProcAddress(const char *symbol, void **pfn, int version,
				 cuuint64_t flags);
EXPORT CUresult cuGetProcAddress_v2(const char *symbol, void **pfn, int version,
				    cuuint64_t flags, CUdriverProcAddressQueryResult *status);

#define P(name, since, fn) { name, since, (void *)(fn) }

static const struct { const char *name; int since; void *fn; } procs[] = {
	P("cuInit", 2000, cuInit),
	P("cuDriverGetVersion", 2020, cuDriverGetVersion),
	P("cuGetErrorName", 6000, cuGetErrorName),
	P("cuGetErrorString", 6000, cuGetErrorString),
	P("cuDeviceGetCount", 2000, cuDeviceGetCount),
	P("cuDeviceGet", 2000, cuDeviceGet),
	P("cuDeviceGetName", 2000, cuDeviceGetName),
	P("cuDeviceTotalMem", 2000, cuDeviceTotalMem),
	P("cuDeviceTotalMem", 3020, cuDeviceTotalMem_v2),
	P("cuDeviceGetAttribute", 2000, cuDeviceGetAttribute),
	P("cuDeviceComputeCapability", 2000, cuDeviceComputeCapability),
	P("cuDeviceGetUuid", 9020, cuDeviceGetUuid),
	P("cuDeviceGetUuid", 11040, cuDeviceGetUuid_v2),
	P("cuDevicePrimaryCtxRetain", 7000, cuDevicePrimaryCtxRetain),
	P("cuDevicePrimaryCtxRelease", 7000, cuDevicePrimaryCtxRelease),
	P("cuDevicePrimaryCtxRelease", 11000, cuDevicePrimaryCtxRelease_v2),
	P("cuDevicePrimaryCtxReset", 7000, cuDevicePrimaryCtxReset),
	P("cuDevicePrimaryCtxReset", 11000, cuDevicePrimaryCtxReset_v2),
	P("cuDevicePrimaryCtxGetState", 7000, cuDevicePrimaryCtxGetState),
	P("cuDevicePrimaryCtxSetFlags", 7000, cuDevicePrimaryCtxSetFlags),
	P("cuDevicePrimaryCtxSetFlags", 11000, cuDevicePrimaryCtxSetFlags_v2),
	P("cuCtxCreate", 2000, cuCtxCreate),
	P("cuCtxCreate", 3020, cuCtxCreate_v2),
	P("cuCtxCreate", 11040, cuCtxCreate_v3),
	P("cuCtxCreate", 12050, cuCtxCreate_v4),
	P("cuCtxDestroy", 2000, cuCtxDestroy),
	P("cuCtxDestroy", 4000, cuCtxDestroy_v2),
	P("cuCtxSetCurrent", 4000, cuCtxSetCurrent),
	P("cuCtxGetCurrent", 4000, cuCtxGetCurrent),
	P("cuCtxPushCurrent", 2000, cuCtxPushCurrent),
	P("cuCtxPushCurrent", 4000, cuCtxPushCurrent_v2),
	P("cuCtxPopCurrent", 2000, cuCtxPopCurrent),
	P("cuCtxPopCurrent", 4000, cuCtxPopCurrent_v2),
	P("cuCtxGetDevice", 2000, cuCtxGetDevice),
	P("cuCtxSynchronize", 2000, cuCtxSynchronize),
	P("cuCtxGetApiVersion", 3020, cuCtxGetApiVersion),
	P("cuModuleLoad", 2000, cuModuleLoad),
	P("cuModuleLoadData", 2000, cuModuleLoadData),
	P("cuModuleLoadDataEx", 2010, cuModuleLoadDataEx),
	P("cuModuleLoadFatBinary", 2000, cuModuleLoadFatBinary),
	P("cuModuleUnload", 2000, cuModuleUnload),
	P("cuModuleGetFunction", 2000, cuModuleGetFunction),
	P("cuModuleGetGlobal", 2000, cuModuleGetGlobal),
	P("cuModuleGetGlobal", 3020, cuModuleGetGlobal_v2),
	P("cuFuncGetAttribute", 2020, cuFuncGetAttribute),
	P("cuFuncSetAttribute", 9000, cuFuncSetAttribute),
	P("cuMemAlloc", 2000, cuMemAlloc),
	P("cuMemAlloc", 3020, cuMemAlloc_v2),
	P("cuMemFree", 2000, cuMemFree),
	P("cuMemFree", 3020, cuMemFree_v2),
	P("cuMemGetInfo", 2000, cuMemGetInfo),
	P("cuMemGetInfo", 3020, cuMemGetInfo_v2),
	P("cuMemAllocHost", 2000, cuMemAllocHost),
	P("cuMemAllocHost", 3020, cuMemAllocHost_v2),
	P("cuMemHostAlloc", 2020, cuMemHostAlloc),
	P("cuMemFreeHost", 2000, cuMemFreeHost),
	P("cuMemcpyHtoD", 2000, cuMemcpyHtoD),
	P("cuMemcpyHtoD", 3020, cuMemcpyHtoD_v2),
	P("cuMemcpyDtoH", 2000, cuMemcpyDtoH),
	P("cuMemcpyDtoH", 3020, cuMemcpyDtoH_v2),
	P("cuMemcpyDtoD", 2000, cuMemcpyDtoD),
	P("cuMemcpyDtoD", 3020, cuMemcpyDtoD_v2),
	P("cuMemcpyHtoDAsync", 2000, cuMemcpyHtoDAsync),
	P("cuMemcpyHtoDAsync", 3020, cuMemcpyHtoDAsync_v2),
	P("cuMemcpyDtoHAsync", 2000, cuMemcpyDtoHAsync),
	P("cuMemcpyDtoHAsync", 3020, cuMemcpyDtoHAsync_v2),
	P("cuMemcpyDtoDAsync", 3000, cuMemcpyDtoDAsync),
	P("cuMemcpyDtoDAsync", 3020, cuMemcpyDtoDAsync_v2),
	P("cuMemsetD8", 2000, cuMemsetD8),
	P("cuMemsetD8", 3020, cuMemsetD8_v2),
	P("cuMemsetD32", 2000, cuMemsetD32),
	P("cuMemsetD32", 3020, cuMemsetD32_v2),
	P("cuMemsetD8Async", 3020, cuMemsetD8Async),
	P("cuMemsetD32Async", 3020, cuMemsetD32Async),
	P("cuLaunchKernel", 4000, cuLaunchKernel),
	P("cuStreamCreate", 2000, cuStreamCreate),
	P("cuStreamCreateWithPriority", 5050, cuStreamCreateWithPriority),
	P("cuStreamDestroy", 2000, cuStreamDestroy),
	P("cuStreamDestroy", 4000, cuStreamDestroy_v2),
	P("cuStreamSynchronize", 2000, cuStreamSynchronize),
	P("cuStreamQuery", 2000, cuStreamQuery),
	P("cuStreamWaitEvent", 3020, cuStreamWaitEvent),
	P("cuEventCreate", 2000, cuEventCreate),
	P("cuEventDestroy", 2000, cuEventDestroy),
	P("cuEventDestroy", 4000, cuEventDestroy_v2),
	P("cuEventRecord", 2000, cuEventRecord),
	P("cuEventSynchronize", 2000, cuEventSynchronize),
	P("cuEventQuery", 2000, cuEventQuery),
	P("cuEventElapsedTime", 2000, cuEventElapsedTime),
	P("cuEventElapsedTime", 12080, cuEventElapsedTime_v2),
	P("cuGetProcAddress", 11030, cuGetProcAddress),
	P("cuGetProcAddress", 12000, cuGetProcAddress_v2),
};

#undef P

EXPORT CUresult cuGetProcAddress_v2(const char *symbol, void **pfn, int version,
				    cuuint64_t flags, CUdriverProcAddressQueryResult *status)
{
	void *best = NULL;
	int best_since = -1, found_any = 0;
	size_t i, n;
	char base[128];

	if (status)
		*status = CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
	if (!symbol || !pfn || flags > 3)
		return CUDA_ERROR_INVALID_VALUE;
	*pfn = NULL;
	/* "cuMemAlloc_v2" -> "cuMemAlloc" and the version it names. */
	snprintf(base, sizeof(base), "%s", symbol);
	n = strlen(base);
	if (n > 3 && base[n - 3] == '_' && base[n - 2] == 'v' && base[n - 1] >= '2' &&
	    base[n - 1] <= '9') {
		const char *fname = NULL;

		base[n - 3] = '\0';
		for (i = 0; i < sizeof(procs) / sizeof(procs[0]); i++)
			if (!strcmp(procs[i].name, base)) {
				Dl_info di;

				if (dladdr(procs[i].fn, &di) && di.dli_sname &&
				    !strcmp(di.dli_sname, symbol)) {
					fname = symbol;
					best = procs[i].fn;
				}
			}
		if (fname) {
			*pfn = best;
			if (status)
				*status = CU_GET_PROC_ADDRESS_SUCCESS;
			return CUDA_SUCCESS;
		}
		base[n - 3] = '_';
	}
	for (i = 0; i < sizeof(procs) / sizeof(procs[0]); i++) {
		if (strcmp(procs[i].name, base))
			continue;
		found_any = 1;
		if (procs[i].since <= version && procs[i].since > best_since) {
			best = procs[i].fn;
			best_since = procs[i].since;
		}
	}
	if (found_any && !best) {
		if (status)
			*status = CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT;
		return CUDA_ERROR_NOT_FOUND;
	}
	for (i = 0; !best && i < sizeof(stub_names) / sizeof(stub_names[0]); i++)
		if (!strcmp(stub_names[i], base) || !strcmp(stub_names[i], symbol))
			best = (void *)unsupported;
	if (!best)
		return CUDA_ERROR_NOT_FOUND;
	*pfn = best;
	if (status)
		*status = CU_GET_PROC_ADDRESS_SUCCESS;
	return CUDA_SUCCESS;
}

EXPORT CUresult cuGetProcAddress(const char *symbol, void **pfn, int version,
				 cuuint64_t flags)
{
	return cuGetProcAddress_v2(symbol, pfn, version, flags, NULL);
}
