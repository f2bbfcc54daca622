/* swap/tiers/disk.c — "disk:PATH[,max=SIZE][,keep][,buffered]": page slots
 * in a scratch file, read and written through io_uring.
 *
 * Concepts:
 * - The file. Page 0 is a header naming the file a poolvm tier file; slot s
 *   lives at (s + 1) * 4 KiB. A tier file is scratch: it is never reopened
 *   with its content, and close() unlinks it (unless ",keep" asked to leave
 *   it for a post-mortem). PATH may not contain ','.
 * - An existing PATH. poolvm never overwrites a file it did not create: if
 *   PATH exists it is reused only when it carries our header and no running
 *   tier holds its lock (flock) — a leftover of a run that crashed or used
 *   ",keep". It is then truncated and reused; anything else is refused.
 *   If PATH is a directory, the tier is an unnamed O_TMPFILE in it, which
 *   the kernel frees even when the process dies.
 * - Space. The file grows in DISK_GROW_BYTES chunks with fallocate() when
 *   alloc() needs slots beyond its end, so a full filesystem is reported as
 *   -ENOSPC by alloc(), not by a later store. ",max=SIZE" caps the slot space
 *   at SIZE bytes (the file is one header page larger). Released slots are
 *   reused lowest first; the file never shrinks while open.
 * - O_DIRECT. Used when the filesystem accepts it, so tier pages do not
 *   also sit in the page cache; otherwise (or with ",buffered") the tier uses
 *   buffered I/O and says so once, when it opens.
 * - I/O. A small pool of io_uring rings, each guarded by a mutex, serves all
 *   threads; a thread prefers "its" ring and takes any idle one. A batch is
 *   cut into runs of consecutive slots (one read/write, or readv/writev when
 *   the buffers are not contiguous), submitted together with one
 *   io_uring_enter, and the call returns when every run has completed.
 *   A short transfer fails the pages it did not cover with -EIO.
 * - Gaps. A read run also bridges a gap of up to DISK_GAP_PAGES slots
 *   between two of its pages: the gap is read into a scratch buffer and
 *   dropped. Where a guest's resident and absent pages alternate (two
 *   structures interleaved in guest memory, one kept, one streamed), the
 *   absent ones would otherwise be read a page per request; an extra 4 KiB
 *   costs far less than a request. Writes never bridge (they would
 *   overwrite the gap).
 */
#include "tier.h"
#include "slots.h"

#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <liburing.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define DISK_MAGIC        "POOLVM-SWAP-TIER 1\n"
#define DISK_GROW_BYTES   (32ULL << 20)
#define DISK_GROW_SLOTS   (DISK_GROW_BYTES / PVM_PAGE_SIZE)
#define DISK_MAX_SLOTS    (1ULL << 40)      /* 4 PiB: far below off_t's end */
#define DISK_RINGS        8                 /* rings per tier, made lazily */
#define DISK_RING_ENTRIES 128               /* runs in flight per ring */
#define DISK_IOVS         512               /* iovecs per submission */
#define DISK_RUN_PAGES    64                /* pages per run at most */
#define DISK_RUN_SPAN     128               /* slots a read run may span */
#define DISK_GAP_PAGES    16                /* a read bridges gaps this short */
#define RUN_PENDING       INT_MIN
#define IO_PENDING        1                 /* io->result while queued */

struct disk_run {
	size_t first;           /* index of the run's first io */
	unsigned npages;        /* ios first .. first + npages - 1 */
	unsigned span;          /* slots covered, gaps included */
	unsigned iov;           /* first iovec in the ring's iov[] */
	unsigned iovcnt;
	int res;                /* CQE result, RUN_PENDING until it arrives */
};

struct disk_ring {
	pthread_mutex_t lock;
	int ready;              /* ring set up (lazily, under lock) */
	int fixed_file;         /* the tier's fd is registered as file 0 */
	struct io_uring ring;
	struct iovec iov[DISK_IOVS];
	struct disk_run runs[DISK_RING_ENTRIES];
};

struct disk_tier {
	struct swap_tier base;
	int fd;
	int dir_fd;             /* directory holding name, or -1 (O_TMPFILE) */
	char name[NAME_MAX + 1];
	dev_t dev;
	ino_t ino;
	int direct;             /* fd is O_DIRECT */
	int keep;               /* leave the file at close */
	int bounded;            /* max= given */
	int sparse_noted;       /* fallocate unsupported; said so (slots lock) */
	uint64_t limit;         /* slots */
	struct tier_slots slots;
	atomic_uint_fast64_t file_slots;  /* slots the file has room for */
	struct disk_ring *rings;          /* DISK_RINGS of them */
	atomic_uint_fast64_t stores, loads, store_errors, load_errors;
	atomic_uint_fast64_t read_requests, write_requests;   /* runs submitted */
	atomic_uint_fast64_t gap_pages;         /* read only to bridge a gap */
};

struct disk_options {
	char path[PATH_MAX];
	uint64_t max_bytes;     /* 0: none */
	int keep;
	int buffered;
};

static struct disk_tier *to_disk(struct swap_tier *tier)
{
	return (struct disk_tier *)tier;
}

static off_t slot_offset(uint64_t slot)
{
	return (off_t)((slot + 1) * PVM_PAGE_SIZE);
}

static int disk_parse(const char *arg, struct disk_options *o)
{
	char buf[PATH_MAX], *opt, *save = NULL;

	memset(o, 0, sizeof(*o));
	if (!arg || !*arg || *arg == ',') {
		pvm_err("disk tier needs a path: write disk:PATH[,max=SIZE][,keep]"
			"[,buffered], e.g. disk:/var/lib/poolvm/vm1.pages");
		return -EINVAL;
	}
	if (strlen(arg) >= sizeof(buf)) {
		pvm_err("disk tier: path too long in '%s'", arg);
		return -EINVAL;
	}
	strcpy(buf, arg);
	opt = strtok_r(buf, ",", &save);
	strcpy(o->path, opt);
	while ((opt = strtok_r(NULL, ",", &save))) {
		if (strncmp(opt, "max=", 4) == 0) {
			if (pvm_parse_size(opt + 4, &o->max_bytes) ||
			    o->max_bytes < PVM_PAGE_SIZE) {
				pvm_err("disk tier %s: '%s' is not a size of at least "
					"one page; write e.g. max=8G", o->path, opt + 4);
				return -EINVAL;
			}
		} else if (strcmp(opt, "keep") == 0) {
			o->keep = 1;
		} else if (strcmp(opt, "buffered") == 0) {
			o->buffered = 1;
		} else {
			pvm_err("disk tier %s: unknown option '%s'; options are "
				"max=SIZE, keep, buffered", o->path, opt);
			return -EINVAL;
		}
	}
	return 0;
}

/* Read the first page of @fd (not O_DIRECT yet) and check our magic. */
static int disk_has_header(int fd, char *what, size_t len)
{
	char page[PVM_PAGE_SIZE];
	ssize_t got = pread(fd, page, sizeof(page), 0);
	const char *pid;

	if (got < (ssize_t)strlen(DISK_MAGIC) ||
	    memcmp(page, DISK_MAGIC, strlen(DISK_MAGIC)) != 0)
		return 0;
	page[got < (ssize_t)sizeof(page) ? got : (ssize_t)sizeof(page) - 1] = '\0';
	pid = strstr(page, "pid ");
	snprintf(what, len, "%.*s", pid ? (int)strcspn(pid, "\n") : 0,
		 pid ? pid : "");
	return 1;
}

/* PATH exists: take it over only if it is an unlocked leftover tier file. */
static int disk_take_leftover(struct disk_tier *d, const char *path)
{
	struct stat st;
	char what[64];
	int rc;

	d->fd = openat(d->dir_fd, d->name, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (d->fd < 0) {
		rc = -errno;
		pvm_err("disk tier: %s exists and cannot be opened: %s; remove it "
			"or choose another path", path, strerror(errno));
		return rc;
	}
	if (fstat(d->fd, &st) || !S_ISREG(st.st_mode)) {
		pvm_err("disk tier: %s exists and is not a regular file; choose "
			"another path", path);
		return -EEXIST;
	}
	if (flock(d->fd, LOCK_EX | LOCK_NB)) {
		pvm_err("disk tier: %s is in use by another running poolvm tier; "
			"choose another path", path);
		return -EBUSY;
	}
	if (!disk_has_header(d->fd, what, sizeof(what))) {
		pvm_err("disk tier: %s exists and is not a poolvm tier file; poolvm "
			"only overwrites files it created: remove it or choose "
			"another path", path);
		return -EEXIST;
	}
	if (ftruncate(d->fd, 0)) {
		rc = -errno;
		pvm_err("disk tier: cannot truncate leftover %s: %s", path,
			strerror(errno));
		return rc;
	}
	pvm_info("disk tier: reusing %s, left over by an earlier run (%s)",
		 path, what);
	return 0;
}

/* Open or create the file (or an unnamed file when @path is a directory). */
static int disk_open_file(struct disk_tier *d, const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	struct stat st;
	int rc;

	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		d->fd = open(path, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
		if (d->fd < 0) {
			rc = -errno;
			pvm_err("disk tier: cannot create an unnamed file in directory "
				"%s: %s; give a file path instead (disk:%s/NAME)",
				path, strerror(errno), path);
			return rc;
		}
		return 0;
	}
	const char *base = slash ? slash + 1 : path;
	size_t base_len = strlen(base);

	if (base_len == 0 || base_len >= sizeof(d->name)) {
		pvm_err("disk tier: '%s' does not name a file", path);
		return -EINVAL;
	}
	memcpy(d->name, base, base_len + 1);
	if (slash)
		snprintf(dir, sizeof(dir), "%.*s",
			 slash == path ? 1 : (int)(slash - path), path);
	else
		strcpy(dir, ".");
	d->dir_fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (d->dir_fd < 0) {
		rc = -errno;
		pvm_err("disk tier: cannot open directory %s for %s: %s; create it "
			"first", dir, path, strerror(errno));
		return rc;
	}
	d->fd = openat(d->dir_fd, d->name,
		       O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (d->fd >= 0) {
		/* Blocking: someone probing it as a leftover lets go at once. */
		flock(d->fd, LOCK_EX);
	} else if (errno == EEXIST) {
		rc = disk_take_leftover(d, path);
		if (rc) {
			if (d->fd >= 0)
				close(d->fd);
			d->fd = -1;
			close(d->dir_fd);
			d->dir_fd = -1;   /* not ours: never unlink it */
			return rc;
		}
	} else {
		rc = -errno;
		pvm_err("disk tier: cannot create %s: %s; check that the directory "
			"is writable", path, strerror(errno));
		return rc;
	}
	if (fstat(d->fd, &st) == 0) {
		d->dev = st.st_dev;
		d->ino = st.st_ino;
	}
	return 0;
}

/* Switch to O_DIRECT if allowed, then write the header page through the
 * final mode (a filesystem may accept the flag and refuse the I/O). */
static int disk_setup_io(struct disk_tier *d, const char *path, int buffered)
{
	void *page;
	int flags = fcntl(d->fd, F_GETFL);
	int rc = 0;

	if (!buffered && flags >= 0 && fcntl(d->fd, F_SETFL, flags | O_DIRECT) == 0)
		d->direct = 1;
	if (posix_memalign(&page, PVM_PAGE_SIZE, PVM_PAGE_SIZE))
		return -ENOMEM;
	memset(page, 0, PVM_PAGE_SIZE);
	snprintf(page, PVM_PAGE_SIZE, "%spid %ld\n", DISK_MAGIC, (long)getpid());
	for (;;) {
		ssize_t done = pwrite(d->fd, page, PVM_PAGE_SIZE, 0);

		if (done == (ssize_t)PVM_PAGE_SIZE)
			break;
		if (done < 0 && errno == EINTR)
			continue;
		if (done < 0 && errno == EINVAL && d->direct) {
			d->direct = 0;
			fcntl(d->fd, F_SETFL, flags);
			continue;
		}
		rc = done < 0 ? -errno : -EIO;
		pvm_err("disk tier: cannot write the header of %s: %s", path,
			strerror(-rc));
		break;
	}
	free(page);
	if (!rc && !d->direct && !buffered)
		pvm_info("disk tier %s: the filesystem refuses O_DIRECT; using "
			 "buffered I/O (tier pages will also fill the page cache)",
			 path);
	return rc;
}

static int disk_ring_setup(struct disk_tier *d, struct disk_ring *r)
{
	int rc = io_uring_queue_init(DISK_RING_ENTRIES, &r->ring, 0);

	if (rc)
		return rc;
	r->fixed_file = io_uring_register_files(&r->ring, &d->fd, 1) == 0;
	r->ready = 1;
	return 0;
}

/* The ring's release runs asynchronously in the kernel: drop its reference
 * to the file first, so closing the tier really closes the file (its lock,
 * and a filesystem that must be unmounted, are free when close returns). */
static void disk_ring_teardown(struct disk_ring *r)
{
	if (r->ready && r->fixed_file)
		io_uring_unregister_files(&r->ring);
	if (r->ready)
		io_uring_queue_exit(&r->ring);
	r->ready = 0;
	r->fixed_file = 0;
}

static atomic_uint disk_next_hint;
static _Thread_local unsigned disk_ring_hint;

/* Lock a ring for this thread (its own if idle, else any idle one, else
 * wait for its own) and set it up if needed. NULL and *@rc on failure. */
static struct disk_ring *disk_ring_get(struct disk_tier *d, int *rc)
{
	struct disk_ring *r;
	unsigned k;

	if (!disk_ring_hint)
		disk_ring_hint = atomic_fetch_add(&disk_next_hint, 1) + 1;
	for (k = 0; k < DISK_RINGS; k++) {
		r = &d->rings[(disk_ring_hint + k) % DISK_RINGS];
		if (pthread_mutex_trylock(&r->lock) == 0)
			goto locked;
	}
	r = &d->rings[disk_ring_hint % DISK_RINGS];
	pthread_mutex_lock(&r->lock);
locked:
	if (!r->ready) {
		*rc = disk_ring_setup(d, r);
		if (*rc) {
			pthread_mutex_unlock(&r->lock);
			return NULL;
		}
	}
	return r;
}

/* Submit the @nsqe prepared SQEs and wait for all of them. On a failure of
 * the ring itself the runs still RUN_PENDING keep that value, and the ring
 * is torn down (it may hold unsubmitted SQEs) to be set up again later. */
static int disk_ring_run(struct disk_ring *r, unsigned nsqe)
{
	unsigned pending = nsqe, inflight = 0;
	int err = 0;

	while (pending || inflight) {
		if (pending && !err) {
			int ret = io_uring_submit_and_wait(&r->ring, pending + inflight);

			if (ret > 0) {
				pending -= (unsigned)ret;
				inflight += (unsigned)ret;
			} else if (ret != -EINTR && !((ret == -EAGAIN || ret == -EBUSY ||
						       ret == 0) && inflight)) {
				err = ret ? ret : -EIO;
			}
		}
		if (err && !inflight)
			break;
		if (!inflight)
			continue;   /* interrupted before anything was submitted */

		struct io_uring_cqe *cqe;
		unsigned head, seen = 0;
		int ret = io_uring_wait_cqe(&r->ring, &cqe);

		if (ret == -EINTR)
			continue;
		if (ret) {
			err = ret;
			break;   /* ring unusable: torn down below */
		}
		io_uring_for_each_cqe(&r->ring, head, cqe) {
			struct disk_run *run = io_uring_cqe_get_data(cqe);

			run->res = cqe->res;
			seen++;
		}
		io_uring_cq_advance(&r->ring, seen);
		inflight -= seen;
	}
	if (err)
		disk_ring_teardown(r);
	return err;
}

/* Where bridged gaps are read to; never read back. Aligned for O_DIRECT. */
static char disk_gap_buf[DISK_GAP_PAGES * PVM_PAGE_SIZE]
	__attribute__((aligned(PVM_PAGE_SIZE)));

/* Slots between @prev and @next that a run joining them must read over,
 * or -1 when it may not join them. */
static long run_gap(const struct swap_io *prev, const struct swap_io *next, int write)
{
	if (next->slot == prev->slot + 1)
		return 0;
	if (write || next->slot <= prev->slot ||
	    next->slot - prev->slot - 1 > DISK_GAP_PAGES)
		return -1;
	return (long)(next->slot - prev->slot - 1);
}

/* Does @buf continue the buffer that @iov describes? */
static int iov_continues(const struct iovec *iov, const void *buf)
{
	return (const char *)iov->iov_base + iov->iov_len == (const char *)buf;
}

/* Queue runs from ios[@start] on until the ring or its iovecs are full,
 * run them, and set the results of their pages. Returns the next index. */
static size_t disk_chunk(struct disk_tier *d, struct disk_ring *r,
			 struct swap_io *ios, size_t n, size_t start, int write)
{
	unsigned nruns = 0, niov = 0, p;
	size_t i = start;
	int err;

	while (i < n && nruns < DISK_RING_ENTRIES && niov < DISK_IOVS) {
		struct disk_run *run = &r->runs[nruns];
		struct io_uring_sqe *sqe;
		struct iovec *iov;

		if (ios[i].result != IO_PENDING) {
			i++;
			continue;
		}
		*run = (struct disk_run){ .first = i, .iov = niov, .res = RUN_PENDING };
		for (;;) {
			if (run->iovcnt && iov_continues(&r->iov[niov - 1], ios[i].buf)) {
				r->iov[niov - 1].iov_len += PVM_PAGE_SIZE;
			} else {
				r->iov[niov++] = (struct iovec){ ios[i].buf, PVM_PAGE_SIZE };
				run->iovcnt++;
			}
			run->npages++;
			run->span++;
			i++;
			if (i == n || ios[i].result != IO_PENDING || run->npages == DISK_RUN_PAGES)
				break;
			long gap = run_gap(&ios[i - 1], &ios[i], write);

			if (gap < 0 || run->span + (unsigned)gap + 1 > DISK_RUN_SPAN)
				break;
			if (gap == 0 && niov == DISK_IOVS &&
			    !iov_continues(&r->iov[niov - 1], ios[i].buf))
				break;
			if (gap > 0) {
				if (niov + 2 > DISK_IOVS)
					break;
				r->iov[niov++] = (struct iovec){
					disk_gap_buf, (size_t)gap * PVM_PAGE_SIZE };
				run->iovcnt++;
				run->span += (unsigned)gap;
				atomic_fetch_add(&d->gap_pages, (uint64_t)gap);
			}
		}

		sqe = io_uring_get_sqe(&r->ring);   /* never NULL: ring drained */
		iov = &r->iov[run->iov];
		int fd = r->fixed_file ? 0 : d->fd;
		off_t off = slot_offset(ios[run->first].slot);

		if (run->iovcnt == 1 && write)
			io_uring_prep_write(sqe, fd, iov->iov_base,
					    (unsigned)iov->iov_len, (uint64_t)off);
		else if (run->iovcnt == 1)
			io_uring_prep_read(sqe, fd, iov->iov_base,
					   (unsigned)iov->iov_len, (uint64_t)off);
		else if (write)
			io_uring_prep_writev(sqe, fd, iov, run->iovcnt, (uint64_t)off);
		else
			io_uring_prep_readv(sqe, fd, iov, run->iovcnt, (uint64_t)off);
		if (r->fixed_file)
			sqe->flags |= IOSQE_FIXED_FILE;
		io_uring_sqe_set_data(sqe, run);
		nruns++;
	}
	if (!nruns)
		return i;
	atomic_fetch_add(write ? &d->write_requests : &d->read_requests, nruns);
	err = disk_ring_run(r, nruns);
	for (p = 0; p < nruns; p++) {
		struct disk_run *run = &r->runs[p];
		uint64_t full = run->res >= 0 ? (uint64_t)run->res / PVM_PAGE_SIZE : 0;
		unsigned k;

		for (k = 0; k < run->npages; k++) {
			int *res = &ios[run->first + k].result;
			/* its place in the run, bridged gaps included */
			uint64_t at = ios[run->first + k].slot - ios[run->first].slot;

			if (run->res == RUN_PENDING)
				*res = err ? err : -EIO;
			else if (run->res < 0)
				*res = run->res;
			else
				*res = at < full ? 0 : -EIO;   /* short transfer */
		}
	}
	return i;
}

static int disk_batch(struct swap_tier *tier, struct swap_io *ios, size_t n,
		      int write)
{
	struct disk_tier *d = to_disk(tier);
	uint64_t file_slots = atomic_load(&d->file_slots), ok = 0, bad = 0;
	struct disk_ring *r;
	int rc = 0, first = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		int misaligned = d->direct &&
				 ((uintptr_t)ios[i].buf & (PVM_PAGE_SIZE - 1));

		ios[i].result = ios[i].slot >= file_slots || !ios[i].buf ||
				misaligned ? -EINVAL : IO_PENDING;
	}
	r = disk_ring_get(d, &rc);
	for (i = 0; i < n;) {
		if (r)
			i = disk_chunk(d, r, ios, n, i, write);
		else if (ios[i].result == IO_PENDING)
			ios[i++].result = rc;
		else
			i++;
	}
	if (r)
		pthread_mutex_unlock(&r->lock);
	for (i = 0; i < n; i++) {
		if (ios[i].result == 0) {
			ok++;
			continue;
		}
		bad++;
		if (!first)
			first = ios[i].result;
	}
	atomic_fetch_add(write ? &d->stores : &d->loads, ok);
	atomic_fetch_add(write ? &d->store_errors : &d->load_errors, bad);
	return first;
}

static int disk_store(struct swap_tier *tier, struct swap_io *ios, size_t n)
{
	return disk_batch(tier, ios, n, 1);
}

static int disk_load(struct swap_tier *tier, struct swap_io *ios, size_t n)
{
	return disk_batch(tier, ios, n, 0);
}

/* Give the file room for slots [from, to). */
static int disk_extend(struct disk_tier *d, uint64_t from, uint64_t to)
{
	off_t off = slot_offset(from), len = slot_offset(to) - off;

	while (fallocate(d->fd, 0, off, len)) {
		if (errno == EINTR)
			continue;
		if (errno == ENOSPC || errno == EDQUOT || errno == EFBIG)
			return -ENOSPC;
		if (errno != EOPNOTSUPP)
			return -errno;
		/* No preallocation here: a sparse file, full disks show late. */
		if (!d->sparse_noted)
			pvm_info("disk tier %s: the filesystem cannot preallocate; a "
				 "full disk will show as store errors", d->base.spec);
		d->sparse_noted = 1;
		if (ftruncate(d->fd, slot_offset(to)))
			return errno == EFBIG ? -ENOSPC : -errno;
		return 0;
	}
	return 0;
}

/* tier_slots grow callback: runs under the slot allocator's lock. */
static int disk_grow(void *ctx, uint64_t new_high)
{
	struct disk_tier *d = ctx;
	uint64_t have = atomic_load(&d->file_slots), target;
	int rc;

	if (new_high <= have)
		return 0;
	target = have + PVM_MAX(new_high - have, DISK_GROW_SLOTS);
	target = PVM_MIN(target, d->limit);
	rc = disk_extend(d, have, target);
	if (rc == -ENOSPC && target > new_high) {
		target = new_high;   /* the disk may still hold just what we need */
		rc = disk_extend(d, have, target);
	}
	if (!rc)
		atomic_store(&d->file_slots, target);
	return rc;
}

static int disk_alloc(struct swap_tier *tier, uint64_t *slots, size_t n)
{
	struct disk_tier *d = to_disk(tier);

	return tier_slots_alloc(&d->slots, slots, n, disk_grow, d);
}

static void disk_release(struct swap_tier *tier, const uint64_t *slots, size_t n)
{
	tier_slots_release(&to_disk(tier)->slots, slots, n);
}

static void disk_stats(struct swap_tier *tier, struct swap_tier_stats *out)
{
	struct disk_tier *d = to_disk(tier);

	out->slots_total = d->bounded ? d->limit : UINT64_MAX;
	out->slots_used = tier_slots_used(&d->slots);
	out->stores = atomic_load(&d->stores);
	out->loads = atomic_load(&d->loads);
	out->store_errors = atomic_load(&d->store_errors);
	out->load_errors = atomic_load(&d->load_errors);
}

/* Requests against pages show how well runs merged: a scan's prefetch
 * batch is one read when its pages sit in consecutive slots. */
static void disk_stats_json(struct swap_tier *tier, struct json_object *obj)
{
	struct disk_tier *d = to_disk(tier);

	json_object_object_add(obj, "gap_pages",
			       json_object_new_uint64(atomic_load(&d->gap_pages)));
	json_object_object_add(obj, "read_requests",
			       json_object_new_uint64(atomic_load(&d->read_requests)));
	json_object_object_add(obj, "write_requests",
			       json_object_new_uint64(atomic_load(&d->write_requests)));
}

/* Remove the file we created, if the name still refers to it. */
static void disk_remove_file(struct disk_tier *d)
{
	struct stat st;

	if (d->dir_fd < 0 || d->keep)
		return;
	if (fstatat(d->dir_fd, d->name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    st.st_dev == d->dev && st.st_ino == d->ino &&
	    unlinkat(d->dir_fd, d->name, 0) == 0)
		return;
	/* Renamed away or not removable: at least give the space back. */
	if (ftruncate(d->fd, 0))
		pvm_err("disk tier %s: cannot remove or truncate the tier file: %s",
			d->base.spec, strerror(errno));
}

static void disk_free(struct disk_tier *d)
{
	unsigned k;

	if (d->rings) {
		for (k = 0; k < DISK_RINGS; k++) {
			disk_ring_teardown(&d->rings[k]);
			pthread_mutex_destroy(&d->rings[k].lock);
		}
		free(d->rings);
	}
	if (d->fd >= 0) {
		disk_remove_file(d);
		flock(d->fd, LOCK_UN);
		close(d->fd);
	}
	if (d->dir_fd >= 0)
		close(d->dir_fd);
	tier_slots_destroy(&d->slots);
	free(d);
}

static int disk_open(const char *arg, struct swap_tier **out)
{
	struct disk_options o;
	struct disk_tier *d;
	unsigned k;
	int rc;

	rc = disk_parse(arg, &o);
	if (rc)
		return rc;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->fd = -1;
	d->dir_fd = -1;
	d->keep = o.keep;
	d->bounded = o.max_bytes != 0;
	d->limit = d->bounded ? PVM_MIN(o.max_bytes / PVM_PAGE_SIZE, DISK_MAX_SLOTS)
			      : DISK_MAX_SLOTS;
	snprintf(d->base.spec, sizeof(d->base.spec), "disk:%s", arg);
	d->rings = calloc(DISK_RINGS, sizeof(*d->rings));
	if (!d->rings) {
		free(d);
		return -ENOMEM;
	}
	for (k = 0; k < DISK_RINGS; k++)
		pthread_mutex_init(&d->rings[k].lock, NULL);
	rc = tier_slots_init(&d->slots, d->limit, 0);
	if (rc)
		goto err;
	rc = disk_open_file(d, o.path);
	if (rc)
		goto err;
	rc = disk_setup_io(d, o.path, o.buffered);
	if (rc)
		goto err;
	/* Set up one ring now, so an io_uring that is unavailable (disabled
	 * by sysctl, seccomp) is reported at open, not at the first eviction. */
	rc = disk_ring_setup(d, &d->rings[0]);
	if (rc) {
		pvm_err("disk tier %s: cannot set up an io_uring: %s; check "
			"kernel.io_uring_disabled and seccomp filters", o.path,
			strerror(-rc));
		goto err;
	}
	d->base.ops = &swap_tier_disk_ops;
	*out = &d->base;
	return 0;

err:
	d->keep = 0;   /* a tier that never opened leaves nothing behind */
	disk_free(d);
	return rc;
}

static void disk_close(struct swap_tier *tier)
{
	disk_free(to_disk(tier));
}

const struct swap_tier_ops swap_tier_disk_ops = {
	.size = sizeof(struct swap_tier_ops),
	.name = "disk",
	.help = "disk:PATH[,max=SIZE][,keep][,buffered]  page slots in a scratch "
		"file (or an unnamed file if PATH is a directory), via io_uring",
	.open = disk_open,
	.close = disk_close,
	.alloc = disk_alloc,
	.extent_pages = 512,
	.release = disk_release,
	.store = disk_store,
	.load = disk_load,
	.stats = disk_stats,
	.stats_json = disk_stats_json,
};
