/* net/hostport.c — "host:port" addresses, split. Apart from the libfabric
 * code so that programs without libfabric (the GPU shim, the lean GPU
 * pod) share it. */
#include "hostport.h"

#include <errno.h>
#include <string.h>

/* Split "host:port" / "[v6]:port" into @host and @port. */
int net_split_host_port(const char *text, char *host, size_t hostlen,
			   char *port, size_t portlen)
{
	const char *colon, *h = text;
	size_t hl;

	if (!text || !*text)
		return -EINVAL;
	if (*text == '[') {
		const char *close = strchr(text, ']');

		if (!close || close[1] != ':')
			return -EINVAL;
		h = text + 1;
		hl = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(text, ':');
		if (!colon)
			return -EINVAL;
		hl = (size_t)(colon - text);
	}
	if (hl == 0 || hl >= hostlen || strlen(colon + 1) == 0 ||
	    strlen(colon + 1) >= portlen)
		return -EINVAL;
	for (const char *c = colon + 1; *c; c++)
		if (*c < '0' || *c > '9')
			return -EINVAL;   /* a port number, not a service name */
	memcpy(host, h, hl);
	host[hl] = '\0';
	strcpy(port, colon + 1);
	return 0;
}
