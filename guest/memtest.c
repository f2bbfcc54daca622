/* guest/memtest.c — pvm-memtest: a self-verifying memory workload for guests.
 *
 * Concepts: the buffer is an anonymous mapping split into pages. Every page
 * has a version (how many times it has been rewritten). The content of a page
 * is a pure function of (seed, page index, version, word index), so any word
 * can be checked at any time without keeping a second copy of the data:
 *
 *     key(page, version) = mix(seed ^ mix(version << 32 | page))
 *     word[w]            = key ^ (w + 1) * GOLDEN
 *
 * A page that comes back zero-filled, stale (an older version), from another
 * page, or with any flipped byte is caught by the next verify of that page.
 *
 * Modes:
 *   seq      write every word in order, read every word back (x --passes)
 *   random   fill, OPS single-page verify+rewrite at uniformly random pages,
 *            final full verify
 *   hotcold  as random, but HOT% of the accesses go to the first HOTSIZE% of
 *            the pages and the rest uniformly to the other pages
 *
 * The program uses only its own memory: no files, no clock beyond
 * CLOCK_MONOTONIC for the timing it reports, and a fixed PRNG, so a given
 * seed always produces the same accesses and the same checksum.
 *
 * Output (stdout): an optional start line, a first_mismatch line when
 * something failed, and exactly one final line carrying verdict=PASS|FAIL.
 * Exit status: 0 PASS, 1 FAIL, 2 usage error or the test could not run.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MEMTEST_EXIT_PASS  0
#define MEMTEST_EXIT_FAIL  1
#define MEMTEST_EXIT_USAGE 2

#define MEMTEST_GOLDEN UINT64_C(0x9e3779b97f4a7c15)

enum memtest_mode {
	MEMTEST_MODE_SEQ,
	MEMTEST_MODE_RANDOM,
	MEMTEST_MODE_HOTCOLD,
};

static const char *const memtest_mode_names[] = {
	[MEMTEST_MODE_SEQ] = "seq",
	[MEMTEST_MODE_RANDOM] = "random",
	[MEMTEST_MODE_HOTCOLD] = "hotcold",
};

struct memtest_config {
	enum memtest_mode mode;
	uint64_t size_mib;
	uint64_t ops;           /* 0 until chosen: then the default applies */
	bool ops_given;
	uint64_t seed;
	double hot_pct;         /* share of accesses that go to the hot region */
	double hot_size_pct;    /* share of the pages that form the hot region */
	unsigned passes;        /* seq only */
	bool quiet;
	bool progress;
	bool no_thp;
	uint64_t inject;        /* self-test: words to corrupt after the fill */
};

struct memtest_mismatch {
	bool seen;
	const char *phase;
	uint64_t page;
	uint64_t word;
	uint64_t addr;
	uint64_t expected;
	uint64_t got;
};

struct memtest_run {
	const struct memtest_config *config;
	uint64_t *buffer;
	size_t page_size;
	size_t words_per_page;
	uint64_t pages;
	uint32_t *versions;     /* random and hotcold: one per page */
	uint64_t hot_pages;     /* hotcold: pages [0, hot_pages) are hot */
	uint64_t rng_state;
	uint64_t checksum;      /* sum of every word read back */
	uint64_t mismatches;    /* words that did not hold what they should */
	uint64_t words_checked;
	struct memtest_mismatch first;
	uint64_t fill_ns;
	uint64_t ops_ns;
	uint64_t verify_ns;
};

/* splitmix64's finaliser: a cheap, well-mixing 64-bit bijection. */
static inline uint64_t memtest_mix(uint64_t x)
{
	x ^= x >> 30;
	x *= UINT64_C(0xbf58476d1ce4e5b9);
	x ^= x >> 27;
	x *= UINT64_C(0x94d049bb133111eb);
	x ^= x >> 31;
	return x;
}

static inline uint64_t memtest_rng_next(uint64_t *state)
{
	*state += MEMTEST_GOLDEN;
	return memtest_mix(*state);
}

/* A uniform integer in [0, bound) without division (bound > 0). */
static inline uint64_t memtest_rng_below(uint64_t *state, uint64_t bound)
{
	return (uint64_t)(((unsigned __int128)memtest_rng_next(state) * bound) >> 64);
}

/* A uniform double in [0, 1). */
static inline double memtest_rng_unit(uint64_t *state)
{
	return (double)(memtest_rng_next(state) >> 11) * 0x1.0p-53;
}

static inline uint64_t memtest_page_key(uint64_t seed, uint64_t page,
					uint32_t version)
{
	return memtest_mix(seed ^ memtest_mix(((uint64_t)version << 32) ^ page));
}

static uint64_t memtest_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec;
}

static inline uint64_t *memtest_page_words(const struct memtest_run *run,
					   uint64_t page)
{
	return run->buffer + page * run->words_per_page;
}

static inline uint32_t memtest_version(const struct memtest_run *run,
				       uint64_t page, uint32_t seq_version)
{
	return run->versions ? run->versions[page] : seq_version;
}

static void memtest_write_page(struct memtest_run *run, uint64_t page,
			       uint32_t version)
{
	uint64_t *words = memtest_page_words(run, page);
	uint64_t key = memtest_page_key(run->config->seed, page, version);
	uint64_t step = 0;

	for (size_t w = 0; w < run->words_per_page; w++) {
		step += MEMTEST_GOLDEN;
		words[w] = key ^ step;
	}
}

/* Slow path, taken only when a page failed: count and record bad words. */
static void memtest_record_page_mismatch(struct memtest_run *run, uint64_t page,
					 uint64_t key, const char *phase)
{
	const uint64_t *words = memtest_page_words(run, page);
	uint64_t step = 0;

	for (size_t w = 0; w < run->words_per_page; w++) {
		uint64_t got = words[w];
		uint64_t expected;

		step += MEMTEST_GOLDEN;
		expected = key ^ step;
		if (got == expected)
			continue;
		run->mismatches++;
		if (run->first.seen)
			continue;
		run->first = (struct memtest_mismatch){
			.seen = true,
			.phase = phase,
			.page = page,
			.word = w,
			.addr = (uint64_t)(uintptr_t)&words[w],
			.expected = expected,
			.got = got,
		};
	}
}

/* Check every word of @page against @version; returns true when all match. */
static bool memtest_verify_page(struct memtest_run *run, uint64_t page,
				uint32_t version, const char *phase)
{
	const uint64_t *words = memtest_page_words(run, page);
	uint64_t key = memtest_page_key(run->config->seed, page, version);
	uint64_t step = 0;
	uint64_t diff = 0;
	uint64_t sum = 0;

	for (size_t w = 0; w < run->words_per_page; w++) {
		uint64_t got = words[w];

		step += MEMTEST_GOLDEN;
		diff |= got ^ (key ^ step);
		sum += got;
	}
	run->checksum += sum;
	run->words_checked += run->words_per_page;
	if (diff == 0)
		return true;
	memtest_record_page_mismatch(run, page, key, phase);
	return false;
}

static void memtest_progress(const struct memtest_run *run, const char *phase,
			     uint64_t done, uint64_t total)
{
	uint64_t tenths = done * 10 / total;

	if (!run->config->progress || tenths == (done - 1) * 10 / total)
		return;
	fprintf(stderr, "pvm-memtest: progress phase=%s %" PRIu64 "%%\n", phase,
		tenths * 10);
}

static void memtest_fill(struct memtest_run *run, uint32_t seq_version)
{
	uint64_t start = memtest_now_ns();

	for (uint64_t p = 0; p < run->pages; p++) {
		memtest_write_page(run, p, memtest_version(run, p, seq_version));
		memtest_progress(run, "fill", p + 1, run->pages);
	}
	run->fill_ns += memtest_now_ns() - start;
}

static void memtest_verify_all(struct memtest_run *run, uint32_t seq_version,
			       const char *phase)
{
	uint64_t start = memtest_now_ns();

	for (uint64_t p = 0; p < run->pages; p++) {
		memtest_verify_page(run, p, memtest_version(run, p, seq_version),
				    phase);
		memtest_progress(run, phase, p + 1, run->pages);
	}
	run->verify_ns += memtest_now_ns() - start;
}

/* One random access: check the page's current content, write the next version. */
static void memtest_touch_page(struct memtest_run *run, uint64_t page)
{
	memtest_verify_page(run, page, run->versions[page], "access");
	run->versions[page]++;
	memtest_write_page(run, page, run->versions[page]);
}

static uint64_t memtest_pick_page(struct memtest_run *run)
{
	uint64_t cold_pages = run->pages - run->hot_pages;

	if (run->config->mode == MEMTEST_MODE_RANDOM)
		return memtest_rng_below(&run->rng_state, run->pages);
	if (cold_pages == 0 ||
	    memtest_rng_unit(&run->rng_state) * 100.0 < run->config->hot_pct)
		return memtest_rng_below(&run->rng_state, run->hot_pages);
	return run->hot_pages + memtest_rng_below(&run->rng_state, cold_pages);
}

/*
 * Self-test of the checker: flip one bit in each of @count words chosen from
 * their own PRNG stream, so the access order stays that of the seed. Two
 * picks of the same bit of the same word cancel, so up to @count words fail.
 */
static void memtest_inject_errors(struct memtest_run *run, uint64_t count)
{
	uint64_t state = memtest_mix(run->config->seed ^ UINT64_C(0x696e6a656374));

	for (uint64_t i = 0; i < count; i++) {
		uint64_t page = memtest_rng_below(&state, run->pages);
		uint64_t word = memtest_rng_below(&state, run->words_per_page);

		memtest_page_words(run, page)[word] ^= UINT64_C(1) << (i % 64);
	}
}

static void memtest_run_seq(struct memtest_run *run)
{
	for (unsigned pass = 0; pass < run->config->passes; pass++) {
		memtest_fill(run, pass);
		if (pass == 0)
			memtest_inject_errors(run, run->config->inject);
		memtest_verify_all(run, pass, "verify");
	}
}

static void memtest_run_accesses(struct memtest_run *run)
{
	uint64_t start;

	memtest_fill(run, 0);
	memtest_inject_errors(run, run->config->inject);
	start = memtest_now_ns();
	for (uint64_t i = 0; i < run->config->ops; i++) {
		memtest_touch_page(run, memtest_pick_page(run));
		memtest_progress(run, "access", i + 1, run->config->ops);
	}
	run->ops_ns += memtest_now_ns() - start;
	memtest_verify_all(run, 0, "final");
}

static void memtest_usage(FILE *out)
{
	fprintf(out,
		"usage: pvm-memtest MODE [options]\n"
		"\n"
		"A memory workload that verifies every word it ever wrote.\n"
		"\n"
		"modes:\n"
		"  seq       write a pattern over the buffer in order, read it back\n"
		"  random    fill, then OPS verify+rewrite accesses to uniformly random\n"
		"            pages, then verify everything\n"
		"  hotcold   fill, then OPS accesses of which HOT%% go to a hot region\n"
		"            (the first HOTSIZE%% of the pages), then verify everything\n"
		"\n"
		"options:\n"
		"  --size MIB       buffer size in MiB (default 300)\n"
		"  --ops N          random/hotcold page accesses (default: 2 x pages)\n"
		"  --seed S         pattern and access-order seed (default 1)\n"
		"  --passes N       seq: repeat write+verify N times (default 1)\n"
		"  --hot-frac PCT   hotcold: percent of accesses to the hot region\n"
		"                   (default 90)\n"
		"  --hot-size PCT   hotcold: percent of the pages that are hot\n"
		"                   (default 10)\n"
		"  --no-thp         madvise(MADV_NOHUGEPAGE) the buffer\n"
		"  --inject-errors N  self-test: flip a bit in N words after the\n"
		"                   fill; the run must then FAIL\n"
		"  --progress       progress lines on stderr every 10%% of a phase\n"
		"  --quiet          no start line; only mismatch and verdict lines\n"
		"  --help           this text\n"
		"\n"
		"The last stdout line is the verdict, e.g.\n"
		"  pvm-memtest: mode=seq size_mib=300 pages=76800 ops=0 ... verdict=PASS\n"
		"exit status: 0 PASS, 1 FAIL (mismatches > 0), 2 usage error or the\n"
		"test could not run.\n");
}

static int memtest_parse_u64(const char *name, const char *text, uint64_t min,
			     uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long value;

	errno = 0;
	value = strtoull(text, &end, 0);
	if (errno != 0 || end == text || *end != '\0' || text[0] == '-' ||
	    value < min || value > max) {
		fprintf(stderr,
			"pvm-memtest: --%s '%s' is not a number in [%" PRIu64
			", %" PRIu64 "]\n", name, text, min, max);
		return -EINVAL;
	}
	*out = value;
	return 0;
}

static int memtest_parse_pct(const char *name, const char *text, double min,
			     double *out)
{
	char *end;
	double value;

	errno = 0;
	value = strtod(text, &end);
	if (errno != 0 || end == text || *end != '\0' || !(value >= min) ||
	    !(value <= 100.0)) {
		fprintf(stderr,
			"pvm-memtest: --%s '%s' is not a percentage in [%g, 100]\n",
			name, text, min);
		return -EINVAL;
	}
	*out = value;
	return 0;
}

static int memtest_parse_mode(const char *text, enum memtest_mode *out)
{
	for (size_t i = 0; i < sizeof(memtest_mode_names) / sizeof(memtest_mode_names[0]); i++) {
		if (strcmp(text, memtest_mode_names[i]) == 0) {
			*out = (enum memtest_mode)i;
			return 0;
		}
	}
	fprintf(stderr, "pvm-memtest: unknown mode '%s' (seq, random, hotcold)\n",
		text);
	return -EINVAL;
}

enum {
	MEMTEST_OPT_HELP = 'h',
	MEMTEST_OPT_SIZE = 256,
	MEMTEST_OPT_OPS,
	MEMTEST_OPT_SEED,
	MEMTEST_OPT_PASSES,
	MEMTEST_OPT_HOT_FRAC,
	MEMTEST_OPT_HOT_SIZE,
	MEMTEST_OPT_NO_THP,
	MEMTEST_OPT_INJECT,
	MEMTEST_OPT_PROGRESS,
	MEMTEST_OPT_QUIET,
};

/* Returns 0, 1 when --help was handled, or -EINVAL after saying why. */
static int memtest_parse_args(int argc, char **argv, struct memtest_config *cfg)
{
	static const struct option options[] = {
		{ "size", required_argument, NULL, MEMTEST_OPT_SIZE },
		{ "ops", required_argument, NULL, MEMTEST_OPT_OPS },
		{ "seed", required_argument, NULL, MEMTEST_OPT_SEED },
		{ "passes", required_argument, NULL, MEMTEST_OPT_PASSES },
		{ "hot-frac", required_argument, NULL, MEMTEST_OPT_HOT_FRAC },
		{ "hot-size", required_argument, NULL, MEMTEST_OPT_HOT_SIZE },
		{ "no-thp", no_argument, NULL, MEMTEST_OPT_NO_THP },
		{ "inject-errors", required_argument, NULL, MEMTEST_OPT_INJECT },
		{ "progress", no_argument, NULL, MEMTEST_OPT_PROGRESS },
		{ "quiet", no_argument, NULL, MEMTEST_OPT_QUIET },
		{ "help", no_argument, NULL, MEMTEST_OPT_HELP },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t value;
	int opt;

	*cfg = (struct memtest_config){
		.mode = MEMTEST_MODE_SEQ,
		.size_mib = 300,
		.seed = 1,
		.hot_pct = 90.0,
		.hot_size_pct = 10.0,
		.passes = 1,
	};

	while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		int err = 0;

		switch (opt) {
		case MEMTEST_OPT_SIZE:
			/* 1 MiB .. 1 TiB keeps every index well inside 64 bits. */
			err = memtest_parse_u64("size", optarg, 1, UINT64_C(1) << 20,
						&cfg->size_mib);
			break;
		case MEMTEST_OPT_OPS:
			err = memtest_parse_u64("ops", optarg, 0, UINT64_MAX, &cfg->ops);
			cfg->ops_given = true;
			break;
		case MEMTEST_OPT_SEED:
			err = memtest_parse_u64("seed", optarg, 0, UINT64_MAX,
						&cfg->seed);
			break;
		case MEMTEST_OPT_PASSES:
			err = memtest_parse_u64("passes", optarg, 1, UINT32_MAX, &value);
			cfg->passes = (unsigned)value;
			break;
		case MEMTEST_OPT_HOT_FRAC:
			err = memtest_parse_pct("hot-frac", optarg, 0.0, &cfg->hot_pct);
			break;
		case MEMTEST_OPT_HOT_SIZE:
			err = memtest_parse_pct("hot-size", optarg, 0.0001,
						&cfg->hot_size_pct);
			break;
		case MEMTEST_OPT_NO_THP:
			cfg->no_thp = true;
			break;
		case MEMTEST_OPT_INJECT:
			err = memtest_parse_u64("inject-errors", optarg, 0, UINT32_MAX,
						&cfg->inject);
			break;
		case MEMTEST_OPT_PROGRESS:
			cfg->progress = true;
			break;
		case MEMTEST_OPT_QUIET:
			cfg->quiet = true;
			break;
		case MEMTEST_OPT_HELP:
			memtest_usage(stdout);
			return 1;
		default:
			memtest_usage(stderr);
			return -EINVAL;
		}
		if (err)
			return err;
	}

	if (optind != argc - 1) {
		fprintf(stderr, "pvm-memtest: expected exactly one MODE argument\n");
		memtest_usage(stderr);
		return -EINVAL;
	}
	if (memtest_parse_mode(argv[optind], &cfg->mode))
		return -EINVAL;
	if (cfg->passes != 1 && cfg->mode != MEMTEST_MODE_SEQ) {
		fprintf(stderr, "pvm-memtest: --passes applies to seq only\n");
		return -EINVAL;
	}
	if (cfg->ops_given && cfg->mode == MEMTEST_MODE_SEQ) {
		fprintf(stderr, "pvm-memtest: --ops applies to random and hotcold only\n");
		return -EINVAL;
	}
	return 0;
}

/* Map the buffer and size the per-page state; returns 0 or a negative errno. */
static int memtest_setup(struct memtest_run *run, const struct memtest_config *cfg)
{
	long page_size = sysconf(_SC_PAGESIZE);
	size_t bytes;

	if (page_size <= 0 || page_size % (long)sizeof(uint64_t) != 0)
		page_size = 4096;
	bytes = (size_t)cfg->size_mib << 20;

	*run = (struct memtest_run){
		.config = cfg,
		.page_size = (size_t)page_size,
		.words_per_page = (size_t)page_size / sizeof(uint64_t),
		.pages = bytes / (size_t)page_size,
		.rng_state = memtest_mix(cfg->seed ^ UINT64_C(0x5851f42d4c957f2d)),
	};

	run->buffer = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (run->buffer == MAP_FAILED) {
		int err = errno;

		run->buffer = NULL;
		fprintf(stderr, "pvm-memtest: cannot map %" PRIu64 " MiB: %s "
			"(give the guest more memory or use a smaller --size)\n",
			cfg->size_mib, strerror(err));
		return -err;
	}
	if (cfg->no_thp && madvise(run->buffer, bytes, MADV_NOHUGEPAGE) != 0)
		fprintf(stderr, "pvm-memtest: madvise(MADV_NOHUGEPAGE): %s "
			"(continuing)\n", strerror(errno));

	if (cfg->mode == MEMTEST_MODE_SEQ)
		return 0;

	run->versions = calloc(run->pages, sizeof(*run->versions));
	if (!run->versions) {
		fprintf(stderr, "pvm-memtest: cannot allocate %" PRIu64
			" page versions\n", run->pages);
		munmap(run->buffer, bytes);
		run->buffer = NULL;
		return -ENOMEM;
	}
	if (cfg->mode == MEMTEST_MODE_HOTCOLD) {
		double hot = (double)run->pages * cfg->hot_size_pct / 100.0 + 0.5;

		run->hot_pages = (uint64_t)hot;
		if (run->hot_pages == 0)
			run->hot_pages = 1;
		if (run->hot_pages > run->pages)
			run->hot_pages = run->pages;
	}
	return 0;
}

static void memtest_teardown(struct memtest_run *run)
{
	if (run->buffer)
		munmap(run->buffer, run->pages * run->page_size);
	free(run->versions);
}

/*
 * Two accesses per page: with all memory local under TCG, random and hotcold
 * then take about as long as seq (the fill's first touches dominate: an
 * access costs ~2.5 us, a first touch several times more).
 */
static uint64_t memtest_default_ops(enum memtest_mode mode, uint64_t pages)
{
	return mode == MEMTEST_MODE_SEQ ? 0 : 2 * pages;
}

static uint64_t memtest_ms(uint64_t ns)
{
	return ns / UINT64_C(1000000);
}

static void memtest_report(const struct memtest_run *run, uint64_t elapsed_ns)
{
	const struct memtest_config *cfg = run->config;
	bool pass = run->mismatches == 0;

	if (run->first.seen)
		printf("pvm-memtest: first_mismatch phase=%s page=%" PRIu64
		       " word=%" PRIu64 " offset=0x%" PRIx64 " addr=0x%" PRIx64
		       " expected=0x%016" PRIx64 " got=0x%016" PRIx64 "\n",
		       run->first.phase, run->first.page, run->first.word,
		       run->first.addr - (uint64_t)(uintptr_t)run->buffer,
		       run->first.addr, run->first.expected, run->first.got);

	printf("pvm-memtest: mode=%s size_mib=%" PRIu64 " pages=%" PRIu64
	       " ops=%" PRIu64 " passes=%u", memtest_mode_names[cfg->mode],
	       cfg->size_mib, run->pages, cfg->ops, cfg->passes);
	if (cfg->mode == MEMTEST_MODE_HOTCOLD)
		printf(" hot_frac=%g hot_size=%g hot_pages=%" PRIu64, cfg->hot_pct,
		       cfg->hot_size_pct, run->hot_pages);
	printf(" seed=%" PRIu64 " words_checked=%" PRIu64
	       " checksum=0x%016" PRIx64 " mismatches=%" PRIu64
	       " fill_ms=%" PRIu64 " ops_ms=%" PRIu64 " verify_ms=%" PRIu64
	       " elapsed_ms=%" PRIu64 " verdict=%s\n",
	       cfg->seed, run->words_checked, run->checksum, run->mismatches,
	       memtest_ms(run->fill_ns), memtest_ms(run->ops_ns),
	       memtest_ms(run->verify_ns), memtest_ms(elapsed_ns),
	       pass ? "PASS" : "FAIL");
	fflush(stdout);
}

int main(int argc, char **argv)
{
	struct memtest_config cfg;
	struct memtest_run run;
	uint64_t start;
	int err;

	err = memtest_parse_args(argc, argv, &cfg);
	if (err > 0)
		return MEMTEST_EXIT_PASS;
	if (err < 0)
		return MEMTEST_EXIT_USAGE;

	if (memtest_setup(&run, &cfg))
		return MEMTEST_EXIT_USAGE;
	if (!cfg.ops_given)
		cfg.ops = memtest_default_ops(cfg.mode, run.pages);

	if (!cfg.quiet) {
		printf("pvm-memtest: start mode=%s size_mib=%" PRIu64 " pages=%" PRIu64
		       " ops=%" PRIu64 " seed=%" PRIu64 "\n",
		       memtest_mode_names[cfg.mode], cfg.size_mib, run.pages, cfg.ops,
		       cfg.seed);
		fflush(stdout);
	}

	start = memtest_now_ns();
	if (cfg.mode == MEMTEST_MODE_SEQ)
		memtest_run_seq(&run);
	else
		memtest_run_accesses(&run);
	memtest_report(&run, memtest_now_ns() - start);

	err = run.mismatches == 0 ? MEMTEST_EXIT_PASS : MEMTEST_EXIT_FAIL;
	memtest_teardown(&run);
	return err;
}
