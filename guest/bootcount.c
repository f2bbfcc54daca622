/* guest/bootcount.c — pvm-bootcount: count guest boots in CMOS RAM.
 *
 * The PC's MC146818 RTC carries 128 bytes of battery-backed RAM behind the
 * index/data port pair 0x70/0x71. QEMU keeps that RAM across a system reset
 * (only a new QEMU process starts it from zero), so a byte there survives
 * `reboot -f` and tells the second boot that it is the second one.
 *
 * Byte choice: QEMU's pc machine and SeaBIOS use 0x00-0x0f (clock, status,
 * shutdown code), 0x10-0x3d (equipment, memory sizes, disk geometry, boot
 * order, century) and 0x5b-0x5f (memory above 4 GiB, CPU count). 0x7e is
 * used by neither, so the counter lives there (one byte: it wraps at 255).
 *
 * Usage: pvm-bootcount            read, increment, store, print boot=N
 *        pvm-bootcount --peek     print the stored count, change nothing
 *        pvm-bootcount --reset    store 0 and print boot=0
 * Needs root (ioperm). Exit status: 0 done, 1 no port access, 2 usage error.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/io.h>

#define BOOTCOUNT_PORT_INDEX 0x70
#define BOOTCOUNT_PORT_DATA  0x71
#define BOOTCOUNT_CMOS_BYTE  0x7e

static uint8_t bootcount_cmos_read(uint8_t reg)
{
	outb(reg, BOOTCOUNT_PORT_INDEX);
	return inb(BOOTCOUNT_PORT_DATA);
}

static void bootcount_cmos_write(uint8_t reg, uint8_t value)
{
	outb(reg, BOOTCOUNT_PORT_INDEX);
	outb(value, BOOTCOUNT_PORT_DATA);
}

static void bootcount_usage(FILE *out)
{
	fprintf(out,
		"usage: pvm-bootcount [--peek | --reset | --help]\n"
		"Counts boots in CMOS RAM byte 0x%02x, which survives a guest reset.\n"
		"  (no option)  increment the counter and print pvm-bootcount: boot=N\n"
		"  --peek       print the counter without changing it\n"
		"  --reset      set the counter to 0\n",
		BOOTCOUNT_CMOS_BYTE);
}

int main(int argc, char **argv)
{
	enum { BOOTCOUNT_BUMP, BOOTCOUNT_PEEK, BOOTCOUNT_RESET } action;
	uint8_t count;

	if (argc == 1) {
		action = BOOTCOUNT_BUMP;
	} else if (argc == 2 && strcmp(argv[1], "--peek") == 0) {
		action = BOOTCOUNT_PEEK;
	} else if (argc == 2 && strcmp(argv[1], "--reset") == 0) {
		action = BOOTCOUNT_RESET;
	} else if (argc == 2 && strcmp(argv[1], "--help") == 0) {
		bootcount_usage(stdout);
		return 0;
	} else {
		bootcount_usage(stderr);
		return 2;
	}

	if (ioperm(BOOTCOUNT_PORT_INDEX, 2, 1) != 0) {
		fprintf(stderr, "pvm-bootcount: ioperm(0x%x, 2): %s (run as root on "
			"x86 with an RTC)\n", BOOTCOUNT_PORT_INDEX, strerror(errno));
		return 1;
	}

	switch (action) {
	case BOOTCOUNT_RESET:
		count = 0;
		bootcount_cmos_write(BOOTCOUNT_CMOS_BYTE, count);
		break;
	case BOOTCOUNT_PEEK:
		count = bootcount_cmos_read(BOOTCOUNT_CMOS_BYTE);
		break;
	case BOOTCOUNT_BUMP:
	default:
		count = (uint8_t)(bootcount_cmos_read(BOOTCOUNT_CMOS_BYTE) + 1);
		bootcount_cmos_write(BOOTCOUNT_CMOS_BYTE, count);
		break;
	}
	/* Read back so that a missing or read-only CMOS shows, not a made-up N. */
	if (bootcount_cmos_read(BOOTCOUNT_CMOS_BYTE) != count) {
		fprintf(stderr, "pvm-bootcount: CMOS byte 0x%02x did not keep the "
			"value written\n", BOOTCOUNT_CMOS_BYTE);
		return 1;
	}
	printf("pvm-bootcount: boot=%u\n", (unsigned)count);
	return 0;
}
