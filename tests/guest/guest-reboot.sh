#!/bin/sh
# tests/guest/guest-reboot.sh — runs INSIDE the guest (busybox sh), put in
# the image by reboot.sh. Boot 1 verifies memory and resets the machine
# with reboot -f; boot 2 (same QEMU, same pager, guest RAM as it was)
# verifies again with another seed, so a page left over from boot 1 would
# show as a mismatch, and powers off.
line=$(pvm-bootcount) || exit 2
echo "$line"
boot=${line##*boot=}
case "$boot" in
1)
	pvm-memtest seq --size 300 --seed 1 || exit $?
	echo "pvm-test-reboot: rebooting"
	reboot -f
	sleep 60
	echo "pvm-test-reboot: reboot -f returned"
	exit 3
	;;
2)
	pvm-memtest random --size 300 --seed 2
	;;
*)
	echo "pvm-test-reboot: unexpected boot count $boot"
	exit 4
	;;
esac
